function Invoke-TenantAttachClientAction {
    <#
    .SYNOPSIS
    Runs authorized device actions through ConfigMgr (Invoke-CMClientAction) and reports each outcome to the cloud.
    .DESCRIPTION
    Takes the decisions of Receive-TenantAttachNotification from the pipeline. For each authorized
    one it finds the device's ResourceID from its SMSID (in -Device, Get-CMDevice output, when given;
    otherwise by querying SMS_R_System on the SMS Provider), runs
    Invoke-CMClientAction -DeviceId <ResourceID> with the decision's arguments (-NotificationType
    RequestMachinePolicyNow or RequestUsersPolicyNow, or -ActionType ClientNotificationAppDeplEvalNow),
    and completes the notification: succeeded, or failed with the error ConfigMgr gave. Refused
    decisions were reported already and are passed over. Without the ConfigMgr module nothing is
    completed, so the actions stay pending and come back on the next receive.
    .PARAMETER Device
    Get-CMDevice (or SMS_R_System) objects to resolve SMSIDs to ResourceIDs without a WMI query.
    .PARAMETER ComputerName
    The SMS Provider to query for SMS_R_System when -Device does not name the device (default: this computer).
    .EXAMPLE
    Receive-TenantAttachNotification -DiscoveredUser (Get-CMUser) | Invoke-TenantAttachClientAction
    .EXAMPLE
    $devices = Get-CMDevice -Fast
    Receive-TenantAttachNotification -DiscoveredUser $users | Invoke-TenantAttachClientAction -Device $devices -Confirm:$false
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param(
        [Parameter(Mandatory, ValueFromPipeline)]
        [psobject] $InputObject,
        [psobject[]] $Device,
        [string] $ComputerName
    )
    begin {
        $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
        if (-not (Get-Command -Name Invoke-CMClientAction -ErrorAction SilentlyContinue)) {
            $exception = New-Object System.Management.Automation.CommandNotFoundException(
                'Invoke-CMClientAction is not available: import the ConfigurationManager module (on a site server or a computer with the ConfigMgr console) and set the location to the site drive. Nothing was completed: the actions stay pending and come back on the next receive.')
            $PSCmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.ConfigMgrModuleMissing', 'ObjectNotFound', 'Invoke-CMClientAction')))
        }
        $resourceIds = @{}
        foreach ($d in @($Device)) {
            if ($null -eq $d) { continue }
            $smsId = Get-TenantAttachMember $d 'SMSID'
            if (-not $smsId) { $smsId = Get-TenantAttachMember $d 'SMSUniqueIdentifier' }
            $resourceId = Get-TenantAttachMember $d 'ResourceID'
            if ($smsId -and $null -ne $resourceId) { $resourceIds[([string]$smsId).ToUpperInvariant()] = [uint32]$resourceId }
        }
        $siteCode = Get-TenantAttachMember ($session.ConfigJson | ConvertFrom-Json) 'siteCode'
        # The ConfigMgr cmdlets run only from the site drive: go there for the actions (and back at
        # the end), or stop before completing anything, so that the actions stay pending.
        $pushed = $false
        if ((Get-Module -Name ConfigurationManager) -and (Get-Location).Provider.Name -ne 'CMSite') {
            $drive = Get-PSDrive -PSProvider CMSite -ErrorAction SilentlyContinue | Where-Object { -not $siteCode -or $_.Name -eq $siteCode } | Select-Object -First 1
            if (-not $drive) {
                $exception = New-Object System.InvalidOperationException("The ConfigMgr cmdlets run from the site drive, and there is none for site $siteCode here (New-PSDrive -Name $siteCode -PSProvider CMSite -Root <SMS Provider>). Nothing was completed: the actions stay pending.")
                $PSCmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.SiteDriveMissing', 'ObjectNotFound', $siteCode)))
            }
            Push-Location -LiteralPath "$($drive.Name):\"
            $pushed = $true
        }
    }
    process {
        if ($null -eq $InputObject) { return }
        $decision = [string](Get-TenantAttachMember $InputObject 'decision')
        $notificationId = [string](Get-TenantAttachMember $InputObject 'notificationId')
        if ($decision -ne 'authorized') {
            Write-Verbose "Notification $notificationId was refused ($(Get-TenantAttachMember $InputObject 'reason')); nothing to run."
            return
        }
        $smsId = [string](Get-TenantAttachMember $InputObject 'smsId')
        $deviceName = [string](Get-TenantAttachMember $InputObject 'deviceName')
        $action = [string](Get-TenantAttachMember $InputObject 'action')
        $taskGuid = Get-TenantAttachMember $InputObject 'taskGuid'
        $invokeArgs = @{}
        $given = Get-TenantAttachMember $InputObject 'invokeCMClientAction'
        if ($given -is [System.Collections.IDictionary]) { foreach ($k in $given.Keys) { $invokeArgs[[string]$k] = [string]$given[$k] } }
        elseif ($null -ne $given) { foreach ($p in $given.PSObject.Properties) { $invokeArgs[$p.Name] = [string]$p.Value } }

        $target = if ($deviceName) { "$deviceName ($smsId)" } else { $smsId }
        if (-not $PSCmdlet.ShouldProcess($target, "Invoke-CMClientAction $(($invokeArgs.GetEnumerator() | ForEach-Object { '-{0} {1}' -f $_.Key, $_.Value }) -join ' ')")) { return }

        $failure = $null
        $resourceId = $null
        if ($invokeArgs.Count -eq 0) {
            $failure = "the decision carries no Invoke-CMClientAction arguments for action $action"
        }
        else {
            try {
                $resourceId = Resolve-TenantAttachResourceId -SmsId $smsId -Known $resourceIds -SiteCode $siteCode -ComputerName $ComputerName
            }
            catch {
                # The provider cannot be asked (access denied, wrong server): a local problem, so the
                # action is not reported as failed; it stays pending and comes back.
                if ($pushed) { Pop-Location; $pushed = $false }
                $exception = New-Object System.InvalidOperationException("Cannot look up the device $smsId in SMS_R_System on the SMS Provider: $($_.Exception.Message). Nothing was completed for it: the action stays pending.", $_.Exception)
                $PSCmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.ProviderUnavailable', 'ConnectionError', $smsId)))
            }
            if ($null -eq $resourceId) {
                $failure = "ConfigMgr has no device with SMSID $smsId (not in -Device, and SMS_R_System has no such record)"
            }
        }
        if (-not $failure) {
            try {
                Invoke-CMClientAction -DeviceId $resourceId @invokeArgs -ErrorAction Stop | Out-Null
            }
            catch {
                $failure = "Invoke-CMClientAction failed: $($_.Exception.Message)"
            }
        }
        $why = if ($failure) { $failure } else { $null }
        $json = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Target $notificationId -Operation CompleteNotification -Argument $notificationId, (-not $failure), $why, $taskGuid
        if ($failure) {
            $exception = New-Object System.InvalidOperationException("$action on ${target}: $failure. The action was reported as failed.")
            $PSCmdlet.WriteError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.ClientActionFailed', 'InvalidResult', $InputObject)))
        }
        foreach ($result in @(ConvertFrom-TenantAttachJson -Json $json -TypeName 'TenantAttach.NotificationResult')) {
            Add-Member -InputObject $result -NotePropertyName ResourceID -NotePropertyValue $resourceId -Force
            Add-Member -InputObject $result -NotePropertyName DeviceName -NotePropertyValue $deviceName -Force
            Add-Member -InputObject $result -NotePropertyName Action -NotePropertyValue $action -Force
            $result
        }
    }
    end {
        if ($pushed) { Pop-Location }
    }
}
