#Requires -Version 5.1
# The TenantAttach module: a thin PowerShell layer over the native tenant_attach library, reached
# through TenantAttach.Interop.cs (the same P/Invoke file C# tools compile in).
Set-StrictMode -Version Latest

# Where the native library is: TENANT_ATTACH_LIBRARY (an absolute path, for development and tests)
# or bin/<os>-<arch>/ inside the module.
function Get-TenantAttachNativeLibraryPath {
    if ($env:TENANT_ATTACH_LIBRARY) {
        return [System.IO.Path]::GetFullPath($env:TENANT_ATTACH_LIBRARY)
    }
    $onWindows = ($PSVersionTable.PSEdition -eq 'Desktop') -or (Get-Variable -Name IsWindows -ValueOnly -ErrorAction SilentlyContinue)
    $onMac = Get-Variable -Name IsMacOS -ValueOnly -ErrorAction SilentlyContinue
    # The architecture of this process, not of the OS: an x86 or x64 (emulated) PowerShell on an
    # ARM64 Windows machine loads the DLL of its own architecture.
    $arch = 'x64'
    try {
        $arch = ([System.Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture).ToString().ToLowerInvariant()
    }
    catch {
        # Windows PowerShell 5.1 on .NET Framework before 4.7.1 has no RuntimeInformation.
        if ($env:PROCESSOR_ARCHITECTURE -eq 'ARM64') { $arch = 'arm64' }
        elseif ($env:PROCESSOR_ARCHITECTURE -eq 'x86') { $arch = 'x86' }
    }
    if ($onWindows) {
        $os = 'win'; $file = 'tenant_attach.dll'
    }
    elseif ($onMac) {
        $os = 'osx'; $file = 'libtenant_attach.dylib'
    }
    else {
        $os = 'linux'; $file = 'libtenant_attach.so'
    }
    return (Join-Path (Join-Path (Join-Path $PSScriptRoot 'bin') "$os-$arch") $file)
}

# The P/Invoke layer (TenantAttach.Interop.cs, the file C# tools share) and the module's compiled
# per-object work (TenantAttach.Records.cs, which needs System.Management.Automation and so is kept
# out of the interop). An installed module's manifest has already loaded both from bin/
# (RequiredAssemblies: nothing is compiled, as Constrained Language Mode, AppLocker and WDAC
# require); a source checkout compiles the sources once per session.
$sources = @()
foreach ($part in @(
        @{ Type = 'TenantAttach.Interop.TenantAttachClient'; Name = 'TenantAttach.Interop' },
        @{ Type = 'TenantAttach.Interop.DeviceRecordWriter'; Name = 'TenantAttach.Records' })) {
    if ($part.Type -as [type]) { continue }
    $assembly = Join-Path (Join-Path $PSScriptRoot 'bin') ($part.Name + '.dll')
    if (Test-Path -LiteralPath $assembly -PathType Leaf) { Add-Type -LiteralPath $assembly }
    else { $sources += Join-Path $PSScriptRoot ($part.Name + '.cs') }
}
if ($sources.Count -gt 0) {
    # Optimised, as the Release build in bin/ is: PowerShell 7's Add-Type otherwise compiles for
    # debugging, with the JIT's optimiser off (the per-object work ran 3 to 5 times slower); and as
    # C# 5, the language Windows PowerShell's Add-Type compiles, which has no -CompilerOptions and
    # does not turn the optimiser off.
    if ($PSVersionTable.PSEdition -eq 'Core') { Add-Type -Path $sources -CompilerOptions '-optimize+', '-langversion:5' }
    else { Add-Type -Path $sources }
}
$nativePath = Get-TenantAttachNativeLibraryPath
if (-not (Test-Path -LiteralPath $nativePath -PathType Leaf)) {
    $binFolder = Join-Path $PSScriptRoot 'bin'
    $available = @(Get-ChildItem -LiteralPath $binFolder -Directory -ErrorAction SilentlyContinue | ForEach-Object { $_.Name }) -join ', '
    if (-not $available) { $available = 'none' }
    throw ("TenantAttach: the native library for this platform is not at $nativePath (this copy of the module has native libraries for: $available). " +
        'Install the TenantAttach package built for this platform, build it here with scripts/package-module.sh, or set TENANT_ATTACH_LIBRARY to the absolute path of the library.')
}
[TenantAttach.Interop.NativeLibraryLoader]::Load($nativePath)

$script:TenantAttachSession = $null

# Turns a library failure into an ErrorRecord with a stable id (TenantAttach.TA_STATUS_...) and a
# category a script can test.
function New-TenantAttachErrorRecord {
    param(
        [Parameter(Mandatory)] [TenantAttach.Interop.TenantAttachException] $Exception,
        [object] $Target
    )
    $category = switch ($Exception.Status.ToString()) {
        'InvalidArgument' { 'InvalidArgument' }
        'InvalidUtf8' { 'InvalidData' }
        'InvalidJson' { 'InvalidData' }
        'InvalidConfig' { 'InvalidArgument' }
        'UnsupportedCloud' { 'NotImplemented' }
        'UnsupportedAction' { 'NotImplemented' }
        'NotOnboarded' { 'ObjectNotFound' }
        'AuthFailed' { 'AuthenticationError' }
        'Forbidden' { 'PermissionDenied' }
        'NotFound' { 'ObjectNotFound' }
        'Conflict' { 'ResourceExists' }
        'Throttled' { 'LimitsExceeded' }
        'Network' { 'ConnectionError' }
        'Tls' { 'SecurityError' }
        'Timeout' { 'OperationTimeout' }
        'StateLocked' { 'ResourceBusy' }
        'StateCorrupt' { 'InvalidData' }
        'Cancelled' { 'OperationStopped' }
        'Expired' { 'AuthenticationError' }
        'DeletionRefused' { 'LimitsExceeded' }
        default { 'NotSpecified' }
    }
    return New-Object System.Management.Automation.ErrorRecord($Exception, ('TenantAttach.' + $Exception.StatusName), $category, $Target)
}

# A SecureString's text, for the one moment it is handed to the library.
function ConvertFrom-TenantAttachSecureString {
    param([Parameter(Mandatory)] [System.Security.SecureString] $Secure)
    $bstr = [System.Runtime.InteropServices.Marshal]::SecureStringToBSTR($Secure)
    try {
        return [System.Runtime.InteropServices.Marshal]::PtrToStringBSTR($bstr)
    }
    finally {
        [System.Runtime.InteropServices.Marshal]::ZeroFreeBSTR($bstr)
    }
}

foreach ($folder in 'Private', 'Public') {
    foreach ($file in Get-ChildItem -Path (Join-Path $PSScriptRoot $folder) -Filter '*.ps1') {
        . $file.FullName
    }
}

Export-ModuleMember -Function (Get-ChildItem -Path (Join-Path $PSScriptRoot 'Public') -Filter '*.ps1').BaseName
