"""Tokenizer behaviour on a tokenizer trained in the test: round trips (hypothesis), tiktoken's
special-token and lone-surrogate policies, file formats and bad files."""

from __future__ import annotations

import gc
import json
import random
import sys

import pytest
from conftest import needs_core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = needs_core

EOT = "<|endoftext|>"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(st.text())
def test_text_round_trip(small_tok, text):
    assert small_tok.decode_bytes(small_tok.encode_ordinary(text)) == text.encode()
    assert small_tok.decode(small_tok.encode_ordinary(text)) == text


@SETTINGS
@given(st.lists(st.sampled_from(["\x00", "😀", "e\u0301", "\u200d", " ", "\n", "a", "東"])))
def test_round_trip_nul_emoji_combining(small_tok, parts):
    text = "".join(parts)
    assert small_tok.decode_bytes(small_tok.encode(text)) == text.encode()


@SETTINGS
@given(st.binary())
def test_bytes_round_trip(small_tok, data):
    assert small_tok.decode_bytes(small_tok.encode_bytes(data)) == data


@SETTINGS
@given(st.text(alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010)))
def test_lone_surrogates_follow_tiktoken(small_tok, text):
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    assert small_tok.encode(text) == small_tok.encode(fixed)
    assert small_tok.decode_bytes(small_tok.encode_ordinary(text)) == fixed.encode()


def test_special_policy(small_tok):
    eot = small_tok.special_tokens[EOT]
    text = f"hello{EOT}world"
    with pytest.raises(ValueError, match="endoftext"):
        small_tok.encode(text)
    with_special = small_tok.encode(text, allowed_special="all")
    assert eot in with_special
    assert small_tok.encode(text, allowed_special={EOT}) == with_special
    ordinary = small_tok.encode(text, disallowed_special=())
    assert eot not in ordinary and ordinary == small_tok.encode_ordinary(text)
    assert small_tok.decode(with_special) == text
    with pytest.raises(ValueError):
        small_tok.encode_batch(["fine", text])
    assert small_tok.encode_batch(["a b", text], allowed_special="all")[1] == with_special


def test_batch_matches_single_and_threads(small_tok):
    texts = ["one two three", "", "naïve café\n\n  x", "a\ud800b"] * 5
    singles = [small_tok.encode(t) for t in texts]
    assert small_tok.encode_batch(texts) == singles
    assert small_tok.encode_batch(texts, num_threads=2) == singles
    ordinary = [small_tok.encode_ordinary(t) for t in texts]
    assert small_tok.encode_ordinary_batch(texts) == ordinary
    assert small_tok.encode_ordinary_batch(texts, num_threads=1) == ordinary
    with pytest.raises(ValueError, match="num_threads"):
        small_tok.encode_batch(texts, num_threads=0)


def test_batch_reads_every_str_storage(small_tok):
    """Batches convert strs to UTF-8 themselves (ASCII, Latin-1, two- and four-byte storage, a
    str subclass, a str whose UTF-8 CPython already made): the ids equal single calls', which
    use CPython's own conversion; a lone surrogate still raises and is repaired."""

    class Sub(str):
        pass

    cached = "déjà vu, 中文 " * 50
    small_tok.encode_ordinary(cached)  # CPython now holds its UTF-8
    texts = [
        "plain ascii " * 40,
        "naïve café ÿ\xa0 " * 40,
        "中文字符 and Ω " * 40,
        "emoji \U0001f600 mixed é 中 " * 40,
        Sub("subclass é 中 \U0001f600"),
        cached,
        "",
    ]
    want = [small_tok.encode_ordinary(str(t)) for t in texts]
    assert small_tok.encode_ordinary_batch(texts, num_threads=2) == want
    assert small_tok.encode_batch(texts, num_threads=1) == want
    assert all(small_tok.decode(ids) == t for ids, t in zip(want, texts))
    broken = ["ok", "x\udc80y", "z"]
    assert small_tok.encode_ordinary_batch(broken) == [
        small_tok.encode_ordinary(t) for t in ["ok", "x\ufffdy", "z"]
    ]


