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

    # 1,000 devices as Get-CMDevice emits them (SMS_CombinedDeviceResources): no CollectionIDs, Model,
    # Manufacturer or SKU; ResourceID is UInt32, IsClient Boolean. The members of PS100012 are every
    # fourth one.
    $script:fleet = foreach ($i in 1..1000) {
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
        $script:fleet
    }
    # SMS_FullCollectionMembership rows.
    function global:Get-CMCollectionMember {
        [CmdletBinding()]
        param([Parameter(Mandatory)] [string] $CollectionId)
        $global:CMCollectionMemberCalls++
        if ($CollectionId -ne 'PS100012') { return }
        for ($i = 0; $i -lt $script:fleet.Count; $i += 4) {
            $d = $script:fleet[$i]
            [pscustomobject]@{ PSTypeName = 'IResultObject#SMS_FullCollectionMembership'; CollectionID = 'PS100012'; ResourceID = $d.ResourceID
                SMSID = $d.SMSID; Name = $d.Name; IsClient = $true }
        }
    }
    $global:CMCollectionMemberCalls = 0
    $script:members = @(for ($i = 0; $i -lt 1000; $i += 4) { $script:fleet[$i].Name })

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
    foreach ($name in 'Get-CMDevice', 'Get-CMCollectionMember', 'Get-CMUser', 'Invoke-CMClientAction') {
        Remove-Item -LiteralPath "Function:\$name" -ErrorAction SilentlyContinue
    }
    Remove-Variable -Scope Global -Name 'CMCollectionMemberCalls', 'CMClientActions', 'CMClientActionFails' -ErrorAction SilentlyContinue
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
        { $obsolete | Sync-TenantAttachDevice -CollectionMember @($obsolete.SMSID) -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_DELETION_REFUSED,Sync-TenantAttachDevice' -ExpectedMessage '*none of the 40 records is eligible*'
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
        $script:helpdeskBoth = [pscustomobject]@{ PSTypeName = 'IResultObject#SMS_R_User'; Name = 'CONTOSO\helpdesk'; ResourceID = [uint32]2063597570
            UniqueUserName = 'CONTOSO\helpdesk'; SID = 'S-1-5-21-3623811015-3361044348-30300820-1013'; Mail = 'helpdesk@contoso.com'
            AADUserID = 'a0000000-0000-4000-8000-000000000002'; UserPrincipalName = 'helpdesk@contoso.onmicrosoft.com'
            AgentName = [string[]]@('SMS_AD_USER_DISCOVERY_AGENT', 'SMS_AZUREAD_USER_DISCOVERY_AGENT') }
        $script:helpdeskAdOnly = [pscustomobject]@{ PSTypeName = 'IResultObject#SMS_R_User'; Name = 'CONTOSO\helpdesk'; ResourceID = [uint32]2063597570
            UniqueUserName = 'CONTOSO\helpdesk'; UserPrincipalName = 'helpdesk@contoso.onmicrosoft.com'; AgentName = [string[]]@('SMS_AD_USER_DISCOVERY_AGENT') }
        # Get-CMUser: SMS_CombinedUserResources, here with SMS_R_User's discovery data.
        function global:Get-CMUser {
            [CmdletBinding()]
            param([string] $Name)
            $script:helpdeskBoth
            [pscustomobject]@{ PSTypeName = 'IResultObject#SMS_R_User'; Name = 'CONTOSO\reader'; ResourceID = [uint32]2063597571
                UniqueUserName = 'CONTOSO\reader'; AgentName = [string[]]@('SMS_AD_USER_DISCOVERY_AGENT') }
        }
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
        $received = @(Receive-TenantAttachNotification -DiscoveredUser $script:helpdeskAdOnly -TimeoutSeconds 10)
        $received.Count | Should -Be 1
        $received[0].decision | Should -Be 'refused'
        $received[0].reason | Should -Match 'not found by Azure AD user discovery'
        ($received | Invoke-TenantAttachClientAction -Device (Get-CMDevice) -Confirm:$false) | Should -BeNullOrEmpty
        $global:CMClientActions.Count | Should -Be 0
    }

    It 'authorizes the same user under the rule "either", and Invoke-CMClientAction gets the ResourceID and the notification type' {
        Send-Action SyncMachinePolicy
        Connect-SiteApp -Rule Either
        $received = @(Receive-TenantAttachNotification -DiscoveredUser $script:helpdeskAdOnly -TimeoutSeconds 10)
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
        $received = @(Receive-TenantAttachNotification -DiscoveredUser $script:helpdeskBoth -TimeoutSeconds 10)
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
            Start-Sleep -Seconds 3
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
