#!/bin/sh
# Runs every fuzz target (Fuzz/, issue 13) for SECONDS each (or until FUZZ_RUNS executions, if
# given first; docs/HARDENING.md's long runs are FUZZ_RUNS=10000000 SECONDS=3600): libFuzzer with AddressSanitizer, from
# the target's seeds (written by its plain build), the regressions kept in Fuzz/Corpus/<target>
# and what earlier runs found (.build-fuzz/corpus/<target>), with the STUN dictionary.
# A crash stops the run (exit 1) and leaves its input in .build-fuzz/crash-<target>-*: replay it
# with `.build/debug/<target> FILE`, and keep it in Fuzz/Corpus/<target> as a regression.
# Prints one line per target: executions, their rate, corpus size, coverage.
set -eu
# A failed precondition is reported by libFuzzer and AddressSanitizer; Swift's own backtracer
# would only add noise (and trips AddressSanitizer reading the crashed process).
export SWIFT_BACKTRACE=enable=no
seconds=${1:-600}
runs=${FUZZ_RUNS:--1}
targets=${FUZZ_TARGETS:-"FuzzSTUN FuzzFramer FuzzEngine FuzzAnalyzer FuzzConfig FuzzTLS"}
plain=$(swift build --show-bin-path)
fuzz=$(swift build -c debug --build-path .build-fuzz --show-bin-path)
for t in $targets; do
  seeds=.build-fuzz/seeds/$t
  work=.build-fuzz/corpus/$t
  kept=Fuzz/Corpus/$t
  rm -rf "$seeds"
  mkdir -p "$work" "$kept"
  "$plain/$t" --seeds "$seeds" >/dev/null
  "$plain/$t" "$kept" >/dev/null   # the regressions, without sanitizers too
  log=${FUZZ_LOGS:-.build-fuzz}/$t.log
  dict=Fuzz/stun.dict
  if [ -f "Fuzz/$t.dict" ]; then dict="Fuzz/$t.dict"; fi
  if ! "$fuzz/$t" -max_total_time="$seconds" -runs="$runs" -timeout=10 -dict="$dict" -print_final_stats=1 \
      -artifact_prefix=".build-fuzz/crash-$t-" "$work" "$seeds" "$kept" >"$log" 2>&1; then
    tail -40 "$log"
    echo "$t: CRASH (input in .build-fuzz/crash-$t-*)"
    exit 1
  fi
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  corpus=$(ls "$work" | wc -l)
  echo "$t: $executed executions in ${took:-$seconds} s ($rate/s), $cov, corpus $corpus, 0 crashes"
done
