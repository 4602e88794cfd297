"""kaa.convert: Hugging Face Mamba / Falcon-Mamba checkpoints -> GGUF, without PyTorch.

The checkpoints are written here (config.json, safetensors by kaa.safetensors_io, a small
byte-level BPE tokenizer.json). Checks: the GGUF layout the shared models have (names,
order, dims, per-tensor types, metadata keys), exact encodings, vocab padding, errors, and
-- when the compiled module is importable -- that kaa runs the result and matches a numpy
forward pass of the checkpoint written from the transformers semantics. The shared models
are also taken back to HF form and converted again: the bytes must come back.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kaa import convert as kc
from kaa import gguf_writer as gw
from kaa.gguf_reader import GGUFReader
from kaa.safetensors_io import SafetensorsFile, save_file

try:
    from kaa import _kaa  # noqa: F401  (the compiled module: only needed to run models)
    import kaa

    HAVE_KAA = True
except ImportError:
    HAVE_KAA = False

needs_kaa = pytest.mark.skipif(not HAVE_KAA, reason="KAA_SKIP: compiled kaa module not importable")
SHARED = Path(os.environ.get("KAA_SHARED_DIR") or Path(__file__).resolve().parents[3].parent / "shared")
TYPES = ["f32", "f16", "bf16", "q8_0"]


# ---- writing HF-style checkpoints ----------------------------------------------------------

def byte_alphabet():
    """GPT-2's byte -> printable character map (byte-level BPE's base vocabulary)."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    out, shift = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + shift)
            shift += 1
    return out


def write_tokenizer(folder, *, flavour="falcon", list_merges=False, chat_template=True):
    """256 byte tokens, a few merges, added tokens (3 special, 1 not). Returns the vocab size."""
    alpha = byte_alphabet()
    vocab = {alpha[b]: b for b in range(256)}
    sp = alpha[ord(" ")]
    pairs = [(sp, "t"), ("h", "e"), (sp + "t", "he"), ("i", "n"), (sp, "a"), ("e", "r"), (sp, "s"), ("o", "n")]
    for a, b in pairs:
        vocab[a + b] = len(vocab)
    added = [("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True), ("<tool>", False)]
    added_tokens = []
    for text, special in added:
        added_tokens.append({"id": len(vocab), "content": text, "special": special, "single_word": False,
                             "lstrip": False, "rstrip": False, "normalized": not special})
        vocab[text] = len(vocab)
    if flavour == "falcon":
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Punctuation", "behavior": "Contiguous"},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            {"type": "Digits", "individual_digits": False},
            {"type": "Split", "pattern": {"Regex": "[0-9][0-9][0-9]"}, "behavior": "Isolated", "invert": False}]}
        normalizer = None
    else:  # gpt-neox-20b
        pre = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
        normalizer = {"type": "NFC"}
    tok = {"version": "1.0", "added_tokens": added_tokens, "normalizer": normalizer, "pre_tokenizer": pre,
           "post_processor": None, "decoder": {"type": "ByteLevel"},
           "model": {"type": "BPE", "vocab": vocab,
                     "merges": [list(p) if list_merges else f"{p[0]} {p[1]}" for p in pairs]}}
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    tcfg = {"eos_token": "<|endoftext|>", "bos_token": {"content": "<|endoftext|>", "special": True},
            "add_bos_token": False}
    if chat_template:
        tcfg["chat_template"] = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
                                 "'<|im_end|>\\n' }}{% endfor %}")
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tcfg, f)
    return len(vocab)


