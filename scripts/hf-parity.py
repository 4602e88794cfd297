#!/usr/bin/env python3
"""hf-parity.py — kaa against transformers on small random Mamba / Falcon-Mamba models.

    python scripts/hf-parity.py [--steps 8] [--types f32,f16,bf16,q8_0] [--engine auto|python|kaa-eval]
                                [--kaa-eval build/bin/kaa-eval] [--work DIR] [--json OUT.json]

Needs torch and transformers (CPU wheels from PyPI are enough) in the interpreter that runs
it; kaa itself is used through its Python bindings when `import kaa` works, else through
the kaa-eval tool (logits of every position written as float32). For each case it

  1. builds a tiny random FalconMambaForCausalLM / MambaForCausalLM with transformers' own
     classes and initialisation, and save_pretrained()s it with a small byte-level BPE
     tokenizer.json;
  2. converts the folder with kaa.convert to every --types;
  3. compares kaa's logits with transformers':
       prompt  - one forward pass over a random prompt vs kaa's prefill (every position);
       decode  - model.generate(greedy, use_cache=True, output_logits=True), i.e. the
                 recurrent cache path step by step, vs kaa evaluating the same tokens one
                 at a time; argmax agreement = kaa picks transformers' greedy token.
Prints max |Δlogit| (over the real vocabulary; padded ids are zero rows in kaa), the scale
max |logit|, argmax agreement, and "same-w": max |Δlogit| against transformers run on the
GGUF's own (dequantized) weights over prompt + generated tokens, which separates kaa's
arithmetic from the rounding of the weights. Exit status 1 when an f32 case exceeds 1e-3.

Semantics that differ (and how kaa handles them) are printed with the results; see
docs/CORRECTNESS.md.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def import_kaa():
    """(kaa package or None, kaa.convert module). The pure-Python converter works without
    the compiled module: when `import kaa` fails for that reason, its modules are loaded
    from the source tree under a stub package."""
    try:
        import kaa  # noqa: F401
        import kaa.convert as conv
        import kaa.gguf_reader  # noqa: F401
        return kaa, conv
    except ImportError:
        pass
    for name in [m for m in sys.modules if m == "kaa" or m.startswith("kaa.")]:
        del sys.modules[name]
    pkg = types.ModuleType("kaa")
    pkg.__path__ = [str(REPO / "bindings" / "python" / "kaa")]
    sys.modules["kaa"] = pkg
    importlib.import_module("kaa.gguf_reader")
    return None, importlib.import_module("kaa.convert")


# ---- the models ----------------------------------------------------------------------------

def byte_tokenizer(folder: Path, n_merges: int = 40) -> int:
    """A byte-level BPE tokenizer.json: 256 byte tokens, a few merges, <|endoftext|>."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    alpha, shift = {}, 0
    for b in range(256):  # GPT-2's byte -> printable character map
        if b in keep:
            alpha[b] = chr(b)
        else:
            alpha[b] = chr(256 + shift)
            shift += 1
    vocab = {alpha[b]: b for b in range(256)}
    letters = "etaoinshrdlu"
    merges = []
    for a in letters:
        for b in letters:
            if len(merges) < n_merges and a + b not in vocab:
                merges.append([a, b])
                vocab[a + b] = len(vocab)
    eos = len(vocab)
    vocab["<|endoftext|>"] = eos
    tok = {"version": "1.0",
           "added_tokens": [{"id": eos, "content": "<|endoftext|>", "special": True, "single_word": False,
                             "lstrip": False, "rstrip": False, "normalized": False}],
           "normalizer": None,
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
           "post_processor": None, "decoder": {"type": "ByteLevel"},
           "model": {"type": "BPE", "vocab": vocab, "merges": merges}}
    (folder / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|endoftext|>"}))
    return len(vocab)


CASES = [
    # name, model_type, config overrides, note
    ("falcon-mamba", "falcon_mamba", {}, "transformers' defaults: mixer_rms_eps 1e-6 on dt/B/C, GGUF has 1e-5"),
    ("falcon-mamba-eq-eps", "falcon_mamba", {"mixer_rms_eps": 1e-5}, "mixer_rms_eps = layer_norm_epsilon"),
    ("falcon-mamba-untied", "falcon_mamba", {"tie_word_embeddings": False, "vocab_size": 1003},
     "untied head, vocab 1003 padded to 1008"),
    ("mamba", "mamba", {}, "plain Mamba-1, tied"),
    ("mamba-wide", "mamba", {"hidden_size": 128, "num_hidden_layers": 3, "state_size": 8, "conv_kernel": 3,
                             "time_step_rank": 12}, "d_conv 3, dt_rank 12 (Q8_0 ssm_dt falls back to F16)"),
]


def build_model(torch, transformers, model_type: str, overrides: dict, folder: Path, seed: int):
    torch.manual_seed(seed)
    n_tok = byte_tokenizer(folder)
    base = dict(vocab_size=max(n_tok, 304), hidden_size=64, num_hidden_layers=2, state_size=16, conv_kernel=4,
                expand=2, layer_norm_epsilon=1e-5, tie_word_embeddings=True, use_cache=True,
                bos_token_id=n_tok - 1, eos_token_id=n_tok - 1, pad_token_id=n_tok - 1)
    base.update(overrides)
    if model_type == "falcon_mamba":
        cfg = transformers.FalconMambaConfig(**base)
        model = transformers.FalconMambaForCausalLM(cfg)
    else:
        cfg = transformers.MambaConfig(**base)
        model = transformers.MambaForCausalLM(cfg)
    model = model.float().eval()
    model.save_pretrained(folder, safe_serialization=True)
    return model


def hf_logits(torch, model, prompt, steps):
    with torch.no_grad():
        ids = torch.tensor([prompt])
        full = model(ids).logits[0].float().numpy()
        gen = model.generate(ids, max_new_tokens=steps, min_new_tokens=steps, do_sample=False, use_cache=True,
                             output_logits=True, return_dict_in_generate=True, eos_token_id=None,
                             pad_token_id=model.config.pad_token_id)
    seq = gen.sequences[0].tolist()
    step_logits = np.stack([x[0].float().numpy() for x in gen.logits])
    return full, seq, step_logits


def dequantized_model(torch, model, gguf_path, reader_mod):
    """A copy of `model` holding the GGUF's weights (dequantized): transformers on exactly
    the weights kaa uses, which separates kaa's arithmetic from the weight rounding."""
    import copy

    r = reader_mod.GGUFReader(gguf_path)
    V = model.config.vocab_size
    g = lambda n: torch.from_numpy(np.array(r.tensor(n).numpy(), dtype=np.float32))  # noqa: E731
    sd = {"backbone.embeddings.weight": g("token_embd.weight")[:V], "backbone.norm_f.weight": g("output_norm.weight")}
    if r.tensor("output.weight") is not None:
        sd["lm_head.weight"] = g("output.weight")[:V]
    names = {"attn_norm.weight": "norm.weight", "ssm_in.weight": "mixer.in_proj.weight",
             "ssm_conv1d.bias": "mixer.conv1d.bias", "ssm_x.weight": "mixer.x_proj.weight",
             "ssm_dt.weight": "mixer.dt_proj.weight", "ssm_dt.bias": "mixer.dt_proj.bias", "ssm_d": "mixer.D",
             "ssm_out.weight": "mixer.out_proj.weight"}
    for i in range(model.config.num_hidden_layers):
        for a, b in names.items():
            sd[f"backbone.layers.{i}.{b}"] = g(f"blk.{i}.{a}")
        sd[f"backbone.layers.{i}.mixer.conv1d.weight"] = g(f"blk.{i}.ssm_conv1d.weight")[:, None, :]
        sd[f"backbone.layers.{i}.mixer.A_log"] = torch.log(-g(f"blk.{i}.ssm_a").double()).float()
    r.close()
    m = copy.deepcopy(model)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert not unexpected and all(k == "lm_head.weight" for k in missing), (missing, unexpected)
    return m.eval()


# ---- kaa ---------------------------------------------------------------------------------------

class KaaPython:
    def __init__(self, kaa, fast=False):
        self.kaa, self.precision = kaa, "fast" if fast else "exact"
        try:  # bindings that predate Model(precision=...) run their default
            inspect.signature(kaa.Model).bind(".", precision=self.precision)
            self.kw = {"precision": self.precision}
        except TypeError:
            self.kw, self.precision = {}, "default"
        self.name = f"python bindings ({self.precision})"

    def logits(self, path, tokens, decode):
        m = self.kaa.Model(str(path), n_threads=2, **self.kw)
        s = m.session()
        if decode:
            return np.stack([np.array(s.eval([t])) for t in tokens])
        return np.array(s.eval(tokens, all_logits=True))


class KaaEval:
    def __init__(self, exe, fast=False):
        self.exe, self.fast = exe, fast
        self.name = f"kaa-eval ({'--fast' if fast else 'exact'})"

    def logits(self, path, tokens, decode):
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "l.f32"
            cmd = [self.exe, "-m", str(path), "--tokens", ",".join(map(str, tokens)), "--logits", str(out), "-t", "2"]
            cmd += ["--decode"] if decode else []
            cmd += ["--fast"] if self.fast else []
            subprocess.run(cmd, check=True, capture_output=True)
            return np.fromfile(out, dtype="<f4").reshape(len(tokens), -1)


def compare(a, b):
    """max |a-b|, argmax agreement (n, of) over rows, and the largest top-1 margin of the
    reference (b) among rows whose argmax differs (0 when none): a flip is only a concern
    when that margin exceeds the logit error. a, b: [rows, V]."""
    same = a.argmax(1) == b.argmax(1)
    top2 = np.sort(b, axis=1)[:, -2:]
    margins = top2[:, 1] - top2[:, 0]
    flip_margin = float(margins[~same].max()) if (~same).any() else 0.0
    return float(np.abs(a - b).max()), int(same.sum()), len(a), flip_margin


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=8, help="greedy generation steps")
    ap.add_argument("--prompt-len", type=int, default=12)
    ap.add_argument("--types", default="f32,f16,bf16,q8_0")
    ap.add_argument("--engine", default="auto", choices=["auto", "python", "kaa-eval"])
    ap.add_argument("--kaa-eval", default=None, help="kaa-eval binary (default: build*/bin/kaa-eval)")
    ap.add_argument("--fast", action="store_true", help="kaa's fast precision (int8 activations for Q8_0); default exact")
    ap.add_argument("--work", default=None, help="keep the models here (default: a temporary folder)")
    ap.add_argument("--json", default=None, help="write the results as JSON")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"hf-parity: needs torch and transformers ({e}); e.g. python -m venv /tmp/hf && "
              "/tmp/hf/bin/pip install torch transformers numpy", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    transformers.logging.set_verbosity_error()  # the "falling back to PyTorch" kernel notices
    transformers.utils.logging.disable_progress_bar()
    kaa, conv = import_kaa()
    if args.engine == "python" or (args.engine == "auto" and kaa is not None):
        if kaa is None:
            print("hf-parity: `import kaa` fails (compiled module missing)", file=sys.stderr)
            return 2
        engine = KaaPython(kaa, args.fast)
    else:
        exe = args.kaa_eval or next((str(p) for p in sorted(REPO.glob("build*/bin/kaa-eval"))), None)
        if not exe or not os.path.exists(exe):
            print("hf-parity: no kaa-eval found; build it (cmake --build build --target kaa-eval) or pass "
                  "--kaa-eval", file=sys.stderr)
            return 2
        engine = KaaEval(exe, args.fast)

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "numpy": np.__version__, "kaa": commit,
                "engine": engine.name}
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="hf-parity-"))
    rng = np.random.default_rng(args.seed)
    results = []
    worst_f32 = 0.0
    print(f"{'case':<22}{'type':<6}{'scale':>7} {'prompt max|d|':>14} {'argmax':>7} {'decode max|d|':>14} "
          f"{'argmax':>7} {'same-w':>10}  note")
    for ci, (name, mt, over, note) in enumerate(CASES):
        folder = work / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        model = build_model(torch, transformers, mt, over, folder, args.seed + ci)
        V = model.config.vocab_size
        prompt = rng.integers(0, V, size=args.prompt_len).tolist()
        full, seq, steps = hf_logits(torch, model, prompt, args.steps)
        for typ in args.types.split(","):
            gguf = work / f"{name}-{typ}.gguf"
            conv.convert(str(folder), str(gguf), typ, progress=False, log=lambda s: None)
            k_prompt = engine.logits(gguf, prompt, decode=False)[:, :V]
            k_dec = engine.logits(gguf, seq[:-1], decode=True)[:, :V]
            k_steps = k_dec[len(prompt) - 1:]
            with torch.no_grad():  # transformers on the GGUF's own weights, same tokens
                same = dequantized_model(torch, model, gguf, sys.modules["kaa.gguf_reader"])(
                    torch.tensor([seq[:-1]])).logits[0].float().numpy()
            sw = float(np.abs(k_dec - same).max())
            pd, pa, pn, pf = compare(k_prompt, full)
            dd, da, dn, df = compare(k_steps, steps)
            scale = float(np.abs(full).max())
            if typ == "f32":
                worst_f32 = max(worst_f32, pd, dd)
            results.append({"case": name, "model_type": mt, "type": typ, "scale": scale, "prompt_max_abs": pd,
                            "prompt_argmax": [pa, pn], "decode_max_abs": dd, "decode_argmax": [da, dn],
                            "flip_margin": max(pf, df), "same_weights_max_abs": sw,
                            "note": note})
            flips = f"flips at margin <= {max(pf, df):.1e}" if max(pf, df) else ""
            print(f"{name:<22}{typ:<6}{scale:7.2f} {pd:14.3e} {pa:>3}/{pn:<3} {dd:14.3e} {da:>3}/{dn:<3} {sw:10.1e}  "
                  f"{note if typ == 'f32' else flips}")
    print("\nSemantics: softplus threshold 20 in both; dt/B/C RMS epsilon: transformers uses config.mixer_rms_eps, "
          "the GGUF (kaa, llama.cpp) uses layer_norm_epsilon for every RMS norm (the converter warns when they differ).")
    if args.json:
        Path(args.json).write_text(json.dumps({"versions": versions, "results": results}, indent=1))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if worst_f32 > 1e-3 else 0


if __name__ == "__main__":
    sys.exit(main())
