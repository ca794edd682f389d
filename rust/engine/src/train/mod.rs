//! The BPE merge loop. (Stub: the trainer helper fills this in.)

use crate::count::WordCounts;
use crate::error::Result;
use crate::progress::Progress;
use crate::vocab::Vocab;

/// Training options.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Total vocabulary size, special tokens included.
    pub vocab_size: usize,
    /// Stop when the best pair occurs fewer times than this.
    pub min_frequency: u64,
    /// Longest token, in bytes.
    pub max_token_length: Option<usize>,
    /// Special tokens, in id order.
    pub special_tokens: Vec<String>,
    /// Put the special tokens after the learned tokens (tiktoken style) instead of at ids 0.. (HF).
    pub specials_at_end: bool,
}

/// Learn merges from counted pre-tokens, optionally continuing from `base`'s merges.
pub fn train(
    counts: &WordCounts,
    config: &TrainConfig,
    base: Option<&Vocab>,
    progress: &dyn Progress,
) -> Result<Vocab> {
    let _ = (counts, config, base, progress);
    todo!("trainer")
}
