#!/usr/bin/env bash
# gpu-check.sh — the CUDA backend's whole verdict on a machine with an NVIDIA GPU, in one
# run of under 8 minutes: build (or use prebuilt binaries), the CUDA tests (the shared
# golden suite on the GPU, CPU-vs-GPU agreement on random shapes, state round trips,
# threads, the kernels against the scalar reference), kernel timings with CUDA events,
# kaa-bench on a synthetic falcon-mamba-7b-shape Q8_0 model (64 layers: decode, pp2048,
# 64 sessions batched; exact precision; a KAA_CUDA_PROFILE per-kernel table), a plain
# PyTorch selective scan as a baseline, compute-sanitizer memcheck on the kernel tests and
# Nsight Compute on the scan (where the runtime allows them), and where the host CPU has
# AMX-INT8, the AMX prefill kernel's test and speed. Every step has a time
# limit; a failed step is reported and the script goes on to the summary. On an H200 the
# whole run takes about 100 s (docs/PERFORMANCE.md holds its figures).
#
# The GPU machine needs CUDA (nvcc), CMake, ninja or make, a C++ compiler; no network.
# Eigen, xsimd, Catch2 and nlohmann_json are header-only: they come from a bundle made on
# a machine that has them (or the system's are used). Typical use:
#
#   here (any machine with the packages, and nvcc to prebuild):
#     cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DKAA_CUDA=ON
#     ninja -C build-cuda kaa_tests kaa-bench kaa-synth
#     scripts/gpu-check.sh --prepare .gpu-bundle     # deps, a shared/ subset, the binaries
#   on the GPU machine (the bundle carried along; it is git-ignored via .git/info/exclude):
#     scripts/gpu-check.sh --bundle .gpu-bundle [--out DIR]
#
# Options on the GPU machine:
#   --bundle DIR   deps.tar.xz (headers + CMake configs), shared/ (models, goldens), bin/
#                  (prebuilt kaa_tests, kaa-bench, kaa-synth: used if they run here)
#   --deps DIR     a prefix holding the header packages (instead of the bundle's)
#   --shared DIR   test models and goldens (default: the bundle's, else ../shared)
#   --build        build here even if prebuilt binaries run
#   --out DIR      where the full log goes, gpu-check.log (default: $OUT if set, else
#                  /tmp/kaa-gpu-check); the console gets each step's tail and the summary
#   --quick        skip the 64-layer benchmark (tests and kernel timings only)
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)

# ---- --prepare: make the bundle (on a machine with the packages) -------------------------------
prepare() {
    local dir=$1 tmp
    mkdir -p "$dir"/shared/models "$dir"/shared/golden "$dir"/bin
    dir=$(cd "$dir" && pwd)
    tmp=$(mktemp -d)
    # Header-only dependencies with their CMake package files, paths as under /usr.
    local p
    # (Debian's Catch2 v2 package declares a Catch2WithMain library its config checks for.)
    for p in /usr/include/eigen3 /usr/include/xsimd /usr/include/catch2 /usr/include/nlohmann \
             /usr/share/eigen3/cmake /usr/lib/cmake/Catch2 /usr/lib/libCatch2WithMain.a /usr/share/cmake/nlohmann_json \
             /usr/lib/"$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)"/cmake/xsimd; do
        if [ -e "$p" ]; then mkdir -p "$tmp/usr$(dirname "${p#/usr}")"; cp -r "$p" "$tmp/usr${p#/usr}"; \
        else echo "prepare: $p not found (install the package that provides it)"; fi
    done
    tar -C "$tmp" -cJf "$dir/deps.tar.xz" usr && rm -rf "$tmp"
    chmod -R u+w "$dir"
    # The Q8_0 models and their goldens (the other types are checked against the CPU on
    # synthetic models; all of shared/ would exceed what a device run carries).
    local shared=${KAA_SHARED_DIR:-$here/../shared} name
    for name in tiny-falcon-mamba-q8_0 tiny-mamba-q8_0; do
        if [ -f "$shared/golden/$name.json" ]; then
            cp -f "$shared/models/$name.gguf" "$dir/shared/models/"
            cp -f "$shared/golden/$name".* "$dir/shared/golden/"
        fi
    done
    for p in kaa_tests kaa-bench kaa-synth; do
        [ -x "$here/build-cuda/bin/$p" ] && cp -f "$here/build-cuda/bin/$p" "$dir/bin/"
    done
    # Carried paths must be ignored by git.
    local rel=${dir#"$here"/}
    if [ "$rel" != "$dir" ] && ! grep -qx "/$rel/" "$here/.git/info/exclude" 2>/dev/null; then
        echo "/$rel/" >> "$here/.git/info/exclude"
    fi
    du -sh "$dir"
    ls "$dir/bin"
}

bundle="" deps="" shared="" force_build=0 quick=0 out=${OUT:-/tmp/kaa-gpu-check}
while [ $# -gt 0 ]; do
    case $1 in
        --prepare) prepare "$2"; exit $? ;;
        --bundle) bundle=$(cd "$2" && pwd); shift ;;
        --deps) deps=$2; shift ;;
        --shared) shared=$2; shift ;;
        --build) force_build=1 ;;
        --out) out=$2; shift ;;
        --quick) quick=1 ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "gpu-check: unknown option $1"; exit 2 ;;
    esac
    shift
