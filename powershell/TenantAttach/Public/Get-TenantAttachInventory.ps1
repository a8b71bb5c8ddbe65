function Get-TenantAttachInventory {
    <#
    .SYNOPSIS
    Assembles the site's device inventory for tenant attach from ConfigMgr: devices, collection membership, hardware inventory, distribution points and primary users.
    .DESCRIPTION
    Runs on a site server (or a computer with the ConfigMgr console): Get-CMDevice output carries no
    Model, Manufacturer, SKU, primary user, membership or distribution point flag, so this joins
    them by ResourceID from the sources ConfigMgr keeps them in:
    - devices: Get-CMDevice -Fast (SMS_CombinedDeviceResources over WMI where the cmdlet is absent);
    - membership: Get-CMCollectionMember -CollectionId (its members include those of the collections
      limited to it or included in it), written as CollectionIDs;
    - hardware inventory: SMS_G_System_COMPUTER_SYSTEM (Manufacturer, Model), SMS_G_System_PC_BIOS
      (SerialNumber), SMS_G_System_OPERATING_SYSTEM (OperatingSystemSKU as SKU);
    - distribution points: SMS_DistributionPointInfo's ServerName matched to SMS_R_System's
      ResourceNames (the FQDN);
    - user-device affinity: the active primary user of SMS_UserMachineRelationship, whose Azure AD
      object id SMS_R_User carries where Azure AD user discovery found the user (AADPrimaryUserID).
    A property ConfigMgr does not have for a device is left out, never guessed. Obsolete records are
    kept (IsObsolete) and Sync-TenantAttachDevice does not upload them. Writes objects for
    Sync-TenantAttachDevice, or NDJSON (-Path) for Sync-TenantAttachDevice -Path.

    A source that cannot be read (the provider unreachable, a class denied) stops the command with
    the error id TenantAttach.InventorySourceUnreadable, and an earlier export at -Path is kept as it
    was: an inventory missing part of the site would upload as a smaller fleet. An export ends with
    a trailer line holding its record count ({"@tenantAttachTrailer":{"records":N}}), which
    Sync-TenantAttachDevice -Path checks: a file cut short is refused and nothing is sent.
    .PARAMETER SiteCode
    The site whose provider namespace (root/SMS/site_<code>) is read; default: the connected session's.
    .PARAMETER ComputerName
    The SMS Provider (default: this computer).
    .PARAMETER CollectionId
    The collection whose members get its id in CollectionIDs: the upload scope's collection.
    .EXAMPLE
    Get-TenantAttachInventory -CollectionId PS100012 | Sync-TenantAttachDevice
    .EXAMPLE
    Get-TenantAttachInventory -Path D:\Exports\devices.ndjson; Sync-TenantAttachDevice -Path D:\Exports\devices.ndjson
    #>
    [CmdletBinding()]
    param(
        [ValidatePattern('^[A-Za-z0-9]{3}$')]
        [string] $SiteCode,
        [string] $ComputerName,
        [ValidatePattern('^[A-Za-z0-9]{3}[0-9A-Fa-f]{5}$')]
        [string] $CollectionId,
        [string] $Path
    )
    if (-not $SiteCode -and $script:TenantAttachSession) {
        $SiteCode = Get-TenantAttachMember ($script:TenantAttachSession.ConfigJson | ConvertFrom-Json) 'siteCode'
    }
    if (-not $SiteCode) {
        $exception = New-Object System.ArgumentException('Give -SiteCode (the site whose SMS Provider holds the inventory), or run Connect-TenantAttach -SiteCode first.')
        $PSCmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.SiteCodeMissing', 'InvalidArgument', $null)))
    }
    $wmi = @{ Namespace = "root/SMS/site_$SiteCode" }
    if ($ComputerName) { $wmi.ComputerName = $ComputerName }
    $activity = "Reading the inventory of site $SiteCode"
    # A source that cannot be read (wholly or half way) stops the command: an inventory without it
    # would upload as a smaller or different fleet.
    $unreadable = {
        param([string] $what, $failure)
        $kept = if ($Path) { " The export at $Path was not changed." } else { '' }
        $where = if ($ComputerName) { $ComputerName } else { 'this computer' }
        $exception = New-Object System.InvalidOperationException("Could not read $what on $($where): $($failure.Exception.Message). An inventory without it would upload as a smaller or different fleet, so none was written.$kept Check that the SMS Provider is reachable and that this account may read it (ConfigMgr Read-only Analyst or more), then run again.")
        $PSCmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.InventorySourceUnreadable', 'ReadError', $what)))
    }
    $read = {
        param([string] $class, [string[]] $property, [string] $filter)
        Write-Progress -Activity $activity -Status $class
        $query = @{ ClassName = $class; ErrorAction = 'Stop' } + $wmi
        if ($property) { $query.Property = $property }
        if ($filter) { $query.Filter = $filter }
        try { @(Get-CimInstance @query) }
        catch { & $unreadable "$class from $($wmi.Namespace)" $_ }
    }
    Write-Progress -Activity $activity -Status 'Devices'
    # (-ErrorAction Stop: a caller's preference does not reach a module's commands, and Get-CMDevice
    # losing the provider half way must not give a partial list.)
    $devices = if (Get-Command -Name Get-CMDevice -ErrorAction SilentlyContinue) {
        try { @(Get-CMDevice -Fast -ErrorAction Stop) } catch { & $unreadable 'the devices (Get-CMDevice)' $_ }
    }
    else { & $read 'SMS_CombinedDeviceResources' $null $null }
    # The joins run in compiled code (TenantAttach.Records.cs): at 175,000 devices a script loop per
    # row and per device takes minutes.
    $join = [TenantAttach.Interop.InventoryJoin]
    # (Assigned in each branch: a collection given back by an if statement would be enumerated.)
    $members = [System.Collections.Generic.HashSet[uint32]]::new()
    if ($CollectionId) {
        Write-Progress -Activity $activity -Status "Members of $CollectionId"
        $rows = if (Get-Command -Name Get-CMCollectionMember -ErrorAction SilentlyContinue) {
            try { @(Get-CMCollectionMember -CollectionId $CollectionId -ErrorAction Stop) } catch { & $unreadable "the members of $CollectionId (Get-CMCollectionMember)" $_ }
        }
        else { & $read 'SMS_FullCollectionMembership' @('ResourceID', 'CollectionID') "CollectionID = '$CollectionId'" }
        $members = $join::ResourceIds(@($rows))
    }
    $computerSystem = @(& $read 'SMS_G_System_COMPUTER_SYSTEM' @('ResourceID', 'Manufacturer', 'Model') $null)
    $manufacturer = $join::ByResource($computerSystem, 'Manufacturer')
    $model = $join::ByResource($computerSystem, 'Model')
    $computerSystem = $null
    $serial = $join::ByResource(@(& $read 'SMS_G_System_PC_BIOS' @('ResourceID', 'SerialNumber') $null), 'SerialNumber')
    $sku = $join::ByResource(@(& $read 'SMS_G_System_OPERATING_SYSTEM' @('ResourceID', 'OperatingSystemSKU') $null), 'OperatingSystemSKU')

    # Distribution points: their server FQDNs, matched to the systems' ResourceNames.
    $dpNames = @{}
    foreach ($dp in (& $read 'SMS_DistributionPointInfo' @('ServerName') $null)) {
        $name = Get-TenantAttachMember $dp 'ServerName'
        if ($name) { $dpNames[([string]$name).ToUpperInvariant()] = $true }
    }
    $isDp = [System.Collections.Generic.HashSet[uint32]]::new()
    if ($dpNames.Count -gt 0) {
        $isDp = $join::DistributionPoints(@(& $read 'SMS_R_System' @('ResourceID', 'ResourceNames') $null), $dpNames.Keys)
    }

    # Primary users: the active relationship's user, by the Azure AD object id discovery gave it.
    $primaryUser = $join::PrimaryUsers(@(& $read 'SMS_R_User' $null $null), @(& $read 'SMS_UserMachineRelationship' @('ResourceID', 'UniqueUserName', 'IsActive') $null))
    $joiner = New-Object TenantAttach.Interop.InventoryJoin($manufacturer, $model, $serial, $sku, $primaryUser, $isDp, $members, $CollectionId)

    $writer = $null
    if ($Path) {
        $file = Resolve-TenantAttachFilePath -Cmdlet $PSCmdlet -Path $Path -ParameterName Path
        # Written aside and moved into place at the end: a stopped or failed run never leaves a
        # partial export, which an upload would read as devices gone.
        $partial = "$file.partial-$([guid]::NewGuid().ToString('N'))"
        $toJson = [Func[object, string]] { param($value) ConvertTo-Json -InputObject $value -Depth 2 -Compress }
        $writer = [TenantAttach.Interop.NdjsonOutput]::Create($partial, $toJson)
    }
    try {
        $n = 0
        foreach ($device in $devices) {
            $n++
            if ($n % 5000 -eq 0) { Write-Progress -Activity $activity -Status "Joining: $n of $($devices.Count) devices" -PercentComplete ([math]::Floor(100 * $n / [math]::Max(1, $devices.Count))) }
            if ($null -eq $device) { continue }
            if ($writer) { [void]$joiner.Join($device, $writer) }
            else { $joiner.Join($device, $null) }
        }
        if ($writer) {
            $writer.WriteTrailer()
            $writer.Flush()
            $writer.Dispose()
            $writer = $null
            # ([NullString]::Value: no backup; a plain $null would reach .NET as an empty path.)
            if (Test-Path -LiteralPath $file) { [System.IO.File]::Replace($partial, $file, [NullString]::Value) } else { [System.IO.File]::Move($partial, $file) }
        }
    }
    finally {
        if ($writer) {
            $writer.Dispose()
            Remove-Item -LiteralPath $partial -ErrorAction SilentlyContinue
        }
        Write-Progress -Activity $activity -Completed
    }
}