def write_checkpoint(folder, *, model_type="falcon_mamba", d_model=64, n_layer=2, d_state=16, d_conv=4,
                     dt_rank=4, vocab_size=None, tied=True, dtype="F32", shards=1, seed=0,
                     flavour=None, list_merges=False, lm_head_equal=False, extra_cfg=None):
    """A random checkpoint the way save_pretrained() lays it out. Returns the f32 weights."""
    os.makedirs(folder, exist_ok=True)
    n_tok = write_tokenizer(folder, flavour=flavour or ("falcon" if model_type == "falcon_mamba" else "neox"),
                            list_merges=list_merges)
    V = vocab_size or n_tok
    D, Di, S, K, R = d_model, 2 * d_model, d_state, d_conv, dt_rank
    rng = np.random.default_rng(seed)
    u = lambda *shape, s=1.0: (rng.uniform(-1, 1, size=shape) * s).astype(np.float32)  # noqa: E731
    t = {"backbone.embeddings.weight": u(V, D)}
    for i in range(n_layer):
        m = f"backbone.layers.{i}.mixer."
        t[f"backbone.layers.{i}.norm.weight"] = 1 + u(D, s=0.1)
        t[m + "A_log"] = np.log(np.tile(np.arange(1, S + 1, dtype=np.float32), (Di, 1))) + u(Di, S, s=0.1)
        t[m + "D"] = 1 + u(Di, s=0.1)
        t[m + "conv1d.weight"] = u(Di, 1, K, s=0.5)
        t[m + "conv1d.bias"] = u(Di, s=0.1)
        t[m + "in_proj.weight"] = u(2 * Di, D, s=D ** -0.5 * 1.7)
        t[m + "x_proj.weight"] = u(R + 2 * S, Di, s=Di ** -0.5 * 1.7)
        t[m + "dt_proj.weight"] = u(Di, R, s=R ** -0.5)
        t[m + "dt_proj.bias"] = np.log(np.expm1(rng.uniform(1e-3, 1e-1, size=Di))).astype(np.float32)
        t[m + "out_proj.weight"] = u(D, Di, s=Di ** -0.5 * 1.7)
    t["backbone.norm_f.weight"] = 1 + u(D, s=0.1)
    if not tied:
        t["lm_head.weight"] = t["backbone.embeddings.weight"].copy() if lm_head_equal else u(V, D)
    if dtype == "BF16":  # what the checkpoint holds, exactly
        t = {k: (gw.encode_bf16(v).astype(np.uint32) << 16).view(np.float32).reshape(v.shape) for k, v in t.items()}
    names = sorted(t)
    groups = [names[i::shards] for i in range(shards)]
    if shards == 1:
        save_file(t, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"},
                  dtypes={k: dtype for k in t})
    else:
        weight_map = {}
        for j, g in enumerate(groups):
            fn = f"model-{j + 1:05d}-of-{shards:05d}.safetensors"
            save_file({k: t[k] for k in g}, os.path.join(folder, fn), dtypes={k: dtype for k in g})
            weight_map.update({k: fn for k in g})
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
    cfg = {"architectures": ["FalconMambaForCausalLM" if model_type == "falcon_mamba" else "MambaForCausalLM"],
           "model_type": model_type, "hidden_size": D, "num_hidden_layers": n_layer, "intermediate_size": Di,
           "state_size": S, "conv_kernel": K, "time_step_rank": R, "layer_norm_epsilon": 1e-5,
           "vocab_size": V, "tie_word_embeddings": tied, "use_bias": False, "use_conv_bias": True,
           "hidden_act": "silu", "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0,
           "residual_in_fp32": True, "expand": 2}
    if model_type == "falcon_mamba":
        cfg["mixer_rms_eps"] = 1e-5  # = layer_norm_epsilon, so kaa matches exactly
    cfg.update(extra_cfg or {})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f)
    return t


