"""Parity with the reference implementations on real text:

* ids identical to tiktoken for the five reference vocabularies (gpt2, cl100k, o200k, llama3,
  qwen2), built from the same rank files, with specials allowed and disallowed;
* merges (as byte pairs) and ids identical to HF `tokenizers`' BpeTrainer;
* tokenizer.json round trips through HF `tokenizers` and `transformers`.

Corpus-backed tests skip (with the reason) when the corpora cache is absent.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from conftest import corpora_module, generated_text, needs_core, training_text

pytestmark = needs_core

REFERENCES = ["gpt2", "cl100k", "o200k", "llama3", "qwen2"]


def _corpora():
    mod = corpora_module()
    if mod is None:
        pytest.skip("toksmith.corpora is not available")
    return mod


def _texts_of(path: Path, limit: int) -> list[str]:
    out: list[str] = []
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    for f in files:
        if f.suffix in (".jsonl", ".json"):
            with open(f, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        out.append(json.loads(line)["text"])
                    if len(out) >= limit:
                        return out
        else:
            docs = f.read_text("utf-8", errors="replace").split("\n\n")
            out.extend(d + "\n\n" for d in docs[: limit - len(out)])
        if len(out) >= limit:
            break
    return out


@cache
def corpus_docs(
    limit: int = 1_000_000, splits: tuple[str, ...] = ("test", "train")
) -> tuple[str, ...]:
    """Documents (multilingual prose and code) from the corpora cache: every corpus's first
    available split of `splits`, up to `limit` documents in all."""
    corpora = _corpora()
    docs: list[str] = []
    try:
        names = list(corpora.corpus_names())
    except Exception as e:  # noqa: BLE001 - report why in the skip
        pytest.skip(f"corpora unavailable: {e}")
    for name in names:
        path = None
        for split, tier in [(sp, "small") for sp in splits] + [(splits[0], None)]:
            try:
                path = corpora.corpus(name, split, tier) if tier else corpora.corpus(name, split)
                break
            except Exception:  # noqa: BLE001
                continue
        if path is not None and Path(path).exists():
            docs.extend(_texts_of(Path(path), limit // max(1, len(names)) + 1))
    if not docs:
        pytest.skip(f"corpora cache empty ({corpora.cache_dir()}); run python corpora/build.py")
    return tuple(docs)


def reference(name: str):
    """(our Tokenizer, tiktoken.Encoding) built from the same rank file and sidecar."""
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe
    from toksmith import Tokenizer

    corpora = _corpora()
    try:
        rank_path, side = corpora.reference_tokenizer(name)
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"reference tokenizer {name} unavailable: {e}")
    pattern = side.get("pattern") or side.get("pat_str")
    specials = dict(side.get("special_tokens", {}))
    enc = tiktoken.Encoding(
        name,
        pat_str=pattern,
        mergeable_ranks=load_tiktoken_bpe(str(rank_path)),
        special_tokens=specials,
    )
    ours = Tokenizer.from_tiktoken(rank_path, pattern=pattern, special_tokens=specials)
    return ours, enc


@pytest.mark.parametrize("name", REFERENCES)
def test_tiktoken_parity(name):
    ours, enc = reference(name)
    docs = list(corpus_docs())
    assert ours.vocab_size == enc.n_vocab
    mismatched = [
        i for i, d in enumerate(docs) if ours.encode_ordinary(d) != enc.encode_ordinary(d)
    ]
    n_tokens = sum(len(enc.encode_ordinary(d)) for d in docs)
    n_bytes = sum(len(d.encode()) for d in docs)
    print(
        f"tiktoken parity {name}: {len(docs) - len(mismatched)}/{len(docs)} documents identical, "
        f"{n_bytes} bytes, {n_tokens} tokens"
    )
    assert not mismatched, f"{name}: {len(mismatched)}/{len(docs)} documents differ"
    assert n_tokens > 0
    batch = ours.encode_ordinary_batch(docs[:50])
    assert batch == [enc.encode_ordinary(d) for d in docs[:50]]


# Long pieces (over 128 bytes, no punctuation) take the chunked and run paths of the encoder;
# the first is the piece where a chunk cut was once wrongly kept (from a Debian catalog).
LONG_PIECES = [
    "このため、HTTPサーバーがディレクトリ内のファイルリストを表示しないよう設定しておく必要があります。",
    "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000)),
    "".join(chr(0x3041 + (i * 31) % 86) for i in range(3000)),
    "".join(chr(0x0E01 + (i * 13) % 46) for i in range(3000)),
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 200,
    "a" * 5000 + "b" * 3000 + " " * 4000 + "=" * 777,
]


@pytest.mark.parametrize("name", REFERENCES)
def test_tiktoken_parity_long_pieces(name):
    ours, enc = reference(name)
    for text in LONG_PIECES:
        assert ours.encode_ordinary(text) == enc.encode_ordinary(text), text[:40]


def _long_text() -> str:
    """~1.6 MB: real documents, then long runs of random letters, one CJK piece of 400 KB,
    digits and base64, so that encoding cuts it into parts for both cores (texts and pieces of
    256 KiB or more) and joins them at cuts inside every kind of run."""
    import base64
    import random

    rng = random.Random(5)
    real = "\n\n".join(corpus_docs())[:600_000]
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    letters = "".join(rng.choices(alphabet, k=300_000))
    cjk = "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(140_000))
    digits = "".join(rng.choices("0123456789", k=200_000))
    blob = base64.b64encode(rng.randbytes(150_000)).decode()
    return real + letters + " " + cjk + "\n" + digits + " " + blob


@pytest.mark.parametrize("name", REFERENCES)
def test_tiktoken_parity_long_text_in_parts(name):
    ours, enc = reference(name)
    text = _long_text()
    want = enc.encode_ordinary(text)
    assert ours.encode_ordinary(text) == want
    assert ours.decode(want) == text
    # One cut lands in every run kind in turn: start the text at different offsets.
    for skip in (1, 77_777, 333_333):
        assert ours.encode_ordinary(text[skip:]) == enc.encode_ordinary(text[skip:]), skip


@pytest.mark.parametrize("name", REFERENCES)
def test_tiktoken_special_policy_parity(name):
    ours, enc = reference(name)
    specials = sorted(enc.special_tokens_set)
    if not specials:
        pytest.skip(f"{name} has no special tokens")
    sp = specials[0]
    text = f"Hello{sp} world {sp}\n¿qué tal?"
    assert ours.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    assert ours.encode(text, allowed_special={sp}) == enc.encode(text, allowed_special={sp})
    assert ours.encode(text, disallowed_special=()) == enc.encode(text, disallowed_special=())
    with pytest.raises(ValueError):
        enc.encode(text)
    with pytest.raises(ValueError):
        ours.encode(text)
    lone = "a\ud800b 😀 \udfff"
    assert ours.encode(lone) == enc.encode(lone)
    for i in range(0, ours.vocab_size, max(1, ours.vocab_size // 500)):
        if i in enc._special_tokens.values():
            continue
        try:
            want = enc.decode_single_token_bytes(i)
        except KeyError:
            assert ours.id_to_token(i) is None
            continue
        assert ours.decode_single_token_bytes(i) == want


# ----------------------------------------------------------------------------- HF parity
def _bytelevel_decoder() -> dict[str, int]:
    """GPT-2's byte -> printable char table, inverted."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


