"""Supertokens: SuperBPE and the separator curriculum (training, rules, HF parity, errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import needs_core

pytestmark = needs_core

SMALL = Path.home() / ".cache/toksmith/corpora/small"

TEXT = (
    "In the middle of the night the dog barked at the moon. One of the best days of the year.\n"
    "Note: the cat sat on the mat in the middle of the room, and it is one of the best cats.\n"
    "We went to the market at the end of the day; at the end of the day we were tired!\n"
) * 40


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """The small tier's English prose when present (a repetitive text would exhaust its pairs),
    else TEXT."""
    real = SMALL / "prose-en/train.txt"
    if real.exists():
        return real
    p = tmp_path / "train.txt"
    p.write_text(TEXT, encoding="utf-8")
    return p


def _words(token: bytes) -> int:
    return len([w for w in token.split(b" ") if w])


def test_superbpe_learns_multiword_tokens_within_rules(corpus: Path) -> None:
    import toksmith
    from toksmith import supertokens as st

    tok = st.train_superbpe([corpus], 1500, transition=1000, max_words=3, progress=False)
    assert tok.pattern == st.SUPERBPE_PATTERN
    tokens = [t for t in tok.tokens() if t is not None]
    multi = [t for t in tokens if _words(t) >= 2]
    assert multi, "no token spans a space"
    assert all(_words(t) <= 3 for t in tokens)
    assert not any(b": " in t for t in tokens)
    # Fewer tokens than plain BPE of the same size on the training text.
    plain = toksmith.train([corpus], 1500, progress=False)
    text = corpus.read_text("utf-8")
    assert len(tok.encode_ordinary(text)) < len(plain.encode_ordinary(text))
    assert tok.decode(tok.encode_ordinary(TEXT)) == TEXT


def test_no_cross_rules(corpus: Path) -> None:
    from toksmith import supertokens as st

    tok = st.train_superbpe(
        [corpus], 700, transition=0.6, no_cross=["colon", "sentence", "newline"], progress=False
    )
    for t in (t for t in tok.tokens() if t is not None):
        assert b": " not in t
        for i in range(len(t) - 1):
            if t[i : i + 1] in b"\r\n":
                assert t[i + 1 : i + 2] in b"\r\n", t
        if any(t[i : i + 1] in b".!?" and t[i + 1 : i + 2] in b"\r\n" for i in range(len(t))):
            assert t.strip(b".!?\r\n") == b"", t


def test_hf_loads_identical_ids(corpus: Path, tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from toksmith import supertokens as st

    tok = st.train_superbpe([corpus], 700, transition=400, progress=False)
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    split = json.loads(path.read_text())["pre_tokenizer"]["pretokenizers"][0]
    assert split["type"] == "Split"
    hf = tokenizers.Tokenizer.from_file(str(path))
    held_out = [
        "At the end of the week, one of the best dogs: 12345 barked!!\n\nIn the middle   of it.",
        "Ünïcode wörds and the end of the day... \r\n\tend",
    ]
    if (SMALL / "prose-en/test.txt").exists():
        held_out += (SMALL / "prose-en/test.txt").read_text("utf-8").split("\n\n")[:200]
    for text in held_out:
        assert hf.encode(text, add_special_tokens=False).ids == tok.encode_ordinary(text)


def test_separator_curriculum(corpus: Path, tmp_path: Path) -> None:
    from toksmith import supertokens as st

    tok = st.train_separator([corpus], 600, chunk_min=4, chunk_max=23, progress=False)
    assert tok.pretokenizer == "none"
    tokens = [t for t in tok.tokens() if t is not None]
    assert any(b" " in t.strip(b" ") for t in tokens), "no token spans white space"
    assert tok.decode(tok.encode_ordinary(TEXT)) == TEXT
    tokenizers = pytest.importorskip("tokenizers")
    tok.save(tmp_path / "t.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "t.json"))
    sample = TEXT[:3000]
    assert hf.encode(sample, add_special_tokens=False).ids == tok.encode_ordinary(sample)
    with pytest.raises(ValueError, match="chunk_min"):
        st.train_separator([corpus], 600, chunk_min=9, chunk_max=3, progress=False)


def test_train_entry_point_and_errors(corpus: Path) -> None:
    import toksmith

    tok = toksmith.train(
        [corpus], 600, progress=False, supertokens={"transition": 400, "max_words": 2}
    )
    assert all(_words(t) <= 2 for t in tok.tokens() if t is not None)
    with pytest.raises(ValueError, match="beyond vocab_size 600"):
        toksmith.train([corpus], 600, progress=False, supertokens={"transition": 700})
    from toksmith import _core
    from toksmith import supertokens as st

    with pytest.raises(ValueError, match="beyond vocab_size"):
        counts = toksmith.count([corpus], progress=False)
        _core.train_supertokens(counts, 600, stage1=counts, transition=900)
    with pytest.raises(ValueError, match="unknown no_cross"):
        st.train_superbpe([corpus], 600, 400, no_cross=["comma"], progress=False)
    with pytest.raises(ValueError, match="fraction"):
        st.train_superbpe([corpus], 600, 1.5, progress=False)


def test_cli(corpus: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner
    from toksmith.cli import cli

    out = tmp_path / "super.json"
    args = ["train", str(corpus), "-v", "600", "-o", str(out), "-q"]
    r = CliRunner().invoke(cli, [*args, "--superbpe-transition", "400", "--max-words", "2"])
    assert r.exit_code == 0, r.output
    from toksmith import Tokenizer

    tok = Tokenizer.from_file(out)
    assert any(_words(t) == 2 for t in tok.tokens() if t is not None)
    r = CliRunner().invoke(cli, [*args, "--superbpe-transition", "900"])
    assert r.exit_code == 2
    r = CliRunner().invoke(cli, [*args, "--separator-curriculum", "--chunk-min", "3"])
    assert r.exit_code == 0, r.output
