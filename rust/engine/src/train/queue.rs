//! The merge queue and the merge loop, replicating HF `BpeTrainer::do_train` step by step.
//!
//! The queue is a lazy max-heap of [`Entry`]s: a pair, the pair's count when the entry was
//! pushed, and the words where the pair was seen when it was pushed. It is ordered by count
//! (highest first), then by pair (smallest `(left, right)` first). A popped entry whose count is
//! no longer the pair's current count is pushed back with the current count instead of being
//! merged. A merge rewrites only the words of the popped entry; the pairs that gain occurrences
//! in that step get one new entry each (their current count, the words where they gained).
//!
//! As in HF, the merged pair's own count is never reduced, a merge whose result already exists
//! reuses the existing id (recorded again, the vocabulary does not grow), and so one pair can be
//! merged more than once, from different entries.

use super::words::Words;
use super::Pair;
use crate::progress::Progress;
use crate::vocab::TokenId;
use rustc_hash::FxHashMap;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One queued pair with the words to merge it in.
pub(super) struct Entry {
    pub count: i64,
    pub pair: Pair,
    pub words: Vec<u32>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.pair == other.pair
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.count
            .cmp(&other.count)
            .then_with(|| other.pair.cmp(&self.pair))
    }
}

/// The token table the loop grows: bytes, lengths and the bytes -> id index.
pub(super) struct Tokens {
    pub bytes: Vec<Option<Box<[u8]>>>,
    pub lens: Vec<u32>,
    pub ids: FxHashMap<Box<[u8]>, TokenId>,
    /// Ids given out so far count towards the vocabulary size from this base.
    pub size: usize,
}

impl Tokens {
    /// Whether `left ++ right` has at most `max` characters.
    fn fits_chars(&self, (left, right): Pair, max: usize) -> bool {
        let l = self.bytes[left as usize].as_deref().unwrap_or_default();
        let r = self.bytes[right as usize].as_deref().unwrap_or_default();
        super::shaping::fits_chars(l, r, max)
    }

    /// Whether `rules` (if any) let `pair` be merged.
    fn allowed(&self, (left, right): Pair, rules: Option<&super::MergeRules>) -> bool {
        let Some(rules) = rules else { return true };
        let l = self.bytes[left as usize].as_deref().unwrap_or_default();
        let r = self.bytes[right as usize].as_deref().unwrap_or_default();
        rules.allows(l, r)
    }

    /// The id of `left ++ right`, creating it (and growing `size`) when it is new.
    fn join(&mut self, (left, right): Pair) -> TokenId {
        let l = self.bytes[left as usize].as_deref().unwrap_or_default();
        let r = self.bytes[right as usize].as_deref().unwrap_or_default();
        let mut joined = Vec::with_capacity(l.len() + r.len());
        joined.extend_from_slice(l);
        joined.extend_from_slice(r);
        if let Some(&id) = self.ids.get(joined.as_slice()) {
            return id;
        }
        let id = self.bytes.len() as TokenId;
        self.lens.push(joined.len() as u32);
        let joined: Box<[u8]> = joined.into();
        self.ids.insert(joined.clone(), id);
        self.bytes.push(Some(joined));
        self.size += 1;
        id
    }
}

/// Settings of one run of the loop.
pub(super) struct LoopConfig {
    pub vocab_size: usize,
    pub min_frequency: i64,
    pub max_length: usize,
    /// Skip merges whose result has more characters than this ([`super::shaping::token_chars`]).
    pub max_chars: Option<usize>,
    /// Merges that break these rules are dropped when popped (supertokens).
    pub rules: Option<super::MergeRules>,
}

/// Run HF's merge loop until the vocabulary is full, the queue is empty or the best count is
/// below `max(1, min_frequency)`. Returns the merges as `(pair, result)` in creation order.
pub(super) fn run(
    words: &mut Words,
    pair_counts: &mut FxHashMap<Pair, i64>,
    queue: &mut BinaryHeap<Entry>,
    tokens: &mut Tokens,
    config: &LoopConfig,
    progress: &dyn Progress,
) -> Vec<(Pair, TokenId)> {
    let mut merges = Vec::new();
    let mut gained: FxHashMap<Pair, Vec<u32>> = FxHashMap::default();
    let total = config.vocab_size.saturating_sub(tokens.size) as u64;
    let start_size = tokens.size;
    let step = (total / 100).max(1);
    let mut reported = 0;
    while tokens.size < config.vocab_size {
        let Some(mut top) = queue.pop() else { break };
        let current = pair_counts.get(&top.pair).copied().unwrap_or(0);
        if top.count != current {
            top.count = current;
            queue.push(top);
            continue;
        }
        if top.count < 1 || config.min_frequency > top.count {
            break;
        }
        if let Some(max) = config.max_chars {
            if !tokens.fits_chars(top.pair, max) {
                // Never merged: drop the entry (its words stay as they are).
                continue;
            }
        }
        if !tokens.allowed(top.pair, config.rules.as_ref()) {
            continue;
        }
        let result = tokens.join(top.pair);
        merges.push((top.pair, result));
        for &w in &top.words {
            let w = w as usize;
            let count = words.count(w);
            words.merge(
                w,
                top.pair,
                result,
                &tokens.lens,
                config.max_length,
                |pair, delta| {
                    *pair_counts.entry(pair).or_default() += delta * count;
                    if delta > 0 {
                        let list = gained.entry(pair).or_default();
                        if list.last() != Some(&(w as u32)) {
                            list.push(w as u32);
                        }
                    }
                },
            );
        }
        for (pair, words) in gained.drain() {
            let count = pair_counts[&pair];
            if count > 0 {
                queue.push(Entry { count, pair, words });
            }
        }
        let done = (tokens.size - start_size) as u64;
        if done >= reported + step {
            reported = done;
            progress.update("merges", done, total);
        }
    }
    progress.update("merges", (tokens.size - start_size) as u64, total);
    merges
}
