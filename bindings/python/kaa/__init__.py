"""kaa — run Mamba-1 / Falcon-Mamba language models from GGUF files.

    import kaa
    model = kaa.Model("falcon-mamba-7b-instruct-Q8_0.gguf")
    session = model.session()
    print(session.generate("Hello how are you?", max_tokens=32, temperature=0))
    for piece in session.chat([{"role": "user", "content": "Hi!"}], stream=True):
        print(piece, end="", flush=True)

Every failure raises kaa.Error, whose ``code`` is a kaa.ErrorCode. The GIL is released
while the model computes, so other Python threads keep running.
"""

# The compiled module is imported eagerly when it is there. Without it (a source checkout
# that was never built) the pure-Python tools such as `python -m kaa.convert` still work;
# only the names below then fail, with the original ImportError.
try:
    from ._kaa import (
        ChatTemplate,
        Error,
        ErrorCode,
        GenerationResult,
        GenerationTimings,
        HParams,
        Sampler,
        SamplerParams,
        State,
        TensorDesc,
        Tokenizer,
        __version__,
        cuda_device_count,
    )
    from ._api import Conversation, Model, Session, TextStream, eval_batch
except ImportError as _import_error:  # pragma: no cover - exercised without the build
    _missing = _import_error

    def __getattr__(name: str) -> object:
        if name in __all__:
            raise ImportError(f"kaa.{name} needs the compiled module kaa._kaa: {_missing}") from _missing
        raise AttributeError(f"module 'kaa' has no attribute {name!r}")

__all__ = [
    "ChatTemplate",
    "Conversation",
    "Error",
    "ErrorCode",
    "GenerationResult",
    "GenerationTimings",
    "HParams",
    "Model",
    "Sampler",
    "SamplerParams",
    "Session",
    "State",
    "TensorDesc",
    "TextStream",
    "Tokenizer",
    "__version__",
    "cuda_device_count",
    "eval_batch",
]
