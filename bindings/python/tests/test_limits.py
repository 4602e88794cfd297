"""User-set limits: Model(max_metadata_bytes=...), Session(max_tokens_per_call=...,
max_generation_tokens=...). Exceeding one raises kaa.Error naming it, and evaluates nothing."""

import numpy as np
import pytest

import kaa
from conftest import shared_path


def test_max_metadata_bytes():
    path = shared_path("models/tiny-falcon-mamba-q8_0.gguf")
    # The tiny Falcon-Mamba carries the real 65k-token vocabulary: a ~2.2 MB header.
    with pytest.raises(kaa.Error) as e:
        kaa.Model(path, max_metadata_bytes=1 << 20)
    assert e.value.code == kaa.ErrorCode.unsupported
    assert "max_metadata_bytes (1048576)" in str(e.value)
    with pytest.raises(kaa.Error) as e:
        kaa.Model(path, max_metadata_bytes=0)
    assert e.value.code == kaa.ErrorCode.invalid_argument
    assert kaa.Model(path, max_metadata_bytes=4 << 20).n_vocab == 65024


def test_session_limit_defaults(q8_model):
    s = q8_model.session()
    assert s.max_tokens_per_call == 1 << 20
    assert s.max_generation_tokens == 1 << 24
    s = kaa.Session(q8_model, max_tokens_per_call=7, max_generation_tokens=0)
    assert (s.max_tokens_per_call, s.max_generation_tokens) == (7, 0)


def test_session_limits_refuse_before_evaluating(q8_model, hello_ids):
    s = q8_model.session(max_tokens_per_call=3, max_generation_tokens=4)
    other = q8_model.session()
    s.eval(hello_ids[:3])
    before = s.logits.copy()
    calls = [
        lambda: s.eval(hello_ids),
        lambda: kaa.eval_batch([other, s], [hello_ids[:1], hello_ids]),
        lambda: s.generate(hello_ids, max_tokens=1),
        lambda: s.generate("Hello how are you?", max_tokens=1),  # 5 tokens
    ]
    for call in calls:
        with pytest.raises(kaa.Error) as e:
            call()
        assert e.value.code == kaa.ErrorCode.invalid_argument
        assert "max_tokens_per_call (3)" in str(e.value)
    with pytest.raises(kaa.Error) as e:
        s.generate(max_tokens=5)
    assert e.value.code == kaa.ErrorCode.invalid_argument
    assert "max_generation_tokens (4)" in str(e.value)
    assert s.position == 3 and other.position == 0
    np.testing.assert_array_equal(s.logits, before)
    # Up to the limits everything works.
    s.generate(max_tokens=4, ignore_eos=True, temperature=0)
    assert s.position == 3 + 4
    assert len(s.last_result.tokens) == 4


@pytest.mark.parametrize("kwargs", [{"max_tokens_per_call": 0}, {"max_generation_tokens": -1}])
def test_bad_limits(q8_model, kwargs):
    with pytest.raises(kaa.Error) as e:
        q8_model.session(**kwargs)
    assert e.value.code == kaa.ErrorCode.invalid_argument
