"""The command line, via click's CliRunner, plus one real console-script subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import REAL_CORE, generated_text, needs_core
from toksmith.cli import cli


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def one_error_line(result, *fragments):
    assert result.exit_code == 2, result.output
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), result.stderr
    for f in fragments:
        assert f in err[0], err[0]


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text(generated_text(500))
    return p


def test_patterns_lists_presets():
    r = run("patterns")
    assert r.exit_code == 0 and "o200k\t" in r.output and "gpt2\t" in r.output


def test_usage_errors_are_one_line(tmp_path):
    one_error_line(run("train", "x.txt"), "--vocab-size")
    one_error_line(run("frobnicate"), "No such command")
    one_error_line(run("count", str(tmp_path / "missing.txt"), "-o", tmp_path / "o"), "missing.txt")


def test_count_writes_counts_and_errors_leave_nothing(tmp_path, corpus):
    out = tmp_path / "c.counts"
    r = run("count", corpus, "-o", out, "-q")
    assert r.exit_code == 0, r.output and out.exists()
    one_error_line(run("count", corpus, "-o", tmp_path / "x", "-p", "o300k"), "unknown pattern")
    assert not (tmp_path / "x").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "a"}\n{"text": "\xff"}\n')
    one_error_line(run("count", bad, "-o", tmp_path / "y"), "bad.jsonl:2", "invalid UTF-8")
    assert not (tmp_path / "y").exists()


@needs_core
def test_train_encode_decode_info_convert(tmp_path, corpus):
    tok = tmp_path / "tok.json"
    r = run(
        "train",
        corpus,
        "--vocab-size",
        400,
        "-s",
        "<|eot|>",
        "-o",
        tok,
        "-q",
        "--counts-out",
        tmp_path / "c.counts",
    )
    assert r.exit_code == 0, r.output
    assert tok.exists() and (tmp_path / "c.counts").exists()

    text = "hello world\nnaïve café 東京\n"
    r = run("encode", "-t", tok, input=text)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert len(lines) == 2 and all(x.isdigit() for x in lines[0].split())
    r2 = run("decode", "-t", tok, input=r.output)
    assert r2.exit_code == 0 and r2.output == text
    r = run("encode", "-t", tok, "--count", input=text)
    assert r.exit_code == 0 and int(r.output) > 0

    one_error_line(run("encode", "-t", tok, input="a <|eot|> b\n"), "<|eot|>")
    r = run("encode", "-t", tok, "--allow-special", input="a <|eot|> b\n")
    assert r.exit_code == 0
    one_error_line(run("decode", "-t", tok, input="1 2 x\n"), "stdin:1", "'x'")
    one_error_line(run("decode", "-t", tok, input="99999\n"), "99999")

    r = run("info", tok)
    assert r.exit_code == 0 and "vocab size:     400" in r.output and "<|eot|>" in r.output

    tt = tmp_path / "tok.tiktoken"
    assert run("convert", tok, tt).exit_code == 0
    assert tt.exists() and (tmp_path / "tok.tiktoken.json").exists()
    back = tmp_path / "back.json"
    assert run("convert", tt, back).exit_code == 0
    a = run("encode", "-t", tok, input=text).output
    assert run("encode", "-t", back, input=text).output == a

    r = run(
        "train",
        "--counts",
        tmp_path / "c.counts",
        "--vocab-size",
        400,
        "-s",
        "<|eot|>",
        "-o",
        tmp_path / "again.tiktoken",
        "-q",
    )
    assert r.exit_code == 0, r.output
    assert run("encode", "-t", tmp_path / "again.tiktoken", input=text).output == a


@needs_core
def test_train_errors_leave_no_output(tmp_path, corpus):
    out = tmp_path / "t.json"
    one_error_line(run("train", corpus, "--vocab-size", 100, "-o", out, "-q"), "minimum is 256")
    one_error_line(
        run("train", corpus, "--vocab-size", 300, "-p", r"(\w", "-o", out, "-q"),
        "invalid pattern regex",
    )
    empty = tmp_path / "e.txt"
    empty.write_text("")
    one_error_line(run("train", empty, "--vocab-size", 300, "-o", out, "-q"), "empty corpus")
    bad = tmp_path / "b.json"
    bad.write_text('{"model": ')
    one_error_line(run("info", bad))
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "c.txt", "e.txt"]


@pytest.mark.skipif(
    not REAL_CORE or shutil.which("toksmith") is None,
    reason="console script not installed (pip install -e .)",
)
def test_console_script_subprocess(tmp_path):
    r = subprocess.run(
        ["toksmith", "info", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and "nope.json" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "toksmith", "patterns"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "o200k" in r.stdout
