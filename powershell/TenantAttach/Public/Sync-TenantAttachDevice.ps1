function Sync-TenantAttachDevice {
    <#
    .SYNOPSIS
    Uploads devices to tenant attach: a full sync first, then deltas of what changed.
    .DESCRIPTION
    Takes Get-CMDevice output from the pipeline (or SMS_R_System records, or the records of
    Get-TenantAttachInventory), or an NDJSON file (-Path) for large hierarchies. Only clients that are
    not obsolete are uploaded, and with a collection upload scope only the collection's members:
    give them with -CollectionMember (Get-CMCollectionMember output); where the ConfigMgr module is
    loaded and records carry no CollectionIDs, the members are read with Get-CMCollectionMember.

    Nothing can silently empty the admin center: a run whose input is empty or holds no eligible
    device, or that would delete more devices than allowed (500, or 10% of those in the cloud), stops
    before sending anything with the error id TenantAttach.TA_STATUS_DELETION_REFUSED. -Force goes
    ahead. A run that deletes devices asks for confirmation as a high-impact change (unattended
    runbooks pass -Confirm:$false). -WhatIf reports what would be uploaded and deleted without
    sending anything, and without signing in when the state folder has a previous upload.

    A command before it in the pipeline that fails half way (Get-CMDevice losing the SMS Provider)
    must not make a partial input look like the fleet: a terminating error stops the pipeline before
    anything is sent, and a non-terminating error written by a command of the same pipeline stops
    the upload with the error id TenantAttach.PipelineError (-IgnorePipelineError uploads anyway).
    .PARAMETER CollectionMember
    The members of the upload scope's collection: Get-CMCollectionMember -CollectionId X output
    (SMSID or ResourceID of each), or SMSID strings.
    .PARAMETER Force
    Goes ahead although the run would delete more devices than the deletion guard allows, or its
    input is empty.
    .PARAMETER IgnorePipelineError
    Uploads although a command feeding this one in the pipeline wrote an error (an error that is
    known not to leave the input partial). The deletion guard still applies. The cloud checks the same limit against its own device list (and the devices
    removed in the last 24 hours) and refuses a removal beyond it unless -Force is given.
    .PARAMETER TakeOver
    Moves the hierarchy's uploads to this server (a server migration, a site recovery without the
    state folder). The cloud binds a hierarchy's uploads to one site instance (the state folder's
    DeviceSync.instance) and refuses another, naming the server that uploads it; -TakeOver moves
    it, and is logged on both sides. Stop the uploads on the old server.
    .EXAMPLE
    Get-CMDevice -CollectionId SMS00001 | Sync-TenantAttachDevice
    .EXAMPLE
    Get-CMDevice -Fast | Sync-TenantAttachDevice -CollectionMember (Get-CMCollectionMember -CollectionId PS100012)
    .EXAMPLE
    Sync-TenantAttachDevice -Path D:\Exports\devices.ndjson -Full
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Pipeline')]
    param(
        [Parameter(ParameterSetName = 'Pipeline', ValueFromPipeline, Mandatory)]
        [AllowNull()]
        [psobject] $InputObject,
        [Parameter(ParameterSetName = 'File', Mandatory)]
        [string] $Path,
        [switch] $Full,
        [switch] $Partial,
        [hashtable] $CollectionTree,
        [AllowEmptyCollection()]
        [psobject[]] $CollectionMember,
        [switch] $Force,
        [switch] $TakeOver,
        [switch] $IgnorePipelineError
    )
    begin {
        $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
        # Each pipeline object is written at once as an NDJSON line to a temporary file, in compiled
        # code (TenantAttach.Records.cs), which the library then streams: no per-object script work,
        # no JSON array of every device held in memory, and unchanged devices recognised by their
        # line without being parsed again.
        $writer = $null
        if ($PSCmdlet.ParameterSetName -eq 'Pipeline') {
            # Collection members given by ResourceID alone are resolved through the records.
            $keepResourceIds = $PSBoundParameters.ContainsKey('CollectionMember') -or [bool](Get-Command -Name Get-CMCollectionMember -ErrorAction SilentlyContinue)
            $toJson = [Func[object, string]] { param($value) ConvertTo-Json -InputObject $value -Depth 2 -Compress }
            $writer = New-Object TenantAttach.Interop.DeviceRecordWriter($toJson, $keepResourceIds)
        }
        # The newest error before the pipeline's input starts: errors written after it by the
        # commands feeding this one mean the input may be partial.
        $errorMark = if ($global:Error.Count -gt 0) { $global:Error[0] } else { $null }
    }
    process {
        if ($writer) { $writer.Add($InputObject) }
    }
    end {
        try {
            $failedUpstream = if ($writer -and -not $IgnorePipelineError) { Get-TenantAttachPipelineError -Mark $errorMark -Invocation $MyInvocation } else { $null }
            if ($failedUpstream) {
                $command = $failedUpstream.InvocationInfo.MyCommand.Name
                $exception = New-Object System.InvalidOperationException("$command, which feeds Sync-TenantAttachDevice, wrote an error ($failedUpstream), so the devices it passed on may be only part of the fleet, and uploading them could remove the rest from the admin center; nothing was uploaded. Fix the error and run again, or add -IgnorePipelineError if the error leaves the input whole (the deletion guard still applies).")
                $PSCmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.PipelineError', 'InvalidData', $failedUpstream)))
            }
            if ($Full -and $Partial) {
                $exception = New-Object System.ArgumentException('-Full and -Partial cannot be used together.')
                $PSCmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.FullAndPartial', 'InvalidArgument', $null)))
            }
            $mode = if ($Full) { 'full' } elseif ($Partial) { 'partial' } else { 'auto' }
            $options = @{ mode = $mode; allowMassDeletion = [bool]$Force }
            if ($TakeOver) { $options.takeOver = $true }
            if ($CollectionTree) { $options.collectionTree = $CollectionTree }
            # (Not under -WhatIf: learning the scope would sign in; the dry run compares with the state
            # folder offline and says when membership is missing.)
            if (-not $PSBoundParameters.ContainsKey('CollectionMember') -and -not ($writer -and $writer.HasMembership) -and $PSCmdlet.ParameterSetName -eq 'Pipeline' -and -not $WhatIfPreference) {
                $CollectionMember = Get-TenantAttachScopeMember -Cmdlet $PSCmdlet
            }
            if ($null -ne $CollectionMember) {
                $options.collectionMembers = @(ConvertTo-TenantAttachMemberSmsId -Member $CollectionMember -Record $writer)
            }
            if ($PSCmdlet.ParameterSetName -eq 'File') {
                # Not $full: PowerShell's variable names ignore case, so that would be the -Full switch.
                $devicesFile = Resolve-TenantAttachFilePath -Cmdlet $PSCmdlet -Path $Path -ParameterName Path -MustExist
                $target = $Path
                $operation = 'SyncDevicesFile'
                $input0 = $devicesFile
            }
            else {
                $writer.Complete()
                $target = 'the devices from the pipeline'
                $operation = 'SyncDevicesFile'
                $input0 = $writer.Path
            }

            # What the run would do, computed without sending: asked first where a confirmation may be
            # needed (deleting devices is a high-impact change), and as the whole answer of -WhatIf.
            # A dry run reads the whole input once more (a full sync of 175,000 devices: a second
            # second), so it is skipped where it cannot change the outcome: not under -WhatIf, no
            # confirmation asked for this (Medium-impact) change, and a state folder that has never
            # recorded an upload for this hierarchy, so that nothing can be deleted (the devices a
            # run deletes are those the state knows and the input lacks).
            $plan = $null
            # (A takeover starts from a state the cloud may hold more than: it can delete.)
            $planNeeded = $WhatIfPreference -or ($ConfirmPreference -ne 'None' -and
                ($ConfirmPreference -ne 'High' -or $TakeOver -or -not (Test-TenantAttachStateEmpty -Session $session)))
            if ($planNeeded) {
                $options.dryRun = $true
                $planJson = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Target $target -Operation $operation -Argument $input0, ($options | ConvertTo-Json -Depth 4 -Compress) `
                    -Activity 'Computing the upload (nothing is sent)' -Unit 'devices'
                $plan = ConvertFrom-TenantAttachSyncReport -Json $planJson -FromPipeline:($null -ne $writer)
                $options.dryRun = $false
            }
            $deleting = if ($plan) { [long](Get-TenantAttachMember $plan 'deleted') } else { 0 }
            $uploading = if ($plan) { [long](Get-TenantAttachMember $plan 'uploaded') } else { $null }
            $what = if ($plan) { "Upload $uploading device(s) and delete $deleting ($mode)" } else { "Upload devices ($mode)" }
            $go = $PSCmdlet.ShouldProcess('the tenant attach cloud', $what)
            # A run the deletion guard will stop needs no confirmation: the library refuses it, saying why.
            $stops = $plan -and -not $Force -and @(Get-TenantAttachMember $plan 'warnings') -like 'A real run would stop*'
            if ($go -and $deleting -gt 0 -and -not $stops) {
                $go = Confirm-TenantAttachDeletion -Count $deleting -Target 'the tenant attach cloud'
            }
            if (-not $go) {
                if ($WhatIfPreference -and $plan) {
                    Write-TenantAttachSyncWarning -Report $plan
                    $plan
                }
                return
            }
            $reportJson = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Target $target -Operation $operation -Argument $input0, ($options | ConvertTo-Json -Depth 4 -Compress) `
                -Activity 'Uploading devices to tenant attach' -Unit 'devices'
            $result = ConvertFrom-TenantAttachSyncReport -Json $reportJson -FromPipeline:($null -ne $writer)
            Write-TenantAttachSyncWarning -Report $result
            $result
        }
        finally {
            # The temporary NDJSON file is deleted whatever happened.
            if ($writer) { $writer.Dispose() }
        }
    }
}
