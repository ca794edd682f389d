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
//!   use a doubly linked list over the byte positions and a queue of pending pairs grouped by
//!   rank (a min-heap of ranks; per rank, the positions of the pairs' left nodes). The lowest
//!   rank's bucket is taken whole, sorted, and merged left to right. Merging never reorders
//!   nodes, so this is exactly "lowest rank, leftmost first" as long as no merge creates a pair
//!   of rank <= the bucket's (true for trained merge lists and tiktoken files; when it does
//!   happen, the rest of the bucket goes back to the queue and the minimum is re-picked). Stale
//!   entries (a node merged away, or whose pair changed) are recognised by re-reading the
//!   current pair. Every merge queues at most two pairs and sorting costs `O(k log k)` per
//!   bucket, so the worst case is `O(n log n)` instead of tiktoken's `O(n²)`; unlike a heap of
//!   `(rank, position)` keys (tried first: a cache miss per heap level), the hot loop walks
//!   memory in order.

mod cache;
mod index;

use crate::vocab::{TokenId, Vocab};
use cache::ModelTag;
use index::TokenIndex;
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Pieces up to this many bytes use the stack-array loop; longer ones use the rank queue.
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
    tokens: TokenIndex,
    /// Marks this model's entries in the per-thread memo of merged pieces.
    tag: ModelTag,
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
        let tokens = TokenIndex::new(vocab.ordinary_tokens());
        BpeModel {
            byte_ids: std::array::from_fn(|b| vocab.byte_id(b as u8)),
            pairs,
            tokens,
            tag: ModelTag::fresh(),
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
        self.tokens.get(bytes)
    }

    /// Append the ids of `piece` to `out`.
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        match piece.len() {
            0 => {}
            1 => out.push(self.byte_ids[piece[0] as usize]),
            _ => {
                if self.ignore_merges {
                    if let Some(id) = self.tokens.get(piece) {
                        out.push(id);
                        return;
                    }
                }
                cache::memoised(self.tag, piece, out, |out| self.merge_piece(piece, out))
            }
        }
    }

    /// Run the merges on a piece of at least two bytes.
    #[inline]
    fn merge_piece(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        if piece.len() <= SHORT_PIECE {
            self.encode_short(piece, out)
        } else {
            self.encode_long(piece, out)
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

    /// Linked list + rank buckets; `O(n log n)` for any piece.
    fn encode_long(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        let mut list = PieceList::new(piece, &self.byte_ids);
        let mut queue = RankQueue::default();
        for i in 0..list.end - 1 {
            let m = self.merge_of(list.id(i), list.id(i + 1));
            queue.push(m.rank, i);
        }
        while let Some((rank, mut positions)) = queue.pop() {
            positions.sort_unstable();
            for (i, &pos) in positions.iter().enumerate() {
                if !self.try_merge(&mut list, &mut queue, rank, pos) {
                    continue;
                }
                if queue.min_rank().is_some_and(|r| r <= rank) {
                    // A merge created a pair ranked no higher than this bucket (possible only with
                    // inconsistent merge lists): hand the rest back and re-pick the minimum.
                    queue.extend(rank, &positions[i + 1..]);
                    break;
                }
            }
            queue.recycle(positions);
        }
        list.emit(out);
    }

    /// Merge the pair at `pos` if it is still there with `rank`; queue the two new pairs.
    #[inline]
    fn try_merge(&self, list: &mut PieceList, queue: &mut RankQueue, rank: u32, pos: u32) -> bool {
        let left = list.id(pos);
        let right_pos = list.next(pos);
        if left == DEAD || right_pos == list.end {
            return false;
        }
        let m = self.merge_of(left, list.id(right_pos));
        if m.rank != rank {
            return false; // stale: the pair at `pos` changed since it was queued
        }
        let (before, after) = list.merge(pos, right_pos, m.result);
        if after != list.end {
            let r = self.merge_of(m.result, list.id(after));
            queue.push(r.rank, pos);
        }
        if before != NONE {
            let l = self.merge_of(list.id(before), m.result);
            queue.push(l.rank, before);
        }
        true
    }
}

/// "No previous node" in [`PieceList`].
const NONE: u32 = u32::MAX;

/// One token of a [`PieceList`]; the three fields share a cache line.
#[derive(Clone, Copy)]
struct Node {
    id: TokenId,
    next: u32,
    prev: u32,
}

/// A doubly linked list of tokens over the byte positions of a piece.
struct PieceList {
    nodes: Vec<Node>,
    /// `piece.len()`: the `next` of the last node.
    end: u32,
}

impl PieceList {
    fn new(piece: &[u8], byte_ids: &[TokenId; 256]) -> Self {
        let end = u32::try_from(piece.len()).expect("pieces are shorter than 4 GiB");
        let nodes = (0..end)
            .zip(piece)
            .map(|(i, &b)| Node {
                id: byte_ids[b as usize],
                next: i + 1,
                prev: i.wrapping_sub(1),
            })
            .collect();
        PieceList { nodes, end }
    }

    #[inline]
    fn id(&self, pos: u32) -> TokenId {
        self.nodes[pos as usize].id
    }

    #[inline]
    fn next(&self, pos: u32) -> u32 {
        self.nodes[pos as usize].next
    }

    /// Replace `pos` and its right neighbour by `result`; return the new neighbours.
    #[inline]
    fn merge(&mut self, pos: u32, right_pos: u32, result: TokenId) -> (u32, u32) {
        let after = self.next(right_pos);
        self.nodes[right_pos as usize].id = DEAD;
        let node = &mut self.nodes[pos as usize];
        node.id = result;
        node.next = after;
        let before = node.prev;
        if after != self.end {
            self.nodes[after as usize].prev = pos;
        }
        (before, after)
    }

    fn emit(&self, out: &mut Vec<TokenId>) {
        let mut at = 0u32;
        while at != self.end {
            out.push(self.id(at));
            at = self.next(at);
        }
    }
}

/// Pending pairs grouped by rank: a min-heap of ranks, and per rank the left positions.
///
/// Buckets are taken whole and sorted, so a bucket's pairs are merged left to right with
/// sequential memory access (a heap of `(rank, position)` keys costs a cache miss per level).
#[derive(Default)]
struct RankQueue {
    buckets: FxHashMap<u32, Vec<u32>>,
    ranks: BinaryHeap<Reverse<u32>>,
    spare: Vec<Vec<u32>>,
}

impl RankQueue {
    #[inline]
    fn push(&mut self, rank: u32, pos: u32) {
        if rank == NO_RANK {
            return;
        }
        let spare = &mut self.spare;
        let bucket = self
            .buckets
            .entry(rank)
            .or_insert_with(|| spare.pop().unwrap_or_default());
        if bucket.is_empty() {
            self.ranks.push(Reverse(rank));
        }
        bucket.push(pos);
    }

    fn extend(&mut self, rank: u32, positions: &[u32]) {
        for &pos in positions {
            self.push(rank, pos);
        }
    }

    fn min_rank(&self) -> Option<u32> {
        self.ranks.peek().map(|r| r.0)
    }

    /// The lowest rank and its positions (unsorted).
    fn pop(&mut self) -> Option<(u32, Vec<u32>)> {
        while let Some(Reverse(rank)) = self.ranks.pop() {
            if let Some(positions) = self.buckets.remove(&rank) {
                if !positions.is_empty() {
                    return Some((rank, positions));
                }
            }
        }
        None
    }

    fn recycle(&mut self, mut positions: Vec<u32>) {
        positions.clear();
        self.spare.push(positions);
    }
}

#[cfg(test)]
mod tests;
