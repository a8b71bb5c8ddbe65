# The README's PowerShell quick start, command by command, against the local cloud
# (TENANT_ATTACH_LIBRARY, TA_CLOUD_URL and TA_CLOUD_CA, set by scripts/test.sh). The only additions
# are the README's own: -Endpoint and -TrustedCaFile for the local cloud, and -PublicClientId so
# that the cloud approves the device code as the Global Administrator at once.
Set-StrictMode -Version Latest

BeforeAll {
    Set-StrictMode -Version Latest
    # TENANT_ATTACH_MODULE: the installed module by name (tests/powershell/install-package.ps1).
    if ($env:TENANT_ATTACH_MODULE) { Import-Module $env:TENANT_ATTACH_MODULE -Force }
    else { Import-Module (Join-Path $PSScriptRoot '../../powershell/TenantAttach/TenantAttach.psd1') -Force }
    $script:local = @{
        Endpoint      = @{ authority = $env:TA_CLOUD_URL; graph = $env:TA_CLOUD_URL; gateway = $env:TA_CLOUD_URL }
        TrustedCaFile = $env:TA_CLOUD_CA
    }
    $script:hierarchyId = [guid]::NewGuid().ToString()
    $script:work = Join-Path ([System.IO.Path]::GetTempPath()) ('ta-quickstart-' + [guid]::NewGuid())
    $script:state = Join-Path $script:work 'State'
    $script:logs = Join-Path $script:work 'Logs'
    # The ConfigMgr cmdlets of the quick start, as the ConfigMgr module emits their objects.
    # Get-CMUser gives SMS_CombinedUserResources; the discovery data is in SMS_R_User, which the
    # module reads with Get-CimInstance (mocked in the test below; a stand-in where CimCmdlets are absent).
    function global:Get-CMUser {
        [pscustomobject]@{ PSTypeName = 'IResultObject#SMS_CombinedUserResources'; Domain = 'CONTOSO'; Name = 'CONTOSO\helpdesk'
            ResourceID = [uint32]2063597570; ResourceType = [uint32]4; SMSID = 'CONTOSO\helpdesk' }
    }
    if (-not (Get-Command -Name Get-CimInstance -ErrorAction SilentlyContinue)) {
        function global:Get-CimInstance {
            [CmdletBinding()]
            param([string] $Namespace, [string] $ClassName, [string[]] $Property, [string] $Filter, [string] $ComputerName)
            throw 'Get-CimInstance stand-in called without a mock'
        }
    }
    function global:Invoke-CMClientAction {
        param([uint32] $DeviceId, [string] $NotificationType, [string] $ActionType)
        $global:QuickStartActions += , ('{0} {1}{2}' -f $DeviceId, $NotificationType, $ActionType)
    }
    $global:QuickStartActions = @()
    function global:Get-CMDevice {
        param([string] $CollectionId)
        foreach ($i in 1..3) {
            $device = [pscustomobject]@{
                PSTypeName = 'IResultObject#SMS_CombinedDeviceResources'
                Name = "QS-KIOSK-0$i"; ResourceID = [uint32](16777300 + $i); SMSID = "GUID:0A5E0000-0000-4000-8000-00000000000$i"
                IsClient = $true; IsObsolete = $false; IsActive = $true; DeviceOS = 'Microsoft Windows NT Workstation 10.0'
                DeviceOSBuild = '10.0.19045.4529'; ClientVersion = '5.00.9128.1000'; SiteCode = 'PS1'; Domain = 'CONTOSO'
            }
            $device
        }
    }
}

