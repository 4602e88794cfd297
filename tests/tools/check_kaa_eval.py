#!/usr/bin/env python3
"""Runs kaa-eval on a shared model's golden cases (prefill and --decode) and checks the
written logits against the golden .f32 rows (f32 tolerance) and each other (1e-4).
Also checks --state-out/--state-in: evaluating a prompt in two calls through a saved
state gives the same last logits as one call.

usage: check_kaa_eval.py KAA_EVAL SHARED_DIR MODEL_NAME
Prints "KAA_SKIP: ..." and exits 0 when SHARED_DIR has no models.
Standard library only (no numpy), so it runs on a fresh machine."""
import json, os, struct, subprocess, sys, tempfile

F32_TOL = 1e-3          # ../shared/README.md: f32 activations
PREFILL_VS_DECODE = 1e-4


def read_f32(path):
    with open(path, "rb") as f:
        data = f.read()
    return struct.unpack("<%df" % (len(data) // 4), data)


def run_eval(tool, model, tokens, out, *extra):
    cmd = [tool, "-m", model, "--tokens", ",".join(map(str, tokens)), "--logits", out, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("kaa-eval failed: %s\n%s" % (" ".join(cmd), r.stderr))
    return read_f32(out)


def main():
    tool, shared, name = sys.argv[1:4]
    if not os.path.isdir(os.path.join(shared, "models")):
        print("KAA_SKIP: shared test data not found at %s" % shared)
        return
    golden = json.load(open(os.path.join(shared, "golden", name + ".json")))
    model = os.path.join(shared, "models", golden["model"])
    V = golden["n_vocab"]
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "logits.f32")
        for case in golden["cases"]:
            toks = case["tokens"]
            ref = read_f32(os.path.join(shared, "golden", case["logits_file"]))
            first = case["logits_first_position"]
            pre = run_eval(tool, model, toks, out)
            dec = run_eval(tool, model, toks, out, "--decode")
            assert len(pre) == len(toks) * V, "wrong logits size"
            d_ref = max(abs(pre[(first) * V + i] - ref[i]) for i in range(len(ref)))
            d_pd = max(abs(a - b) for a, b in zip(pre, dec))
            worst = max(worst, d_ref)
            print("%s %s: max |logit - golden| %.3g, prefill vs decode %.3g" % (name, case["name"], d_ref, d_pd))
            if d_ref > F32_TOL or d_pd > PREFILL_VS_DECODE:
                sys.exit("FAILED: %s case %s out of tolerance" % (name, case["name"]))
            # state round trip through a file: first half, save, second half from it
            half = len(toks) // 2
            if half >= 1:
                st = os.path.join(tmp, "s.kaastate")
                run_eval(tool, model, toks[:half], out, "--state-out", st)
                rest = run_eval(tool, model, toks[half:], out, "--state-in", st)
                d_st = max(abs(rest[-V + i] - pre[-V + i]) for i in range(V))
                if d_st > PREFILL_VS_DECODE:
                    sys.exit("FAILED: %s case %s resumed from a state differs by %g" % (name, case["name"], d_st))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
