//! Supertokens: tokens that cross white space.
//!
//! # SuperBPE (Liu et al. 2025)
//! [`train_superbpe`] runs a two-stage curriculum:
//! 1. ordinary BPE on `stage1` counts (pre-tokens of a word-level regex such as o200k) until the
//!    vocabulary reaches the *transition point* `t` (ids, special tokens included);
//! 2. training continues from those merges on `stage2` counts, made with a pre-tokenizer that
//!    does not split at the single space between words ([`crate::pretokenize::SUPERBPE`]), so
//!    new merges may join words, until `vocab_size`.
//!
//! Stage 2 works exactly like [`super::train`] continuing from a base vocabulary: every stage-2
//! pre-token starts as the stage-1 merges leave it (lowest rank first, left to right, which is
//! what SuperBPE's replay of the inherited merges in order does), then HF's merge loop runs. The
//! only difference is the [`MergeRules`] filter: when the loop pops the best pair and its merged
//! bytes break a rule, the pair is dropped instead of merged (as in SuperBPE's trainer, which
//! skips such merges and does not re-queue them; a later occurrence that re-queues the pair is
//! dropped again). The rules look only at the merged token's bytes, so they are baked into the
//! merge list: encoding needs no extra machinery and tokenizer.json carries them exactly.
//!
//! # Encoding
//! A SuperBPE tokenizer's pre-tokenizer is the stage-2 regex and its merges are the stage-1
//! merges followed by the stage-2 merges. Encoding is plain ranked BPE over each stage-2 piece,
//! which is what HF `tokenizers` does with SuperBPE's tokenizer.json. Stage-1 merges therefore
//! also apply inside long stage-2 pieces; they never cross a position that stage 1 split at
//! unless the bytes there happen to form a stage-1 token (e.g. `".\n"`).
//!
//! # Memory
//! Stage-2 pieces are long (clauses, often whole paragraphs), mostly distinct. They are counted
//! with the ordinary [`crate::count::Counter`] (4 bytes per symbol in the trainer's word array
//! plus 4 bytes per (pair, word) occurrence), so memory grows linearly with the distinct stage-2
//! text; `WordCounts::prune` caps the number of distinct pieces when needed.

use super::{train, TrainConfig};
use crate::count::WordCounts;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::vocab::Vocab;

/// Which merges stage 2 may make. All rules look at the merged token's bytes only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeRules {
    /// At most this many words per token: the number of non-empty runs between spaces, as in
    /// SuperBPE's `mw4` (`" of the"` has 2 words, `"ing to the"` has 3).
    pub max_words: Option<usize>,
    /// No token contains `": "` (SuperBPE's colon rule: no merges across a colon and a space).
    pub no_colon_space: bool,
    /// No token ends a sentence at a line end after other text: a `.`, `!` or `?` followed by
    /// `\r`/`\n` is allowed only when nothing but sentence-final marks precedes it
    /// (`".\n"` is fine, `" applications.\n"` is not).
    pub no_sentence_newline: bool,
    /// No token crosses a line break: a `\r`/`\n` may only be followed by more `\r`/`\n`
    /// (newlines may end a token, never start or sit inside one before other text).
    pub no_newline: bool,
}

impl Default for MergeRules {
    /// SuperBPE's released configuration: at most 4 words, no `": "`.
    fn default() -> Self {
        MergeRules {
            max_words: Some(4),
            no_colon_space: true,
            no_sentence_newline: false,
            no_newline: false,
        }
    }
}

impl MergeRules {
    /// No restriction at all.
    pub fn none() -> Self {
        MergeRules {
            max_words: None,
            no_colon_space: false,
            no_sentence_newline: false,
            no_newline: false,
        }
    }

    /// Whether `left ++ right` may become a token.
    pub fn allows(&self, left: &[u8], right: &[u8]) -> bool {
        let mut token = Vec::with_capacity(left.len() + right.len());
        token.extend_from_slice(left);
        token.extend_from_slice(right);
        self.allows_token(&token)
    }

    /// Whether `token` obeys every rule.
    pub fn allows_token(&self, token: &[u8]) -> bool {
        if let Some(max) = self.max_words {
            if word_count(token) > max {
                return false;
            }
        }
        if self.no_colon_space && token.windows(2).any(|w| w == b": ") {
            return false;
        }
        if self.no_sentence_newline && ends_sentence_after_text(token) {
            return false;
        }
        if self.no_newline && crosses_newline(token) {
            return false;
        }
        true
    }
}

