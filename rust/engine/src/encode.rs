//! Applying ranked merges to one pre-token ("piece").
//!
//! # Semantics
//!
//! A piece starts as its bytes, each mapped to its single-byte token. Then, repeatedly, the
//! adjacent pair `(left, right)` with the lowest merge rank is replaced by the merge's result;
//! on equal ranks the leftmost pair wins. This is HF tokenizers' BPE model and, with the merges
//! that [`Vocab::from_ranks`] derives (`rank = id of the result`), exactly tiktoken's
//! `byte_pair_merge`. With `ignore_merges`, a piece that is itself an ordinary token is emitted as
//! that token without merging (tiktoken always does this; HF has the same flag).
//!
//! # Algorithm
//!
//! - The merges live in one hash table keyed by the packed pair `left << 32 | right`.
//! - Short pieces (the vast majority of pre-tokens) use a flat array on the stack: find the
//!   lowest-ranked pair by a linear scan, merge it, refresh the two neighbouring pair ranks.
//!   Quadratic, but with tiny constants and no allocation.
//! - Long pieces (a run of one letter, base64, minified code with the `none` pre-tokenizer...)
//!   use a doubly linked list over the byte positions and a binary min-heap of
//!   `(rank, position)` keys. Merging never reorders nodes, so the position of a pair's left node
//!   orders pairs left to right, and popping the heap minimum gives exactly "lowest rank,
//!   leftmost". Stale heap entries (a node that was merged away, or whose pair changed) are
//!   recognised on pop by re-reading the current pair. Every merge pushes at most two entries,
//!   so the worst case is `O(n log n)` instead of tiktoken's `O(n²)`.

use crate::vocab::{TokenId, Vocab};
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Pieces up to this many bytes use the stack-array loop; longer ones use the heap.
const SHORT_PIECE: usize = 48;
/// Rank of "no merge applies".
const NO_RANK: u32 = u32::MAX;
/// Marks a linked-list node that was merged into its left neighbour.
const DEAD: TokenId = TokenId::MAX;

/// The outcome of merging one adjacent pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PairMerge {
    rank: u32,
    result: TokenId,
}

const NO_MERGE: PairMerge = PairMerge {
    rank: NO_RANK,
    result: DEAD,
};

fn pair_key(left: TokenId, right: TokenId) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

/// Ranked-merge BPE over bytes.
#[derive(Clone, Debug)]
pub struct BpeModel {
    byte_ids: [TokenId; 256],
    pairs: FxHashMap<u64, PairMerge>,
    /// Ordinary token bytes -> id, for `ignore_merges`.
    tokens: FxHashMap<Box<[u8]>, TokenId>,
    ignore_merges: bool,
}

impl BpeModel {
    /// Build the pair table from `vocab.merges()`. When a pair appears twice, its lowest rank
    /// counts (the later duplicate could never fire).
    pub fn new(vocab: &Vocab) -> Self {
        let mut pairs: FxHashMap<u64, PairMerge> = FxHashMap::default();
        pairs.reserve(vocab.merges().len());
        for m in vocab.merges() {
            let merge = PairMerge {
                rank: m.rank,
                result: m.result,
            };
            pairs
                .entry(pair_key(m.left, m.right))
                .and_modify(|old| {
                    if merge.rank < old.rank {
                        *old = merge
                    }
                })
                .or_insert(merge);
        }
        let tokens = vocab
            .ordinary_tokens()
            .map(|(id, bytes)| (Box::from(bytes), id))
            .collect();
        BpeModel {
            byte_ids: std::array::from_fn(|b| vocab.byte_id(b as u8)),
            pairs,
            tokens,
            ignore_merges: false,
        }
    }

    /// When `true`, a piece that is itself a token is emitted as that token (tiktoken's rule).
    pub fn with_ignore_merges(mut self, ignore_merges: bool) -> Self {
        self.ignore_merges = ignore_merges;
        self
    }

    pub fn ignore_merges(&self) -> bool {
        self.ignore_merges
    }

    /// The id of an ordinary token by its bytes.
    pub fn token_id(&self, bytes: &[u8]) -> Option<TokenId> {
        self.tokens.get(bytes).copied()
    }

