#!/usr/bin/env bash
# Runs every test of the project, each suite against the real built library, and prints one summary:
#   Rust      cargo nextest, or scripts/cargo-tests.sh where nextest is missing (unit, integration, doc tests)
#   C         tests/c/test_*.c, gcc -Wall -Wextra -Werror -pedantic, AddressSanitizer + UBSan
#   C++       the header compiled as C++17; TA_MUST_USE refusing an ignored status in C and C++
#   C#        tests/csharp/*.cs with the module's TenantAttach.Interop.cs, mcs -langversion:5 + mono,
#             and the same sources on .NET 10 under xunit (scripts/test-dotnet.sh, tests/dotnet)
#   Examples  examples/c and examples/csharp against a local cloud
#   PS-parse  every .ps1/.psm1/.psd1 parsed by PowerShell's parser (and tree-sitter); Test-ModuleManifest
#   Pester    tests/powershell/*.Tests.ps1 in pwsh 7 with strict mode, in three cultures (default, de-DE, th-TH)
#   Package   scripts/package-module.sh, then Install-PSResource from a local folder and the quick start
#   NuGet     scripts/package-nuget.sh, then a new console project outside the repository adds the package
#             (dotnet add package --source) and runs the whole job against a local cloud (tests/nuget)
#   Interop   tests/interop/run.sh (MSAL for Python, MSAL.NET, Graph SDK, Chromium against the local cloud)
#   Format    cargo fmt --all --check (rustfmt.toml)
#   Fuzz      scripts/fuzz.sh: each cargo fuzz target for FUZZ_SECONDS (default 60)
#   Demo      cargo run --example demo
# New tests are found without editing this file: any tests/c/test_*.c, any tests/csharp/*.cs (its
# public static Run(Action<bool,string>) is called), any tests/powershell/*.Tests.ps1, any Rust test.
# Every suite's counts are its own ("ok N"/"not ok N" lines, nextest's and Pester's summaries).
# Every step that runs tests is bounded in time. The last line is "N passed, N failed, N skipped";
# the exit status is non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# pwsh is installed as a .NET global tool (scripts/install-deps.sh); its folder may not be on PATH yet.
export PATH="$PATH:$HOME/.dotnet/tools"

bash scripts/install-deps.sh || { echo "install-deps failed: see above for the missing tool"; exit 1; }

BUILD="$ROOT/target/test-build"
mkdir -p "$BUILD"
LIB_DIR="$ROOT/target/debug"
LIB="$LIB_DIR/libtenant_attach.so"

declare -a NAMES=() PASSED=() FAILED=() SKIPPED=()
record() { NAMES+=("$1"); PASSED+=("$2"); FAILED+=("$3"); SKIPPED+=("$4"); }
section() { printf '\n=== %s ===\n' "$1"; }

# TAP-ish counting: "ok N - ..." / "not ok N - ...". Prints "passed failed".
count_tap() {
  local ok notok
  ok=$(grep -cE '^ok [0-9]+' "$1" || true)
  notok=$(grep -cE '^not ok [0-9]+' "$1" || true)
  echo "$ok $notok"
}

# run_tap OUT SECONDS CMD... : runs CMD bounded in time, output to OUT and the terminal, and sets
# TAP_OK / TAP_NOT_OK. A non-zero exit without any "not ok" line (a crash, a sanitizer report, a
# timeout) counts as one failure, so nothing can fail silently.
run_tap() {
  local out=$1 secs=$2 rc; shift 2
  timeout -k 10 "$secs" "$@" >"$out" 2>&1
  rc=$?
  cat "$out"
  read -r TAP_OK TAP_NOT_OK < <(count_tap "$out")
  if [ "$rc" -ne 0 ] && [ "$TAP_NOT_OK" -eq 0 ]; then
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "not ok - $* timed out after ${secs}s"
    else echo "not ok - $* exited with status $rc (see above)"; fi
    TAP_NOT_OK=1
  fi
}

