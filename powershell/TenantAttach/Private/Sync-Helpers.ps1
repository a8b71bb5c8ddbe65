# Helpers of Sync-TenantAttachDevice: the collection's members, the confirmation of deletions, and
# the run's warnings.

# The members of the upload scope's collection, read with the ConfigMgr module's
# Get-CMCollectionMember where it is loaded and the scope is a collection; otherwise $null.
function Get-TenantAttachScopeMember {
    param([Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet)
    if (-not (Get-Command -Name Get-CMCollectionMember -ErrorAction SilentlyContinue)) { return $null }
    $status = Invoke-TenantAttachNative -Cmdlet $Cmdlet -Operation Status | ConvertFrom-Json
    $collectionId = Get-TenantAttachMember $status 'onboarding.uploadScope.collectionId'
    if (-not $collectionId) { return $null }
    Write-Verbose "The upload scope is collection $collectionId; reading its members with Get-CMCollectionMember"
    return , @(Get-CMCollectionMember -CollectionId $collectionId)
}

# The SMSIDs of collection members: Get-CMCollectionMember rows (SMSID, or ResourceID resolved
# through the records written from the pipeline), SMS_R_System records (SMSUniqueIdentifier), or SMSID
# strings.
function ConvertTo-TenantAttachMemberSmsId {
    param(
        [AllowEmptyCollection()] [psobject[]] $Member,
        [AllowNull()] [TenantAttach.Interop.DeviceRecordWriter] $Record
    )
    foreach ($m in $Member) {
        if ($null -eq $m) { continue }
        if ($m -is [string]) { $m; continue }
        $smsId = Get-TenantAttachMember $m 'SMSID'
        if (-not $smsId) { $smsId = Get-TenantAttachMember $m 'SMSUniqueIdentifier' }
        if ($smsId) { [string]$smsId; continue }
        $resourceId = Get-TenantAttachMember $m 'ResourceID'
        if ($null -eq $resourceId -or $null -eq $Record) { continue }
        $found = $Record.SmsIdOfResource([string]$resourceId)
        if ($found) { $found }
    }
}

# A sync report from the library as a TenantAttach.SyncReport. For pipeline input, which reaches the
# library as a temporary NDJSON file, the skipped records keep their place in the pipeline (index)
# without the file's line numbers, which mean nothing to the caller.
function ConvertFrom-TenantAttachSyncReport {
    param(
        [Parameter(Mandatory)] [AllowEmptyString()] [string] $Json,
        [switch] $FromPipeline
    )
    foreach ($report in @(ConvertFrom-TenantAttachJson -Json $Json -TypeName 'TenantAttach.SyncReport')) {
        if ($FromPipeline) {
            foreach ($skipped in @(Get-TenantAttachMember $report 'skipped')) {
                if ($null -ne $skipped -and $skipped.PSObject.Properties['line']) { $skipped.PSObject.Properties.Remove('line') }
            }
        }
        $report
    }
}

# True when the session's state folder holds no sync state for its hierarchy (no snapshot, an
# empty or no journal, in a folder of the hierarchy's name compared without case): a run from there deletes
# nothing. Any doubt (no state folder configured, an unreadable folder) answers false.
function Test-TenantAttachStateEmpty {
    param([Parameter(Mandatory)] [object] $Session)
    try {
        $config = $Session.ConfigJson | ConvertFrom-Json
        $stateDir = Get-TenantAttachMember $config 'stateDir'
        $hierarchyId = Get-TenantAttachMember $config 'hierarchyId'
        if (-not $stateDir -or -not $hierarchyId) { return $false }
        if (-not [System.IO.Directory]::Exists($stateDir)) { return $true }
        foreach ($folder in [System.IO.Directory]::GetDirectories($stateDir)) {
            if (-not [string]::Equals([System.IO.Path]::GetFileName($folder), [string]$hierarchyId, [System.StringComparison]::OrdinalIgnoreCase)) { continue }
            # (Opening the state creates an empty journal; a run writes to it before its first batch.)
            if ([System.IO.File]::Exists([System.IO.Path]::Combine($folder, 'DeviceSync.state'))) { return $false }
            $journal = New-Object System.IO.FileInfo([System.IO.Path]::Combine($folder, 'DeviceSync.journal'))
            if ($journal.Exists -and $journal.Length -gt 0) { return $false }
        }
        return $true
    }
    catch {
        return $false
    }
}

# Deleting devices from the admin center is a high-impact change: this asks as one, with the
# caller's -Confirm and -WhatIf (an unattended runbook passes -Confirm:$false).
function Confirm-TenantAttachDeletion {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    param(
        [Parameter(Mandatory)] [long] $Count,
        [Parameter(Mandatory)] [string] $Target
    )
    return $PSCmdlet.ShouldProcess($Target, "Delete $Count device(s) from the admin center")
}

# The report's warnings and skipped records as PowerShell warnings.
function Write-TenantAttachSyncWarning {
    param([Parameter(Mandatory)] [object] $Report)
    foreach ($warning in @(Get-TenantAttachMember $Report 'warnings')) {
        if ($warning) { Write-Warning $warning }
    }
    foreach ($skipped in @(Get-TenantAttachMember $Report 'skipped')) {
        if ($null -eq $skipped) { continue }
        $name = Get-TenantAttachMember $skipped 'name'
        $smsId = Get-TenantAttachMember $skipped 'smsId'
        $what = @($name, $smsId) | Where-Object { $_ }
        # A record with a usable SMSID keeps its device in the cloud as it was (the library lists it as seen).
        $kept = if ($smsId) { ' Its device stays in the cloud as last uploaded.' } else { '' }
        Write-Warning ('Skipped record {0}{1}: {2}.{3}' -f (Get-TenantAttachMember $skipped 'index'), $(if ($what) { ' (' + ($what -join ', ') + ')' } else { '' }), ((Get-TenantAttachMember $skipped 'reason') -replace '\.$', ''), $kept)
    }
}

# The ResourceID of the device with an SMSID (Invoke-CMClientAction cannot target by SMSID): from
# the devices given, else SMS_R_System on the SMS Provider; $null when ConfigMgr has no such device.
function Resolve-TenantAttachResourceId {
    param(
        [Parameter(Mandatory)] [string] $SmsId,
        [Parameter(Mandatory)] [hashtable] $Known,
        [string] $SiteCode,
        [string] $ComputerName
    )
    $key = $SmsId.ToUpperInvariant()
    if ($Known.ContainsKey($key)) { return $Known[$key] }
    if (-not $SiteCode -or -not (Get-Command -Name Get-CimInstance -ErrorAction SilentlyContinue)) { return $null }
    $query = @{
        Namespace = "root/SMS/site_$SiteCode"
        ClassName = 'SMS_R_System'
        Filter    = "SMSUniqueIdentifier = '$($SmsId.Replace('\', '\\').Replace("'", "\'"))'"
    }
    if ($ComputerName) { $query.ComputerName = $ComputerName }
    $record = Get-CimInstance @query -ErrorAction Stop | Select-Object -First 1
    if ($null -eq $record) { return $null }
    $Known[$key] = [uint32]$record.ResourceID
    return $Known[$key]
}

# The first error written since $Mark (the newest error when this command's input started) by a
# command of the same statement: while this command reads its input, only the commands feeding it
# run, so such an error means the input may be partial. An error record carries the writing
# command's invocation (the same history id and script as this one's; for Write-Error in a
# function, its position in the pipeline is not kept, so it is not compared).
function Get-TenantAttachPipelineError {
    param($Mark, [Parameter(Mandatory)] [System.Management.Automation.InvocationInfo] $Invocation)
    foreach ($record in $global:Error) {
        if ([object]::ReferenceEquals($record, $Mark)) { break }
        if ($record -isnot [System.Management.Automation.ErrorRecord] -or $null -eq $record.InvocationInfo) { continue }
        $info = $record.InvocationInfo
        if ($info.HistoryId -eq $Invocation.HistoryId -and $info.ScriptName -eq $Invocation.ScriptName -and $null -ne $info.MyCommand -and
            $info.MyCommand.Name -ne $Invocation.MyCommand.Name) {
            return $record
        }
    }
    $null
}
