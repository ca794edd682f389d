"""`count` (the counting phase, producing mergeable `WordCounts`) and `train` (BPE training)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, Union

from . import _core
from . import inputs as _inputs
from . import patterns as _patterns
from .progress import Reporter
from .tokenizer import Tokenizer

WordCounts = _core.WordCounts
PathLike = Union[str, "os.PathLike[str]"]
DEFAULT_PATTERN = "o200k"
NORMALIZERS = ("none", "nfc", "nfkc")


def _normalizer(name: str | None) -> str:
    n = (name or "none").lower()
    if n not in NORMALIZERS:
        raise ValueError(f"unknown normalizer {name!r}; expected one of {', '.join(NORMALIZERS)}")
    return n


def _specials(special_tokens: Iterable[str]) -> list[str]:
    if isinstance(special_tokens, str):
        special_tokens = [special_tokens]
    out: list[str] = []
    for s in special_tokens:
        if not isinstance(s, str) or not s:
            raise ValueError(f"special tokens must be non-empty strings, got {s!r}")
        if s in out:
            raise ValueError(f"special token {s!r} given twice")
        out.append(s)
    return out


def _count_into(
    counter: Any, inputs: Any, field: str, utf8_errors: str, reporter: Reporter
) -> None:
    sources, items = _inputs.classify(inputs)
    update = reporter.counting(counter, _inputs.total_bytes(sources))
    _inputs.feed(
        counter, inputs, field, utf8_errors, on_progress=update, sources=sources, items=items
    )


def count(
    inputs: Any,
    pattern: str = DEFAULT_PATTERN,
    normalizer: str | None = None,
    special_tokens: Sequence[str] = (),
    field: str = "text",
    utf8_errors: str = "strict",
    progress: bool = True,
) -> _core.WordCounts:
    """Count the pre-tokens of `inputs` (paths, texts or a dataset; see `toksmith.inputs`).

    Special tokens in the text are cut out, never counted. The result can be saved
    (`WordCounts.save`), merged with other shards and passed to `train(counts=...)`.
    """
    spec = _patterns.spec(pattern)
    specials = _specials(special_tokens)
    if utf8_errors not in _inputs.UTF8_POLICIES:
        raise ValueError(
            f"utf8_errors must be one of {', '.join(_inputs.UTF8_POLICIES)}, got {utf8_errors!r}"
        )
    counter = _core.Counter(spec, _normalizer(normalizer), specials, utf8_errors)
    with Reporter(progress) as reporter:
        _count_into(counter, inputs, field, utf8_errors, reporter)
    counts = counter.finish()
    if counts.total == 0:
        raise ValueError("empty corpus: the inputs hold no text to count")
    return counts


def load_counts(paths: Any) -> _core.WordCounts:
    """Load and merge one or more saved counts files (or pass a WordCounts through)."""
    if isinstance(paths, _core.WordCounts):
        return paths
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    merged: _core.WordCounts | None = None
    for item in paths:
        if isinstance(item, _core.WordCounts):
            shard = item
        else:
            p = os.fspath(item)
            if not os.path.isfile(p):
                raise FileNotFoundError(f"no such counts file: {p}")
            shard = _core.WordCounts.load(p)
        if merged is None:
            # Never mutate a caller's object: later shards are merged into a copy.
            merged = (
                shard.copy() if isinstance(item, _core.WordCounts) and len(paths) > 1 else shard
            )
        else:
            merged.merge(shard)
    if merged is None:
        raise ValueError("counts: no counts files given")
    return merged


def _base(base: Any) -> Tokenizer | None:
    if base is None or isinstance(base, Tokenizer):
        return base
    if isinstance(base, _core.Tokenizer):
        return Tokenizer(base)
    return Tokenizer.from_file(base)


def train(
    inputs: Any = None,
    vocab_size: int = 32000,
    pattern: str | None = None,
    special_tokens: Sequence[str] = (),
    min_frequency: int = 0,
    max_token_length: int | None = None,
    specials_at_end: bool = False,
    counts: Any = None,
    base: Any = None,
    normalizer: str | None = None,
    field: str = "text",
    max_distinct: int | None = None,
    utf8_errors: str = "strict",
    progress: bool = True,
    supertokens: dict[str, Any] | None = None,
) -> Tokenizer:
    """Train a byte-level BPE tokenizer (merges identical to HF ``BpeTrainer``).

    `inputs` are counted with `pattern` (a preset name or regex; default ``o200k``, or the
    pre-tokenizer of `counts`/`base`). `counts` (a WordCounts or saved counts path(s)) are merged
    in. `base` (a Tokenizer or path) is continued: its vocabulary and merges are kept and new
    merges appended. `max_distinct` keeps only the most frequent pre-tokens (the pruned amount
    is reported on stderr when `progress`). Special tokens get ids before the bytes, or after
    the merges with `specials_at_end`. `supertokens` selects SuperBPE (``{"transition": T,
    "max_words": 4, "no_cross": ["colon"]}``) or the separator curriculum (``{"separator": True,
    "chunk_min": 4, "chunk_max": 23}``); see `toksmith.supertokens`.
    """
    if supertokens is not None:
        if counts is not None or base is not None:
            raise ValueError("supertokens training reads inputs; counts and base are not supported")
        from .supertokens import train_with_options

        return train_with_options(
            inputs,
            vocab_size,
            supertokens,
            pattern=pattern,
            special_tokens=special_tokens,
            min_frequency=min_frequency,
            max_token_length=max_token_length,
            specials_at_end=specials_at_end,
            normalizer=normalizer,
            field=field,
            max_distinct=max_distinct,
            utf8_errors=utf8_errors,
            progress=progress,
        )
    specials = _specials(special_tokens)
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
    base_tok = _base(base)
    floor = 256 + len(specials)
    if base_tok is not None:
        new = [s for s in specials if s not in base_tok.special_tokens]
        floor = base_tok.vocab_size + len(new)
    if vocab_size < floor:
        what = (
            f"the base tokenizer's {base_tok.vocab_size} ids + {floor - base_tok.vocab_size} new "
            "special tokens"
            if base_tok is not None
            else f"256 byte tokens + {len(specials)} special tokens"
        )
        raise ValueError(f"vocab_size {vocab_size} is too small: the minimum is {floor} ({what})")
    if min_frequency < 0:
        raise ValueError(f"min_frequency must be >= 0, got {min_frequency}")
    if max_token_length is not None and max_token_length < 1:
        raise ValueError(f"max_token_length must be >= 1, got {max_token_length}")
    if max_distinct is not None and max_distinct < 1:
        raise ValueError(f"max_distinct must be >= 1, got {max_distinct}")
    if inputs is None and counts is None:
        raise ValueError("nothing to train on: give inputs and/or counts")
    if utf8_errors not in _inputs.UTF8_POLICIES:
        raise ValueError(
            f"utf8_errors must be one of {', '.join(_inputs.UTF8_POLICIES)}, got {utf8_errors!r}"
        )

    merged = load_counts(counts) if counts is not None else None
    if pattern is not None:
        spec = _patterns.spec(pattern)
    elif merged is not None:
        spec = merged.pretokenizer
    elif base_tok is not None:
        spec = base_tok.pretokenizer
    else:
        spec = DEFAULT_PATTERN
    if normalizer is None and merged is not None:
        normalizer = merged.normalizer
    elif normalizer is None and base_tok is not None:
        normalizer = base_tok.normalizer
    norm = _normalizer(normalizer)
    if merged is not None and _canon(merged.pretokenizer) != _canon(spec):
        raise ValueError(
            f"the counts were made with pre-tokenizer {_show(merged.pretokenizer)}, "
            f"not {_show(spec)}"
        )
    if base_tok is not None and _canon(base_tok.pretokenizer) != _canon(spec):
        raise ValueError(
            f"the base tokenizer uses pre-tokenizer {_show(base_tok.pretokenizer)}, "
            f"not {_show(spec)}"
        )

    with Reporter(progress) as reporter:
        if inputs is not None:
            cut = list(specials)
            if base_tok is not None:
                cut += [s for s in base_tok.special_tokens if s not in cut]
            counter = _core.Counter(spec, norm, cut, utf8_errors)
            _count_into(counter, inputs, field, utf8_errors, reporter)
            fresh = counter.finish()
            if merged is not None:
                fresh.merge(merged)  # merge into our own object, never the caller's
            merged = fresh
        assert merged is not None
        if merged.total == 0:
            raise ValueError("empty corpus: the inputs hold no text to train on")
        if max_distinct is not None and len(merged) > max_distinct:
            if merged is counts or (isinstance(counts, (list, tuple)) and merged in counts):
                merged = merged.copy()
            distinct, mass = merged.prune(max_distinct)
            reporter.note(
                f"pruned {distinct} rare pre-tokens ({mass} occurrences) to keep {max_distinct}"
            )
        core = _core.train(
            merged,
            vocab_size,
            min_frequency=min_frequency,
            max_token_length=max_token_length,
            special_tokens=specials,
            specials_at_end=specials_at_end,
            base=base_tok._core if base_tok is not None else None,
            progress=reporter.merge_callback(),
        )
    return Tokenizer(core)


def _canon(spec: str) -> str:
    name = _patterns.preset_name(spec)
    return _patterns.PRESETS[name] if name else spec


def _show(spec: str) -> str:
    return repr(spec if len(spec) <= 40 else spec[:39] + "…")