# --- Rust -------------------------------------------------------------------------------------------
section "Format (cargo fmt --check of the workspace and fuzz/, rustfmt.toml)"
if cargo fmt --version >/dev/null 2>&1; then
  if { cargo fmt --all --check && (cd fuzz && cargo fmt --check); } >"$BUILD/fmt.out" 2>&1; then
    echo "ok 1 - the Rust code is formatted"
    record "Format" 1 0 0
  else
    head -40 "$BUILD/fmt.out"
    echo "not ok 1 - the Rust code is not formatted: run cargo fmt --all (and in fuzz/, cargo fmt)"
    record "Format" 0 1 0
  fi
else
  echo "SKIPPED: format check (rustfmt is not installed: rustup component add rustfmt)"
  record "Format" 0 0 1
fi

if cargo nextest --version >/dev/null 2>&1; then rust_runner=nextest; else rust_runner="cargo test"; fi
section "Rust ($rust_runner, workspace, features tenant-attach/test-hooks)"
# One build with the test hooks serves every suite: the C and C# tests call ta_test_panic.
if cargo build --workspace --all-targets --features tenant-attach/test-hooks; then
  if [ "$rust_runner" = nextest ]; then
    cargo nextest run --workspace --features tenant-attach/test-hooks --no-fail-fast --color never \
      --tool-config-file "tenant-attach:$ROOT/scripts/nextest.toml" 2>&1 | tee "$BUILD/nextest.log"
    rc=${PIPESTATUS[0]}
    # "Summary [ 40.1s] 97 tests run: 95 passed, 1 failed, 1 timed out, 0 skipped"
    summary=$(grep -E '^ *Summary \[' "$BUILD/nextest.log" | tail -1)
    p=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || true)
    f=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || true)
    t=$(grep -oE '[0-9]+ timed out' <<<"$summary" | grep -oE '[0-9]+' || true)
    s=$(grep -oE '[0-9]+ skipped' <<<"$summary" | grep -oE '[0-9]+' || true)
    f=$(( ${f:-0} + ${t:-0} ))
  else
    # No cargo-nextest (it is not in every machine's crates source): each test binary on its own,
    # bounded in time, counted from libtest's own result lines.
    bash scripts/cargo-tests.sh --features tenant-attach/test-hooks 2>&1 | tee "$BUILD/cargo-tests.log"
    rc=${PIPESTATUS[0]}
    summary=$(grep -E '^RUST [0-9]+ [0-9]+ [0-9]+$' "$BUILD/cargo-tests.log" | tail -1)
    read -r _ p f s <<<"${summary:-RUST 0 0 0}"
  fi
  if [ -z "$summary" ] || { [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; }; then
    echo "not ok - $rust_runner exited with status $rc without a failure in its summary"; f=$((f + 1))
  fi
  record "Rust" "${p:-0}" "$f" "${s:-0}"
else
  record "Rust (build)" 0 1 0
  # The run has failed already; still build the library alone, so that the C and C# results below
  # are about the current library rather than a stale one.
  echo "not ok - the workspace does not build; building the library package alone for the other suites"
  cargo build -p tenant-attach --features test-hooks || echo "not ok - the library does not build either"
fi

# Local clouds for the end-to-end tests of C, C#, the examples and Pester: seeded with the site's app
# and public clients whose device codes the cloud approves at once as a given user (a C program
# cannot reach /_admin). Each run of a C end-to-end test onboards the same hierarchy, so the ASan
# and the valgrind runs each get a fresh cloud.
WORK=$(mktemp -d)
CLOUD_PIDS=()
cleanup() { for pid in "${CLOUD_PIDS[@]}"; do kill "$pid" 2>/dev/null; done; rm -rf "$WORK"; }
trap cleanup EXIT
start_cloud() { # name -> sets and exports TA_CLOUD_URL, TA_CLOUD_CA
  local dir="$WORK/cloud-$1"
  mkdir -p "$dir"
  # Test timings, chosen explicitly: devices visible at once (Microsoft: 5 to 10 minutes), device
  # codes polled every second (Azure AD: 5 s).
  target/debug/tenant-attach-cloud --listen 127.0.0.1:0 --data-dir "$dir/data" --seed tests/cloud/seed.json \
    --ingestion-delay-ms 0 --device-code-interval 1 --ready-file "$dir/ready" >"$dir/log" 2>&1 &
  CLOUD_PIDS+=($!)
  for _ in $(seq 1 300); do [ -s "$dir/ready" ] && break; sleep 0.1; done
  export TA_CLOUD_URL TA_CLOUD_CA
  TA_CLOUD_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$dir/ready" 2>/dev/null || echo "")
  TA_CLOUD_CA="$dir/data/ca.pem"
  if [ -z "$TA_CLOUD_URL" ]; then
    echo "warning: test cloud $1 did not start; the end-to-end tests will fail. Its log:"; cat "$dir/log"; return
  fi
  # Certificates for the certificate sign-in tests (C, C#), made now by the cloud: one registered
  # on the seed's certificate runbook app, one expired (registered too), one the app does not have;
  # PFX files under TA_CLOUD_CERT_DIR with the password TA_CLOUD_CERT_PASSWORD (a test credential).
  export TA_CLOUD_CERT_DIR="$dir/certificates" TA_CLOUD_CERT_PASSWORD="c-tests~pfx.password.0001"
  timeout 60 python3 - "$TA_CLOUD_URL" "$TA_CLOUD_CA" "$TA_CLOUD_CERT_DIR" "$TA_CLOUD_CERT_PASSWORD" <<'PY' || echo "warning: test cloud $1 could not be prepared"
import base64, os, sys, requests
url, ca, cert_dir, password = sys.argv[1:5]
for n, user in [(1, "admin"), (2, "helpdesk"), (3, "adonly"), (4, "reader")]:
    requests.post(f"{url}/_admin/auto-approve", verify=ca, timeout=30,
                  json={"clientId": f"c1000000-0000-4000-8000-00000000000{n}", "user": f"{user}@contoso.onmicrosoft.com"}).raise_for_status()
os.makedirs(cert_dir, exist_ok=True)
for name, days, register in [("runbook", 30, True), ("expired", -1, True), ("stranger", 30, False)]:
    ask = {"subject": f"CN=tenant-attach {name}", "password": password, "validDays": days}
    if register:
        ask["appId"] = "e0000000-0000-4000-8000-00000000ce0c"
    made = requests.post(f"{url}/_admin/certificates", verify=ca, timeout=60, json=ask)
    made.raise_for_status()
    with open(os.path.join(cert_dir, f"{name}.pfx"), "wb") as f:
        f.write(base64.b64decode(made.json()["pfxBase64"]))
PY
  echo "test cloud $1: $TA_CLOUD_URL"
}
start_cloud main
# The main cloud's runbook certificate, which the C and C# certificate tests sign in with: the
# interop section has MSAL.NET sign in with the very same file.
RUNBOOK_URL=$TA_CLOUD_URL RUNBOOK_CA=$TA_CLOUD_CA RUNBOOK_PFX=$TA_CLOUD_CERT_DIR/runbook.pfx

# --- C under AddressSanitizer ---------------------------------------------------------------------
section "C (gcc -std=c11 -Wall -Wextra -Werror -pedantic, ASan + UBSan)"
# The library itself is not instrumented; ASan's malloc interception still covers everything it
# allocates (Rust's default allocator is malloc), so LeakSanitizer reports any string the test did
# not give back to ta_string_free. The probe below proves that on this machine (LSan can be
# disabled by ptrace restrictions in some containers; then this suite fails rather than lies).
CFLAGS=(-std=c11 -Wall -Wextra -Werror -pedantic -g -fsanitize=address,undefined -fno-omit-frame-pointer
        -fno-sanitize-recover=undefined -DTA_TEST_HOOKS -Iinclude -Itests/c)
CLIBS=(-L"$LIB_DIR" -ltenant_attach -lpthread -Wl,-rpath,"$LIB_DIR")
export LD_LIBRARY_PATH="$LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
c_pass=0; c_fail=0
if gcc "${CFLAGS[@]}" tests/c/selftest/leak_probe.c -o "$BUILD/leak_probe" "${CLIBS[@]}" \
    && ! timeout 60 "$BUILD/leak_probe" >"$BUILD/leak_probe.out" 2>&1 \
    && grep -q 'LeakSanitizer: detected memory leaks' "$BUILD/leak_probe.out"; then
  echo "ok 1 - LeakSanitizer reports a library string the caller never freed (leak checks are real)"; c_pass=1
else
  cat "$BUILD/leak_probe.out" 2>/dev/null
  echo "not ok 1 - LeakSanitizer did not report a deliberate leak: the C suite's leak checks would be blind"; c_fail=1
fi
for src in tests/c/test_*.c; do
  [ -e "$src" ] || continue
  name=$(basename "$src" .c)
  echo "# $name"
  if ! gcc "${CFLAGS[@]}" "$src" -o "$BUILD/$name" "${CLIBS[@]}"; then
    echo "not ok - $name does not compile"; c_fail=$((c_fail + 1)); continue
  fi
  run_tap "$BUILD/$name.out" 300 "$BUILD/$name"
  c_pass=$((c_pass + TAP_OK)); c_fail=$((c_fail + TAP_NOT_OK))
done
record "C (ASan)" "$c_pass" "$c_fail" 0

section "C (valgrind memcheck, leak check)"
# The same programs without sanitizers under valgrind: it also sees uninitialised reads, which ASan
# does not. scripts/valgrind.supp holds the known false positives of ring's assembly (no leaks).
VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --suppressions="$ROOT/scripts/valgrind.supp")
VGFLAGS=(-std=c11 -Wall -Wextra -Werror -pedantic -g -O0 -DTA_TEST_HOOKS -Iinclude -Itests/c)
v_pass=0; v_fail=0
if ! command -v valgrind >/dev/null 2>&1; then
  echo "not ok 1 - valgrind is not installed (scripts/install-deps.sh installs it)"; v_fail=1
