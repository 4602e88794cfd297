"""The Python-facing classes: Model, Session, Conversation, TextStream, eval_batch.

They wrap the extension module kaa._kaa, which releases the GIL for all real work. What
lives here is what is easier in Python: keyword arguments, streaming on a worker thread,
and the bookkeeping that lets Session.chat() feed only the new part of a conversation.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import weakref
from typing import Any, Callable, Dict, Iterable, List, Literal, Mapping, Optional, Sequence, Union, cast, overload

import numpy as np

from . import _kaa
from ._kaa import ChatTemplate, GenerationResult, HParams, State, TensorDesc, Tokenizer

PathLike = Union[str, "os.PathLike[str]"]
Tokens = Union[Sequence[int], "np.ndarray"]
Message = Union[Mapping[str, str], Sequence[str]]

__all__ = ["Model", "Session", "Conversation", "TextStream", "eval_batch"]


def _options(
    max_tokens: int,
    temperature: float,
    top_k: int,
    top_p: float,
    min_p: float,
    typical_p: float,
    repeat_penalty: float,
    presence_penalty: float,
    frequency_penalty: float,
    penalty_last_n: int,
    seed: Optional[int],
    logit_bias: Optional[Mapping[int, float]],
    stop: Union[str, Sequence[str], None],
    ignore_eos: bool,
    add_bos: Optional[bool],
    parse_special: bool,
) -> _kaa.GenerationOptions:
    o = _kaa.GenerationOptions()
    o.max_tokens = max_tokens
    o.sampler = _kaa.SamplerParams(
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        min_p=min_p,
        typical_p=typical_p,
        repeat_penalty=repeat_penalty,
        presence_penalty=presence_penalty,
        frequency_penalty=frequency_penalty,
        penalty_last_n=penalty_last_n,
        seed=seed,
        logit_bias=dict(logit_bias) if logit_bias else None,
    )
    o.stop = [stop] if isinstance(stop, str) else list(stop or [])
    o.ignore_eos = ignore_eos
    o.add_bos = add_bos
    o.parse_special = parse_special
    return o


def _message(m: Message) -> Dict[str, str]:
    if isinstance(m, Mapping):
        return {"role": str(m["role"]), "content": str(m["content"])}
    role, content = m
    return {"role": str(role), "content": str(content)}


class Model:
    """A GGUF model, loaded once (memory-mapped) and shared by any number of Sessions.

    Thread-safe: sessions on different threads may share one Model.
    """

    def __init__(
        self,
        path: PathLike,
        n_threads: int = 0,
        use_mmap: bool = True,
        progress: Optional[Callable[[float], Optional[bool]]] = None,
        precision: Literal["fast", "exact"] = "fast",
        max_metadata_bytes: int = 256 << 20,
        device: Literal["cpu", "cuda"] = "cpu",
        gpu_index: int = 0,
        release_host_weights: bool = False,
    ) -> None:
        """Loads a GGUF file. progress(fraction) may return False to cancel. precision:
        "fast" lets Q8_0 matmuls use int8 activations (bandwidth-bound decode, logits within
        ~0.5%); "exact" keeps activations f32 (logits within 1e-3 of the reference).
        max_metadata_bytes: a file whose header (metadata and tensor table) is larger is
        refused (kaa.Error, code "unsupported"); Falcon-Mamba-7B's is about 2.2 MiB.
        device="cuda" runs on an NVIDIA GPU (gpu_index; kaa built with CUDA, compute
        capability 8.0+, else kaa.Error "unsupported"; kaa.cuda_device_count() tells);
        release_host_weights gives the host pages of the weights back after the upload."""
        self._m = _kaa.Model.load(path, n_threads=n_threads, use_mmap=use_mmap, progress=progress,
                                  precision=precision, max_metadata_bytes=max_metadata_bytes,
                                  device=device, gpu_index=gpu_index,
                                  release_host_weights=release_host_weights)

    # ---- metadata --------------------------------------------------------------------------
    name = property(lambda self: self._m.name, doc="general.name, or the file name")
    architecture = property(lambda self: self._m.architecture, doc='general.architecture ("mamba")')
    file_type = property(lambda self: self._m.file_type, doc='dominant weight type ("Q8_0", ...)')
    path = property(lambda self: self._m.path)
    n_vocab = property(lambda self: self._m.n_vocab)
    n_threads = property(lambda self: self._m.n_threads, doc="default threads of new Sessions (0: all)")
    state_size = property(lambda self: self._m.state_size, doc="bytes of a State's payload")
    fingerprint = property(lambda self: self._m.fingerprint)
    weight_bytes = property(lambda self: self._m.weight_bytes, doc="bytes of weights read per token")
    backend = property(lambda self: self._m.backend, doc="CPU kernel backend in use")
    chat_template = property(lambda self: self._m.chat_template, doc='tokenizer.chat_template ("" if none)')
    has_tokenizer = property(lambda self: self._m.has_tokenizer)
    precision = property(lambda self: self._m.precision, doc='"fast" or "exact"')

    @property
    def hparams(self) -> HParams:
        return self._m.hparams

    @property
    def tokenizer(self) -> Tokenizer:
        return self._m.tokenizer

    @property
    def bos_token_id(self) -> int:
        return self._m.tokenizer.bos

    @property
    def eos_token_id(self) -> int:
        return self._m.tokenizer.eos

    @property
    def eot_token_id(self) -> int:
        return self._m.tokenizer.eot

    def meta(self, key: str) -> Optional[str]:
        """A metadata value rendered as text (arrays as "[n items]"); None when absent."""
        return self._m.meta(key)

    @property
    def metadata(self) -> Dict[str, str]:
        out: Dict[str, str] = {}
        for k in self._m.meta_keys():
            v = self._m.meta(k)
            if v is not None:
                out[k] = v
        return out

    def tensors(self) -> List[TensorDesc]:
        return self._m.tensors()

    def template(self) -> ChatTemplate:
        """The model's chat template (ChatML when the file has none)."""
        src = self._m.chat_template
        return ChatTemplate(src) if src else ChatTemplate.chatml()

    # ---- tokens ------------------------------------------------------------------------------
    def tokenize(self, text: Union[str, bytes], add_bos: bool = False, parse_special: bool = False) -> List[int]:
        return self._m.tokenizer.encode(text, add_bos=add_bos, parse_special=parse_special)

    def detokenize(self, ids: Tokens, skip_special: bool = False) -> str:
        """Text of the ids (bytes that do not form UTF-8 become U+FFFD; see detokenize_bytes)."""
        return self._m.tokenizer.decode(ids, skip_special=skip_special)

    def detokenize_bytes(self, ids: Tokens, skip_special: bool = False) -> bytes:
        return self._m.tokenizer.decode_bytes(ids, skip_special=skip_special)

    def token_to_piece(self, token: int) -> bytes:
        return self._m.tokenizer.token_to_piece(token)

    def session(self, n_threads: int = 0, n_batch: int = 256, max_tokens_per_call: int = 1 << 20,
                max_generation_tokens: int = 1 << 24) -> "Session":
        """A new Session on this model (see Session for the parameters)."""
        return Session(self, n_threads=n_threads, n_batch=n_batch, max_tokens_per_call=max_tokens_per_call,
                       max_generation_tokens=max_generation_tokens)

    def __repr__(self) -> str:
        return f"kaa.Model({self.name!r}, {self.architecture}, {self.file_type}, n_vocab={self.n_vocab})"


