//! Parity with tiktoken on the real cl100k/o200k rank files. Ignored by default: it needs data
//! that is not in the repository.
//!
//! ```text
//! python tests/parity/dump_tiktoken.py RANKS_DIR OUT_DIR INPUT...   # tiktoken's ids
//! TOKSMITH_RANKS_DIR=RANKS_DIR TOKSMITH_PARITY_MANIFEST=OUT_DIR/manifest.tsv \
//!     cargo test --release -p toksmith-engine --test tiktoken_parity -- --ignored --nocapture
//! ```
//!
//! `RANKS_DIR` holds `cl100k_base.tiktoken` and `o200k_base.tiktoken` (lines `base64 rank`).

use base64::Engine;
use std::path::{Path, PathBuf};
use toksmith_engine::normalize::Normalizer;
use toksmith_engine::pretokenize::{self, PreTokenizer};
use toksmith_engine::{TokenId, Tokenizer, Vocab};

/// A minimal rank-file reader (the formats module has the real one).
fn load_ranks(path: &Path) -> Vec<(Vec<u8>, TokenId)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (b64, rank) = line.split_once(' ').expect("line `base64 rank`");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64 token");
            (bytes, rank.parse().expect("integer rank"))
        })
        .collect()
}

fn tokenizer(dir: &Path, name: &str) -> Tokenizer {
    let pattern = match name {
        "cl100k" => pretokenize::CL100K,
        "o200k" => pretokenize::O200K,
        other => panic!("unknown encoding {other}"),
    };
    let vocab = Vocab::from_ranks(
        load_ranks(&dir.join(format!("{name}_base.tiktoken"))),
        vec![],
    )
    .expect("valid rank file");
    Tokenizer::new(
        vocab,
        PreTokenizer::from_regex(pattern).unwrap(),
        Normalizer::None,
    )
    .unwrap()
    .with_ignore_merges(true)
}

#[test]
#[ignore = "needs TOKSMITH_RANKS_DIR and TOKSMITH_PARITY_MANIFEST"]
fn matches_tiktoken() {
    let dir = PathBuf::from(std::env::var("TOKSMITH_RANKS_DIR").expect("TOKSMITH_RANKS_DIR"));
    let manifest = std::env::var("TOKSMITH_PARITY_MANIFEST").expect("TOKSMITH_PARITY_MANIFEST");
    let manifest = std::fs::read_to_string(manifest).unwrap();
    let mut current: Option<(String, Tokenizer)> = None;
    let (mut files, mut bytes, mut tokens, mut failures) = (0, 0, 0, Vec::new());
    for line in manifest.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, input, ids_path] = fields[..] else {
            panic!("bad manifest line {line:?}")
        };
        if current.as_ref().is_none_or(|(n, _)| n != name) {
            current = Some((name.to_string(), tokenizer(&dir, name)));
        }
        let tok = &current.as_ref().unwrap().1;
        let text = String::from_utf8_lossy(&std::fs::read(input).unwrap()).into_owned();
        let expected: Vec<TokenId> = std::fs::read_to_string(ids_path)
            .unwrap()
            .split_ascii_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        let got = tok.encode_ordinary(&text);
        if got == expected {
            files += 1;
            bytes += text.len();
            tokens += got.len();
        } else {
            let at = got
                .iter()
                .zip(&expected)
                .take_while(|(a, b)| a == b)
                .count();
            failures.push(format!("{name} {input}: first difference at token {at}"));
        }
    }
    println!("identical: {files} files, {bytes} bytes, {tokens} tokens");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(files > 0, "empty manifest");
}
