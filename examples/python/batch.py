#!/usr/bin/env python3
"""A batch of prompts, completed together.

    python examples/python/batch.py MODEL.gguf [PROMPT ...] [--max-tokens N]

Each prompt gets its own Session; kaa.eval_batch() evaluates all of them in one pass over
the weights. Decoding is memory-bound (every token reads every weight once), so N
sequences stepping together cost little more than one. Here every step feeds each
unfinished sequence its greedy (argmax) token; a sequence leaves the batch at an
end-of-generation token.

eval_batch gives each Session bit for bit the logits that Session.eval would, so the
program finally generates every prompt again on its own with Session.generate (greedy)
and checks that the texts agree; it exits 1 if one does not.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import List

import numpy as np

import kaa

DEFAULT_PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village,",
    "def fibonacci(n):",
    "The three primary colors are",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="GGUF model file")
    ap.add_argument("prompts", nargs="*", help=f"prompts (default: {len(DEFAULT_PROMPTS)} built-in ones)")
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--threads", type=int, default=0, help="0: every hardware thread")
    args = ap.parse_args()
    prompts = args.prompts or DEFAULT_PROMPTS

    model = kaa.Model(args.model, n_threads=args.threads)
    tok = model.tokenizer
    sessions = [model.session() for _ in prompts]
    prompt_ids = [model.tokenize(p, add_bos=tok.add_bos_default) for p in prompts]
    outputs: List[List[int]] = [[] for _ in prompts]

    # ---- batched: all prompts in one pass, then one token per live sequence per step ----
    t0 = time.perf_counter()
    logits = kaa.eval_batch(sessions, prompt_ids)  # each Session's last-token logits
    live = list(range(len(prompts)))
    for step in range(args.max_tokens):
        feed = []
        for i, row in zip(live, logits):
            t = int(np.argmax(row))
            outputs[i].append(t)
            if not tok.is_end_of_generation(t) and step + 1 < args.max_tokens:
                feed.append(i)  # an end-of-generation token is not fed back
        live = feed
        if not live:
            break
        logits = kaa.eval_batch([sessions[i] for i in live], [[outputs[i][-1]] for i in live])
    batched_s = time.perf_counter() - t0
    n_generated = sum(len(o) for o in outputs)

    for p, out in zip(prompts, outputs):
        print(f"{p!r}\n  -> {model.detokenize(out)!r}")
    print(f"\nbatched: {len(prompts)} sequences, {n_generated} tokens in {batched_s:.2f} s "
          f"({n_generated / batched_s:.1f} tok/s)")

    # ---- the same, one prompt at a time ------------------------------------------------
    t0 = time.perf_counter()
    ok = True
    for ids, out in zip(prompt_ids, outputs):
        s = model.session()
        s.generate(ids, max_tokens=args.max_tokens, temperature=0, add_bos=False)  # ids has it if wanted
        assert s.last_result is not None
        single = s.last_result.tokens
        if single != out:
            ok = False
            print(f"MISMATCH for {model.detokenize(ids)!r}: batched {out}, alone {single}")
    single_s = time.perf_counter() - t0
    print(f"one by one: {single_s:.2f} s ({n_generated / single_s:.1f} tok/s)")
    print(f"batched == one by one: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
