#!/usr/bin/env bash
# Runs every test of the project, each suite against the real built library, and prints one summary:
#   Rust      cargo nextest (unit + integration tests of the library and the local cloud)
#   C         tests/c/test_*.c, gcc -Wall -Wextra -Werror -pedantic, AddressSanitizer + UBSan
#   C++       the header compiled as C++17
#   C#        tests/csharp/*.cs with the module's TenantAttach.Interop.cs, mcs + mono
#   PS-parse  every .ps1/.psm1/.psd1 parsed with the tree-sitter PowerShell grammar
#   Pester    tests/powershell/*.Tests.ps1 when pwsh is installed (reported as skipped otherwise)
#   interop   tests/interop/run.sh (MSAL, Graph SDK, Chromium against the local cloud) when present
# The last line is "N passed, N failed, N skipped"; the exit status is non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/install-deps.sh || { echo "install-deps failed"; exit 1; }

BUILD="$ROOT/target/test-build"
mkdir -p "$BUILD"
declare -a NAMES PASSED FAILED SKIPPED
record() { NAMES+=("$1"); PASSED+=("$2"); FAILED+=("$3"); SKIPPED+=("$4"); }
section() { printf '\n=== %s ===\n' "$1"; }

# TAP-ish counting for the C, C# and parse-check programs: "ok N - ..." / "not ok N - ...".
count_tap() { # file -> "passed failed"
  local ok notok
  ok=$(grep -cE '^ok [0-9]+' "$1" || true)
  notok=$(grep -cE '^not ok [0-9]+' "$1" || true)
  echo "$ok $notok"
}

# --- Rust -------------------------------------------------------------------------------------------
section "Rust (cargo nextest, workspace, features tenant-attach/test-hooks)"
if cargo build --workspace --all-targets --features tenant-attach/test-hooks; then
  cargo nextest run --workspace --features tenant-attach/test-hooks --no-fail-fast --color never 2>&1 | tee "$BUILD/nextest.log"
  summary=$(grep -E '^ *Summary \[' "$BUILD/nextest.log" | tail -1)
  p=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary"); f=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")
  s=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$summary")
  if [ -z "$summary" ]; then record "Rust" 0 1 0; else record "Rust" "${p:-0}" "${f:-0}" "${s:-0}"; fi
else
  record "Rust (build)" 0 1 0
fi

LIB_DIR="$ROOT/target/debug"
LIB="$LIB_DIR/libtenant_attach.so"

# A local cloud for the C and C# end-to-end tests: seeded with the site's app and public clients
# whose device codes it approves at once as a given user (a C program cannot reach /_admin).
CLOUD_DIR=$(mktemp -d)
CLOUD_PID=""
stop_cloud() { [ -n "$CLOUD_PID" ] && kill "$CLOUD_PID" 2>/dev/null; rm -rf "$CLOUD_DIR"; }
trap stop_cloud EXIT
target/debug/tenant-attach-cloud --listen 127.0.0.1:0 --data-dir "$CLOUD_DIR/data" --seed tests/cloud/seed.json \
  --ready-file "$CLOUD_DIR/ready" >"$CLOUD_DIR/log" 2>&1 &
CLOUD_PID=$!
for _ in $(seq 1 300); do [ -s "$CLOUD_DIR/ready" ] && break; sleep 0.1; done
export TA_CLOUD_URL TA_CLOUD_CA
TA_CLOUD_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$CLOUD_DIR/ready" 2>/dev/null || echo "")
TA_CLOUD_CA="$CLOUD_DIR/data/ca.pem"
python3 - "$TA_CLOUD_URL" "$TA_CLOUD_CA" <<'PY' || echo "warning: the test cloud could not be prepared"
import sys, requests
url, ca = sys.argv[1], sys.argv[2]
for n, user in [(1, "admin"), (2, "helpdesk"), (3, "adonly"), (4, "reader")]:
    requests.post(f"{url}/_admin/auto-approve", verify=ca,
                  json={"clientId": f"c1000000-0000-4000-8000-00000000000{n}", "user": f"{user}@contoso.onmicrosoft.com"}).raise_for_status()
PY
echo "test cloud for C and C#: $TA_CLOUD_URL"

