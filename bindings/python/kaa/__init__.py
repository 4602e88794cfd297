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
)
from ._api import Conversation, Model, Session, TextStream, eval_batch

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
    "eval_batch",
]
