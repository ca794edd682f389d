"""One benchmark measurement in a fresh process: `python benches/worker.py SPEC_JSON`.

The spec names a tool (toksmith, tiktoken, hf, bpe_openai, wordchipper, rustbpe, sentencepiece)
and a task (train, encode, patho). The worker loads the tool (untimed), times each requested phase
with wall clock and this process's user+sys CPU, and writes a JSON result to `spec["result"]`.
The orchestrator adds the process's peak RSS from `wait4`.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

Timing = dict[str, float]


def timed(fn: Callable[[], Any]) -> tuple[Any, Timing]:
    """Run `fn`, returning its value and {wall_s, cpu_s} (CPU = user+sys of all threads).

    A full collection first, so that a phase does not pay for the young objects (millions of ids
    in lists) that the phase before it left to Python's collector.
    """
    gc.collect()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    value = fn()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return value, {"wall_s": wall, "cpu_s": cpu}


# ---------------------------------------------------------------------------------------------
# Encoders: each exposes single(text) -> ids, batch(texts) -> ids lists, decode(ids) -> bytes.
# ---------------------------------------------------------------------------------------------


class Encoder:
    version = ""
    note = ""

    def single(self, text: str) -> list[int]:
        raise NotImplementedError

    def batch(self, texts: list[str]) -> list[list[int]]:
        raise NotImplementedError

    def decode(self, ids: list[int]) -> bytes:
        raise NotImplementedError


class TiktokenEncoder(Encoder):
    def __init__(self, path: Path, pattern: str, name: str) -> None:
        import tiktoken

        self.version = tiktoken.__version__
        self.enc = tiktoken.Encoding(
            f"bench-{name}",
            pat_str=pattern,
            mergeable_ranks=common.load_ranks(path),
            special_tokens={},
        )

    def single(self, text: str) -> list[int]:
        return self.enc.encode_ordinary(text)

    def batch(self, texts: list[str]) -> list[list[int]]:
        return self.enc.encode_ordinary_batch(texts, num_threads=2)

    def decode(self, ids: list[int]) -> bytes:
        return self.enc.decode_bytes(ids)


class ToksmithEncoder(Encoder):
    def __init__(self, path: Path, pattern: str, name: str) -> None:
        import toksmith

        self.version = getattr(toksmith, "__version__", "?")
        self.tok = toksmith.Tokenizer.from_tiktoken(str(path), pattern=pattern, special_tokens={})

    def single(self, text: str) -> list[int]:
        return self.tok.encode_ordinary(text)

    def batch(self, texts: list[str]) -> list[list[int]]:
        return self.tok.encode_ordinary_batch(texts)

    def decode(self, ids: list[int]) -> bytes:
        return self.tok.decode_bytes(ids)


def hf_json_for(path: Path, pattern: str, name: str) -> tuple[Path, str]:
    """A HF tokenizer.json equivalent to the rank file, built once and cached.

    Uses toksmith's writer when toksmith imports, else transformers' TikTokenConverter.
    """
    key = common.sha256_file(path)[:16]
    out = common.BENCH_CACHE / "hf" / f"{name}-{key}.json"
    how_file = out.with_suffix(".how")
    if out.is_file() and how_file.is_file():
        return out, how_file.read_text()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    try:
        import toksmith

        toksmith.Tokenizer.from_tiktoken(
            str(path), pattern=pattern, special_tokens={}
        ).save_hf_json(str(tmp))
        how = "toksmith save_hf_json"
    except Exception:  # toksmith not built yet (or writer missing): fall back to transformers
        from transformers.convert_slow_tokenizer import TikTokenConverter

        TikTokenConverter(vocab_file=str(path), pattern=pattern).converted().save(str(tmp))
        how = "transformers TikTokenConverter"
    tmp.replace(out)
    how_file.write_text(how)
    return out, how


class HfEncoder(Encoder):
    def __init__(self, path: Path, pattern: str, name: str) -> None:
        import tokenizers

        self.version = tokenizers.__version__
        json_path, how = hf_json_for(path, pattern, name)
        self.note = f"tokenizer.json via {how}; batch = encode_batch_fast, RAYON_NUM_THREADS=2"
        self.tok = tokenizers.Tokenizer.from_file(str(json_path))
        self._batch = getattr(self.tok, "encode_batch_fast", self.tok.encode_batch)

    def single(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> bytes:
        return self.tok.decode(ids, skip_special_tokens=False).encode("utf-8")


class BpeOpenaiEncoder(Encoder):
    def __init__(self, path: Path, pattern: str, name: str) -> None:
        import bpe_openai

        self.version = bpe_openai.__version__
        self.note = (
            "bundled rank file; single = Rust backend encode (the wrapper refuses >=1M chars)"
        )
        self.enc = bpe_openai.get_encoding(common.BPE_OPENAI_STEMS[name])

    def single(self, text: str) -> list[int]:
        return list(self.enc._backend.encode(text))

    def batch(self, texts: list[str]) -> list[list[int]]:
        return self.enc.encode_ordinary_batch(texts, num_threads=2)

    def decode(self, ids: list[int]) -> bytes:
        return self.enc.decode_bytes(ids)


class WordchipperEncoder(Encoder):
    def __init__(self, path: Path, pattern: str, name: str) -> None:
        import importlib.metadata

        import wordchipper

        self.version = importlib.metadata.version("wordchipper")
        stem = common.BPE_OPENAI_STEMS[name]
        # wordchipper downloads its vocab on first use (no network here): seed its cache instead.
        cached = (
            Path.home() / ".cache" / "io.crates.wordchipper" / "openai" / stem / f"{stem}.tiktoken"
        )
        if not cached.is_file() or cached.stat().st_size != path.stat().st_size:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(path.read_bytes())
        self.note = (
            "from_pretrained with its cache seeded from the rank file; batch RAYON_NUM_THREADS=2"
        )
        single_opts = wordchipper.TokenizerOptions.default()
        single_opts.set_parallel(False)
        batch_opts = wordchipper.TokenizerOptions.default()
        batch_opts.set_parallel(True)
        self.tok1 = wordchipper.Tokenizer.from_pretrained(stem, single_opts)
        self.tokn = wordchipper.Tokenizer.from_pretrained(stem, batch_opts)

    def single(self, text: str) -> list[int]:
        return self.tok1.encode(text)

    def batch(self, texts: list[str]) -> list[list[int]]:
        return self.tokn.encode_batch(texts)

    def decode(self, ids: list[int]) -> bytes:
        return self.tok1.decode_bytes(ids)


ENCODERS: dict[str, type[Encoder]] = {
    "toksmith": ToksmithEncoder,
    "tiktoken": TiktokenEncoder,
    "hf": HfEncoder,
    "bpe_openai": BpeOpenaiEncoder,
    "wordchipper": WordchipperEncoder,
}


def run_encode(spec: dict[str, Any]) -> dict[str, Any]:
    """Phases `single`, `batch`, `decode` over the corpus documents."""
    path, pattern, _ = common.rank_file(spec["rank"])
    enc, load = timed(lambda: ENCODERS[spec["tool"]](path, pattern, spec["rank"]))
    docs = common.read_docs([Path(f) for f in spec["files"]])
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    res: dict[str, Any] = {"version": enc.version, "note": enc.note, "load": load}
    res.update(bytes=nbytes, docs=len(docs))
    modes = spec["modes"]
    ids: list[list[int]] | None = None
    if "single" in modes:
        ids, res["single"] = timed(lambda: [enc.single(d) for d in docs])
    if "batch" in modes:
        bids, res["batch"] = timed(lambda: enc.batch(docs))
        if ids is None:
            ids = bids
        res["batch_equals_single"] = sum(a == b for a, b in zip(ids, bids))
    if ids is None:
        ids = [enc.single(d) for d in docs]
    res["tokens"] = sum(len(x) for x in ids)
    res["digests"] = [common.ids_digest(x) for x in ids]
    if "decode" in modes:
        out, res["decode"] = timed(lambda: [enc.decode(x) for x in ids])
        res["decode_roundtrip"] = sum(o == d.encode("utf-8") for o, d in zip(out, docs))
    return res


# Calls after the first one in a pathological run; their median is the "warm" phase.
WARM_CALLS = 3


def run_patho(spec: dict[str, Any]) -> dict[str, Any]:
    """Encode one pathological input: the first call in the process (`single`: cold caches,
    fresh pages), then the median of WARM_CALLS more calls on copies of the text (`warm`)."""
    path, pattern, _ = common.rank_file(spec["rank"])
    enc = ENCODERS[spec["tool"]](path, pattern, spec["rank"])
    text = common.pathological(spec["input"], spec["size"])
    ids, t = timed(lambda: enc.single(text))
    warm = []
    for k in range(WARM_CALLS):
        # A new str object each time, so no tool reuses a cached UTF-8 form of the text.
        again = (text + str(k))[:-1]
        _, w = timed(lambda copy=again: enc.single(copy))
        warm.append(w)
    return {
        "version": enc.version,
        "single": t,
        "warm": {key: statistics.median(w[key] for w in warm) for key in ("wall_s", "cpu_s")},
        "bytes": len(text.encode("utf-8")),
        "tokens": len(ids),
        "digest": common.ids_digest(ids),
    }


# ---------------------------------------------------------------------------------------------
# Trainers: each writes its result under spec["out"] and returns a description.
# ---------------------------------------------------------------------------------------------


def train_toksmith(files: list[str], vocab: int, out: Path) -> dict[str, Any]:
    import toksmith

    tok, t = timed(
        lambda: toksmith.train(
            files, vocab_size=vocab, pattern="o200k", special_tokens=[], progress=False
        )
    )
    tok.save(str(out / "tokenizer.json"))
    return {
        "version": getattr(toksmith, "__version__", "?"),
        "train": t,
        "artifact": str(out / "tokenizer.json"),
    }


def train_hf(files: list[str], vocab: int, out: Path) -> dict[str, Any]:
    import tokenizers
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(common.O200K), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    _, t = timed(lambda: tok.train_from_iterator(_safe_chunks(files), trainer))
    tok.save(str(out / "tokenizer.json"))
    return {
        "version": tokenizers.__version__,
        "train": t,
        "artifact": str(out / "tokenizer.json"),
        "note": "train_from_iterator over ~1 MiB chunks cut where no pre-token can span "
        "(the same text toksmith counts), RAYON_NUM_THREADS=2",
    }


def _safe_chunks(files: list[str], size: int = 1 << 20) -> Iterator[str]:
    """The files' text in ~`size` chunks, each cut after a newline that an ASCII letter or digit
    follows: no preset pre-token spans such a cut, so counting chunks equals counting the whole
    file (HF's `train(files)` would instead feed single lines, splitting runs of newlines)."""
    import re

    cut = re.compile(r"\n(?=[A-Za-z0-9])")
    for f in files:
        with open(f, encoding="utf-8", errors="replace", newline="") as fh:
            rest = ""
            while block := fh.read(size):
                text = rest + block
                end = max((m.end() for m in cut.finditer(text)), default=0)
                if end == 0:
                    rest = text
                    continue
                yield text[:end]
                rest = text[end:]
            if rest:
                yield rest


def train_rustbpe(files: list[str], vocab: int, out: Path) -> dict[str, Any]:
    import importlib.metadata

    import rustbpe

    def lines():
        for f in files:
            with open(f, encoding="utf-8", errors="replace", newline="") as fh:
                yield from fh

    tok = rustbpe.Tokenizer()
    _, t = timed(lambda: tok.train_from_iterator(lines(), vocab, pattern=common.O200K))
    ranks = tok.get_mergeable_ranks()
    pairs = sorted((r, b) for b, r in (ranks.items() if isinstance(ranks, dict) else ranks))
    dump = out / "ranks.txt"
    dump.write_text("".join(f"{bytes(b).hex()} {r}\n" for r, b in pairs))
    return {
        "version": importlib.metadata.version("rustbpe"),
        "train": t,
        "artifact": str(dump),
        "note": "train_from_iterator over the files' lines",
    }


def train_sentencepiece(files: list[str], vocab: int, out: Path) -> dict[str, Any]:
    import sentencepiece as spm

    _, t = timed(
        lambda: spm.SentencePieceTrainer.train(
            input=",".join(files),
            model_prefix=str(out / "sp"),
            model_type="bpe",
            vocab_size=vocab,
            byte_fallback=True,
            character_coverage=0.9995,
            input_sentence_size=2_000_000,
            shuffle_input_sentence=True,
            max_sentence_length=16384,
            num_threads=2,
            minloglevel=2,
        )
    )
    return {
        "version": spm.__version__,
        "train": t,
        "artifact": str(out / "sp.model"),
        "note": "model_type=bpe, byte_fallback, input_sentence_size=2M; not the same algorithm",
    }


TRAINERS: dict[str, Callable[[list[str], int, Path], dict[str, Any]]] = {
    "toksmith": train_toksmith,
    "hf": train_hf,
    "rustbpe": train_rustbpe,
    "sentencepiece": train_sentencepiece,
}


def run_train(spec: dict[str, Any]) -> dict[str, Any]:
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    res = TRAINERS[spec["tool"]](spec["files"], spec["vocab_size"], out)
    res["bytes"] = sum(os.path.getsize(f) for f in spec["files"])
    return res


def peak_rss_mib() -> float | None:
    """This process's RSS high-water mark (VmHWM). Unlike the parent's `wait4` ru_maxrss it does
    not inherit the forking parent's RSS."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


TASKS = {"encode": run_encode, "patho": run_patho, "train": run_train}


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        res = {"ok": True, **TASKS[spec["task"]](spec)}
    except ImportError as e:
        res = {"ok": False, "status": "unavailable", "error": f"import failed: {e}"}
    except BaseException as e:  # reported (incl. pyo3 PanicException): one tool's failure is data
        res = {
            "ok": False,
            "status": "error",
            "error": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc(limit=4),
        }
    res["vm_hwm_mib"] = peak_rss_mib()
    Path(spec["result"]).write_text(json.dumps(res))


if __name__ == "__main__":
    main()