_DONE = object()

# Streams still running at interpreter exit are stopped first: their daemon worker would
# otherwise try to take the GIL (to hand over text) while the interpreter is torn down.
_running_streams: "weakref.WeakSet[TextStream]" = weakref.WeakSet()


@atexit.register
def _stop_running_streams() -> None:
    for stream in list(_running_streams):
        stream.close()


class TextStream:
    """Iterator over the text pieces of one generation, running on a worker thread.

    Breaking out of the loop, close(), leaving a ``with`` block, an exception in the
    consuming code (KeyboardInterrupt included) or any other call on the Session stops
    the generation; the Session keeps every token generated so far and stays usable.
    After the stream ends, ``result`` holds the GenerationResult.
    """

    def __init__(self, start: Callable[[Callable[[str], bool]], GenerationResult],
                 on_finish: Optional[Callable[[Optional[GenerationResult]], None]] = None) -> None:
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._stop = threading.Event()
        self._on_finish = on_finish
        self._result: Optional[GenerationResult] = None
        self._error: Optional[BaseException] = None
        self._finished = False
        self._thread = threading.Thread(target=self._run, args=(start,), name="kaa-generate", daemon=True)
        _running_streams.add(self)
        self._thread.start()

    def _run(self, start: Callable[[Callable[[str], bool]], GenerationResult]) -> None:
        def on_text(piece: str) -> bool:
            if self._stop.is_set():
                return False
            self._queue.put(piece)
            return True

        try:
            self._result = start(on_text)
        except BaseException as e:  # handed to the consumer
            self._error = e
        finally:
            self._queue.put(_DONE)

    def __iter__(self) -> "TextStream":
        return self

    def __next__(self) -> str:
        if self._finished:
            raise StopIteration
        try:
            item = self._queue.get()
        except BaseException:  # KeyboardInterrupt while waiting for the next piece
            self.close()
            raise
        if item is _DONE:
            self._finish()
            if self._error is not None:
                err, self._error = self._error, None
                raise err
            raise StopIteration
        return cast(str, item)

    def _finish(self) -> None:
        if self._finished:
            return
        self._thread.join()
        self._finished = True
        _running_streams.discard(self)
        if self._on_finish is not None:
            self._on_finish(self._result)

    def close(self) -> None:
        """Stops the generation (if still running) and waits for the worker."""
        if self._finished:
            return
        self._stop.set()
        self._finish()

    @property
    def result(self) -> Optional[GenerationResult]:
        """The GenerationResult once the stream has ended (None before)."""
        return self._result if self._finished else None

    @property
    def done(self) -> bool:
        return self._finished

    def __enter__(self) -> "TextStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Session:
    """One sequence on a Model: its recurrent state, position and last logits.

    A Session does one thing at a time: calling any method while a TextStream of it is
    still running stops that stream first (keeping what it generated).
    """

    def __init__(self, model: Model, n_threads: int = 0, n_batch: int = 256, max_tokens_per_call: int = 1 << 20,
                 max_generation_tokens: int = 1 << 24) -> None:
        """n_threads: 0 for the model's; n_batch: tokens per prefill chunk. Limits, for a
        host passing requests on from elsewhere (exceeding one raises kaa.Error with code
        "invalid_argument", naming the limit, and evaluates nothing):
        max_tokens_per_call bounds the tokens one eval, eval_batch share or generate prompt
        may bring; max_generation_tokens bounds generate's max_tokens."""
        self.model = model
        self._s = _kaa.Session(model._m, n_threads=n_threads, n_batch=n_batch,
                               max_tokens_per_call=max_tokens_per_call,
                               max_generation_tokens=max_generation_tokens)
        self._stream: Optional[TextStream] = None
        self._conv: Optional[Any] = None  # _kaa.Conversation used by chat()
        self._conv_template: Optional[ChatTemplate] = None
        self._conv_position = -1
        self.last_result: Optional[GenerationResult] = None

    @classmethod
    def _wrap(cls, model: Model, s: Any) -> "Session":
        self = cls.__new__(cls)
        self.model = model
        self._s = s
        self._stream = None
        self._conv = None
        self._conv_template = None
        self._conv_position = -1
        self.last_result = None
        return self

    def _settle(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    # ---- evaluation ----------------------------------------------------------------------------
    def eval(self, tokens: Tokens, all_logits: bool = False) -> np.ndarray:
        """Feeds tokens; returns float32 logits (n_vocab,), or (n, n_vocab) with all_logits."""
        self._settle()
        return self._s.eval(tokens, all_logits=all_logits)

    @property
    def logits(self) -> np.ndarray:
        """A copy of the last eval's logits (empty before the first eval)."""
        self._settle()
        return self._s.logits

    @property
    def position(self) -> int:
        """Tokens consumed since creation or reset."""
        self._settle()
        return self._s.position

    @property
    def n_threads(self) -> int:
        return self._s.n_threads

    @property
    def max_tokens_per_call(self) -> int:
        return self._s.max_tokens_per_call

    @property
    def max_generation_tokens(self) -> int:
        return self._s.max_generation_tokens

    def reset(self) -> None:
        self._settle()
        self._s.reset()
        self._conv = None

    def state(self) -> State:
        self._settle()
        return self._s.state()

    def set_state(self, state: State) -> None:
        self._settle()
        self._s.set_state(state)
        self._conv = None

    def fork(self) -> "Session":
        """A new Session with a copy of this one's state, position and logits."""
        self._settle()
        return Session._wrap(self.model, self._s.fork())

    # ---- generation ---------------------------------------------------------------------------
    def _start(self, run: Callable[[Any], GenerationResult], stream: bool,
               after: Optional[Callable[[Optional[GenerationResult]], None]] = None) -> Union[str, TextStream]:
        if not stream:
            res = run(None)
            self.last_result = res
            if after is not None:
                after(res)
            return res.text

        def finished(res: Optional[GenerationResult]) -> None:
            self.last_result = res
            if after is not None:
                after(res)

        self._stream = TextStream(run, finished)
        return self._stream

    @overload
    def generate(
        self,
        prompt: Union[str, Tokens] = "",
        *,
        max_tokens: int = 256,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        repeat_penalty: float = 1.0,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        penalty_last_n: int = 64,
        seed: Optional[int] = None,
        logit_bias: Optional[Mapping[int, float]] = None,
        stop: Union[str, Sequence[str], None] = None,
        ignore_eos: bool = False,
        add_bos: Optional[bool] = None,
        parse_special: bool = True,
        stream: Literal[False] = False,
    ) -> str: ...

    @overload
    def generate(
        self,
        prompt: Union[str, Tokens] = "",
        *,
        max_tokens: int = 256,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        repeat_penalty: float = 1.0,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        penalty_last_n: int = 64,
        seed: Optional[int] = None,
        logit_bias: Optional[Mapping[int, float]] = None,
        stop: Union[str, Sequence[str], None] = None,
        ignore_eos: bool = False,
        add_bos: Optional[bool] = None,
        parse_special: bool = True,
        stream: Literal[True],
    ) -> TextStream: ...

    def generate(
        self,
        prompt: Union[str, Tokens] = "",
        *,
        max_tokens: int = 256,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        repeat_penalty: float = 1.0,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        penalty_last_n: int = 64,
        seed: Optional[int] = None,
        logit_bias: Optional[Mapping[int, float]] = None,
        stop: Union[str, Sequence[str], None] = None,
        ignore_eos: bool = False,
        add_bos: Optional[bool] = None,
        parse_special: bool = True,
        stream: bool = False,
    ) -> Union[str, TextStream]:
        """Generates after `prompt` (text or token ids; "" continues from the current state).

        Returns the text (without a matched stop string), or with stream=True a TextStream
        yielding pieces as they are generated. Details in ``last_result``. temperature <= 0
        is greedy; seed=None draws a random seed.
        """
        self._settle()
        opts = _options(max_tokens, temperature, top_k, top_p, min_p, typical_p, repeat_penalty,
                        presence_penalty, frequency_penalty, penalty_last_n, seed, logit_bias, stop,
                        ignore_eos, add_bos, parse_special)
        self._conv = None
        s = self._s
        return self._start(lambda cb: s.generate(prompt, opts, cb), stream)

    @overload
    def chat(
        self,
        messages: Iterable[Message],
        *,
        template: Optional[ChatTemplate] = None,
        max_tokens: int = 256,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        repeat_penalty: float = 1.0,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        penalty_last_n: int = 64,
        seed: Optional[int] = None,
        logit_bias: Optional[Mapping[int, float]] = None,
        stop: Union[str, Sequence[str], None] = None,
        ignore_eos: bool = False,
        add_bos: Optional[bool] = None,
        parse_special: bool = True,
        stream: Literal[False] = False,
    ) -> str: ...

    @overload
    def chat(
        self,
        messages: Iterable[Message],
        *,
        template: Optional[ChatTemplate] = None,
        max_tokens: int = 256,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        repeat_penalty: float = 1.0,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        penalty_last_n: int = 64,
        seed: Optional[int] = None,
        logit_bias: Optional[Mapping[int, float]] = None,
        stop: Union[str, Sequence[str], None] = None,
        ignore_eos: bool = False,
        add_bos: Optional[bool] = None,
        parse_special: bool = True,
        stream: Literal[True],
    ) -> TextStream: ...

    def chat(
        self,
        messages: Iterable[Message],
        *,
        template: Optional[ChatTemplate] = None,
        max_tokens: int = 256,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        repeat_penalty: float = 1.0,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        penalty_last_n: int = 64,
        seed: Optional[int] = None,
        logit_bias: Optional[Mapping[int, float]] = None,
        stop: Union[str, Sequence[str], None] = None,
        ignore_eos: bool = False,
        add_bos: Optional[bool] = None,
        parse_special: bool = True,
        stream: bool = False,
    ) -> Union[str, TextStream]:
        """Answers the last (user) message of a conversation, with the model's chat template
        (or `template`). Calling it again with the same history plus the reply and a new
        user message feeds only the new text: the Session's state already holds the rest.
        """
        self._settle()
        msgs = [_message(m) for m in messages]
        if not msgs or msgs[-1]["role"] != "user":
            raise ValueError("chat(): the last message must have role 'user'")
        history = msgs[:-1]
        opts = _options(max_tokens, temperature, top_k, top_p, min_p, typical_p, repeat_penalty,
                        presence_penalty, frequency_penalty, penalty_last_n, seed, logit_bias, stop,
                        ignore_eos, add_bos, parse_special)
        conv = self._conv
        if (conv is None or self._conv_template is not template or self._conv_position != self._s.position
                or conv.messages != history):
            self._s.reset()
            conv = _kaa.Conversation(self._s, template)
            for m in history:
                conv.add(m["role"], m["content"])
            self._conv_template = template
        self._conv = None  # until the reply is complete
        text = msgs[-1]["content"]

        def after(res: Optional[GenerationResult]) -> None:
            if res is not None:
                self._conv = conv
                self._conv_position = self._s.position

        return self._start(lambda cb: conv.reply(text, opts, cb), stream, after)

    def __repr__(self) -> str:
        return f"kaa.Session(model={self.model.name!r})"


class Conversation:
    """Multi-turn chat on a Session, managed explicitly (see Session.chat for the simple way).

    The Session should be fresh (position 0) or restored together with restore().
    """

    def __init__(self, session: Session, template: Optional[ChatTemplate] = None) -> None:
        session._settle()
        self.session = session
        self._c = _kaa.Conversation(session._s, template)

    def add(self, role: str, content: str) -> None:
        self._c.add(role, content)

    def reply(self, text: str, *, stream: bool = False, max_tokens: int = 256, temperature: float = 0.8,
              top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05, repeat_penalty: float = 1.0,
              seed: Optional[int] = None, stop: Union[str, Sequence[str], None] = None) -> Union[str, TextStream]:
        """Appends the user's message and generates the assistant's reply."""
        self.session._settle()
        self.session._conv = None
        opts = _options(max_tokens, temperature, top_k, top_p, min_p, 1.0, repeat_penalty, 0.0, 0.0, 64, seed,
                        None, stop, False, None, True)
        c = self._c
        return self.session._start(lambda cb: c.reply(text, opts, cb), stream)

    @property
    def messages(self) -> List[Dict[str, str]]:
        return self._c.messages

    def serialize(self) -> bytes:
        """The bookkeeping needed to continue later: store it as State.user_data."""
        return self._c.serialize()

    def restore(self, data: bytes) -> None:
        self._c.restore(data)


def eval_batch(sessions: Sequence[Session], tokens: Sequence[Tokens]) -> List[np.ndarray]:
    """Evaluates several Sessions of one Model in one pass over the weights.

    Session i is fed tokens[i]; returns each Session's last-token logits (as eval would).
    """
    for s in sessions:
        s._settle()
    return _kaa.eval_batch([s._s for s in sessions], list(tokens))
