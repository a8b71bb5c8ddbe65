function Complete-TenantAttachNotification {
    <#
    .SYNOPSIS
    Reports the outcome of a device action handed to the ConfigMgr client.
    .EXAMPLE
    Receive-TenantAttachNotification -DiscoveredUser $users | Where-Object Decision -eq Authorized | Complete-TenantAttachNotification -Succeeded
    #>
    [CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'Succeeded')]
    param(
        [Parameter(Mandatory, ValueFromPipelineByPropertyName)]
        [string] $NotificationId,
        [Parameter(ValueFromPipelineByPropertyName)]
        [string] $TaskGuid,
        [Parameter(ParameterSetName = 'Succeeded', Mandatory)]
        [switch] $Succeeded,
        [Parameter(ParameterSetName = 'Failed', Mandatory)]
        [switch] $Failed,
        [Parameter(ParameterSetName = 'Failed', Mandatory)]
        [string] $Reason
    )
    begin { $session = Get-TenantAttachSession -Cmdlet $PSCmdlet }
    process {
        $outcome = if ($Succeeded) { 'succeeded' } else { 'failed' }
        if ($PSCmdlet.ShouldProcess($NotificationId, "Report $outcome")) {
            $task = if ($TaskGuid) { $TaskGuid } else { $null }
            $why = if ($Reason) { $Reason } else { $null }
            $result = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Target $NotificationId -Operation CompleteNotification -Argument $NotificationId, ([bool]$Succeeded), $why, $task
            ConvertFrom-TenantAttachJson -Json $result -TypeName 'TenantAttach.NotificationResult'
        }
    }
}
