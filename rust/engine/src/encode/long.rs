//! Long pieces: a linked list over the bytes and a queue of pending pairs bucketed by rank.
//!
//! A long piece (a run of one letter, spaces, base64 or CJK without punctuation, minified code
//! with the `none` pre-tokenizer...) is a doubly linked list of tokens over its byte positions.
//! Every adjacent pair that has a merge is queued under its rank. The lowest non-empty rank's
//! bucket is taken whole, sorted by position, and merged left to right; each merge re-reads the
//! pair at its position (a stale entry, whose node was merged away or whose pair changed, no
//! longer has that rank and is skipped) and queues the two pairs it creates. Merging never
//! reorders nodes, so this is exactly "lowest rank, leftmost first" as long as no merge creates
//! a pair ranked at or below the bucket being processed (true for trained merge lists and
//! tiktoken files; when it does happen, the rest of the bucket is queued again and the minimum
//! re-picked).
//!
//! # Cost
//!
//! Each merge queues at most two pairs, so a piece of `n` bytes sees at most `3n` queue entries,
//! and a bucket of `k` entries is sorted in `O(k log k)`: the worst case is `O(n log n)`, against
//! tiktoken's `O(n²)` rescans. The queue avoids hashing and heaps: buckets are indexed directly by
//! rank, and a two-level bitmap of non-empty ranks (one bit per rank, one summary bit per 64
//! ranks) finds the next rank with a few word scans from a cursor that only moves forward unless
//! a lower rank is pushed. The buckets live in a per-thread scratch that is reused across pieces
//! (every bucket is empty again when a piece is done), so a piece allocates only its list.

use super::cache::ModelTag;
use super::{pair_key, BpeModel, PairMerge, DEAD, NO_RANK};
use crate::vocab::TokenId;
use std::cell::RefCell;

/// "No previous node".
const NONE: u32 = u32::MAX;
/// Bucket allocations up to this many entries are kept in the scratch for the next piece.
const KEEP_BUCKET: usize = 1 << 12;

impl BpeModel {
    /// Merge a piece of any length in `O(n log n)`.
    pub(super) fn encode_long(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        SCRATCH.with(|scratch| {
            let mut queue = scratch.borrow_mut();
            queue.prepare(self);
            self.merge_list(piece, &mut queue, out);
        })
    }

