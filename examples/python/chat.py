#!/usr/bin/env python3
"""Streaming chat with a model's chat template.

    python examples/python/chat.py MODEL.gguf [--system TEXT] [--max-tokens N]
                                              [--temperature T] [--seed S]

Type a message and press Enter: the reply is printed while it is generated. Ctrl-C stops
a reply early (the conversation goes on from what was said); Ctrl-D ends. Messages may
also be piped in, one per line:

    printf 'Hi!\\nTell me a joke.\\n' | python examples/python/chat.py MODEL.gguf

Session.chat() renders the whole conversation with the model's template
(tokenizer.chat_template, ChatML when the file has none) but feeds the model only the
text it has not seen: the Session's state already holds the earlier turns, so a turn
costs the same however long the conversation is. Each turn ends with a line saying how
many new prompt tokens were fed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional

import kaa


def read_message(interactive: bool) -> Optional[str]:
    """The next user message, or None at the end of input."""
    if interactive:
        try:
            return input("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return None
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="GGUF model file")
    ap.add_argument("--system", default="You are a helpful assistant.", help="system prompt ('' for none)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=None, help="fixed seed (default: random)")
    ap.add_argument("--threads", type=int, default=0, help="0: every hardware thread")
    args = ap.parse_args()

    model = kaa.Model(args.model, n_threads=args.threads)
    session = model.session()
    messages: List[Dict[str, str]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"{model.name}: Ctrl-C stops a reply, Ctrl-D quits.")

    turn = 0
    while True:
        text = read_message(interactive)
        if text is None:
            return 0
        if not text.strip():
            continue
        turn += 1
        if not interactive:
            print(f"you> {text}")
        messages.append({"role": "user", "content": text})

        print("assistant> ", end="", flush=True)
        stream = session.chat(messages, stream=True, max_tokens=args.max_tokens,
                              temperature=args.temperature, seed=args.seed)
        try:
            for piece in stream:
                print(piece, end="", flush=True)
        except KeyboardInterrupt:
            stream.close()  # the Session keeps what was generated so far
            print(" [stopped]", end="")
        print()

        result = stream.result
        if result is None:  # the generation failed: the error was raised above
            return 1
        # The reply as the model's state holds it (a stop string is not part of it). The
        # next chat() call sees the same history, so it again feeds only the new text.
        messages.append({"role": "assistant", "content": result.text})
        t = result.timings
        print(f"[turn {turn}: fed {t.n_prompt} new prompt tokens, generated {t.n_generated} "
              f"({result.stop_reason}), {t.generation_tokens_per_second:.1f} tok/s; "
              f"session at position {session.position}]")


if __name__ == "__main__":
    sys.exit(main())
