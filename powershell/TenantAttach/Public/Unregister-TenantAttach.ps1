function Unregister-TenantAttach {
    <#
    .SYNOPSIS
    Offboards the connected hierarchy: its devices leave the admin center, the local sync state is cleared.
    .EXAMPLE
    Unregister-TenantAttach -Confirm:$false
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    param()
    $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
    if ($PSCmdlet.ShouldProcess('hierarchy of the connected site', 'Offboard from tenant attach')) {
        Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Operation Unregister | Out-Null
    }
}
