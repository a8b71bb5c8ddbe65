# -Endpoint as the library's configuration spells it: PowerShell hashtables ignore the case of their
# keys, so @{ Authority = ... } and @{ authority = ... } are the same to an administrator, while the
# library's JSON keys are exact. An unknown key is refused here with the list of known ones.
function ConvertTo-TenantAttachEndpointSet {
    param(
        [Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory)] [hashtable] $Endpoint
    )
    $known = 'authority', 'graph', 'gateway', 'gatewayUs', 'gatewayEu', 'aka'
    $endpoints = [ordered]@{}
    foreach ($key in $Endpoint.Keys) {
        $name = $known | Where-Object { $_ -eq [string]$key } | Select-Object -First 1
        if (-not $name) {
            $exception = New-Object System.ArgumentException("-Endpoint has an unknown key '$key'. Known keys: $($known -join ', ').")
            $Cmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.UnknownEndpoint', 'InvalidArgument', $key)))
        }
        $endpoints[$name] = [string]$Endpoint[$key]
    }
    return $endpoints
}
