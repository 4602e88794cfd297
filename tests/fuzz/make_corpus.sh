#!/usr/bin/env bash
# Regenerates the committed seed corpora under tests/fuzz/corpus/ with fuzz_make_corpus
# (tests/fuzz/make_corpus.cpp). Run it after changing a target's input format or the
# tiny models in fuzz_support.hpp (their fingerprints are inside the state seeds).
#   tests/fuzz/make_corpus.sh [BUILD_DIR]     (default: build-fuzz, as scripts/fuzz.sh uses)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-fuzz}
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKAA_FUZZ=ON \
        -DKAA_BUILD_EXAMPLES=OFF >/dev/null
fi
cmake --build "$build" --target fuzz_make_corpus
# Inputs named regression-* are crashes found by fuzzing, kept by hand: never delete them.
if [[ -d $root/tests/fuzz/corpus ]]; then
  find "$root/tests/fuzz/corpus" -type f ! -name 'regression-*' -delete
fi
"$build/bin/fuzz_make_corpus" "$root/tests/fuzz/corpus"
du -sh "$root/tests/fuzz/corpus"
