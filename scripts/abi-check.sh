#!/usr/bin/env bash
# abi-check.sh — checks that libkaa.so keeps the C ABI of the stored baseline.
#
# Usage:
#   scripts/abi-check.sh            build libkaa.so (RelWithDebInfo, -g) and compare it with
#                                   docs/abi/libkaa.abi; exit 1 on an incompatible change
#   scripts/abi-check.sh --update   build and (re)write the baseline: after adding functions
#                                   or struct fields on purpose, or with a SOVERSION bump
#
# Environment: KAA_ABI_BUILD_DIR (default: build-abi-check beside the sources).
# Needs: abigail-tools (abidw, abidiff), CMake, a C++17 compiler, libeigen3-dev, libxsimd-dev.
#
# What is compared: only the C ABI — the kaa_* functions of include/kaa/kaa.h and every
# type they reach. The C++ API (namespace kaa) is exported too, but it is not ABI-stable
# by design (std::string, std::vector, std::function and inline members in its
# signatures): C++ programs are rebuilt against the headers of the version they use, and
# the SONAME (libkaa.so.MAJOR) guards the rest. docs/abi/c-abi.suppr drops every symbol
# not named kaa_* from both the baseline and the new library, and abidw reads the headers
# from a folder holding only kaa.h, so C++ types never enter the picture.
#
# Verdict (abidiff's exit status is a bit set: 1 error, 2 usage, 4 change, 8 incompatible):
#   - no change: passes;
#   - only additions (new kaa_* functions): passes and lists them; run --update to record;
#   - a removed function (abidiff's "incompatible"): fails;
#   - any change to an existing function or a type it reaches (a parameter, a struct
#     layout, an enum): fails until reviewed. Appending a field to a struct that starts
#     with struct_size is compatible by kaa.h's rules, but abidiff cannot know that, so a
#     person confirms it by running --update and committing the new baseline;
#   - abidiff itself failing: fails.
# The baseline describes x86-64 Linux; on another architecture the check is skipped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KAA_ABI_BUILD_DIR:-$here/build-abi-check}"
baseline="$here/docs/abi/libkaa.abi"
suppr="$here/docs/abi/c-abi.suppr"
mode="${1:-check}"

case "$mode" in
  check|--check) mode=check ;;
  --update) mode=update ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

for tool in abidw abidiff cmake; do
  command -v "$tool" >/dev/null || { echo "abi-check: $tool not found (apt-get install abigail-tools cmake)" >&2; exit 2; }
done
if [ "$(uname -m)" != "x86_64" ]; then
  echo "abi-check: skipped: the baseline describes x86_64, this is $(uname -m)"
  exit 0
fi

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# Only libkaa.so is needed: no tests, no tools (so no Catch2 either).
mkdir -p "$build"
log="$build/abi-check-build.log"
if ! { cmake -S "$here" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DKAA_BUILD_TESTS=OFF -DKAA_BUILD_EXAMPLES=OFF &&
       cmake --build "$build" --target kaa_shared -j "$(nproc)"; } >"$log" 2>&1; then
  echo "abi-check: building libkaa.so failed (full log: $log):" >&2
  grep -E "error|FAILED" "$log" | head -20 >&2 || tail -20 "$log" >&2
  exit 2
fi
lib="$(readlink -f "$build/lib/libkaa.so")"

# abidw takes a folder of public headers; give it one with kaa.h alone.
headers="$(mktemp -d)"
trap 'rm -rf "$headers"' EXIT
cp "$here/include/kaa/kaa.h" "$headers/"

current="$headers/libkaa.current.abi"
# No paths in the output, so the baseline is the same on every machine.
abidw --headers-dir "$headers" --drop-private-types --suppressions "$suppr" \
      --no-corpus-path --no-comp-dir-path --short-locs --out-file "$current" "$lib"

if [ "$mode" = update ]; then
  mkdir -p "$(dirname "$baseline")"
  cp "$current" "$baseline"
  echo "abi-check: baseline written to ${baseline#$here/} ($(grep -c '<elf-symbol name=' "$baseline") symbols)"
  exit 0
fi

[ -f "$baseline" ] || { echo "abi-check: no baseline at $baseline (run $0 --update)" >&2; exit 2; }

set +e
# First ignoring additions: anything left is a change to what the baseline already had.
report="$(abidiff --suppressions "$suppr" --no-added-syms "$baseline" "$current" 2>&1)"
status=$?
report_all="$(abidiff --suppressions "$suppr" "$baseline" "$current" 2>&1)"
status_all=$?
set -e

if (( (status | status_all) & 3 )); then
  echo "abi-check: abidiff failed (status $status/$status_all):" >&2
  echo "$report_all" >&2
  exit 1
fi
if (( status & 8 )); then
  echo "abi-check: INCOMPATIBLE change to the C ABI against ${baseline#$here/}:" >&2
  echo "$report" >&2
  echo "abi-check: restore the old declarations (add new functions instead), or bump the" >&2
  echo "           SOVERSION and run $0 --update." >&2
  exit 1
fi
if (( status & 4 )); then
  echo "abi-check: existing C ABI declarations changed against ${baseline#$here/}:" >&2
  echo "$report" >&2
  echo "abi-check: this fails until reviewed. Appending a field to a struct that begins with" >&2
  echo "           struct_size, or a value to an enum, is compatible by kaa.h's rules: then run" >&2
  echo "           $0 --update and commit the baseline. Anything else breaks callers." >&2
  exit 1
fi
if (( status_all & 4 )); then
  echo "abi-check: only additions to the C ABI (compatible); run $0 --update to record them:"
  echo "$report_all"
  exit 0
fi
echo "abi-check: C ABI unchanged against ${baseline#$here/}"
