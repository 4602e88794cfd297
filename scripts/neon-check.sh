#!/usr/bin/env bash
# neon-check.sh — cross-builds the test suite for Linux aarch64 and runs the kernel, engine
# and golden tests under qemu-user, with the neon backend and with the scalar reference.
#
#   scripts/neon-check.sh
#
# Installs nothing. Needs (Debian/Ubuntu): g++-aarch64-linux-gnu qemu-user (or
# qemu-user-static), cmake, and the usual header-only dependencies (libeigen3-dev
# libxsimd-dev catch2 nlohmann-json3-dev), found on the host by
# cmake/toolchain-aarch64-linux-gnu.cmake. No binfmt registration is needed.
#
# Environment:
#   KAA_NEON_BUILD   build folder (default: build-aarch64 beside the sources)
#   KAA_NEON_JOBS    parallel build jobs (default: 2)
#   KAA_NEON_NICE    nice level for the build and the runs (default: 10)
#   KAA_SHARED_DIR   test models and goldens (default: ../shared); golden tests skip
#                    without them
#   KAA_NEON_GOLDEN  "prefill" (default): the golden prefill test only; "all": every
#                    [golden] test (prefill, decode, fast precision; ~5x longer)
#
# Runs (qemu-user is slow: the whole [golden] tag alone takes 5-13 minutes there, so by
# default only its prefill test runs; decode == prefill bit for bit is what [engine] and
# the kernel tests check, and the int8 path is checked against an exact emulation):
#   neon          KAA_ISA=neon, qemu -cpu max (has the ARMv8.2 dot product extension, so
#                 the SDOT variant is selected): "[kernels],[engine],*(prefill)"
#   neon-armv8.0  KAA_ISA=neon, qemu -cpu cortex-a72 (no dot product: the plain variant;
#                 an instruction beyond ARMv8.0 outside the SDOT file would be SIGILL):
#                 "[kernels],[engine]"
#   scalar        KAA_ISA=scalar: "[kernels],[engine]"
#   prefetch      the neon GEMV objects still contain prefetch instructions
#                 (tests/tools/check_prefetch.py; needs aarch64-linux-gnu-objdump)
# The kernel tests compare the neon tables with the scalar reference whatever KAA_ISA
# says; KAA_ISA picks the backend of the engine and golden tests.
# Exits non-zero when the build or any run fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${KAA_NEON_BUILD:-$root/build-aarch64}
jobs=${KAA_NEON_JOBS:-2}
nice_level=${KAA_NEON_NICE:-10}
shared=${KAA_SHARED_DIR:-$root/../shared}
golden=${KAA_NEON_GOLDEN:-prefill}
sysroot=/usr/aarch64-linux-gnu

missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v aarch64-linux-gnu-objdump >/dev/null || missing+=(binutils-aarch64-linux-gnu)
command -v python3 >/dev/null || missing+=(python3)
qemu=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)
[[ -n $qemu ]] || missing+=(qemu-user)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "neon-check: missing tools; install with: apt-get install -y ${missing[*]}" >&2
  exit 2
fi
[[ -d $shared ]] && shared=$(cd "$shared" && pwd)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(now)
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DKAA_BUILD_TESTS=ON -DKAA_BUILD_EXAMPLES=OFF \
    -DKAA_SHARED_DIR="$shared" >/dev/null
fi
nice -n "$nice_level" cmake --build "$build" --target kaa_tests -j "$jobs"
t_build=$(elapsed "$t0" "$(now)")
bin=$build/bin/kaa_tests
[[ -x $bin ]] || { echo "neon-check: no $bin after the build" >&2; exit 1; }
echo "neon-check: built $bin in ${t_build}s"

declare -a names=() results=() times=() summaries=()
failed=0
run() {  # run NAME ISA QEMU_CPU TESTSPEC
  local name=$1 isa=$2 cpu=$3 spec=$4 log=$build/neon-check-$1.log t rc
  echo "== $name: KAA_ISA=$isa qemu -cpu $cpu kaa_tests \"$spec\" (log: $log)"
  t=$(now)
  set +e
  KAA_ISA=$isa KAA_SHARED_DIR=$shared \
    nice -n "$nice_level" "$qemu" -cpu "$cpu" -L "$sysroot" "$bin" "$spec" --use-colour no >"$log" 2>&1
  rc=$?
  set -e
  names+=("$name")
  times+=("$(elapsed "$t" "$(now)")")
  # Catch2 ends with "All tests passed (N assertions in M test cases)", or with
  # "test cases: M | P passed | F failed" and "assertions: ..." lines.
  summaries+=("$(grep -E '^(All tests passed|test cases:|assertions:)' "$log" | tr -s ' \n' ' ')")
  if [[ $rc -eq 0 ]]; then
    results+=(ok)
  else
    results+=("FAILED (rc $rc)")
    failed=1
    grep -v '^KAA_SKIP' "$log" | tail -60
  fi
  grep -h '^golden ' "$log" | sed 's/^/   /' || true
  grep -h '^KAA_SKIP' "$log" | sort | uniq -c | sed 's/^ */   skipped x/' || true
}

case $golden in
  prefill) golden_spec='*(prefill)' ;;  # Catch2 wildcards only lead or trail
  all) golden_spec='[golden]' ;;
  *) echo "neon-check: KAA_NEON_GOLDEN must be prefill or all" >&2; exit 2 ;;
esac
# The neon GEMVs still contain their prefetches (tests/tools/check_prefetch.py says why).
t=$(now)
names+=(prefetch)
if python3 "$root/tests/tools/check_prefetch.py" --isa neon aarch64-linux-gnu-objdump \
    "$build"/kernels/CMakeFiles/kaa_kernels_neon.dir/cpu/neon/*.o >"$build/neon-check-prefetch.log" 2>&1; then
  results+=(ok)
else
  results+=(FAILED)
  failed=1
  cat "$build/neon-check-prefetch.log"
fi
times+=("$(elapsed "$t" "$(now)")")
summaries+=("$(grep -c '^ok' "$build/neon-check-prefetch.log" || true) rules hold")
run neon neon max "[kernels],[engine],$golden_spec"
run neon-armv8.0 neon cortex-a72 "[kernels],[engine]"
run scalar scalar max "[kernels],[engine]"

echo
echo "neon-check summary (build ${t_build}s, total $(elapsed "$t0" "$(now)")s):"
for i in "${!names[@]}"; do
  printf '  %-12s %-14s %7ss  %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}" "${summaries[$i]}"
done
exit $failed
