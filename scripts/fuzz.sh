#!/bin/sh
# Runs every fuzz target (Fuzz/, issue 13) for SECONDS each: libFuzzer with AddressSanitizer, from
# the target's seeds (written by its plain build), the regressions kept in Fuzz/Corpus/<target>
# and what earlier runs found (.build-fuzz/corpus/<target>), with the STUN dictionary.
# A crash stops the run (exit 1) and leaves its input in .build-fuzz/crash-<target>-*: replay it
# with `.build/debug/<target> FILE`, and keep it in Fuzz/Corpus/<target> as a regression.
# Prints one line per target: executions, their rate, corpus size, coverage.
set -eu
seconds=${1:-600}
targets=${FUZZ_TARGETS:-"FuzzSTUN FuzzFramer FuzzEngine FuzzAnalyzer"}
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
  log=.build-fuzz/$t.log
  if ! "$fuzz/$t" -max_total_time="$seconds" -timeout=10 -dict=Fuzz/stun.dict -print_final_stats=1 \
      -artifact_prefix=".build-fuzz/crash-$t-" "$work" "$seeds" "$kept" >"$log" 2>&1; then
    tail -40 "$log"
    echo "$t: CRASH (input in .build-fuzz/crash-$t-*)"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  corpus=$(ls "$work" | wc -l)
  echo "$t: $runs executions in ${seconds} s ($rate/s), $cov, corpus $corpus, 0 crashes"
done
