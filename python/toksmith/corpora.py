"""Locate the reference tokenizers and corpora built by `python corpora/build.py`.

Stdlib only. The cache lives in `$TOKSMITH_CACHE` or `~/.cache/toksmith`:
`tokenizers/<name>.tiktoken` + `<name>.json` and `corpora/<tier>/<name>/{train,test}.txt`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REFERENCE_NAMES: tuple[str, ...] = ("gpt2", "cl100k", "o200k", "llama3", "qwen2")
SPLITS: tuple[str, ...] = ("train", "test")
TIERS: tuple[str, ...] = ("small", "bench")
_BUILD_HINT = "run `python corpora/build.py` (add `--tier bench` for bench corpora)"


class CorpusNotFound(FileNotFoundError):
    """A cached tokenizer or corpus is missing; the message says how to build it."""


def cache_dir() -> Path:
    """The cache directory: `$TOKSMITH_CACHE` or `~/.cache/toksmith`."""
    env = os.environ.get("TOKSMITH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "toksmith"


def samples_dir() -> Path | None:
    """`corpora/samples/` of a source checkout (tiny committed texts), if present."""
    here = Path(__file__).resolve().parents[2] / "corpora" / "samples"
    return here if here.is_dir() else None


def reference_tokenizer(name: str) -> tuple[Path, dict[str, Any]]:
    """Rank-file path and sidecar (`pattern`, `special_tokens`, ...) of a reference tokenizer."""
    if name not in REFERENCE_NAMES:
        known = ", ".join(REFERENCE_NAMES)
        raise ValueError(f"unknown reference tokenizer {name!r}; known: {known}")
    base = cache_dir() / "tokenizers"
    ranks, sidecar = base / f"{name}.tiktoken", base / f"{name}.json"
    if not ranks.is_file() or not sidecar.is_file():
        raise CorpusNotFound(f"reference tokenizer {name} not found in {base}; {_BUILD_HINT}")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except ValueError as e:
        raise CorpusNotFound(f"{sidecar}: invalid JSON ({e}); {_BUILD_HINT}") from e
    if "pattern" not in meta or "special_tokens" not in meta:
        raise CorpusNotFound(f"{sidecar}: missing `pattern` or `special_tokens`; {_BUILD_HINT}")
    return ranks, meta


def corpus(name: str, split: str = "train", tier: str = "small") -> Path:
    """Path of a corpus split, e.g. `corpus("prose-de", "test")`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
    path = cache_dir() / "corpora" / tier / name / f"{split}.txt"
    if not path.is_file():
        known = corpus_names(tier)
        hint = f" (built: {', '.join(known)})" if known else ""
        raise CorpusNotFound(
            f"corpus {tier}/{name} ({split}) not found at {path}{hint}; {_BUILD_HINT}"
        )
    return path


def corpus_names(tier: str = "small") -> list[str]:
    """Names of the corpora of a tier present in the cache, sorted."""
    root = cache_dir() / "corpora" / tier
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "train.txt").is_file())
