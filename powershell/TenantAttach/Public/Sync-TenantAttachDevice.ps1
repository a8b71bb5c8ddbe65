function Sync-TenantAttachDevice {
    <#
    .SYNOPSIS
    Uploads devices to tenant attach: a full sync first, then deltas of what changed.
    .DESCRIPTION
    Takes objects shaped like Get-CMDevice output from the pipeline (Name, SMSID, IsClient,
    DeviceOS, DeviceOSBuild, ClientVersion, AADDeviceID, ...), or an NDJSON file (-Path) for large
    hierarchies. Only clients are uploaded, and only the upload scope's collection when one is set
    (give -CollectionTree for child collections). -WhatIf computes the run without sending or
    changing anything. Shows a progress bar.
    .EXAMPLE
    Get-CMDevice -CollectionId SMS00001 | Sync-TenantAttachDevice
    .EXAMPLE
    Sync-TenantAttachDevice -Path D:\Exports\devices.ndjson -Full
    #>
    [CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'Pipeline')]
    param(
        [Parameter(ParameterSetName = 'Pipeline', ValueFromPipeline, Mandatory)]
        [psobject] $InputObject,
        [Parameter(ParameterSetName = 'File', Mandatory)]
        [string] $Path,
        [switch] $Full,
        [switch] $Partial,
        [hashtable] $CollectionTree
    )
    begin {
        $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
        $devices = New-Object System.Collections.Generic.List[object]
        $properties = 'Name', 'ResourceID', 'SMSID', 'IsClient', 'DeviceOS', 'DeviceOSBuild', 'ClientVersion', 'SiteCode', 'AADDeviceID',
            'AADTenantID', 'AADPrimaryUserID', 'Model', 'Manufacturer', 'SerialNumber', 'Domain', 'SKU', 'CollectionIDs', 'IsDistributionPoint'
    }
    process {
        if ($PSCmdlet.ParameterSetName -eq 'Pipeline') {
            $record = [ordered]@{}
            foreach ($p in $properties) {
                $value = $InputObject.PSObject.Properties[$p]
                if ($value) { $record[$p] = $value.Value }
            }
            $devices.Add($record)
        }
    }
    end {
        if ($Full -and $Partial) {
            $exception = New-Object System.ArgumentException('-Full and -Partial cannot be used together.')
            $PSCmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.FullAndPartial', 'InvalidArgument', $null)))
        }
        $mode = if ($Full) { 'full' } elseif ($Partial) { 'partial' } else { 'auto' }
        $dryRun = -not $PSCmdlet.ShouldProcess('the tenant attach cloud', "Upload devices ($mode)")
        $options = @{ mode = $mode; dryRun = $dryRun }
        if ($CollectionTree) { $options.collectionTree = $CollectionTree }
        $optionsJson = $options | ConvertTo-Json -Depth 4 -Compress
        $progress = [System.Action[uint64, uint64]] {
            param($done, $total)
            if ($total -gt 0) {
                Write-Progress -Activity 'Uploading devices to tenant attach' -Status "$done of $total devices" -PercentComplete ([math]::Min(100, 100 * $done / $total))
            }
        }
        if ($PSCmdlet.ParameterSetName -eq 'File') {
            # Not $full: PowerShell's variable names ignore case, so that would be the -Full switch.
            $devicesFile = Resolve-TenantAttachFilePath -Cmdlet $PSCmdlet -Path $Path -ParameterName Path -MustExist
            $report = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Target $Path -Call { $session.SyncDevicesFile($devicesFile, $optionsJson, $progress) }
        }
        else {
            $json = ConvertTo-Json -InputObject @($devices.ToArray()) -Depth 4 -Compress
            $report = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Call { $session.SyncDevices($json, $optionsJson, $progress) }
        }
        Write-Progress -Activity 'Uploading devices to tenant attach' -Completed
        $result = ConvertFrom-TenantAttachJson -Json $report -TypeName 'TenantAttach.SyncReport'
        foreach ($skipped in @(Get-TenantAttachMember $result 'skipped')) {
            if ($null -eq $skipped) { continue }
            $name = Get-TenantAttachMember $skipped 'name'
            Write-Warning ('Skipped record {0}{1}: {2}' -f (Get-TenantAttachMember $skipped 'index'), $(if ($name) { " ($name)" } else { '' }), (Get-TenantAttachMember $skipped 'reason'))
        }
        $result
    }
}
