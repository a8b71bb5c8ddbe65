# Pester 5 tests of the module fed as ConfigMgr feeds it: mock functions named and shaped like the
# ConfigMgr cmdlets (Get-CMDevice, Get-CMCollectionMember, Get-CMUser, Invoke-CMClientAction), with
# the real property names and types, against the real library and a test cloud (TENANT_ATTACH_LIBRARY,
# TA_CLOUD_URL, TA_CLOUD_CA from scripts/test.sh). One hierarchy, onboarded with a collection scope.
Set-StrictMode -Version Latest

BeforeAll {
    Set-StrictMode -Version Latest
    Import-Module (Join-Path $PSScriptRoot '../../powershell/TenantAttach/TenantAttach.psd1') -Force
    $script:local = @{
        Endpoint      = @{ authority = $env:TA_CLOUD_URL; graph = $env:TA_CLOUD_URL; gateway = $env:TA_CLOUD_URL }
        TrustedCaFile = $env:TA_CLOUD_CA
    }
    $script:hierarchyId = [guid]::NewGuid().ToString()
    $script:work = Join-Path ([System.IO.Path]::GetTempPath()) ('ta-configmgr-' + [guid]::NewGuid())
    $script:where = @{ StateDirectory = (Join-Path $script:work 'State'); LogDirectory = (Join-Path $script:work 'Logs') }
    $script:tenant = 'contoso.onmicrosoft.com'

    # (Global: the mocks below are called from the module and from the runbook script too.)
    # 1,000 devices as Get-CMDevice emits them (SMS_CombinedDeviceResources): no CollectionIDs, Model,
    # Manufacturer or SKU; ResourceID is UInt32, IsClient Boolean. The members of PS100012 are every
    # fourth one.
    $global:CMFleet = foreach ($i in 1..1000) {
        [pscustomobject]@{
            PSTypeName = 'IResultObject#SMS_CombinedDeviceResources'
            Name = ('CM-PC-{0:D4}' -f $i); ResourceID = [uint32](16777216 + $i); SMSID = ('GUID:{0:D8}-AAAA-4000-8000-000000000000' -f $i)
            IsClient = $true; IsObsolete = $false; IsActive = $true; DeviceOS = 'Microsoft Windows NT Workstation 10.0'
            DeviceOSBuild = '10.0.22631.3880'; ClientVersion = '5.00.9128.1000'; SiteCode = 'PS1'; Domain = 'CONTOSO'
            SerialNumber = ('SN{0:D6}' -f $i); UserName = 'helpdesk'
        }
    }
    function global:Get-CMDevice {
        [CmdletBinding()]
        param([string] $CollectionId, [switch] $Fast)
        $global:CMFleet
    }
    # SMS_FullCollectionMembership rows.
    function global:Get-CMCollectionMember {
        [CmdletBinding()]
        param([Parameter(Mandatory)] [string] $CollectionId)
        $global:CMCollectionMemberCalls++
        if ($CollectionId -ne 'PS100012') { return }
        for ($i = 0; $i -lt $global:CMFleet.Count; $i += 4) {
            $d = $global:CMFleet[$i]
            [pscustomobject]@{ PSTypeName = 'IResultObject#SMS_FullCollectionMembership'; CollectionID = 'PS100012'; ResourceID = $d.ResourceID
                SMSID = $d.SMSID; Name = $d.Name; IsClient = $true }
        }
    }
    $global:CMCollectionMemberCalls = 0
    # PowerShell on Linux has no CimCmdlets: a stand-in with Get-CimInstance's parameters is what the
    # mocks below replace there (on Windows they replace the real cmdlet).
    if (-not (Get-Command -Name Get-CimInstance -ErrorAction SilentlyContinue)) {
        function global:Get-CimInstance {
            [CmdletBinding()]
            param([string] $Namespace, [string] $ClassName, [string[]] $Property, [string] $Filter, [string] $ComputerName)
            throw 'Get-CimInstance stand-in called without a mock'
        }
    }
    $script:members = @(for ($i = 0; $i -lt 1000; $i += 4) { $global:CMFleet[$i].Name })

    function Connect-Admin([int] $n) {
        Connect-TenantAttach -TenantId $script:tenant -SiteCode PS1 -HierarchyId $script:hierarchyId -DeviceCode `
            -PublicClientId "c1000000-0000-4000-8000-00000000000$n" @script:where @script:local 6>$null
    }
    function Connect-SiteApp([string] $Rule) {
        $extra = @{}
        if ($Rule) { $extra.UserDiscoveryRule = $Rule }
        Connect-TenantAttach -TenantId $script:tenant -SiteCode PS1 -HierarchyId $script:hierarchyId -Credential $script:app @script:where @script:local @extra
    }
    # The devices of this hierarchy as the admin center (Graph) lists them.
    function Get-CloudName {
        Connect-Admin 2
        @(Get-TenantAttachDevice -Name 'CM-PC-*' | ForEach-Object { $_.deviceName } | Sort-Object)
    }
}

AfterAll {
    Disconnect-TenantAttach
    foreach ($name in 'Get-CMDevice', 'Get-CMCollectionMember', 'Get-CMUser', 'Invoke-CMClientAction', 'Get-CimInstance') {
        Remove-Item -LiteralPath "Function:\$name" -ErrorAction SilentlyContinue
    }
    Remove-Variable -Scope Global -Name 'CMUserRecords', 'CMFleet', 'CMHelpdeskBoth', 'CMHelpdeskAdOnly', 'CMCollectionMemberCalls', 'CMClientActions', 'CMClientActionFails' -ErrorAction SilentlyContinue
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'Get-CMDevice output under a collection upload scope' {
    It 'onboards with the scope PS100012' {
        Connect-Admin 1
        $registration = Register-TenantAttach -CollectionId PS100012 -Confirm:$false
        $registration.CollectionId | Should -Be 'PS100012'
        $script:app = New-Object PSCredential($registration.AppId, $registration.ClientSecret)
    }

    It 'uploads exactly the members that Get-CMCollectionMember lists, and nothing else' {
        Connect-SiteApp
        $report = Get-CMDevice | Sync-TenantAttachDevice -Confirm:$false
        $global:CMCollectionMemberCalls | Should -Be 1 -Because 'the ConfigMgr module is loaded and the records carry no CollectionIDs'
        $report.kind | Should -Be 'full'
        $report.uploaded | Should -Be 250
        $report.ineligible | Should -Be 750
        Get-CloudName | Should -Be $script:members
    }

    It 'takes the membership from -CollectionMember as well, and then changes nothing' {
        Connect-SiteApp
        $report = Get-CMDevice | Sync-TenantAttachDevice -CollectionMember (Get-CMCollectionMember -CollectionId PS100012) -Confirm:$false
        $report.kind | Should -Be 'delta'
        $report.uploaded | Should -Be 0
        $report.deleted | Should -Be 0
    }

    It 'stops an empty pipeline before sending anything' {
        Connect-SiteApp
        { @() | Sync-TenantAttachDevice -Confirm:$false } | Should -Throw -ErrorId 'TenantAttach.TA_STATUS_DELETION_REFUSED,Sync-TenantAttachDevice' -ExpectedMessage '*no device records*250 devices*-Force*'
        { Get-CMDevice | Where-Object Name -eq 'NO-SUCH-PC' | Sync-TenantAttachDevice -Confirm:$false } | Should -Throw -ErrorId 'TenantAttach.TA_STATUS_DELETION_REFUSED,Sync-TenantAttachDevice'
        Get-CloudName | Should -Be $script:members
    }

    It 'stops input where no record is eligible' {
        Connect-SiteApp
        $obsolete = Get-CMDevice | Select-Object -First 40 | ForEach-Object { $c = $_.PSObject.Copy(); $c.IsObsolete = $true; $c }
        $temporary = { @(Get-ChildItem -LiteralPath ([System.IO.Path]::GetTempPath()) -Filter 'tenant-attach-devices-*.ndjson').Count }
        $before = & $temporary
        { $obsolete | Sync-TenantAttachDevice -CollectionMember @($obsolete.SMSID) -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_DELETION_REFUSED,Sync-TenantAttachDevice' -ExpectedMessage '*none of the 40 records is eligible*'
        & $temporary | Should -Be $before -Because 'the pipeline input file is deleted when the run stops'
        Get-CloudName | Should -Be $script:members
    }

    It '-WhatIf reports what would be deleted, without signing in by device code' {
        # A person signed in by device code: -WhatIf compares with the state folder, so no prompt.
        Connect-TenantAttach -TenantId $script:tenant -SiteCode PS1 -HierarchyId $script:hierarchyId -DeviceCode `
            -PublicClientId 'c1000000-0000-4000-8000-000000000004' @script:where @script:local
        $half = @(Get-CMCollectionMember -CollectionId PS100012 | Select-Object -First 125)
        $output = @(Get-CMDevice | Sync-TenantAttachDevice -CollectionMember $half -WhatIf 6>&1 3>$null)
        @($output | Where-Object { $_ -is [System.Management.Automation.InformationRecord] -and "$_" -like '*To sign in*' }) | Should -BeNullOrEmpty
        $plan = @($output | Where-Object { $_.PSObject.TypeNames -contains 'TenantAttach.SyncReport' })
        $plan.Count | Should -Be 1
        $plan[0].dryRun | Should -BeTrue
        $plan[0].deleted | Should -Be 125
        @($plan[0].warnings) -like 'A real run would stop*' | Should -Not -BeNullOrEmpty
    }

    It 'stops a run that would delete more than the threshold, and goes ahead with -Force' {
        Connect-SiteApp
        $half = @(Get-CMCollectionMember -CollectionId PS100012 | Select-Object -First 125)
        { Get-CMDevice | Sync-TenantAttachDevice -CollectionMember $half -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_DELETION_REFUSED,Sync-TenantAttachDevice' -ExpectedMessage '*would remove 125 of the 250 devices*'
        Get-CloudName | Should -Be $script:members
        Connect-SiteApp
        $report = Get-CMDevice | Sync-TenantAttachDevice -CollectionMember $half -Force -Confirm:$false
        $report.deleted | Should -Be 125
        Get-CloudName | Should -Be @($half.Name | Sort-Object)
    }

    It 'asks before deleting, as a high-impact change' {
        Connect-SiteApp
        $fewer = @(Get-CMCollectionMember -CollectionId PS100012 | Select-Object -First 120)
        (Get-Command Sync-TenantAttachDevice).Parameters.ContainsKey('Force') | Should -BeTrue
        # $ConfirmPreference High (the default) asks for High-impact changes: a non-interactive host
        # cannot ask, so the run stops there, sending nothing.
        { Get-CMDevice | Sync-TenantAttachDevice -CollectionMember $fewer -ErrorAction Stop } | Should -Throw
        (Get-CloudName).Count | Should -Be 125
        Connect-SiteApp
        (Get-CMDevice | Sync-TenantAttachDevice -CollectionMember $fewer -Confirm:$false).deleted | Should -Be 5
    }
}

Describe 'The site worker acts through ConfigMgr' {
    BeforeAll {
        # Get-CMUser / SMS_R_User records: the discovery agents in AgentName.
        $global:CMHelpdeskBoth = [pscustomobject]@{ PSTypeName = 'IResultObject#SMS_R_User'; Name = 'CONTOSO\helpdesk'; ResourceID = [uint32]2063597570
            UniqueUserName = 'CONTOSO\helpdesk'; SID = 'S-1-5-21-3623811015-3361044348-30300820-1013'; Mail = 'helpdesk@contoso.com'
            AADUserID = 'a0000000-0000-4000-8000-000000000002'; UserPrincipalName = 'helpdesk@contoso.onmicrosoft.com'
            AgentName = [string[]]@('SMS_AD_USER_DISCOVERY_AGENT', 'SMS_AZUREAD_USER_DISCOVERY_AGENT') }
        $global:CMHelpdeskAdOnly = [pscustomobject]@{ PSTypeName = 'IResultObject#SMS_R_User'; Name = 'CONTOSO\helpdesk'; ResourceID = [uint32]2063597570
            UniqueUserName = 'CONTOSO\helpdesk'; UserPrincipalName = 'helpdesk@contoso.onmicrosoft.com'; AgentName = [string[]]@('SMS_AD_USER_DISCOVERY_AGENT') }
        # Get-CMUser: SMS_CombinedUserResources, which carries no discovery data; the module reads
        # that from SMS_R_User on the SMS Provider (Get-CimInstance, mocked), joined by ResourceID.
        $global:CMUserRecords = @(
            $global:CMHelpdeskBoth
            [pscustomobject]@{ PSTypeName = 'Microsoft.Management.Infrastructure.CimInstance#root/SMS/site_PS1/SMS_R_User'; Name = 'CONTOSO\reader'
                ResourceID = [uint32]2063597571; UniqueUserName = 'CONTOSO\reader'; AgentName = [string[]]@('SMS_AD_USER_DISCOVERY_AGENT') }
        )
        function global:Get-CMUser {
            [CmdletBinding()]
            param([string] $Name)
            foreach ($u in $global:CMUserRecords) {
                [pscustomobject]@{ PSTypeName = 'IResultObject#SMS_CombinedUserResources'; Domain = 'CONTOSO'; Name = $u.Name; ResourceID = $u.ResourceID
                    ResourceType = [uint32]4; SMSID = $u.UniqueUserName }
            }
        }
        Mock -ModuleName TenantAttach -CommandName Get-CimInstance -MockWith { $global:CMUserRecords } -ParameterFilter { $ClassName -eq 'SMS_R_User' -and $Namespace -eq 'root/SMS/site_PS1' }
        function global:Invoke-CMClientAction {
            [CmdletBinding()]
            param([uint32] $DeviceId, [string] $NotificationType, [string] $ActionType)
            $global:CMClientActions += , [pscustomobject]@{ DeviceId = $DeviceId; NotificationType = $NotificationType; ActionType = $ActionType }
            if ($global:CMClientActionFails) { throw 'The client is offline (ConfigMgr could not reach CM-PC-0001).' }
        }
        $global:CMClientActions = @()
        $global:CMClientActionFails = $false
        function Send-Action([string] $Action) {
            Connect-Admin 2
            Get-TenantAttachDevice -Name 'CM-PC-0001' | Invoke-TenantAttachDeviceAction -Action $Action | Out-Null
        }
    }

    It 'refuses a user found by AD user discovery only under the default rule (both)' {
        Send-Action SyncMachinePolicy
        Connect-SiteApp
        $received = @(Receive-TenantAttachNotification -DiscoveredUser $global:CMHelpdeskAdOnly -TimeoutSeconds 10)
        $received.Count | Should -Be 1
        $received[0].decision | Should -Be 'refused'
        $received[0].reason | Should -Match 'not found by Azure AD user discovery'
        ($received | Invoke-TenantAttachClientAction -Device (Get-CMDevice) -Confirm:$false) | Should -BeNullOrEmpty
        $global:CMClientActions.Count | Should -Be 0
    }

    It 'reads discovery flags as a CSV gives them: False is no' {
        Send-Action SyncMachinePolicy
        Connect-SiteApp
        $csv = [pscustomobject]@{ AadUserId = 'a0000000-0000-4000-8000-000000000002'; AdDiscovered = 'True'; AzureAdDiscovered = 'False' }
        $received = @(Receive-TenantAttachNotification -DiscoveredUser $csv -TimeoutSeconds 10)
        $received[0].decision | Should -Be 'refused'
        $received[0].reason | Should -Match 'not found by Azure AD user discovery'
    }

    It 'authorizes the same user under the rule "either", and Invoke-CMClientAction gets the ResourceID and the notification type' {
        Send-Action SyncMachinePolicy
        Connect-SiteApp -Rule Either
        $received = @(Receive-TenantAttachNotification -DiscoveredUser $global:CMHelpdeskAdOnly -TimeoutSeconds 10)
        $received[0].decision | Should -Be 'authorized'
        $done = @($received | Invoke-TenantAttachClientAction -Device (Get-CMDevice) -Confirm:$false)
        $global:CMClientActions.Count | Should -Be 1
        $global:CMClientActions[0].DeviceId | Should -Be 16777217
        $global:CMClientActions[0].NotificationType | Should -Be 'RequestMachinePolicyNow'
        $done[0].status | Should -Be 'succeeded'
        $done[0].ResourceID | Should -Be 16777217
    }

    It 'runs App evaluation cycle with -ActionType for a user discovered by both' {
        Send-Action AppEvaluationCycle
        Connect-SiteApp
        $received = @(Receive-TenantAttachNotification -DiscoveredUser (Get-CMUser) -TimeoutSeconds 10)
        $received[0].invokeCMClientAction.ActionType | Should -Be 'ClientNotificationAppDeplEvalNow'
        ($received | Invoke-TenantAttachClientAction -Device (Get-CMDevice) -Confirm:$false).status | Should -Be 'succeeded'
        $global:CMClientActions[-1].ActionType | Should -Be 'ClientNotificationAppDeplEvalNow'
        $global:CMClientActions[-1].DeviceId | Should -Be 16777217
    }

    It 'reports a failing Invoke-CMClientAction as failed, with its message, on the admin page' {
        Send-Action SyncUserPolicy
        Connect-SiteApp
        $global:CMClientActionFails = $true
        $received = @(Receive-TenantAttachNotification -DiscoveredUser $global:CMHelpdeskBoth -TimeoutSeconds 10)
        $done = @($received | Invoke-TenantAttachClientAction -Device (Get-CMDevice) -Confirm:$false -ErrorVariable failed -ErrorAction SilentlyContinue)
        $global:CMClientActionFails = $false
        $global:CMClientActions[-1].NotificationType | Should -Be 'RequestUsersPolicyNow'
        $ours = @($failed | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] -and $_.FullyQualifiedErrorId -eq 'TenantAttach.ClientActionFailed,Invoke-TenantAttachClientAction' })
        $ours.Count | Should -Be 1
        $ours[0].Exception.Message | Should -Match 'The client is offline'
        $done[0].status | Should -Be 'failed'
        $id = $received[0].managedDeviceId
        $page = (& curl -s --cacert $env:TA_CLOUD_CA "$($env:TA_CLOUD_URL)/devices/$id") -join "`n"
        $page | Should -Match 'failed'
        $page | Should -Match 'The client is offline'
    }

    It 'leaves the actions pending when the ConfigMgr module is not loaded' {
        Remove-Item -LiteralPath 'Function:\Invoke-CMClientAction'
        try {
            { [pscustomobject]@{ decision = 'authorized' } | Invoke-TenantAttachClientAction } | Should -Throw -ErrorId 'TenantAttach.ConfigMgrModuleMissing,Invoke-TenantAttachClientAction'
        }
        finally {
            function global:Invoke-CMClientAction { param([uint32] $DeviceId, [string] $NotificationType, [string] $ActionType) }
        }
    }
}