def reference_logits(t, cfg, tokens):
    """The transformers Mamba / FalconMamba forward pass, token by token, in float64."""
    L = cfg["num_hidden_layers"]
    S, R, K, eps = cfg["state_size"], cfg["time_step_rank"], cfg["conv_kernel"], cfg["layer_norm_epsilon"]
    falcon = cfg["model_type"] == "falcon_mamba"
    g = {k: v.astype(np.float64) for k, v in t.items()}
    rms = lambda x, e: x / np.sqrt(np.mean(x * x) + e)  # noqa: E731
    silu = lambda x: x / (1 + np.exp(-x))  # noqa: E731
    Di = g["backbone.layers.0.mixer.D"].shape[0]
    conv = [np.zeros((Di, K)) for _ in range(L)]
    ssm = [np.zeros((Di, S)) for _ in range(L)]
    head = g.get("lm_head.weight", g["backbone.embeddings.weight"])
    out = []
    for tok in tokens:
        h = g["backbone.embeddings.weight"][tok]
        for i in range(L):
            m = f"backbone.layers.{i}.mixer."
            xz = g[m + "in_proj.weight"] @ (rms(h, eps) * g[f"backbone.layers.{i}.norm.weight"])
            x, z = xz[:Di], xz[Di:]
            conv[i] = np.concatenate([conv[i][:, 1:], x[:, None]], axis=1)
            xc = silu((conv[i] * g[m + "conv1d.weight"][:, 0, :]).sum(1) + g[m + "conv1d.bias"])
            dbc = g[m + "x_proj.weight"] @ xc
            dt, B, C = dbc[:R], dbc[R:R + S], dbc[R + S:]
            if falcon:
                e2 = cfg.get("mixer_rms_eps", 1e-6)
                dt, B, C = rms(dt, e2), rms(B, e2), rms(C, e2)
            v = g[m + "dt_proj.weight"] @ dt + g[m + "dt_proj.bias"]
            dt = np.where(v > 20, v, np.log1p(np.exp(np.minimum(v, 20))))
            A = -np.exp(g[m + "A_log"])
            ssm[i] = ssm[i] * np.exp(dt[:, None] * A) + (dt * xc)[:, None] * B[None, :]
            y = ssm[i] @ C + g[m + "D"] * xc
            h = h + g[m + "out_proj.weight"] @ (y * silu(z))
        out.append(head @ (rms(h, eps) * g["backbone.norm_f.weight"]))
    return np.array(out)


def convert_quiet(src, out, typ, **kw):
    return kc.convert(str(src), str(out), typ, progress=False, log=lambda s: None, **kw)


# ---- layout ----------------------------------------------------------------------------------

BLOCK = ["attn_norm.weight", "ssm_in.weight", "ssm_conv1d.weight", "ssm_conv1d.bias", "ssm_x.weight",
         "ssm_dt.weight", "ssm_dt.bias", "ssm_a", "ssm_d", "ssm_out.weight"]
