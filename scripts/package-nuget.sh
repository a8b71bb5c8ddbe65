#!/usr/bin/env bash
# Builds the TenantAttach NuGet package for C# developers:
#   DIST/nuget/TenantAttach.<version>.nupkg   lib/net8.0 and lib/netstandard2.0 (TenantAttach.dll, the typed
#                                             API, and TenantAttach.Interop.dll, the P/Invoke layer the
#                                             PowerShell module ships too, each with its XML docs), the
#                                             native library in runtimes/linux-x64/native/libtenant_attach.so
#
#   scripts/package-nuget.sh [DIST]                      DIST defaults to dist
#   TA_PACKAGE_PROFILE=debug scripts/package-nuget.sh    pack target/debug's library (tests; default: a release build)
#   TA_PACKAGE_NO_CARGO=1 ...                           pack the library target/<profile>/ holds as it is
#                                                        (scripts/test.sh: built already, with its features)
#   TA_WIN_X64_LIBRARY=path/tenant_attach.dll scripts/package-nuget.sh
#                                                        also pack a Windows build as runtimes/win-x64/native/
#
# Then, as a C# developer adds it (README, "C# (NuGet)"):
#   dotnet add package TenantAttach --source DIST/nuget
#
# The Windows DLL is built on Windows (cargo build --release -p tenant-attach with the MSVC toolchain);
# this machine has no Windows target, so that path is documented, not tested. Needs cargo and the .NET SDK.
source "$(dirname "$0")/package-common.sh"

build_library libtenant_attach.so
extra=()
if [ -n "${TA_WIN_X64_LIBRARY:-}" ]; then
  [ -f "$TA_WIN_X64_LIBRARY" ] || { echo "TA_WIN_X64_LIBRARY=$TA_WIN_X64_LIBRARY is not a file" >&2; exit 1; }
  extra+=("-p:TaWinX64Library=$(cd "$(dirname "$TA_WIN_X64_LIBRARY")" && pwd)/$(basename "$TA_WIN_X64_LIBRARY")")
fi

rm -rf "$DIST/nuget"
mkdir -p "$DIST/nuget"
dotnet pack dotnet/TenantAttach/TenantAttach.csproj -c Release --nologo -v quiet -clp:NoSummary \
  -p:TaNativeProfile="$PROFILE" -p:Version="$VERSION" -p:TenantAttachVersion="$VERSION" "${extra[@]}" -o "$DIST/nuget"

package="$DIST/nuget/TenantAttach.$VERSION.nupkg"
[ -f "$package" ] || { echo "dotnet pack wrote no $package" >&2; exit 1; }
echo "package:    $package"
echo "add it:     dotnet add package TenantAttach --source $DIST/nuget"
