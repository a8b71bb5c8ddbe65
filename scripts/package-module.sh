#!/usr/bin/env bash
# Builds the TenantAttach PowerShell module as people install it:
#   dist/TenantAttach/<version>/   the module folder: manifest, script module, Public/Private functions,
#                                  formats, bin/TenantAttach.Interop.dll (the P/Invoke layer) and
#                                  bin/TenantAttach.Records.dll (the per-object work), compiled once
#                                  (netstandard2.0), the native library under bin/<os>-<arch>/,
#                                  and tenant_attach.h; no C# source, so an import compiles nothing
#   dist/packages/TenantAttach.<version>.nupkg   that folder as Publish-PSResource writes it
#
#   scripts/package-module.sh [DIST]        DIST defaults to dist
#   TA_PACKAGE_PROFILE=debug scripts/package-module.sh   use target/debug (tests; default: a release build)
#   TA_PACKAGE_NO_CARGO=1    pack the library already built, without running cargo
#
# Then, as a user installs it (README, "Install the PowerShell module"):
#   Register-PSResourceRepository -Name TenantAttachLocal -Uri <DIST>/packages -Trusted
#   Install-PSResource TenantAttach -Repository TenantAttachLocal
#   Import-Module TenantAttach
#
# It packs the native library of the machine it runs on. The Windows DLL is built on Windows
# (README, "Windows"): put it at bin/win-x64/tenant_attach.dll in the module folder before packing.
# Needs cargo, the .NET SDK and PowerShell 7.4+ (Publish-PSResource).
source "$(dirname "$0")/package-common.sh"

case "$(uname -s)" in
  Linux) os=linux; lib=libtenant_attach.so ;;
  Darwin) os=osx; lib=libtenant_attach.dylib ;;
  MINGW*|MSYS*|CYGWIN*) os=win; lib=tenant_attach.dll ;;
  *) echo "unsupported OS $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

build_library "$lib"
for project in TenantAttach.Interop TenantAttach.Records; do
  dotnet build "powershell/build/$project.csproj" -c Release -p:TenantAttachVersion="$VERSION" --nologo -v quiet -clp:NoSummary
done
assemblies=target/dotnet/interop/bin/Release/netstandard2.0

MODULE=$DIST/TenantAttach/$VERSION
rm -rf "$DIST/TenantAttach" "$DIST/packages"
mkdir -p "$MODULE/bin/$os-$arch" "$DIST/packages"
cp -r powershell/TenantAttach/. "$MODULE/"
rm -f "$MODULE"/*.cs
for name in TenantAttach.Interop TenantAttach.Records; do cp "$assemblies/$name.dll" "$assemblies/$name.xml" "$MODULE/bin/"; done
cp "target/$PROFILE/$lib" "$MODULE/bin/$os-$arch/"
cp include/tenant_attach.h "$MODULE/bin/"
[ -f LICENSE ] && cp LICENSE "$MODULE/"

# The installed manifest loads the compiled assembly itself (RequiredAssemblies), so that the
# module never calls Add-Type; the source manifest has no such line, as a checkout has no assembly.
TA_MODULE=$MODULE TA_VERSION=$VERSION TA_PACKAGES=$DIST/packages pwsh -NoProfile -NonInteractive -Command '
  $ErrorActionPreference = "Stop"
  $manifest = Join-Path $env:TA_MODULE "TenantAttach.psd1"
  $text = [IO.File]::ReadAllText($manifest)
  $data = Import-PowerShellDataFile $manifest
  if ($data.ModuleVersion -ne $env:TA_VERSION) { throw "TenantAttach.psd1 says ModuleVersion $($data.ModuleVersion), Cargo.toml says $env:TA_VERSION: make them agree" }
  $q = [char]39
  $text = $text -replace "(?m)^(\s*)RootModule(\s*)=", "`$1RequiredAssemblies = @(${q}bin/TenantAttach.Interop.dll${q}, ${q}bin/TenantAttach.Records.dll${q})`n`$1RootModule`$2="
  [IO.File]::WriteAllText($manifest, $text, [Text.UTF8Encoding]::new($false))
  $null = Test-ModuleManifest $manifest
'

# Publish-PSResource writes the .nupkg into a repository; a throwaway one, registered for this run.
TA_MODULE=$MODULE TA_PACKAGES=$DIST/packages pwsh -NoProfile -NonInteractive -Command '
  $ErrorActionPreference = "Stop"
  $name = "TenantAttachBuild" + [guid]::NewGuid().ToString("N").Substring(0, 8)
  Register-PSResourceRepository -Name $name -Uri $env:TA_PACKAGES -Trusted
  try { Publish-PSResource -Path $env:TA_MODULE -Repository $name -SkipDependenciesCheck }
  finally { Unregister-PSResourceRepository -Name $name }
'

echo "module folder: $MODULE (native library bin/$os-$arch/$lib, bin/TenantAttach.Interop.dll, bin/TenantAttach.Records.dll)"
echo "package:       $(ls "$DIST"/packages/*.nupkg)"
echo "install it:    Register-PSResourceRepository -Name TenantAttachLocal -Uri $DIST/packages -Trusted; Install-PSResource TenantAttach -Repository TenantAttachLocal"