KEYS = ["general.architecture", "general.name", "mamba.context_length", "mamba.embedding_length",
        "mamba.feed_forward_length", "mamba.attention.head_count", "mamba.block_count", "mamba.ssm.conv_kernel",
        "mamba.ssm.inner_size", "mamba.ssm.state_size", "mamba.ssm.time_step_rank",
        "mamba.attention.layer_norm_rms_epsilon", "mamba.ssm.dt_b_c_rms", "general.file_type",
        "general.quantization_version", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.bos_token_id"]


def expected_names(n_layer, tied):
    names = ["token_embd.weight"]
    for i in range(n_layer):
        names += [f"blk.{i}.{b}" for b in BLOCK]
    return names + ["output_norm.weight"] + ([] if tied else ["output.weight"])


def encoded(typ, x):
    return gw.encode(typ, np.asarray(x, dtype=np.float32)).tobytes()


@pytest.mark.parametrize("typ", TYPES)
def test_falcon_mamba_layout(tmp_path, typ):
    src = tmp_path / "hf"
    t = write_checkpoint(src, tied=False, dtype="BF16")
    out = tmp_path / f"m-{typ}.gguf"
    info = convert_quiet(src, out, typ)
    r = GGUFReader(out)
    n_tok = len(t["backbone.embeddings.weight"])  # 268: padded to 272
    assert info["n_vocab"] == 272 and not info["tied"] and info["pre"] == "falcon"
    assert [k for k in r.keys() if k in KEYS] == KEYS
    assert r.get("general.architecture") == "mamba"
    assert r.get("mamba.ssm.dt_b_c_rms") is True
    assert r.get("general.file_type") == gw.FILE_TYPE[gw.TYPE_BY_NAME[typ]]
    assert r.value_type("general.file_type") == gw.UINT32
    assert (r.get("mamba.embedding_length"), r.get("mamba.block_count"), r.get("mamba.ssm.inner_size"),
            r.get("mamba.ssm.state_size"), r.get("mamba.ssm.conv_kernel"), r.get("mamba.ssm.time_step_rank")) \
        == (64, 2, 128, 16, 4, 4)
    assert r.get("mamba.context_length") == 1 << 20 and r.get("mamba.feed_forward_length") == 0
    assert abs(r.get("mamba.attention.layer_norm_rms_epsilon") - 1e-5) < 1e-12
    assert [x.name for x in r.tensors] == expected_names(2, tied=False)
    target = gw.TYPE_BY_NAME[typ]
    dims = {"token_embd.weight": [64, 272], "output.weight": [64, 272], "output_norm.weight": [64],
            "attn_norm.weight": [64], "ssm_in.weight": [64, 256], "ssm_conv1d.weight": [4, 128],
            "ssm_conv1d.bias": [128], "ssm_x.weight": [128, 36], "ssm_dt.weight": [4, 128], "ssm_dt.bias": [128],
            "ssm_a": [16, 128], "ssm_d": [128], "ssm_out.weight": [128, 64]}
    for x in r.tensors:
        short = x.name.split(".", 2)[-1] if x.name.startswith("blk.") else x.name
        assert x.ne == dims[short], x.name
        matrix = short in ("token_embd.weight", "output.weight", "ssm_in.weight", "ssm_x.weight",
                           "ssm_dt.weight", "ssm_out.weight")
        want = (gw.F16 if target == gw.Q8_0 and x.ne[0] % 32 else target) if matrix else gw.F32
        assert x.type == want, x.name
        assert r.data_offset % 32 == 0 and x.offset % 32 == 0
    # Values: each the source encoded once (the source is BF16, so F32/BF16 are exact).
    emb = np.zeros((272, 64), np.float32)
    emb[:n_tok] = t["backbone.embeddings.weight"]
    head = np.zeros((272, 64), np.float32)
    head[:n_tok] = t["lm_head.weight"]
    m0 = "backbone.layers.1.mixer."
    checks = {"token_embd.weight": emb, "output.weight": head, "blk.1.ssm_in.weight": t[m0 + "in_proj.weight"],
              "blk.1.ssm_conv1d.weight": t[m0 + "conv1d.weight"][:, 0, :], "blk.1.ssm_d": t[m0 + "D"],
              "blk.1.ssm_a": (-np.exp(t[m0 + "A_log"].astype(np.float64))).astype(np.float32),
              "blk.1.ssm_dt.weight": t[m0 + "dt_proj.weight"], "output_norm.weight": t["backbone.norm_f.weight"]}
    for name, x in checks.items():
        got = r.tensor(name)
        assert bytes(got.data) == encoded(got.type, x), name
    assert not r.tensor("token_embd.weight").numpy()[n_tok:].any()  # zero padding rows
    if typ == "bf16":
        assert np.array_equal(r.tensor("blk.0.ssm_x.weight").numpy(), t["backbone.layers.0.mixer.x_proj.weight"])
    # Vocabulary
    tokens, types = r.get("tokenizer.ggml.tokens"), r.get("tokenizer.ggml.token_type")
    assert len(tokens) == len(types) == 272
    assert tokens[268:] == [f"[PAD{i}]" for i in range(268, 272)] and types[268:] == [kc.UNUSED] * 4
    assert tokens[264:268] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool>"]
    assert types[264:268] == [kc.CONTROL, kc.CONTROL, kc.CONTROL, kc.USER_DEFINED]
    assert set(types[:264]) == {kc.NORMAL}
    assert tokens[ord("a")] == "a" and tokens[256] == "\u0120t"
    assert r.get("tokenizer.ggml.merges")[:3] == ["\u0120 t", "h e", "\u0120t he"]
    assert r.get("tokenizer.ggml.eos_token_id") == 264 and r.get("tokenizer.ggml.bos_token_id") == 264
    assert r.get("tokenizer.ggml.add_bos_token") is False
    assert "<|im_start|>" in r.get("tokenizer.chat_template")
    r.close()


@pytest.mark.parametrize("typ", TYPES)
def test_mamba_sharded_tied_layout(tmp_path, typ):
    """Plain Mamba: no dt/B/C norm, tied, sharded, list-form merges, gpt-neox tokenizer."""
    src = tmp_path / "hf"
    t = write_checkpoint(src, model_type="mamba", d_model=96, n_layer=3, d_state=8, d_conv=3, dt_rank=6,
                         vocab_size=280, tied=True, shards=3, list_merges=True)
    out = tmp_path / "m.gguf"
    info = convert_quiet(src, out, typ)
    r = GGUFReader(out)
    assert info["tied"] and info["n_vocab"] == 280 and info["pre"] == "mpt"
    assert r.get("mamba.ssm.dt_b_c_rms") is False
    assert [x.name for x in r.tensors] == expected_names(3, tied=True)
    assert r.tensor("blk.2.ssm_conv1d.weight").ne == [3, 192]
    assert r.tensor("blk.0.ssm_x.weight").ne == [192, 6 + 16]
    assert r.tensor("blk.0.ssm_dt.weight").type == (gw.F16 if typ == "q8_0" else gw.TYPE_BY_NAME[typ])
    assert r.tensor("blk.0.ssm_a").type == gw.F32
    tokens = r.get("tokenizer.ggml.tokens")
    assert len(tokens) == 280 and tokens[268] == "[PAD268]" and tokens[279] == "[PAD279]"
    assert r.get("tokenizer.ggml.merges")[2] == "\u0120t he"
    x = r.tensor("blk.2.ssm_out.weight").numpy()
    ref = t["backbone.layers.2.mixer.out_proj.weight"]
    tol = {"f32": 0, "f16": 1e-3, "bf16": 8e-3, "q8_0": 1e-2}[typ]
    assert np.abs(x - ref).max() <= tol * np.abs(ref).max()
    r.close()


def test_lm_head_equal_to_embedding_is_tied(tmp_path):
    write_checkpoint(tmp_path / "hf", tied=False, lm_head_equal=True)
    info = convert_quiet(tmp_path / "hf", tmp_path / "m.gguf", "f32")
    assert info["tied"]
    r = GGUFReader(tmp_path / "m.gguf")
    assert r.tensor("output.weight") is None
    r.close()


def test_no_conv_bias_gives_zero_bias(tmp_path):
    t = write_checkpoint(tmp_path / "hf", extra_cfg={"use_conv_bias": False})
    st = SafetensorsFile(tmp_path / "hf" / "model.safetensors")
    kept = {k: np.array(st.raw(k)) for k in st.keys() if not k.endswith("conv1d.bias")}
    st.close()
    save_file(kept, tmp_path / "hf" / "model.safetensors")
    convert_quiet(tmp_path / "hf", tmp_path / "m.gguf", "f16")
    r = GGUFReader(tmp_path / "m.gguf")
    assert not r.tensor("blk.0.ssm_conv1d.bias").numpy().any()
    r.close()
    assert t  # the remaining weights converted


def test_detect_pre():
    seq = lambda *ts: {"type": "Sequence", "pretokenizers": [{"type": x} for x in ts]}  # noqa: E731
    assert kc.detect_pre({"pre_tokenizer": seq("Punctuation", "ByteLevel", "Digits", "Split")}) == "falcon"
    assert kc.detect_pre({"pre_tokenizer": {"type": "ByteLevel"}, "normalizer": {"type": "NFC"}}) == "mpt"
    assert kc.detect_pre({"pre_tokenizer": {"type": "ByteLevel"}, "normalizer": None}) == "gpt-2"
    assert kc.detect_pre({"pre_tokenizer": seq("Split", "ByteLevel")}) == "gpt-2"


def test_q8_0_encoder_rounding():
    x = np.zeros(64, np.float32)
    x[:32] = np.arange(-16, 16) * 0.5  # amax 8 -> d = 8/127: generic values
    x[32] = 127.0
    x[33:36] = [0.5, -2.5, 1.5]  # d = 1: exact ties round away from zero
    b = np.frombuffer(gw.encode_q8_0(x).tobytes(), dtype=gw._Q8_0_BLOCK)
    assert list(b["qs"][1][:4]) == [127, 1, -3, 2]
    assert b["d"][1] == np.float16(1.0).view(np.uint16)
    assert np.array_equal(gw.decode_q8_0(gw.encode_q8_0(np.zeros(32, np.float32))), np.zeros(32))
    d = np.float32(8.0) / np.float32(127.0)
    assert b["d"][0] == np.float16(d).view(np.uint16)
    v = x[:32] * (np.float32(1.0) / d)
    assert np.array_equal(b["qs"][0], np.trunc(v.astype(np.float64) + np.copysign(0.5, v)).astype(np.int8))
    with pytest.raises(ValueError):
        gw.encode_q8_0(np.full(32, np.nan, np.float32))
    assert gw.encode_bf16(np.array([1.00390625, 1.01171875], np.float32)).tolist() == [0x3F80, 0x3F82]  # ties to even


def test_encoders_match_the_shared_files():
    """F16/BF16 bit for bit; Q8_0 too except exact .5 ties, which the tool that made the
    shared files rounded to even (ggml and kaa round them away from zero)."""
    f32 = SHARED / "models" / "tiny-falcon-mamba-f32.gguf"
    if not f32.exists():
        pytest.skip(f"KAA_SKIP: {f32} not found (set KAA_SHARED_DIR)")
    src = GGUFReader(f32)
    for typ in ("f16", "bf16", "q8_0"):
        ref = GGUFReader(SHARED / "models" / f"tiny-falcon-mamba-{typ}.gguf")
        for t in src.tensors:
            o = ref.tensor(t.name)
            x = t.numpy()
            mine = gw.encode(o.type, x).tobytes()
            if o.type != gw.Q8_0:
                assert mine == bytes(o.data), (typ, t.name)
                continue
            a = np.frombuffer(mine, dtype=gw._Q8_0_BLOCK)
            b = np.frombuffer(bytes(o.data), dtype=gw._Q8_0_BLOCK)
            assert np.array_equal(a["d"], b["d"]), t.name
            diff = a["qs"] != b["qs"]
            v = x.reshape(-1, 32)[diff] * (np.float32(1) / (np.abs(x.reshape(-1, 32)).max(1) / np.float32(127)))[
                np.nonzero(diff)[0]]
            assert (np.abs(v - np.trunc(v)) == 0.5).all(), t.name  # only ties differ
            assert diff.sum() <= 8
        ref.close()
    src.close()


# ---- errors ----------------------------------------------------------------------------------

def test_errors(tmp_path):
    src = tmp_path / "hf"
    write_checkpoint(src)
    out = tmp_path / "out.gguf"

    def fails(match, **kw):
        with pytest.raises((kc.ConversionError, FileNotFoundError, ValueError), match=match):
            convert_quiet(src, out, kw.pop("typ", "f16"), **kw)
        assert not out.exists()
        assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]

    fails("--type", typ="q4_0")
    cfg = json.loads((src / "config.json").read_text())
    for mt in ("mamba2", "llama"):
        (src / "config.json").write_text(json.dumps({**cfg, "model_type": mt}))
        fails("unsupported architecture")
    (src / "config.json").write_text(json.dumps({**cfg, "use_bias": True}))
    fails("use_bias")
    (src / "config.json").write_text(json.dumps({**cfg, "hidden_size": 32}))
    fails("expected")
    (src / "config.json").write_text(json.dumps({**cfg, "tie_word_embeddings": False}))
    fails("no lm_head")
    (src / "config.json").write_text(json.dumps(cfg))
    os.rename(src / "tokenizer.json", tmp_path / "tokenizer.json")
    fails("no tokenizer.json")
    os.rename(tmp_path / "tokenizer.json", src / "tokenizer.json")
    st = SafetensorsFile(src / "model.safetensors")
    weights = {k: np.array(st.raw(k)) for k in st.keys()}
    st.close()
    save_file({**weights, "backbone.layers.0.mixer.in_proj.bias": np.zeros(256, np.float32)},
              src / "model.safetensors")
    fails("does not use")
    save_file({k: v for k, v in weights.items() if not k.endswith("layers.1.mixer.D")}, src / "model.safetensors")
    fails("lacks backbone.layers.1.mixer.D")
    os.remove(src / "model.safetensors")
    (src / "pytorch_model.bin").write_bytes(b"")
    fails("safe_serialization")
    os.remove(src / "config.json")
    fails("no config.json")
    with pytest.raises(FileNotFoundError):
        convert_quiet(tmp_path / "nope", out, "f16")