    fn merge_list(&self, piece: &[u8], queue: &mut RankQueue, out: &mut Vec<TokenId>) {
        let mut list = PieceList::new(piece, &self.byte_ids);
        for (i, w) in (0..).zip(piece.windows(2)) {
            queue.push(self.byte_rank(w[0], w[1]), i);
        }
        while let Some((rank, mut positions, slot)) = queue.pop() {
            positions.sort_unstable();
            for (i, &pos) in positions.iter().enumerate() {
                if !self.try_merge(&mut list, queue, rank, pos) {
                    continue;
                }
                if queue.min_rank().is_some_and(|r| r <= rank) {
                    // A merge created a pair ranked no higher than this bucket (possible only with
                    // inconsistent merge lists): hand the rest back and re-pick the minimum.
                    for &rest in &positions[i + 1..] {
                        queue.push(rank, rest);
                    }
                    break;
                }
            }
            queue.recycle(slot, positions);
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
        let m = queue.memo.merge_of(self, left, list.id(right_pos));
        if m.rank != rank {
            return false; // stale: the pair at `pos` changed since it was queued
        }
        let (before, after) = list.merge(pos, right_pos, m.result);
        if after != list.end {
            let r = queue.memo.merge_of(self, m.result, list.id(after));
            queue.push(r.rank, pos);
        }
        if before != NONE {
            let l = queue.memo.merge_of(self, list.id(before), m.result);
            queue.push(l.rank, before);
        }
        true
    }
}

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

thread_local! {
    static SCRATCH: RefCell<RankQueue> = RefCell::new(RankQueue::default());
}

/// Slots of the [`PairMemo`] (a power of two).
const MEMO_SLOTS: usize = 1024;
/// An empty [`PairMemo`] slot (no lookup uses the dead id).
const NO_KEY: u64 = u64::MAX;

/// A direct-mapped memo of pair-table lookups. Long pieces repeat a few pairs very often (runs,
/// CJK lead and continuation bytes); a hit reads one slot instead of probing the whole table.
struct PairMemo {
    owner: Option<ModelTag>,
    slots: Box<[(u64, PairMerge)]>,
}

impl Default for PairMemo {
    fn default() -> Self {
        let empty = PairMerge {
            rank: NO_RANK,
            result: DEAD,
        };
        PairMemo {
            owner: None,
            slots: vec![(NO_KEY, empty); MEMO_SLOTS].into_boxed_slice(),
        }
    }
}

impl PairMemo {
    #[inline]
    fn merge_of(&mut self, model: &BpeModel, left: TokenId, right: TokenId) -> PairMerge {
        let key = pair_key(left, right);
        let at = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize % MEMO_SLOTS;
        let slot = &mut self.slots[at];
        if slot.0 != key {
            *slot = (key, model.merge_of(left, right));
        }
        slot.1
    }
}

/// Pending pairs: per rank, the positions of the pairs' left nodes (see the module docs).
///
/// A rank's bucket is a slab from a pool (`slot_of[r]` is 1 + its index, 0 when the rank has
/// none), so making room for 200k ranks writes one `u32` each instead of a `Vec` header each, and
/// slabs keep their allocations from piece to piece.
#[derive(Default)]
struct RankQueue {
    memo: PairMemo,
    slot_of: Vec<u32>,
    slabs: Vec<Vec<u32>>,
    /// Slabs not assigned to a rank (1-based, like `slot_of`).
    free: Vec<u32>,
    /// Bit `r` set when rank `r` has a bucket.
    words: Vec<u64>,
    /// Bit `w` set when `words[w]` is non-zero.
    summary: Vec<u64>,
    /// No rank below this is queued.
    cursor: u32,
}

impl RankQueue {
    /// Make room for `model`'s ranks and forget another model's memoised pairs.
    fn prepare(&mut self, model: &BpeModel) {
        if self.memo.owner != Some(model.tag) {
            self.memo = PairMemo {
                owner: Some(model.tag),
                ..PairMemo::default()
            };
        }
        let limit = model.rank_limit;
        if self.slot_of.len() < limit {
            self.slot_of.resize(limit, 0);
            self.words.resize(limit.div_ceil(64), 0);
            self.summary.resize(limit.div_ceil(64 * 64), 0);
        }
    }

    #[inline]
    fn push(&mut self, rank: u32, pos: u32) {
        if rank == NO_RANK {
            return;
        }
        let r = rank as usize;
        let mut slot = self.slot_of[r];
        if slot == 0 {
            slot = self.free.pop().unwrap_or_else(|| {
                self.slabs.push(Vec::new());
                self.slabs.len() as u32
            });
            self.slot_of[r] = slot;
            self.words[r / 64] |= 1 << (r % 64);
            self.summary[r / 4096] |= 1 << (r / 64 % 64);
            self.cursor = self.cursor.min(rank);
        }
        self.slabs[slot as usize - 1].push(pos);
    }

    /// The lowest queued rank.
    fn min_rank(&mut self) -> Option<u32> {
        let mut w = self.cursor as usize / 64;
        // Finish the cursor's summary word, then scan whole summary words.
        let mut s = w / 64;
        let mut mask = self.summary.get(s)? & (!0u64 << (w % 64));
        loop {
            if mask != 0 {
                w = s * 64 + mask.trailing_zeros() as usize;
                let rank = w * 64 + self.words[w].trailing_zeros() as usize;
                self.cursor = rank as u32;
                return Some(self.cursor);
            }
            s += 1;
            mask = *self.summary.get(s)?;
        }
    }

    /// Take the lowest rank's bucket (unsorted) and the slab it came from.
    fn pop(&mut self) -> Option<(u32, Vec<u32>, u32)> {
        let rank = self.min_rank()?;
        let r = rank as usize;
        self.words[r / 64] &= !(1 << (r % 64));
        if self.words[r / 64] == 0 {
            self.summary[r / 4096] &= !(1 << (r / 64 % 64));
        }
        let slot = std::mem::take(&mut self.slot_of[r]);
        let positions = std::mem::take(&mut self.slabs[slot as usize - 1]);
        Some((rank, positions, slot))
    }

    /// Return a popped bucket's slab to the pool, keeping its allocation unless it is so large
    /// that keeping it would hold memory after a huge piece.
    fn recycle(&mut self, slot: u32, mut positions: Vec<u32>) {
        if positions.capacity() <= KEEP_BUCKET {
            positions.clear();
            self.slabs[slot as usize - 1] = positions;
        }
        self.free.push(slot);
    }
}
