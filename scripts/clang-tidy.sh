#!/usr/bin/env bash
# Runs clang-tidy with the repository's .clang-tidy on every C++ source of lib/ and
# bindings/ (the C ABI, and the Python module when pybind11 is installed) and fails on
# any warning. Headers of lib/, bindings/ and include/kaa/ are checked through them.
#
#   scripts/clang-tidy.sh [FILE...]      (default: all of lib/ and bindings/)
#
# Environment: KAA_TIDY_BUILD (default build-tidy: a configure-only folder holding
# compile_commands.json), KAA_TIDY_JOBS (default: all cores), CLANG_TIDY (default
# clang-tidy; version 14 is what the configuration is tuned for).
# Needs: clang, clang-tidy (Debian: clang clang-tidy), and pybind11-dev for bindings/python.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${KAA_TIDY_BUILD:-$root/build-tidy}
jobs=${KAA_TIDY_JOBS:-$(nproc)}
tidy=${CLANG_TIDY:-clang-tidy}
command -v "$tidy" >/dev/null || { echo "clang-tidy.sh: $tidy not found (apt-get install clang-tidy)"; exit 2; }

configure() {
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DKAA_BUILD_TESTS=OFF -DKAA_BUILD_EXAMPLES=OFF "$@" >/dev/null
}
# The Python module needs pybind11; without it bindings/python is left out, loudly.
if ! configure -DKAA_BUILD_PYTHON=ON 2>/dev/null; then
  echo "clang-tidy.sh: pybind11 not found (apt-get install pybind11-dev): bindings/python is NOT checked"
  rm -f "$build/CMakeCache.txt"
  configure -DKAA_BUILD_PYTHON=OFF
fi

if [[ $# -gt 0 ]]; then
  files=("$@")
else
  mapfile -t files < <(python3 - "$build/compile_commands.json" "$root" <<'PY'
import json, sys
root = sys.argv[2].rstrip("/") + "/"
seen = set()
for entry in json.load(open(sys.argv[1])):
    f = entry["file"]
    if (f.startswith(root + "lib/") or f.startswith(root + "bindings/")) and f not in seen:
        seen.add(f)
        print(f)
PY
  )
fi
echo "clang-tidy.sh: ${#files[@]} files, $jobs jobs, $("$tidy" --version | grep -o 'version [0-9.]*')"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# --quiet drops the per-file "N warnings generated" chatter; the rest is findings.
printf '%s\n' "${files[@]}" |
  xargs -P "$jobs" -n 1 "$tidy" -p "$build" --quiet --warnings-as-errors='*' >"$log" 2>&1 || status=$?
grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|NOLINT' "$log" || true
n=$(grep -cE 'error: .*\[[a-z0-9.,-]+\]$' "$log" || true)
if [[ $status -ne 0 ]]; then
  echo "clang-tidy.sh: FAILED ($n findings)"
  exit 1
fi
echo "clang-tidy.sh: clean"