def test_batch_lists_survive_collections_that_encode_again(small_tok):
    """Allocating a batch's result lists runs the cyclic collector; finalizers that encode with
    the same tokenizer then run inside the call and must not deadlock or disturb the batch."""
    texts = [f"line {i}: naïve café {i * 7}" for i in range(3000)]
    want = [small_tok.encode_ordinary(t) for t in texts]
    seen: list[list[int]] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            seen.append(small_tok.encode_ordinary(texts[7]))

    old = gc.get_threshold()
    gc.collect()
    gc.set_threshold(100)
    try:
        for _ in range(50):
            Cycle()
        got = small_tok.encode_ordinary_batch(texts)
    finally:
        gc.set_threshold(*old)
    assert got == want
    assert len(seen) == 50 and all(ids == want[7] for ids in seen)
    assert gc.is_tracked(got[0])  # ordinary lists: a cycle a user makes through one is collected
    # The lists are made with room for their ids and their length set once filled: what the
    # collector walks and what list methods resize must agree.
    assert sorted(gc.get_referents(got[1])) == sorted(got[1]) and len(got) == len(texts)
    grown = got[1]
    grown.extend(range(1000))
    grown.append(grown)
    assert grown[: len(want[1])] == want[1] and grown[-1] is grown
    assert len(grown) == len(want[1]) + 1001
    del grown[:]
    assert grown == [] and sys.getsizeof(grown) < sys.getsizeof(want[1]) + 64


def test_large_lists_hold_one_reference_per_slot(small_tok):
    """Lists of a few hundred thousand ids are filled on several threads, which count the ids
    for the GIL thread to add the references: each slot must own exactly one."""
    rng = random.Random(5)
    text = "".join(rng.choices("abcdefghij KLMNOP,.\n0123456789é", k=700_000))
    ids = small_tok.encode_ordinary(text)
    assert len(ids) > 300_000
    assert small_tok.decode(ids) == text
    # The commonest id above 256: one of the tokenizer's own ints, not a CPython small int.
    x = max((i for i in set(ids) if i > 256), key=ids.count)
    n, before = ids.count(x), sys.getrefcount(x)
    again = small_tok.encode_ordinary(text)
    batch = small_tok.encode_ordinary_batch([text, text[:1000], text], num_threads=2)
    assert again == ids and batch[0] == ids and batch[2] == ids
    assert batch[1] == small_tok.encode_ordinary(text[:1000])
    assert sys.getrefcount(x) == before + n * 3 + batch[1].count(x)
    del again, batch
    assert sys.getrefcount(x) == before


def test_offsets(small_tok):
    text = "héllo wörld 😀"
    ids, offsets = small_tok.encode_with_offsets(text)
    assert ids == small_tok.encode(text)
    data = text.encode()
    assert b"".join(data[a:b] for a, b in offsets) == data
    assert [small_tok.decode_single_token_bytes(i) for i in ids] == [data[a:b] for a, b in offsets]


def test_lookup_and_properties(small_tok):
    assert small_tok.vocab_size == small_tok.n_vocab == 600
    assert small_tok.token_to_id(EOT) == small_tok.special_tokens[EOT]
    assert small_tok.token_to_id(b"a") == small_tok.encode("a")[0]
    assert small_tok.token_to_id("a") == small_tok.token_to_id(b"a")
    assert small_tok.id_to_token(small_tok.token_to_id(b"a")) == b"a"
    assert small_tok.id_to_token(10**6) is None
    with pytest.raises(KeyError):
        small_tok.decode_single_token_bytes(10**6)
    with pytest.raises(ValueError, match="1000000"):
        small_tok.decode([10**6])
    merges = small_tok.merges
    assert len(merges) == small_tok.num_merges == 600 - 256 - 1
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in merges)
    assert small_tok.pretokenizer == "o200k" and small_tok.pattern
    assert "vocab_size=600" in repr(small_tok)
    info = small_tok.stats(longest=3)
    assert info["num_merges"] == len(merges) and len(info["longest_tokens"]) == 3
    assert info["special_tokens"] == {EOT: small_tok.special_tokens[EOT]}


def test_decode_errors_policy(small_tok):
    ids = small_tok.encode_bytes(b"ok\xff")
    assert small_tok.decode(ids) == "ok\ufffd"
    assert small_tok.decode(ids, errors="ignore") == "ok"
    with pytest.raises(UnicodeDecodeError):
        small_tok.decode(ids, errors="strict")


