function Invoke-TenantAttachDeviceAction {
    <#
    .SYNOPSIS
    Runs Sync machine policy, Sync user policy or App evaluation cycle on attached devices.
    .DESCRIPTION
    Devices come from the pipeline (Get-TenantAttachDevice output, by their id), or from -Filter: the
    devices a Graph $filter lists. Many devices are sent 20 per Graph $batch; one result per device
    (Accepted, NotFound, Forbidden, Failed).

    With -Filter (and with Get-TenantAttachDevice -Filter or -Name in the pipeline), every device the
    service returns is checked against the filter before anything is sent: Intune ignores a filter on
    a property it does not support and answers with every device, so when the answer holds devices
    that do not match, no action is sent and the command fails with the error id
    TenantAttach.TA_STATUS_INVALID_ARGUMENT (code FilterNotApplied).
    .EXAMPLE
    Get-TenantAttachDevice -Name 'KIOSK-*' | Invoke-TenantAttachDeviceAction -Action SyncMachinePolicy
    .EXAMPLE
    Invoke-TenantAttachDeviceAction -Filter "startswith(deviceName,'KIOSK-')" -Action AppEvaluationCycle
    #>
    [CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'ById')]
    param(
        [Parameter(Mandatory, ValueFromPipelineByPropertyName, ParameterSetName = 'ById')]
        [Alias('ManagedDeviceId')]
        [string[]] $Id,
        [Parameter(Mandatory, ParameterSetName = 'ByFilter')]
        [ValidateNotNullOrEmpty()]
        [string] $Filter,
        [Parameter(Mandatory)]
        [ValidateSet('SyncMachinePolicy', 'SyncUserPolicy', 'AppEvaluationCycle')]
        [string] $Action
    )
    begin {
        $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
        $ids = New-Object System.Collections.Generic.List[string]
    }
    process {
        if ($PSCmdlet.ParameterSetName -eq 'ById') {
            foreach ($one in $Id) {
                if ($PSCmdlet.ShouldProcess($one, $Action)) { $ids.Add($one) }
            }
        }
    }
    end {
        if ($PSCmdlet.ParameterSetName -eq 'ByFilter') {
            if (-not $PSCmdlet.ShouldProcess("the devices that match $Filter", $Action)) { return }
            $json = ConvertTo-Json -InputObject @{ filter = $Filter } -Compress
            $what = "$Action on the devices that match $Filter"
        }
        else {
            if ($ids.Count -eq 0) { return }
            $json = ConvertTo-Json -InputObject @($ids.ToArray()) -Compress
            $what = "$Action on $($ids.Count) device(s)"
        }
        $results = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Operation TriggerAction -Argument $json, $Action -Activity $what
        ConvertFrom-TenantAttachJson -Json $results -TypeName 'TenantAttach.ActionResult'
    }
}
