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
    reporter.close()  # finish the counting bar before the merge bar starts


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
    max_token_chars: int | None = None,
    added_tokens: Sequence[str | bytes] = (),
    binary: bool = False,
    split_nul: bool = True,
    binary_window: int = 256,
    pad_to: int | str | None = None,
    supertokens: dict[str, Any] | None = None,
) -> Tokenizer:
    """Train a byte-level BPE tokenizer (merges identical to HF ``BpeTrainer``).

    Shaping (see `toksmith.domains`): `max_token_chars` skips merges whose result has more
    Unicode characters; `added_tokens` are forced in as ordinary tokens (lowest merge ranks);
    `binary` counts input files as raw bytes (``pattern`` must be ``none``), cut at NUL runs
    (`split_nul`) and into windows of `binary_window` bytes; `pad_to` (an int multiple or
    ``"pow2"``) pads the vocabulary with ``<|reserved_N|>`` special tokens.

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
        if max_token_chars is not None or added_tokens or binary or pad_to is not None:
            raise ValueError(
                "supertokens training does not combine with max_token_chars, added_tokens, "
                "binary or pad_to"
            )
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
    if max_token_chars is not None and max_token_chars < 1:
        raise ValueError(f"max_token_chars must be >= 1, got {max_token_chars}")
    added = _added(added_tokens)
    if added and base_tok is not None:
        raise ValueError("added tokens cannot be combined with continuing from a base tokenizer")
    if added:
        floor += sum(len(t) - 1 for t in added)  # an upper bound on the forced merges
    _check_pad(pad_to)
    if binary and pattern is not None and _patterns.spec(pattern) != "none":
        raise ValueError(f"binary training needs pattern 'none', got {pattern!r}")
    if binary and normalizer not in (None, "none"):
        raise ValueError(f"binary training takes no normalizer, got {normalizer!r}")
    if binary and binary_window < 1:
        raise ValueError(f"binary_window must be >= 1, got {binary_window}")
    if max_distinct is not None and max_distinct < 1:
        raise ValueError(f"max_distinct must be >= 1, got {max_distinct}")
    if inputs is None and counts is None:
        raise ValueError("nothing to train on: give inputs and/or counts")
    if utf8_errors not in _inputs.UTF8_POLICIES:
        raise ValueError(
            f"utf8_errors must be one of {', '.join(_inputs.UTF8_POLICIES)}, got {utf8_errors!r}"
        )

    merged = load_counts(counts) if counts is not None else None
    if binary:
        pattern = "none"
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
            if binary:
                files = binary_files(inputs)
                counter.add_binary_files(
                    files,
                    split_nul=split_nul,
                    window=binary_window,
                    progress=reporter.merge_callback(),
                )
            else:
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
            max_token_chars=max_token_chars,
            added_tokens=added,
        )
    if pad_to is not None:
        core = core.padded(power_of_two=True) if pad_to == "pow2" else core.padded(int(pad_to))
    return Tokenizer(core)


def _added(tokens: Sequence[str | bytes]) -> list[bytes]:
    if isinstance(tokens, (str, bytes)):
        tokens = [tokens]
    out: list[bytes] = []
    seen: set[bytes] = set()
    for t in tokens:
        b = t.encode("utf-8") if isinstance(t, str) else bytes(t)
        if not b:
            raise ValueError("added tokens must be non-empty")
        if b not in seen:
            seen.add(b)
            out.append(b)
    return out


def _check_pad(pad_to: int | str | None) -> None:
    if pad_to is None or pad_to == "pow2":
        return
    if isinstance(pad_to, bool) or not isinstance(pad_to, int) or pad_to < 1:
        raise ValueError(f"pad_to must be a positive int or 'pow2', got {pad_to!r}")


def binary_files(inputs: Any) -> list[str]:
    """Every regular file that `inputs` (paths, directories, globs) names, sorted per argument.

    Binary training reads files of any kind (executables, images...), whatever their names."""
    import glob

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out: list[str] = []
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"binary inputs must be paths, got {type(item).__name__}")
        p = os.fspath(item)
        if os.path.isdir(p):
            found = sorted(
                os.path.join(d, f)
                for d, _, fs in os.walk(p)
                for f in fs
                if os.path.isfile(os.path.join(d, f))
            )
        elif os.path.isfile(p):
            found = [p]
        else:
            found = sorted(f for f in glob.glob(p, recursive=True) if os.path.isfile(f))
            if not found:
                raise FileNotFoundError(f"no such file, directory or glob match: {p}")
        out.extend(found)
    if not out:
        raise ValueError("empty corpus: the binary inputs hold no files")
    return out


def _canon(spec: str) -> str:
    name = _patterns.preset_name(spec)
    return _patterns.PRESETS[name] if name else spec


def _show(spec: str) -> str:
    return repr(spec if len(spec) <= 40 else spec[:39] + "…")
