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
    $read = {
        param([string] $class, [string[]] $property, [string] $filter)
        Write-Progress -Activity $activity -Status $class
        $query = @{ ClassName = $class; ErrorAction = 'Stop' } + $wmi
        if ($property) { $query.Property = $property }
        if ($filter) { $query.Filter = $filter }
        try { @(Get-CimInstance @query) }
        catch {
            Write-Warning "Could not read $class from $($wmi.Namespace): $($_.Exception.Message). Its properties are left out."
            @()
        }
    }
    $byResource = {
        param([object[]] $rows, [string] $property)
        $table = @{}
        foreach ($row in $rows) {
            $value = Get-TenantAttachMember $row $property
            $id = Get-TenantAttachMember $row 'ResourceID'
            if ($null -ne $id -and $null -ne $value -and [string]$value -ne '' -and -not $table.ContainsKey([uint32]$id)) { $table[[uint32]$id] = $value }
        }
        $table
    }

    Write-Progress -Activity $activity -Status 'Devices'
    $devices = if (Get-Command -Name Get-CMDevice -ErrorAction SilentlyContinue) { @(Get-CMDevice -Fast) } else { & $read 'SMS_CombinedDeviceResources' $null $null }
    $members = @{}
    if ($CollectionId) {
        Write-Progress -Activity $activity -Status "Members of $CollectionId"
        $rows = if (Get-Command -Name Get-CMCollectionMember -ErrorAction SilentlyContinue) { @(Get-CMCollectionMember -CollectionId $CollectionId) }
        else { & $read 'SMS_FullCollectionMembership' @('ResourceID', 'CollectionID') "CollectionID = '$CollectionId'" }
        foreach ($row in $rows) {
            $id = Get-TenantAttachMember $row 'ResourceID'
            if ($null -ne $id) { $members[[uint32]$id] = $true }
        }
    }
    $computerSystem = & $read 'SMS_G_System_COMPUTER_SYSTEM' @('ResourceID', 'Manufacturer', 'Model') $null
    $manufacturer = & $byResource $computerSystem 'Manufacturer'
    $model = & $byResource $computerSystem 'Model'
    $serial = & $byResource (& $read 'SMS_G_System_PC_BIOS' @('ResourceID', 'SerialNumber') $null) 'SerialNumber'
    $sku = & $byResource (& $read 'SMS_G_System_OPERATING_SYSTEM' @('ResourceID', 'OperatingSystemSKU') $null) 'OperatingSystemSKU'

    # Distribution points: their server FQDNs, matched to the systems' ResourceNames.
    $dpNames = @{}
    foreach ($dp in (& $read 'SMS_DistributionPointInfo' @('ServerName') $null)) {
        $name = Get-TenantAttachMember $dp 'ServerName'
        if ($name) { $dpNames[([string]$name).ToUpperInvariant()] = $true }
    }
    $isDp = @{}
    if ($dpNames.Count -gt 0) {
        foreach ($system in (& $read 'SMS_R_System' @('ResourceID', 'ResourceNames') $null)) {
            foreach ($n in @(Get-TenantAttachMember $system 'ResourceNames')) {
                if ($n -and $dpNames.ContainsKey(([string]$n).ToUpperInvariant())) { $isDp[[uint32]$system.ResourceID] = $true }
            }
        }
    }

    # Primary users: the active relationship's user, by the Azure AD object id discovery gave it.
    $aadIdOf = @{}
    foreach ($user in (& $read 'SMS_R_User' $null $null)) {
        $unique = Get-TenantAttachMember $user 'UniqueUserName'
        $aad = $null
        foreach ($n in 'AADUserID', 'AzureADUserID', 'AADObjectID') { if (-not $aad) { $aad = Get-TenantAttachMember $user $n } }
        if ($unique -and $aad) { $aadIdOf[([string]$unique).ToUpperInvariant()] = [string]$aad }
    }
    $primaryUser = @{}
    foreach ($relation in (& $read 'SMS_UserMachineRelationship' @('ResourceID', 'UniqueUserName', 'IsActive') $null)) {
        $active = Get-TenantAttachMember $relation 'IsActive'
        $unique = Get-TenantAttachMember $relation 'UniqueUserName'
        $id = Get-TenantAttachMember $relation 'ResourceID'
        if ($active -eq $false -or -not $unique -or $null -eq $id) { continue }
        $aad = $aadIdOf[([string]$unique).ToUpperInvariant()]
        if ($aad -and -not $primaryUser.ContainsKey([uint32]$id)) { $primaryUser[[uint32]$id] = $aad }
    }

    $writer = $null
    if ($Path) {
        $file = Resolve-TenantAttachFilePath -Cmdlet $PSCmdlet -Path $Path -ParameterName Path
        # Written aside and moved into place at the end: a stopped or failed run never leaves a
        # partial export, which an upload would read as devices gone.
        $partial = "$file.partial-$([guid]::NewGuid().ToString('N'))"
        $writer = New-Object System.IO.StreamWriter($partial, $false, (New-Object System.Text.UTF8Encoding($false)))
        $writer.NewLine = "`n"
    }
    try {
        $copied = 'Name', 'ResourceID', 'SMSID', 'IsClient', 'IsObsolete', 'DeviceOS', 'DeviceOSBuild', 'ClientVersion', 'SiteCode', 'Domain',
            'SerialNumber', 'AADDeviceID', 'AADTenantID'
        $n = 0
        foreach ($device in $devices) {
            $n++
            if ($n % 5000 -eq 0) { Write-Progress -Activity $activity -Status "Joining: $n of $($devices.Count) devices" -PercentComplete ([math]::Floor(100 * $n / [math]::Max(1, $devices.Count))) }
            $record = [ordered]@{}
            foreach ($p in $copied) {
                $value = Get-TenantAttachMember $device $p
                if ($null -ne $value -and [string]$value -ne '') { $record[$p] = $value }
            }
            $id = Get-TenantAttachMember $device 'ResourceID'
            if ($null -ne $id) {
                $id = [uint32]$id
                if ($manufacturer.ContainsKey($id)) { $record.Manufacturer = [string]$manufacturer[$id] }
                if ($model.ContainsKey($id)) { $record.Model = [string]$model[$id] }
                if (-not $record.Contains('SerialNumber') -and $serial.ContainsKey($id)) { $record.SerialNumber = [string]$serial[$id] }
                if ($sku.ContainsKey($id)) { $record.SKU = [string]$sku[$id] }
                if ($primaryUser.ContainsKey($id)) { $record.AADPrimaryUserID = $primaryUser[$id] }
                if ($isDp.ContainsKey($id)) { $record.IsDistributionPoint = $true }
                if ($CollectionId -and $members.ContainsKey($id)) { $record.CollectionIDs = @($CollectionId.ToUpperInvariant()) }
            }
            if ($writer) { $writer.WriteLine(($record | ConvertTo-Json -Compress -Depth 3)) }
            else {
                $object = [pscustomobject]$record
                $object.PSObject.TypeNames.Insert(0, 'TenantAttach.InventoryRecord')
                $object
            }
        }
        if ($writer) {
            $writer.Dispose()
            $writer = $null
            if (Test-Path -LiteralPath $file) { [System.IO.File]::Replace($partial, $file, $null) } else { [System.IO.File]::Move($partial, $file) }
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