BYTE_OF = _bytelevel_decoder()


def hf_bytes(token: str) -> bytes:
    return bytes(BYTE_OF[c] for c in token)


def hf_train(texts: list[str], pattern: str, vocab_size: int, specials: list[str]):
    tk = pytest.importorskip("tokenizers")
    from tokenizers import Regex, models, pre_tokenizers, trainers

    tok = tk.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = __import__("tokenizers").decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


@cache
def hf_sample() -> tuple[str, ...]:
    try:
        docs = list(corpus_docs(splits=("train",)))
    except pytest.skip.Exception:
        docs = [training_text()]
    return tuple(docs)


@pytest.mark.parametrize("preset,vocab_size", [("o200k", 4096), ("gpt2", 2000), ("llama3", 3000)])
def test_merges_match_hf_bpetrainer(preset, vocab_size):
    import toksmith

    texts = list(hf_sample())
    specials = ["<|endoftext|>", "<pad>"]
    pattern = toksmith.patterns.resolve(preset)
    hf = hf_train(texts, pattern, vocab_size, specials)
    ours = toksmith.train(
        texts, vocab_size=vocab_size, pattern=preset, special_tokens=specials, progress=False
    )
    model = json.loads(hf.to_str())["model"]
    hf_merges = [
        tuple(hf_bytes(p) for p in (m.split(" ") if isinstance(m, str) else m))
        for m in model["merges"]
    ]
    ours_merges = ours.merges
    first_diff = next((i for i, (a, b) in enumerate(zip(hf_merges, ours_merges)) if a != b), None)
    assert first_diff is None, (
        f"merge {first_diff} differs: hf {hf_merges[first_diff]} ours {ours_merges[first_diff]}"
    )
    assert len(hf_merges) == len(ours_merges)
    print(
        f"HF BpeTrainer parity {preset}@{vocab_size}: {len(ours_merges)} merges identical "
        f"on {sum(len(t.encode()) for t in texts)} bytes"
    )
    hf_vocab = {
        hf_bytes(t) if t not in specials else t.encode(): i for t, i in model["vocab"].items()
    }
    ours_vocab = {ours.id_to_token(i): i for i in range(ours.vocab_size)}
    for s in specials:
        assert ours.special_tokens[s] == hf.token_to_id(s)
    assert ours_vocab == hf_vocab


