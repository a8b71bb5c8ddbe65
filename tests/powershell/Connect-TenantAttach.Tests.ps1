# Pester 5 tests of Connect-TenantAttach against the real library (TENANT_ATTACH_LIBRARY).
Set-StrictMode -Version Latest

BeforeAll {
    Set-StrictMode -Version Latest
    Import-Module (Join-Path $PSScriptRoot '../../powershell/TenantAttach/TenantAttach.psd1') -Force
}

AfterAll {
    Disconnect-TenantAttach
}

Describe 'Connect-TenantAttach' {
    It 'opens a session and reports it' {
        $session = Connect-TenantAttach -SiteCode ps1 -TenantId '72f988bf-86f1-41af-91ab-2d7cd011db47' -PassThru
        $session.SiteCode | Should -Be 'PS1'
        $session.Cloud | Should -Be 'AzurePublicCloud'
        $session.AuthKind | Should -Be 'deviceCode'
    }

    It 'refuses Azure Government with a stable error id' {
        { Connect-TenantAttach -Cloud AzureUSGovernment -SiteCode PS1 } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_UNSUPPORTED_CLOUD*'
    }

    It 'never shows the client secret' {
        $secret = ConvertTo-SecureString 'Zq8~pester.secret.value' -AsPlainText -Force
        $session = Connect-TenantAttach -SiteCode PS1 -ClientId '0d6f1b1e-8f3c-4c3a-9d0e-1a2b3c4d5e6f' -ClientSecret $secret -PassThru
        ($session | ConvertTo-Json) | Should -Not -Match 'pester.secret'
    }

    It 'writes its log where asked, under a non-ASCII folder name' {
        $dir = Join-Path ([System.IO.Path]::GetTempPath()) ('Ladda upp enheter åäö ' + [guid]::NewGuid())
        Connect-TenantAttach -SiteCode PS1 -LogDirectory $dir
        Test-Path (Join-Path $dir 'TenantAttach.log') | Should -BeTrue
        Remove-Item -Recurse -Force $dir
    }
}
