function Get-TenantAttachDevice {
    <#
    .SYNOPSIS
    The attached devices as the admin center shows them (Name, Managed by, OS, last sync).
    .DESCRIPTION
    -Name takes a device name, or a prefix ending in * (startswith); -Filter a Graph $filter. Every
    device the service returns for a filter is checked against it: Intune ignores a filter on a
    property it does not support and answers with every device, so when the answer holds devices
    that do not match, none is returned and the command fails with the error id
    TenantAttach.TA_STATUS_INVALID_ARGUMENT (code FilterNotApplied). Nothing piped on can then act on
    the wrong devices.
    .EXAMPLE
    Get-TenantAttachDevice -Name 'PC-*'
    .EXAMPLE
    Get-TenantAttachDevice -Filter "deviceName eq 'SRV-DP-01'"
    #>
    [CmdletBinding()]
    param(
        [SupportsWildcards()]
        [string] $Name,
        [string] $Filter
    )
    $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
    if (-not $Filter -and $Name) {
        $prefix = $Name.TrimEnd('*')
        $escaped = $prefix.Replace("'", "''")
        $Filter = if ($Name.EndsWith('*')) { "startswith(deviceName,'$escaped')" } else { "deviceName eq '$escaped'" }
    }
    $f = if ($Filter) { $Filter } else { $null }
    $json = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Operation ListDevices -Argument @($f) -Activity 'Listing the attached devices'
    if ([string]::IsNullOrWhiteSpace($json)) { return }
    # (PowerShell 7 enumerates the array, Windows PowerShell 5.1 returns it whole.)
    $parsed = $json | ConvertFrom-Json
    if ($null -eq $parsed) { return }
    $devices = if ($parsed -is [array]) { $parsed } else { , @($parsed) }
    # The type name and the Managed by column in compiled code: one pass, not a script loop over
    # every device (175,000 in a full hierarchy).
    [TenantAttach.Interop.ResultObjects]::Mark($devices, 'TenantAttach.Device', 'ManagedBy', 'ConfigMgr')
    $devices
}
