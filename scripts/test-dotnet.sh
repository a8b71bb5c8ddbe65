#!/usr/bin/env bash
# The C# tests (tests/csharp/*.cs with powershell/TenantAttach/TenantAttach.Interop.cs) on .NET under
# xunit: builds tests/dotnet/TenantAttach.Tests.csproj and runs it with `dotnet test` against the
# built library and a running local cloud, which the caller starts (as scripts/test.sh does for mono):
#   TENANT_ATTACH_LIBRARY  the built library (default target/debug/libtenant_attach.so)
#   TA_CLOUD_URL, TA_CLOUD_CA  the seeded test cloud, its public clients auto-approved (E2eTests)
# Prints the .NET SDK version, one TAP line per xunit test ("ok N - name" / "not ok N - name") with
# the failure messages as "#" lines under it, and exits non-zero when anything failed. Bounded in time
# (DOTNET_TEST_SECONDS for the test run, default 900). Build output stays under target/dotnet/.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE=1
PROJECT=tests/dotnet/TenantAttach.Tests.csproj
OUT="$ROOT/target/dotnet/tests"
RESULTS="$OUT/results"
SECS=${DOTNET_TEST_SECONDS:-900}
mkdir -p "$OUT"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "not ok 1 - dotnet is not installed (the .NET 10 SDK runs the C# tests under xunit)"
  exit 1
fi
echo "# .NET SDK $(dotnet --version)"

export TENANT_ATTACH_LIBRARY=${TENANT_ATTACH_LIBRARY:-$ROOT/target/debug/libtenant_attach.so}
case $TENANT_ATTACH_LIBRARY in /*) ;; *) TENANT_ATTACH_LIBRARY=$ROOT/$TENANT_ATTACH_LIBRARY ;; esac
[ -n "${TA_CLOUD_URL:-}" ] && [ -n "${TA_CLOUD_CA:-}" ] \
  || echo "# warning: TA_CLOUD_URL and TA_CLOUD_CA are not set: the end-to-end suite will fail"

# Restore and build first, bounded, so that a build error reads as one and not as failed tests.
if ! timeout -k 10 600 dotnet build "$PROJECT" --nologo -v quiet -clp:NoSummary >"$OUT/build.log" 2>&1; then
  cat "$OUT/build.log"
  echo "not ok 1 - $PROJECT does not build (see above)"
  exit 1
fi

rm -rf "$RESULTS"
timeout -k 10 "$SECS" dotnet test "$PROJECT" --no-build --nologo \
  --logger "trx;LogFileName=tests.trx" --results-directory "$RESULTS" \
  --blame-hang-timeout "$(( SECS > 120 ? SECS - 60 : SECS ))s" --blame-hang-dump-type none \
  >"$OUT/test.log" 2>&1
rc=$?

# One TAP line per test from the TRX file, in the order the tests ran; failure messages (which quote
# the failed checks' own "not ok" lines) are indented under "#", so a TAP counter counts each test once.
python3 - "$RESULTS/tests.trx" "$rc" <<'PY'
import re, sys, xml.etree.ElementTree as ET
path, rc = sys.argv[1], int(sys.argv[2])
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
try:
    results = ET.parse(path).getroot().findall(".//t:Results/t:UnitTestResult", ns)
except (OSError, ET.ParseError) as e:
    print(f"not ok 1 - dotnet test wrote no results ({e}); exit status {rc}, its output follows")
    sys.exit(2)
results.sort(key=lambda r: r.get("startTime", ""))
failed = passed = 0
for n, r in enumerate(results, 1):
    name = r.get("testName", "?").removeprefix("TenantAttach.Tests.")
    outcome = r.get("outcome")
    ok = outcome == "Passed"
    print(f"{'ok' if ok else 'not ok'} {n} - {name}{'' if ok or outcome == 'Failed' else ' (' + str(outcome) + ')'}")
    passed += ok
    if not ok:
        failed += 1
        text = lambda tag: (r.findtext(f"t:Output/t:ErrorInfo/t:{tag}", "", ns) or "").splitlines()
        message = text("Message")
        # A failed check's assertion explains itself; an unexpected exception also shows where it was thrown.
        unexpected = bool(message) and re.match(r"^[\w.]+Exception\b", message[0]) is not None
        for line in message + (text("StackTrace") if unexpected or not message else []):
            print("#   " + line)
if not results:
    print(f"not ok 1 - dotnet test finished no test (exit status {rc}; its output follows)")
    sys.exit(2)
elif rc != 0 and failed == 0:
    print(f"not ok {len(results) + 1} - dotnet test exited with status {rc} though every test that finished passed (its output follows)")
    sys.exit(2)
print(f"# {len(results)} xunit tests: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
status=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "# dotnet test timed out after ${SECS}s"; fi
# The run's own output, when the results above do not explain the failure (no results, a crash, a timeout).
if [ "$status" -eq 2 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "# dotnet test output ($OUT/test.log):"
  sed 's/^/#   /' "$OUT/test.log" | tail -60
fi
[ "$status" -eq 0 ]
