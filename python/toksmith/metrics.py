"""Intrinsic tokenizer metrics on a corpus.

For a tokenizer with vocabulary size |V| encoding a text of B bytes and W whitespace-separated
words into the token stream x_1..x_N with unigram distribution p:

* bytes/token = B / N (compression; higher is better);
* fertility = N / W (tokens per word);
* Rényi efficiency (Zouhar et al. 2023) = H_a(p) / log2 |V| with a = 2.5 and
  H_a(p) = log2(sum_i p_i^a) / (1 - a); |V| is the *full* vocabulary size (specials included);
* unigram entropy H(p) = -sum p_i log2 p_i (bits per token);
* bigram conditional entropy H(X_t | X_{t-1}) = H(X_{t-1}, X_t) - H(X_{t-1}) (bits per token);
* vocab used = distinct ids seen / |V|.

Texts are encoded as ordinary text (special-token strings in a corpus are just text).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .tokenizer import Tokenizer

RENYI_ALPHA = 2.5
_BATCH_BYTES = 1 << 20


@dataclass(frozen=True)
class Metrics:
    """One tokenizer on one corpus."""

    tokenizer: str
    corpus: str
    vocab_size: int
    bytes: int
    tokens: int
    words: int
    bytes_per_token: float
    tokens_per_word: float
    renyi_efficiency: float
    unigram_entropy: float
    bigram_conditional_entropy: float
    vocab_used: float

    def as_dict(self) -> dict:
        return asdict(self)


def _entropy_bits(counts: np.ndarray) -> float:
    counts = counts[counts > 0].astype(np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def renyi_entropy_bits(counts: np.ndarray, alpha: float = RENYI_ALPHA) -> float:
    """H_alpha of the distribution proportional to `counts`, in bits."""
    counts = counts[counts > 0].astype(np.float64)
    p = counts / counts.sum()
    if alpha == 1.0:
        return float(-(p * np.log2(p)).sum())
    return float(np.log2(np.power(p, alpha).sum()) / (1.0 - alpha))


def _chunks(path: Path, max_bytes: int | None) -> Iterator[list[str]]:
    """Batches of lines (~1 MiB) of a UTF-8 text file, up to `max_bytes`."""
    seen, batch, size = 0, [], 0
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for line in f:
            n = len(line.encode())
            if max_bytes is not None and seen + n > max_bytes:
                break
            seen += n
            batch.append(line)
            size += n
            if size >= _BATCH_BYTES:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def evaluate(
    tok: Tokenizer,
    corpus: str | Path,
    *,
    tokenizer_name: str | None = None,
    corpus_name: str | None = None,
    max_bytes: int | None = None,
) -> Metrics:
    """Measure `tok` on the text file `corpus` (the first `max_bytes` bytes, whole lines)."""
    path = Path(corpus)
    if not path.is_file():
        raise FileNotFoundError(f"no such corpus file: {path}")
    v = tok.vocab_size
    unigram = np.zeros(v, dtype=np.int64)
    bigram_keys: list[np.ndarray] = []
    n_bytes = n_words = n_tokens = 0
    for batch in _chunks(path, max_bytes):
        text = "".join(batch)
        n_bytes += len(text.encode())
        n_words += len(text.split())
        ids = np.fromiter(
            (i for doc in tok.encode_ordinary_batch(batch) for i in doc), dtype=np.int64
        )
        n_tokens += ids.size
        unigram += np.bincount(ids, minlength=v)
        if ids.size > 1:
            bigram_keys.append(ids[:-1] * v + ids[1:])
    if n_tokens == 0:
        raise ValueError(f"{path}: empty corpus, nothing to measure")
    h1 = _entropy_bits(unigram)
    if bigram_keys:
        _, pair_counts = np.unique(np.concatenate(bigram_keys), return_counts=True)
        h_cond = _entropy_bits(pair_counts) - h1
    else:
        h_cond = 0.0
    return Metrics(
        tokenizer=tokenizer_name or repr(tok),
        corpus=corpus_name or path.name,
        vocab_size=v,
        bytes=n_bytes,
        tokens=n_tokens,
        words=n_words,
        bytes_per_token=n_bytes / n_tokens,
        tokens_per_word=n_tokens / max(n_words, 1),
        renyi_efficiency=renyi_entropy_bits(unigram) / math.log2(v),
        unigram_entropy=h1,
        bigram_conditional_entropy=max(h_cond, 0.0),
        vocab_used=int((unigram > 0).sum()) / v,
    )


COLUMNS = (
    ("tokenizer", "tokenizer", "{}"),
    ("corpus", "corpus", "{}"),
    ("vocab_size", "|V|", "{}"),
    ("bytes_per_token", "bytes/tok", "{:.3f}"),
    ("tokens_per_word", "tok/word", "{:.3f}"),
    ("renyi_efficiency", "renyi@2.5", "{:.3f}"),
    ("unigram_entropy", "H1 bits", "{:.2f}"),
    ("bigram_conditional_entropy", "H2|1 bits", "{:.2f}"),
    ("vocab_used", "used", "{:.1%}"),
)


def table(rows: Sequence[Metrics]) -> str:
    """A plain-text table, one row per tokenizer x corpus."""
    cells = [[h for _, h, _ in COLUMNS]]
    for r in rows:
        d = r.as_dict()
        cells.append([fmt.format(d[k]) for k, _, fmt in COLUMNS])
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(rows: Sequence[Metrics], path: str | Path) -> None:
    _atomic_write(Path(path), json.dumps([r.as_dict() for r in rows], indent=2).encode())


def write_png(rows: Sequence[Metrics], path: str | Path) -> None:
    """Grouped bars of bytes/token per corpus and tokenizer (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ValueError("the PNG chart needs matplotlib (pip install matplotlib)") from e
    corpora = list(dict.fromkeys(r.corpus for r in rows))
    toks = list(dict.fromkeys(r.tokenizer for r in rows))
    value = {(r.tokenizer, r.corpus): r.bytes_per_token for r in rows}
    width = 0.8 / max(len(toks), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(corpora) * max(1, len(toks) / 2)), 4))
    for i, t in enumerate(toks):
        xs = [j + i * width for j in range(len(corpora))]
        ax.bar(xs, [value.get((t, c), 0.0) for c in corpora], width, label=t)
    ax.set_xticks([j + width * (len(toks) - 1) / 2 for j in range(len(corpora))], corpora)
    ax.set_ylabel("bytes / token (higher = better compression)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
