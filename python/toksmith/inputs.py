"""Streaming training inputs into an engine `Counter`.

Inputs never sit in memory as a whole: files are read line by line (or by record batch for
Parquet) and texts are handed to the engine in batches of about `BATCH_BYTES`.

What `inputs` may be:

* a path (``str`` or ``os.PathLike``): a file, a directory (searched recursively for supported
  files, hidden files skipped) or a glob (``data/*.jsonl``);
* a list/tuple of paths. A list of ``str`` counts as paths when every item looks like one (a single
  line under 4096 characters that exists, has glob characters, or ends in a supported
  extension); otherwise it is a list of texts;
* any other iterable of ``str``/``bytes`` texts (generators, lists of texts);
* a HF ``datasets.Dataset`` / ``IterableDataset`` (column `field`).

File kinds by extension: ``.txt`` and unknown extensions are plain UTF-8 text (read by the engine,
in parallel); ``.jsonl``/``.json`` are JSON lines with the text in `field`; ``.parquet`` column
`field`; a trailing ``.gz`` is decompressed (``x.txt.gz``, ``x.jsonl.gz``).

Invalid UTF-8 (`utf8_errors`): ``strict`` raises a ValueError naming file and line, ``replace``
substitutes U+FFFD, ``skip`` drops the offending line (or item).
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .tokenizer import fix_surrogates

#: Target size of one batch of texts handed to the engine.
BATCH_BYTES = 2 << 20
#: Plain-text files are handed to the engine in groups of about this many bytes.
FILE_GROUP_BYTES = 64 << 20

TEXT_EXTS = {".txt", ".text"}
JSON_EXTS = {".jsonl", ".json", ".ndjson"}
PARQUET_EXTS = {".parquet"}
SUPPORTED_EXTS = TEXT_EXTS | JSON_EXTS | PARQUET_EXTS
UTF8_POLICIES = ("strict", "replace", "skip")
_GLOB_CHARS = set("*?[")


class CounterLike(Protocol):
    def add_texts(self, texts: list[str]) -> None: ...
    def add_files(self, paths: list[str]) -> None: ...
    @property
    def bytes_seen(self) -> int: ...


@dataclass
class Source:
    """One file to read: its path and kind (text, jsonl, parquet) and compression."""

    path: Path
    kind: str
    gzipped: bool

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0


# --------------------------------------------------------------------------- path expansion
def _kind(path: Path) -> tuple[str, bool]:
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    ext = suffixes[-2] if gz and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    if gz and ext not in SUPPORTED_EXTS:
        ext = ""
    if ext in JSON_EXTS:
        return "jsonl", gz
    if ext in PARQUET_EXTS:
        if gz:
            raise ValueError(f"{path}: gzip-compressed Parquet is not supported")
        return "parquet", False
    return "text", gz


def _supported_in_dir(path: Path) -> bool:
    if any(part.startswith(".") for part in path.parts[-1:]):
        return False
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in SUPPORTED_EXTS


def expand_path(path: str | os.PathLike[str]) -> list[Source]:
    """The files a path argument names (file, directory recursively, or glob), sorted."""
    text = os.fspath(path)
    p = Path(text).expanduser()
    if p.is_file():
        files = [p]
    elif p.is_dir():
        files = sorted(
            f for f in p.rglob("*") if f.is_file() and _supported_in_dir(f.relative_to(p))
        )
        if not files:
            raise FileNotFoundError(
                f"directory {text} holds no supported files "
                f"({', '.join(sorted(SUPPORTED_EXTS))}, optionally .gz)"
            )
    elif any(c in text for c in _GLOB_CHARS):
        files = sorted(Path(f) for f in glob.glob(str(p), recursive=True) if Path(f).is_file())
        if not files:
            raise FileNotFoundError(f"glob {text!r} matched no files")
    else:
        raise FileNotFoundError(f"no such file or directory: {text}")
    out = []
    for f in files:
        kind, gz = _kind(f)
        out.append(Source(f, kind, gz))
    return out


def _looks_like_path(item: Any) -> bool:
    if isinstance(item, os.PathLike):
        return True
    if not isinstance(item, str) or not item or len(item) >= 4096 or "\n" in item:
        return False
    if any(c in item for c in _GLOB_CHARS) or os.path.exists(item):
        return True
    p = Path(item)
    return _supported_in_dir(Path(p.name))


def is_hf_dataset(obj: Any) -> bool:
    mod = type(obj).__module__ or ""
    return mod.startswith("datasets") and type(obj).__name__ in (
        "Dataset",
        "IterableDataset",
    )


def classify(inputs: Any) -> tuple[list[Source], Any]:
    """Split `inputs` into file sources and (at most) one text iterable / dataset."""
    if isinstance(inputs, (str, os.PathLike)):
        return expand_path(inputs), None
    if isinstance(inputs, (bytes, bytearray)):
        return [], [bytes(inputs)]
    if type(inputs).__name__ in ("DatasetDict", "IterableDatasetDict"):
        raise ValueError(
            f"got a {type(inputs).__name__} with splits {list(inputs)}; pass one split, "
            "e.g. ds['train']"
        )
    if is_hf_dataset(inputs):
        return [], inputs
    if isinstance(inputs, (list, tuple)) and inputs and all(_looks_like_path(i) for i in inputs):
        sources: list[Source] = []
        for item in inputs:
            sources.extend(expand_path(item))
        return sources, None
    if isinstance(inputs, Iterable):
        return [], inputs
    raise TypeError(
        f"unsupported training input of type {type(inputs).__name__}: give paths, an "
        "iterable of str/bytes, or a datasets.Dataset"
    )


# --------------------------------------------------------------------------- decoding
def decode_line(raw: bytes, where: Callable[[], str], utf8_errors: str) -> str | None:
    """Decode one line with the policy; None means skip it."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        if utf8_errors == "replace":
            return raw.decode("utf-8", errors="replace")
        if utf8_errors == "skip":
            return None
        raise ValueError(
            f"{where()}: invalid UTF-8 at byte {e.start} of the line "
            "(use utf8_errors='replace' or 'skip')"
        ) from None