done
mkdir -p "$out"
log=$out/gpu-check.log
steps=$(mktemp -d /tmp/kaa-gpu-check.XXXXXX)  # one log per step, appended whole to $log
: > "$log"
say() { echo "$@" | tee -a "$log"; }

# ---- steps -------------------------------------------------------------------------------------
# Each step gets its own limit, cut to what is left of the whole run's (the summary needs a
# few seconds at the end): the script ends in time whatever hangs.
budget=${KAA_GPU_CHECK_BUDGET:-460}
declare -a summary
elapsed() { echo $(( $(date +%s) - start )); }
# run_step NAME LIMIT_SECONDS COMMAND...: the whole output to $log, its tail to the console
run_step() {
    local name=$1 limit=$2 t0 rc left
    shift 2
    left=$(( budget - $(elapsed) ))
    if [ $left -lt 15 ]; then
        summary+=("SKIPPED $name (out of time)")
        return 1
    fi
    [ $limit -gt $left ] && limit=$left
    t0=$(date +%s)
    say "==== [$(elapsed)s] $name (limit ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@" > "$steps/$name.log" 2>&1
    rc=$?
    cat "$steps/$name.log" >> "$log"
    tail -n 25 "$steps/$name.log"
    local took=$(( $(date +%s) - t0 ))
    if [ $rc -eq 0 ]; then summary+=("ok      $name (${took}s)")
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then summary+=("TIMEOUT $name (after ${took}s)")
    else summary+=("FAILED  $name (exit $rc, ${took}s)"); fi
    return $rc
}

say "kaa gpu-check: $(date -u +%FT%TZ) in $here"
run_step gpu 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv

# cuBLAS (prefill matmuls, loaded at run time): the loader's, else the first one found.
if ! ldconfig -p 2> /dev/null | grep -q 'libcublas\.so\.' && [ -z "${KAA_CUBLAS:-}" ]; then
    for f in /usr/local/cuda/lib64/libcublas.so.* $(find /usr /opt -name 'libcublas.so.*' 2> /dev/null | head -5); do
        if [ -f "$f" ]; then export KAA_CUBLAS=$f; break; fi
    done
fi
say "cuBLAS: ${KAA_CUBLAS:-$(ldconfig -p 2> /dev/null | grep -m1 -o '/[^ ]*libcublas\.so\.[0-9]*$' || echo 'none found')}"

# Dependencies: the bundle's, extracted to a prefix.
prefix_args=()
if [ -z "$deps" ] && [ -n "$bundle" ] && [ -f "$bundle/deps.tar.xz" ]; then
    deps=/tmp/kaa-deps
    rm -rf "$deps" && mkdir -p "$deps" && tar -C "$deps" -xJf "$bundle/deps.tar.xz" && deps=$deps/usr
fi
[ -n "$deps" ] && prefix_args=(-DCMAKE_PREFIX_PATH="$deps")
if [ -z "$shared" ]; then
    if [ -n "$bundle" ] && [ -d "$bundle/shared/models" ]; then shared=$bundle/shared; else shared=$here/../shared; fi
fi
export KAA_SHARED_DIR=$shared

# Binaries: prebuilt if they start here, else built.
bin=""
if [ $force_build -eq 0 ] && [ -n "$bundle" ] && [ -x "$bundle/bin/kaa_tests" ]; then
    if "$bundle/bin/kaa_tests" --help > /dev/null 2>&1 && "$bundle/bin/kaa-bench" --help > /dev/null 2>&1; then
        bin=$bundle/bin
        summary+=("ok      prebuilt binaries from $bin")
    else
        summary+=("note    prebuilt binaries do not start here: building")
    fi
fi
if [ -z "$bin" ]; then
    gen=(); command -v ninja > /dev/null && gen=(-G Ninja)
    if run_step configure 90 cmake -S "$here" -B "$here/build-gpu" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DKAA_CUDA=ON \
            -DKAA_SHARED_DIR="$shared" "${prefix_args[@]}" &&
       run_step build 300 cmake --build "$here/build-gpu" -j "$(nproc)" --target kaa_tests kaa-bench kaa-synth; then
        bin=$here/build-gpu/bin
    fi
