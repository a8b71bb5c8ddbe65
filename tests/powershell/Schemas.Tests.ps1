# Real outputs of every export, as the module's interop class (TenantAttach.Interop.cs) returns them
# from the library, validated against the committed JSON Schemas (include/schemas/) with PowerShell's
# own Test-Json -Schema; against the real library and tenant-attach-cloud (TENANT_ATTACH_LIBRARY,
# TA_CLOUD_URL and TA_CLOUD_CA, set by scripts/test.sh). Its hierarchy and devices are its own.
Set-StrictMode -Version Latest

BeforeAll {
    Set-StrictMode -Version Latest
    Import-Module (Join-Path $PSScriptRoot '../../powershell/TenantAttach/TenantAttach.psd1') -Force
    $script:Schemas = Join-Path $PSScriptRoot '../../include/schemas'
    $script:Url = $env:TA_CLOUD_URL
    $script:Ca = $env:TA_CLOUD_CA
    $script:Tenant = 'c0ffee00-0000-4000-8000-000000000001'
    $script:Hierarchy = '5f0c1a6e-0000-4000-8000-0000000005c7'
    $script:SiteApp = 'e0000000-0000-4000-8000-00000000c0de'
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('ta-pester-schemas-' + [guid]::NewGuid())

    function ConvertTo-Config([string] $Auth, [hashtable] $Endpoints = @{ authority = $script:Url; graph = $script:Url; gateway = $script:Url }) {
        $config = [ordered]@{ tenantId = $script:Tenant; siteCode = 'PS1'; hierarchyId = $script:Hierarchy; endpoints = $Endpoints
            trustedCaFile = $script:Ca; stateDir = (Join-Path $script:Work 'state'); logDir = (Join-Path $script:Work 'logs') }
        ($config | ConvertTo-Json -Compress -Depth 5) -replace '}$', (',"auth":' + $Auth + '}')
    }
    # The JSON conforms to include/schemas/<Name>.schema.json (Test-Json writes why when it does not).
    function Test-Schema([string] $Name, [string] $Json) {
        $schema = Get-Content -Raw -LiteralPath (Join-Path $script:Schemas "$Name.schema.json")
        Test-Json -Json $Json -Schema $schema -ErrorAction SilentlyContinue -ErrorVariable why | Out-Null
        if ($why) { Write-Host "# $Name`: $($why -join '; ')" }
        Test-Json -Json $Json -Schema $schema -ErrorAction SilentlyContinue
    }

    $siteAuth = '{"kind":"clientSecret","clientId":"' + $script:SiteApp + '","clientSecret":"c-tests~site.secret.0001"}'
    $script:Site = [TenantAttach.Interop.TenantAttachClient]::Open((ConvertTo-Config $siteAuth))
    $script:Helpdesk = [TenantAttach.Interop.TenantAttachClient]::Open((ConvertTo-Config '{"kind":"deviceCode","clientId":"c1000000-0000-4000-8000-000000000002"}'))
    $script:Import = '{"import":{"clientId":"' + $script:SiteApp + '","clientSecret":"c-tests~site.secret.0001","secretExpiry":"2030-01-01T00:00:00Z","appIdUri":"api://' + $script:Tenant + '/ConfigMgrService"}}'
    $script:Devices = '[{"Name":"PS-SCHEMA-01","SMSID":"GUID:C7000001","IsClient":true,"DeviceOS":"Microsoft Windows NT Workstation 10.0"},' +
        '{"Name":"PS-SCHEMA-02","SMSID":"GUID:C7000002","IsClient":"Yes","ResourceID":"16777230"},{"SMSID":"GUID:C7000003","IsClient":true}]'
    $script:Users = '[{"aadUserId":"a0000000-0000-4000-8000-000000000002","adDiscovered":true,"azureAdDiscovered":true}]'
}

AfterAll {
    if ($script:Site) { try { $script:Site.Unregister() } catch { } ; $script:Site.Dispose() }
    if ($script:Helpdesk) { $script:Helpdesk.Dispose() }
    Remove-Item -Recurse -Force $script:Work -ErrorAction SilentlyContinue
}

