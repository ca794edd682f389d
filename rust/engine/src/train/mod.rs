//! The BPE merge loop, producing the same merges as HF tokenizers' `BpeTrainer` (0.23) with a
//! byte-level alphabet.
//!
//! # Layout
//! Ids follow HF: the special tokens first (`0..k`), then the 256 single bytes in the char order
//! of the byte-level alphabet ([`crate::bytelevel::byte_order`]), then merged tokens in creation
//! order. With `specials_at_end` the specials move after the learned tokens. Internally the loop
//! numbers tokens without the specials (bytes `0..256`, merges from 256); shifting every id by
//! `k` preserves the order of pairs, so tie-breaks are HF's in either layout.
//!
//! # Algorithm (see [`queue`] for HF's exact semantics)
//! 1. Every distinct pre-token becomes a word of byte ids ([`words`]), weighted by its count.
//! 2. The pair index ([`pairs`]) counts every adjacent pair and lists the words containing it.
//! 3. Each pair goes on a lazy max-heap with its word list. The loop pops the best entry (highest
//!    count, then smallest `(left, right)`), re-queues it if its count is stale, otherwise records
//!    the merge and rewrites the entry's words in place, updating the pair counts from the
//!    changes each rewrite reports and queueing the pairs that gained occurrences.
//!
//! # Complexity
//! Counting pairs is `O(S)` for `S` symbols over all distinct pre-tokens (parallel over word
//! ranges). A merge costs `O(sum of the lengths of the words in its entry)` plus one hash update
//! per changed neighbour pair and `O(log Q)` per heap push; stale entries cost one pop and push.
//! Memory is `4 bytes x S` for the words, `4 bytes` per (pair, word) occurrence for the word
//! lists, and the pair-count table.
//!
//! # Continuing from a vocabulary
//! With a base vocabulary, words start as the base's merges leave them (lowest rank first, left
//! to right), new tokens get ids after the base's largest id, and the loop continues until the
//! vocabulary (base tokens, base specials and new specials) reaches `vocab_size`.

mod pairs;
mod queue;
pub mod shaping;
pub mod supertokens;
mod words;

use crate::bytelevel::byte_order;
use crate::count::WordCounts;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::vocab::{Merge, SpecialToken, TokenId, Vocab};
use queue::{Entry, LoopConfig, Tokens};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BinaryHeap;
pub use supertokens::{train_superbpe, MergeRules, Transition};
use words::Words;

/// An adjacent pair of token ids `(left, right)`.
pub(crate) type Pair = (TokenId, TokenId);

/// Training options.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Total vocabulary size, special tokens included.
    pub vocab_size: usize,
    /// Stop when the best pair occurs fewer times than this.
    pub min_frequency: u64,
    /// Longest token, in bytes (HF semantics: a new pair is formed only when its two tokens'
    /// lengths add up to less than this; pairs of single bytes are always formed).
    pub max_token_length: Option<usize>,
    /// Special tokens, in id order.
    pub special_tokens: Vec<String>,
    /// Put the special tokens after the learned tokens (tiktoken style) instead of at ids 0.. (HF).
    pub specials_at_end: bool,
    /// Longest token, in Unicode characters (see [`shaping::token_chars`]); merges whose result
    /// is longer are skipped. Character-level BPE uses 3-4.
    pub max_token_chars: Option<usize>,
    /// Ordinary tokens forced into the vocabulary before learning (see [`shaping::forced_base`]).
    pub added_tokens: Vec<Vec<u8>>,
    /// Restrictions on which merges may be made (supertokens, see [`supertokens`]); `None`
    /// allows every merge (HF).
    pub merge_rules: Option<MergeRules>,
}

impl TrainConfig {
    /// Defaults: no minimum frequency, no length limit, no special tokens, HF layout.
    pub fn new(vocab_size: usize) -> Self {
        TrainConfig {
            vocab_size,
            min_frequency: 0,
            max_token_length: None,
            special_tokens: Vec::new(),
            specials_at_end: false,
            max_token_chars: None,
            added_tokens: Vec::new(),
            merge_rules: None,
        }
    }
}