fi

model=""
if [ -n "$bin" ]; then
    run_step tests 150 "$bin/kaa_tests" "[cuda]" -d yes
    run_step kernels 90 "$bin/kaa_tests" "[cudabench]" -s
    if [ $quick -eq 0 ]; then
        tmpdir=/tmp
        if [ -d /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt 10000000 ]; then tmpdir=/dev/shm; fi
        model=$tmpdir/kaa-falcon-7b-shape-q8_0.gguf
        run_step synth 150 "$bin/kaa-synth" -o "$model" --falcon-7b-shape --layers 64 --type q8_0 --threads "$(nproc)"
        run_step bench 180 "$bin/kaa-bench" -m "$model" --device cuda -p 2048 -n 64 -b 64 -r 3
        run_step bench_exact 90 "$bin/kaa-bench" -m "$model" --device cuda --exact -p 512 -n 32 -r 2
        # Every launch timed (no decode graphs): where the time goes, per kernel and shape.
        run_step profile 90 env KAA_CUDA_PROFILE=1 "$bin/kaa-bench" -m "$model" --device cuda -p 2048 -n 32 -b 64 -r 1
    fi
    # The host's CPU, where it has AMX-INT8 (kernels/cpu/avx512/matmul_q8_amx.cpp): the tile
    # kernel against the VNNI one, bit for bit, and prefill with and without it (2 threads,
    # like the CPU targets; the 64-layer model, so 4x the reference model's work).
    if grep -qw amx_int8 /proc/cpuinfo; then
        run_step amx_tests 60 "$bin/kaa_tests" "*AMX*" -s
        if [ -n "$model" ] && [ -f "$model" ]; then
            run_step amx_bench 90 "$bin/kaa-bench" -m "$model" -t 2 -p 256 -n 0 -r 3 --no-bw
            run_step vnni_bench 90 env KAA_AMX=0 "$bin/kaa-bench" -m "$model" -t 2 -p 256 -n 0 -r 3 --no-bw
        fi
    else
        summary+=("skip    amx (the host CPU reports no amx_int8)")
    fi
fi

# ---- the PyTorch baseline: a plain selective scan on the same shapes ---------------------------
cat > "$steps/torch_scan.py" << 'EOF'
import torch, torch.nn.functional as F
dev = "cuda"
# device-to-device copy bandwidth: the practical roofline for memory-bound kernels
a = torch.empty(2 << 30, dtype=torch.uint8, device=dev); b = torch.empty_like(a)
b.copy_(a); torch.cuda.synchronize()
e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
e0.record()
for _ in range(5): b.copy_(a)
e1.record(); torch.cuda.synchronize()
print(f"torch: copy bandwidth {2 * a.numel() * 5 / (e0.elapsed_time(e1) * 1e-3) / 1e9:.0f} GB/s (read + write)")
del a, b
def scan(u, dt, bias, A, B, C, D, z, S):
    delta = F.softplus(dt + bias)
    ys = []
    for t in range(u.shape[0]):
        S = S * torch.exp(delta[t, :, None] * A) + (delta[t] * u[t])[:, None] * B[t][None, :]
        ys.append(S @ C[t] + D * u[t])
    return torch.stack(ys) * F.silu(z), S
for T in (2048, 1):
    Dn, N = 8192, 16
    g = torch.Generator(device=dev).manual_seed(0)
    r = lambda *s: torch.randn(*s, device=dev, generator=g)
    args = (r(T, Dn), r(T, Dn) - 2, r(Dn), -torch.rand(Dn, N, device=dev, generator=g) - 0.1, r(T, N), r(T, N), r(Dn), r(T, Dn), r(Dn, N))
    scan(*args); torch.cuda.synchronize()
    e0.record()
    for _ in range(3): scan(*args)
    e1.record(); torch.cuda.synchronize()
    ms = e0.elapsed_time(e1) / 3
    print(f"torch: plain selective scan T={T} d_inner={Dn} d_state={N}: {ms * 1e3:.0f} us")
EOF
if command -v python3 > /dev/null && python3 -c "import torch; assert torch.cuda.is_available()" 2> /dev/null; then
    run_step torch 120 python3 "$steps/torch_scan.py"
else
    summary+=("skip    torch (PyTorch with CUDA not importable)")
fi

