#!/usr/bin/env bash
# python-test.sh — build the kaa Python package into a virtualenv and run its pytest suite.
#
# Usage: scripts/python-test.sh [pytest arguments...]
#
# Environment:
#   PYTHON          interpreter that creates the virtualenv (default: python3)
#   KAA_PY_VENV     the virtualenv (default: build-python/venv beside the sources)
#   KAA_SHARED_DIR  test models and goldens (default: ../shared); tests skip without them
#
# What it does: creates the virtualenv once, installs the build requirements and test
# tools into it (only when missing), then `pip install`s the package from the checkout
# and runs pytest on bindings/python/tests. Second runs are fast: the virtualenv is
# reused, the build runs without isolation in the persistent folder
# build-python/build/<wheel tag> (incremental CMake + Ninja, and ccache when present),
# and pip's download cache is kept. Needs on Debian: python3-venv, python3-dev, cmake,
# a C++17 compiler, libeigen3-dev, libxsimd-dev (and network access to PyPI once).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
venv="${KAA_PY_VENV:-$here/build-python/venv}"
build_dir="$here/build-python/build/{wheel_tag}"

if [ ! -x "$venv/bin/python" ]; then
  echo "python-test: creating $venv"
  "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"

# Build requirements (pyproject.toml's [build-system]) and test tools, once.
if ! "$vpy" -c "import scikit_build_core, pybind11, numpy, pytest" 2>/dev/null; then
  "$vpy" -m pip install --quiet "scikit-build-core>=0.10" "pybind11>=2.12" numpy pytest
fi
start=$(date +%s)
"$vpy" -m pip install --quiet --no-build-isolation --no-deps \
  --config-settings=build-dir="$build_dir" "$here"
echo "python-test: package built and installed in $(( $(date +%s) - start )) s"

# Run from the repository root: the tests import the installed package (the source folder
# bindings/python/kaa lacks the compiled _kaa module and is not on sys.path).
cd "$here"
# A hang must not eat the CI budget: after 120 s in one test faulthandler prints every
# thread's Python stack, and the whole run is killed after 15 minutes (it takes ~10 s).
exec timeout 900 "$vpy" -m pytest -p no:cacheprovider -o faulthandler_timeout=120 bindings/python/tests "$@"