Describe 'Ctrl+C during a long upload' {
    It 'returns promptly, leaves a state the next run converges from, and the session lives on' {
        # A hierarchy of its own, all devices in scope; the gateway answers each batch after 2 s.
        $hierarchy = [guid]::NewGuid().ToString()
        $state = Join-Path $script:work 'CancelState'
        Connect-TenantAttach -TenantId $script:tenant -SiteCode PS1 -HierarchyId $hierarchy -DeviceCode -PublicClientId 'c1000000-0000-4000-8000-000000000001' `
            -StateDirectory $state @script:local 6>$null
        $registration = Register-TenantAttach -UploadScope All -Confirm:$false
        $connect = @{ TenantId = $script:tenant; SiteCode = 'PS1'; HierarchyId = $hierarchy; StateDirectory = $state
            Credential = (New-Object PSCredential($registration.AppId, $registration.ClientSecret)) } + $script:local
        $devices = foreach ($i in 1..10000) {
            [pscustomobject]@{ PSTypeName = 'IResultObject#SMS_CombinedDeviceResources'; Name = ('CX-{0:D5}' -f $i); ResourceID = [uint32](16800000 + $i)
                SMSID = ('GUID:{0:D8}-CCCC-4000-8000-000000000000' -f $i); IsClient = $true; IsObsolete = $false; ClientVersion = '5.00.9128.1000' }
        }
        $slow = '{"mode":"slow","rate":1,"pathPrefix":"/api/gateway/DevicePost","slowMs":2000}'
        & curl -s --cacert $env:TA_CLOUD_CA -X POST -H 'content-type: application/json' -d $slow "$($env:TA_CLOUD_URL)/_admin/faults" | Out-Null

        $ps = [powershell]::Create()
        try {
            [void]$ps.AddScript({
                    param($module, $connect, $devices)
                    Import-Module $module
                    Connect-TenantAttach @connect
                    $devices | Sync-TenantAttachDevice -Confirm:$false
                }).AddArgument((Join-Path $PSScriptRoot '../../powershell/TenantAttach/TenantAttach.psd1')).AddArgument($connect).AddArgument($devices)
            $running = $ps.BeginInvoke()
            # Stopped once the upload has begun (its first batch acknowledged, as progress shows),
            # not after a fixed time: a loaded machine may still be reading the input then.
            $deadline = [DateTime]::UtcNow.AddSeconds(120)
            while (-not @($ps.Streams.Progress | Where-Object { $_.PercentComplete -gt 0 }) -and [DateTime]::UtcNow -lt $deadline -and -not $running.IsCompleted) {
                Start-Sleep -Milliseconds 100
            }
            $ps.InvocationStateInfo.State | Should -Be 'Running'
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $watch.Stop()
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 5 -Because 'a batch in flight takes 2 s; the rest is cancelled'
            $running.IsCompleted | Should -BeTrue
        }
        finally {
            $ps.Dispose()
            & curl -s --cacert $env:TA_CLOUD_CA -X POST -H 'content-type: application/json' -d '{"mode":null}' "$($env:TA_CLOUD_URL)/_admin/faults" | Out-Null
        }

        # The next run finishes the upload: a full sync again, and the cloud holds every device.
        Connect-TenantAttach @connect
        $report = $devices | Sync-TenantAttachDevice -Confirm:$false
        $report.kind | Should -Be 'full'
        $report.reason | Should -Match 'did not finish'
        $report.uploaded | Should -Be 10000
        (Get-TenantAttachStatus).DevicesInCloud | Should -Be 10000
        Connect-Admin 2
        @(Get-TenantAttachDevice -Name 'CX-*').Count | Should -Be 10000
    }
}

Describe 'Get-TenantAttachInventory on a site server' {
    BeforeAll {
        # The provider's WMI classes (root/SMS/site_PS1), as Get-CimInstance returns them, for the
        # first ten devices: hardware inventory, a distribution point, a primary user.
        Mock -ModuleName TenantAttach -CommandName Get-CimInstance -MockWith {
            $first = $global:CMFleet[0..9]
            switch ($ClassName) {
                'SMS_G_System_COMPUTER_SYSTEM' { foreach ($d in $first) { [pscustomobject]@{ ResourceID = $d.ResourceID; Manufacturer = 'Contoso Hardware'; Model = 'Surface Laptop 6' } } }
                'SMS_G_System_PC_BIOS' { foreach ($d in $first) { [pscustomobject]@{ ResourceID = $d.ResourceID; SerialNumber = 'BIOS-' + $d.ResourceID } } }
                'SMS_G_System_OPERATING_SYSTEM' { foreach ($d in $first) { [pscustomobject]@{ ResourceID = $d.ResourceID; OperatingSystemSKU = [uint32]4 } } }
                'SMS_DistributionPointInfo' { [pscustomobject]@{ ServerName = 'CM-PC-0005.contoso.com'; SiteCode = 'PS1' } }
                'SMS_R_System' { foreach ($d in $first) { [pscustomobject]@{ ResourceID = $d.ResourceID; ResourceNames = [string[]]@("$($d.Name).contoso.com") } } }
                'SMS_R_User' { [pscustomobject]@{ UniqueUserName = 'CONTOSO\helpdesk'; AADUserID = 'a0000000-0000-4000-8000-000000000002' } }
                'SMS_UserMachineRelationship' { [pscustomobject]@{ ResourceID = $global:CMFleet[0].ResourceID; UniqueUserName = 'contoso\helpdesk'; IsActive = $true } }
                default { throw "unexpected class $ClassName" }
            }
        } -ParameterFilter { $Namespace -eq 'root/SMS/site_PS1' }
    }

    It 'joins hardware inventory, membership, the DP flag and the primary user to Get-CMDevice, leaving out what ConfigMgr lacks' {
        $records = @(Get-TenantAttachInventory -SiteCode PS1 -CollectionId PS100012)
        $records.Count | Should -Be 1000
        $first = $records[0]
        $first.PSObject.TypeNames | Should -Contain 'TenantAttach.InventoryRecord'
        $first.Model | Should -Be 'Surface Laptop 6'
        $first.Manufacturer | Should -Be 'Contoso Hardware'
        $first.SerialNumber | Should -Be 'SN000001' -Because 'Get-CMDevice has the serial number; inventory only fills a missing one'
        $first.SKU | Should -Be '4'
        $first.AADPrimaryUserID | Should -Be 'a0000000-0000-4000-8000-000000000002'
        $first.CollectionIDs | Should -Be @('PS100012')
        $records[4].IsDistributionPoint | Should -BeTrue
        $records[1].PSObject.Properties['CollectionIDs'] | Should -BeNullOrEmpty
        $records[500].PSObject.Properties['Model'] | Should -BeNullOrEmpty -Because 'no hardware inventory: absent, never guessed'
        $records[500].PSObject.Properties['IsDistributionPoint'] | Should -BeNullOrEmpty
    }

    It 'writes NDJSON that Sync-TenantAttachDevice -Path uploads: the members, with their inventory' {
        $file = Join-Path $script:work 'inventory.ndjson'
        Get-TenantAttachInventory -SiteCode PS1 -CollectionId PS100012 -Path $file
        $lines = @(Get-Content -LiteralPath $file -Encoding utf8)
        $lines.Count | Should -Be 1001
        $lines[-1] | Should -Be '{"@tenantAttachTrailer":{"records":1000}}' -Because 'the export ends with its record count'
        ($lines[0] | ConvertFrom-Json).Model | Should -Be 'Surface Laptop 6'
        Connect-SiteApp
        $report = Sync-TenantAttachDevice -Path $file -Force -Confirm:$false
        $report.uploaded + $report.unchanged | Should -Be 250
        Get-CloudName | Should -Be $script:members
        Connect-Admin 2
        $pc = Get-TenantAttachDevice -Name 'CM-PC-0001'
        $pc.model | Should -Be 'Surface Laptop 6'
        $pc.manufacturer | Should -Be 'Contoso Hardware'
    }
}

Describe 'Get-TenantAttachInventory -Path over an earlier export' {
    BeforeAll {
        Mock -ModuleName TenantAttach -CommandName Get-CimInstance -MockWith { @() }
    }

    It 'replaces the file at the path, leaving no partial file' {
        $file = Join-Path $script:work 'inventory-again.ndjson'
        Get-TenantAttachInventory -SiteCode PS1 -CollectionId PS100012 -Path $file
        (Get-Content -LiteralPath $file -TotalCount 1 | ConvertFrom-Json).CollectionIDs | Should -Be @('PS100012')
        Get-TenantAttachInventory -SiteCode PS1 -Path $file
        $lines = @(Get-Content -LiteralPath $file -Encoding utf8)
        $lines.Count | Should -Be 1001
        ($lines[0] | ConvertFrom-Json).PSObject.Properties['CollectionIDs'] | Should -BeNullOrEmpty -Because 'the second export replaced the first'
        @(Get-ChildItem -LiteralPath $script:work -Filter 'inventory-again.ndjson.partial-*') | Should -BeNullOrEmpty
    }

    It 'stops and keeps the earlier export when a source it joins cannot be read' {
        $file = Join-Path $script:work 'inventory-kept.ndjson'
        Get-TenantAttachInventory -SiteCode PS1 -Path $file
        $before = Get-FileHash -LiteralPath $file
        Mock -ModuleName TenantAttach -CommandName Get-CimInstance -MockWith { throw 'Access denied (0x80041003)' } -ParameterFilter { $ClassName -eq 'SMS_G_System_PC_BIOS' }
        { Get-TenantAttachInventory -SiteCode PS1 -Path $file } |
            Should -Throw -ErrorId 'TenantAttach.InventorySourceUnreadable,Get-TenantAttachInventory' -ExpectedMessage '*SMS_G_System_PC_BIOS*Access denied*was not changed*'
        (Get-FileHash -LiteralPath $file).Hash | Should -Be $before.Hash
        @(Get-ChildItem -LiteralPath $script:work -Filter 'inventory-kept.ndjson.partial-*') | Should -BeNullOrEmpty
        # Get-CMDevice losing the provider half way (a non-terminating error after some devices).
        Mock -ModuleName TenantAttach -CommandName Get-CMDevice -MockWith { $global:CMFleet[0..99]; Write-Error 'The SMS Provider stopped answering' }
        { Get-TenantAttachInventory -SiteCode PS1 -Path $file } |
            Should -Throw -ErrorId 'TenantAttach.InventorySourceUnreadable,Get-TenantAttachInventory' -ExpectedMessage '*Get-CMDevice*stopped answering*was not changed*'
        (Get-FileHash -LiteralPath $file).Hash | Should -Be $before.Hash
    }

    It 'an export cut short is refused by Sync-TenantAttachDevice -Path, and nothing is sent' {
        $file = Join-Path $script:work 'inventory-cut.ndjson'
        Get-TenantAttachInventory -SiteCode PS1 -CollectionId PS100012 -Path $file
        $before = Get-CloudName
        Connect-SiteApp
        $bytes = [System.IO.File]::ReadAllBytes($file)
        # A copy that stopped at a line end: every line whole, the trailer and the last records missing.
        $cut = [System.Text.Encoding]::UTF8.GetString($bytes, 0, [int]($bytes.Length * 0.6))
        [System.IO.File]::WriteAllText($file, $cut.Substring(0, $cut.LastIndexOf([char]10) + 1) + (Get-Content -LiteralPath $file -Tail 1) + "`n")
        { Sync-TenantAttachDevice -Path $file -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_INVALID_JSON,Sync-TenantAttachDevice' -ExpectedMessage '*trailer says it holds 1000 records*'
        # And one cut in the middle of a line.
        [System.IO.File]::WriteAllText($file, $cut)
        { Sync-TenantAttachDevice -Path $file -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_INVALID_JSON,Sync-TenantAttachDevice' -ExpectedMessage '*incomplete*'
        Get-CloudName | Should -Be $before
    }
}

Describe 'The runbook example' {
    BeforeAll {
        Mock -ModuleName TenantAttach -CommandName Get-CimInstance -MockWith { @() }
        Mock -ModuleName TenantAttach -CommandName Get-CimInstance -MockWith { $global:CMUserRecords } -ParameterFilter { $ClassName -eq 'SMS_R_User' }
        function global:Invoke-CMClientAction {
            [CmdletBinding()]
            param([uint32] $DeviceId, [string] $NotificationType, [string] $ActionType)
            $global:CMClientActions += , [pscustomobject]@{ DeviceId = $DeviceId; NotificationType = $NotificationType; ActionType = $ActionType }
        }
        $global:CMClientActions = @()
    }

    It 'uploads the site inventory and runs the waiting actions through ConfigMgr, unattended' {
        Connect-Admin 2
        Get-TenantAttachDevice -Name 'CM-PC-0005' | Invoke-TenantAttachDeviceAction -Action SyncMachinePolicy | Out-Null
        Disconnect-TenantAttach
        $runbook = Join-Path $PSScriptRoot '../../examples/powershell/Invoke-TenantAttachRunbook.ps1'
        $out = @(& $runbook -Credential $script:app -TenantId $script:tenant -SiteCode PS1 -HierarchyId $script:hierarchyId `
                -StateDirectory $script:where.StateDirectory -ReceiveSeconds 10 -Endpoint $script:local.Endpoint -TrustedCaFile $env:TA_CLOUD_CA)
        $out[0] | Should -Match '^(delta|full) sync: \d+ uploaded, 0 deleted'
        $out | Should -Contain 'SyncMachinePolicy on CM-PC-0005: succeeded'
        $global:CMClientActions[-1].DeviceId | Should -Be 16777221
        Get-CloudName | Should -Be $script:members
    }
}