def test_tokenizer_json_through_hf(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    import toksmith

    texts = list(hf_sample())
    ours = toksmith.train(texts, vocab_size=1000, special_tokens=["<|endoftext|>"], progress=False)
    ours.save(tmp_path / "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    probe = list(texts[:100]) + [generated_text(50, seed=7), "x <|endoftext|> y"]
    for t in probe:
        assert hf.encode(t, add_special_tokens=False).ids == ours.encode(t, allowed_special="all")
        assert hf.decode(ours.encode_ordinary(t), skip_special_tokens=False) == t

    try:
        from transformers import PreTrainedTokenizerFast
    except ImportError:
        pytest.skip("transformers not installed")
    fast = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    for t in probe:
        assert fast.encode(t, add_special_tokens=False) == ours.encode(t, allowed_special="all")


def test_hf_made_tokenizer_json_loads_in_ours(tmp_path):
    import toksmith
    from toksmith import Tokenizer

    texts = list(hf_sample())
    hf = hf_train(texts, toksmith.patterns.resolve("cl100k"), 900, ["<|endoftext|>"])
    hf.save(str(tmp_path / "hf.json"))
    ours = Tokenizer.from_file(tmp_path / "hf.json")
    assert ours.vocab_size == hf.get_vocab_size()
    for t in list(texts[:100]) + ["héllo wörld 😀\n\n\tcode()", "a <|endoftext|> b"]:
        assert ours.encode(t, allowed_special="all") == hf.encode(t).ids


def test_reference_loads_by_path_with_stem_sidecar(tmp_path):
    """`cl100k.tiktoken` finds its `cl100k.json` sidecar; convert to tokenizer.json and back."""
    from toksmith import Tokenizer

    rank_path, side = _corpora().reference_tokenizer("gpt2")
    tok = Tokenizer.from_file(rank_path)
    assert tok.special_tokens == side["special_tokens"]
    tok.save(tmp_path / "gpt2.json")
    back = Tokenizer.from_file(tmp_path / "gpt2.json")
    text = "Hello world 12345 naïve\n\n  code()"
    assert back.encode_ordinary(text) == tok.encode_ordinary(text)
