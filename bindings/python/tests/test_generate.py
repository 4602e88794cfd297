"""Generation: greedy vs golden, streaming, stop strings, seeds, interruption."""

import signal
import threading
import time

import numpy as np
import pytest

import kaa
from conftest import golden_case


def test_greedy_matches_golden_continuation(f32_model):
    c = golden_case("tiny-falcon-mamba-f32", "hello")
    n_new = len(c["tokens"]) - c["n_prompt"]
    s = f32_model.session()
    text = s.generate(c["text"], max_tokens=n_new, temperature=0)
    res = s.last_result
    assert res.tokens == c["tokens"][c["n_prompt"]:]
    assert res.stop_reason == "max_tokens"
    assert text == res.text == f32_model.detokenize(res.tokens)
    assert res.timings.n_prompt == c["n_prompt"] and res.timings.n_generated == n_new
    assert s.position == len(c["tokens"])


def test_greedy_equals_eval_argmax_loop(q8_model, hello_ids):
    s = q8_model.session()
    s.generate(hello_ids, max_tokens=10, temperature=0, ignore_eos=True)
    got = s.last_result.tokens
    ref = q8_model.session()
    logits = ref.eval(hello_ids)
    for t in got:
        assert int(np.argmax(logits)) == t
        logits = ref.eval([t])


def test_stream_pieces_join_to_text(q8_model):
    prompt = "Hello how are you?"
    text = q8_model.session().generate(prompt, max_tokens=16, temperature=0, ignore_eos=True)
    s = q8_model.session()
    stream = s.generate(prompt, max_tokens=16, temperature=0, ignore_eos=True, stream=True)
    assert isinstance(stream, kaa.TextStream)
    pieces = list(stream)
    assert len(pieces) > 1 and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == text
    assert stream.result is not None and stream.result.text == text
    assert s.last_result is stream.result or s.last_result.text == text


def test_stop_strings(q8_model):
    prompt = "Hello how are you?"
    full = q8_model.session().generate(prompt, max_tokens=16, temperature=0, ignore_eos=True)
    stop = full[len(full) // 2: len(full) // 2 + 2]
    assert stop
    s = q8_model.session()
    cut = s.generate(prompt, max_tokens=16, temperature=0, ignore_eos=True, stop=[stop, "never-matches"])
    assert s.last_result.stop_reason == "stop_string"
    assert cut == full[: full.index(stop)]
    # stream=True gives the same text, without the stop string either.
    s2 = q8_model.session()
    assert "".join(s2.generate(prompt, max_tokens=16, temperature=0, ignore_eos=True, stop=stop, stream=True)) == cut


def test_seeded_sampling_reproduces(q8_model, hello_ids):
    kw = dict(max_tokens=12, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=42, ignore_eos=True)
    a = q8_model.session().generate(hello_ids, **kw)
    b = q8_model.session().generate(hello_ids, **kw)
    assert a == b
    with pytest.raises(kaa.Error) as e:
        q8_model.session().generate("x", top_p=-1)
    assert e.value.code == kaa.ErrorCode.invalid_argument
    with pytest.raises(kaa.Error):
        q8_model.session().generate("x", max_tokens=-1)


def test_continue_from_state(q8_model):
    s = q8_model.session()
    first = s.generate("Hello", max_tokens=4, temperature=0, ignore_eos=True)
    more = s.generate("", max_tokens=4, temperature=0, ignore_eos=True)
    ref = q8_model.session().generate("Hello", max_tokens=8, temperature=0, ignore_eos=True)
    assert first + more == ref


def test_break_out_of_stream_keeps_session_usable(q8_model, hello_ids):
    s = q8_model.session()
    stream = s.generate(hello_ids, max_tokens=100000, temperature=0, ignore_eos=True, stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    res = stream.result
    assert res.stop_reason == "callback"
    # The state holds the prompt and exactly the tokens generated.
    assert s.position == len(hello_ids) + len(res.tokens)
    ref = q8_model.session()
    ref.eval(hello_ids + res.tokens)
    np.testing.assert_array_equal(s.eval([42]), ref.eval([42]))


def test_keyboard_interrupt_in_consumer(q8_model, hello_ids):
    s = q8_model.session()
    with pytest.raises(KeyboardInterrupt):
        for i, _ in enumerate(s.generate(hello_ids, max_tokens=100000, temperature=0, ignore_eos=True,
                                         stream=True)):
            if i == 2:
                raise KeyboardInterrupt
    # The abandoned stream is stopped by the next call; the session works.
    pos = s.position
    assert len(hello_ids) < pos < 1000
    assert s.eval([42]).shape == (q8_model.n_vocab,)
    assert s.position == pos + 1
    assert s.generate("Hi", max_tokens=3, temperature=0, ignore_eos=True)


def test_exception_in_worker_is_raised_to_consumer(q8_model):
    s = q8_model.session()
    stream = s.generate("x", max_tokens=3, top_p=-5.0, stream=True)
    with pytest.raises(kaa.Error):
        list(stream)
    assert s.generate("x", max_tokens=2, temperature=0)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_sigint_stops_blocking_generate(f32_model):
    s = f32_model.session()
    main = threading.main_thread().ident
    # Ctrl-C every 0.3 s until the generation ends (at most 100 times), like a user who
    # presses it again: one CI run hung here once with a single signal (not reproduced
    # in 25 runs of this file and 2 of the whole suite since; cause not found yet), which
    # this turns into a bounded, still-checked test. max_tokens bounds it as well.
    done = threading.Event()
    sent = []

    def interrupter():
        while not done.wait(0.3) and len(sent) < 100:
            sent.append(time.monotonic())
            signal.pthread_kill(main, signal.SIGINT)

    # Python's default SIGINT behaviour (raise KeyboardInterrupt), except that a signal
    # arriving after the generation has ended is ignored instead of hitting the test.
    def on_sigint(signum, frame):
        if not done.is_set():
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    t0 = time.monotonic()
    th = threading.Thread(target=interrupter, daemon=True)
    th.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            s.generate("Hello how are you?", max_tokens=2_000_000, temperature=0, ignore_eos=True)
    finally:
        done.set()
        th.join()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - t0 < 30
    assert 1 <= len(sent) <= 3  # normally the first signal stops it
    pos = s.position
    assert pos > 5
    assert s.eval([42]).shape == (f32_model.n_vocab,)
    assert s.position == pos + 1


def test_generate_releases_the_gil(q8_model):
    # Another Python thread keeps running while a generation computes.
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        q8_model.session().generate("Hello", max_tokens=300, temperature=0, ignore_eos=True)
    finally:
        stop.set()
        t.join()
    assert len(ticks) > 3