/// Non-empty runs between spaces (SuperBPE: `token.split("Ġ").filter(nonempty).count()`).
pub fn word_count(token: &[u8]) -> usize {
    token
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .count()
}

fn is_newline(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

fn is_sentence_end(b: u8) -> bool {
    matches!(b, b'.' | b'!' | b'?')
}

fn ends_sentence_after_text(token: &[u8]) -> bool {
    token.windows(2).enumerate().any(|(i, w)| {
        is_sentence_end(w[0]) && is_newline(w[1]) && !token[..i].iter().all(|&b| is_sentence_end(b))
    })
}

fn crosses_newline(token: &[u8]) -> bool {
    token
        .windows(2)
        .any(|w| is_newline(w[0]) && !is_newline(w[1]))
}

/// Where stage 1 stops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transition {
    /// Stage 1 ends when the vocabulary (special tokens included) has this many ids.
    VocabSize(usize),
    /// A fraction in `(0, 1]` of the final vocabulary size (rounded to the nearest id).
    Fraction(f64),
}

impl Transition {
    /// The stage-1 vocabulary size for a final `vocab_size`; errors name the bad value.
    pub fn resolve(self, vocab_size: usize) -> Result<usize> {
        let t = match self {
            Transition::VocabSize(t) => t,
            Transition::Fraction(f) => {
                if !(f > 0.0 && f <= 1.0) {
                    return Err(Error::invalid(format!(
                        "transition fraction must be in (0, 1], got {f}"
                    )));
                }
                (f * vocab_size as f64).round() as usize
            }
        };
        if t > vocab_size {
            return Err(Error::invalid(format!(
                "transition point {t} is beyond vocab_size {vocab_size}: stage 1 must stop at or \
                 before the final vocabulary size"
            )));
        }
        Ok(t)
    }
}