# ---- compute-sanitizer memcheck on the kernel tests, with what time is left -------------------
if [ -n "$bin" ] && command -v compute-sanitizer > /dev/null; then
    run_step memcheck 120 compute-sanitizer --tool memcheck --error-exitcode 3 \
        "$bin/kaa_tests" "cuda: kernels match the scalar reference"
fi

# ---- Nsight Compute on the prefill scan (where the runtime lets it read the counters) ----------
if [ -n "$bin" ] && command -v ncu > /dev/null; then
    run_step ncu 60 ncu -k regex:scan_kernel -c 2 --section SpeedOfLight --section Occupancy --section LaunchStats \
        --section WarpStateStats "$bin/kaa_tests" "[cudabench]"
fi

# ---- summary -----------------------------------------------------------------------------------
{
echo
echo "==== summary ($(elapsed)s)"
for s in "${summary[@]}"; do echo "  $s"; done
if [ -f "$steps/tests.log" ]; then
    echo "  tests: $(grep -E 'All tests passed|test cases:' "$steps/tests.log" | tail -1)," \
         "$(grep -c '^KAA_SKIP' "$steps/tests.log") skipped"
    grep -B2 -A12 'FAILED:' "$steps/tests.log" | head -60 | sed 's/^/    /' 
    grep -E '^golden on GPU|^agreement cuda' "$steps/tests.log" | sed 's/^/    /' | head -40
fi
[ -f "$steps/kernels.log" ] && grep '^cudabench:' "$steps/kernels.log" | sed 's/^cudabench: /  kernel /'
[ -f "$steps/torch.log" ] && grep '^torch:' "$steps/torch.log" | sed 's/^/  /'
if [ -f "$steps/profile.log" ]; then
    grep -hE '^(pp|tg)[0-9]' "$steps/profile.log" | sed 's/^/  profiled (no graphs) /'
    grep -A40 "^kaa cuda profile" "$steps/profile.log" | sed 's/^/  /'
fi
[ -f "$steps/ncu.log" ] && grep -E 'scan_kernel|Duration|Throughput|Achieved Occupancy|Registers Per|Stall|Warp Cycles|Issued|==ERR|==WARNING' "$steps/ncu.log" | head -40 | sed 's/^/  ncu: /'
[ -f "$steps/memcheck.log" ] && grep -E 'ERROR SUMMARY|Invalid' "$steps/memcheck.log" | head -8 | sed 's/^/  memcheck: /'
if [ -f "$steps/bench.log" ]; then
    grep -hE '^(pp|tg)[0-9]' "$steps/bench.log" "$steps/bench_exact.log" 2> /dev/null | sed 's/^/  bench /'
    # Targets: decode >= 80% of the HBM roofline (4.8 TB/s / bytes per token), pp2048 >=
    # 20,000 tok/s, 64 sessions >= 20x batch 1.
    python3 - "$steps/bench.log" "$steps/kernels.log" "$steps/torch.log" << 'EOF' 2> /dev/null || true
import re, sys
txt = open(sys.argv[1]).read()
gib = float(re.search(r"([0-9.]+) GiB read per token", txt).group(1))
tok = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\S+)\s+([0-9.]+)", txt, re.M) if m.group(1)[:2] in ("pp", "tg")}
bw = 4.8e12
try:
    bw_copy = float(re.search(r"copy bandwidth (\d+)", open(sys.argv[3]).read()).group(1)) * 1e9
except Exception:
    bw_copy = None
roof = bw / (gib * 2**30)
tg = tok.get("tg64"); pp = tok.get("pp2048"); b64 = tok.get("tg64x64")
if tg: print(f"  decode batch 1: {tg:.0f} tok/s = {100 * tg / roof:.0f}% of the 4.8 TB/s roofline ({roof:.0f} tok/s; target >= 80%)"
             + (f", {100 * tg * gib * 2**30 / bw_copy:.0f}% of the measured copy bandwidth" if bw_copy else ""))
if pp: print(f"  prefill pp2048: {pp:.0f} tok/s (target >= 20000)")
if tg and b64: print(f"  64 sessions: {b64:.0f} tok/s aggregate = {b64 / tg:.1f}x batch 1 (target >= 20x)")
try:
    for line in open(sys.argv[2]):
        if "scan T=2048" in line:
            gbs = float(re.search(r"([0-9.]+) GB/s", line).group(1))
            print(f"  scan T=2048: {gbs:.0f} GB/s = {100 * gbs * 1e9 / bw:.0f}% of 4.8 TB/s (target >= 70%)")
except Exception:
    pass
EOF
fi
} 2>&1 | tee -a "$log"
[ -n "$model" ] && rm -f "$model"
rm -rf "$steps"
echo "full log: $log"
