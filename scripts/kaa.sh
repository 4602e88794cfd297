#!/usr/bin/env bash
# kaa.sh — one entry point for a fresh Debian machine (run as root, or with sudo):
#   scripts/kaa.sh setup          install build dependencies (apt)
#   scripts/kaa.sh build          configure + build into build/ (Release)
#   scripts/kaa.sh test           setup + build + the whole test suite (ctest)
#   scripts/kaa.sh run [ARGS...]  setup + build + generate text with kaa-cli ARGS
#                                 (no -m: a small model is built and used)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${KAA_BUILD_DIR:-$ROOT/build}
JOBS=${KAA_JOBS:-$(nproc 2>/dev/null || echo 2)}

APT_PACKAGES=(build-essential cmake ninja-build ccache pkg-config
              libeigen3-dev libxsimd-dev catch2 nlohmann-json3-dev)

setup() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        local SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO=sudo
        echo "kaa: installing ${missing[*]}" >&2
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

build() {
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
    cmake --build "$BUILD" -j "$JOBS"
}

cmd=${1:-test}
shift || true
case "$cmd" in
    setup) setup ;;
    build) setup; build "$@" ;;
    test)
        setup
        build
        cd "$BUILD" && ctest --output-on-failure -j "$JOBS" "$@"
        ;;
    run)
        setup
        build
        exec "$BUILD/bin/kaa-cli" "$@"
        ;;
    *) echo "usage: scripts/kaa.sh setup|build|test|run [ARGS...]" >&2; exit 2 ;;
esac