def _open_binary(src: Source) -> io.BufferedIOBase:
    if src.gzipped:
        return gzip.open(src.path, "rb")  # type: ignore[return-value]
    return open(src.path, "rb")


def iter_text_lines(src: Source, utf8_errors: str, chunk: int = 1 << 20) -> Iterator[str]:
    """Chunks of whole lines (about `chunk` bytes, newlines kept) of a (gzipped) text file,
    decoded with the policy. Lines are joined so that pre-tokens spanning a line break (blank
    lines) are counted as in one text."""
    parts: list[str] = []
    size = 0
    with _open_binary(src) as f:
        for lineno, raw in enumerate(f, 1):
            text = decode_line(raw, lambda n=lineno: f"{src.path}:{n}", utf8_errors)
            if text is None:
                continue
            parts.append(text)
            size += len(raw)
            if size >= chunk:
                yield "".join(parts)
                parts, size = [], 0
    if parts:
        yield "".join(parts)


def iter_jsonl(src: Source, field: str, utf8_errors: str) -> Iterator[str]:
    """The `field` strings of a JSON-lines file; errors name file, line and field."""
    with _open_binary(src) as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            where = f"{src.path}:{lineno}"
            line = decode_line(raw, lambda w=where: w, utf8_errors)
            if line is None:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                if lineno == 1 and line.lstrip().startswith("["):
                    raise ValueError(
                        f"{where}: a JSON array, not JSON lines (one object per line)"
                    ) from None
                raise ValueError(f"{where}: invalid JSON: {e.msg} (column {e.colno})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
            if field not in record:
                keys = ", ".join(list(record)[:8])
                raise ValueError(f"{where}: missing field {field!r} (fields: {keys})")
            value = record[field]
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(
                    f"{where}: field {field!r} is {type(value).__name__}, expected a string"
                )
            yield value


def iter_parquet(src: Source, field: str) -> Iterator[str]:
    """The `field` column of a Parquet file, one record batch at a time."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(
            f"{src.path}: reading Parquet needs pyarrow (pip install 'toksmith[data]')"
        ) from None
    pf = pq.ParquetFile(src.path)
    names = pf.schema_arrow.names
    if field not in names:
        raise ValueError(f"{src.path}: no column {field!r} (columns: {', '.join(names)})")
    for batch in pf.iter_batches(columns=[field], batch_size=4096):
        for value in batch.column(0).to_pylist():
            if value is None:
                continue
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            if not isinstance(value, str):
                raise ValueError(
                    f"{src.path}: column {field!r} holds {type(value).__name__}, expected strings"
                )
            yield value


def iter_items(items: Iterable[Any], field: str, utf8_errors: str) -> Iterator[str]:
    """Texts of an iterable of str/bytes, or of a HF dataset's `field` column."""
    if is_hf_dataset(items):
        yield from _iter_dataset(items, field)
        return
    for n, item in enumerate(items):
        if isinstance(item, str):
            yield item
        elif isinstance(item, (bytes, bytearray, memoryview)):
            text = decode_line(bytes(item), lambda n=n: f"input item {n}", utf8_errors)
            if text is not None:
                yield text
        elif isinstance(item, dict):
            if field not in item:
                raise ValueError(f"input item {n}: missing field {field!r}")
            if item[field] is not None:
                yield str(item[field])
        else:
            raise TypeError(
                f"input item {n} is {type(item).__name__}; expected str, bytes or a dict"
            )


def _iter_dataset(ds: Any, field: str) -> Iterator[str]:
    names = getattr(ds, "column_names", None)
    if names is not None and field not in names:
        raise ValueError(f"dataset has no column {field!r} (columns: {', '.join(names)})")
    if hasattr(ds, "iter"):
        for batch in ds.iter(batch_size=1000):
            if field not in batch:
                raise ValueError(f"dataset has no column {field!r} (columns: {list(batch)})")
            for value in batch[field]:
                if value is not None:
                    yield value
    else:
        for row in ds:
            if field not in row:
                raise ValueError(f"dataset row has no column {field!r}")
            if row[field] is not None:
                yield row[field]


# --------------------------------------------------------------------------- feeding
class _Batcher:
    """Accumulates texts and hands them to the counter in ~BATCH_BYTES batches."""

    def __init__(self, counter: CounterLike, on_progress: Callable[[], None]) -> None:
        self.counter = counter
        self.on_progress = on_progress
        self.texts: list[str] = []
        self.size = 0

    def add(self, text: str) -> None:
        self.texts.append(text)
        self.size += len(text)
        if self.size >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.texts:
            return
        texts, self.texts, self.size = self.texts, [], 0
        try:
            self.counter.add_texts(texts)
        except UnicodeEncodeError:
            # Lone surrogates (e.g. from JSON "\ud800" escapes): tiktoken's repair.
            self.counter.add_texts([_fix(t) for t in texts])
        self.on_progress()


def _fix(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return fix_surrogates(text)


def total_bytes(sources: list[Source]) -> int | None:
    """Sum of the input files' sizes (compressed size for .gz), or None with no files."""
    return sum(s.size for s in sources) if sources else None


def feed(
    counter: CounterLike,
    inputs: Any,
    field: str = "text",
    utf8_errors: str = "strict",
    on_progress: Callable[[], None] = lambda: None,
    sources: list[Source] | None = None,
    items: Any = None,
) -> None:
    """Stream every input into `counter`. `on_progress` is called after each batch."""
    if utf8_errors not in UTF8_POLICIES:
        raise ValueError(
            f"utf8_errors must be one of {', '.join(UTF8_POLICIES)}, got {utf8_errors!r}"
        )
    if sources is None and items is None:
        sources, items = classify(inputs)
    sources = sources or []
    batcher = _Batcher(counter, on_progress)
    group: list[str] = []
    group_size = 0
    for src in sources:
        if src.kind == "text" and not src.gzipped:
            group.append(str(src.path))
            group_size += src.size
            if group_size >= FILE_GROUP_BYTES:
                counter.add_files(group)
                on_progress()
                group, group_size = [], 0
            continue
        if src.kind == "text":
            texts: Iterable[str] = iter_text_lines(src, utf8_errors)
        elif src.kind == "jsonl":
            texts = iter_jsonl(src, field, utf8_errors)
        else:
            texts = iter_parquet(src, field)
        for text in texts:
            batcher.add(text)
    if group:
        counter.add_files(group)
        on_progress()
    if items is not None:
        for text in iter_items(items, field, utf8_errors):
            batcher.add(text)
    batcher.flush()
