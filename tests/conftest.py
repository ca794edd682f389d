"""Shared fixtures. If the Rust extension is not built, a pure-Python fake of the counting
surface (tests/fake_core.py) is installed so the input readers and CLI plumbing can be tested;
tests that need the real engine are marked `needs_core` and skipped."""

from __future__ import annotations

import contextlib
import importlib
import os
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The extension may be missing or still a stub: then fall back to the fake.
with contextlib.suppress(Exception):
    importlib.import_module("toksmith")
REAL_CORE = hasattr(sys.modules.get("toksmith._core"), "Tokenizer")
if not REAL_CORE:
    sys.path.insert(0, str(Path(__file__).parent))
    import fake_core

    for name in [m for m in sys.modules if m == "toksmith" or m.startswith("toksmith.")]:
        del sys.modules[name]
    sys.modules["toksmith._core"] = fake_core

needs_core = pytest.mark.skipif(not REAL_CORE, reason="toksmith._core (Rust extension) not built")


def corpora_module():
    """`toksmith.corpora` if present (it is written by another helper), else None."""
    try:
        return importlib.import_module("toksmith.corpora")
    except ImportError:
        return None


SAMPLES = ROOT / "corpora" / "samples"

_WORDS = (  # noqa: SIM905
    "the of and to in is was for on that with as by at from his her it an were are which this "
    "be or has had but not their they one all its new after first two also been who more other "
    "time year state school city world war team film song game music work life family book day "
    "naïve café Straße über déjà 東京 北京 데이터 правда мир 😀 🚀 x86_64 i++ fn() {} [] <> == != "
    "0 1 2 3 42 1999 2024 3.14 -7 100,000"
).split()


def generated_text(n_lines: int = 400, seed: int = 0) -> str:
    """Deterministic multilingual-ish prose with code-like bits and blank lines."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        k = rng.randint(0, 18)
        sep = rng.choice([" ", " ", " ", "  ", "\t"])
        lines.append(sep.join(rng.choice(_WORDS) for _ in range(k)))
    return "\n".join(lines) + "\n"


def training_text() -> str:
    """Text from corpora/samples if present, else generated."""
    if SAMPLES.is_dir():
        parts = []
        for f in sorted(SAMPLES.rglob("*")):
            if f.is_file() and f.suffix in (".txt", ".md", ".py", ".rs", ".jsonl"):
                parts.append(f.read_text("utf-8", errors="replace")[:200_000])
        if sum(map(len, parts)) > 50_000:
            return "".join(parts)
    return generated_text(3000)


@pytest.fixture(scope="session")
def small_tok(tmp_path_factory):
    """A tokenizer trained in-session (vocab 600, one special)."""
    if not REAL_CORE:
        pytest.skip("toksmith._core (Rust extension) not built")
    import toksmith

    return toksmith.train(
        [training_text()], vocab_size=600, special_tokens=["<|endoftext|>"], progress=False
    )


@pytest.fixture
def chdir_tmp(tmp_path):
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)