elif gcc "${VGFLAGS[@]}" tests/c/selftest/leak_probe.c -o "$BUILD/vg_leak_probe" "${CLIBS[@]}" \
    && ! timeout 120 "${VG[@]}" "$BUILD/vg_leak_probe" >"$BUILD/vg_leak_probe.out" 2>&1 \
    && grep -q 'definitely lost' "$BUILD/vg_leak_probe.out"; then
  echo "ok 1 - valgrind reports a library string the caller never freed (leak checks are real)"; v_pass=1
else
  cat "$BUILD/vg_leak_probe.out" 2>/dev/null
  echo "not ok 1 - valgrind did not report a deliberate leak"; v_fail=1
fi
if [ "$v_pass" -eq 1 ]; then
  main_url=$TA_CLOUD_URL main_ca=$TA_CLOUD_CA main_certs=$TA_CLOUD_CERT_DIR
  start_cloud valgrind
  for src in tests/c/test_*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    echo "# $name under valgrind"
    if ! gcc "${VGFLAGS[@]}" "$src" -o "$BUILD/vg_$name" "${CLIBS[@]}"; then
      echo "not ok - $name does not compile"; v_fail=$((v_fail + 1)); continue
    fi
    run_tap "$BUILD/vg_$name.out" 900 "${VG[@]}" "$BUILD/vg_$name"
    v_pass=$((v_pass + TAP_OK)); v_fail=$((v_fail + TAP_NOT_OK))
  done
  TA_CLOUD_URL=$main_url TA_CLOUD_CA=$main_ca TA_CLOUD_CERT_DIR=$main_certs
