#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan + libFuzzer) and runs each one for a
# while, starting from the committed seed corpus. Fails on any crash, sanitizer report,
# leak, timeout (> 10 s for one input) or out-of-memory (> 2 GiB).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 60 s, every target)
#
# Targets: gguf model_load tokenizer chat_template state c_api (tests/fuzz/fuzz_*.cpp).
# Environment:
#   KAA_FUZZ_BUILD   build folder (default: build-fuzz)
#   KAA_FUZZ_JOBS    parallel build jobs (default: 2)
#   KAA_FUZZ_NICE    nice level for the fuzzers (default: 0; use 10 on a shared machine)
#   KAA_SHARED_DIR   ../shared, for the Falcon vocabulary (targets fall back without it)
# New inputs the fuzzer finds go to $KAA_FUZZ_BUILD/fuzz-work/TARGET (never into the
# committed corpus); a crash is saved as $KAA_FUZZ_BUILD/fuzz-artifacts/TARGET-crash-*
# and can be replayed with `$KAA_FUZZ_BUILD/bin/fuzz_TARGET FILE`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(gguf model_load tokenizer chat_template state c_api)
build=${KAA_FUZZ_BUILD:-$root/build-fuzz}
jobs=${KAA_FUZZ_JOBS:-2}
nice_level=${KAA_FUZZ_NICE:-0}

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is needed (apt-get install clang)"; exit 2; }
if [[ ! -f $build/CMakeCache.txt ]]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKAA_FUZZ=ON -DKAA_SANITIZE=address,undefined -DKAA_BUILD_EXAMPLES=OFF
fi
cmake --build "$build" --target kaa_fuzz -j "$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"

declare -A execs result
failed=0
for t in "${targets[@]}"; do
  bin=$build/bin/fuzz_$t
  [[ -x $bin ]] || { echo "fuzz.sh: no target '$t'"; exit 2; }
  work=$build/fuzz-work/$t
  mkdir -p "$work"
  log=$build/fuzz-logs/$t.log
  dict=()
  case $t in
    gguf|model_load) dict=(-dict="$root/tests/fuzz/dict/gguf.dict") ;;
    *) [[ -f $root/tests/fuzz/dict/$t.dict ]] && dict=(-dict="$root/tests/fuzz/dict/$t.dict") ;;
  esac
  echo "== fuzz_$t: ${secs}s (log: $log)"
  set +e
  # The first folder receives new inputs; the committed corpus is only read.
  nice -n "$nice_level" "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" "${dict[@]}" \
    "$work" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs[$t]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [[ $rc -eq 0 ]]; then
    result[$t]=ok
  else
    result[$t]="FAILED (rc $rc)"
    failed=1
    grep -E "ERROR|KAA_FUZZ_CHECK|runtime error|Test unit written" "$log" | head -20 || true
  fi
done

echo
printf '%-15s %12s %10s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  n=${execs[$t]:-0}
  printf '%-15s %12s %10s  %s\n' "$t" "$n" "$(( ${n:-0} / (secs > 0 ? secs : 1) ))" "${result[$t]}"
done
exit $failed
