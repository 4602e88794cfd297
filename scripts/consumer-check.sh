#!/usr/bin/env bash
# consumer-check.sh — builds kaa, installs it into a temporary prefix and builds the
# consumer project tests/consumer against that prefix, both ways an application would:
#   1. CMake: find_package(kaa) with CMAKE_PREFIX_PATH = the prefix (kaa::kaa, kaa::kaa_static);
#   2. pkg-config: a plain compiler command line with $(pkg-config --cflags --libs kaa)
#      (shared), and --static with libkaa.a.
# Each program then runs on the shared tiny model and must print the tokens and greedy
# continuation of the goldens. Exits non-zero on any failure.
#
# Usage: scripts/consumer-check.sh
# Environment:
#   KAA_CONSUMER_BUILD_DIR  kaa's build folder (default: build-consumer beside the sources)
#   KAA_SHARED_DIR          test models (default: ../shared); without the model the
#                           programs are built but not run (KAA_SKIP)
#   CC, CXX                 compilers for the pkg-config builds (default: cc, c++)
#   KAA_KEEP_TMP=1          keep the temporary prefix and consumer builds
# Needs (scripts/kaa.sh setup): cmake, ninja, a C and C++ compiler, pkg-config.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KAA_CONSUMER_BUILD_DIR:-$here/build-consumer}"
shared="${KAA_SHARED_DIR:-$here/../shared}"
model="$shared/models/tiny-falcon-mamba-q8_0.gguf"
cc="${CC:-cc}"
cxx="${CXX:-c++}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kaa-consumer.XXXXXX")"
if [ "${KAA_KEEP_TMP:-0}" = 1 ]; then
  echo "consumer-check: keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
prefix="$tmp/prefix"
fail() { echo "consumer-check: FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

# ---- build and install kaa (the library only) ----------------------------------------
step "build kaa in $build"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DKAA_BUILD_TESTS=OFF -DKAA_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j "${KAA_JOBS:-2}"
step "install into $prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null

# ---- the installed tree ----------------------------------------------------------------
pcfile="$(find "$prefix" -name kaa.pc -path '*/pkgconfig/*' | head -n 1)"
[ -n "$pcfile" ] || fail "no kaa.pc installed"
libdir="$(dirname "$(dirname "$pcfile")")"
for f in include/kaa/kaa.h include/kaa/kaa.hpp; do
  [ -f "$prefix/$f" ] || fail "$f not installed"
done
for f in libkaa.a libkaa.so; do
  [ -e "$libdir/$f" ] || fail "$libdir/$f not installed"
done
[ -f "$(find "$prefix" -name kaa-config.cmake | head -n 1)" ] || fail "kaa-config.cmake not installed"
[ -f "$(find "$prefix" -name kaa-config-version.cmake | head -n 1)" ] || fail "kaa-config-version.cmake not installed"
soname="$(objdump -p "$libdir/libkaa.so" | awk '$1 == "SONAME" { print $2 }')"
case "$soname" in
  libkaa.so.[0-9]*) ;;
  *) fail "libkaa.so has no versioned SONAME (got '$soname')" ;;
esac
[ -e "$libdir/$soname" ] || fail "the SONAME link $soname is missing"
echo "SONAME $soname; libdir $libdir"

