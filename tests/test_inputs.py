"""Input readers: paths, globs, directories, JSON lines, Parquet, gzip, iterables, datasets,
UTF-8 policies and their error messages. Uses a recording counter, so no engine is needed."""

from __future__ import annotations

import gzip
import json

import pytest
from toksmith import inputs


class Recorder:
    """Records what the readers hand to the engine."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.files: list[str] = []
        self.bytes_seen = 0

    def add_texts(self, texts: list[str]) -> None:
        for t in texts:
            t.encode("utf-8")  # like PyO3: lone surrogates raise UnicodeEncodeError
        self.texts.extend(texts)
        self.bytes_seen += sum(len(t.encode()) for t in texts)

    def add_files(self, paths: list[str]) -> None:
        self.files.extend(paths)


def feed(inp, **kw) -> Recorder:
    rec = Recorder()
    inputs.feed(rec, inp, **kw)
    return rec


def test_txt_files_go_to_the_engine(tmp_path):
    (tmp_path / "a.txt").write_text("hello\n")
    (tmp_path / "b.txt").write_text("world\n")
    rec = feed(tmp_path / "a.txt")
    assert rec.files == [str(tmp_path / "a.txt")] and rec.texts == []
    rec = feed(str(tmp_path / "*.txt"))
    assert rec.files == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]


def test_directory_recursive_skips_hidden_and_unsupported(tmp_path):
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    (tmp_path / "sub" / "deep" / "x.txt").write_text("x\n")
    (tmp_path / "y.jsonl").write_text('{"text": "y"}\n')
    (tmp_path / ".hidden.txt").write_text("h\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    rec = feed(tmp_path)
    assert rec.files == [str(tmp_path / "sub" / "deep" / "x.txt")]
    assert rec.texts == ["y"]


def test_list_of_paths_vs_list_of_texts(tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    rec = feed([str(tmp_path / "a.txt")])
    assert rec.files == [str(tmp_path / "a.txt")]
    rec = feed(["hello world", "second text"])
    assert rec.texts == ["hello world", "second text"] and rec.files == []


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or directory: .*nope.txt"):
        feed(str(tmp_path / "nope.txt"))
    with pytest.raises(FileNotFoundError, match="matched no files"):
        feed(str(tmp_path / "*.jsonl"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        feed([str(tmp_path / "missing.jsonl")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no supported files"):
        feed(tmp_path / "empty")


def test_jsonl_field_and_errors(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "one"}\n\n{"text": "two", "id": 2}\n{"content": "x"}\n')
    with pytest.raises(ValueError, match=r"d\.jsonl:4: missing field 'text'"):
        feed(p)
    p.write_text('{"body": "one"}\n{"body": null}\n')
    assert feed(p, field="body").texts == ["one"]
    p.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(ValueError, match=r"d\.jsonl:2: invalid JSON"):
        feed(p)
    p.write_text('{"text": 5}\n')
    with pytest.raises(ValueError, match=r"d\.jsonl:1: field 'text' is int"):
        feed(p)
    p.write_text('[{"text": "a"},\n{"text": "b"}]\n')
    with pytest.raises(ValueError, match="JSON array"):
        feed(p)


def test_jsonl_lone_surrogate_escape_is_repaired(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"text": "a\\ud800b"}\n')
    assert feed(p).texts == ["a\ufffdb"]


def test_invalid_utf8_policies_name_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"text": "fine"}\n{"text": "bad \xff here"}\n{"text": "after"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: invalid UTF-8"):
        feed(p)
    assert feed(p, utf8_errors="skip").texts == ["fine", "after"]
    assert feed(p, utf8_errors="replace").texts == ["fine", "bad \ufffd here", "after"]
    with pytest.raises(ValueError, match="utf8_errors must be one of"):
        feed(p, utf8_errors="ignore")


def test_gzip_text_and_jsonl(tmp_path):
    with gzip.open(tmp_path / "a.txt.gz", "wb") as f:
        f.write(b"line one\n\nline three\n")
    with gzip.open(tmp_path / "b.jsonl.gz", "wb") as f:
        f.write(b'{"text": "j1"}\n{"text": "j2"}\n')
    rec = feed(tmp_path / "a.txt.gz")
    assert "".join(rec.texts) == "line one\n\nline three\n" and rec.files == []
    assert feed(tmp_path / "b.jsonl.gz").texts == ["j1", "j2"]
    with gzip.open(tmp_path / "c.txt.gz", "wb") as f:
        f.write(b"ok\nbad\xfe\n")
    with pytest.raises(ValueError, match=r"c\.txt\.gz:2: invalid UTF-8"):
        feed(tmp_path / "c.txt.gz")


def test_iterables_of_str_and_bytes():
    def gen():
        yield "alpha"
        yield b"beta"
        yield b"\xffbad"

    with pytest.raises(ValueError, match="input item 2: invalid UTF-8"):
        feed(gen())
    assert feed(gen(), utf8_errors="skip").texts == ["alpha", "beta"]
    with pytest.raises(TypeError, match="input item 0 is int"):
        feed(iter([1, 2]))


def test_batching_bounds_batch_size(monkeypatch):
    monkeypatch.setattr(inputs, "BATCH_BYTES", 100)
    calls = []

    class C(Recorder):
        def add_texts(self, texts):
            calls.append(len(texts))
            super().add_texts(texts)

    rec = C()
    inputs.feed(rec, (f"text number {i}" for i in range(100)))
    assert len(rec.texts) == 100 and len(calls) > 5 and max(calls) <= 10


def test_parquet_column(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"text": ["p1", None, "p2"], "n": [1, 2, 3]})
    pq.write_table(table, tmp_path / "d.parquet")
    assert feed(tmp_path / "d.parquet").texts == ["p1", "p2"]
    with pytest.raises(ValueError, match=r"d\.parquet: no column 'body' \(columns: text, n\)"):
        feed(tmp_path / "d.parquet", field="body")


def test_hf_datasets():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"text": ["d1", "d2", None], "x": [1, 2, 3]})
    assert feed(ds).texts == ["d1", "d2"]
    with pytest.raises(ValueError, match="no column 'body'"):
        feed(ds, field="body")
    ids = ds.to_iterable_dataset()
    assert feed(ids).texts == ["d1", "d2"]
    with pytest.raises(ValueError, match="pass one split"):
        feed(datasets.DatasetDict({"train": ds}))


def test_dict_items_use_field():
    assert feed([{"text": "a"}, {"text": "b"}]).texts == ["a", "b"]
    with pytest.raises(ValueError, match="input item 1: missing field 'text'"):
        feed([{"text": "a"}, {"t": "b"}])


def test_json_suffix_is_json_lines(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"text": "hi"}) + "\n")
    assert feed(p).texts == ["hi"]
