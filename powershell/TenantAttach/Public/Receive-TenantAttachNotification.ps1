function Receive-TenantAttachNotification {
    <#
    .SYNOPSIS
    The site's notification worker: waits for device actions and checks each one.
    .DESCRIPTION
    Waits up to -TimeoutSeconds (long-poll, no fixed delay). Each action is checked: basic details,
    message content, and the initiating user discovered by both AD and Azure AD user discovery
    (-DiscoveredUser: objects with AadUserId, UserPrincipalName, AdDiscovered, AzureAdDiscovered).
    Refused actions are reported to the cloud as failed with the reason. Authorized ones come out
    with the target device, the client notification type, the TemplateID and a task GUID.
    .EXAMPLE
    $users = Import-Csv .\discovered-users.csv
    Receive-TenantAttachNotification -DiscoveredUser $users -TimeoutSeconds 30 | Where-Object Decision -eq Authorized
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [AllowEmptyCollection()]
        [psobject[]] $DiscoveredUser,
        [ValidateRange(0, 60)]
        [int] $TimeoutSeconds = 30
    )
    $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
    if ($DiscoveredUser.Count -eq 0) {
        Write-Warning 'No discovered users were given: every action received now is refused as unauthorized. Pass the users of AD and Azure AD user discovery with -DiscoveredUser.'
    }
    $yes = @($true, 'True', 'Yes', 1, '1')
    $users = New-Object System.Collections.Generic.List[object]
    foreach ($u in $DiscoveredUser) {
        if ($null -eq $u) { continue }
        $users.Add(@{
                aadUserId         = [string](Get-TenantAttachMember $u 'AadUserId')
                userPrincipalName = [string](Get-TenantAttachMember $u 'UserPrincipalName')
                adDiscovered      = [bool]((Get-TenantAttachMember $u 'AdDiscovered') -in $yes)
                azureAdDiscovered = [bool]((Get-TenantAttachMember $u 'AzureAdDiscovered') -in $yes)
            })
    }
    $json = ConvertTo-Json -InputObject @($users.ToArray()) -Depth 3 -Compress
    $decisions = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Call { $session.ReceiveNotifications($json, [uint32]$TimeoutSeconds) }
    ConvertFrom-TenantAttachJson -Json $decisions -TypeName 'TenantAttach.Notification'
}