/// SuperBPE: BPE on `stage1` up to `transition`, then continue on `stage2` under `rules`.
///
/// `config` describes the final tokenizer (its `merge_rules` are ignored: `rules` apply to stage
/// 2 only). With `specials_at_end` the special tokens are added in stage 2, after every learned
/// token; otherwise stage 1 puts them at ids `0..k`.
pub fn train_superbpe(
    stage1: &WordCounts,
    stage2: &WordCounts,
    transition: Transition,
    rules: &MergeRules,
    config: &TrainConfig,
    progress: &dyn Progress,
) -> Result<Vocab> {
    let t = transition.resolve(config.vocab_size)?;
    let k = config.special_tokens.len();
    let mut first = config.clone();
    first.vocab_size = t;
    first.merge_rules = None;
    if config.specials_at_end {
        first.special_tokens.clear();
        first.specials_at_end = false;
    }
    let min = 256 + first.special_tokens.len();
    if t < min {
        return Err(Error::invalid(format!(
            "transition point {t} is too small: stage 1 needs at least {min} ids (256 byte tokens \
             + {} special tokens)",
            first.special_tokens.len()
        )));
    }
    let base = train(stage1, &first, None, progress)?;
    let mut second = config.clone();
    second.merge_rules = Some(rules.clone());
    debug_assert!(k == second.special_tokens.len());
    train(stage2, &second, Some(&base), progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::Counter;
    use crate::normalize::Normalizer;
    use crate::pretokenize::{PreTokenizer, SUPERBPE};
    use crate::progress::Silent;

    fn count(spec: &str, text: &str) -> WordCounts {
        let mut c = Counter::new(PreTokenizer::new(spec).unwrap(), Normalizer::None, &[]).unwrap();
        c.add_text(text);
        c.finish()
    }

    fn tokens(v: &Vocab) -> Vec<Vec<u8>> {
        v.ordinary_tokens().map(|(_, b)| b.to_vec()).collect()
    }

    #[test]
    fn word_counts_follow_superbpe() {
        assert_eq!(word_count(b" of the"), 2);
        assert_eq!(word_count(b"ing to the "), 3);
        assert_eq!(word_count(b"  "), 0);
        let r = MergeRules::default();
        assert!(r.allows(b" in the", b" middle of"));
        assert!(r.allows(b" in the middle", b" of"));
        assert!(!r.allows(b" in the middle of", b" the"));
        assert!(!r.allows(b"Note:", b" this"));
        assert!(r.allows(b"Note", b":"));
    }

    #[test]
    fn newline_rules() {
        let r = MergeRules {
            no_sentence_newline: true,
            ..MergeRules::none()
        };
        assert!(r.allows(b".", b"\n"));
        assert!(r.allows(b"...", b"\n\n"));
        assert!(!r.allows(b" applications", b".\n"));
        assert!(r.allows(b" applications", b"."));
        let r = MergeRules {
            no_newline: true,
            ..MergeRules::none()
        };
        assert!(r.allows(b" end", b".\n"));
        assert!(!r.allows(b".\n", b"The"));
        assert!(r.allows(b"\r", b"\n"));
    }

    #[test]
    fn transition_errors() {
        let err = Transition::VocabSize(5000).resolve(4000).unwrap_err();
        assert!(err.to_string().contains("beyond vocab_size 4000"), "{err}");
        assert!(Transition::Fraction(1.5).resolve(4000).is_err());
        assert!(Transition::Fraction(0.0).resolve(4000).is_err());
        assert_eq!(Transition::Fraction(0.5).resolve(4001).unwrap(), 2001);
        let wc = count("o200k", "a b");
        let err = train_superbpe(
            &wc,
            &wc,
            Transition::VocabSize(100),
            &MergeRules::default(),
            &TrainConfig::new(400),
            &Silent,
        )
        .unwrap_err();
        assert!(err.to_string().contains("too small"), "{err}");
    }

    fn corpus() -> String {
        let lines = [
            "the cat sat on the mat. it is one of the best cats in the world.\n",
            "in the middle of the night: the dog barked at the moon.\n",
            "one of the best days of the year is in the middle of the summer.\n",
        ];
        lines.concat().repeat(30)
    }

    #[test]
    fn superbpe_learns_multiword_tokens_under_the_rules() {
        let text = corpus();
        let s1 = count("o200k", &text);
        let s2 = count(SUPERBPE, &text);
        let cfg = TrainConfig::new(600);
        let rules = MergeRules {
            max_words: Some(3),
            ..MergeRules::default()
        };
        let v =
            train_superbpe(&s1, &s2, Transition::VocabSize(330), &rules, &cfg, &Silent).unwrap();
        let stage1 = train(&s1, &TrainConfig::new(330), None, &Silent).unwrap();
        // Stage 1 is a prefix of the result.
        assert_eq!(&v.merges()[..stage1.merges().len()], stage1.merges());
        let all = tokens(&v);
        let multi: Vec<_> = all.iter().filter(|t| word_count(t) >= 2).collect();
        assert!(!multi.is_empty());
        assert!(all.iter().any(|t| t == b" of the"));
        for t in &all {
            assert!(word_count(t) <= 3, "{:?}", String::from_utf8_lossy(t));
            assert!(!t.windows(2).any(|w| w == b": "));
        }
        // Stage-1 tokens never span a space between two words.
        for t in tokens(&stage1) {
            assert!(word_count(&t) <= 1);
        }
        // Without rules, the limit is exceeded on this repetitive corpus.
        let free = train_superbpe(
            &s1,
            &s2,
            Transition::VocabSize(330),
            &MergeRules::none(),
            &cfg,
            &Silent,
        )
        .unwrap();
        assert!(tokens(&free).iter().any(|t| word_count(t) > 3));
    }

    #[test]
    fn specials_at_end_come_after_stage_two() {
        let text = corpus();
        let (s1, s2) = (count("o200k", &text), count(SUPERBPE, &text));
        let mut cfg = TrainConfig::new(500);
        cfg.special_tokens = vec!["<eos>".into()];
        let train = |cfg: &TrainConfig| {
            let rules = MergeRules::default();
            train_superbpe(&s1, &s2, Transition::Fraction(0.6), &rules, cfg, &Silent).unwrap()
        };
        cfg.specials_at_end = true;
        let v = train(&cfg);
        // The corpus runs out of pairs before 500: the special follows the last learned token.
        assert!(v.num_ordinary() > 300);
        assert_eq!(v.special_id("<eos>"), Some(v.num_ordinary() as u32));
        cfg.specials_at_end = false;
        assert_eq!(train(&cfg).special_id("<eos>"), Some(0));
    }
}
