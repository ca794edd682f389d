"""Regenerate the HF tokenizer.json fixtures (tokenizers 0.23.3): `python3 make_fixtures.py`."""

import codecs
import contextlib
import io
import json

from tokenizers import (
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

CL100K = (
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"
    r"|\s++$|\s*[\r\n]|\s+(?!\S)|\s"
)


def corpus() -> list[str]:
    """The Zen of Python plus a few non-ASCII lines, repeated with variations."""
    with contextlib.redirect_stdout(io.StringIO()):
        import this  # its source holds the rot13 Zen of Python: stable text
    zen = codecs.decode(this.s, "rot13")
    extra = "Café naïve résumé 東京 2024年 — ﬁne ①②③ Ünïcödé 12345 don't WE'LL\n"
    return [zen, extra] * 3 + [zen.upper(), zen.replace(" ", "  ")]


def alphabet() -> list[str]:
    return pre_tokenizers.ByteLevel.alphabet()


def gpt2_style(path: str) -> None:
    """ByteLevel(use_regex=True) pre-tokenizer, NFC, merges written in the legacy "a b" form."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=330,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer)
    doc = json.loads(tok.to_str())
    doc["model"]["merges"] = [" ".join(pair) for pair in doc["model"]["merges"]]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
    Tokenizer.from_file(path)  # still loads


def split_style(path: str) -> None:
    # Note: HF's Oniguruma reads tiktoken's possessive `\p{N}{1,3}+` as "repeat `\p{N}{1,3}`".
    """Split(cl100k) + ByteLevel(use_regex=False), ignore_merges, a non-special added token."""
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CL100K), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, initial_alphabet=alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    tok.add_special_tokens(["<|endoftext|>", "<|pad|>"])
    tok.add_tokens(["Zen"])
    tok.save(path, pretty=False)


if __name__ == "__main__":
    gpt2_style("hf_gpt2_style.json")
    split_style("hf_split_cl100k.json")
