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

# Runs a library call (a TenantAttachClient method, by name, with string arguments) on a worker
# thread while this thread waits in short steps, so that Ctrl+C (a stopped pipeline) is noticed at
# once: the call is then cancelled through ta_cancel and waited for, and nothing of the library is
# left running. Progress and device code prompts queued by the call are shown from this thread (no
# script block ever runs inside the library). A failure becomes a terminating ErrorRecord of the
# caller with the id TenantAttach.TA_STATUS_... and a category a script can test.
function Invoke-TenantAttachNative {
    param(
        [Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory)] [string] $Operation,
        [AllowEmptyCollection()] [AllowNull()] [object[]] $Argument = @(),
        [object] $Target,
        [string] $Activity,
        [string] $Unit = 'items'
    )
    $session = Get-TenantAttachSession -Cmdlet $Cmdlet
    # Positional: a $null argument (no filter, no reason) must keep its place, as null: assigning
    # $null to an element of a string array would store an empty string.
    $strings = New-Object 'string[]' @($Argument).Count
    for ($i = 0; $i -lt $strings.Length; $i++) {
        $a = @($Argument)[$i]
        if ($null -ne $a) { $strings[$i] = [string]$a }
    }
    $call = [TenantAttach.Interop.NativeCall]::Start($session, $Operation, $strings)
    $finished = $false
    $started = [System.Diagnostics.Stopwatch]::StartNew()
    $shown = -1
    try {
        while ($true) {
            $returned = $call.Wait(100)
            foreach ($prompt in $call.TakePrompts()) {
                # The sign-in's instructions, for the person at the console.
                Write-Host (Get-TenantAttachMember ($prompt | ConvertFrom-Json) 'message')
            }
            if ($Activity) {
                $p = $call.TakeProgress()
                if ($null -ne $p -and $p[1] -gt 0) {
                    Write-Progress -Activity $Activity -Status "$($p[0]) of $($p[1]) $Unit" -PercentComplete ([math]::Min(100, [math]::Floor(100 * $p[0] / $p[1])))
                }
                elseif ($null -eq $p -and [int]$started.Elapsed.TotalSeconds -ne $shown -and $started.ElapsedMilliseconds -ge 1000) {
                    $shown = [int]$started.Elapsed.TotalSeconds
                    Write-Progress -Activity $Activity -Status "Waiting for the service ($shown s)"
                }
            }
            if ($returned) { break }
        }
        $finished = $true
        return $call.GetResult()
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
    finally {
        if (-not $finished) {
            # Ctrl+C: stop the library call and wait for it, so that nothing of it outlives the command.
            $call.Cancel()
            [void]$call.Wait(60000)
        }
        if ($Activity) { Write-Progress -Activity $Activity -Completed }
        $call.Dispose()
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

# An optional member of a result object, by a dotted path ('onboarding.uploadScope.collectionId'),
# or $null where any step is missing: the library leaves out members it has no value for, and the
# module runs in strict mode, where reading a missing property throws.
function Get-TenantAttachMember {
    param(
        [AllowNull()] [object] $InputObject,
        [Parameter(Mandatory)] [string] $Name
    )
    $current = $InputObject
    foreach ($step in $Name.Split('.')) {
        if ($null -eq $current) { return $null }
        if ($current -is [System.Collections.IDictionary]) {
            $current = if ($current.Contains($step)) { $current[$step] } else { $null }
            continue
        }
        $property = $current.PSObject.Properties[$step]
        $current = if ($property) { $property.Value } else { $null }
    }
    return $current
}

# A file system path for the library, which knows nothing of PowerShell drives and locations: a
# relative path is resolved against PowerShell's current file system location (not the process's
# working folder, and not the current location when that is another provider's, such as the
# ConfigMgr site drive PS1:), and a path on a drive of another provider is refused.
function Resolve-TenantAttachFilePath {
    param(
        [Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory)] [string] $Path,
        [Parameter(Mandatory)] [string] $ParameterName,
        [switch] $MustExist
    )
    $sessionPaths = $Cmdlet.SessionState.Path
    $provider = $null
    $drive = $null
    $driveName = $null
    $resolved = $null
    if ($Path -eq '~' -or $Path.StartsWith('~/') -or $Path.StartsWith('~\')) {
        # The home folder of the file system provider, not of the current location's provider.
        $Path = [System.IO.Path]::Combine((Get-PSProvider -PSProvider FileSystem).Home, $Path.Substring([Math]::Min(2, $Path.Length)))
    }
    if ($sessionPaths.IsPSAbsolute($Path, [ref]$driveName) -or [System.IO.Path]::IsPathRooted($Path)) {
        try {
            $resolved = $sessionPaths.GetUnresolvedProviderPathFromPSPath($Path, [ref]$provider, [ref]$drive)
        }
        catch {
            $provider = $null
        }
        if (-not $provider -or $provider.Name -ne 'FileSystem') {
            $exception = New-Object System.ArgumentException("-$ParameterName '$Path' is not a file system path. Give a folder or file on a disk, for example C:\TenantAttach\State.")
            $Cmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.NotAFileSystemPath', 'InvalidArgument', $Path)))
        }
    }
    else {
        $base = $sessionPaths.CurrentFileSystemLocation.ProviderPath
        $resolved = [System.IO.Path]::GetFullPath([System.IO.Path]::Combine($base, $Path))
    }
    if ($MustExist -and -not (Test-Path -LiteralPath $resolved)) {
        $exception = New-Object System.Management.Automation.ItemNotFoundException("-$ParameterName '$Path' does not exist (looked for $resolved).")
        $Cmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.PathNotFound', 'ObjectNotFound', $Path)))
    }
    return $resolved
}

# A date and time as the library and the cloud read them (RFC 3339, UTC), whatever the
# culture: a Thai culture would otherwise write the Buddhist year (2573 for 2030).
function ConvertTo-TenantAttachTimestamp {
    param([Parameter(Mandatory)] [datetime] $DateTime)
    return $DateTime.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', [System.Globalization.CultureInfo]::InvariantCulture)
}

# An RFC 3339 timestamp from the library as a local DateTime, whatever the culture. ConvertFrom-Json
# of PowerShell 7 already turns such strings into DateTime values (of varying Kind); Windows
# PowerShell 5.1 leaves them as strings.
function ConvertFrom-TenantAttachTimestamp {
    param([Parameter(Mandatory)] [object] $Value)
    if ($Value -is [datetime]) { return $Value.ToLocalTime() }
    return [System.DateTimeOffset]::Parse([string]$Value, [System.Globalization.CultureInfo]::InvariantCulture).LocalDateTime
}
