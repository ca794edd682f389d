"""Train HF tokenizers' BpeTrainer on parity_corpus.txt and write the expected merges.

Configuration mirrors toksmith's trainer contract: Split(regex, "isolated") then
ByteLevel(add_prefix_space=False, use_regex=False); the byte-level initial alphabet; no specials
in the text. Each output file has one merge per line as two hex byte strings, plus a header line
with the pre-token count. Run from this directory: `python make_hf_merges.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

HERE = Path(__file__).parent

CL100K = (
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"
    r"|\s++$|\s*[\r\n]|\s+(?!\S)|\s"
)
# Oniguruma (HF) reads `{1,3}+` as "{1,3}, one or more times", not as a possessive interval as
# fancy-regex and tiktoken do: given verbatim, HF would keep whole digit runs together. Without
# the `+` the interval means the same in both engines (nothing follows it in its alternative).
CL100K_ONIG = CL100K.replace(r"\p{N}{1,3}+", r"\p{N}{1,3}")
assert CL100K_ONIG != CL100K
O200K = "|".join(
    [
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"\p{N}{1,3}",
        r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
        r"\s*[\r\n]+",
        r"\s+(?!\S)",
        r"\s+",
    ]
)

# name -> (pattern, vocab_size, min_frequency, max_token_length, special tokens)
CASES: dict[str, tuple[str, int, int, int | None, list[str]]] = {
    "cl100k_v2000": (CL100K_ONIG, 2000, 0, None, []),
    "o200k_v2000": (O200K, 2000, 0, None, []),
    "o200k_v2000_min2_len16": (O200K, 2000, 2, 16, ["<|endoftext|>", "<pad>"]),
    "cl100k_v2000_len6": (CL100K_ONIG, 2000, 0, 6, []),
}

BYTE_TO_CHAR = pre_tokenizers.ByteLevel.alphabet()


def char_to_byte() -> dict[str, int]:
    """The inverse of GPT-2's byte -> char table."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table, n = {}, 0
    for b in range(256):
        if b in printable:
            table[chr(b)] = b
        else:
            table[chr(256 + n)] = b
            n += 1
    assert set(table) == set(BYTE_TO_CHAR)
    return table


def fnv1a(data: bytes) -> int:
    """FNV-1a 64-bit hash."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def counts_digest(pieces: list[str], c2b: dict[str, int]) -> str:
    """`total T distinct D fnv H`: H hashes the sorted lines `<hex piece> <count>\\n`."""
    counts: dict[bytes, int] = {}
    for p in pieces:
        b = bytes(c2b[c] for c in p)
        counts[b] = counts.get(b, 0) + 1
    blob = "".join(f"{k.hex()} {v}\n" for k, v in sorted(counts.items()))
    return f"total {len(pieces)} distinct {len(counts)} fnv {fnv1a(blob.encode()):016x}"


def train(text: str, pattern: str, vocab: int, min_freq: int, max_len: int | None,
          specials: list[str]) -> Tokenizer:
    """Train HF's BPE on one text with the toksmith-equivalent configuration."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        min_frequency=min_freq,
        special_tokens=specials,
        initial_alphabet=BYTE_TO_CHAR,
        max_token_length=max_len,
        show_progress=False,
    )
    tok.train_from_iterator([text], trainer=trainer)
    return tok


def main() -> None:
    text = (HERE / "parity_corpus.txt").read_text(encoding="utf-8")
    c2b = char_to_byte()
    for name, (pattern, vocab, min_freq, max_len, specials) in CASES.items():
        tok = train(text, pattern, vocab, min_freq, max_len, specials)
        model = json.loads(tok.to_str())["model"]
        pieces = tok.pre_tokenizer.pre_tokenize_str(text)
        lines = [f"# {counts_digest([p for p, _ in pieces], c2b)} vocab {len(model['vocab'])}"]
        for left, right in model["merges"]:
            lb = bytes(c2b[c] for c in left).hex()
            rb = bytes(c2b[c] for c in right).hex()
            lines.append(f"{lb} {rb}")
        (HERE / f"hf_merges_{name}.txt").write_text("\n".join(lines) + "\n")
        print(name, len(model["merges"]), "merges,", len(model["vocab"]), "tokens")


if __name__ == "__main__":
    main()
