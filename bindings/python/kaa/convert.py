"""Convert a Hugging Face Mamba / Falcon-Mamba checkpoint into a GGUF file kaa runs.

    python -m kaa.convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0] [--name NAME]
                                          [--pre NAME] [--quiet]

HF_DIR holds config.json (model_type "falcon_mamba" or "mamba"), the weights as
model.safetensors or shards listed in model.safetensors.index.json, and tokenizer.json
(+ tokenizer_config.json, special_tokens_map.json, chat_template.jinja when present).

The file is laid out as the llama.cpp converter lays out these models, so it also loads in
other GGUF readers: the same tensor names, order, dims and per-tensor types, the same
metadata keys (see docs/FORMATS.md). Decisions a reader may want to know:

* Tensor types: token_embd, output and the ssm_in / ssm_x / ssm_dt / ssm_out matrices take
  --type; norms, biases, ssm_a, ssm_d and ssm_conv1d.weight stay F32 (small, and precision
  matters there); under q8_0 a matrix whose rows are not a multiple of 32 (ssm_dt.weight:
  time_step_rank per row) is F16.
* ssm_a = -exp(A_log), computed in float64 from the stored values, rounded once to f32.
* The vocabulary is padded to a multiple of 8 (config pad_vocab_size_multiple, default 8)
  with "[PAD<id>]" tokens of type UNUSED; the embedding (and output) rows for them are
  zero. Ids also cover config.vocab_size and the embedding's rows, whichever is larger.
* Tied embeddings (tie_word_embeddings, the HF default, or an lm_head byte-identical to
  the embedding) give no output.weight: kaa then reuses token_embd.
* tokenizer.ggml.pre names the pre-tokenizer, decided from tokenizer.json (llama.cpp hashes
  the tokenizer's output instead; this rule gives the same names for these models):
  "falcon" when the pre-tokenizer is a Sequence holding Punctuation, Digits and ByteLevel
  (the Falcon tokenizer that falcon-mamba uses); "mpt" for a lone ByteLevel pre-tokenizer
  with an NFC normalizer (EleutherAI/gpt-neox-20b's tokenizer, used by state-spaces/mamba-*);
  "gpt-2" for any other byte-level BPE. --pre overrides it.
* Token types: added tokens marked special are CONTROL, other added tokens USER_DEFINED,
  the rest NORMAL. Special ids come from tokenizer_config.json / special_tokens_map.json,
  then config.json's *_token_id for those still unknown (llama.cpp's order of precedence).
* Falcon-Mamba sets mamba.ssm.dt_b_c_rms = true. Its dt/B/C norms use config
  mixer_rms_eps in transformers but the GGUF has one epsilon
  (mamba.attention.layer_norm_rms_epsilon = layer_norm_epsilon) for every RMS norm, as
  llama.cpp has; the converter says so when the two differ (docs/CORRECTNESS.md has the
  measured effect).

Memory: the safetensors files are memory-mapped and each tensor is converted in chunks of
rows (a few MiB), written at once; the output is renamed into place only when complete.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import gguf_writer as gw
from .safetensors_io import Checkpoint, open_checkpoint, to_float32

SUPPORTED_MODEL_TYPES = ("falcon_mamba", "mamba")
CHUNK_BYTES = 8 << 20  # f32 bytes converted at a time

# token types (llama.cpp's numbering)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


class ConversionError(Exception):
    """A checkpoint kaa.convert cannot turn into a model (message says why)."""


# ---- config -----------------------------------------------------------------------------

@dataclass
class HParams:
    model_type: str
    d_model: int
    n_layer: int
    d_inner: int
    d_state: int
    d_conv: int
    dt_rank: int
    rms_eps: float
    vocab_size: int
    tied: bool
    dt_b_c_rms: bool
    pad_multiple: int = 8
    mixer_rms_eps: Optional[float] = None
    use_conv_bias: bool = True
    raw: Dict = field(default_factory=dict, repr=False)


def _find(cfg: Dict, *names: str, default=None):
    for n in names:
        if n in cfg and cfg[n] is not None:
            return cfg[n]
    return default


def read_config(folder: str) -> HParams:
    path = os.path.join(folder, "config.json")
    if not os.path.exists(path):
        raise ConversionError(f"{folder}: no config.json (is this a Hugging Face model folder?)")
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    mt = cfg.get("model_type")
    archs = cfg.get("architectures") or []
    if mt not in SUPPORTED_MODEL_TYPES:
        raise ConversionError(
            f"unsupported architecture: config.json has model_type {mt!r} (architectures {archs}); "
            f"kaa runs Mamba-1 models: model_type {' or '.join(SUPPORTED_MODEL_TYPES)} "
            "(Mamba-2, Jamba, Zamba and other hybrids are different models)")
    if _find(cfg, "use_bias", default=False):
        raise ConversionError("config.json has use_bias = true (biases on in_proj/out_proj); "
                              "the GGUF Mamba layout has no place for them")
    act = _find(cfg, "hidden_act", default="silu")
    if act not in ("silu", "swish"):
        raise ConversionError(f"config.json has hidden_act {act!r}; Mamba-1 in kaa uses silu")
    d_model = _find(cfg, "hidden_size", "d_model")
    n_layer = _find(cfg, "num_hidden_layers", "n_layer")
    if d_model is None or n_layer is None:
        raise ConversionError("config.json lacks hidden_size / num_hidden_layers")
    d_inner = _find(cfg, "intermediate_size", "d_inner", default=None)
    if d_inner is None:
        d_inner = int(_find(cfg, "expand", default=2)) * int(d_model)
    dt_rank = _find(cfg, "time_step_rank", "dt_rank", default="auto")
    if dt_rank == "auto":
        dt_rank = math.ceil(int(d_model) / 16)
    falcon = mt == "falcon_mamba"
    vocab = _find(cfg, "vocab_size")
    if vocab is None:
        raise ConversionError("config.json lacks vocab_size")
    return HParams(
        model_type=mt, d_model=int(d_model), n_layer=int(n_layer), d_inner=int(d_inner),
        d_state=int(_find(cfg, "state_size", "d_state", default=16)),
        d_conv=int(_find(cfg, "conv_kernel", "d_conv", default=4)), dt_rank=int(dt_rank),
        rms_eps=float(_find(cfg, "layer_norm_epsilon", "rms_norm_eps", default=1e-5)),
        vocab_size=int(vocab), tied=bool(cfg.get("tie_word_embeddings", True)),
        dt_b_c_rms=falcon, pad_multiple=int(_find(cfg, "pad_vocab_size_multiple", default=8)),
        mixer_rms_eps=float(cfg.get("mixer_rms_eps", 1e-6)) if falcon else None,
        use_conv_bias=bool(_find(cfg, "use_conv_bias", default=True)), raw=cfg)


# ---- tokenizer ---------------------------------------------------------------------------

@dataclass
class Vocab:
    tokens: List[str]
    types: List[int]
    merges: List[str]
    pre: str
    special: Dict[str, int]                  # bos / eos / unk / pad -> id
    add_bos: Optional[bool] = None
    add_eos: Optional[bool] = None
    chat_templates: Dict[str, str] = field(default_factory=dict)  # "default" first


def _load_json(path: str) -> Optional[Dict]:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _components(node: Optional[Dict], key: str) -> List[Dict]:
    """A tokenizers pipeline element and, for a Sequence, its members (flattened)."""
    if not node:
        return []
    if node.get("type") == "Sequence":
        out = []
        for sub in node.get(key) or []:
            out += _components(sub, key)
        return out
    return [node]


def detect_pre(tok: Dict) -> str:
    """tokenizer.ggml.pre for a byte-level BPE tokenizer.json (rule in the module doc)."""
    pres = {p.get("type") for p in _components(tok.get("pre_tokenizer"), "pretokenizers")}
    norms = {n.get("type") for n in _components(tok.get("normalizer"), "normalizers")}
    if {"Punctuation", "Digits", "ByteLevel"} <= pres:
        return "falcon"
    if pres == {"ByteLevel"} and norms == {"NFC"}:
        return "mpt"
    return "gpt-2"


def _token_content(v) -> Optional[str]:
    if isinstance(v, dict):
        return v.get("content")
    return v if isinstance(v, str) else None


def read_tokenizer(folder: str, n_vocab: int, cfg: Dict, pre_override: Optional[str] = None) -> Vocab:
    tok = _load_json(os.path.join(folder, "tokenizer.json"))
    if tok is None:
        have = [n for n in ("tokenizer.model", "vocab.json", "merges.txt") if os.path.exists(os.path.join(folder, n))]
        raise ConversionError(
            f"{folder}: no tokenizer.json" + (f" (found {', '.join(have)})" if have else "") +
            "; kaa.convert reads the fast-tokenizer file: save it with "
            "AutoTokenizer.from_pretrained(...).save_pretrained(folder)")
    model = tok.get("model") or {}
    if model.get("type") != "BPE":
        raise ConversionError(f"tokenizer.json has a {model.get('type')!r} model; kaa supports byte-level BPE")
    pres = {p.get("type") for p in _components(tok.get("pre_tokenizer"), "pretokenizers")}
    decs = {d.get("type") for d in _components(tok.get("decoder"), "decoders")}
    if "ByteLevel" not in pres and "ByteLevel" not in decs:
        raise ConversionError("tokenizer.json is BPE but not byte-level (no ByteLevel pre-tokenizer or "
                              "decoder, e.g. a SentencePiece-style BPE); kaa supports GPT-2-style byte-level BPE")
    vocab: Dict[str, int] = model.get("vocab") or {}
    added = tok.get("added_tokens") or []
    max_id = max([-1] + list(vocab.values()) + [int(a["id"]) for a in added])
    mult = max(1, int(_find(cfg, "pad_vocab_size_multiple", default=8)))
    n = -(-max(n_vocab, max_id + 1) // mult) * mult

    tokens: List[Optional[str]] = [None] * n
    types = [UNUSED] * n
    for text, i in vocab.items():
        if tokens[i] is not None and tokens[i] != text:
            raise ConversionError(f"tokenizer.json: id {i} is both {tokens[i]!r} and {text!r}")
        tokens[i], types[i] = text, NORMAL
    for a in added:
        i = int(a["id"])
        tokens[i] = a["content"]
        types[i] = CONTROL if a.get("special") else USER_DEFINED
    for i in range(n):
        if tokens[i] is None:
            tokens[i] = f"[PAD{i}]"
    by_text = {t: i for i, t in enumerate(tokens) if types[i] != UNUSED}
    for a in added:  # an added token wins over a vocab entry of the same text
        by_text[a["content"]] = int(a["id"])

    merges = []
    for m in model.get("merges") or []:
        merges.append(m if isinstance(m, str) else " ".join(m))

    tcfg = _load_json(os.path.join(folder, "tokenizer_config.json")) or {}
    smap = _load_json(os.path.join(folder, "special_tokens_map.json")) or {}
    special: Dict[str, int] = {}
    for kind in ("bos", "eos", "unk", "pad"):
        text = _token_content(tcfg.get(f"{kind}_token")) or _token_content(smap.get(f"{kind}_token"))
        i = by_text.get(text) if text is not None else None
        if i is None:
            v = cfg.get(f"{kind}_token_id")
            i = v[0] if isinstance(v, list) and v else v
        if isinstance(i, int) and 0 <= i < n:
            special[kind] = i

    templates: Dict[str, str] = {}
    ct = tcfg.get("chat_template")
    jinja = os.path.join(folder, "chat_template.jinja")
    if ct is None and os.path.exists(jinja):
        with open(jinja, encoding="utf-8") as f:
            ct = f.read()
    if ct is None:
        ct = (_load_json(os.path.join(folder, "chat_template.json")) or {}).get("chat_template")
    if isinstance(ct, str):
        templates["default"] = ct
    elif isinstance(ct, list):
        for entry in ct:
            templates[entry["name"]] = entry["template"]
    add_bos = tcfg.get("add_bos_token")
    add_eos = tcfg.get("add_eos_token")
    return Vocab(tokens=tokens, types=types, merges=merges, pre=pre_override or detect_pre(tok),
                 special=special, add_bos=add_bos if isinstance(add_bos, bool) else None,
                 add_eos=add_eos if isinstance(add_eos, bool) else None, chat_templates=templates)


# ---- tensors -----------------------------------------------------------------------------

MATRIX_SUFFIXES = (".ssm_in.weight", ".ssm_x.weight", ".ssm_dt.weight", ".ssm_out.weight")


def tensor_type(name: str, ne0: int, target: int) -> int:
    """The per-tensor rule (same as kaa's C++ gguf::tensor_type_for)."""
    matrix = name in ("token_embd.weight", "output.weight") or name.endswith(MATRIX_SUFFIXES)
    if not matrix:
        return gw.F32
    if target == gw.Q8_0 and ne0 % gw.QK8_0:
        return gw.F16
    return target


@dataclass
class Plan:
    name: str                 # GGUF name
    source: Optional[str]     # checkpoint name (None: zeros)
    shape: Tuple[int, ...]    # numpy order of the GGUF tensor (ne reversed)
    type: int
    transform: str = ""       # "", "neg_exp", "pad_rows"


def _prefixes(ckpt: Checkpoint) -> Tuple[str, str]:
    """('backbone.embeddings.weight' style root, embedding name) of this checkpoint."""
    for emb in ("backbone.embeddings.weight", "backbone.embedding.weight"):
        if emb in ckpt:
            return "backbone.", emb
    raise ConversionError("the checkpoint has no backbone.embeddings.weight: not a Mamba checkpoint "
                          f"(first tensors: {', '.join(ckpt.keys()[:5])})")


def _same_tensor(ckpt: Checkpoint, a: str, b: str) -> bool:
    """Bitwise equality, compared a few MiB at a time (an untied head differs at once)."""
    if ckpt.shape(a) != ckpt.shape(b) or ckpt.dtype(a) != ckpt.dtype(b):
        return False
    x, y = ckpt.raw(a).reshape(ckpt.shape(a)[0], -1), ckpt.raw(b).reshape(ckpt.shape(b)[0], -1)
    step = max(1, CHUNK_BYTES // max(1, x[:1].nbytes))
    for r0 in range(0, len(x), step):
        same = np.array_equal(x[r0:r0 + step], y[r0:r0 + step])
        ckpt.release(a, r0, r0 + step)
        ckpt.release(b, r0, r0 + step)
        if not same:
            return False
    return True


def plan_tensors(hp: HParams, ckpt: Checkpoint, n_vocab: int, target: int) -> Tuple[List[Plan], List[str]]:
    """The GGUF tensors in llama.cpp's order, and warnings."""
    root, emb = _prefixes(ckpt)
    warnings: List[str] = []
    plans: List[Plan] = []
    used = set()

    def add(name: str, source: Optional[str], shape: Tuple[int, ...], want_src: Optional[Tuple[int, ...]] = None,
            transform: str = "") -> None:
        if source is not None:
            if source not in ckpt:
                raise ConversionError(f"the checkpoint lacks {source} (needed for {name})")
            got = tuple(ckpt.shape(source))
            if got != (want_src or shape):
                raise ConversionError(f"{source} has shape {list(got)}, expected {list(want_src or shape)} "
                                      "from config.json")
            used.add(source)
        plans.append(Plan(name, source, shape, tensor_type(name, shape[-1], target), transform))

    V, D, Di, S, K, R = n_vocab, hp.d_model, hp.d_inner, hp.d_state, hp.d_conv, hp.dt_rank
    emb_rows = ckpt.shape(emb)[0]
    if emb_rows > V or ckpt.shape(emb)[1:] != [D]:
        raise ConversionError(f"{emb} has shape {ckpt.shape(emb)}, expected [<= {V}, {D}]")
    add("token_embd.weight", emb, (V, D), (emb_rows, D), "pad_rows")
    for i in range(hp.n_layer):
        L, m = f"blk.{i}.", f"{root}layers.{i}.mixer."
        add(L + "attn_norm.weight", f"{root}layers.{i}.norm.weight", (D,))
        add(L + "ssm_in.weight", m + "in_proj.weight", (2 * Di, D))
        add(L + "ssm_conv1d.weight", m + "conv1d.weight", (Di, K), (Di, 1, K))  # squeezed to 2-D
        if m + "conv1d.bias" in ckpt:
            add(L + "ssm_conv1d.bias", m + "conv1d.bias", (Di,))
        else:  # use_conv_bias = false: a zero bias computes the same thing
            add(L + "ssm_conv1d.bias", None, (Di,))
        add(L + "ssm_x.weight", m + "x_proj.weight", (R + 2 * S, Di))
        add(L + "ssm_dt.weight", m + "dt_proj.weight", (Di, R))
        add(L + "ssm_dt.bias", m + "dt_proj.bias", (Di,))
        add(L + "ssm_a", m + "A_log", (Di, S), transform="neg_exp")
        add(L + "ssm_d", m + "D", (Di,))
        add(L + "ssm_out.weight", m + "out_proj.weight", (D, Di))
    add("output_norm.weight", f"{root}norm_f.weight", (D,))

    head = "lm_head.weight"
    if head in ckpt and not hp.tied:
        if _same_tensor(ckpt, head, emb):
            used.add(head)  # identical to the embedding: tied in all but name
        else:
            add("output.weight", head, (V, D), (ckpt.shape(head)[0], D), "pad_rows")
            if ckpt.shape(head)[0] > V:
                raise ConversionError(f"{head} has more rows than the vocabulary ({V})")
    elif head in ckpt:
        used.add(head)  # tie_word_embeddings: transformers ignores the stored head too
    elif not hp.tied:
        raise ConversionError("config.json has tie_word_embeddings = false but the checkpoint has no "
                              "lm_head.weight")
    extra = [k for k in ckpt.keys() if k not in used]
    if extra:
        raise ConversionError("the checkpoint has tensors a Mamba-1 model does not use: " +
                              ", ".join(extra[:8]) + (" ..." if len(extra) > 8 else ""))
    return plans, warnings


def _chunks(plan: Plan, ckpt: Checkpoint):
    """Yields float32 arrays of consecutive rows of the GGUF tensor (numpy order); the
    source rows already converted are released from memory as it goes."""
    shape = plan.shape
    if plan.source is None:
        yield np.zeros(shape, dtype=np.float32)
        return
    src = ckpt.raw(plan.source)
    dtype = ckpt.dtype(plan.source)
    if plan.transform == "neg_exp":
        # -exp(A_log) in float64, rounded once to f32 (transformers computes it in f32).
        a = src.astype(np.float64) if dtype in ("F64", "F32", "F16") else to_float32(src, dtype).astype(np.float64)
        yield (-np.exp(a)).astype(np.float32)
        return
    src = src.reshape(-1, shape[-1]) if len(shape) > 1 else src.reshape(1, -1)
    rows_total = shape[0] if len(shape) > 1 else 1
    step = max(1, CHUNK_BYTES // (4 * shape[-1]))
    for r0 in range(0, rows_total, step):
        r1 = min(rows_total, r0 + step)
        have = max(0, min(r1, src.shape[0]) - r0)
        if have == r1 - r0:
            block = to_float32(src[r0:r1], dtype)
        else:  # rows past the source: zero padding (vocabulary rounded up)
            block = np.zeros((r1 - r0, shape[-1]), dtype=np.float32)
            block[:have] = to_float32(src[r0:r0 + have], dtype)
        yield block if len(shape) > 1 else block.reshape(-1)
        if have and len(shape) > 1:
            ckpt.release(plan.source, r0, r0 + have)
    del src


# ---- progress ----------------------------------------------------------------------------

class Progress:
    """A progress bar on stderr (no dependencies): one line redrawn ~10 times a second on
    a terminal; in a log (not a terminal), a plain line every ~5 seconds."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.done, self.enabled = max(total, 1), 0, enabled
        self.tty = enabled and sys.stderr.isatty()
        self.last = time.monotonic()

    def update(self, n: int, label: str) -> None:
        self.done += n
        now = time.monotonic()
        if not self.enabled or now - self.last < (0.1 if self.tty else 5.0):
            return
        self.last = now
        frac = min(1.0, self.done / self.total)
        bar = "#" * int(frac * 30)
        line = f"[{bar:<30}] {frac * 100:5.1f}% {label[:40]:<40}"
        sys.stderr.write("\r" + line if self.tty else line.rstrip() + "\n")
        sys.stderr.flush()

    def finish(self, msg: str) -> None:
        if self.enabled:
            line = f"[{'#' * 30}] 100.0% {msg}"
            sys.stderr.write(("\r" + line + " " * 20 if self.tty else line) + "\n")
            sys.stderr.flush()


# ---- driver ------------------------------------------------------------------------------

def convert(hf_dir: str, out_path: str, out_type: str = "f16", *, name: Optional[str] = None,
            pre: Optional[str] = None, progress: bool = True,
            log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> Dict:
    """Converts HF_DIR into OUT_PATH; returns a summary dict. Raises ConversionError,
    FileNotFoundError or ValueError with a message naming the problem."""
    if out_type.lower() not in gw.TYPE_BY_NAME:
        raise ConversionError(f"--type must be one of {', '.join(gw.TYPE_BY_NAME)}, got {out_type!r}")
    target = gw.TYPE_BY_NAME[out_type.lower()]
    if not os.path.isdir(hf_dir):
        raise FileNotFoundError(f"{hf_dir}: not a folder")
    hp = read_config(hf_dir)
    ckpt = open_checkpoint(hf_dir)
    try:
        _, emb = _prefixes(ckpt)
        n_vocab_min = max(hp.vocab_size, ckpt.shape(emb)[0])
        vocab = read_tokenizer(hf_dir, n_vocab_min, hp.raw, pre)
        n_vocab = len(vocab.tokens)
        plans, warnings = plan_tensors(hp, ckpt, n_vocab, target)
        if hp.mixer_rms_eps is not None and hp.mixer_rms_eps != hp.rms_eps:
            warnings.append(f"mixer_rms_eps = {hp.mixer_rms_eps:g} (dt/B/C norms) differs from layer_norm_epsilon "
                            f"= {hp.rms_eps:g}; the GGUF format has one epsilon, layer_norm_epsilon is used")
        for w in warnings:
            log(f"kaa.convert: warning: {w}")

        w = gw.GGUFWriter(out_path)
        w.add_string("general.architecture", "mamba")
        w.add_string("general.name", name or os.path.basename(os.path.normpath(hf_dir)))
        w.add_uint32("mamba.context_length", 1 << 20)  # no positional limit: llama.cpp's value
        w.add_uint32("mamba.embedding_length", hp.d_model)
        w.add_uint32("mamba.feed_forward_length", 0)
        w.add_uint32("mamba.attention.head_count", 0)
        w.add_uint32("mamba.block_count", hp.n_layer)
        w.add_uint32("mamba.ssm.conv_kernel", hp.d_conv)
        w.add_uint32("mamba.ssm.inner_size", hp.d_inner)
        w.add_uint32("mamba.ssm.state_size", hp.d_state)
        w.add_uint32("mamba.ssm.time_step_rank", hp.dt_rank)
        w.add_float32("mamba.attention.layer_norm_rms_epsilon", hp.rms_eps)
        w.add_bool("mamba.ssm.dt_b_c_rms", hp.dt_b_c_rms)
        w.add_uint32("general.file_type", gw.FILE_TYPE[target])
        w.add_uint32("general.quantization_version", 2)
        w.add_string("tokenizer.ggml.model", "gpt2")
        w.add_string("tokenizer.ggml.pre", vocab.pre)
        w.add_array("tokenizer.ggml.tokens", vocab.tokens, gw.STRING)
        w.add_array("tokenizer.ggml.token_type", vocab.types, gw.INT32)
        w.add_array("tokenizer.ggml.merges", vocab.merges, gw.STRING)
        keys = {"eos": "eos_token_id", "bos": "bos_token_id", "unk": "unknown_token_id", "pad": "padding_token_id"}
        for kind, key in keys.items():
            if kind in vocab.special:
                w.add_uint32("tokenizer.ggml." + key, vocab.special[kind])
        if vocab.add_bos is not None:
            w.add_bool("tokenizer.ggml.add_bos_token", vocab.add_bos)
        if vocab.add_eos is not None:
            w.add_bool("tokenizer.ggml.add_eos_token", vocab.add_eos)
        if "default" in vocab.chat_templates:
            w.add_string("tokenizer.chat_template", vocab.chat_templates["default"])
        named = [k for k in vocab.chat_templates if k != "default"]
        for k in named:
            w.add_string(f"tokenizer.chat_template.{k}", vocab.chat_templates[k])
        if named:
            w.add_array("tokenizer.chat_templates", named, gw.STRING)

        for p in plans:
            w.add_tensor_info(p.name, list(reversed(p.shape)), p.type)
        total = sum(int(np.prod(p.shape)) for p in plans)
        bar = Progress(total, progress)
        t0 = time.monotonic()
        with w.open():
            for p in plans:
                for chunk in _chunks(p, ckpt):
                    if p.type == gw.F16 and p.source and ckpt.dtype(p.source) != "F16" \
                            and float(np.abs(chunk).max()) > 65504.0:
                        raise ConversionError(f"{p.name}: values beyond the F16 range (max |x| "
                                              f"{float(np.abs(chunk).max()):g}); use --type bf16 or f32")
                    try:
                        w.write_tensor_data(gw.encode(p.type, chunk))
                    except ValueError as e:
                        raise ConversionError(f"{p.name}: {e}") from None
                    bar.update(chunk.size, f"{p.name} {gw.TYPE_NAMES[p.type]}")
        size = os.path.getsize(out_path)
        bar.finish(f"{out_path}: {len(plans)} tensors, {size / 2**20:.1f} MiB in {time.monotonic() - t0:.1f} s")
        return {"path": out_path, "type": out_type.lower(), "n_tensors": len(plans), "n_vocab": n_vocab,
                "bytes": size, "tied": not any(p.name == "output.weight" for p in plans), "pre": vocab.pre,
                "warnings": warnings}
    finally:
        ckpt.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kaa.convert",
                                 description="Convert a Hugging Face Mamba / Falcon-Mamba checkpoint to GGUF.")
    ap.add_argument("hf_dir", help="folder with config.json, *.safetensors and tokenizer.json")
    ap.add_argument("out", help="output .gguf file")
    ap.add_argument("--type", default="f16", choices=sorted(gw.TYPE_BY_NAME),
                    help="type of the weight matrices (default f16); norms, biases, ssm_a/ssm_d, conv stay f32")
    ap.add_argument("--name", help="general.name (default: the folder name)")
    ap.add_argument("--pre", help="tokenizer.ggml.pre override (falcon, mpt, gpt-2, default)")
    ap.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    try:
        info = convert(args.hf_dir, args.out, args.type, name=args.name, pre=args.pre, progress=not args.quiet)
    except (ConversionError, FileNotFoundError, ValueError, OSError) as e:
        print(f"kaa.convert: error: {e}", file=sys.stderr)
        return 1
    print(f"kaa.convert: wrote {info['path']} ({info['type']}, {info['n_tensors']} tensors, "
          f"vocab {info['n_vocab']}, {'tied' if info['tied'] else 'untied'}, pre {info['pre']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