    /// Append the ids of `piece` to `out`.
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        match piece.len() {
            0 => {}
            1 => out.push(self.byte_ids[piece[0] as usize]),
            n => {
                if self.ignore_merges {
                    if let Some(&id) = self.tokens.get(piece) {
                        out.push(id);
                        return;
                    }
                }
                if n <= SHORT_PIECE {
                    self.encode_short(piece, out)
                } else {
                    self.encode_long(piece, out)
                }
            }
        }
    }

    /// The ids of `piece` as a new vector.
    pub fn encode_piece_to_vec(&self, piece: &[u8]) -> Vec<TokenId> {
        let mut out = Vec::new();
        self.encode_piece(piece, &mut out);
        out
    }

    #[inline]
    fn merge_of(&self, left: TokenId, right: TokenId) -> PairMerge {
        self.pairs
            .get(&pair_key(left, right))
            .copied()
            .unwrap_or(NO_MERGE)
    }

    /// Quadratic loop over a stack array; `piece.len() <= SHORT_PIECE`.
    fn encode_short(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        // parts[i] = token i and the merge of (token i, token i + 1).
        let mut ids = [0 as TokenId; SHORT_PIECE];
        let mut merges = [NO_MERGE; SHORT_PIECE];
        let mut len = piece.len();
        for (slot, &b) in ids.iter_mut().zip(piece) {
            *slot = self.byte_ids[b as usize];
        }
        for i in 0..len - 1 {
            merges[i] = self.merge_of(ids[i], ids[i + 1]);
        }
        loop {
            let mut best = NO_RANK;
            let mut at = 0;
            for (i, m) in merges[..len - 1].iter().enumerate() {
                if m.rank < best {
                    best = m.rank;
                    at = i;
                }
            }
            if best == NO_RANK {
                break;
            }
            ids[at] = merges[at].result;
            ids.copy_within(at + 2..len, at + 1);
            merges.copy_within(at + 2..len, at + 1);
            len -= 1;
            merges[at] = if at + 1 < len {
                self.merge_of(ids[at], ids[at + 1])
            } else {
                NO_MERGE
            };
            if at > 0 {
                merges[at - 1] = self.merge_of(ids[at - 1], ids[at]);
            }
            if len == 1 {
                break;
            }
        }
        out.extend_from_slice(&ids[..len]);
    }

    /// Linked list + min-heap; `O(n log n)` for any piece.
    fn encode_long(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        let n = piece.len();
        debug_assert!(n < u32::MAX as usize);
        let end = n as u32;
        let mut ids: Vec<TokenId> = piece.iter().map(|&b| self.byte_ids[b as usize]).collect();
        let mut next: Vec<u32> = (1..=end).collect();
        // `u32::MAX` (wrapping 0 - 1) means "no previous node".
        let mut prev: Vec<u32> = (0..end).map(|i| i.wrapping_sub(1)).collect();
        let initial: Vec<Reverse<u64>> = (0..n - 1)
            .filter_map(|i| {
                let m = self.merge_of(ids[i], ids[i + 1]);
                (m.rank != NO_RANK).then(|| Reverse(heap_key(m.rank, i as u32)))
            })
            .collect();
        let mut heap = BinaryHeap::from(initial);
        while let Some(Reverse(key)) = heap.pop() {
            let (rank, pos) = ((key >> 32) as u32, key as u32);
            let left = ids[pos as usize];
            let right_pos = next[pos as usize];
            if left == DEAD || right_pos == end {
                continue;
            }
            let m = self.merge_of(left, ids[right_pos as usize]);
            if m.rank != rank {
                continue; // stale: the pair at `pos` changed since this entry was pushed
            }
            ids[pos as usize] = m.result;
            ids[right_pos as usize] = DEAD;
            let after = next[right_pos as usize];
            next[pos as usize] = after;
            if after != end {
                prev[after as usize] = pos;
                let r = self.merge_of(m.result, ids[after as usize]);
                if r.rank != NO_RANK {
                    heap.push(Reverse(heap_key(r.rank, pos)));
                }
            }
            let before = prev[pos as usize];
            if before != u32::MAX {
                let l = self.merge_of(ids[before as usize], m.result);
                if l.rank != NO_RANK {
                    heap.push(Reverse(heap_key(l.rank, before)));
                }
            }
        }
        let mut at = 0u32;
        while at != end {
            out.push(ids[at as usize]);
            at = next[at as usize];
        }
    }
}

fn heap_key(rank: u32, pos: u32) -> u64 {
    (u64::from(rank) << 32) | u64::from(pos)
}

#[cfg(test)]
mod tests;