AfterAll {
    Disconnect-TenantAttach
    foreach ($name in 'Get-CMDevice', 'Get-CMUser', 'Invoke-CMClientAction', 'Get-CimInstance') { Remove-Item -LiteralPath "Function:\$name" -ErrorAction SilentlyContinue }
    Remove-Variable -Scope Global -Name 'QuickStartActions' -ErrorAction SilentlyContinue
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'The README quick start' {
    It 'a Global Administrator onboards the hierarchy and gets the new secret once' {
        Connect-TenantAttach -TenantId contoso.onmicrosoft.com -SiteCode PS1 -HierarchyId $script:hierarchyId -DeviceCode `
            -StateDirectory $script:state -LogDirectory $script:logs -PublicClientId 'c1000000-0000-4000-8000-000000000001' @script:local 6>$null
        $script:registration = Register-TenantAttach -UploadScope All -Confirm:$false
        $script:registration.PSObject.TypeNames | Should -Contain 'TenantAttach.Registration'
        $script:registration.ClientSecret | Should -BeOfType [System.Security.SecureString]
        $script:registration.ClientSecret.Length | Should -BeGreaterThan 10
        $script:registration.AppId | Should -Match '^[0-9a-f-]{36}$'
        $script:registration.UploadScope | Should -Be 'all'
        $script:registration.CollectionId | Should -BeNullOrEmpty
        $script:registration.AlreadyOnboarded | Should -BeFalse
    }

    It 'the site uploads Get-CMDevice output as a runbook would, with the new secret' {
        $app = New-Object PSCredential($script:registration.AppId, $script:registration.ClientSecret)
        Connect-TenantAttach -TenantId contoso.onmicrosoft.com -SiteCode PS1 -HierarchyId $script:hierarchyId -Credential $app `
            -StateDirectory $script:state -LogDirectory $script:logs @script:local
        $report = Get-CMDevice -CollectionId SMS00001 | Sync-TenantAttachDevice
        $report.kind | Should -Be 'full'
        $report.uploaded | Should -Be 3
    }

    It 'the site uploads an NDJSON export with -Path (a delta after the full sync)' {
        $file = Join-Path $script:work 'devices.ndjson'
        # The same devices as an export would write them, one of them with a new client version.
        $lines = @(Get-CMDevice | ForEach-Object { $_ | ConvertTo-Json -Compress })
        $lines[0] = $lines[0].Replace('5.00.9128.1000', '5.00.9132.1000')
        Set-Content -LiteralPath $file -Value $lines -Encoding utf8
        $report = Sync-TenantAttachDevice -Path $file
        $report.kind | Should -Be 'delta'
        $report.uploaded | Should -Be 1
    }

    It 'shows the status: onboarded, scope, last sync and next run time' {
        $status = Get-TenantAttachStatus
        $status.Onboarded | Should -BeTrue
        $status.UploadScope | Should -Be 'all'
        $status.CollectionId | Should -BeNullOrEmpty
        $status.LastSyncKind | Should -Be 'delta'
        $status.LastSyncTime | Should -BeOfType [datetime]
        $status.NextRunTime | Should -BeOfType [datetime]
        ($status.NextRunTime - $status.LastSyncTime).TotalMinutes | Should -Be 15
        $status.DevicesInCloud | Should -Be 3
    }

    It 'a helpdesk operator runs Sync machine policy and the site worker completes it' {
        Connect-TenantAttach -TenantId contoso.onmicrosoft.com -SiteCode PS1 -HierarchyId $script:hierarchyId -DeviceCode `
            -PublicClientId 'c1000000-0000-4000-8000-000000000002' -StateDirectory $script:state -LogDirectory $script:logs @script:local 6>$null
        $results = @(Get-TenantAttachDevice -Name 'QS-KIOSK-*' | Invoke-TenantAttachDeviceAction -Action SyncMachinePolicy)
        $results.Count | Should -Be 3
        $results.result | Sort-Object -Unique | Should -Be 'accepted'

        $app = New-Object PSCredential($script:registration.AppId, $script:registration.ClientSecret)
        Connect-TenantAttach -TenantId contoso.onmicrosoft.com -SiteCode PS1 -HierarchyId $script:hierarchyId -Credential $app `
            -StateDirectory $script:state -LogDirectory $script:logs @script:local
        Mock -ModuleName TenantAttach -CommandName Get-CimInstance -ParameterFilter { $ClassName -eq 'SMS_R_User' } -MockWith {
            [pscustomobject]@{ ResourceID = [uint32]2063597570; UniqueUserName = 'CONTOSO\helpdesk'; SID = 'S-1-5-21-3623811015-3361044348-30300820-1013'
                AADUserID = 'a0000000-0000-4000-8000-000000000002'; UserPrincipalName = 'helpdesk@contoso.onmicrosoft.com'
                AgentName = [string[]]@('SMS_AD_USER_DISCOVERY_AGENT', 'SMS_AZUREAD_USER_DISCOVERY_AGENT') }
        }
        $done = @(Receive-TenantAttachNotification -DiscoveredUser (Get-CMUser) -TimeoutSeconds 10 | Invoke-TenantAttachClientAction -Device (Get-CMDevice))
        $done.Count | Should -Be 3
        $done.status | Sort-Object -Unique | Should -Be 'succeeded'
        @($global:QuickStartActions | Sort-Object) | Should -Be @('16777301 RequestMachinePolicyNow', '16777302 RequestMachinePolicyNow', '16777303 RequestMachinePolicyNow')
    }
}
