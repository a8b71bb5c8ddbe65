function Invoke-TenantAttachDeviceAction {
    <#
    .SYNOPSIS
    Runs Sync machine policy, Sync user policy or App evaluation cycle on attached devices.
    .DESCRIPTION
    Devices come from the pipeline (Get-TenantAttachDevice output, by their id). Many devices are
    sent 20 per Graph $batch; one result per device (Accepted, NotFound, Forbidden, Failed).
    .EXAMPLE
    Get-TenantAttachDevice -Name 'KIOSK-*' | Invoke-TenantAttachDeviceAction -Action SyncMachinePolicy
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param(
        [Parameter(Mandatory, ValueFromPipelineByPropertyName)]
        [Alias('ManagedDeviceId')]
        [string[]] $Id,
        [Parameter(Mandatory)]
        [ValidateSet('SyncMachinePolicy', 'SyncUserPolicy', 'AppEvaluationCycle')]
        [string] $Action
    )
    begin {
        $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
        $ids = New-Object System.Collections.Generic.List[string]
    }
    process {
        foreach ($one in $Id) {
            if ($PSCmdlet.ShouldProcess($one, $Action)) { $ids.Add($one) }
        }
    }
    end {
        if ($ids.Count -eq 0) { return }
        $json = ConvertTo-Json -InputObject @($ids.ToArray()) -Compress
        $results = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Operation TriggerAction -Argument $json, $Action -Activity "$Action on $($ids.Count) device(s)"
        ConvertFrom-TenantAttachJson -Json $results -TypeName 'TenantAttach.ActionResult'
    }
}
