"""State as a value: pickle, copy, save/load, fork, mismatches, corruption."""

import copy
import pickle

import numpy as np
import pytest

import kaa


def _continue(session, tokens):
    return session.generate(tokens, max_tokens=8, temperature=0, ignore_eos=True)


def test_pickle_round_trip_continues_identically(q8_model, hello_ids):
    s = q8_model.session()
    s.eval(hello_ids)
    st = s.state()
    assert st.position == 5 and not st.empty and st.nbytes == q8_model.state_size
    blob = pickle.dumps(st)
    restored = pickle.loads(blob)
    assert isinstance(restored, kaa.State) and restored.position == 5
    a = _continue(s, [42])
    s2 = q8_model.session()
    s2.set_state(restored)
    assert s2.position == 5
    assert _continue(s2, [42]) == a


def test_serialize_save_load_copy(q8_model, hello_ids, tmp_path):
    s = q8_model.session()
    s.eval(hello_ids)
    st = s.state()
    st.user_data = b"chat history"
    for other in (kaa.State.deserialize(st.serialize()), copy.copy(st), copy.deepcopy(st)):
        assert other.user_data == b"chat history"
        assert other.serialize() == st.serialize()
    path = tmp_path / "s.kaastate"
    st.save(path)
    loaded = kaa.State.load(str(path))
    assert loaded.serialize() == st.serialize()
    # Copies are independent.
    c = copy.copy(st)
    c.user_data = b"other"
    assert st.user_data == b"chat history"
    assert kaa.State().empty


def test_corrupt_and_foreign_states(q8_model, mamba_model, hello_ids):
    s = q8_model.session()
    s.eval(hello_ids)
    blob = bytearray(s.state().serialize())
    blob[len(blob) // 2] ^= 1
    with pytest.raises(kaa.Error) as e:
        kaa.State.deserialize(bytes(blob))
    assert e.value.code == kaa.ErrorCode.invalid_state
    for bad in (b"", b"KAASTATE", bytes(blob[:-3])):
        with pytest.raises(kaa.Error) as e:
            kaa.State.deserialize(bad)
        assert e.value.code == kaa.ErrorCode.invalid_state
    with pytest.raises(kaa.Error) as e:
        mamba_model.session().set_state(s.state())
    assert e.value.code == kaa.ErrorCode.state_mismatch
    with pytest.raises(kaa.Error) as e:
        s.set_state(kaa.State())
    assert e.value.code == kaa.ErrorCode.invalid_argument


def test_fork_independence(q8_model, hello_ids):
    a = q8_model.session()
    a.eval(hello_ids)
    b = a.fork()
    assert isinstance(b, kaa.Session) and b.position == 5
    np.testing.assert_array_equal(a.logits, b.logits)
    la = a.eval([42, 42])
    assert b.position == 5
    lb = b.eval([9856])
    assert not np.array_equal(la, lb)
    lb2 = b.fork().eval([42])  # a fork of b continues b, not a
    ref = q8_model.session()
    ref.eval(hello_ids + [9856])
    np.testing.assert_array_equal(lb2, ref.eval([42]))


def test_reset(q8_model, hello_ids):
    s = q8_model.session()
    first = s.eval(hello_ids)
    s.reset()
    assert s.position == 0 and s.logits.shape == (0,)
    np.testing.assert_array_equal(s.eval(hello_ids), first)