fi
record "C (valgrind)" "$v_pass" "$v_fail" 0

section "C++ and C (the header as C++17; TA_MUST_USE)"
cxx_pass=0; cxx_fail=0
for hooks in "" "-DTA_TEST_HOOKS"; do
  what="include/tenant_attach.h compiles as C++17${hooks:+ with $hooks}"
  if printf '#include "tenant_attach.h"\nint main() { return ta_version() ? 0 : 1; }\n' |
      g++ -std=c++17 -Wall -Wextra -Werror -pedantic $hooks -Iinclude -x c++ -fsyntax-only -; then
    cxx_pass=$((cxx_pass + 1)); echo "ok $cxx_pass - $what"
  else
    cxx_fail=$((cxx_fail + 1)); echo "not ok $((cxx_pass + cxx_fail)) - $what"
  fi
done
# TA_MUST_USE is real: ignoring a status fails a -Werror=unused-result build, in C++ and in C, and
# using it (or casting it to void, in C++) compiles. (-c, not -fsyntax-only: GCC warns of an ignored
# result in C only when it compiles.)
must_use() { # language std code -> compiler's exit status
  printf '#include "tenant_attach.h"\nint main(void) { struct ta_client *c = 0; %s return 0; }\n' "$3" |
    "$1" "$2" -Wall -Werror=unused-result -Iinclude -x "$([ "$1" = g++ ] && echo c++ || echo c)" -c -o /dev/null - 2>/dev/null
}
for lang in "g++ -std=c++17" "gcc -std=c11"; do
  set -- $lang
  n=$((cxx_pass + cxx_fail + 1))
  if ! must_use "$1" "$2" 'ta_client_open("{}", &c);' && must_use "$1" "$2" 'if (ta_client_open("{}", &c) != TA_STATUS_OK) return 1;'; then
    cxx_pass=$((cxx_pass + 1)); echo "ok $n - $1 $2 -Werror=unused-result refuses an ignored ta_status and accepts a checked one"
  else
    cxx_fail=$((cxx_fail + 1)); echo "not ok $n - $1 $2 -Werror=unused-result did not refuse an ignored ta_status (or refused a checked one)"
  fi
