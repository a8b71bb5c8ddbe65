#!/usr/bin/env bash
# Runs the workspace's Rust tests with plain `cargo test` machinery, for machines without
# cargo-nextest: every test binary (unit, integration, doc tests) is run on its own, bounded in time
# (TEST_BINARY_SECONDS, default 600), from its package's folder as `cargo test` would. A binary that
# is killed, crashes or exits non-zero without reporting a failed test counts as one failure, so
# nothing fails silently.
#
#   scripts/cargo-tests.sh [CARGO ARGS...]      e.g. --features tenant-attach/test-hooks
#
# Prints each binary's output and, last, one line "RUST passed failed ignored" for scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${TEST_BINARY_SECONDS:-600}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Build every test target once and learn the executables and their packages from cargo itself.
if ! cargo test --workspace --no-run --message-format=json "$@" >"$out/build.json" 2>"$out/build.err"; then
  cat "$out/build.err"
  echo "not ok - the Rust tests do not build"
  echo "RUST 0 1 0"
  exit 1
fi
python3 - "$out/build.json" >"$out/binaries" <<'PY'
import json, os, sys
seen = set()
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable") or not msg.get("profile", {}).get("test"):
        continue
    exe = msg["executable"]
    if exe in seen:
        continue
    seen.add(exe)
    target = msg["target"]
    print("\t".join([exe, os.path.dirname(msg["manifest_path"]), target["name"] + " (" + "/".join(target["kind"]) + ")"]))
PY

passed=0; failed=0; ignored=0
# Parses libtest's "test result: ok. 12 passed; 0 failed; 1 ignored; ..." lines of one log.
tally() { # log rc what
  local log=$1 rc=$2 what=$3 p f i
  p=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
  f=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
  i=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ ignored' | awk '{s+=$1} END {print s+0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "FAILED: $what timed out after ${secs}s"
    else echo "FAILED: $what exited with status $rc without a failed test (a crash or abort; see above)"; fi
    f=1
  fi
  passed=$((passed + p)); failed=$((failed + f)); ignored=$((ignored + i))
}

while IFS=$'\t' read -r exe dir what; do
  echo "--- $what: $exe"
  (cd "$dir" && CARGO_MANIFEST_DIR="$dir" timeout -k 10 "$secs" "$exe" --color never) >"$out/run.log" 2>&1
  rc=$?
  cat "$out/run.log"
  tally "$out/run.log" "$rc" "$what"
done <"$out/binaries"

echo "--- doc tests"
timeout -k 10 "$secs" cargo test --workspace --doc --color never "$@" >"$out/doc.log" 2>&1
rc=$?
cat "$out/doc.log"
tally "$out/doc.log" "$rc" "doc tests"

echo "RUST $passed $failed $ignored"
[ "$failed" -eq 0 ]
