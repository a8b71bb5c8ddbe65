# Helpers shared by the public functions: the current session, library calls turned into
# ErrorRecords with stable ids, and JSON results turned into typed objects.

function Get-TenantAttachSession {
    param([Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet)
    if (-not $script:TenantAttachSession) {
        $exception = New-Object System.InvalidOperationException('Not connected. Run Connect-TenantAttach first.')
        $record = New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.NotConnected', 'ConnectionError', $null)
        $Cmdlet.ThrowTerminatingError($record)
    }
    return $script:TenantAttachSession
}

# Runs a library call; a TenantAttachException becomes a terminating ErrorRecord of the caller,
# with the id TenantAttach.TA_STATUS_... and a category a script can test.
function Invoke-TenantAttachNative {
    param(
        [Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory)] [scriptblock] $Call,
        [object] $Target
    )
    try {
        return & $Call
    }
    catch [TenantAttach.Interop.TenantAttachException] {
        $Cmdlet.ThrowTerminatingError((New-TenantAttachErrorRecord -Exception $_.Exception -Target $Target))
    }
    catch {
        if ($_.Exception.InnerException -is [TenantAttach.Interop.TenantAttachException]) {
            $Cmdlet.ThrowTerminatingError((New-TenantAttachErrorRecord -Exception $_.Exception.InnerException -Target $Target))
        }
        throw
    }
}

# JSON from the library as objects carrying a PSTypeName (for formatting and pipelines).
function ConvertFrom-TenantAttachJson {
    param(
        [Parameter(Mandatory)] [AllowEmptyString()] [string] $Json,
        [string] $TypeName
    )
    if ([string]::IsNullOrWhiteSpace($Json)) { return }
    foreach ($item in @($Json | ConvertFrom-Json)) {
        if ($TypeName -and $null -ne $item) { $item.PSObject.TypeNames.Insert(0, $TypeName) }
        $item
    }
}
