"""Session.eval against the goldens; batch evaluation; token inputs."""

import numpy as np
import pytest

import kaa
from conftest import ARGMAX_MARGIN, LOGIT_TOLERANCE, golden_case


@pytest.mark.parametrize("name,fixture", [("tiny-falcon-mamba-q8_0", "q8_model"),
                                          ("tiny-falcon-mamba-f32", "f32_model")])
def test_eval_matches_golden(request, name, fixture):
    model = request.getfixturevalue(fixture)
    c = golden_case(name, "hello")
    s = model.session()
    logits = s.eval(c["tokens"], all_logits=True)
    assert logits.dtype == np.float32
    assert logits.shape == (len(c["tokens"]), model.n_vocab)
    for pos in range(len(c["tokens"])):
        got = logits[pos, c["top_ids"][pos]]
        assert np.max(np.abs(got - np.array(c["top_logits"][pos]))) <= LOGIT_TOLERANCE, pos
        if c["top1_margin"][pos] > ARGMAX_MARGIN:
            assert int(np.argmax(logits[pos])) == c["argmax"][pos], pos
    assert s.position == len(c["tokens"])


def test_eval_last_logits(q8_model, hello_ids):
    s = q8_model.session()
    last = s.eval(hello_ids)
    assert last.shape == (q8_model.n_vocab,)
    c = golden_case("tiny-falcon-mamba-q8_0", "hello")
    assert int(np.argmax(last)) == c["argmax"][4]
    assert abs(float(last[c["argmax"][4]]) - c["top_logits"][4][0]) <= LOGIT_TOLERANCE
    # The returned array is a copy.
    last[:] = 0
    assert np.array_equal(np.argmax(s.logits), c["argmax"][4])
    # NumPy token arrays work too.
    s2 = q8_model.session()
    np.testing.assert_array_equal(s2.eval(np.array(hello_ids, dtype=np.int32)), s.logits)


def test_eval_errors(q8_model, hello_ids):
    s = q8_model.session()
    s.eval(hello_ids)
    for bad in ([65024], [-1], [1, 2, 70000]):
        with pytest.raises(kaa.Error) as e:
            s.eval(bad)
        assert e.value.code == kaa.ErrorCode.invalid_token
    with pytest.raises(kaa.Error) as e:
        s.eval([])
    assert e.value.code == kaa.ErrorCode.invalid_argument
    assert s.position == 5  # nothing was evaluated
    assert s.logits.shape == (q8_model.n_vocab,)
    assert q8_model.session().logits.shape == (0,)


def test_eval_batch_equals_separate(q8_model, hello_ids):
    a, b, c = q8_model.session(), q8_model.session(), q8_model.session()
    a.eval(hello_ids[:2])
    out = kaa.eval_batch([a, b, c], [hello_ids[2:], hello_ids, [42]])
    ref_a = q8_model.session()
    ref_a.eval(hello_ids[:2])
    np.testing.assert_array_equal(out[0], ref_a.eval(hello_ids[2:]))
    np.testing.assert_array_equal(out[1], q8_model.session().eval(hello_ids))
    np.testing.assert_array_equal(out[2], q8_model.session().eval([42]))
    assert [a.position, b.position, c.position] == [5, 5, 1]
    with pytest.raises(kaa.Error):
        kaa.eval_batch([a, a], [[1], [2]])
    with pytest.raises(kaa.Error):
        kaa.eval_batch([a, b], [[1]])


def test_threads_and_chunks_do_not_change_results(q8_model):
    c = golden_case("tiny-falcon-mamba-q8_0", "long")
    ids = c["tokens"]
    ref = q8_model.session(n_threads=1).eval(ids)
    np.testing.assert_array_equal(q8_model.session(n_threads=2, n_batch=7).eval(ids), ref)


def test_exact_precision_matches_golden_tightly():
    from conftest import shared_path

    model = kaa.Model(shared_path("models/tiny-falcon-mamba-q8_0.gguf"), precision="exact")
    assert model.precision == "exact"
    c = golden_case("tiny-falcon-mamba-q8_0", "hello")
    logits = model.session().eval(c["tokens"], all_logits=True)
    for pos in range(len(c["tokens"])):
        got = logits[pos, c["top_ids"][pos]]
        assert np.max(np.abs(got - np.array(c["top_logits"][pos]))) <= 1e-3, pos
    with pytest.raises(kaa.Error) as e:
        kaa.Model(shared_path("models/tiny-falcon-mamba-q8_0.gguf"), precision="fastest")
    assert e.value.code == kaa.ErrorCode.invalid_argument
