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
        [psobject[]] $DiscoveredUser,
        [ValidateRange(0, 60)]
        [int] $TimeoutSeconds = 30
    )
    $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
    $users = foreach ($u in $DiscoveredUser) {
        @{
            aadUserId         = [string]$u.AadUserId
            userPrincipalName = [string]$u.UserPrincipalName
            adDiscovered      = [bool]($u.AdDiscovered -in @($true, 'True', 'Yes', 1, '1'))
            azureAdDiscovered = [bool]($u.AzureAdDiscovered -in @($true, 'True', 'Yes', 1, '1'))
        }
    }
    $json = ConvertTo-Json -InputObject @($users) -Depth 3 -Compress
    $decisions = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Call { $session.ReceiveNotifications($json, [uint32]$TimeoutSeconds) }
    ConvertFrom-TenantAttachJson -Json $decisions -TypeName 'TenantAttach.Notification'
}