/// Learn merges from counted pre-tokens, optionally continuing from `base`'s merges.
pub fn train(
    counts: &WordCounts,
    config: &TrainConfig,
    base: Option<&Vocab>,
    progress: &dyn Progress,
) -> Result<Vocab> {
    check_specials(&config.special_tokens)?;
    if counts.is_empty() {
        return Err(Error::invalid("empty corpus: no pre-tokens were counted"));
    }
    if config.max_token_chars == Some(0) {
        return Err(Error::invalid("max_token_chars must be at least 1"));
    }
    match base {
        None if config.added_tokens.is_empty() => train_fresh(counts, config, progress),
        None => {
            let forced = shaping::forced_base(
                &config.added_tokens,
                &config.special_tokens,
                !config.specials_at_end,
            )?;
            train_continued(counts, config, &forced, progress)
        }
        Some(_) if !config.added_tokens.is_empty() => Err(Error::invalid(
            "added tokens cannot be combined with continuing from a base vocabulary",
        )),
        Some(base) => train_continued(counts, config, base, progress),
    }
}

fn check_specials(specials: &[String]) -> Result<()> {
    let mut seen = FxHashSet::default();
    for s in specials {
        if s.is_empty() {
            return Err(Error::invalid("special tokens must not be empty"));
        }
        if !seen.insert(s.as_str()) {
            return Err(Error::invalid(format!(
                "special token {s:?} is listed twice"
            )));
        }
    }
    Ok(())
}

fn loop_config(config: &TrainConfig, specials: usize) -> LoopConfig {
    LoopConfig {
        // The loop counts ordinary tokens only.
        vocab_size: config.vocab_size - specials,
        min_frequency: config.min_frequency.min(i64::MAX as u64) as i64,
        max_length: config.max_token_length.unwrap_or(usize::MAX),
        max_chars: config.max_token_chars,
        rules: config.merge_rules.clone(),
    }
}

fn train_fresh(
    counts: &WordCounts,
    config: &TrainConfig,
    progress: &dyn Progress,
) -> Result<Vocab> {
    let k = config.special_tokens.len();
    let min = 256 + k;
    if config.vocab_size < min {
        return Err(Error::invalid(format!(
            "vocab_size {} is too small: the minimum is {min} (256 byte tokens + {k} special tokens)",
            config.vocab_size
        )));
    }
    let order = byte_order();
    let mut byte_ids = [0 as TokenId; 256];
    let mut tokens = Tokens {
        bytes: Vec::with_capacity(config.vocab_size),
        lens: Vec::with_capacity(config.vocab_size),
        ids: FxHashMap::default(),
        size: 256,
    };
    for (id, &b) in order.iter().enumerate() {
        byte_ids[b as usize] = id as TokenId;
        tokens.bytes.push(Some(Box::new([b])));
        tokens.lens.push(1);
        tokens.ids.insert(Box::new([b]), id as TokenId);
    }
    let mut words = Words::from_counts(counts.iter(), &byte_ids, counts.len());
    let merges = learn(&mut words, &mut tokens, &loop_config(config, k), progress);
    drop(words);

    // Final ids: shift ordinary tokens past the specials unless they go at the end.
    let n = tokens.bytes.len() as TokenId;
    let (shift, first_special) = if config.specials_at_end {
        (0, n)
    } else {
        (k as TokenId, 0)
    };
    let ordinary = tokens
        .bytes
        .into_iter()
        .enumerate()
        .filter_map(|(id, b)| b.map(|b| (b.into_vec(), id as TokenId + shift)))
        .collect();
    let specials = config
        .special_tokens
        .iter()
        .enumerate()
        .map(|(i, s)| SpecialToken {
            content: s.clone(),
            id: first_special + i as TokenId,
        })
        .collect();
    let merges = merges
        .into_iter()
        .enumerate()
        .map(|(rank, ((l, r), res))| Merge {
            left: l + shift,
            right: r + shift,
            result: res + shift,
            rank: rank as u32,
        })
        .collect();
    Vocab::from_parts(ordinary, merges, specials)
}