# --- C under AddressSanitizer ---------------------------------------------------------------------
section "C (gcc -std=c11 -Wall -Wextra -Werror -pedantic, ASan + UBSan)"
c_pass=0; c_fail=0
for src in tests/c/test_*.c; do
  [ -e "$src" ] || continue
  name=$(basename "$src" .c); exe="$BUILD/$name"
  if ! gcc -std=c11 -Wall -Wextra -Werror -pedantic -g -fsanitize=address,undefined -fno-omit-frame-pointer \
      -fno-sanitize-recover=undefined -DTA_TEST_HOOKS -Iinclude -Itests/c "$src" -o "$exe" \
      -L"$LIB_DIR" -ltenant_attach -lpthread -Wl,-rpath,"$LIB_DIR"; then
    echo "not ok - $name does not compile"; c_fail=$((c_fail + 1)); continue
  fi
  # detect_leaks: every string the library returns must be freed by the test (ta_string_free).
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 "$exe" >"$BUILD/$name.out" 2>&1
  rc=$?
  cat "$BUILD/$name.out"
  read -r ok notok < <(count_tap "$BUILD/$name.out")
  c_pass=$((c_pass + ok)); c_fail=$((c_fail + notok))
  if [ $rc -ne 0 ] && [ "$notok" -eq 0 ]; then echo "not ok - $name exited with $rc (sanitizer report above)"; c_fail=$((c_fail + 1)); fi
done
record "C (ASan)" $c_pass $c_fail 0

section "C under valgrind (no sanitizer build; definite leaks and memory errors fail)"
vg_pass=0; vg_fail=0
for src in tests/c/test_config_errors.c tests/c/test_threads.c; do
  name=$(basename "$src" .c); exe="$BUILD/$name-vg"
  if gcc -std=c11 -Wall -Wextra -Werror -pedantic -g -DTA_TEST_HOOKS -Iinclude -Itests/c "$src" -o "$exe" \
      -L"$LIB_DIR" -ltenant_attach -lpthread -Wl,-rpath,"$LIB_DIR" \
      && RUST_BACKTRACE=0 valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 "$exe" >"$BUILD/$name-vg.out" 2>&1; then
    echo "ok - $name: no memory error or definite leak under valgrind"; vg_pass=$((vg_pass + 1))
  else
    cat "$BUILD/$name-vg.out"; echo "not ok - $name under valgrind"; vg_fail=$((vg_fail + 1))
  fi
done
record "C (valgrind)" $vg_pass $vg_fail 0

section "C++ (the header as C++17)"
if printf '#include "tenant_attach.h"\nint main() { return ta_version() ? 0 : 1; }\n' |
    g++ -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -x c++ -fsyntax-only -; then
  echo "ok 1 - include/tenant_attach.h compiles as C++17"; record "C++ header" 1 0 0
else
  echo "not ok 1 - include/tenant_attach.h does not compile as C++17"; record "C++ header" 0 1 0
fi

