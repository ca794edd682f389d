"""Supertokens: tokens that cross white space.

* `train_superbpe` — SuperBPE (Liu et al. 2025): ordinary BPE with a word-level pattern (o200k)
  until the vocabulary reaches the *transition point*, then training continues from those merges
  on pre-tokens of `SUPERBPE_PATTERN`, which keeps words joined by single spaces together, so
  merges may join words. Stage-2 merges obey rules on the merged bytes: at most `max_words`
  space-separated words (default 4) and the `no_cross` rules ``colon`` (no ``": "``, default),
  ``sentence`` (no ``.``/``!``/``?`` + newline after other text) and ``newline`` (a newline may
  only be followed by more newlines).
* `train_separator` — the separator curriculum of TokenAdapt (Sharthak et al. 2025): training
  text is cut into random chunks of `chunk_min`..`chunk_max` chars regardless of white space.

Pre-token semantics when encoding: a SuperBPE tokenizer splits with `SUPERBPE_PATTERN` (an HF
isolated ``Split``) and applies all merges (stage 1, then stage 2) by rank inside each piece,
exactly what HF ``tokenizers`` does with the saved tokenizer.json (the rules are baked into the
merge list). A separator-curriculum tokenizer encodes with `encode_pattern` (default ``none``:
the whole text is one piece, HF ``ByteLevel(use_regex=False)``); the random chunks are training
only.

``python -m toksmith.supertokens`` compares both against plain BPE on held-out text.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import _core
from .tokenizer import Tokenizer
from .train import _normalizer, _specials, count, train

SUPERBPE_PATTERN: str = _core.SUPERBPE_PATTERN
NO_CROSS = ("colon", "sentence", "newline")


def _rules(max_words: int | None, no_cross: Sequence[str]) -> list[str]:
    if isinstance(no_cross, str):
        no_cross = [no_cross]
    out = list(no_cross)
    for rule in out:
        if rule not in NO_CROSS:
            raise ValueError(
                f"unknown no_cross rule {rule!r}; expected one of {', '.join(NO_CROSS)}"
            )
    if max_words is not None and max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")
    return out


def _transition(transition: int | float, vocab_size: int) -> dict[str, Any]:
    """Keyword arguments for the engine: an int is the stage-1 vocabulary size, a float in
    (0, 1] a fraction of `vocab_size`."""
    if isinstance(transition, bool) or not isinstance(transition, (int, float)):
        raise TypeError(f"transition must be an int or a float, got {type(transition).__name__}")
    if isinstance(transition, float):
        if not 0.0 < transition <= 1.0:
            raise ValueError(f"transition fraction must be in (0, 1], got {transition}")
        return {"transition_fraction": transition}
    if transition > vocab_size:
        raise ValueError(
            f"transition point {transition} is beyond vocab_size {vocab_size}: stage 1 must stop "
            "at or before the final vocabulary size"
        )
    if transition < 1:
        raise ValueError(f"transition must be >= 1, got {transition}")
    return {"transition": transition}


def _prune(counts: _core.WordCounts, max_distinct: int | None, progress: bool) -> None:
    if max_distinct is not None and len(counts) > max_distinct:
        distinct, mass = counts.prune(max_distinct)
        if progress:
            print(f"pruned {distinct} rare pre-tokens ({mass} occurrences)", file=sys.stderr)


def _train_merges(
    counts: _core.WordCounts,
    vocab_size: int,
    rules: Any,
    max_words: int | None,
    specials: list[str],
    min_frequency: int,
    max_token_length: int | None,
    specials_at_end: bool,
    **stage: Any,
) -> Tokenizer:
    """The merge loop both curricula share; `stage` names the curriculum's extra inputs."""
    return Tokenizer(
        _core.train_supertokens(
            counts,
            vocab_size,
            max_words=max_words,
            no_cross=rules,
            min_frequency=min_frequency,
            max_token_length=max_token_length,
            special_tokens=specials,
            specials_at_end=specials_at_end,
            **stage,
        )
    )