Describe 'Every export''s JSON conforms to its committed schema' {
    It 'accepts the schemas as JSON Schema and refuses a wrong shape (the check can fail)' {
        Test-Schema 'sync-report' '{"syncId":7}' | Should -BeFalse
        Test-Schema 'action-results' '[{"managedDeviceId":"x","action":"SyncMachinePolicy","result":"maybe","message":null}]' | Should -BeFalse
    }

    It 'ta_client_config_json: config' {
        Test-Schema 'config' $script:Site.ConfigJson | Should -BeTrue
    }

    It 'ta_client_register: register-options and register-result, first and again' {
        Test-Schema 'register-options' $script:Import | Should -BeTrue
        $first = $script:Site.Register($script:Import)
        $first | Should -Match '"alreadyOnboarded":false'
        Test-Schema 'register-result' $first | Should -BeTrue
        Test-Schema 'register-result' $script:Site.Register($script:Import) | Should -BeTrue
    }

    It 'ta_client_set_upload_settings: upload-settings and onboarding-record' {
        $settings = '{"uploadScope":{"kind":"all"},"coManagementAutoEnroll":false}'
        Test-Schema 'upload-settings' $settings | Should -BeTrue
        Test-Schema 'onboarding-record' $script:Site.SetUploadSettings($settings) | Should -BeTrue
    }

    It 'ta_client_sync_devices and ta_client_sync_devices_file: device-records, sync-options and sync-report' {
        Test-Schema 'device-records' $script:Devices | Should -BeTrue
        Test-Schema 'sync-options' '{"mode":"full","maxRecords":1}' | Should -BeTrue
        $report = $script:Site.SyncDevices($script:Devices, '{"mode":"full","maxRecords":1}', $null)
        $report | Should -Match '"skippedCount":1'
        Test-Schema 'sync-report' $report | Should -BeTrue
        New-Item -ItemType Directory -Force $script:Work | Out-Null
        $file = Join-Path $script:Work 'devices.ndjson'
        Set-Content -LiteralPath $file -Value (($script:Devices | ConvertFrom-Json) | ForEach-Object { $_ | ConvertTo-Json -Compress })
        Test-Schema 'sync-report' $script:Site.SyncDevicesFile($file, $null, $null) | Should -BeTrue
    }

    It 'ta_client_list_devices: devices' {
        $listed = $script:Helpdesk.ListDevices("deviceName eq 'PS-SCHEMA-01'")
        $listed | Should -Match 'PS-SCHEMA-01'
        Test-Schema 'devices' $listed | Should -BeTrue
        $script:DeviceId = @($listed | ConvertFrom-Json)[0].id
    }

    It 'ta_client_trigger_action: device-selection and action-results' {
        $ids = '["' + $script:DeviceId + '"]'
        Test-Schema 'device-selection' $ids | Should -BeTrue
        Test-Schema 'device-selection' '{"filter":"deviceName eq ''PS-SCHEMA-01''"}' | Should -BeTrue
        $results = $script:Helpdesk.TriggerAction($ids, 'SyncMachinePolicy')
        $results | Should -Match '"result":"accepted"'
        Test-Schema 'action-results' $results | Should -BeTrue
    }

    It 'ta_client_receive_notifications and ta_client_complete_notification: discovered-users, decisions and completion' {
        Test-Schema 'discovered-users' $script:Users | Should -BeTrue
        $id = $null
        for ($i = 0; $i -lt 5 -and -not $id; $i++) {
            $decisions = $script:Site.ReceiveNotifications($script:Users, 5)
            Test-Schema 'decisions' $decisions | Should -BeTrue
            $id = @($decisions | ConvertFrom-Json | Where-Object { $_.decision -eq 'authorized' } | ForEach-Object { $_.notificationId })[0]
        }
        $id | Should -Not -BeNullOrEmpty
        Test-Schema 'completion' $script:Site.CompleteNotification($id, $true, $null, 'TASK-PS') | Should -BeTrue
    }

    It 'ta_client_status: status' {
        Test-Schema 'status' $script:Site.Status() | Should -BeTrue
    }

    It 'ta_client_test_endpoints: endpoint-checks' {
        $all = @{ authority = $script:Url; graph = $script:Url; gateway = $script:Url; gatewayUs = $script:Url; gatewayEu = $script:Url; aka = $script:Url }
        $checker = [TenantAttach.Interop.TenantAttachClient]::Open((ConvertTo-Config 'null' $all))
        try {
            $checks = $checker.TestEndpoints()
            $checks | Should -Match '"reachable":true'
            Test-Schema 'endpoint-checks' $checks | Should -BeTrue
        }
        finally { $checker.Dispose() }
    }

    It 'ta_last_error_json: last-error' {
        $errorJson = $null
        try { $script:Helpdesk.TriggerAction('["' + $script:DeviceId + '"]', 'fullScan') | Out-Null }
        catch [TenantAttach.Interop.TenantAttachException] { $errorJson = $_.Exception.ErrorJson }
        catch { $errorJson = $_.Exception.InnerException.ErrorJson }
        $errorJson | Should -Match 'TA_STATUS_UNSUPPORTED_ACTION'
        Test-Schema 'last-error' $errorJson | Should -BeTrue
    }
}
