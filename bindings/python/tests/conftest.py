"""Shared fixtures: the test models and goldens of ../shared (skipped when absent)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import kaa

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DIR = Path(os.environ.get("KAA_SHARED_DIR") or REPO_ROOT.parent / "shared")

# The default CPU backend may quantize activations for Q8_0 (int8 dot products), so logits
# are compared with the looser of the two tolerances in ../shared/README.md.
LOGIT_TOLERANCE = 0.1
ARGMAX_MARGIN = 0.2


def shared_path(rel: str) -> Path:
    p = SHARED_DIR / rel
    if not p.exists():
        pytest.skip(f"KAA_SKIP: {p} not found (set KAA_SHARED_DIR)")
    return p


def load_golden(name: str) -> dict:
    with open(shared_path(f"golden/{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def golden_case(name: str, case: str) -> dict:
    return next(c for c in load_golden(name)["cases"] if c["name"] == case)


@pytest.fixture(scope="session")
def f32_model() -> kaa.Model:
    return kaa.Model(shared_path("models/tiny-falcon-mamba-f32.gguf"), n_threads=2)


@pytest.fixture(scope="session")
def q8_model() -> kaa.Model:
    return kaa.Model(shared_path("models/tiny-falcon-mamba-q8_0.gguf"), n_threads=2)


@pytest.fixture(scope="session")
def mamba_model() -> kaa.Model:
    return kaa.Model(shared_path("models/tiny-mamba-q8_0.gguf"), n_threads=2)


@pytest.fixture
def hello_ids() -> list:
    return [9856, 672, 362, 299, 42]  # "Hello how are you?" (golden 'hello' prompt)
