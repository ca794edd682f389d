"""Domain tokenizers: presets, shaping options (char caps, forced tokens, digits, padding),
binary BPE with nested vocabularies, and the `train --domain` command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import needs_core
from toksmith import domains
from toksmith.cli import cli


def _regex(pattern: str) -> re.Pattern[str]:
    import regex

    return regex.compile(pattern)


def test_split_digits_composes_with_presets() -> None:
    for preset in ("gpt2", "cl100k", "o200k", "llama3"):
        one = _regex(domains.split_digits(preset, 1))
        three = _regex(domains.split_digits(preset, 3))
        digits = [p.strip() for p in one.findall("x 2024") if p.strip().isdigit()]
        assert digits == ["2", "0", "2", "4"], preset
        assert "202" in three.findall("2024") and "4" in three.findall("2024")
    four = _regex(domains.split_digits("o200k", 4))
    assert four.findall("in 1776,") == ["in", " ", "1776", ","]
    with pytest.raises(ValueError, match="no digit rule"):
        domains.split_digits(r"\w+", 2)
    with pytest.raises(ValueError, match="positive"):
        domains.split_digits("o200k", 0)


def test_unknown_domain_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown domain 'finance'.*legal"):
        domains.get("finance")
    assert domains.get("Legal").name == "legal"
    assert set(domains.DOMAINS) == {"legal", "medical", "code", "chars", "binary"}
    assert domains.years()[:2] == ["1776", "1777"] and domains.years()[-1] == "2050"


@needs_core
def test_char_cap_and_forced_tokens(tmp_path: Path) -> None:
    from toksmith import train

    text = "überall überall ünter 日本語の日本語 the 1776 declaration of 1776 " * 50
    tok = train(
        [text],
        vocab_size=600,
        pattern=domains.split_digits("o200k", 4),
        max_token_chars=3,
        added_tokens=["1776"],
        progress=False,
    )
    for i in range(tok.vocab_size):
        b = tok.id_to_token(i)
        if b is not None and not tok.is_special(i) and b != b"1776":
            assert len(b.decode("utf-8", "replace")) <= 3 or b"\xef\xbf\xbd" in b, b
    ids = tok.encode("in 1776")
    assert tok.token_to_id(b"1776") in ids


@needs_core
def test_padding_to_power_of_two_and_multiple() -> None:
    from toksmith import train

    tok = train(["hello world " * 20], vocab_size=270, pad_to="pow2", progress=False)
    assert tok.vocab_size == 512
    reserved = sorted(v for k, v in tok.special_tokens.items() if k.startswith("<|reserved_"))
    assert reserved == list(range(512 - len(reserved), 512))
    tok = train(["hello world " * 20], vocab_size=270, pad_to=100, progress=False)
    assert tok.vocab_size == 300
    with pytest.raises(ValueError, match="pad_to"):
        train(["x"], vocab_size=270, pad_to=0, progress=False)


@needs_core
def test_binary_nested_vocabularies(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    motifs = [bytes(rng.randrange(256) for _ in range(rng.randrange(3, 20))) for _ in range(40)]
    for i in range(6):
        blob = b"\x7fELF" + b"".join(
            rng.choice(motifs) + b"\0" * rng.randrange(0, 4) for _ in range(800)
        )
        (tmp_path / f"f{i}.bin").write_bytes(blob)
    d = domains.get("binary")
    tok = domains.train_domain(d, [str(tmp_path)], vocab_size=7 + 256 + 200, progress=False)
    assert tok.pretokenizer == "none"
    assert [tok.special_tokens[s] for s in domains.BINARY_SPECIALS] == list(range(7))
    longest = max(len(tok.id_to_token(i) or b"") for i in range(7, tok.vocab_size))
    assert longest <= 16
    sub = domains.nested(tok, [7 + 256 + 50, 7 + 256 + 100])
    small = sub[7 + 256 + 50]
    assert small.vocab_size == 313 and small.special_tokens == tok.special_tokens
    # The same run trained to the smaller size is the prefix.
    again = domains.train_domain(d, [str(tmp_path)], vocab_size=313, progress=False)
    assert again.merges == small.merges
    data = (tmp_path / "f0.bin").read_bytes()
    for t in (tok, small):
        ids = t.encode_bytes(data)
        assert t.decode_bytes(ids) == data
    assert len(tok.encode_bytes(data)) < len(small.encode_bytes(data)) < len(data)
    with pytest.raises(ValueError, match="exceeds"):
        domains.nested(tok, [10**6])


@needs_core
def test_empty_domain_corpus_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="empty corpus"):
        domains.train_domain("legal", [str(tmp_path / "empty.txt")], progress=False)
    with pytest.raises(ValueError, match="empty corpus"):
        domains.train_domain("legal", [], progress=False)
    (tmp_path / "e.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="empty corpus"):
        domains.train_domain("binary", [str(tmp_path / "e.bin")], progress=False)


def test_cli_unknown_domain_and_bad_options(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("hello\n")
    r = CliRunner().invoke(cli, ["train", str(f), "--domain", "nope", "-o", str(tmp_path / "t")])
    assert r.exit_code == 2 and "unknown domain 'nope'" in r.output
    r = CliRunner().invoke(cli, ["train", str(f), "-o", str(tmp_path / "t")])
    assert r.exit_code == 2 and "--vocab-size" in r.output


@needs_core
def test_cli_domain_binary_writes_nested_files(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4 + b"\x7fELF\0\0\0\x01" * 300
    src = tmp_path / "prog"
    src.write_bytes(data)
    out = tmp_path / "bin.json"

    def train(nested: str):
        args = ["train", str(src), "--domain", "binary", "-v", "300", "--nested", nested]
        return CliRunner().invoke(cli, [*args, "-o", str(out), "-q"])

    r = train("270,290")
    assert r.exit_code == 0, r.output
    assert out.is_file()
    assert (tmp_path / "bin-270.json").is_file() and (tmp_path / "bin-290.json").is_file()
    r = train("999")
    assert r.exit_code == 2 and "exceeds" in r.output
