# Pester 5 tests of what the module does before any cloud call: loading the native library, the
# paths and endpoints it hands to the library. Against the real library (TENANT_ATTACH_LIBRARY) and
# the test cloud (TA_CLOUD_URL, TA_CLOUD_CA), set by scripts/test.sh.
Set-StrictMode -Version Latest

BeforeAll {
    Set-StrictMode -Version Latest
    $script:moduleFolder = (Resolve-Path (Join-Path $PSScriptRoot '../../powershell/TenantAttach')).ProviderPath
    Import-Module (Join-Path $script:moduleFolder 'TenantAttach.psd1') -Force
    $script:work = Join-Path ([System.IO.Path]::GetTempPath()) ('ta-module-' + [guid]::NewGuid())
    New-Item -ItemType Directory -Path $script:work | Out-Null
    # pwsh as a .NET tool runs inside dotnet: the command on PATH, not this process's file, starts another.
    $script:pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source

    # Imports a copy of the module in a new pwsh without TENANT_ATTACH_LIBRARY; returns the error text.
    function Get-ImportError([string] $copy) {
        $saved = $env:TENANT_ATTACH_LIBRARY
        try {
            Remove-Item Env:TENANT_ATTACH_LIBRARY
            $command = "Set-StrictMode -Version Latest; try { Import-Module '$copy' -ErrorAction Stop; 'imported' } catch { `$_.Exception.Message }"
            return (& $script:pwsh -NoProfile -NonInteractive -Command $command) -join "`n"
        }
        finally { $env:TENANT_ATTACH_LIBRARY = $saved }
    }
}

AfterAll {
    Disconnect-TenantAttach
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'Loading the native library' {
    It 'says where the library should be and how to get it when the module has no bin folder' {
        $copy = Join-Path $script:work 'nobin/TenantAttach'
        New-Item -ItemType Directory -Path $copy -Force | Out-Null
        Copy-Item -Path (Join-Path $script:moduleFolder '*') -Destination $copy -Recurse
        $message = Get-ImportError (Join-Path $copy 'TenantAttach.psd1')
        $message | Should -Match 'native library for this platform is not at .*bin.linux-x64.libtenant_attach\.so'
        $message | Should -Match 'native libraries for: none'
        $message | Should -Match 'TENANT_ATTACH_LIBRARY'
    }

    It 'names the platforms a copy of the module does have' {
        $copy = Join-Path $script:work 'otherbin/TenantAttach'
        New-Item -ItemType Directory -Path (Join-Path $copy 'bin/win-x64'), (Join-Path $copy 'bin/linux-arm64') -Force | Out-Null
        Copy-Item -Path (Join-Path $script:moduleFolder '*') -Destination $copy -Recurse
        Get-ImportError (Join-Path $copy 'TenantAttach.psd1') | Should -Match 'native libraries for: linux-arm64, win-x64'
    }

    It 'loads the library of the process architecture from the bin folder (linux-x64 here)' {
        $arch = [System.Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture.ToString().ToLowerInvariant()
        $copy = Join-Path $script:work 'bin/TenantAttach'
        New-Item -ItemType Directory -Path (Join-Path $copy "bin/linux-$arch") -Force | Out-Null
        Copy-Item -Path (Join-Path $script:moduleFolder '*') -Destination $copy -Recurse
        Copy-Item -LiteralPath $env:TENANT_ATTACH_LIBRARY -Destination (Join-Path $copy "bin/linux-$arch/libtenant_attach.so")
        Get-ImportError (Join-Path $copy 'TenantAttach.psd1') | Should -Be 'imported'
    }
}

Describe 'Paths given to Connect-TenantAttach' {
    BeforeEach { Push-Location -LiteralPath $script:work }
    AfterEach { Pop-Location; Remove-PSDrive -Name PS1 -ErrorAction SilentlyContinue }

    It 'resolves relative folders against the file system location while the current location is a site drive' {
        Copy-Item -LiteralPath $env:TA_CLOUD_CA -Destination (Join-Path $script:work 'cloud-ca.pem')
        # The ConfigMgr site drive PS1: is a drive of another provider; Variable stands in for it here.
        New-PSDrive -Name PS1 -PSProvider Variable -Root '' | Out-Null
        Set-Location PS1:
        $session = Connect-TenantAttach -SiteCode PS1 -TenantId contoso.onmicrosoft.com -StateDirectory 'ta-state' -LogDirectory 'ta-logs' `
            -TrustedCaFile 'cloud-ca.pem' -PassThru
        $session.StateDir | Should -Be (Join-Path $script:work 'ta-state')
        $session.LogDir | Should -Be (Join-Path $script:work 'ta-logs')
        Test-Path -LiteralPath (Join-Path $script:work 'ta-logs/TenantAttach.log') | Should -BeTrue
    }

    It 'resolves a relative folder against PowerShell''s location, not the process''s working folder' {
        [System.IO.Directory]::SetCurrentDirectory([System.IO.Path]::GetTempPath())
        (Connect-TenantAttach -SiteCode PS1 -StateDirectory './state2' -PassThru).StateDir | Should -Be (Join-Path $script:work 'state2')
    }

    It 'refuses a folder on a drive of another provider' {
        { Connect-TenantAttach -SiteCode PS1 -StateDirectory 'Env:\TenantAttach' } | Should -Throw -ErrorId 'TenantAttach.NotAFileSystemPath,Connect-TenantAttach'
    }

    It 'says which trusted CA file does not exist' {
        { Connect-TenantAttach -SiteCode PS1 -TrustedCaFile 'no-such-ca.pem' } | Should -Throw -ErrorId 'TenantAttach.PathNotFound,Connect-TenantAttach'
    }
}

Describe 'Endpoints given to Connect-TenantAttach' {
    It 'takes -Endpoint keys in any case, as PowerShell hashtables do' {
        $url = $env:TA_CLOUD_URL
        Connect-TenantAttach -SiteCode PS1 -TenantId contoso.onmicrosoft.com -Endpoint @{ AUTHORITY = $url; Graph = $url; gateWAY = $url } -TrustedCaFile $env:TA_CLOUD_CA
        $checks = Test-TenantAttachEndpoint
        foreach ($name in 'endpoints.authority', 'endpoints.graph', 'endpoints.gateway') {
            $check = $checks | Where-Object name -eq $name
            $check.url | Should -BeLike "$url*" -Because $name
            $check.reachable | Should -BeTrue -Because $name
        }
    }

    It 'refuses an unknown -Endpoint key and lists the known ones' {
        { Connect-TenantAttach -SiteCode PS1 -Endpoint @{ grahp = 'https://graph.microsoft.com' } } |
            Should -Throw -ErrorId 'TenantAttach.UnknownEndpoint,Connect-TenantAttach' -ExpectedMessage '*grahp*authority, graph, gateway*'
    }
}
