"""Domain tokenizers: per-domain training defaults (`toksmith train --domain NAME`).

Each `Domain` fixes what fits its data: the pre-tokenizer (with digit splitting), Unicode
normalization, vocabulary size and padding, token length caps, forced tokens and the corpus tier
(`corpora/build.py --tier domain`) to train and evaluate on.

- ``legal`` (KL3M-style): NFKC, digits in groups of up to 4 so years stay whole, the years
  1776-2050 forced in as tokens, 32768 ids (padded to a power of two).
- ``medical``: ICD-10-CM descriptions; NFKC, digits in groups of up to 3, 32768 ids.
- ``code``: no normalization (code is byte-exact), o200k splitting, 32768 ids.
- ``chars``: character-level BPE (OCR correction): tokens of at most 4 characters, NFC, 8192 ids.
- ``binary`` (Binary BPE): raw bytes, no normalization and no regex, pieces cut at NUL runs and
  into 256-byte windows, tokens of at most 16 bytes, 7 special tokens before the 256 bytes, one
  64k run emitted as nested 4k/8k/16k/32k/64k vocabularies (each a prefix of the next).

Forced tokens are ordinary tokens made by the lowest-ranked merges; the encoder produces one only
when the pre-tokenizer keeps its bytes inside one piece (hence legal's 4-digit groups).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Union

from . import patterns as _patterns
from .tokenizer import Tokenizer

PathLike = Union[str, "os.PathLike[str]"]

#: The specials of Binary BPE (placed first, so every nested vocabulary keeps them).
BINARY_SPECIALS = (
    "<|start|>",
    "<|end|>",
    "<|pad|>",
    "<|unk|>",
    "<|cls|>",
    "<|sep|>",
    "<|mask|>",
)
NESTED_SIZES = (4096, 8192, 16384, 32768, 65536)

_DIGIT_RULE = re.compile(r"\\p\{N\}(?:\{1,\d+\}|\+)\+?")


def split_digits(pattern: str, group: int) -> str:
    """`pattern` (a preset name or regex) with its digit rule replaced: digit runs split into
    groups of at most `group` digits (1 = single digits). Composes with every preset."""
    if not isinstance(group, int) or isinstance(group, bool) or group < 1:
        raise ValueError(f"digit group must be a positive int, got {group!r}")
    name = _patterns.preset_name(pattern)
    regex = _patterns.PRESETS[name] if name else pattern
    if regex.strip().lower() == "none":
        raise ValueError("digit splitting needs a regex pre-tokenizer, not 'none'")
    rule = r"\p{N}" if group == 1 else rf"\p{{N}}{{1,{group}}}"
    out, n = _DIGIT_RULE.subn(lambda _m: rule, regex)
    if n == 0:
        raise ValueError(f"pattern {pattern!r} has no digit rule (\\p{{N}}...) to replace")
    return out


def years(first: int = 1776, last: int = 2050) -> list[str]:
    """The years `first..last` as strings (KL3M's custom tokens)."""
    return [str(y) for y in range(first, last + 1)]


def read_tokens(path: PathLike) -> list[str]:
    """Added tokens from a file: one per line (`\\n` ends a line; empty lines are skipped)."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.rstrip("\n")]


@dataclass(frozen=True)
class Domain:
    """Training defaults of one domain (every field maps to a `toksmith.train` argument)."""

    name: str
    description: str
    pattern: str
    normalizer: str
    vocab_size: int
    corpus: str
    special_tokens: tuple[str, ...] = ("<|endoftext|>",)
    added_tokens: tuple[str, ...] = ()
    max_token_length: int | None = None
    max_token_chars: int | None = None
    pad_to: int | str | None = None
    binary: bool = False
    nested_sizes: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def train_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `toksmith.train` for this domain."""
        kw: dict[str, Any] = {
            "vocab_size": self.vocab_size,
            "pattern": self.pattern,
            "normalizer": self.normalizer,
            "special_tokens": list(self.special_tokens),
            "added_tokens": list(self.added_tokens),
            "max_token_length": self.max_token_length,
            "max_token_chars": self.max_token_chars,
            "pad_to": self.pad_to,
            "binary": self.binary,
        }
        kw.update(self.extra)
        return kw


DOMAINS: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain(
            "legal",
            "license texts and rules (KL3M-style: NFKC, years as tokens, power-of-two vocab)",
            pattern=split_digits("o200k", 4),
            normalizer="nfkc",
            vocab_size=32768,
            corpus="domain/legal",
            added_tokens=tuple(years()),
            pad_to="pow2",
        ),
        Domain(
            "medical",
            "ICD-10-CM descriptions (NFKC, digit groups of up to 3)",
            pattern=split_digits("o200k", 3),
            normalizer="nfkc",
            vocab_size=32768,
            corpus="domain/medical",
            pad_to="pow2",
        ),
        Domain(
            "code",
            "source code in several languages (byte-exact: no normalization)",
            pattern="o200k",
            normalizer="none",
            vocab_size=32768,
            corpus="domain/code",
            pad_to="pow2",
        ),
        Domain(
            "chars",
            "character-level BPE (tokens of at most 4 characters, for OCR correction)",
            pattern=split_digits("o200k", 1),
            normalizer="nfc",
            vocab_size=8192,
            corpus="domain/legal",
            max_token_chars=4,
            pad_to="pow2",
        ),
        Domain(
            "binary",
            "raw bytes of any files (Binary BPE: no regex, tokens <= 16 bytes, nested vocabs)",
            pattern="none",
            normalizer="none",
            vocab_size=65536,
            corpus="domain/binary",
            special_tokens=BINARY_SPECIALS,
            # HF semantics: a token is formed only when shorter than max_token_length bytes.
            max_token_length=17,
            binary=True,
            nested_sizes=NESTED_SIZES,
            extra={"split_nul": True, "binary_window": 256},
        ),
    )
}