def test_cli(tmp_path):
    src = tmp_path / "hf"
    write_checkpoint(src)
    root = Path(kc.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-m", "kaa.convert", str(src), str(tmp_path / "m.gguf"), "--type", "q8_0"],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert "100.0%" in p.stderr and "wrote" in p.stdout
    p = subprocess.run([sys.executable, "-m", "kaa.convert", str(tmp_path / "nope"), str(tmp_path / "x.gguf")],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 1 and "kaa.convert: error:" in p.stderr


# ---- running the result in kaa -------------------------------------------------------------------

@needs_kaa
@pytest.mark.parametrize("model_type", ["falcon_mamba", "mamba"])
def test_kaa_runs_converted_model_like_the_reference(tmp_path, model_type):
    src = tmp_path / "hf"
    kw = dict(d_model=96, n_layer=3, d_state=8, d_conv=3, dt_rank=6) if model_type == "mamba" else {}
    t = write_checkpoint(src, model_type=model_type, tied=model_type == "mamba", **kw)
    cfg = json.loads((src / "config.json").read_text())
    tokens = [256, 257, 72, 105, 264, 3, 99, 260]
    ref = reference_logits(t, cfg, tokens)
    V = ref.shape[1]
    # Weight rounding moves the logits by a fraction of their scale (measured: f16 0.04%,
    # bf16 0.35%, q8_0 0.8% of max |logit| ~16-53); f32 agrees to ~1e-7 of it.
    scale = np.abs(ref).max()
    bounds = {"f32": 1e-4, "f16": 2e-3 * scale, "bf16": 1e-2 * scale, "q8_0": 2e-2 * scale}
    for typ in TYPES:
        convert_quiet(src, tmp_path / f"{typ}.gguf", typ)
        m = kaa.Model(str(tmp_path / f"{typ}.gguf"), n_threads=2)
        got = m.session().eval(tokens, all_logits=True)
        assert got.shape[1] % 8 == 0 and not got[:, V:].any()  # padded ids have zero rows
        err = np.abs(got[:, :V] - ref).max()
        assert err < bounds[typ], (typ, err)
        # Step by step (the recurrent state) gives the prompt's logits too.
        s = m.session()
        steps = np.stack([s.eval([x]) for x in tokens])
        assert np.abs(steps - got).max() < 1e-4
    # The tokenizer came along: merges apply, specials parse.
    assert m.tokenize("the in the") == [116, 257, 32, 259, 258]  # t|he Ġ|in Ġthe
    assert m.tokenize("<|im_start|>x", parse_special=True) == [265, 120]


# ---- the shared models, back to HF form and converted again ----------------------------------

def hf_from_gguf(path, folder):
    """Writes the HF checkpoint a GGUF came from (weights dequantized to f32; A_log in f64
    so that -exp(A_log) gives ssm_a back exactly) and a tokenizer.json with its vocab."""
    r = GGUFReader(path)
    os.makedirs(folder)
    L, tied = r.get("mamba.block_count"), r.tensor("output.weight") is None
    t = {"backbone.embeddings.weight": r.tensor("token_embd.weight").numpy(),
         "backbone.norm_f.weight": r.tensor("output_norm.weight").numpy()}
    if not tied:
        t["lm_head.weight"] = r.tensor("output.weight").numpy()
    hf = {"attn_norm.weight": "norm.weight", "ssm_in.weight": "mixer.in_proj.weight",
          "ssm_conv1d.bias": "mixer.conv1d.bias", "ssm_x.weight": "mixer.x_proj.weight",
          "ssm_dt.weight": "mixer.dt_proj.weight", "ssm_dt.bias": "mixer.dt_proj.bias", "ssm_d": "mixer.D",
          "ssm_out.weight": "mixer.out_proj.weight"}
    for i in range(L):
        for g, h in hf.items():
            t[f"backbone.layers.{i}.{h}"] = r.tensor(f"blk.{i}.{g}").numpy()
        conv = r.tensor(f"blk.{i}.ssm_conv1d.weight").numpy()
        t[f"backbone.layers.{i}.mixer.conv1d.weight"] = conv[:, None, :]
        t[f"backbone.layers.{i}.mixer.A_log"] = np.log(-r.tensor(f"blk.{i}.ssm_a").numpy().astype(np.float64))
    save_file({k: np.ascontiguousarray(v) for k, v in t.items()}, os.path.join(folder, "model.safetensors"))
    tokens, types = r.get("tokenizer.ggml.tokens"), r.get("tokenizer.ggml.token_type")
    added = [{"id": i, "content": s, "special": ty == kc.CONTROL} for i, (s, ty) in enumerate(zip(tokens, types))
             if ty in (kc.CONTROL, kc.USER_DEFINED)]
    pre = {"type": "Sequence", "pretokenizers": [{"type": "Punctuation"}, {"type": "ByteLevel"}, {"type": "Digits"}]}
    tok = {"added_tokens": added, "normalizer": None, "pre_tokenizer": pre, "decoder": {"type": "ByteLevel"},
           "model": {"type": "BPE", "vocab": {s: i for i, s in enumerate(tokens)},
                     "merges": r.get("tokenizer.ggml.merges")}}
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    tcfg = {"eos_token": tokens[r.get("tokenizer.ggml.eos_token_id")],
            "bos_token": tokens[r.get("tokenizer.ggml.bos_token_id")],
            "chat_template": r.get("tokenizer.chat_template")}
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tcfg, f)
    cfg = {"model_type": "falcon_mamba" if r.get("mamba.ssm.dt_b_c_rms") else "mamba",
           "hidden_size": r.get("mamba.embedding_length"), "num_hidden_layers": L,
           "intermediate_size": r.get("mamba.ssm.inner_size"), "state_size": r.get("mamba.ssm.state_size"),
           "conv_kernel": r.get("mamba.ssm.conv_kernel"), "time_step_rank": r.get("mamba.ssm.time_step_rank"),
           "layer_norm_epsilon": r.get("mamba.attention.layer_norm_rms_epsilon"), "mixer_rms_eps": 1e-5,
           "vocab_size": len(tokens), "tie_word_embeddings": tied}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f)
    r.close()