fn train_continued(
    counts: &WordCounts,
    config: &TrainConfig,
    base: &Vocab,
    progress: &dyn Progress,
) -> Result<Vocab> {
    let new_specials: Vec<&String> = config
        .special_tokens
        .iter()
        .filter(|s| base.special_id(s).is_none())
        .collect();
    let specials = base.specials().len() + new_specials.len();
    let min = base.num_ordinary() + specials;
    if config.vocab_size < min {
        return Err(Error::invalid(format!(
            "vocab_size {} is too small to continue training: the minimum is {min} (the base's \
             {} tokens + {specials} special tokens)",
            config.vocab_size,
            base.num_ordinary()
        )));
    }
    let mut tokens = Tokens {
        bytes: vec![None; base.len()],
        lens: vec![0; base.len()],
        ids: FxHashMap::default(),
        size: base.num_ordinary(),
    };
    for (id, bytes) in base.ordinary_tokens() {
        tokens.bytes[id as usize] = Some(bytes.into());
        tokens.lens[id as usize] = bytes.len() as u32;
        tokens.ids.insert(bytes.into(), id);
    }
    let byte_ids: [TokenId; 256] = std::array::from_fn(|b| base.byte_id(b as u8));
    let mut words = Words::from_counts(counts.iter(), &byte_ids, counts.len());
    let mut ranks: FxHashMap<Pair, (u32, TokenId)> = FxHashMap::default();
    for m in base.merges() {
        let e = ranks.entry((m.left, m.right)).or_insert((m.rank, m.result));
        if m.rank < e.0 {
            *e = (m.rank, m.result);
        }
    }
    words.apply_ranked(&ranks);
    let learned = learn(
        &mut words,
        &mut tokens,
        &loop_config(config, specials),
        progress,
    );
    drop(words);

    let next_rank = base.merges().iter().map(|m| m.rank + 1).max().unwrap_or(0);
    let mut merges = base.merges().to_vec();
    merges.extend(
        learned
            .into_iter()
            .enumerate()
            .map(|(i, ((l, r), res))| Merge {
                left: l,
                right: r,
                result: res,
                rank: next_rank + i as u32,
            }),
    );
    let first_new = tokens.bytes.len() as TokenId;
    let mut all_specials = base.specials().to_vec();
    all_specials.extend(new_specials.iter().enumerate().map(|(i, s)| SpecialToken {
        content: (*s).clone(),
        id: first_new + i as TokenId,
    }));
    let ordinary = tokens
        .bytes
        .into_iter()
        .enumerate()
        .filter_map(|(id, b)| b.map(|b| (b.into_vec(), id as TokenId)))
        .collect();
    Vocab::from_parts(ordinary, merges, all_specials)
}