# Every public header compiles on its own with only the prefix on the include path, and
# includes only kaa/ headers and the standard library: nothing private (lib/, kernels/),
# no Eigen or xsimd. kaa.h also as strict C99.
step "headers are self-contained"
for h in "$prefix"/include/kaa/*.hpp "$prefix"/include/kaa/kaa.h; do
  name="kaa/$(basename "$h")"
  echo "#include <$name>" |
    "$cxx" -std=c++17 -Wall -Wextra -pedantic -Werror -fsyntax-only -I "$prefix/include" -x c++ - ||
    fail "$name does not compile alone"
  foreign="$(grep -E '^[[:space:]]*#[[:space:]]*include' "$h" | grep -v -E '[<"]kaa/[a-z_]+\.hp?p?[>"]' |
             grep -E '/|\.h[>"]' | grep -v -E '<std(bool|def|int)\.h>' || true)"
  [ -z "$foreign" ] || fail "$name includes non-public headers: $foreign"
done
printf '#include <kaa/kaa.h>\n' |
  "$cc" -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -I "$prefix/include" -x c - ||
  fail "kaa.h is not strict C99"

# ---- 1. CMake: find_package(kaa) ------------------------------------------------------
step "CMake consumer (find_package)"
cmake -S "$here/tests/consumer" -B "$tmp/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON >/dev/null
cmake --build "$tmp/cmake"

# ---- 2. pkg-config, plain compiler command lines --------------------------------------
step "pkg-config consumer (plain command lines)"
export PKG_CONFIG_PATH="$(dirname "$pcfile")"
pkg-config --exists --print-errors kaa || fail "pkg-config does not find kaa"
echo "kaa $(pkg-config --modversion kaa): $(pkg-config --cflags --libs kaa)"
pc_libdir="$(pkg-config --variable=libdir kaa)"
mkdir -p "$tmp/pc"
# shellcheck disable=SC2046  # pkg-config output is meant to be split into words
"$cxx" -std=c++17 -O2 -Wall -Wextra -Werror "$here/tests/consumer/consumer.cpp" -o "$tmp/pc/kaa-consumer-cpp" \
  $(pkg-config --cflags --libs kaa) -Wl,-rpath,"$pc_libdir"
# shellcheck disable=SC2046
"$cc" -std=c99 -O2 -Wall -Wextra -pedantic -Werror "$here/tests/consumer/consumer.c" -o "$tmp/pc/kaa-consumer-c" \
  $(pkg-config --cflags --libs kaa) -Wl,-rpath,"$pc_libdir"
# Static: libkaa.a (GNU ld's -l:FILE picks the archive beside the .so) plus Libs.private,
# the C++ runtime a C compiler driver does not add by itself.
static_libs="$(pkg-config --static --libs kaa | sed 's/-lkaa\b/-l:libkaa.a/')"
echo "static: $static_libs"
# shellcheck disable=SC2086
"$cc" -std=c99 -O2 -Wall -Wextra -pedantic -Werror "$here/tests/consumer/consumer.c" -o "$tmp/pc/kaa-consumer-c-static" \
  $(pkg-config --cflags kaa) $static_libs

# ---- 3. the programs of docs/QUICKSTART.md, extracted as written --------------------------
# A code block right after a line "<!-- quickstart:NAME -->" is the file NAME.
step "docs/QUICKSTART.md snippets"
mkdir -p "$tmp/quickstart"
awk -v dir="$tmp/quickstart" '
  /^<!-- quickstart:[^ ]+ -->$/ { name = $2; sub(/^quickstart:/, "", name); next }
  name != "" && !inside && /^```/ { inside = 1; next }
  inside && /^```$/ { inside = 0; close(dir "/" name); name = ""; next }
  inside { print > (dir "/" name) }' "$here/docs/QUICKSTART.md"
for f in hello.cpp hello.c CMakeLists.txt; do
  [ -s "$tmp/quickstart/$f" ] || fail "docs/QUICKSTART.md has no $f snippet"
done
cmake -S "$tmp/quickstart" -B "$tmp/quickstart/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/quickstart/build"
# shellcheck disable=SC2046
"$cc" -std=c99 -O2 -Wall -Wextra -pedantic -Werror "$tmp/quickstart/hello.c" -o "$tmp/quickstart/hello-c" \
  $(pkg-config --cflags --libs kaa) -Wl,-rpath,"$pc_libdir"
# shellcheck disable=SC2046
"$cxx" -std=c++17 -O2 -Wall -Wextra -Werror "$tmp/quickstart/hello.cpp" -o "$tmp/quickstart/hello-cpp" \
  $(pkg-config --cflags --libs kaa) -Wl,-rpath,"$pc_libdir"

# ---- run them ---------------------------------------------------------------------------
programs=("$tmp"/cmake/kaa-consumer-cpp "$tmp"/cmake/kaa-consumer-c "$tmp"/cmake/kaa-consumer-c-static
          "$tmp"/pc/kaa-consumer-cpp "$tmp"/pc/kaa-consumer-c "$tmp"/pc/kaa-consumer-c-static)
for p in "${programs[@]}"; do [ -x "$p" ] || fail "$p was not built"; done

# The shared builds must load libkaa.so from the prefix, not from the build tree.
for p in "$tmp"/cmake/kaa-consumer-cpp "$tmp"/cmake/kaa-consumer-c "$tmp"/pc/kaa-consumer-cpp "$tmp"/pc/kaa-consumer-c; do
  where="$(env -u LD_LIBRARY_PATH ldd "$p" | awk '$1 ~ /^libkaa\.so/ { print $3 }')"
  [ "$(readlink -f "$where")" = "$(readlink -f "$libdir/$soname")" ] ||
    fail "$p loads libkaa from '$where', not from the prefix"
done
for p in "$tmp"/cmake/kaa-consumer-c-static "$tmp"/pc/kaa-consumer-c-static; do
  if env -u LD_LIBRARY_PATH ldd "$p" | grep -q libkaa; then fail "$p is not linked statically"; fi
done

if [ ! -f "$model" ]; then
  echo "KAA_SKIP: $model not found (set KAA_SHARED_DIR): built and installed, not run"
  exit 0
fi

# ../shared/golden/tiny-falcon-mamba-q8_0.json, case "hello": the prompt's tokens and the
# greedy continuation (exact precision matches the golden argmax: every margin > 0.03).
expected="n_vocab: 65024
tokens: 9856 672 362 299 42
greedy: 21905 14010 57639 36172 17367 60508 64669 10259"
step "run on $model"
first=""
for p in "${programs[@]}"; do
  out="$(env -u LD_LIBRARY_PATH "$p" "$model")" || fail "$p exited with $?"
  echo "$p:"
  echo "$out" | sed 's/^/    /'
  [ "$(echo "$out" | head -n 3)" = "$expected" ] || fail "$p printed something else than the goldens"
  [ -z "$first" ] && first="$out"
  [ "$out" = "$first" ] || fail "$p disagrees with ${programs[0]}"
done
step "run the QUICKSTART programs"
for p in "$tmp/quickstart/build/hello" "$tmp/quickstart/hello-cpp" "$tmp/quickstart/hello-c"; do
  out="$(cd "$tmp/quickstart" && env -u LD_LIBRARY_PATH "$p" "$model")" || fail "$p exited with $?"
  echo "$out" | sed 's/^/    /'
  [ -s "$tmp/quickstart/hello.kaastate" ] || fail "$p saved no state"
  rm -f "$tmp/quickstart/hello.kaastate"
done
echo "consumer-check: OK (${#programs[@]} programs: CMake and pkg-config, C and C++, shared and static)"
