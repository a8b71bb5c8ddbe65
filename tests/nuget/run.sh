#!/usr/bin/env bash
# The NuGet package as a C# developer meets it: a new console project in a temporary folder outside
# the repository, `dotnet add package TenantAttach --source <folder>`, tests/nuget/Program.cs as its
# Program.cs, `dotnet build`, then `dotnet run` against a local tenant-attach-cloud, and once more with
# a stand-in library of another ABI version. Prints TAP lines; exits non-zero when anything failed.
#
#   tests/nuget/run.sh PACKAGES      PACKAGES: the folder with TenantAttach.<version>.nupkg
#                                    (scripts/package-nuget.sh writes DIST/nuget)
#   TA_CLOUD_URL, TA_CLOUD_CA        the seeded local cloud, its public clients auto-approved (scripts/test.sh)
#
# The project restores from the package folder (and NuGet's configured sources for anything else),
# into a package cache of its own: a package rebuilt with
# the same version is never confused with an older copy in ~/.nuget/packages.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PACKAGES=${1:?usage: tests/nuget/run.sh PACKAGES}
case $PACKAGES in /*) ;; *) PACKAGES=$ROOT/$PACKAGES ;; esac
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ABI=$(sed -n 's/^#define TA_ABI_VERSION \([0-9]*\)$/\1/p' include/tenant_attach.h)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE=1
# The package must bring its own library: nothing points the app at the repository's build.
unset TENANT_ATTACH_LIBRARY LD_LIBRARY_PATH

n=0; failed=0
tap() { n=$((n + 1)); if [ "$1" = ok ]; then echo "ok $n - $2"; else failed=$((failed + 1)); echo "not ok $n - $2"; fi; }

if [ ! -f "$PACKAGES/TenantAttach.$VERSION.nupkg" ]; then
  echo "not ok 1 - $PACKAGES/TenantAttach.$VERSION.nupkg is missing (scripts/package-nuget.sh writes it)"; exit 1
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ta-nuget-consumer.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
case $WORK/ in "$ROOT"/*) echo "not ok 1 - the temporary folder $WORK is inside the repository"; exit 1 ;; esac
export NUGET_PACKAGES="$WORK/nuget-packages"
cd "$WORK"

if dotnet new console --name Consumer --output Consumer >"$WORK/new.log" 2>&1; then
  tap ok "dotnet new console (a new project in $WORK, outside the repository)"
else
  cat "$WORK/new.log"; tap "not ok" "dotnet new console"; echo "1..$n"; exit 1
fi
cd Consumer
# As a user types it (one --source: dotnet add package takes one). The package's own dependencies
# (System.Text.Json, for netstandard2.0 only) come from NuGet's configured sources, as for any package.
if timeout -k 10 300 dotnet add package TenantAttach --version "$VERSION" --source "$PACKAGES" >"$WORK/add.log" 2>&1 \
    && grep -q "Include=\"TenantAttach\" Version=\"$VERSION\"" Consumer.csproj; then
  tap ok "dotnet add package TenantAttach --source $PACKAGES (version $VERSION)"
else
  cat "$WORK/add.log"; tap "not ok" "dotnet add package TenantAttach --source $PACKAGES"; echo "1..$n"; exit 1
fi
cp "$ROOT/tests/nuget/Program.cs" Program.cs
# The README's C# sample, compiled with the app (not run: it names a real tenant): its using
# directives on top, its statements as the body of a method taking the values it leaves to the reader.
sample=$(awk '/<!-- nuget-sample/ { on = 1; next } on && /^```csharp/ { inside = 1; next } inside && /^```/ { exit } inside { print }' "$ROOT/README.md")
if [ -n "$sample" ]; then
  {
    grep -E '^using [A-Za-z.]+;$' <<<"$sample"
    echo 'public static class ReadmeSample'
    echo '{'
    echo '    public static void Run(string appId, string clientSecret, DateTimeOffset secretExpiry)'
    echo '    {'
    grep -vE '^using [A-Za-z.]+;$' <<<"$sample"
    echo '    }'
    echo '}'
  } >ReadmeSample.cs
  tap ok "the README's C# sample is in the project ($(wc -l <<<"$sample") lines)"
else
  tap "not ok" "no C# sample after <!-- nuget-sample in README.md"
fi
if timeout -k 10 300 dotnet build --nologo -v quiet -clp:NoSummary >"$WORK/build.log" 2>&1; then
  tap ok "dotnet build of the console app with the package (and the README's sample)"
else
  cat "$WORK/build.log"; tap "not ok" "dotnet build of the console app"; echo "1..$n"; exit 1
fi
lib=$(find bin -path '*runtimes/linux-x64/native/libtenant_attach.so' | head -1)
if [ -n "$lib" ]; then tap ok "the build copies the package's native library to $lib"; else tap "not ok" "no runtimes/linux-x64/native/libtenant_attach.so under bin/"; fi

# The job, printed as it runs; its own TAP lines are renumbered after this script's.
# relay OUT RC WHAT: the app's TAP lines renumbered as this script's; a failed run without a
# "not ok" line of its own (a crash, a timeout) is one failure.
relay() {
  local line
  while IFS= read -r line; do
    case $line in
      "ok "*) tap ok "${line#* - }" ;;
      "not ok "*) tap "not ok" "${line#* - }" ;;
      "1.."*) ;;
      *) echo "$line" ;;
    esac
  done <"$1"
  [ "$2" -eq 0 ] || grep -q '^not ok' "$1" || tap "not ok" "$3 exited with status $2"
}
TA_EXPECTED_VERSION=$VERSION timeout -k 10 600 dotnet run --no-build >"$WORK/run.out" 2>&1
relay "$WORK/run.out" $? "dotnet run"

# A library of another ABI version: a stand-in exporting ta_abi_version() = 999 is refused when it loads.
if printf 'unsigned ta_abi_version(void) { return 999; }\n' | gcc -shared -fPIC -x c -o "$WORK/libtenant_attach.so" - 2>"$WORK/gcc.log"; then
  TENANT_ATTACH_LIBRARY="$WORK/libtenant_attach.so" TA_EXPECTED_ABI=$ABI timeout -k 10 120 dotnet run --no-build -- abi >"$WORK/abi.out" 2>&1
  relay "$WORK/abi.out" $? "dotnet run -- abi"
else
  cat "$WORK/gcc.log"; tap "not ok" "gcc could not build the stand-in library of another ABI"
fi
echo "1..$n"
[ "$failed" -eq 0 ]