def test_decode_accepts_any_int_sequence_and_names_bad_ids(small_tok):
    import numpy as np

    ids = small_tok.encode("hello world, hello")
    assert all(type(i) is int for i in ids)
    want = b"hello world, hello"
    assert small_tok.decode_bytes(ids) == want
    assert small_tok.decode_bytes(tuple(ids)) == want
    assert small_tok.decode_bytes(iter(ids)) == want
    assert small_tok.decode_bytes(np.array(ids, dtype=np.int64)) == want
    assert small_tok.decode_bytes(np.array(ids, dtype=np.uint32)) == want
    too_big = small_tok.vocab_size
    cases = [
        ([*ids, -1], "-1"),
        ([ids[0], 2**32], str(2**32)),
        ([ids[0], "x"], "'x'"),
        ([ids[0], 1.0], "1.0"),
        ([ids[0], too_big], str(too_big)),
    ]
    for bad, named in cases:
        with pytest.raises(ValueError, match=named):
            small_tok.decode_bytes(bad)
    with pytest.raises(TypeError, match="iterable"):
        small_tok.decode_bytes(5)


def test_json_and_tiktoken_round_trip(small_tok, tmp_path):
    from toksmith import Tokenizer

    sample = "Hello world! naïve 東京 <|endoftext|> 12345\n\n"
    want = small_tok.encode(sample, allowed_special="all")
    small_tok.save(tmp_path / "tok.json")
    assert Tokenizer.from_file(tmp_path / "tok.json").encode(sample, allowed_special="all") == want
    assert Tokenizer.from_str(small_tok.to_str()).encode(sample, allowed_special="all") == want
    small_tok.save_tiktoken(tmp_path / "tok.tiktoken")
    back = Tokenizer.from_file(tmp_path / "tok.tiktoken")
    assert back.encode(sample, allowed_special="all") == want
    assert back.special_tokens == small_tok.special_tokens
    # A rank file keeps ids and encodings, not the merge list (tiktoken derives every split).
    assert back.vocab_size == small_tok.vocab_size
    # explicit pattern preset name and specials override the sidecar
    other = Tokenizer.from_tiktoken(tmp_path / "tok.tiktoken", pattern="gpt2", special_tokens={})
    assert other.special_tokens == {} and other.pattern != small_tok.pattern


BAD_JSON = [
    ("", None),
    ("{", None),
    ('{"model": {"type": "BPE"}}', None),
    ('{"model": {"type": "WordPiece", "vocab": {}}}', None),
    ("[1, 2, 3]", None),
]


@pytest.mark.parametrize("text,_", BAD_JSON)
def test_bad_tokenizer_json(tmp_path, small_tok, text, _):
    from toksmith import Tokenizer

    with pytest.raises(ValueError) as e:
        Tokenizer.from_str(text)
    assert str(e.value).strip()
    p = tmp_path / "bad.json"
    p.write_text(text or "{}")
    with pytest.raises(ValueError):
        Tokenizer.from_file(p)


def test_truncated_tokenizer_json(tmp_path, small_tok):
    from toksmith import Tokenizer

    full = small_tok.to_str()
    for cut in (len(full) // 3, len(full) - 5):
        p = tmp_path / "t.json"
        p.write_text(full[:cut])
        with pytest.raises(ValueError, match=r"\S"):
            Tokenizer.from_file(p)


def test_bad_rank_files(tmp_path, small_tok):
    from toksmith import Tokenizer

    small_tok.save_tiktoken(tmp_path / "ok.tiktoken")
    lines = (tmp_path / "ok.tiktoken").read_text().splitlines()
    cases = {
        "garbage.tiktoken": "this is not base64 !!! 12\n",
        "norank.tiktoken": lines[0].split()[0] + "\n",
        "badrank.tiktoken": lines[0].split()[0] + " twelve\n",
        "truncated.tiktoken": "\n".join(lines[: len(lines) // 2]) + "\n" + lines[-1][:3],
    }
    for name, text in cases.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(ValueError):
            Tokenizer.from_tiktoken(p, pattern="o200k", special_tokens={})
    with pytest.raises(FileNotFoundError, match="nope"):
        Tokenizer.from_file(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="unknown pattern name 'o300k'"):
        Tokenizer.from_tiktoken(tmp_path / "ok.tiktoken", pattern="o300k")


def test_sidecar_is_json(small_tok, tmp_path):
    small_tok.save_tiktoken(tmp_path / "t.tiktoken")
    side = json.loads((tmp_path / "t.tiktoken.json").read_text())
    assert isinstance(side, dict)
