"""A tiny pure-Python stand-in for `toksmith._core`, used ONLY when the extension is not built.

It implements just enough of the counting surface (`preset_patterns`, `Counter`, `WordCounts`) to
unit-test the input readers and CLI plumbing. Tests of encoding/training need the real module and
are skipped without it. Never shipped.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Sequence

import regex

__version__ = "0.0.0-fake"

_PRESETS = {
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
    "cl100k": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
    "o200k": r"""[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+""",  # noqa: E501
    "llama3": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",  # noqa: E501
    "qwen2": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",  # noqa: E501
}


def preset_patterns() -> dict[str, str]:
    return dict(_PRESETS)


class Tokenizer:  # only for isinstance checks
    pass


class WordCounts:
    def __init__(self, pretokenizer: str, normalizer: str) -> None:
        self.counts: collections.Counter[bytes] = collections.Counter()
        self.pretokenizer = pretokenizer
        self.normalizer = normalizer

    @staticmethod
    def load(path: str) -> WordCounts:
        with open(path) as f:
            d = json.load(f)
        wc = WordCounts(d["pretokenizer"], d["normalizer"])
        wc.counts.update({bytes.fromhex(k): v for k, v in d["counts"].items()})
        return wc

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(
                {
                    "pretokenizer": self.pretokenizer,
                    "normalizer": self.normalizer,
                    "counts": {k.hex(): v for k, v in self.counts.items()},
                },
                f,
            )

    def merge(self, other: WordCounts) -> None:
        if (other.pretokenizer, other.normalizer) != (self.pretokenizer, self.normalizer):
            raise ValueError("counts made with different pre-tokenizers")
        self.counts.update(other.counts)

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def prune(self, max_distinct: int) -> tuple[int, int]:
        keep = dict(self.counts.most_common(max_distinct))
        removed = [(k, v) for k, v in self.counts.items() if k not in keep]
        self.counts = collections.Counter(keep)
        return len(removed), sum(v for _, v in removed)

    def most_common(self, n: int) -> list[tuple[bytes, int]]:
        return self.counts.most_common(n)


class Counter:
    def __init__(
        self,
        pretokenizer: str,
        normalizer: str = "none",
        special_tokens: Sequence[str] = (),
        utf8_errors: str = "strict",
    ) -> None:
        pattern = _PRESETS.get(pretokenizer, pretokenizer)
        try:
            self._re = None if pattern == "none" else regex.compile(pattern)
        except regex.error as e:
            raise ValueError(f"invalid regex: {e}") from None
        self._specials = list(special_tokens)
        self._errors = utf8_errors
        self._wc = WordCounts(pretokenizer, normalizer)
        self.bytes_seen = 0
        self.calls: list[tuple[str, list]] = []

    def add_texts(self, texts: list[str]) -> None:
        encoded = [t.encode("utf-8") for t in texts]  # raises like PyO3 on lone surrogates
        self.calls.append(("texts", list(texts)))
        for t, b in zip(texts, encoded):
            self.bytes_seen += len(b)
            self._count(t)

    def _count(self, text: str) -> None:
        parts = [text]
        for s in self._specials:
            parts = [p for q in parts for p in q.split(s)]
        for p in parts:
            pieces = [p] if self._re is None else self._re.findall(p)
            self._wc.counts.update(x.encode("utf-8") for x in pieces if x)

    def add_files(self, paths: list[str]) -> None:
        self.calls.append(("files", list(paths)))
        for path in paths:
            with open(path, "rb") as f:
                for lineno, raw in enumerate(f, 1):
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        if self._errors == "strict":
                            raise ValueError(f"{path}:{lineno}: invalid UTF-8") from None
                        if self._errors == "skip":
                            continue
                        line = raw.decode("utf-8", "replace")
                    self.bytes_seen += len(raw)
                    self._count(line)

    def finish(self) -> WordCounts:
        out = WordCounts(self._wc.pretokenizer, self._wc.normalizer)
        out.counts.update(self._wc.counts)
        return out


def train(*args, **kwargs):
    raise NotImplementedError("the fake core cannot train; build the extension")
