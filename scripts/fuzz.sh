#!/usr/bin/env bash
# Fuzzes the parsers that read input from outside the process (fuzz/fuzz_targets): the configuration
# JSON, device records (JSON array and NDJSON), the gateway's notifications and the files of a state
# folder, with cargo fuzz
# (libFuzzer, AddressSanitizer) on the machine's stable toolchain.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     SECONDS per target, default 20 (FUZZ_SECONDS)
#
# The test suite runs it for a short bounded time; run it longer on request, e.g.
# `scripts/fuzz.sh 600`. Each target starts from its committed seeds (fuzz/seeds/TARGET) and writes
# what it discovers to a scratch corpus (fuzz/corpus/TARGET, not committed), so a longer run can
# pick up where the last stopped. A crash is saved under fuzz/artifacts/TARGET and reported with
# the command that replays it. Prints "ok N - ..." / "not ok N - ..." lines and exits non-zero on
# any failure.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"

secs=${1:-${FUZZ_SECONDS:-20}}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config device_records notification state_files)

# cargo fuzz passes -Zsanitizer and friends; RUSTC_BOOTSTRAP lets the stable toolchain accept them,
# since no nightly toolchain can be fetched here.
export RUSTC_BOOTSTRAP=1 CARGO_TERM_COLOR=never
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "not ok 1 - cargo-fuzz is not installed (scripts/install-deps.sh installs it: cargo install cargo-fuzz --locked)"
  exit 1
fi
mkdir -p corpus
if ! cargo fuzz build -O >corpus/build.log 2>&1; then
  cat corpus/build.log
  echo "not ok 1 - the fuzz targets do not build"
  exit 1
fi

n=0; failed=0
for t in "${targets[@]}"; do
  n=$((n + 1))
  mkdir -p "corpus/$t"
  log="corpus/$t.log"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb bounds memory; the outer
  # timeout bounds the whole run even if libFuzzer itself stops answering.
  timeout -k 10 $((secs + 120)) cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  if [ "$rc" -eq 0 ]; then
    echo "ok $n - fuzz $t: ${runs} inputs in ${secs}s, no crash (coverage ${cov} edges, corpus $(ls "corpus/$t" | wc -l) inputs)"
  else
    failed=1
    grep -E "panicked|ERROR: |SUMMARY" "$log" | head -5
    artifact=$(grep -oE 'artifacts/[^ ]+' "$log" | head -1)
    echo "not ok $n - fuzz $t failed (exit $rc) after ${runs} inputs; replay: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O $t ${artifact:-fuzz/artifacts/$t/...}); log: fuzz/$log"
  fi
done
exit $failed
