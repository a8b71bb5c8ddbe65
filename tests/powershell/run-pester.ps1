# Runs every tests/powershell/*.Tests.ps1 with Pester 5 in this (fresh, -NoProfile) pwsh, with
# strict mode in force, and prints Pester's own counts last as "PESTER passed failed skipped" for
# scripts/test.sh. The culture is the process's (LANG/LC_ALL): scripts/test.sh runs this once as
# is and once each under de-DE and th-TH.
#   pwsh -NoProfile -NonInteractive -File tests/powershell/run-pester.ps1 [-Path FILE...] [-ResultFile FILE]
param(
    [string[]] $Path = @(Join-Path $PSScriptRoot '*.Tests.ps1'),
    [string] $ResultFile
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module Pester -MinimumVersion 5.7.1 -ErrorAction Stop
$culture = [System.Globalization.CultureInfo]::CurrentCulture
Write-Host ("Pester {0}, PowerShell {1}, culture '{2}' ({3}), strict mode Latest" -f (Get-Module Pester).Version, $PSVersionTable.PSVersion, $culture.Name, $culture.Calendar.GetType().Name)

$configuration = New-PesterConfiguration
$configuration.Run.Path = $Path
$configuration.Run.PassThru = $true
$configuration.Output.Verbosity = 'Detailed'
$configuration.Output.CIFormat = 'None'
$configuration.Output.RenderMode = 'Plaintext'
if ($ResultFile) {
    $configuration.TestResult.Enabled = $true
    $configuration.TestResult.OutputFormat = 'JUnitXml'
    $configuration.TestResult.OutputPath = $ResultFile
}
$result = Invoke-Pester -Configuration $configuration
# Containers that failed to run (a syntax error, a throwing BeforeAll) count as failures too.
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
Write-Output ('PESTER {0} {1} {2}' -f $result.PassedCount, $failed, ($result.SkippedCount + $result.NotRunCount))
if ($failed -gt 0 -or $result.PassedCount -eq 0) { exit 1 }
