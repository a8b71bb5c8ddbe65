# Pester 5 tests of every TenantAttach cmdlet against the real library and tenant-attach-cloud
# (TENANT_ATTACH_LIBRARY, TA_CLOUD_URL and TA_CLOUD_CA, set by scripts/test.sh). Run in strict mode,
# in three cultures, by scripts/test.sh.
Set-StrictMode -Version Latest

BeforeAll {
    Set-StrictMode -Version Latest
    Import-Module (Join-Path $PSScriptRoot '../../powershell/TenantAttach/TenantAttach.psd1') -Force
    $script:Url = $env:TA_CLOUD_URL
    $script:Ca = $env:TA_CLOUD_CA
    $script:Tenant = 'c0ffee00-0000-4000-8000-000000000001'
    $script:Hierarchy = '5f0c1a6e-0000-4000-8000-0000000005e5'
    $script:SiteApp = 'e0000000-0000-4000-8000-00000000c0de'
    $script:SiteSecret = ConvertTo-SecureString 'c-tests~site.secret.0001' -AsPlainText -Force
    $script:Endpoints = @{ authority = $script:Url; graph = $script:Url; gateway = $script:Url }
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('ta-pester-' + [guid]::NewGuid())

    function Connect-Site {
        $credential = New-Object System.Management.Automation.PSCredential($script:SiteApp, $script:SiteSecret)
        Connect-TenantAttach -TenantId $script:Tenant -SiteCode PS1 -HierarchyId $script:Hierarchy -Credential $credential `
            -Endpoint $script:Endpoints -TrustedCaFile $script:Ca -StateDirectory (Join-Path $script:Work 'state') -LogDirectory (Join-Path $script:Work 'logs') @args
    }
    function Connect-Person([int] $n) {
        Connect-TenantAttach -TenantId $script:Tenant -SiteCode PS1 -HierarchyId $script:Hierarchy -DeviceCode `
            -PublicClientId "c1000000-0000-4000-8000-00000000000$n" -Endpoint $script:Endpoints -TrustedCaFile $script:Ca `
            -StateDirectory (Join-Path $script:Work 'state') -LogDirectory (Join-Path $script:Work 'logs')
    }
    function New-CMDeviceLike([string] $Name, [string] $SmsId, [bool] $IsClient = $true) {
        [pscustomobject]@{ Name = $Name; SMSID = $SmsId; IsClient = $IsClient; DeviceOS = 'Microsoft Windows NT Workstation 10.0'; ClientVersion = '5.00.9128.1000'; ResourceID = 16777220 }
    }
}

AfterAll {
    Disconnect-TenantAttach
    Remove-Item -Recurse -Force $script:Work -ErrorAction SilentlyContinue
}

Describe 'TenantAttach module' {
    It 'exports exactly the documented cmdlets' {
        $names = (Get-Command -Module TenantAttach).Name | Sort-Object
        $names | Should -Be @('Complete-TenantAttachNotification', 'Connect-TenantAttach', 'Disconnect-TenantAttach', 'Get-TenantAttachDevice',
            'Get-TenantAttachInventory', 'Get-TenantAttachStatus', 'Invoke-TenantAttachClientAction', 'Invoke-TenantAttachDeviceAction', 'Receive-TenantAttachNotification', 'Register-TenantAttach',
            'Set-TenantAttachUploadScope', 'Sync-TenantAttachDevice', 'Test-TenantAttachEndpoint', 'Unregister-TenantAttach')
    }

    It 'supports -WhatIf on every cmdlet that changes state' {
        foreach ($name in 'Register-TenantAttach', 'Unregister-TenantAttach', 'Set-TenantAttachUploadScope', 'Sync-TenantAttachDevice',
            'Invoke-TenantAttachDeviceAction', 'Invoke-TenantAttachClientAction', 'Complete-TenantAttachNotification') {
            (Get-Command $name).Parameters.ContainsKey('WhatIf') | Should -BeTrue -Because $name
        }
    }

    It 'says to connect first' {
        Disconnect-TenantAttach
        { Get-TenantAttachStatus } | Should -Throw -ErrorId 'TenantAttach.NotConnected*'
    }
}

Describe 'Connect-TenantAttach' {
    It 'refuses Azure Government with a stable error id' {
        { Connect-TenantAttach -Cloud AzureUSGovernment -SiteCode PS1 } | Should -Throw -ErrorId 'TenantAttach.TA_STATUS_UNSUPPORTED_CLOUD*'
    }

    It 'returns the session without the secret' {
        $session = Connect-Site -PassThru
        $session.AuthKind | Should -Be 'clientSecret'
        ($session | ConvertTo-Json) | Should -Not -Match 'c-tests~site'
    }
}

Describe 'Onboarding, upload, devices and actions' {
    BeforeAll { Connect-Site }

    It 'Register-TenantAttach -WhatIf changes nothing' {
        Register-TenantAttach -ImportClientId $script:SiteApp -ImportClientSecret $script:SiteSecret -SecretExpiry '2030-01-01' -AppIdUri "api://$($script:Tenant)/ConfigMgrService" -WhatIf
        (Get-TenantAttachStatus).Onboarded | Should -BeFalse
    }

    It 'Register-TenantAttach imports the app, and again converges' {
        $r = Register-TenantAttach -ImportClientId $script:SiteApp -ImportClientSecret $script:SiteSecret -SecretExpiry '2030-01-01' -AppIdUri "api://$($script:Tenant)/ConfigMgrService" -Confirm:$false
        $r.PSObject.TypeNames | Should -Contain 'TenantAttach.Registration'
        $r.AppId | Should -Be $script:SiteApp
        (Register-TenantAttach -ImportClientId $script:SiteApp -ImportClientSecret $script:SiteSecret -SecretExpiry '2030-01-01' -AppIdUri "api://$($script:Tenant)/ConfigMgrService" -Confirm:$false).AlreadyOnboarded | Should -BeTrue
    }

    It 'Register-TenantAttach refuses an expired imported secret with its error id' {
        { Register-TenantAttach -ImportClientId $script:SiteApp -ImportClientSecret $script:SiteSecret -SecretExpiry '2020-01-01' -AppIdUri "api://$($script:Tenant)/ConfigMgrService" -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_EXPIRED*'
    }

    It 'Sync-TenantAttachDevice -WhatIf reports without sending' {
        $report = New-CMDeviceLike 'PS-ÅÄÖ-01' 'GUID:5E000001' | Sync-TenantAttachDevice -WhatIf
        $report.dryRun | Should -BeTrue
        (Get-TenantAttachStatus).LastSyncKind | Should -BeNullOrEmpty
    }

    It 'Sync-TenantAttachDevice uploads Get-CMDevice-shaped objects from the pipeline' {
        $log = Join-Path $script:Work 'logs/CMGatewaySyncUploadWorker.log'
        $logged = if (Test-Path -LiteralPath $log) { @(Get-Content -LiteralPath $log).Count } else { 0 }
        $report = @(
            New-CMDeviceLike 'PS-ÅÄÖ-01' 'GUID:5E000001'
            New-CMDeviceLike 'PS-KIOSK-02' 'GUID:5E000002'
            New-CMDeviceLike 'PS-OFF-03' 'GUID:5E000003' $false
        ) | Sync-TenantAttachDevice
        $report.kind | Should -Be 'full'
        $report.uploaded | Should -Be 2
        $report.PSObject.TypeNames | Should -Contain 'TenantAttach.SyncReport'
        # The first upload from an empty state folder can delete nothing: it is not computed twice
        # (no dry run first, which would be logged).
        $run = @(Get-Content -LiteralPath $log | Select-Object -Skip $logged)
        $run -match 'Starting full upload' | Should -Not -BeNullOrEmpty
        $run -match 'dry run' | Should -BeNullOrEmpty
    }

    It 'Sync-TenantAttachDevice warns of each skipped record, named or not, and goes on' {
        $records = @(
            New-CMDeviceLike 'PS-ÅÄÖ-01' 'GUID:5E000001'
            [pscustomobject]@{ Name = 'PS-NOSMSID'; IsClient = $true }
            [pscustomobject]@{ IsClient = $true; DeviceOS = 'Microsoft Windows NT Workstation 10.0' }
        )
        $report = $records | Sync-TenantAttachDevice -WhatIf -WarningVariable warnings -WarningAction SilentlyContinue
        $report.dryRun | Should -BeTrue
        $warnings.Count | Should -Be 2
        $warnings[0].Message | Should -Match '^Skipped record 1 \(PS-NOSMSID\): '
        $warnings[1].Message | Should -Match '^Skipped record 2: '
    }

    It 'Sync-TenantAttachDevice reads an NDJSON file' {
        $file = Join-Path $script:Work 'devices.ndjson'
        '{"Name":"PS-ÅÄÖ-01","SMSID":"GUID:5E000001","IsClient":true,"ClientVersion":"5.00.9130.1000"}' | Set-Content -Path $file -Encoding utf8
        (Sync-TenantAttachDevice -Path $file -Partial).uploaded | Should -Be 1
    }

    It 'Set-TenantAttachUploadScope changes the scope' {
        (Set-TenantAttachUploadScope -CollectionId PS100012 -Confirm:$false).scopeVersion | Should -BeGreaterThan 1
        Set-TenantAttachUploadScope -All -Confirm:$false | Out-Null
        (Get-TenantAttachStatus).UploadScope | Should -Be 'all'
    }

    It 'Set-TenantAttachUploadScope -CoManagementAutoEnroll alone keeps the scope' {
        Set-TenantAttachUploadScope -CollectionId PS100012 -Confirm:$false | Out-Null
        $record = Set-TenantAttachUploadScope -CoManagementAutoEnroll $true -Confirm:$false
        $record.coManagementAutoEnroll | Should -BeTrue
        $status = Get-TenantAttachStatus
        $status.UploadScope | Should -Be 'collection'
        $status.CollectionId | Should -Be 'PS100012'
        $status.CoManagementAutoEnroll | Should -BeTrue
        Set-TenantAttachUploadScope -All -CoManagementAutoEnroll $false -Confirm:$false | Out-Null
        (Get-TenantAttachStatus).UploadScope | Should -Be 'all'
    }

    It 'Set-TenantAttachUploadScope without any setting asks for one instead of guessing' {
        { Set-TenantAttachUploadScope -Confirm:$false } | Should -Throw
        (Get-TenantAttachStatus).UploadScope | Should -Be 'all'
    }

    It 'Get-TenantAttachDevice shows the devices as the admin center does' {
        Connect-Person 2
        $devices = Get-TenantAttachDevice -Name 'PS-*'
        $devices.Count | Should -Be 2
        $devices[0].ManagedBy | Should -Be 'ConfigMgr'
        $devices[0].PSObject.TypeNames | Should -Contain 'TenantAttach.Device'
    }

    It 'Get-TenantAttachDevice without -Name or -Filter lists every device' {
        Connect-Person 2
        $all = @(Get-TenantAttachDevice)
        @($all | Where-Object { $_.deviceName -like 'PS-*' }).Count | Should -Be 2
        @($all | Where-Object { $_.ManagedBy -ne 'ConfigMgr' }) | Should -BeNullOrEmpty
    }

    It 'Invoke-TenantAttachDeviceAction takes devices from the pipeline' {
        Connect-Person 2
        $results = Get-TenantAttachDevice -Name 'PS-*' | Invoke-TenantAttachDeviceAction -Action SyncMachinePolicy
        $results.result | Should -Be @('accepted', 'accepted')
    }

    It 'Invoke-TenantAttachDeviceAction -WhatIf sends nothing' {
        Connect-Person 2
        Get-TenantAttachDevice -Name 'PS-KIOSK*' | Invoke-TenantAttachDeviceAction -Action AppEvaluationCycle -WhatIf | Should -BeNullOrEmpty
        Invoke-TenantAttachDeviceAction -Filter "startswith(deviceName,'PS-')" -Action AppEvaluationCycle -WhatIf | Should -BeNullOrEmpty
    }

    It 'Invoke-TenantAttachDeviceAction reports a missing permission per device' {
        Connect-Person 4
        (Get-TenantAttachDevice -Name 'PS-KIOSK*' | Invoke-TenantAttachDeviceAction -Action SyncUserPolicy).message | Should -Match 'Initiate Configuration Manager action'
    }

    It 'refuses what the service returned for a filter it ignored, and acts on nothing' {
        # Intune ignores a filter on a property it does not support and answers with every device.
        Connect-Person 2
        $ignored = "userId eq 'a0000000-0000-4000-8000-000000000002'"
        { Get-TenantAttachDevice -Filter $ignored } | Should -Throw -ErrorId 'TenantAttach.TA_STATUS_INVALID_ARGUMENT*'
        { Invoke-TenantAttachDeviceAction -Filter $ignored -Action SyncMachinePolicy } | Should -Throw -ErrorId 'TenantAttach.TA_STATUS_INVALID_ARGUMENT*'
        try { Get-TenantAttachDevice -Filter $ignored } catch { $_.Exception.ServiceCode | Should -Be 'FilterNotApplied' }
    }

    It 'Receive- and Complete-TenantAttachNotification run the site worker' {
        Connect-Site
        $users = @([pscustomobject]@{ AadUserId = 'a0000000-0000-4000-8000-000000000002'; UserPrincipalName = 'helpdesk@contoso.onmicrosoft.com'; AdDiscovered = $true; AzureAdDiscovered = $true })
        $received = @(Receive-TenantAttachNotification -DiscoveredUser $users -TimeoutSeconds 5)
        $authorized = @($received | Where-Object decision -eq 'Authorized')
        $authorized.Count | Should -Be 2
        $authorized[0].templateId | Should -Be 'RequestMachinePolicy'
        ($authorized | Complete-TenantAttachNotification -Succeeded -Confirm:$false).status | Should -Be @('succeeded', 'succeeded')
    }

    It 'Receive-TenantAttachNotification takes users with only some of the properties' {
        Connect-Person 2
        $sent = @(Invoke-TenantAttachDeviceAction -Filter "startswith(deviceName,'PS-KIOSK')" -Action AppEvaluationCycle)
        $sent.Count | Should -Be 1
        $sent[0].result | Should -Be 'accepted'
        Connect-Site
        # No UserPrincipalName: strict mode must not trip over the missing property.
        $users = @([pscustomobject]@{ AadUserId = 'a0000000-0000-4000-8000-000000000002'; AdDiscovered = 'Yes'; AzureAdDiscovered = 'Yes' })
        $received = @(Receive-TenantAttachNotification -DiscoveredUser $users -TimeoutSeconds 5)
        $received.Count | Should -Be 1
        $received[0].decision | Should -Be 'authorized'
        $received[0].templateId | Should -Be 'AppDeplEvalNow'
        $received | Complete-TenantAttachNotification -Succeeded -Confirm:$false | Out-Null
    }

    It 'Receive-TenantAttachNotification with an empty user list refuses the actions, with a warning' {
        Connect-Person 2
        Get-TenantAttachDevice -Name 'PS-KIOSK*' | Invoke-TenantAttachDeviceAction -Action SyncMachinePolicy | Out-Null
        Connect-Site
        $received = @(Receive-TenantAttachNotification -DiscoveredUser @() -TimeoutSeconds 5 -WarningVariable warned -WarningAction SilentlyContinue)
        $warned.Count | Should -Be 1
        $received.Count | Should -Be 1
        $received[0].decision | Should -Be 'refused'
        $received[0].unauthorized | Should -BeTrue
    }

    It 'Test-TenantAttachEndpoint reports each endpoint' {
        $checks = Test-TenantAttachEndpoint
        $checks.Count | Should -Be 6
        ($checks | Where-Object name -eq 'endpoints.graph').reachable | Should -BeTrue
    }

    It 'Unregister-TenantAttach offboards' {
        Connect-Site
        Unregister-TenantAttach -Confirm:$false
        (Get-TenantAttachStatus).Onboarded | Should -BeFalse
        { New-CMDeviceLike 'PS-X' 'GUID:5E000009' | Sync-TenantAttachDevice } | Should -Throw -ErrorId 'TenantAttach.TA_STATUS_NOT_ONBOARDED*'
    }
}
