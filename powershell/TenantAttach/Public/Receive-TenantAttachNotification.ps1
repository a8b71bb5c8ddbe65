function Receive-TenantAttachNotification {
    <#
    .SYNOPSIS
    The site's notification worker: waits for device actions and checks who started each one.
    .DESCRIPTION
    Waits up to -TimeoutSeconds (long-poll, no fixed delay). Each action is checked: basic details,
    message content, and the user who started it, who must be a synced identity found by the site's
    user discoveries: by both AD user discovery and Azure AD user discovery (ConfigMgr 2002's rule,
    the default), or by either (Connect-TenantAttach -UserDiscoveryRule Either, ConfigMgr 2103 and
    later). -DiscoveredUser takes what Get-CMUser or SMS_R_User give: the discovery agents in
    AgentName (SMS_AD_USER_DISCOVERY_AGENT, SMS_AZUREAD_USER_DISCOVERY_AGENT), and the user's Azure AD
    object id (AADUserID), UserPrincipalName and SID, matched in that order; objects with
    AdDiscovered/AzureAdDiscovered flags are accepted too.

    Refused actions are reported to the cloud as failed with the reason (and logged in
    CMGatewayNotificationWorker.log). Authorized ones come out with the target device (SMSID), the
    Invoke-CMClientAction arguments (InvokeCMClientAction), the TemplateID and a task GUID: pipe them
    to Invoke-TenantAttachClientAction to run them through ConfigMgr and report the outcome.
    .EXAMPLE
    Receive-TenantAttachNotification -DiscoveredUser (Get-CMUser) | Invoke-TenantAttachClientAction
    .EXAMPLE
    $users = Get-CimInstance -Namespace root/SMS/site_PS1 -ClassName SMS_R_User
    Receive-TenantAttachNotification -DiscoveredUser $users -TimeoutSeconds 30 | Where-Object Decision -eq Authorized
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [AllowEmptyCollection()]
        [AllowNull()]
        [psobject[]] $DiscoveredUser,
        [ValidateRange(0, 60)]
        [int] $TimeoutSeconds = 30
    )
    $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
    $DiscoveredUser = @($DiscoveredUser | Where-Object { $null -ne $_ })
    if ($DiscoveredUser.Count -eq 0) {
        Write-Warning 'No discovered users were given: every action received now is refused as unauthorized. Pass the users of AD and Azure AD user discovery with -DiscoveredUser (Get-CMUser).'
    }
    $users = New-Object System.Collections.Generic.List[object]
    # Get-CMUser gives SMS_CombinedUserResources (Name, ResourceID, SMSID...): the discovery data is
    # in SMS_R_User, read from the SMS Provider and joined by ResourceID.
    $bare = New-Object System.Collections.Generic.List[uint32]
    foreach ($u in $DiscoveredUser) {
        $user = ConvertTo-TenantAttachDiscoveredUser -User $u
        if ($user) { $users.Add($user); continue }
        $resourceId = Get-TenantAttachMember $u 'ResourceID'
        if ($null -ne $resourceId) { $bare.Add([uint32]$resourceId) }
    }
    if ($bare.Count -gt 0) {
        $found = 0
        foreach ($record in @(Get-TenantAttachUserRecord -Cmdlet $PSCmdlet -ResourceId $bare)) {
            $user = ConvertTo-TenantAttachDiscoveredUser -User $record
            if ($user) { $users.Add($user); $found++ }
        }
        if ($found -lt $bare.Count) {
            Write-Warning "$($bare.Count - $found) of the users given have no discovery data (Get-CMUser objects carry none) and no SMS_R_User record with an Azure AD object id, UPN or SID was found for them: actions they start are refused. Pass SMS_R_User records, or run this on the site server."
        }
    }
    $json = ConvertTo-Json -InputObject @($users.ToArray()) -Depth 3 -Compress
    $decisions = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Operation ReceiveNotifications -Argument $json, $TimeoutSeconds -Activity 'Waiting for device actions'
    foreach ($decision in @(ConvertFrom-TenantAttachJson -Json $decisions -TypeName 'TenantAttach.Notification')) {
        $invokeArgs = Get-TenantAttachMember $decision 'invokeCMClientAction'
        if ($invokeArgs) {
            # As a hashtable, ready to splat: Invoke-CMClientAction -DeviceId $id @args.
            $table = @{}
            foreach ($p in $invokeArgs.PSObject.Properties) { $table[$p.Name] = [string]$p.Value }
            $decision.invokeCMClientAction = $table
        }
        $decision
    }
}
