//! Parity with HF tokenizers' BpeTrainer on real text (expected merges made by
//! `tests/data/make_hf_merges.py`), plus counts artifacts, continued training and errors.

use std::path::{Path, PathBuf};
use toksmith_engine::count::{Counter, CountsMeta, WordCounts};
use toksmith_engine::normalize::Normalizer;
use toksmith_engine::pretokenize::{PreTokenizer, CL100K, O200K};
use toksmith_engine::progress::Silent;
use toksmith_engine::train::{train, TrainConfig};
use toksmith_engine::Vocab;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn corpus() -> String {
    std::fs::read_to_string(data("parity_corpus.txt")).unwrap()
}

fn count(pattern: &str, texts: &[&str]) -> WordCounts {
    let pre = PreTokenizer::from_regex(pattern).unwrap();
    let mut c = Counter::new(pre, Normalizer::None, &[]).unwrap();
    for t in texts {
        c.add_text(t);
    }
    c.finish()
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `total T distinct D fnv H`, as the Python script writes it.
fn digest(wc: &WordCounts) -> String {
    let mut blob = String::new();
    for (piece, n) in wc.sorted() {
        blob.push_str(&format!("{} {n}\n", hex(piece)));
    }
    format!(
        "total {} distinct {} fnv {:016x}",
        wc.total(),
        wc.len(),
        fnv1a(blob.as_bytes())
    )
}

/// Merges as HF serializes them: a pair recorded twice keeps its last rank.
fn hf_view(v: &Vocab) -> Vec<String> {
    let bytes = |id| hex(v.token_bytes(id).unwrap());
    let mut last = std::collections::HashMap::new();
    for (i, m) in v.merges().iter().enumerate() {
        last.insert((m.left, m.right), i);
    }
    let mut ranked: Vec<_> = last.into_iter().collect();
    ranked.sort_by_key(|&(_, i)| i);
    ranked
        .into_iter()
        .map(|((l, r), _)| format!("{} {}", bytes(l), bytes(r)))
        .collect()
}

struct Expected {
    header: String,
    merges: Vec<String>,
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(data(&format!("hf_merges_{name}.txt"))).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().trim_start_matches("# ").to_string();
    Expected {
        header,
        merges: lines.map(str::to_string).collect(),
    }
}

fn check_case(name: &str, pattern: &str, config: &TrainConfig) {
    let text = corpus();
    let wc = count(pattern, &[&text]);
    let exp = expected(name);
    let vocab_note = format!("vocab {}", config.vocab_size);
    assert_eq!(
        exp.header,
        format!("{} {vocab_note}", digest(&wc)),
        "{name}: pre-token counts differ from HF's"
    );
    let v = train(&wc, config, None, &Silent).unwrap();
    let got = hf_view(&v);
    let first_diff = got.iter().zip(&exp.merges).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "{name}: first differing merge");
    assert_eq!(got.len(), exp.merges.len(), "{name}: merge count");
    assert_eq!(v.num_ordinary() + v.specials().len(), config.vocab_size);
}

#[test]
fn parity_cl100k_2000() {
    check_case("cl100k_v2000", CL100K, &TrainConfig::new(2000));
}

#[test]
fn parity_o200k_2000() {
    check_case("o200k_v2000", O200K, &TrainConfig::new(2000));
}

#[test]
fn parity_o200k_min2_len16_specials() {
    let mut cfg = TrainConfig::new(2000);
    cfg.min_frequency = 2;
    cfg.max_token_length = Some(16);
    cfg.special_tokens = vec!["<|endoftext|>".into(), "<pad>".into()];
    check_case("o200k_v2000_min2_len16", O200K, &cfg);
}

#[test]
fn parity_cl100k_len6() {
    let mut cfg = TrainConfig::new(2000);
    cfg.max_token_length = Some(6);
    check_case("cl100k_v2000_len6", CL100K, &cfg);
}

fn merge_list(v: &Vocab) -> Vec<(Vec<u8>, Vec<u8>)> {
    v.merges()
        .iter()
        .map(|m| {
            (
                v.token_bytes(m.left).unwrap().to_vec(),
                v.token_bytes(m.right).unwrap().to_vec(),
            )
        })
        .collect()
}

#[test]
fn sharded_counts_saved_loaded_and_merged_match_one_pass() {
    let text = corpus();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let third = lines.len() / 3;
    let shards = [
        &lines[..third],
        &lines[third..2 * third],
        &lines[2 * third..],
    ];
    let pre = PreTokenizer::from_regex(O200K).unwrap();
    let meta = CountsMeta::new(&pre, Normalizer::None);
    let dir = std::env::temp_dir().join(format!("toksmith-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut merged = WordCounts::new();
    for (i, shard) in shards.iter().enumerate() {
        let wc = count(O200K, shard);
        let path = dir.join(format!("shard{i}.counts"));
        wc.save(&path, &meta).unwrap();
        let (back, m) = WordCounts::load(&path).unwrap();
        m.check(&meta, "shard").unwrap();
        merged.merge(back);
    }
    let whole = count(O200K, &lines);
    assert_eq!(merged, whole);
    let cfg = TrainConfig::new(1200);
    let a = train(&merged, &cfg, None, &Silent).unwrap();
    let b = train(&whole, &cfg, None, &Silent).unwrap();
    assert_eq!(merge_list(&a), merge_list(&b));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn continuing_from_half_reproduces_the_full_run() {
    let text = corpus();
    let wc = count(CL100K, &[&text]);
    let full = train(&wc, &TrainConfig::new(1500), None, &Silent).unwrap();
    let half = train(&wc, &TrainConfig::new(1000), None, &Silent).unwrap();
    let cont = train(&wc, &TrainConfig::new(1500), Some(&half), &Silent).unwrap();
    assert_eq!(merge_list(&cont), merge_list(&full));
    for (id, bytes) in full.ordinary_tokens() {
        assert_eq!(cont.id_of(bytes), Some(id));
    }
}

#[test]
fn continuing_adds_specials_after_learned_tokens() {
    let wc = count(CL100K, &[&corpus()[..20_000]]);
    let mut cfg = TrainConfig::new(400);
    cfg.special_tokens = vec!["<a>".into()];
    let base = train(&wc, &cfg, None, &Silent).unwrap();
    cfg.vocab_size = 500;
    cfg.special_tokens = vec!["<a>".into(), "<b>".into()];
    let v = train(&wc, &cfg, Some(&base), &Silent).unwrap();
    assert_eq!(v.special_id("<a>"), Some(0));
    assert_eq!(v.special_id("<b>"), Some(499));
    assert_eq!(v.num_ordinary() + v.specials().len(), 500);
    cfg.vocab_size = 300;
    let err = train(&wc, &cfg, Some(&base), &Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("minimum is 401"), "{err}");
}
