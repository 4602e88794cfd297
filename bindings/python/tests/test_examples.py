"""The Python examples (examples/python/) run as a user would run them: as scripts, in a
subprocess with this interpreter, on the shared tiny model. Each asserts what its
output must show, so an API change that breaks an example fails here."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO_ROOT, shared_path

EXAMPLES = REPO_ROOT / "examples" / "python"


def run_example(name: str, *args: str, stdin: str = "") -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], input=stdin, capture_output=True,
                          text=True, encoding="utf-8", errors="replace", timeout=300)
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_chat_streams_and_feeds_only_new_text():
    model = shared_path("models/tiny-falcon-mamba-q8_0.gguf")
    out = run_example("chat.py", str(model), "--threads", "2", "--seed", "7", "--max-tokens", "12",
                      stdin="Hi!\nTell me a joke.\n")
    turns = re.findall(r"\[turn (\d+): fed (\d+) new prompt tokens, generated (\d+) \((\w+)\).*"
                       r"session at position (\d+)\]", out)
    assert [t[0] for t in turns] == ["1", "2"], out
    (_, fed1, gen1, _, pos1), (_, fed2, gen2, _, pos2) = [tuple(t) for t in turns]
    assert out.count("assistant> ") == 2
    # The position grows by exactly what each turn fed and generated. Turn 2 normally
    # feeds only its own text; the Conversation re-feeds the whole history instead when
    # the rendered history no longer starts with what the state holds (with this random
    # model: a reply holding bytes that are not UTF-8, which the text shows as U+FFFD).
    assert int(pos1) == int(fed1) + int(gen1)
    assert int(pos2) in (int(pos1) + int(fed2) + int(gen2), int(fed2) + int(gen2))


def test_chat_is_reproducible_with_a_seed():
    model = shared_path("models/tiny-falcon-mamba-q8_0.gguf")
    args = (str(model), "--threads", "2", "--seed", "3", "--max-tokens", "8")
    runs = [re.sub(r"[0-9.]+ tok/s", "", run_example("chat.py", *args, stdin="Hello\n")) for _ in range(2)]
    assert runs[0] == runs[1]


def test_batch_matches_one_by_one():
    model = shared_path("models/tiny-falcon-mamba-q8_0.gguf")
    out = run_example("batch.py", str(model), "--threads", "2", "--max-tokens", "10")
    assert "batched: 4 sequences" in out
    assert out.rstrip().endswith("batched == one by one: yes"), out


def test_batch_with_prompts_from_the_command_line():
    model = shared_path("models/tiny-falcon-mamba-q8_0.gguf")
    out = run_example("batch.py", str(model), "Hello how are you?", "Bonjour", "--threads", "2", "--max-tokens", "5")
    assert "'Hello how are you?'" in out and "'Bonjour'" in out
    assert "batched: 2 sequences" in out
    assert out.rstrip().endswith("batched == one by one: yes"), out


def test_quickstart_python_snippet(tmp_path):
    """docs/QUICKSTART.md's hello.py (the code block after "<!-- quickstart:hello.py -->"),
    run as written."""
    model = shared_path("models/tiny-falcon-mamba-q8_0.gguf")
    doc = (REPO_ROOT / "docs" / "QUICKSTART.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- quickstart:hello\.py -->\n```python\n(.*?)\n```", doc, re.S)
    assert m, "docs/QUICKSTART.md has no hello.py snippet"
    (tmp_path / "hello.py").write_text(m.group(1), encoding="utf-8")
    proc = subprocess.run([sys.executable, "hello.py", str(model)], cwd=tmp_path, capture_output=True, text=True,
                          encoding="utf-8", errors="replace", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "(65024,)" in proc.stdout and "restored at position" in proc.stdout
    assert (tmp_path / "hello.kaastate").stat().st_size > 0