done
if must_use g++ -std=c++17 '(void)ta_client_open("{}", &c);'; then
  cxx_pass=$((cxx_pass + 1)); echo "ok $((cxx_pass + cxx_fail)) - C++17: a status deliberately discarded with (void) compiles ([[nodiscard]])"
else
  cxx_fail=$((cxx_fail + 1)); echo "not ok $((cxx_pass + cxx_fail)) - C++17: (void) does not discard a status"
fi
record "C++ header" "$cxx_pass" "$cxx_fail" 0

# --- C# through the module's interop file ---------------------------------------------------------
section "C# (mcs -langversion:5 + mono, powershell/TenantAttach/TenantAttach.Interop.cs)"
# C# 5 is what Windows PowerShell 5.1's Add-Type compiles; the interop file must stay within it.
cs_sources=(tests/csharp/*.cs)
if [ -e "${cs_sources[0]}" ]; then
  if mcs -langversion:5 -warnaserror+ -nowarn:618 -out:"$BUILD/csharp-tests.exe" \
      powershell/TenantAttach/TenantAttach.Interop.cs "${cs_sources[@]}"; then
    TENANT_ATTACH_LIBRARY="$LIB" run_tap "$BUILD/csharp.out" 600 mono --debug "$BUILD/csharp-tests.exe"
    record "C# (mono)" "$TAP_OK" "$TAP_NOT_OK" 0
  else
    record "C# (build)" 0 1 0
  fi
fi

section "C# (.NET $(dotnet --version 2>/dev/null || echo 'not installed'), xunit: tests/dotnet with the same sources)"
# The same C# sources on CoreCLR, as a C# tool or PowerShell 7 loads them; on a cloud of its own,
# since the end-to-end suite onboards the same hierarchy again.
main_url=$TA_CLOUD_URL main_ca=$TA_CLOUD_CA
start_cloud dotnet
TENANT_ATTACH_LIBRARY="$LIB" run_tap "$BUILD/dotnet.out" 1200 env -u LD_LIBRARY_PATH bash scripts/test-dotnet.sh
record "C# (.NET xunit)" "$TAP_OK" "$TAP_NOT_OK" 0
TA_CLOUD_URL=$main_url TA_CLOUD_CA=$main_ca

# --- The examples in C and C# against the test cloud ------------------------------------------------
section "Examples (examples/c, examples/csharp against the test cloud)"
ex_pass=0; ex_fail=0
if gcc -std=c11 -Wall -Wextra -Werror -pedantic -fsanitize=address,undefined -Iinclude examples/c/tenant_attach_demo.c -o "$BUILD/c-demo" \
    -L"$LIB_DIR" -ltenant_attach -Wl,-rpath,"$LIB_DIR" && timeout 300 "$BUILD/c-demo" >"$BUILD/c-demo.out" 2>&1 \
    && grep -q '"status":"succeeded"' "$BUILD/c-demo.out"; then
  echo "ok 1 - examples/c/tenant_attach_demo.c: onboard, upload, action, worker, offboard"; ex_pass=$((ex_pass + 1))
else
  cat "$BUILD/c-demo.out" 2>/dev/null; echo "not ok 1 - examples/c/tenant_attach_demo.c"; ex_fail=$((ex_fail + 1))
fi
if mcs -langversion:5 -warnaserror+ -out:"$BUILD/cs-demo.exe" powershell/TenantAttach/TenantAttach.Interop.cs examples/csharp/Demo.cs \
    && TENANT_ATTACH_LIBRARY="$LIB" timeout 300 mono "$BUILD/cs-demo.exe" >"$BUILD/cs-demo.out" 2>&1 \
    && grep -q '"status":"succeeded"' "$BUILD/cs-demo.out"; then
  echo "ok 2 - examples/csharp/Demo.cs: onboard, upload, action, worker, offboard"; ex_pass=$((ex_pass + 1))
else
  cat "$BUILD/cs-demo.out" 2>/dev/null; echo "not ok 2 - examples/csharp/Demo.cs"; ex_fail=$((ex_fail + 1))
fi
record "Examples" "$ex_pass" "$ex_fail" 0

# --- PowerShell -----------------------------------------------------------------------------------
section "PowerShell parse check (PowerShell's own parser and Test-ModuleManifest; tree-sitter as a second opinion)"
ps_pass=0; ps_fail=0
if command -v pwsh >/dev/null 2>&1; then
  run_tap "$BUILD/parse-ps.out" 120 pwsh -NoProfile -NonInteractive -File tests/powershell/parse_check.ps1
  ps_pass=$TAP_OK; ps_fail=$TAP_NOT_OK
else
  echo "not ok - pwsh is not installed (scripts/install-deps.sh installs it as a .NET tool)"; ps_fail=1
fi
run_tap "$BUILD/parse.out" 120 python3 tests/powershell/parse_check.py
record "PowerShell parse" $((ps_pass + TAP_OK)) $((ps_fail + TAP_NOT_OK)) 0

# Pester 5 against the real library and a test cloud, in a fresh pwsh -NoProfile with strict mode,
# once in the machine's culture and once each in de-DE (comma decimals, dd.MM.yyyy) and th-TH (the
# Buddhist calendar: the year 2030 is 2573), where culture-dependent formatting shows at once.
for culture in default de-DE th-TH; do
  section "Pester (PowerShell $(pwsh -NoProfile -NonInteractive -Command '$PSVersionTable.PSVersion.ToString()' 2>/dev/null || echo 'not installed'), culture $culture)"
  if ! command -v pwsh >/dev/null 2>&1; then
    echo "not ok - pwsh is not installed (scripts/install-deps.sh installs it as a .NET tool)"; record "Pester ($culture)" 0 1 0; continue
  fi
  start_cloud "pester-$culture"
  lang_env=()
  [ "$culture" = default ] || lang_env=(LANG="${culture/-/_}.UTF-8" LC_ALL="${culture/-/_}.UTF-8")
  # Without LD_LIBRARY_PATH: the module finds the library through the interop's DllImport resolver.
  env -u LD_LIBRARY_PATH "${lang_env[@]}" TENANT_ATTACH_LIBRARY="$LIB" timeout -k 10 900 pwsh -NoProfile -NonInteractive \
    -File tests/powershell/run-pester.ps1 -ResultFile "$BUILD/pester-$culture.xml" 2>&1 | tee "$BUILD/pester-$culture.out"
  # Pester's own counts; no summary line (Pester missing, a crash, a timeout) is one failure.
  read -r _ p f s < <(grep -E '^PESTER [0-9]+ [0-9]+ [0-9]+$' "$BUILD/pester-$culture.out" | tail -1 || true)
  if [ -z "${p:-}" ]; then echo "not ok - Pester ($culture) printed no summary"; p=0; f=1; s=0; fi
  record "Pester ($culture)" "$p" "$f" "$s"
  p=""
done

# The module as users install it: packed (scripts/package-module.sh, with the debug library already
# built), installed from a local repository folder with Install-PSResource, imported by name with no
# Add-Type compilation, and the README quick start run with it.
section "PowerShell package (package-module.sh, Install-PSResource, the quick start)"
if command -v pwsh >/dev/null 2>&1; then
  start_cloud package
  if TA_PACKAGE_PROFILE=debug TA_PACKAGE_NO_CARGO=1 timeout -k 10 900 bash scripts/package-module.sh "$BUILD/dist" >"$BUILD/package.log" 2>&1; then
    TENANT_ATTACH_LIBRARY="$LIB" run_tap "$BUILD/package.out" 900 pwsh -NoProfile -NonInteractive \
      -File tests/powershell/install-package.ps1 -Packages "$BUILD/dist/packages"
    record "PowerShell package" "$TAP_OK" "$TAP_NOT_OK" 0
  else
    cat "$BUILD/package.log"; echo "not ok - scripts/package-module.sh failed (see above)"; record "PowerShell package" 0 1 0
  fi
else
  echo "not ok - pwsh is not installed (scripts/install-deps.sh installs it as a .NET tool)"; record "PowerShell package" 0 1 0
fi

# The NuGet package as C# developers add it: packed from the library already built (with this run's
# features), added to a new console project in a temporary folder outside the repository with
# `dotnet add package TenantAttach --source`, built, and run against a cloud of its own: onboarding,
# upload with progress, an action, the notification worker, errors and cancellation (tests/nuget).
section "NuGet package (package-nuget.sh, dotnet add package, the job from a new console project)"
start_cloud nuget
if TA_PACKAGE_PROFILE=debug TA_PACKAGE_NO_CARGO=1 timeout -k 10 600 bash scripts/package-nuget.sh "$BUILD/dist" >"$BUILD/nuget-package.log" 2>&1; then
  run_tap "$BUILD/nuget.out" 900 bash tests/nuget/run.sh "$BUILD/dist/nuget"
  record "NuGet package" "$TAP_OK" "$TAP_NOT_OK" 0
else
  cat "$BUILD/nuget-package.log"; echo "not ok - scripts/package-nuget.sh failed (see above)"; record "NuGet package" 0 1 0
fi

# --- Fuzzing --------------------------------------------------------------------------------------
section "Fuzz (cargo fuzz: configuration, device records, notifications, state files; FUZZ_SECONDS=${FUZZ_SECONDS:-60} each)"
run_tap "$BUILD/fuzz.out" $(( 4 * ${FUZZ_SECONDS:-60} + 900 )) bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
record "Fuzz" "$TAP_OK" "$TAP_NOT_OK" 0

if [ -f tests/interop/run.sh ]; then
  section "Interop (Microsoft clients against the local cloud)"
  TA_RUNBOOK_CLOUD_URL=$RUNBOOK_URL TA_RUNBOOK_CLOUD_CA=$RUNBOOK_CA TA_RUNBOOK_PFX=$RUNBOOK_PFX TA_RUNBOOK_PFX_PASSWORD=$TA_CLOUD_CERT_PASSWORD \
    TA_RUNBOOK_APP=e0000000-0000-4000-8000-00000000ce0c run_tap "$BUILD/interop.out" 900 bash tests/interop/run.sh "$BUILD"
  record "Interop" "$TAP_OK" "$TAP_NOT_OK" 0
fi

# --- The README's main job ------------------------------------------------------------------------
section "Demo (cargo run --example demo, the README's main job)"
if timeout -k 10 600 cargo run -q --example demo >"$BUILD/demo.out" 2>&1 \
    && grep -q "authorized; client notification ClientNotificationRequestMachinePolicyNow" "$BUILD/demo.out" \
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
