function Get-TenantAttachDevice {
    <#
    .SYNOPSIS
    The attached devices as the admin center shows them (Name, Managed by, OS, last sync).
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
    foreach ($device in @(ConvertFrom-TenantAttachJson -Json $json -TypeName 'TenantAttach.Device')) {
        Add-Member -InputObject $device -NotePropertyName ManagedBy -NotePropertyValue 'ConfigMgr' -Force
        $device
    }
}
