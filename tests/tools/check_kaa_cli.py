#!/usr/bin/env python3
"""End-to-end checks of kaa-cli on the shared tiny model:
 1. `kaa-cli -m tiny-falcon-mamba-q8_0.gguf -p "Hello how are you?" -n 16 --temp 0` prints
    the prompt followed by the golden greedy continuation's text;
 2. a piped two-turn chat equals a chat saved with --state-save after the first turn
    and resumed with --state-load for the second;
 3. without -m it still generates (it picks a default model and says so on stderr).

usage: check_kaa_cli.py KAA_CLI KAA_TOKENIZE SHARED_DIR
Prints "KAA_SKIP: ..." when SHARED_DIR has no models."""
import json, os, subprocess, sys, tempfile


def run(cmd, stdin=None):
    r = subprocess.run(cmd, input=stdin, capture_output=True)
    if r.returncode != 0:
        sys.exit("FAILED (exit %d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr.decode("utf-8", "replace")))
    return r.stdout.decode("utf-8"), r.stderr.decode("utf-8", "replace")


def main():
    cli, tokenize, shared = sys.argv[1:4]
    model = os.path.join(shared, "models", "tiny-falcon-mamba-q8_0.gguf")
    if not os.path.exists(model):
        print("KAA_SKIP: shared test data not found at %s" % shared)
        return
    golden = json.load(open(os.path.join(shared, "golden", "tiny-falcon-mamba-q8_0.json")))
    case = next(c for c in golden["cases"] if c["name"] == "hello")
    cont = case["tokens"][case["n_prompt"]:]
    expected, _ = run([tokenize, "-m", model, "--decode", ",".join(map(str, cont))])
    out, _ = run([cli, "-m", model, "-p", case["text"], "-n", "16", "--temp", "0"])
    if not out.startswith(case["text"] + expected):
        sys.exit("FAILED: kaa-cli printed %r, expected it to start with %r" % (out, case["text"] + expected))
    print("golden continuation reproduced: %r" % expected)

    with tempfile.TemporaryDirectory() as tmp:
        st = os.path.join(tmp, "chat.kaastate")
        args = [cli, "-m", model, "--chat", "--temp", "0", "-n", "12", "--system", "Be brief."]
        both, _ = run(args, b"Hello!\nHow are you?\n")
        first, _ = run(args + ["--state-save", st], b"Hello!\n")
        second, _ = run([cli, "-m", model, "--chat", "--temp", "0", "-n", "12", "--state-load", st], b"How are you?\n")
        if first + second != both:
            sys.exit("FAILED: resumed chat differs:\n%r\nvs\n%r" % (first + second, both))
        print("chat resumed from --state-load continues identically (%d bytes of replies)" % len(both))

    out, err = run([cli, "-p", "Hello", "-n", "8", "--temp", "0"])
    if "no -m given" not in err or not out.startswith("Hello"):
        sys.exit("FAILED: kaa-cli without -m: stdout %r stderr %r" % (out, err))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