# --- C# through the module's interop file ---------------------------------------------------------
section "C# (mcs + mono, powershell/TenantAttach/TenantAttach.Interop.cs)"
cs_sources=(tests/csharp/*.cs)
if [ -e "${cs_sources[0]}" ]; then
  if mcs -langversion:5 -warnaserror+ -nowarn:618 -out:"$BUILD/csharp-tests.exe" -r:System.Core.dll \
      powershell/TenantAttach/TenantAttach.Interop.cs "${cs_sources[@]}"; then
    TENANT_ATTACH_LIBRARY="$LIB" mono --debug "$BUILD/csharp-tests.exe" >"$BUILD/csharp.out" 2>&1
    rc=$?
    cat "$BUILD/csharp.out"
    read -r ok notok < <(count_tap "$BUILD/csharp.out")
    if [ $rc -ne 0 ] && [ "$notok" -eq 0 ]; then notok=1; echo "not ok - C# tests exited with $rc"; fi
    record "C# (mono)" "$ok" "$notok" 0
  else
    record "C# (build)" 0 1 0
  fi
fi

# --- The examples in C and C# against the test cloud ------------------------------------------------
section "Examples (examples/c, examples/csharp against the test cloud)"
ex_pass=0; ex_fail=0
if gcc -std=c11 -Wall -Wextra -Werror -pedantic -fsanitize=address,undefined -Iinclude examples/c/tenant_attach_demo.c -o "$BUILD/c-demo" \
    -L"$LIB_DIR" -ltenant_attach -Wl,-rpath,"$LIB_DIR" && "$BUILD/c-demo" >"$BUILD/c-demo.out" 2>&1 && grep -q '"status":"succeeded"' "$BUILD/c-demo.out"; then
  echo "ok 1 - examples/c/tenant_attach_demo.c: onboard, upload, action, worker, offboard"; ex_pass=$((ex_pass + 1))
else
  cat "$BUILD/c-demo.out" 2>/dev/null; echo "not ok 1 - examples/c/tenant_attach_demo.c"; ex_fail=$((ex_fail + 1))
fi
if mcs -langversion:5 -warnaserror+ -out:"$BUILD/cs-demo.exe" powershell/TenantAttach/TenantAttach.Interop.cs examples/csharp/Demo.cs \
    && TENANT_ATTACH_LIBRARY="$LIB" mono "$BUILD/cs-demo.exe" >"$BUILD/cs-demo.out" 2>&1 && grep -q '"status":"succeeded"' "$BUILD/cs-demo.out"; then
  echo "ok 2 - examples/csharp/Demo.cs: onboard, upload, action, worker, offboard"; ex_pass=$((ex_pass + 1))
else
  cat "$BUILD/cs-demo.out" 2>/dev/null; echo "not ok 2 - examples/csharp/Demo.cs"; ex_fail=$((ex_fail + 1))
fi
record "Examples" $ex_pass $ex_fail 0

# --- PowerShell -----------------------------------------------------------------------------------
section "PowerShell parse check (tree-sitter-powershell)"
python3 tests/powershell/parse_check.py >"$BUILD/parse.out" 2>&1
rc=$?
cat "$BUILD/parse.out"
read -r ok notok < <(count_tap "$BUILD/parse.out")
if [ $rc -ne 0 ] && [ "$notok" -eq 0 ]; then notok=1; fi
record "PowerShell parse" "$ok" "$notok" 0

section "Pester"
if command -v pwsh >/dev/null 2>&1; then
  TENANT_ATTACH_LIBRARY="$LIB" pwsh -NoProfile -NonInteractive -Command \
    "\$r = Invoke-Pester -Path tests/powershell -PassThru -Output Detailed; Write-Output ('PESTER {0} {1} {2}' -f \$r.PassedCount, \$r.FailedCount, \$r.SkippedCount)" \
    | tee "$BUILD/pester.out"
  read -r _ p f s < <(grep '^PESTER ' "$BUILD/pester.out" || echo "PESTER 0 1 0")
  record "Pester" "$p" "$f" "$s"
else
  pester_count=$(cat tests/powershell/*.Tests.ps1 2>/dev/null | grep -cE '^\s*It\s' || true)
  echo "SKIPPED: Pester tests ($pester_count tests in tests/powershell/*.Tests.ps1): pwsh is not installed on this machine."
  echo "         The module's P/Invoke layer is tested for real by the C# suite; its scripts by the parse check."
  record "Pester" 0 0 "${pester_count:-0}"
fi

if [ -x tests/interop/run.sh ] || [ -f tests/interop/run.sh ]; then
  section "Interop (Microsoft clients against the local cloud)"
  bash tests/interop/run.sh "$BUILD" 2>&1 | tee "$BUILD/interop.out"
  read -r ok notok < <(count_tap "$BUILD/interop.out")
  [ "${PIPESTATUS[0]}" -ne 0 ] && [ "$notok" -eq 0 ] && notok=1
  record "Interop" "$ok" "$notok" 0
fi

# --- The README's main job ------------------------------------------------------------------------
section "Demo (cargo run --example demo, the README's main job)"
if cargo run -q --example demo >"$BUILD/demo.out" 2>&1 && grep -q "authorized; client notification ClientNotificationRequestMachinePolicyNow" "$BUILD/demo.out" \
    && grep -q '"actionState":"done"' "$BUILD/demo.out"; then
  tail -5 "$BUILD/demo.out"; echo "ok 1 - the demo onboards, uploads, runs actions and completes them"; record "Demo" 1 0 0
else
  cat "$BUILD/demo.out"; echo "not ok 1 - the demo failed"; record "Demo" 0 1 0
fi

# --- Summary --------------------------------------------------------------------------------------
section "Summary"
tp=0; tf=0; ts=0
printf '%-20s %8s %8s %8s\n' suite passed failed skipped
for i in "${!NAMES[@]}"; do
  printf '%-20s %8s %8s %8s\n' "${NAMES[$i]}" "${PASSED[$i]}" "${FAILED[$i]}" "${SKIPPED[$i]}"
  tp=$((tp + PASSED[i])); tf=$((tf + FAILED[i])); ts=$((ts + SKIPPED[i]))
done
echo
echo "$tp passed, $tf failed, $ts skipped"
[ "$tf" -eq 0 ]