def get(name: str) -> Domain:
    """The domain called `name`; ValueError listing the known ones otherwise."""
    d = DOMAINS.get(str(name).strip().lower())
    if d is None:
        raise ValueError(f"unknown domain {name!r}; expected one of {', '.join(DOMAINS)}")
    return d


def train_domain(
    domain: str | Domain,
    inputs: Any,
    *,
    progress: bool = True,
    **overrides: Any,
) -> Tokenizer:
    """Train `inputs` with the domain's defaults; keyword `overrides` win over the defaults."""
    from .train import train

    d = domain if isinstance(domain, Domain) else get(domain)
    if inputs is None or (isinstance(inputs, (list, tuple)) and not inputs):
        raise ValueError(f"empty corpus: no inputs given for domain {d.name!r}")
    kw = d.train_kwargs()
    unknown = set(overrides) - set(kw) - _TRAIN_ONLY
    if unknown:
        raise TypeError(f"unknown training option {sorted(unknown)[0]!r}")
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return train(inputs, progress=progress, **kw)


_TRAIN_ONLY = {"min_frequency", "max_distinct", "utf8_errors", "field", "specials_at_end"}


def nested(tok: Tokenizer, sizes: Sequence[int]) -> dict[int, Tokenizer]:
    """The first `n` ids of `tok` for each `n` in `sizes` (each a complete tokenizer; the
    specials must have the first ids). A size larger than `tok` is an error."""
    out: dict[int, Tokenizer] = {}
    for n in sorted(set(sizes)):
        if n > tok.vocab_size:
            raise ValueError(
                f"nested size {n} exceeds the trained vocabulary ({tok.vocab_size} ids)"
            )
        out[n] = Tokenizer(tok._core.prefix(n))
    return out


def nested_path(output: str, n: int) -> str:
    """`out.json` -> `out-4096.json` (the path of the `n`-id nested vocabulary)."""
    root, ext = os.path.splitext(output)
    return f"{root}-{n}{ext}"


