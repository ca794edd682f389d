"""count/train: shard merging, continue-training, validation and bad inputs."""

from __future__ import annotations

import pytest
import toksmith
from conftest import generated_text, needs_core


def write_corpus(tmp_path, n_files=3, lines=300):
    paths = []
    for i in range(n_files):
        p = tmp_path / f"part{i}.txt"
        p.write_text(generated_text(lines, seed=i))
        paths.append(p)
    return paths


def test_count_shards_merge_equals_one_pass(tmp_path):
    paths = write_corpus(tmp_path)
    whole = toksmith.count([str(p) for p in paths], progress=False)
    shards = [toksmith.count(p, progress=False) for p in paths]
    for i, s in enumerate(shards):
        s.save(str(tmp_path / f"s{i}.counts"))
    merged = toksmith.WordCounts.load(str(tmp_path / "s0.counts"))
    for i in (1, 2):
        merged.merge(toksmith.WordCounts.load(str(tmp_path / f"s{i}.counts")))
    assert merged.total == whole.total and len(merged) == len(whole)
    assert merged.most_common(50) == whole.most_common(50)


def test_count_specials_are_cut_out():
    wc = toksmith.count(["a<|x|>b <|x|>"], pattern="gpt2", special_tokens=["<|x|>"], progress=False)
    assert all(b"<|x|>" not in w and b"|" not in w for w, _ in wc.most_common(100))


def test_count_mismatched_pattern_merge_fails():
    a = toksmith.count(["hello world"], pattern="gpt2", progress=False)
    b = toksmith.count(["hello world"], pattern="cl100k", progress=False)
    with pytest.raises(ValueError):
        a.merge(b)


def test_empty_corpus(tmp_path):
    (tmp_path / "e.txt").write_text("")
    with pytest.raises(ValueError, match="empty corpus"):
        toksmith.count(tmp_path / "e.txt", progress=False)
    with pytest.raises(ValueError, match="empty corpus"):
        toksmith.count([], progress=False)


def test_invalid_utf8_in_txt_names_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"fine line\nsecond\nbad \xff line\n")
    with pytest.raises(ValueError, match=r"bad\.txt.*\b3\b"):
        toksmith.count(p, progress=False)
    ok = toksmith.count(p, utf8_errors="skip", progress=False)
    assert ok.total > 0


def test_validation_messages(tmp_path):
    with pytest.raises(ValueError, match="vocab_size 200 is too small: the minimum is 258"):
        toksmith.train(["x"], vocab_size=200, special_tokens=["<a>", "<b>"], progress=False)
    with pytest.raises(ValueError, match="unknown pattern name 'o300k'"):
        toksmith.train(["x"], vocab_size=300, pattern="o300k", progress=False)
    with pytest.raises(ValueError, match="invalid pattern regex"):
        toksmith.train(["x"], vocab_size=300, pattern=r"(\p{L}+", progress=False)
    with pytest.raises(ValueError, match="nothing to train on"):
        toksmith.train(vocab_size=300, progress=False)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        toksmith.train(str(tmp_path / "missing.txt"), vocab_size=300, progress=False)
    with pytest.raises(ValueError, match="given twice"):
        toksmith.train(["x"], vocab_size=300, special_tokens=["<a>", "<a>"], progress=False)


@needs_core
def test_train_from_counts_equals_from_inputs(tmp_path):
    paths = write_corpus(tmp_path)
    direct = toksmith.train([str(p) for p in paths], vocab_size=500, progress=False)
    for i, p in enumerate(paths):
        toksmith.count(p, progress=False).save(str(tmp_path / f"c{i}"))
    via = toksmith.train(
        counts=[str(tmp_path / f"c{i}") for i in range(3)], vocab_size=500, progress=False
    )
    assert via.merges == direct.merges
    assert via.pretokenizer == "o200k"


@needs_core
def test_continue_training_keeps_base(tmp_path):
    paths = write_corpus(tmp_path)
    base = toksmith.train(str(paths[0]), vocab_size=400, special_tokens=["<s>"], progress=False)
    base.save(tmp_path / "base.json")
    more = toksmith.train(
        str(paths[1]), vocab_size=500, base=str(tmp_path / "base.json"), progress=False
    )
    assert more.vocab_size == 500
    assert more.merges[: len(base.merges)] == base.merges
    assert more.special_tokens == base.special_tokens
    for i in range(base.vocab_size):
        assert more.id_to_token(i) == base.id_to_token(i)
    with pytest.raises(ValueError, match="minimum is 400"):
        toksmith.train(str(paths[1]), vocab_size=399, base=base, progress=False)


@needs_core
def test_specials_at_end_and_limits(tmp_path):
    paths = write_corpus(tmp_path, 1)
    tok = toksmith.train(
        str(paths[0]),
        vocab_size=400,
        special_tokens=["<a>", "<b>"],
        specials_at_end=True,
        max_token_length=4,
        progress=False,
    )
    assert tok.special_tokens == {"<a>": 398, "<b>": 399}
    assert max(len(a + b) for a, b in tok.merges) <= 4
    first = toksmith.train(str(paths[0]), vocab_size=400, special_tokens=["<a>"], progress=False)
    assert first.special_tokens == {"<a>": 0}


@needs_core
def test_min_frequency_and_max_distinct(tmp_path, capsys):
    paths = write_corpus(tmp_path, 1)
    tok = toksmith.train(str(paths[0]), vocab_size=5000, min_frequency=10**9, progress=False)
    assert tok.num_merges == 0
    toksmith.train(str(paths[0]), vocab_size=400, max_distinct=20, progress=True)
    assert "pruned" in capsys.readouterr().err


@needs_core
def test_counts_not_mutated(tmp_path):
    wc = toksmith.count(write_corpus(tmp_path, 1)[0], progress=False)
    n, total = len(wc), wc.total
    toksmith.train(["more text here"], counts=wc, vocab_size=300, max_distinct=5, progress=False)
    assert (len(wc), wc.total) == (n, total)