def train_superbpe(
    inputs: Any,
    vocab_size: int,
    transition: int | float,
    max_words: int | None = 4,
    no_cross: Sequence[str] = ("colon",),
    stage1_pattern: str = "o200k",
    special_tokens: Sequence[str] = (),
    min_frequency: int = 0,
    max_token_length: int | None = None,
    specials_at_end: bool = False,
    normalizer: str | None = None,
    field: str = "text",
    max_distinct: int | None = None,
    utf8_errors: str = "strict",
    progress: bool = True,
) -> Tokenizer:
    """Train a SuperBPE tokenizer on `inputs` (read twice: they must be paths or a list).

    `transition`: the vocabulary size where stage 1 stops (int, at most `vocab_size`) or a
    fraction of `vocab_size` (float). `max_distinct` caps the distinct pre-tokens of each stage.
    """
    rules = _rules(max_words, no_cross)
    kw = _transition(transition, vocab_size)
    specials = _specials(special_tokens)
    norm = _normalizer(normalizer)
    common = dict(normalizer=norm, special_tokens=specials, field=field, utf8_errors=utf8_errors)
    stage1 = count(inputs, pattern=stage1_pattern, progress=progress, **common)
    stage2 = count(inputs, pattern=SUPERBPE_PATTERN, progress=progress, **common)
    _prune(stage1, max_distinct, progress)
    _prune(stage2, max_distinct, progress)
    return _train_merges(
        stage2,
        vocab_size,
        rules,
        max_words,
        specials,
        min_frequency,
        max_token_length,
        specials_at_end,
        stage1=stage1,
        **kw,
    )


