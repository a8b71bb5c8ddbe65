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

Describe 'The compiled per-object work of Sync-TenantAttachDevice' {
    BeforeAll {
        $script:toJson = [Func[object, string]] { param($value) ConvertTo-Json -InputObject $value -Depth 2 -Compress }
        # The NDJSON lines a writer made of these objects (read while the writer holds the file).
        function Get-WrittenLine([object[]] $Objects) {
            $writer = New-Object TenantAttach.Interop.DeviceRecordWriter($script:toJson, $false)
            try {
                foreach ($o in $Objects) { $writer.Add($o) }
                $writer.Complete()
                $stream = New-Object System.IO.FileStream($writer.Path, 'Open', 'Read', ([System.IO.FileShare]::ReadWrite -bor [System.IO.FileShare]::Delete))
                $reader = New-Object System.IO.StreamReader($stream, (New-Object System.Text.UTF8Encoding($false)))
                try { return @($reader.ReadToEnd().Split([char]"`n") | Where-Object { $_ }) } finally { $reader.Dispose() }
            }
            finally { $writer.Dispose() }
        }
        # What the module sent before the writer existed: ConvertTo-Json of the known properties that
        # are not null, in the writer's order, as PowerShell finds them (ignoring case, type-table members too).
        function Get-ExpectedLine([object] $Object) {
            $record = [ordered]@{}
            foreach ($name in [TenantAttach.Interop.DeviceRecordWriter]::PropertyNames) {
                $p = $Object.PSObject.Properties[$name]
                if ($p -and $null -ne $p.Value) { $record[$name] = $p.Value }
            }
            ConvertTo-Json -InputObject $record -Depth 2 -Compress
        }
    }

    It 'is compiled with the optimiser on, as the Release build in bin/ is' {
        $debuggable = [TenantAttach.Interop.DeviceRecordWriter].Assembly.GetCustomAttributes([System.Diagnostics.DebuggableAttribute], $false)
        @($debuggable | Where-Object { $_.IsJITOptimizerDisabled }).Count | Should -Be 0
    }

    It 'reads a [pscustomobject] from its own members in this PowerShell, not through PSObject.Properties' {
        # (Where PowerShell's internals differ, every object takes the slower general path.)
        [TenantAttach.Interop.PropertyReader]::ReadsInstanceMembers | Should -BeTrue
    }

    It 'writes each object as ConvertTo-Json does, whatever the order, case and shape of its properties' {
        $made = @(for ($i = 0; $i -lt 3; $i++) {
                [pscustomobject]@{ PSTypeName = 'IResultObject#SMS_CombinedDeviceResources'; Name = "PC-$i"; ResourceID = [uint32](16777216 + $i); SMSID = "GUID:$i"; IsClient = $true; Domain = 'CONTOSO' }
            })
        $selected = $made[2] | Select-Object -Property @('Name', 'SMSID', 'ResourceID')
        # More properties than the reader's first arrays hold, the known ones last.
        $wide = [ordered]@{}
        foreach ($n in 1..40) { $wide["Extra$n"] = $n }
        $wide.Name = 'PC-W'; $wide.SMSID = 'GUID:W'; $wide.Domain = 'CONTOSO'
        $objects = @(
            $made[0]
            # The same names in another order, another case, some missing, one more the writer ignores.
            [pscustomobject]@{ SMSID = 'GUID:R'; domain = 'CONTOSO'; name = 'PC-R'; Extra = 1; IsClient = $false }
            $made[1]
            [pscustomobject]@{ Name = 'PC-N'; SMSID = $null; ResourceID = [uint32]7 }
            # Fresh name strings for every object, as ConvertFrom-Json makes them.
            '{"Name":"PC-J1","SMSID":"GUID:J1","IsClient":true,"CollectionIDs":["PS100012","SMS00001"]}' | ConvertFrom-Json
            '{"SMSID":"GUID:J2","Name":"PC-J2 \"quoted\" \u00e9\u4e2d\ud83d\ude00","ResourceID":12}' | ConvertFrom-Json
            $selected
            $made[2]
            [pscustomobject]$wide
        )
        $lines = Get-WrittenLine $objects
        $lines.Count | Should -Be $objects.Count
        for ($i = 0; $i -lt $objects.Count; $i++) { $lines[$i] | Should -BeExactly (Get-ExpectedLine $objects[$i]) -Because "object $i" }
        $lines[-1] | Should -BeExactly '{"Name":"PC-W","SMSID":"GUID:W","Domain":"CONTOSO"}'
    }

    It 'reads script and type-table properties as PowerShell shows them, also of objects shown before' {
        $typeName = 'TenantAttach.Tests.TypeTableDevice' + [guid]::NewGuid().ToString('N')
        Update-TypeData -TypeName $typeName -MemberType ScriptProperty -MemberName SMSID -Value { 'GUID:' + $this.Name }
        try {
            $fromTypeTable = [pscustomobject]@{ PSTypeName = $typeName; Name = 'PC-T' }
            # Shown once (PowerShell then adds hidden members of its own to the object).
            $null = $fromTypeTable | Out-String
            $scripted = [pscustomobject]@{ Name = 'PC-S' } | Add-Member -MemberType ScriptProperty -Name SMSID -Value { 'GUID:S' } -PassThru
            $lines = Get-WrittenLine @($fromTypeTable, $scripted, $fromTypeTable)
            $lines[0] | Should -BeExactly '{"Name":"PC-T","SMSID":"GUID:PC-T"}'
            $lines[1] | Should -BeExactly '{"Name":"PC-S","SMSID":"GUID:S"}'
            $lines[2] | Should -BeExactly $lines[0]
        }
        finally { Remove-TypeData -TypeName $typeName }
        # What the type table adds is learnt by each command: a type's members added since count.
        $later = 'TenantAttach.Tests.LaterTypeData' + [guid]::NewGuid().ToString('N')
        Get-WrittenLine @([pscustomobject]@{ PSTypeName = $later; Name = 'PC-U' }) | Should -BeExactly '{"Name":"PC-U"}'
        Update-TypeData -TypeName $later -MemberType ScriptProperty -MemberName Domain -Value { 'CONTOSO' }
        try { Get-WrittenLine @([pscustomobject]@{ PSTypeName = $later; Name = 'PC-U' }) | Should -BeExactly '{"Name":"PC-U","Domain":"CONTOSO"}' }
        finally { Remove-TypeData -TypeName $later }
    }

    It 'reads type-table properties of every type name, also after an object that hides one with its own' {
        $shadowed = 'TenantAttach.Tests.Shadowed' + [guid]::NewGuid().ToString('N')
        $base = 'TenantAttach.Tests.Base' + [guid]::NewGuid().ToString('N')
        $first = 'TenantAttach.Tests.First' + [guid]::NewGuid().ToString('N')
        Update-TypeData -TypeName $shadowed -MemberType ScriptProperty -MemberName SMSID -Value { 'TT:' + $this.Name }
        Update-TypeData -TypeName $base -MemberType ScriptProperty -MemberName SMSID -Value { 'TT2:' + $this.Name }
        try {
            $own = [pscustomobject]@{ Name = 'A'; SMSID = 'GUID:own' }
            $own.PSObject.TypeNames.Insert(0, $shadowed)
            $lookalike = [pscustomobject]@{ PSTypeName = $shadowed; Name = 'B' }
            $plain = [pscustomobject]@{ PSTypeName = $first; Name = 'C' }
            # The same first type name, and below it one the type table gives an SMSID.
            $derived = [pscustomobject]@{ Name = 'D' }
            $derived.PSObject.TypeNames.Insert(0, $base)
            $derived.PSObject.TypeNames.Insert(0, $first)
            Get-WrittenLine @($own, $lookalike, $plain, $derived) |
                Should -Be @('{"Name":"A","SMSID":"GUID:own"}', '{"Name":"B","SMSID":"TT:B"}', '{"Name":"C"}', '{"Name":"D","SMSID":"TT2:D"}')
        }
        finally {
            Remove-TypeData -TypeName $shadowed
            Remove-TypeData -TypeName $base
        }
    }

    It 'reads deserialized objects (Import-Clixml) as PowerShell shows them' {
        $file = Join-Path $script:work 'devices.clixml'
        @([pscustomobject]@{ PSTypeName = 'IResultObject#SMS_CombinedDeviceResources'; Name = 'PC-X'; SMSID = 'GUID:X'; ResourceID = [uint32]9; IsClient = $true },
            (Get-Item -LiteralPath $script:work)) | Export-Clixml -LiteralPath $file
        $imported = @(Import-Clixml -LiteralPath $file)
        # First an object that only carries the type name of a deserialized one.
        $objects = @([pscustomobject]@{ PSTypeName = $imported[1].PSObject.TypeNames[0]; Name = 'PC-D' }) + $imported
        $lines = Get-WrittenLine $objects
        $lines[0] | Should -BeExactly '{"Name":"PC-D"}'
        $lines[1] | Should -BeExactly '{"Name":"PC-X","ResourceID":9,"SMSID":"GUID:X","IsClient":true}'
        $lines[2] | Should -BeExactly (Get-ExpectedLine $objects[2])
        $lines[2] | Should -Match ('"Name":"' + [regex]::Escape((Split-Path -Leaf $script:work)) + '"')
    }

    It 'leaves the objects it reads as they were: no type names of their own' {
        # PSObject.TypeNames would give each such object a copy kept in a table every garbage
        # collection of the session scans.
        $objects = @('{"Name":"PC-1","SMSID":"GUID:1"}', '{"Name":"PC-2","SMSID":"GUID:2"}' | ConvertFrom-Json)
        $internal = [psobject].GetProperty('InternalTypeNames', [System.Reflection.BindingFlags]'NonPublic, Instance')
        if (-not $internal) { Set-ItResult -Skipped -Because 'this PowerShell keeps type names otherwise' }
        @($objects | Where-Object { -not $internal.GetValue($_).IsReadOnly }).Count | Should -Be 0
        Get-WrittenLine $objects | Should -HaveCount 2
        @($objects | Where-Object { -not $internal.GetValue($_).IsReadOnly }).Count | Should -Be 0
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
