//! Reading HF-produced `tokenizer.json` fixtures (made by `tests/data/make_fixtures.py` with
//! `tokenizers` 0.23.3) and checking every token and merge against the file, plus facts printed by
//! HF itself (`get_vocab()`), and that writing them back reads identically.

use serde_json::Value;
use std::path::PathBuf;
use toksmith_engine::bytelevel;
use toksmith_engine::formats::hf_json;
use toksmith_engine::normalize::Normalizer;
use toksmith_engine::Tokenizer;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Check the vocabulary and merges against the raw JSON, independently of the reader.
fn check_against_json(tok: &Tokenizer, path: &PathBuf) {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vocab = tok.vocab();
    for (key, id) in doc["model"]["vocab"].as_object().unwrap() {
        let id = id.as_u64().unwrap() as u32;
        assert_eq!(
            vocab.token_bytes(id),
            bytelevel::decode(key).as_deref(),
            "{key}"
        );
    }
    let merges = doc["model"]["merges"].as_array().unwrap();
    assert_eq!(vocab.merges().len(), merges.len());
    for (rank, (merge, json)) in vocab.merges().iter().zip(merges).enumerate() {
        let (l, r) = match json {
            Value::String(s) => s.split_once(' ').unwrap(),
            other => (other[0].as_str().unwrap(), other[1].as_str().unwrap()),
        };
        let bytes = |id| bytelevel::encode(vocab.token_bytes(id).unwrap());
        assert_eq!(
            (bytes(merge.left).as_str(), bytes(merge.right).as_str()),
            (l, r)
        );
        assert_eq!(merge.rank as usize, rank);
    }
    for added in doc["added_tokens"].as_array().unwrap() {
        let content = added["content"].as_str().unwrap();
        assert_eq!(
            vocab.special_id(content),
            added["id"].as_u64().map(|i| i as u32)
        );
    }
}

fn check_write_back(tok: &Tokenizer) {
    let text = hf_json::to_string(tok).unwrap();
    let back = hf_json::from_str(&text, "written.json").unwrap();
    assert!(back
        .vocab()
        .ordinary_tokens()
        .eq(tok.vocab().ordinary_tokens()));
    assert_eq!(back.vocab().merges(), tok.vocab().merges());
    assert_eq!(back.vocab().specials(), tok.vocab().specials());
    assert_eq!(back.pretokenizer().pattern(), tok.pretokenizer().pattern());
    assert_eq!(back.normalizer(), tok.normalizer());
    assert_eq!(back.ignore_merges(), tok.ignore_merges());
}

#[test]
fn reads_hf_gpt2_style_fixture() {
    let path = fixture("hf_gpt2_style.json");
    let tok = hf_json::load(&path).unwrap();
    check_against_json(&tok, &path);
    let vocab = tok.vocab();
    // From HF: get_vocab()["Ġthe"] == 289, ["t"] == 84, ["Ġt"] == 257; 330 ids, 73 merges.
    assert_eq!(vocab.id_of(b" the"), Some(289));
    assert_eq!(vocab.id_of(b"t"), Some(84));
    assert_eq!(vocab.len(), 330);
    assert_eq!(vocab.merges().len(), 73);
    let first = vocab.merges()[0];
    assert_eq!((first.left, first.right, first.result), (221, 84, 257));
    // <|endoftext|> is id 0 in both model.vocab and added_tokens: a special, not ordinary.
    assert_eq!(vocab.special_id("<|endoftext|>"), Some(0));
    assert!(vocab.is_special(0));
    assert_eq!(vocab.num_ordinary(), 329);
    assert_eq!(tok.pretokenizer().name(), Some("gpt2"));
    assert_eq!(tok.normalizer(), Normalizer::Nfc);
    assert!(!tok.ignore_merges());
    check_write_back(&tok);
}

#[test]
fn reads_hf_split_fixture() {
    let path = fixture("hf_split_cl100k.json");
    let tok = hf_json::load(&path).unwrap();
    check_against_json(&tok, &path);
    let vocab = tok.vocab();
    // From HF: 320 model tokens, then <|endoftext|> 320, <|pad|> 321, "Zen" 322 (not special).
    assert_eq!(vocab.len(), 323);
    assert_eq!(vocab.special_id("<|pad|>"), Some(321));
    assert_eq!(vocab.special_id("Zen"), Some(322));
    assert_eq!(vocab.id_of(b".\n"), Some(256));
    // HF (Oniguruma) reads tiktoken's possessive `\p{N}{1,3}+` as `(?:\p{N}{1,3})+`: digit runs
    // of any length. The file means what HF does with it, so it is not the cl100k preset.
    assert_eq!(tok.pretokenizer().name(), None);
    assert!(tok
        .pretokenizer()
        .pattern()
        .unwrap()
        .contains(r"|(?:\p{N}{1,3})+|"));
    assert_eq!(tok.normalizer(), Normalizer::None);
    assert!(tok.ignore_merges());
    check_write_back(&tok);
}

#[test]
fn missing_file_is_named() {
    let err = hf_json::load(&fixture("nope.json"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("nope.json"), "{err}");
}