def train_separator(
    inputs: Any,
    vocab_size: int,
    chunk_min: int = 4,
    chunk_max: int = 23,
    seed: int = 0,
    encode_pattern: str = "none",
    max_words: int | None = None,
    no_cross: Sequence[str] = (),
    special_tokens: Sequence[str] = (),
    min_frequency: int = 0,
    max_token_length: int | None = None,
    specials_at_end: bool = False,
    normalizer: str | None = None,
    field: str = "text",
    max_distinct: int | None = None,
    utf8_errors: str = "strict",
    progress: bool = True,
) -> Tokenizer:
    """Train on random chunks of `chunk_min`..`chunk_max` chars (uniform); encode with
    `encode_pattern` (``none`` by default, or any preset/regex, e.g. `SUPERBPE_PATTERN`)."""
    if not 1 <= chunk_min <= chunk_max:
        raise ValueError(f"need 1 <= chunk_min <= chunk_max, got {chunk_min}, {chunk_max}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rules = _rules(max_words, no_cross)
    specials = _specials(special_tokens)
    counts = count(
        inputs,
        pattern=f"chunks:{chunk_min}-{chunk_max}:{seed}",
        normalizer=_normalizer(normalizer),
        special_tokens=specials,
        field=field,
        utf8_errors=utf8_errors,
        progress=progress,
    )
    _prune(counts, max_distinct, progress)
    from . import patterns

    return _train_merges(
        counts,
        vocab_size,
        rules,
        max_words,
        specials,
        min_frequency,
        max_token_length,
        specials_at_end,
        encode_pattern=patterns.spec(encode_pattern),
    )


def train_with_options(
    inputs: Any, vocab_size: int, options: dict[str, Any], **kw: Any
) -> Tokenizer:
    """`toksmith.train(..., supertokens=options)`: ``{"transition": T, ...}`` selects SuperBPE,
    ``{"separator": True, "chunk_min": .., ...}`` the separator curriculum."""
    opts = dict(options)
    pattern = kw.pop("pattern", None)
    if opts.pop("separator", False):
        if pattern is not None:
            opts.setdefault("encode_pattern", pattern)
        return train_separator(inputs, vocab_size, **opts, **kw)
    if "transition" not in opts:
        raise ValueError("supertokens options need a 'transition' (SuperBPE) or separator=True")
    if pattern is not None:
        opts.setdefault("stage1_pattern", pattern)
    return train_superbpe(inputs, vocab_size, **opts, **kw)


# --- evaluation ---------------------------------------------------------------------------


def bytes_per_token(tok: Tokenizer, text: str) -> float:
    """UTF-8 bytes per token of `text`."""
    return len(text.encode("utf-8")) / max(1, len(tok.encode_ordinary(text)))


def hf_mismatches(tok: Tokenizer, texts: Sequence[str]) -> int:
    """Save `tok` as tokenizer.json, load it with HF ``tokenizers`` and count the texts whose
    ids differ."""
    from tokenizers import Tokenizer as HfTokenizer

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tokenizer.json")
        tok.save(path)
        hf = HfTokenizer.from_file(path)
    return sum(hf.encode(t, add_special_tokens=False).ids != tok.encode_ordinary(t) for t in texts)


def _docs(text: str) -> list[str]:
    return [d for d in text.split("\n\n") if d.strip()]


def compare(
    corpora: Sequence[Path],
    vocab_size: int,
    transitions: Sequence[float],
    max_words: int = 4,
    no_cross: Sequence[str] = ("colon",),
    chunk_min: int = 4,
    chunk_max: int = 23,
) -> list[dict[str, Any]]:
    """Train BPE, SuperBPE (per transition) and the separator curriculum on each corpus's
    ``train.txt`` and measure bytes/token on its ``test.txt`` (plus HF id parity)."""
    rows = []
    for corpus in corpora:
        train_path, test = str(corpus / "train.txt"), (corpus / "test.txt").read_text("utf-8")
        docs = _docs(test)
        methods: list[tuple[str, float | None]] = [("bpe (o200k)", None)]
        methods += [(f"superbpe t={t:g}", t) for t in transitions]
        methods.append((f"separator {chunk_min}-{chunk_max}", None))
        base = None
        for name, t in methods:
            start = time.perf_counter()
            if t is not None:
                tok = train_superbpe(
                    [train_path], vocab_size, t, max_words, no_cross, progress=False
                )
            elif name.startswith("separator"):
                tok = train_separator(
                    [train_path], vocab_size, chunk_min, chunk_max, progress=False
                )
            else:
                tok = train([train_path], vocab_size, progress=False)
            secs = time.perf_counter() - start
            bpt = bytes_per_token(tok, test)
            base = base or bpt
            rows.append(
                {
                    "corpus": corpus.name,
                    "method": name,
                    "vocab": tok.vocab_size,
                    "bytes_per_token": round(bpt, 3),
                    "tokens_saved_vs_bpe": round(1 - base / bpt, 4),
                    "hf_mismatched_docs": f"{hf_mismatches(tok, docs)}/{len(docs)}",
                    "train_seconds": round(secs, 2),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m toksmith.supertokens``: the README's comparison table."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    default_root = Path.home() / ".cache/toksmith/corpora/small"
    ap.add_argument(
        "corpora",
        nargs="*",
        type=Path,
        default=[default_root / "prose-en", default_root / "code-python"],
    )
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--transitions", type=float, nargs="+", default=[0.5, 0.8, 0.9])
    ap.add_argument("--max-words", type=int, default=4)
    ap.add_argument("--no-cross", nargs="*", default=["colon"])
    args = ap.parse_args(argv)
    rows = compare(args.corpora, args.vocab_size, args.transitions, args.max_words, args.no_cross)
    print("| corpus | method | bytes/token | tokens saved vs BPE | HF mismatches | train s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['corpus']} | {r['method']} | {r['bytes_per_token']} | "
            f"{r['tokens_saved_vs_bpe']:.1%} | "
            f"{r['hf_mismatched_docs']} | {r['train_seconds']} |"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS: {peak:.0f} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
