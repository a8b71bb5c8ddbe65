# The PowerShell scenarios of tenant-attach-bench: one pwsh process per scenario (started by the
# bench, never run by hand in the normal course), which imports the TenantAttach module from this
# repository, builds its input objects before any clock starts, runs the scenario -Runs times and
# prints one line per run ("RUN <ms> <records>"), the working set once the input objects are built
# ("OBJECTS <kB>", where there are any) and the process's peak working set last ("PEAK <kB>"). The native library is TENANT_ATTACH_LIBRARY (the bench's release build); the cloud is
# TA_BENCH_URL / TA_BENCH_CA.
#
# Scenarios:
#   sync         Get-CMDevice-shaped objects | Sync-TenantAttachDevice, each run with the state folder
#                given by -State (a fresh one: a full sync; a copy of a synced one: no change)
#   inventory    Get-TenantAttachInventory -Path over as many records, Get-CMDevice and Get-CimInstance
#                being stand-ins that return prepared objects (as the Pester tests mock them)
#   list         Get-TenantAttachDevice listing every attached device
#   actions      Get-TenantAttachDevice output (the first -Actions devices) | Invoke-TenantAttachDeviceAction
param(
    [Parameter(Mandatory)] [ValidateSet('sync', 'inventory', 'list', 'actions')] [string] $Scenario,
    [Parameter(Mandatory)] [string] $Devices,
    [Parameter(Mandatory)] [string] $Work,
    [Parameter(Mandatory)] [string] $HierarchyId,
    [Parameter(Mandatory)] [string] $TenantId,
    [Parameter(Mandatory)] [string] $AppId,
    [Parameter(Mandatory)] [string] $AppSecret,
    [string] $State = '',
    [int] $Runs = 5,
    [int] $Actions = 10000
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
# No console to draw progress bars on: their cost would be the terminal's, not the module's.
$ProgressPreference = 'SilentlyContinue'
# TA_BENCH_MODULE: another copy of the module (another revision, to compare); default this repository's.
$module = if ($env:TA_BENCH_MODULE) { $env:TA_BENCH_MODULE } else { Join-Path $PSScriptRoot '../../powershell/TenantAttach/TenantAttach.psd1' }
Import-Module $module

$local = @{ Endpoint = @{ authority = $env:TA_BENCH_URL; graph = $env:TA_BENCH_URL; gateway = $env:TA_BENCH_URL }; TrustedCaFile = $env:TA_BENCH_CA }
$credential = New-Object PSCredential($AppId, (ConvertTo-SecureString -String $AppSecret -AsPlainText -Force))
function Connect-Bench([string] $StateDirectory) {
    Connect-TenantAttach -TenantId $TenantId -SiteCode PS1 -HierarchyId $HierarchyId -Credential $credential -StateDirectory $StateDirectory @local
}

# The devices as Get-CMDevice emits them (SMS_CombinedDeviceResources, as in
# tests/powershell/ConfigMgr.Tests.ps1): UInt32 ResourceID, Boolean IsClient, no Model, Manufacturer or
# membership. One tab-separated line per device, written by the bench from the same inventory.
function New-CMDeviceFleet {
    $lines = [System.IO.File]::ReadAllLines($Devices)
    $fleet = New-Object 'System.Collections.Generic.List[object]' ($lines.Length)
    foreach ($line in $lines) {
        $f = $line.Split("`t")
        $fleet.Add([pscustomobject]@{
                PSTypeName = 'IResultObject#SMS_CombinedDeviceResources'
                Name = $f[0]; ResourceID = [uint32]$f[1]; SMSID = $f[2]; IsClient = ($f[3] -eq '1'); IsObsolete = $false; IsActive = $true
                DeviceOS = $f[4]; DeviceOSBuild = $f[5]; ClientVersion = $f[6]; SiteCode = $f[7]; Domain = $f[8]; SerialNumber = $f[9]
                UserName = 'helpdesk'; AADDeviceID = $f[10]; AADTenantID = $f[11]; PrimaryUser = 'CONTOSO\helpdesk'; LastActiveTime = [datetime]::MinValue
            })
    }
    # The garbage of building them is not the module's: collected before any clock starts, and the
    # working set with the objects built is reported (OBJECTS) next to the peak.
    $lines = $null
    [System.GC]::Collect()
    [System.GC]::WaitForPendingFinalizers()
    # (Straight to stdout: the function's output is the list.)
    [Console]::Out.WriteLine("OBJECTS $(Get-WorkingSetKb)")
    , $fleet
}

# This process's working set now, in kB (VmRSS where /proc has it).
function Get-WorkingSetKb {
    if (Test-Path -LiteralPath '/proc/self/status') {
        $line = Get-Content -LiteralPath '/proc/self/status' | Where-Object { $_ -like 'VmRSS:*' }
        if ($line) { return [long](($line -split '\s+')[1]) }
    }
    [long]([System.Diagnostics.Process]::GetCurrentProcess().WorkingSet64 / 1024)
}

function Write-Run([double] $Milliseconds, [long] $Records) {
    Write-Output ('RUN {0} {1}' -f $Milliseconds.ToString('F1', [System.Globalization.CultureInfo]::InvariantCulture), $Records)
}

switch ($Scenario) {
    'sync' {
        $fleet = New-CMDeviceFleet
        # (A module of an earlier revision, TA_BENCH_MODULE, may not have it.)
        $canTakeOver = (Get-Command -Name Sync-TenantAttachDevice).Parameters.ContainsKey('TakeOver')
        foreach ($folder in $State.Split([char]"|")) {
            Connect-Bench $folder
            # A fresh state folder is a new server's first upload: it takes the uploads over.
            $takeOver = @{}
            if ($canTakeOver -and -not (Test-Path -LiteralPath (Join-Path $folder "$HierarchyId/DeviceSync.state"))) { $takeOver.TakeOver = $true }
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            # As an administrator types it (README): no -Confirm:$false, so a run that deletes would ask.
            $report = $fleet | Sync-TenantAttachDevice @takeOver
            $watch.Stop()
            Write-Run $watch.Elapsed.TotalMilliseconds ([long]$report.uploaded + [long]$report.deleted)
        }
    }
    'inventory' {
        $fleet = New-CMDeviceFleet
        # What the SMS Provider answers (root/SMS/site_PS1), prepared before the clock starts.
        $rows = @{ SMS_G_System_COMPUTER_SYSTEM = @(); SMS_G_System_PC_BIOS = @(); SMS_G_System_OPERATING_SYSTEM = @(); SMS_R_System = @(); SMS_UserMachineRelationship = @() }
        $cs = New-Object 'System.Collections.Generic.List[object]'
        $bios = New-Object 'System.Collections.Generic.List[object]'
        $os = New-Object 'System.Collections.Generic.List[object]'
        $systems = New-Object 'System.Collections.Generic.List[object]'
        $relations = New-Object 'System.Collections.Generic.List[object]'
        $i = 0
        foreach ($d in $fleet) {
            $cs.Add([pscustomobject]@{ ResourceID = $d.ResourceID; Manufacturer = 'Contoso Hardware'; Model = 'Surface Laptop 6' })
            $bios.Add([pscustomobject]@{ ResourceID = $d.ResourceID; SerialNumber = 'BIOS-' + $d.ResourceID })
            $os.Add([pscustomobject]@{ ResourceID = $d.ResourceID; OperatingSystemSKU = [uint32]4 })
            $systems.Add([pscustomobject]@{ ResourceID = $d.ResourceID; ResourceNames = [string[]]@("$($d.Name).contoso.com") })
            $relations.Add([pscustomobject]@{ ResourceID = $d.ResourceID; UniqueUserName = ('CONTOSO\user{0}' -f ($i % 1000)); IsActive = $true })
            $i++
        }
        $rows.SMS_G_System_COMPUTER_SYSTEM = $cs; $rows.SMS_G_System_PC_BIOS = $bios; $rows.SMS_G_System_OPERATING_SYSTEM = $os
        $rows.SMS_R_System = $systems; $rows.SMS_UserMachineRelationship = $relations
        $rows.SMS_DistributionPointInfo = @([pscustomobject]@{ ServerName = "$($fleet[4].Name).contoso.com"; SiteCode = 'PS1' })
        $rows.SMS_R_User = @(for ($u = 0; $u -lt 1000; $u++) { [pscustomobject]@{ UniqueUserName = "CONTOSO\user$u"; AADUserID = ('a0000000-0000-4000-8000-{0:D12}' -f $u) } })
        $global:BenchFleet = $fleet
        $global:BenchRows = $rows
        function global:Get-CMDevice {
            [CmdletBinding()]
            param([switch] $Fast)
            $global:BenchFleet
        }
        function global:Get-CimInstance {
            [CmdletBinding()]
            param([string] $Namespace, [string] $ClassName, [string[]] $Property, [string] $Filter, [string] $ComputerName)
            $global:BenchRows[$ClassName]
        }
        $out = Join-Path $Work 'ps-inventory.ndjson'
        for ($run = 0; $run -lt $Runs; $run++) {
            Remove-Item -LiteralPath $out -ErrorAction SilentlyContinue
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            Get-TenantAttachInventory -SiteCode PS1 -Path $out
            $watch.Stop()
            $count = 0
            foreach ($line in [System.IO.File]::ReadLines($out)) { if ($line) { $count++ } }
            Write-Run $watch.Elapsed.TotalMilliseconds $count
        }
    }
    'list' {
        Connect-Bench (Join-Path $Work 'ps-operator')
        for ($run = 0; $run -lt $Runs; $run++) {
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            $all = @(Get-TenantAttachDevice)
            $watch.Stop()
            Write-Run $watch.Elapsed.TotalMilliseconds $all.Count
            $all = $null
        }
    }
    'actions' {
        Connect-Bench (Join-Path $Work 'ps-operator')
        $targets = @(Get-TenantAttachDevice | Select-Object -First $Actions)
        for ($run = 0; $run -lt $Runs; $run++) {
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            $results = @($targets | Invoke-TenantAttachDeviceAction -Action SyncMachinePolicy)
            $watch.Stop()
            Write-Run $watch.Elapsed.TotalMilliseconds @($results | Where-Object { $_.result -eq 'accepted' }).Count
        }
    }
}

# The peak working set of this pwsh process: the objects, the module and the native library.
$peak = 0
if (Test-Path -LiteralPath '/proc/self/status') {
    $line = Get-Content -LiteralPath '/proc/self/status' | Where-Object { $_ -like 'VmHWM:*' }
    if ($line) { $peak = [long](($line -split '\s+')[1]) }
}
if ($peak -eq 0) { $peak = [long]([System.Diagnostics.Process]::GetCurrentProcess().PeakWorkingSet64 / 1024) }
Write-Output "PEAK $peak"