def with_overrides(domain: Domain, **changes: Any) -> Domain:
    """A copy of `domain` with some fields changed."""
    return replace(domain, **changes)


# ----------------------------------------------------------------------------- evaluation


def reference(name: str, cache: PathLike | None = None) -> Tokenizer:
    """A reference tokenizer (`o200k`, `llama3`, ...) built by `corpora/build.py`: the rank file
    and its sidecar (pattern, special tokens) in `<cache>/tokenizers/`."""
    import json

    root = Path(cache or os.environ.get("TOKSMITH_CACHE") or Path.home() / ".cache/toksmith")
    path = root / "tokenizers" / f"{name}.tiktoken"
    if not path.is_file():
        raise FileNotFoundError(f"no reference tokenizer {path} (run corpora/build.py)")
    side = json.loads((root / "tokenizers" / f"{name}.json").read_text(encoding="utf-8"))
    return Tokenizer.from_tiktoken(
        str(path), pattern=side["pattern"], special_tokens=side["special_tokens"]
    )


def count_tokens(tok: Tokenizer, text: str) -> int:
    """Tokens of `text` (special-token strings count as ordinary text)."""
    return sum(len(ids) for ids in tok._core.encode_ordinary_batch(text.split("\n")))


def binary_stats(tok: Tokenizer, files: Sequence[PathLike]) -> tuple[float, float]:
    """(bytes per token, share of the ordinary vocabulary used) over whole `files`."""
    n_bytes = n_tokens = 0
    used: set[int] = set()
    for f in files:
        data = Path(f).read_bytes()
        ids = tok._core.encode_bytes(data)
        n_bytes += len(data)
        n_tokens += len(ids)
        used.update(ids)
    ordinary = tok.vocab_size - len(tok.special_tokens)
    return n_bytes / max(n_tokens, 1), len(used) / ordinary


def main(argv: list[str] | None = None) -> int:
    """`python -m toksmith.domains binary OUT.json TEST_DIR` or
    `python -m toksmith.domains text TOKENIZER TEST.txt [REF...]`: print a Markdown table."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m toksmith.domains", description=main.__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("binary", help="bytes/token of a binary tokenizer and its nested vocabs")
    b.add_argument("tokenizer")
    b.add_argument("test_dir")
    t = sub.add_parser("text", help="tokens of a domain tokenizer vs references on a text file")
    t.add_argument("tokenizer")
    t.add_argument("test")
    t.add_argument("refs", nargs="*", default=["o200k", "llama3"])
    args = ap.parse_args(argv)
    if args.cmd == "binary":
        from .train import binary_files

        files = binary_files([args.test_dir])
        total = sum(Path(f).stat().st_size for f in files)
        print(f"held-out: {len(files)} ELF files, {total} bytes")
        print("| vocab | bytes/token | vocab used |\n|---:|---:|---:|")
        for n in NESTED_SIZES:
            p = nested_path(args.tokenizer, n)
            path = p if os.path.isfile(p) else args.tokenizer
            tok = Tokenizer.from_file(path)
            if tok.vocab_size != n:
                continue
            bpt, used = binary_stats(tok, files)
            print(f"| {n} | {bpt:.2f} | {used:.1%} |")
        return 0
    text = Path(args.test).read_text(encoding="utf-8")
    mine = Tokenizer.from_file(args.tokenizer)
    n_mine = count_tokens(mine, text)
    print(f"held-out: {args.test} ({len(text.encode())} bytes)")
    print("| tokenizer | vocab | tokens | bytes/token | vs this |\n|---|---:|---:|---:|---:|")
    print(
        f"| {Path(args.tokenizer).name} | {mine.vocab_size} | {n_mine} | "
        f"{len(text.encode()) / n_mine:.2f} | - |"
    )
    for name in args.refs:
        ref = reference(name)
        n = count_tokens(ref, text)
        print(
            f"| {name} | {ref.vocab_size} | {n} | {len(text.encode()) / n:.2f} | "
            f"{(n_mine - n) / n:+.1%} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