@pytest.mark.parametrize("name", ["tiny-falcon-mamba-f32", "tiny-falcon-mamba-f16", "tiny-falcon-mamba-bf16",
                                  "tiny-falcon-mamba-q8_0", "tiny-mamba-q8_0"])
def test_shared_models_round_trip(tmp_path, name):
    shared = SHARED / "models" / f"{name}.gguf"
    if not shared.exists():
        pytest.skip(f"KAA_SKIP: {shared} not found (set KAA_SHARED_DIR)")
    hf_from_gguf(shared, tmp_path / "hf")
    typ = name.rsplit("-", 1)[1]
    convert_quiet(tmp_path / "hf", tmp_path / "m.gguf", typ, name=name)
    a, b = GGUFReader(tmp_path / "m.gguf"), GGUFReader(shared)
    # Same metadata, in the same order, with the same value types.
    assert a.keys() == b.keys()
    for k in b.keys():
        assert a.value_type(k) == b.value_type(k), k
        assert a.get(k) == b.get(k) or k == "mamba.attention.layer_norm_rms_epsilon", k
    assert a.array_types == b.array_types
    # Same tensors, bytes and all (ssm_a passes through log/exp: allowed 1 ulp).
    assert [(x.name, x.ne, x.type, x.offset) for x in a.tensors] == [(x.name, x.ne, x.type, x.offset) for x in b.tensors]
    for x in a.tensors:
        y = b.tensor(x.name)
        if x.name.endswith("ssm_a"):
            ulps = np.abs(x.numpy().view(np.int32).astype(np.int64) - y.numpy().view(np.int32))
            assert ulps.max() <= 1, x.name
        else:
            assert bytes(x.data) == bytes(y.data), x.name
    assert a.data_offset == b.data_offset and os.path.getsize(tmp_path / "m.gguf") == os.path.getsize(shared)
    a.close()
    b.close()
    if HAVE_KAA:
        ids = [9856, 672, 362, 299, 42]  # "Hello how are you?"
        mine = kaa.Model(str(tmp_path / "m.gguf"), n_threads=2).session().eval(ids, all_logits=True)
        ref = kaa.Model(str(shared), n_threads=2).session().eval(ids, all_logits=True)
        assert np.abs(mine - ref).max() < 1e-4
