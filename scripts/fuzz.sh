#!/usr/bin/env bash
# Fuzzes the parsers that read input from outside the process (fuzz/fuzz_targets): the configuration
# JSON, device records (JSON array and NDJSON), the gateway's notifications and the files of a state
# folder, with cargo fuzz
# (libFuzzer, AddressSanitizer) on the machine's stable toolchain.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     SECONDS per target, default 60 (FUZZ_SECONDS)
#   scripts/fuzz.sh --merge [TARGET...]       minimises what runs found into the committed corpus
#
# Each target starts from its committed corpus (fuzz/corpus-committed/TARGET: what long campaigns
# reached, minimised, so that a short run starts from their coverage rather than from scratch) and
# its hand-written seeds (fuzz/seeds/TARGET, which include every input that once failed, each by a
# name that says what it was), and writes what it discovers to a scratch corpus (fuzz/corpus/TARGET,
# not committed), so a longer run picks up where the last stopped. A crash is saved under
# fuzz/artifacts/TARGET and reported with the command that replays it. Prints "ok N - ..." /
# "not ok N - ..." lines (scripts/test.sh counts them) and exits non-zero on any failure.
#
# The test suite runs it for 60 s per target. A long campaign (30 minutes per target, two targets at
# a time on this 2-core machine, niced so that other builds keep the CPU; about an hour in all):
#
#   nice -n 19 bash scripts/fuzz.sh 1800 config notification > /tmp/fuzz-a.out &
#   nice -n 19 bash scripts/fuzz.sh 1800 device_records state_files > /tmp/fuzz-b.out &
#   wait; cat /tmp/fuzz-a.out /tmp/fuzz-b.out      # inputs, edges, corpus per target; fuzz/corpus/TARGET.log
#                                                  # ends with libFuzzer's final stats (cov:, ft:, corp:)
#
# Then keep what it reached: `bash scripts/fuzz.sh --merge` minimises the scratch corpus, the
# committed corpus and the seeds of each target (libFuzzer -set_cover_merge=1: few inputs keeping
# the coverage) into fuzz/corpus-committed/TARGET; commit that folder (keep it to a few MB in all).
#
# A crash the campaign finds is a bug to fix, never an input to drop: replay it with the command on
# its "not ok" line, fix the code, copy the input to fuzz/seeds/TARGET/ under a name saying what it
# was (e.g. seeds/config/proxy-extra-slashes.json), add a unit or integration test that states the
# rule it broke in plain words (e.g. tests/config.rs
# `a_proxy_password_is_never_shown_whatever_the_url_looks_like`), and list it under "What fuzzing
# found" in docs/RELIABILITY.md.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"

merge=0
if [ "${1:-}" = "--merge" ]; then
  merge=1
  shift
  secs=0
else
  secs=${1:-${FUZZ_SECONDS:-60}}
  shift || true
fi
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
if [ "$merge" -eq 1 ]; then
  # libFuzzer's merge into a fresh folder: the first folder receives, from all the others, a small
  # set of inputs that keeps their coverage. -set_cover_merge=1 rather than -merge=1: the same
  # edges and nearly all features in about 60% of the inputs (config: 1,510 inputs instead of 2,565).
  # The binary is run directly (cargo fuzz cmin would merge a single folder only).
  bin_dir=$(dirname "$(find target -path '*/release/config' -type f | head -1)")
  for t in "${targets[@]}"; do
    n=$((n + 1))
    mkdir -p "corpus/$t" "corpus-committed/$t"
    fresh="corpus/$t.merged"
    rm -rf "$fresh"; mkdir -p "$fresh"
    if "$bin_dir/$t" -set_cover_merge=1 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 "$fresh" "corpus-committed/$t" "corpus/$t" "seeds/$t" >"corpus/$t.merge.log" 2>&1; then
      rm -rf "corpus-committed/$t" && mv "$fresh" "corpus-committed/$t"
      echo "ok $n - merge $t: corpus-committed/$t holds $(ls "corpus-committed/$t" | wc -l) inputs ($(du -sk --apparent-size "corpus-committed/$t" | cut -f1) KB)"
    else
      failed=1
      tail -5 "corpus/$t.merge.log"
      echo "not ok $n - merge $t failed; log: fuzz/corpus/$t.merge.log"
    fi
  done
  exit $failed
fi

for t in "${targets[@]}"; do
  n=$((n + 1))
  mkdir -p "corpus/$t" "corpus-committed/$t"
  log="corpus/$t.log"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb bounds memory; the outer
  # timeout bounds the whole run even if libFuzzer itself stops answering.
  timeout -k 10 $((secs + 120)) cargo fuzz run -O "$t" "corpus/$t" "corpus-committed/$t" "seeds/$t" -- \
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
