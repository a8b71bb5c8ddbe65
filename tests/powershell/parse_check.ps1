# Parses every .ps1/.psm1/.psd1 of the repository with PowerShell's own parser
# ([System.Management.Automation.Language.Parser]::ParseFile) and checks the module manifest with
# Test-ModuleManifest. Prints TAP lines ("ok N - ...", "not ok N - ..."); exits 1 on any failure.
# A self-test first proves that a broken snippet is reported, so the check cannot pass by parsing
# nothing. Run: pwsh -NoProfile -File tests/powershell/parse_check.ps1
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).ProviderPath
$script:n = 0
$script:failed = 0
function Write-Tap([bool] $ok, [string] $what, [string[]] $detail = @()) {
    $script:n++
    if ($ok) { Write-Output "ok $($script:n) - $what" }
    else {
        $script:failed++
        Write-Output "not ok $($script:n) - $what"
        foreach ($line in $detail) { Write-Output "#   $line" }
    }
}
function Get-ParseError([string] $path) {
    $tokens = $null
    $errors = $null
    [System.Management.Automation.Language.Parser]::ParseFile($path, [ref]$tokens, [ref]$errors) | Out-Null
    foreach ($e in @($errors)) {
        '{0}:{1}:{2}: {3}' -f $path, $e.Extent.StartLineNumber, $e.Extent.StartColumnNumber, $e.Message
    }
}

# Self-test: a missing closing brace must be reported.
$probe = Join-Path ([System.IO.Path]::GetTempPath()) ("parse-probe-" + [guid]::NewGuid() + '.ps1')
Set-Content -LiteralPath $probe -Value "function Broken {`n    if (`$true) {`n" -Encoding utf8
$probeErrors = @(Get-ParseError $probe)
Remove-Item -LiteralPath $probe
Write-Tap ($probeErrors.Count -gt 0) 'self-test: the parser reports a missing closing brace'

$skip = '[\\/](target|node_modules|\.git|dist|obj|bin)[\\/]'
$files = @(Get-ChildItem -LiteralPath $root -Recurse -File -Include '*.ps1', '*.psm1', '*.psd1' |
        Where-Object { $_.FullName.Substring($root.Length) -notmatch $skip } | Sort-Object FullName)
Write-Tap ($files.Count -gt 0) "found $($files.Count) PowerShell files to parse"
foreach ($file in $files) {
    $relative = $file.FullName.Substring($root.Length + 1)
    $errors = @(Get-ParseError $file.FullName)
    Write-Tap ($errors.Count -eq 0) "$relative parses" $errors
}

# The manifest as Import-Module and the PowerShell Gallery read it.
$manifest = Join-Path $root 'powershell/TenantAttach/TenantAttach.psd1'
try {
    $info = Test-ModuleManifest -Path $manifest -ErrorAction Stop -WarningAction SilentlyContinue
    Write-Tap $true "Test-ModuleManifest accepts TenantAttach.psd1 (version $($info.Version))"
    $public = @(Get-ChildItem -LiteralPath (Join-Path $root 'powershell/TenantAttach/Public') -Filter '*.ps1' | ForEach-Object { $_.BaseName } | Sort-Object)
    $exported = @($info.ExportedFunctions.Keys | Sort-Object)
    Write-Tap (($public -join ',') -eq ($exported -join ',')) 'FunctionsToExport lists exactly the files of Public/' @("Public: $($public -join ', ')", "manifest: $($exported -join ', ')")
}
catch {
    Write-Tap $false 'Test-ModuleManifest accepts TenantAttach.psd1' @($_.Exception.Message)
}
if ($script:failed -gt 0) { exit 1 }
