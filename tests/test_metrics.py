"""Metrics against a brute-force recomputation, and `toksmith eval` output."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
from conftest import generated_text, needs_core

pytestmark = needs_core


def _brute(tok, text: str) -> dict[str, float]:
    ids = [i for line in text.splitlines(keepends=True) for i in tok.encode_ordinary(line)]
    n, v = len(ids), tok.vocab_size
    uni = Counter(ids)
    p = [c / n for c in uni.values()]
    h1 = -sum(x * math.log2(x) for x in p)
    big = Counter(zip(ids, ids[1:]))
    q = [c / (n - 1) for c in big.values()]
    h12 = -sum(x * math.log2(x) for x in q)
    renyi = math.log2(sum(x**2.5 for x in p)) / (1 - 2.5)
    return {
        "bytes_per_token": len(text.encode()) / n,
        "tokens_per_word": n / len(text.split()),
        "unigram_entropy": h1,
        "bigram_conditional_entropy": h12 - h1,
        "renyi_efficiency": renyi / math.log2(v),
        "vocab_used": len(uni) / v,
    }


def test_metrics_match_brute_force(small_tok, tmp_path):
    from toksmith import metrics

    text = generated_text(300, seed=3)
    path = tmp_path / "c.txt"
    path.write_text(text, encoding="utf-8", newline="")
    m = metrics.evaluate(small_tok, path, corpus_name="gen").as_dict()
    want = _brute(small_tok, text)
    for key, value in want.items():
        assert m[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
    assert m["corpus"] == "gen" and m["vocab_size"] == small_tok.vocab_size


def test_eval_cli_table_json_png(small_tok, tmp_path):
    from click.testing import CliRunner
    from toksmith.cli import cli

    tok_path = tmp_path / "tok.json"
    small_tok.save(tok_path)
    corpus = tmp_path / "c.txt"
    corpus.write_text(generated_text(50, seed=1), encoding="utf-8")
    out_json, out_png = tmp_path / "m.json", tmp_path / "m.png"
    args = ["eval", str(tok_path), "--corpus", f"gen={corpus}", "--json", str(out_json)]
    try:
        import matplotlib  # noqa: F401

        args += ["--png", str(out_png)]
    except ImportError:
        out_png = None
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "bytes/tok" in r.output and "gen" in r.output
    rows = json.loads(out_json.read_text())
    assert len(rows) == 1 and rows[0]["tokens"] > 0
    if out_png is not None:
        assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_empty_corpus_is_an_error(small_tok, tmp_path):
    from toksmith import metrics

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty corpus"):
        metrics.evaluate(small_tok, empty)
