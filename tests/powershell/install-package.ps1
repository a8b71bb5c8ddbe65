# The PowerShell module as a user installs it (issue 19): from a local repository folder holding the
# .nupkg that scripts/package-module.sh built, with Install-PSResource, imported by name in a fresh
# pwsh -NoProfile, without any Add-Type compilation; then the README quick start (QuickStart.Tests.ps1)
# against the local cloud with that installed module and its own bin/ copy of the native library.
# Prints TAP lines and, last, "PESTER passed failed skipped" for scripts/test.sh. Cleans up what it
# installed and registered.
#   pwsh -NoProfile -NonInteractive -File tests/powershell/install-package.ps1 -Packages DIST/packages
param([Parameter(Mandatory)] [string] $Packages)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$n = 0
$failed = 0
function Tap([bool] $ok, [string] $what) {
    $script:n++
    if ($ok) { Write-Output "ok $script:n - $what" } else { $script:failed++; Write-Output "not ok $script:n - $what" }
}

$repository = 'TenantAttachTest' + [guid]::NewGuid().ToString('N').Substring(0, 8)
$version = (Get-ChildItem -LiteralPath $Packages -Filter 'TenantAttach.*.nupkg' | Select-Object -First 1).Name -replace '^TenantAttach\.|\.nupkg$', ''
Register-PSResourceRepository -Name $repository -Uri (Resolve-Path -LiteralPath $Packages).Path -Trusted
try {
    Install-PSResource -Name TenantAttach -Version $version -Repository $repository -Scope CurrentUser -Reinstall -Quiet
    $installed = Get-InstalledPSResource -Name TenantAttach -Version $version
    Tap ($null -ne $installed) "Install-PSResource installs TenantAttach $version from a local repository folder"

    # A fresh process, as a user's session: Import-Module by name, the library from the module's bin/.
    $probe = @'
Set-StrictMode -Version Latest
Remove-Item Env:TENANT_ATTACH_LIBRARY -ErrorAction SilentlyContinue
Import-Module TenantAttach -ErrorAction Stop
$module = Get-Module TenantAttach
$assembly = [TenantAttach.Interop.NativeMethods].Assembly
$compiled = @([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.IsDynamic -or [string]::IsNullOrEmpty($_.Location) } |
    Where-Object { $_.GetType('TenantAttach.Interop.NativeMethods') -or $_.GetType('TenantAttach.Interop.DeviceRecordWriter') })
[pscustomobject]@{
    Base       = $module.ModuleBase
    Version    = $module.Version.ToString()
    Assembly   = $assembly.Location
    Records    = [TenantAttach.Interop.DeviceRecordWriter].Assembly.Location
    Compiled   = $compiled.Count
    Sources    = @(Get-ChildItem -LiteralPath $module.ModuleBase -Recurse -Filter '*.cs').Count
    Native     = [TenantAttach.Interop.NativeLibraryLoader]::LoadedPath
    Abi        = [TenantAttach.Interop.NativeMethods]::ta_abi_version()
    Commands   = @(Get-Command -Module TenantAttach).Count
} | ConvertTo-Json -Compress
'@
    # Without LD_LIBRARY_PATH (scripts/test.sh sets it for C and mono): the module's library must be
    # found through the interop's DllImport resolver, not through the search path.
    $savedSearchPath = $env:LD_LIBRARY_PATH
    Remove-Item Env:LD_LIBRARY_PATH -ErrorAction SilentlyContinue
    $json = & pwsh -NoProfile -NonInteractive -Command $probe
    $seen = $json | ConvertFrom-Json
    Tap ($seen.Version -eq $version -and $seen.Base -like "*TenantAttach*$version*") "Import-Module TenantAttach loads the installed $version ($($seen.Base))"
    Tap ($seen.Assembly -like '*bin*TenantAttach.Interop.dll' -and $seen.Records -like '*bin*TenantAttach.Records.dll' -and $seen.Compiled -eq 0 -and $seen.Sources -eq 0) `
        "the P/Invoke layer and the per-object work are the packaged assemblies ($($seen.Assembly), $($seen.Records)); no C# source shipped, nothing compiled"
    Tap ($seen.Native -like (Join-Path $seen.Base 'bin*')) "the native library is the module's own bin/ copy ($($seen.Native))"
    Tap ($seen.Abi -eq 1 -and $seen.Commands -ge 14) "the library answers (ABI $($seen.Abi)) and the $($seen.Commands) commands are exported"

    # The README quick start with the installed module.
    $env:TENANT_ATTACH_MODULE = 'TenantAttach'
    $saved = $env:TENANT_ATTACH_LIBRARY
    Remove-Item Env:TENANT_ATTACH_LIBRARY -ErrorAction SilentlyContinue
    try {
        $out = & pwsh -NoProfile -NonInteractive -File (Join-Path $PSScriptRoot 'run-pester.ps1') -Path (Join-Path $PSScriptRoot 'QuickStart.Tests.ps1')
        $out | ForEach-Object { Write-Host $_ }
    }
    finally {
        $env:TENANT_ATTACH_LIBRARY = $saved
        $env:LD_LIBRARY_PATH = $savedSearchPath
        Remove-Item Env:TENANT_ATTACH_MODULE
    }
    $summary = @($out | Where-Object { $_ -match '^PESTER \d+ \d+ \d+$' }) | Select-Object -Last 1
    $quickPassed = if ($summary) { [int]($summary -split ' ')[1] } else { 0 }
    $quickFailed = if ($summary) { [int]($summary -split ' ')[2] } else { 1 }
    Tap ($quickPassed -gt 0 -and $quickFailed -eq 0) "the README quick start runs with the installed module ($quickPassed Pester tests, $quickFailed failed)"
}
finally {
    Uninstall-PSResource -Name TenantAttach -Version $version -Scope CurrentUser -ErrorAction SilentlyContinue
    Unregister-PSResourceRepository -Name $repository
}
Write-Output ('PESTER {0} {1} 0' -f ($n - $failed), $failed)
if ($failed -gt 0) { exit 1 }