/// Index the pairs, fill the queue and run the merge loop.
fn learn(
    words: &mut Words,
    tokens: &mut Tokens,
    config: &LoopConfig,
    progress: &dyn Progress,
) -> Vec<(Pair, TokenId)> {
    let index = pairs::count_pairs(words);
    let mut pair_counts: FxHashMap<Pair, i64> = FxHashMap::default();
    pair_counts.reserve(index.len());
    let mut entries = Vec::with_capacity(index.len());
    for (pair, stats) in index {
        pair_counts.insert(pair, stats.count);
        if stats.count > 0 {
            entries.push(Entry {
                count: stats.count,
                pair,
                words: stats.words,
            });
        }
    }
    let mut queue = BinaryHeap::from(entries);
    queue::run(
        words,
        &mut pair_counts,
        &mut queue,
        tokens,
        config,
        progress,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    fn counts(pairs: &[(&str, u64)]) -> WordCounts {
        let mut wc = WordCounts::new();
        for (w, c) in pairs {
            wc.add(w.as_bytes(), *c);
        }
        wc
    }

    fn merged_strings(v: &Vocab) -> Vec<String> {
        v.merges()
            .iter()
            .map(|m| String::from_utf8_lossy(v.token_bytes(m.result).unwrap()).into_owned())
            .collect()
    }

    #[test]
    fn learns_most_frequent_pairs_first() {
        let wc = counts(&[
            ("hug", 10),
            ("pug", 5),
            ("pun", 12),
            ("bun", 4),
            ("hugs", 5),
        ]);
        let v = train(&wc, &TrainConfig::new(256 + 3), None, &Silent).unwrap();
        assert_eq!(merged_strings(&v), vec!["ug", "un", "hug"]);
        let b_u = v.id_of(b"ug").unwrap();
        assert_eq!(b_u, 256);
    }

    #[test]
    fn specials_layout() {
        let wc = counts(&[("aaab", 3)]);
        let mut cfg = TrainConfig::new(256 + 2 + 1);
        cfg.special_tokens = vec!["<s>".into(), "</s>".into()];
        let v = train(&wc, &cfg, None, &Silent).unwrap();
        assert_eq!(v.special_id("<s>"), Some(0));
        assert_eq!(v.id_of(b"!"), Some(2));
        assert_eq!(v.id_of(b"aa"), Some(258));
        cfg.specials_at_end = true;
        let v = train(&wc, &cfg, None, &Silent).unwrap();
        assert_eq!(v.id_of(b"!"), Some(0));
        assert_eq!(v.id_of(b"aa"), Some(256));
        assert_eq!(v.special_id("</s>"), Some(258));
    }

    #[test]
    fn errors_name_the_problem() {
        let wc = counts(&[("ab", 1)]);
        let mut cfg = TrainConfig::new(257);
        cfg.special_tokens = vec!["<a>".into(), "<b>".into()];
        let err = train(&wc, &cfg, None, &Silent).unwrap_err().to_string();
        assert!(err.contains("minimum is 258"), "{err}");
        let err = train(&WordCounts::new(), &TrainConfig::new(300), None, &Silent)
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty corpus"), "{err}");
        let mut cfg = TrainConfig::new(300);
        cfg.special_tokens = vec!["<a>".into(), "<a>".into()];
        let err = train(&wc, &cfg, None, &Silent).unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn min_frequency_stops() {
        let wc = counts(&[("ab", 3), ("cd", 1)]);
        let mut cfg = TrainConfig::new(1000);
        cfg.min_frequency = 2;
        let v = train(&wc, &cfg, None, &Silent).unwrap();
        assert_eq!(merged_strings(&v), vec!["ab"]);
    }

    #[test]
    fn char_cap_skips_long_merges() {
        let wc = counts(&[("aaaaaaaa", 10), ("日本日本", 5)]);
        let mut cfg = TrainConfig::new(400);
        cfg.max_token_chars = Some(2);
        let v = train(&wc, &cfg, None, &Silent).unwrap();
        for m in v.merges() {
            let t = v.token_bytes(m.result).unwrap();
            assert!(shaping::token_chars(t) <= 2, "{t:?}");
        }
        assert!(v.id_of(b"aa").is_some());
        assert!(v.id_of("日本".as_bytes()).is_some());
        assert!(v.id_of(b"aaaa").is_none());
        cfg.max_token_chars = Some(0);
        assert!(train(&wc, &cfg, None, &Silent).is_err());
    }

    #[test]
    fn added_tokens_come_first_and_specials_stay_first() {
        let wc = counts(&[("hello", 10), ("help", 3)]);
        let mut cfg = TrainConfig::new(2 + 256 + 8);
        cfg.special_tokens = vec!["<s>".into(), "</s>".into()];
        cfg.added_tokens = vec![b"1776".to_vec()];
        let v = train(&wc, &cfg, None, &Silent).unwrap();
        assert_eq!(v.special_id("<s>"), Some(0));
        assert_eq!(v.id_of(b"1776"), Some(2 + 256 + 2));
        assert_eq!(merged_strings(&v)[..3], ["17", "177", "1776"]);
        assert_eq!(merged_strings(&v)[3], "el");
        assert_eq!(v.len(), 2 + 256 + 8);
        let base = v.clone();
        assert!(train(&wc, &cfg, Some(&base), &Silent).is_err());
    }

    #[test]
    fn prefixes_of_a_run_are_the_smaller_runs() {
        let text: String = (0..400)
            .map(|i| format!("w{} x{} the cat sat {} ", i % 17, i % 5, i * 7919 % 101))
            .collect();
        let mut wc = WordCounts::new();
        for w in text.split_inclusive(' ') {
            wc.add(w.as_bytes(), 1);
        }
        let mut cfg = TrainConfig::new(3 + 256 + 30);
        cfg.special_tokens = vec!["<a>".into(), "<b>".into(), "<c>".into()];
        let big = train(&wc, &cfg, None, &Silent).unwrap();
        assert_eq!(big.len(), 3 + 256 + 30);
        for n in [3 + 256, 3 + 256 + 7, 3 + 256 + 20] {
            cfg.vocab_size = n;
            let small = train(&wc, &cfg, None, &Silent).unwrap();
            let pre = shaping::prefix_vocab(&big, n).unwrap();
            assert_eq!(pre.merges(), small.merges());
            assert_eq!(pre.len(), small.len());
            assert_eq!(pre.special_id("<c>"), Some(2));
        }
        cfg.specials_at_end = true;
        cfg.vocab_size = 3 + 256 + 30;
        let at_end = train(&wc, &cfg, None, &Silent).unwrap();
        let err = shaping::prefix_vocab(&at_end, 270).unwrap_err().to_string();
        assert!(err.contains("special tokens first"), "{err}");
        let names = shaping::reserved_names(&big, shaping::Padding::PowerOfTwo).unwrap();
        let padded = shaping::append_specials(&big, &names).unwrap();
        assert_eq!(padded.len(), 512);
        assert_eq!(padded.special_id("<|reserved_0|>"), Some(289));
    }
}
