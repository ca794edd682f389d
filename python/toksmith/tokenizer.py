"""`Tokenizer`: a byte-level BPE tokenizer backed by the Rust engine.

Encoding follows tiktoken's policy for special tokens: by default every special token is
*disallowed* and finding one in the text raises ValueError; ``allowed_special`` turns the named
ones (or ``"all"``) into their ids; a special that is neither allowed nor disallowed is encoded as
ordinary text.

Lone surrogates: a Python ``str`` may hold unpaired surrogates (``"\\ud800"``) that have no UTF-8
form. Like tiktoken, such text is first repaired with
``text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")``, which turns each lone
surrogate into U+FFFD (valid surrogate pairs written as two code points are joined), and the
repaired text is encoded.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Literal, Union

from . import _core
from . import patterns as _patterns

Specials = Union[Literal["all"], Collection[str]]
PathLike = Union[str, "os.PathLike[str]"]


def fix_surrogates(text: str) -> str:
    """Replace lone surrogates by U+FFFD, tiktoken's repair for text with no UTF-8 form."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _looks_like_json(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(64).lstrip()
    return head.startswith(b"{")


class Tokenizer:
    """A trained BPE tokenizer (wraps `toksmith._core.Tokenizer`)."""

    __slots__ = ("_core",)

    def __init__(self, core: _core.Tokenizer) -> None:
        if not isinstance(core, _core.Tokenizer):
            raise TypeError(
                "Tokenizer() wraps an engine tokenizer; use Tokenizer.from_file, "
                "Tokenizer.from_tiktoken, Tokenizer.from_str or toksmith.train"
            )
        self._core = core

    # ----------------------------------------------------------------- loading and saving
    @classmethod
    def from_file(cls, path: PathLike) -> Tokenizer:
        """Load a HF ``tokenizer.json`` or a tiktoken rank file (with its ``<path>.json``
        sidecar), detected by extension and content."""
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"no such tokenizer file: {p}")
        if p.is_dir():
            candidate = p / "tokenizer.json"
            if not candidate.is_file():
                raise FileNotFoundError(f"{p} is a directory without a tokenizer.json")
            p = candidate
        if p.suffix in (".tiktoken", ".model", ".bpe") or not _looks_like_json(p):
            return cls.from_tiktoken(p)
        return cls(_core.Tokenizer.from_hf_json(str(p)))

    @classmethod
    def from_reference(cls, name: str) -> Tokenizer:
        """A reference tokenizer (gpt2, cl100k, o200k, llama3, qwen2) from the corpora cache
        (built by ``python corpora/build.py``)."""
        from .corpora import reference_tokenizer

        path, side = reference_tokenizer(name)
        return cls.from_tiktoken(path, side["pattern"], side["special_tokens"])

    @classmethod
    def load(cls, spec: PathLike) -> Tokenizer:
        """`from_file` for an existing path, else `from_reference` for a reference name."""
        from .corpora import REFERENCE_NAMES

        if not Path(spec).exists() and str(spec) in REFERENCE_NAMES:
            return cls.from_reference(str(spec))
        return cls.from_file(spec)

    @classmethod
    def from_tiktoken(
        cls,
        path: PathLike,
        pattern: str | None = None,
        special_tokens: dict[str, int] | None = None,
    ) -> Tokenizer:
        """Load a tiktoken rank file. `pattern` (a preset name or regex) and `special_tokens`
        default to the ``<path>.json`` sidecar's."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no such tiktoken rank file: {p}")
        spec = _patterns.spec(pattern) if pattern is not None else None
        specials = dict(special_tokens) if special_tokens is not None else None
        return cls(_core.Tokenizer.from_tiktoken(str(p), spec, specials))

    @classmethod
    def from_str(cls, json: str) -> Tokenizer:
        """Load from the text of a HF ``tokenizer.json``."""
        return cls(_core.Tokenizer.from_hf_json_str(json))

    def save(self, path: PathLike) -> None:
        """Write a HF ``tokenizer.json`` (atomically)."""
        self._core.save_hf_json(os.fspath(path))

    def save_tiktoken(self, path: PathLike) -> None:
        """Write a tiktoken rank file and its ``<path>.json`` sidecar (pattern, specials)."""
        self._core.save_tiktoken(os.fspath(path))

    def to_str(self) -> str:
        """The HF ``tokenizer.json`` text."""
        return self._core.to_hf_json_str()

    # ----------------------------------------------------------------- properties
    @property
    def vocab_size(self) -> int:
        """Number of ids (one more than the largest id)."""
        return self._core.vocab_size

    @property
    def n_vocab(self) -> int:
        """Alias of `vocab_size` (tiktoken's name)."""
        return self._core.vocab_size

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special token content -> id."""
        return dict(self._core.special_tokens)

    @property
    def special_tokens_set(self) -> set[str]:
        return set(self._core.special_tokens)

    @property
    def pattern(self) -> str | None:
        """The pre-tokenizer regex (None when there is no pre-tokenization)."""
        return self._core.pattern

    @property
    def pretokenizer(self) -> str:
        """The pre-tokenizer spec: a preset name, ``none``, or the regex."""
        return self._core.pretokenizer

    @property
    def normalizer(self) -> str:
        return self._core.normalizer

    @property
    def num_merges(self) -> int:
        return self._core.num_merges

    @property
    def merges(self) -> list[tuple[bytes, bytes]]:
        """The merges in rank order, as (left bytes, right bytes)."""
        tok = self._core.id_to_token
        return [(_bytes(tok(a), a), _bytes(tok(b), b)) for a, b, _ in self._core.merges()]

    def merge_ids(self) -> list[tuple[int, int, int]]:
        """The merges in rank order, as (left id, right id, result id)."""
        return self._core.merges()

    # ----------------------------------------------------------------- encoding
    def _special_lists(
        self, allowed_special: Specials, disallowed_special: Specials
    ) -> tuple[list[str], list[str]]:
        specials = self._core.special_tokens
        if allowed_special == "all":
            allowed = set(specials)
        else:
            allowed = _as_set(allowed_special, "allowed_special")
        if disallowed_special == "all":
            disallowed = set(specials) - allowed
        else:
            disallowed = _as_set(disallowed_special, "disallowed_special")
        return sorted(allowed), sorted(disallowed)

    def encode(
        self,
        text: str,
        *,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials = "all",
    ) -> list[int]:
        """Token ids of `text` with tiktoken's special-token policy (see the module doc).

        A text of 256 KiB or more is encoded on every thread of the engine's pool (all cores;
        ``RAYON_NUM_THREADS`` caps it), with the same ids as on one."""
        allowed, disallowed = self._special_lists(allowed_special, disallowed_special)
        try:
            return self._core.encode(text, allowed, disallowed)
        except UnicodeEncodeError:
            return self._core.encode(fix_surrogates(text), allowed, disallowed)

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of `text`, treating special tokens as ordinary text (long texts in
        parallel, as in `encode`)."""
        try:
            return self._core.encode_ordinary(text)
        except UnicodeEncodeError:
            return self._core.encode_ordinary(fix_surrogates(text))

    def encode_bytes(self, data: bytes) -> list[int]:
        """Token ids of arbitrary bytes (no special tokens)."""
        return self._core.encode_bytes(bytes(data))

    def encode_with_offsets(
        self,
        text: str,
        *,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials = "all",
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids and each token's (start, end) byte offsets into ``text.encode()`` (of the
        surrogate-repaired text, if repair was needed)."""
        allowed, disallowed = self._special_lists(allowed_special, disallowed_special)
        try:
            return self._core.encode_with_offsets(text, allowed, disallowed)
        except UnicodeEncodeError:
            return self._core.encode_with_offsets(fix_surrogates(text), allowed, disallowed)

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        num_threads: int | None = None,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials = "all",
    ) -> list[list[int]]:
        """`encode` of each text, in parallel. `num_threads` caps the threads used (default:
        the engine's pool, all cores)."""
        allowed, disallowed = self._special_lists(allowed_special, disallowed_special)
        texts = list(texts)
        threads = _thread_count(num_threads)
        try:
            return self._core.encode_batch(texts, allowed, disallowed, threads)
        except UnicodeEncodeError:
            return self._core.encode_batch(_fix_all(texts), allowed, disallowed, threads)

    def encode_ordinary_batch(
        self, texts: Sequence[str], *, num_threads: int | None = None
    ) -> list[list[int]]:
        """`encode_ordinary` of each text, in parallel."""
        texts = list(texts)
        threads = _thread_count(num_threads)
        try:
            return self._core.encode_ordinary_batch(texts, threads)
        except UnicodeEncodeError:
            return self._core.encode_ordinary_batch(_fix_all(texts), threads)

    # ----------------------------------------------------------------- decoding
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of `ids` concatenated (ValueError names an unknown id)."""
        # Lists go to the engine as they are (read in place); numpy arrays via tolist().
        return self._core.decode_bytes(ids.tolist() if hasattr(ids, "tolist") else ids)

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """The text of `ids`; invalid UTF-8 is handled as ``bytes.decode(errors=...)``."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, id: int) -> bytes:
        """The bytes of one token (KeyError for an unknown id)."""
        out = self._core.id_to_token(id) if id >= 0 else None
        if out is None:
            raise KeyError(f"no token with id {id} (vocab_size {self.vocab_size})")
        return out

    def decode_tokens_bytes(self, ids: Iterable[int]) -> list[bytes]:
        return [self.decode_single_token_bytes(i) for i in ids]

    def token_to_id(self, token: str | bytes) -> int | None:
        """The id of a token given as bytes or text (special tokens by their content)."""
        if isinstance(token, str):
            special = self._core.special_tokens.get(token)
            if special is not None:
                return special
            try:
                token = token.encode("utf-8")
            except UnicodeEncodeError:
                return None
        return self._core.token_to_id(bytes(token))

    def id_to_token(self, id: int) -> bytes | None:
        """The bytes of token `id`, or None if there is no such id."""
        return self._core.id_to_token(id) if id >= 0 else None

    def is_special(self, id: int) -> bool:
        return self._core.is_special(id)

    def tokens(self) -> list[bytes | None]:
        """The bytes of every id (None for holes in the id space)."""
        return self._core.tokens()

    # ----------------------------------------------------------------- info
    def stats(self, longest: int = 10) -> dict:
        """Summary used by ``toksmith info``: sizes, pattern, specials, merges, longest tokens."""
        toks = self._core.tokens()
        regular = [
            (i, t) for i, t in enumerate(toks) if t is not None and not self._core.is_special(i)
        ]
        by_len = sorted(regular, key=lambda it: (-len(it[1]), it[0]))[:longest]
        lengths = [len(t) for _, t in regular]
        return {
            "vocab_size": self.vocab_size,
            "num_tokens": len(regular) + len(self._core.special_tokens),
            "pretokenizer": self.pretokenizer,
            "pattern": self.pattern,
            "normalizer": self.normalizer,
            "special_tokens": self.special_tokens,
            "num_merges": self.num_merges,
            "mean_token_bytes": (sum(lengths) / len(lengths)) if lengths else 0.0,
            "longest_tokens": [(i, t) for i, t in by_len],
        }

    def __repr__(self) -> str:
        return (
            f"Tokenizer(vocab_size={self.vocab_size}, pretokenizer={_short(self.pretokenizer)!r}, "
            f"special_tokens={len(self._core.special_tokens)}, merges={self.num_merges})"
        )

    def __len__(self) -> int:
        return self.vocab_size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tokenizer):
            return NotImplemented
        return self.to_str() == other.to_str()

    __hash__ = None  # type: ignore[assignment]


def _short(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _bytes(b: bytes | None, id: int) -> bytes:
    if b is None:
        raise ValueError(f"merge refers to id {id}, which has no token")
    return b


def _as_set(value: Specials, name: str) -> set[str]:
    if isinstance(value, str):
        raise TypeError(f"{name} must be 'all' or a collection of strings, got {value!r}")
    return set(value)


def _fix_all(texts: list[str]) -> list[str]:
    out = []
    for t in texts:
        try:
            t.encode("utf-8")
            out.append(t)
        except UnicodeEncodeError:
            out.append(fix_surrogates(t))
    return out


def _thread_count(num_threads: int | None) -> int | None:
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    return num_threads
