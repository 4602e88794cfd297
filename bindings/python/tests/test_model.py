"""Model loading, metadata, tokenizer and errors."""

import numpy as np
import pytest

import kaa
from conftest import golden_case, load_golden, shared_path


def test_version():
    assert kaa.__version__.count(".") == 2


def test_metadata(q8_model):
    m = q8_model
    assert m.architecture == "mamba"
    assert m.name == "tiny-falcon-mamba-q8_0"
    assert m.file_type == "Q8_0"
    assert m.n_vocab == 65024
    hp = m.hparams
    assert (hp.d_model, hp.n_layer, hp.d_inner, hp.d_state, hp.d_conv, hp.dt_rank) == (64, 2, 128, 16, 4, 4)
    assert hp.dt_b_c_rms and not hp.tied_embeddings
    assert hp._asdict()["n_vocab"] == 65024
    assert m.state_size == 2 * (128 * 3 + 128 * 16) * 4
    assert m.meta("general.architecture") == "mamba"
    assert m.meta("no.such.key") is None
    assert m.metadata["mamba.block_count"] == "2"
    assert "<|im_start|>" in m.chat_template
    assert any(t.name == "token_embd.weight" and t.type == "Q8_0" for t in m.tensors())
    assert m.eos_token_id == 11
    assert m.backend
    assert "tiny-falcon-mamba-q8_0" in repr(m)


def test_tied_f32(f32_model):
    assert f32_model.hparams.tied_embeddings
    assert f32_model.file_type == "F32"


@pytest.mark.parametrize("case", ["hello", "unicode", "long"])
def test_tokenize_matches_golden(f32_model, case):
    c = golden_case("tiny-falcon-mamba-f32", case)
    ids = f32_model.tokenize(c["text"])
    assert ids == c["tokens"][: c["n_prompt"]]
    assert f32_model.detokenize(ids) == c["text"]


def test_tokenize_options(q8_model, hello_ids):
    assert q8_model.tokenize("Hello how are you?", add_bos=True) == [q8_model.bos_token_id] + hello_ids
    plain = q8_model.tokenize("<|endoftext|>")
    special = q8_model.tokenize("<|endoftext|>", parse_special=True)
    assert special == [11] and plain != special
    assert q8_model.detokenize(special, skip_special=True) == ""
    assert q8_model.token_to_piece(9856) == b"Hello"
    assert q8_model.detokenize_bytes(np.array(hello_ids, dtype=np.int64)) == b"Hello how are you?"


def test_tokenizer_from_vocab_only_file():
    tok = kaa.Tokenizer.from_file(shared_path("models/falcon-vocab-only.gguf"))
    assert tok.n_vocab == 65024 and tok.pre_tokenizer == "falcon"
    assert tok.encode("Hello how are you?") == [9856, 672, 362, 299, 42]


def test_load_errors(tmp_path):
    with pytest.raises(kaa.Error) as e:
        kaa.Model(tmp_path / "missing.gguf")
    assert e.value.code == kaa.ErrorCode.io
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"NOTGGUF" + b"\xff" * 60)
    with pytest.raises(kaa.Error) as e:
        kaa.Model(junk)
    assert e.value.code == kaa.ErrorCode.invalid_file
    assert isinstance(e.value, RuntimeError) and str(e.value)
    with pytest.raises(kaa.Error) as e:
        kaa.Model(shared_path("models/falcon-vocab-only.gguf"))
    assert e.value.code == kaa.ErrorCode.unsupported


def test_load_progress_and_cancel():
    path = shared_path("models/tiny-mamba-q8_0.gguf")
    seen = []
    kaa.Model(path, progress=seen.append)
    assert seen and seen[-1] == 1.0
    with pytest.raises(kaa.Error) as e:
        kaa.Model(path, progress=lambda f: False)
    assert e.value.code == kaa.ErrorCode.cancelled

    def boom(f):
        raise ValueError("from the callback")

    with pytest.raises(ValueError, match="from the callback"):
        kaa.Model(path, progress=boom)


def test_bad_token_ids(q8_model):
    with pytest.raises(kaa.Error) as e:
        q8_model.detokenize([65024])
    assert e.value.code == kaa.ErrorCode.invalid_token
    with pytest.raises(kaa.Error) as e:
        q8_model.detokenize([2**40])
    assert e.value.code == kaa.ErrorCode.invalid_token
    with pytest.raises(TypeError):
        q8_model.detokenize("text")
    with pytest.raises(TypeError):
        q8_model.detokenize(np.array([1.5]))


def test_golden_files_present():
    assert load_golden("tiny-falcon-mamba-q8_0")["n_vocab"] == 65024


def test_device_argument():
    """device="cuda" without a usable GPU (this build or machine) is a clear kaa.Error, a
    bad device name is refused, and device="cpu" is the default."""
    path = shared_path("models/tiny-falcon-mamba-q8_0.gguf")
    assert isinstance(kaa.cuda_device_count(), int) and kaa.cuda_device_count() >= 0
    with pytest.raises(kaa.Error) as e:
        kaa.Model(path, device="tpu")
    assert e.value.code == kaa.ErrorCode.invalid_argument
    with pytest.raises(kaa.Error) as e:
        kaa.Model(path, device="cuda", gpu_index=-1)
    assert e.value.code == kaa.ErrorCode.invalid_argument
    if kaa.cuda_device_count() == 0:
        with pytest.raises(kaa.Error) as e:
            kaa.Model(path, device="cuda")
        assert e.value.code == kaa.ErrorCode.unsupported
    assert kaa.Model(path, device="cpu").n_vocab == 65024
