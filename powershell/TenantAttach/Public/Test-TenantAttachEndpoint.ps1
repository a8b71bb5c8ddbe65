function Test-TenantAttachEndpoint {
    <#
    .SYNOPSIS
    Reports whether each internet endpoint tenant attach needs is reachable, with the TLS or proxy error and the time taken.
    .EXAMPLE
    Test-TenantAttachEndpoint | Format-Table Name, Reachable, ElapsedMs, Error
    #>
    [CmdletBinding()]
    param()
    $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
    $json = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Operation TestEndpoints -Activity 'Testing the tenant attach endpoints'
    ConvertFrom-TenantAttachJson -Json $json -TypeName 'TenantAttach.EndpointCheck'
}
