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
//! # Algorithm: which path a piece takes
//!
//! - Whole-token lookup: with `ignore_merges`, a piece that is a token is emitted at once (most
//!   prose pieces end here; see [`index`] for the inline-key table). Under a rank file's merges
//!   a piece of two bytes skips it: its byte pair's entry in the dense 256 KiB byte-pair table is
//!   already the answer. One of three bytes that missed goes straight to its two byte pairs (see
//!   [`tiny`]). On random letters and base64 (a fifth and a quarter of the pieces have two
//!   bytes) that was 1.07x and 1.10x faster.
//! - A per-thread memo of recently merged pieces answers repeats; a stream of pieces stops
//!   consulting it for a while after a window of misses (see [`cache`]).
//! - Short pieces (at most [`SHORT_PIECE`] bytes) use a flat array on the stack: find the
//!   lowest-ranked pair by a linear scan, merge it, refresh the two neighbouring pair ranks.
//!   Quadratic, but with tiny constants and no allocation. Under a rank file's merges, pieces
//!   of at most 7 bytes (random letters, base64) keep their bytes and token starts in
//!   registers (see [`tiny`]).
//! - Long pieces made of few runs of equal bytes (a run of one letter, of spaces) are merged run
//!   by run (see [`runs`]).
//! - Other long pieces are cut into short chunks, joined where the two tokens at a cut are a
//!   valid pair and repaired in a small window where not (see [`chunks`]); where repairs
//!   outgrow the short path, a linked list and rank-bucketed queue, `O(n log n)` in the worst
//!   case (see [`long`]). Pieces of 256 KiB or more are first cut into a few parts per thread
//!   of the current rayon pool, encoded in parallel, and the cuts between parts tested like
//!   the others (a failed one is repaired by encoding a window around it again).
//!
//! A text's pieces are independent, so [`PieceStream`] takes them a few ahead of encoding: when
//! a piece arrives its whole-token lookup (filter word and bucket) is prefetched, and it is
//! encoded [`AHEAD`] pieces later, by which time the lines have arrived. Lookups into megabyte
//! tables then overlap instead of each stalling the pre-tokenizer's branchy scan.
//!
//! The merges live in one hash table keyed by the packed pair `left << 32 | right`, a
//! [`table::LineTable`] whose lookups read one cache line; the merges of two single-byte tokens
//! (the first lookups of every piece) also sit in a dense 65,536-entry table. When the merges
//! are a rank file's (every split of a token into two tokens, ranked by the token's id; checked
//! when the model is built), the short path (and so the chunk path's cut test) finds a pair's
//! merge by its joined bytes in the whole-token index instead, a quarter of the pair table's
//! size (see [`merges_are_all_splits`]).
//!
//! Worst case over all paths: `O(n log n)` for a piece of `n` bytes. The run and chunk paths
//! are linear when they succeed (a repair of a chunk cut re-encodes windows doubling up to
//! [`SHORT_PIECE`] bytes, under twice that in all, and there are fewer repairs than chunks)
//! and, when they give up, cost at most one more linear pass before the list path. A piece encoded in parts adds, at worst, one encoding of
//! the piece so far per part (a constant number per thread) for the repairs of their cuts.

mod cache;
mod chunks;
mod index;
mod long;
mod runs;
mod table;
mod tiny;

pub use table::prefetch_line;

use crate::vocab::{TokenId, Vocab};
use cache::{MemoGate, ModelTag};
pub(crate) use chunks::PARALLEL_MIN as PIECE_PARALLEL_MIN;
use index::ShortPiece;
pub(crate) use index::TokenIndex;
use rayon::prelude::*;
use table::{fits_line, LineTable};

/// Pieces up to this many bytes use the stack-array loop; longer ones use the rank queue.
const SHORT_PIECE: usize = 128;
/// Pieces up to this many bytes use smaller stack arrays.
const SMALL_PIECE: usize = 16;
/// Rank of "no merge applies".
const NO_RANK: u32 = u32::MAX;
/// "No token": the result of "no merge", and a linked-list node merged into its left neighbour.
const DEAD: TokenId = TokenId::MAX;

/// The outcome of merging one adjacent pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PairMerge {
    rank: u32,
    result: TokenId,
}

const NO_MERGE: PairMerge = PairMerge {
    rank: NO_RANK,
    result: DEAD,
};

/// Pair key -> merge, four to a cache line.
type PairTable = LineTable<u64, PairMerge, 4>;
const _: () = assert!(fits_line::<u64, PairMerge, 4>());

/// Bloom filter bits per merge in the pair table.
const PAIR_FILTER_BITS: usize = 6;

fn pair_key(left: TokenId, right: TokenId) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

/// Ranked-merge BPE over bytes.
#[derive(Clone, Debug)]
pub struct BpeModel {
    byte_ids: [TokenId; 256],
    /// The merge of every pair of single-byte tokens, indexed by `first << 8 | second`: the
    /// first lookups of every piece, dense so that the pairs of real text share a few lines.
    /// Ranks and results are apart: the rank-only readers (the list path, and every reader
    /// under a rank file's merges, where a result is its rank) touch half the bytes.
    byte_ranks: Box<[u32; 1 << 16]>,
    byte_results: Box<[TokenId; 1 << 16]>,
    pairs: PairTable,
    /// Ordinary token bytes -> id, for `ignore_merges` and for checking chunk cuts.
    tokens: TokenIndex,
    /// Byte length of each id's token, capped at 255 (for checking chunk cuts).
    token_lens: Box<[u8]>,
    /// Whether long pieces may be cut into chunks: no two ordinary tokens have the same bytes
    /// (a condition of the cut test this path started with, which found tokens by their
    /// bytes; the valid-pair test compares ids, but vocabularies with duplicates still take
    /// the list path, untested otherwise).
    chunkable: bool,
    /// Whether a pair's merge can be found from its bytes alone (see [`merges_are_all_splits`]).
    pairs_by_bytes: bool,
    /// Marks this model's entries in the per-thread memo of merged pieces.
    tag: ModelTag,
    /// One more than the highest merge rank (the long-piece queue's bucket count).
    rank_limit: usize,
    ignore_merges: bool,
}

impl BpeModel {
    /// Build the pair table from `vocab.merges()`. When a pair appears twice, its lowest rank
    /// counts (the later duplicate could never fire).
    pub fn new(vocab: &Vocab) -> Self {
        let mut pairs = PairTable::with_capacity(vocab.merges().len());
        for m in vocab.merges() {
            let merge = PairMerge {
                rank: m.rank,
                result: m.result,
            };
            let key = pair_key(m.left, m.right);
            if pairs.get(key).is_none_or(|old| merge.rank < old.rank) {
                pairs.insert(key, merge);
            }
        }
        // Most pair lookups on text without repeats miss: let an L2-sized filter answer them.
        let pairs = pairs.with_filter(PAIR_FILTER_BITS);
        let tokens = TokenIndex::new(vocab.ordinary_tokens());
        let mut token_lens = vec![0u8; vocab.len()];
        for (id, bytes) in vocab.ordinary_tokens() {
            if let Some(len) = token_lens.get_mut(id as usize) {
                *len = bytes.len().min(255) as u8;
            }
        }
        let chunkable = tokens.is_distinct();
        let pairs_by_bytes = chunkable && merges_are_all_splits(vocab, &tokens, pairs.len());
        let rank_limit = vocab.merges().iter().map(|m| m.rank as usize + 1).max();
        let byte_ids: [TokenId; 256] = std::array::from_fn(|b| vocab.byte_id(b as u8));
        let byte_pairs: Vec<PairMerge> = (0..1usize << 16)
            .map(|ab| {
                let (a, b) = (byte_ids[ab >> 8], byte_ids[ab & 0xff]);
                pairs.get(pair_key(a, b)).unwrap_or(NO_MERGE)
            })
            .collect();
        let dense = |field: fn(&PairMerge) -> u32| -> Box<[u32; 1 << 16]> {
            let all: Box<[u32]> = byte_pairs.iter().map(field).collect();
            all.try_into().expect("one entry per byte pair")
        };
        BpeModel {
            rank_limit: rank_limit.unwrap_or(0),
            byte_ids,
            byte_ranks: dense(|m| m.rank),
            byte_results: dense(|m| m.result),
            pairs,
            tokens,
            token_lens: token_lens.into_boxed_slice(),
            chunkable,
            pairs_by_bytes,
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
        self.encode_gated(piece, out, &mut MemoGate::default())
    }

    /// [`BpeModel::encode_piece`] for one of a stream of pieces that share `gate`.
    #[inline]
    fn encode_gated(&self, piece: &[u8], out: &mut Vec<TokenId>, gate: &mut MemoGate) {
        if let [a, b] = *piece {
            if self.pairs_by_bytes {
                return self.merge_two(a, b, out);
            }
        }
        if self.looks_up_whole(piece) {
            if let Some(id) = self.tokens.get(piece) {
                out.push(id);
                return;
            }
            // Three bytes need only their two byte pairs now (cheaper than the memo).
            if let [a, b, c] = *piece {
                if self.pairs_by_bytes {
                    return self.merge_three_apart(a, b, c, out);
                }
            }
        }
        self.merged(piece, out, gate)
    }

    /// Whether [`BpeModel::encode_gated`] starts with the whole-token lookup of `piece`. Not
    /// for two bytes under a rank file's merges: their pair's merge in the dense byte-pair table
    /// is the token of both bytes when there is one (every byte is a token and every split of a
    /// token into two tokens is a merge), and that table stays in L2 where the index does not.
    #[inline(always)]
    fn looks_up_whole(&self, piece: &[u8]) -> bool {
        self.ignore_merges && piece.len() > 1 && !(piece.len() == 2 && self.pairs_by_bytes)
    }

    /// Append the ids the merges make of `bytes` (no whole-token shortcut), through the memo
    /// when `gate` admits it.
    #[inline]
    fn merged(&self, bytes: &[u8], out: &mut Vec<TokenId>, gate: &mut MemoGate) {
        match bytes.len() {
            0 => {}
            1 => out.push(self.byte_id(bytes[0])),
            _ => cache::memoised(self.tag, bytes, out, gate, |out| {
                self.merge_piece(bytes, out)
            }),
        }
    }

    /// Run the merges on a piece of at least two bytes.
    #[inline]
    fn merge_piece(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        if piece.len() <= SHORT_PIECE {
            self.encode_short(piece, out)
        } else if !self.encode_runs(piece, out) {
            if self.chunkable {
                self.encode_chunked(piece, out)
            } else {
                self.encode_long(piece, out)
            }
        }
    }

    /// [`BpeModel::encode_piece`]'s ids as consecutive runs: one per part of a long piece that
    /// is encoded in parts on several threads, else one. A caller that copies the ids anyway
    /// (into a Python list) saves joining them: on a megabyte of CJK, 2.8 MB of ids written
    /// once more into fresh pages, on the calling thread.
    pub(crate) fn encode_piece_runs(&self, piece: &[u8]) -> Vec<Vec<TokenId>> {
        let mut out = Vec::new();
        let whole_token = self.looks_up_whole(piece) && self.tokens.get(piece).is_some();
        if piece.len() <= SHORT_PIECE || whole_token || !self.chunkable {
            self.encode_piece(piece, &mut out);
            return vec![out];
        }
        if self.encode_runs(piece, &mut out) {
            return vec![out];
        }
        self.encode_chunked_runs(piece)
    }

    /// The ids of `piece` as a new vector.
    pub fn encode_piece_to_vec(&self, piece: &[u8]) -> Vec<TokenId> {
        let mut out = Vec::new();
        self.encode_piece(piece, &mut out);
        out
    }

    /// Byte length of token `id` (capped at 255; 0 for an unknown id).
    #[inline]
    fn token_len(&self, id: TokenId) -> usize {
        self.token_lens
            .get(id as usize)
            .map_or(0, |&n| usize::from(n))
    }

    /// The single-byte token of `b`.
    #[inline(always)]
    fn byte_id(&self, b: u8) -> TokenId {
        self.byte_ids[usize::from(b)]
    }

    /// The rank of merging the single-byte tokens of `a` and `b` (under a rank file's merges,
    /// also the id of the result).
    #[inline(always)]
    fn byte_rank(&self, a: u8, b: u8) -> u32 {
        self.byte_ranks[usize::from(u16::from_be_bytes([a, b]))]
    }

    /// The merge of the single-byte tokens of `a` and `b`.
    #[inline(always)]
    fn byte_pair(&self, a: u8, b: u8) -> PairMerge {
        let ab = usize::from(u16::from_be_bytes([a, b]));
        PairMerge {
            rank: self.byte_ranks[ab],
            result: self.byte_results[ab],
        }
    }

    #[inline]
    fn merge_of(&self, left: TokenId, right: TokenId) -> PairMerge {
        self.pairs.get(pair_key(left, right)).unwrap_or(NO_MERGE)
    }

    /// The merge of the tokens whose bytes, joined, are `joined`, when
    /// [`BpeModel::pairs_by_bytes`] holds: the token with those bytes, ranked by its id.
    #[inline]
    fn merge_by_bytes(&self, joined: &[u8]) -> PairMerge {
        self.tokens.get(joined).map_or(NO_MERGE, |id| PairMerge {
            rank: id,
            result: id,
        })
    }

    /// Quadratic loop over stack arrays, for pieces of at most [`SHORT_PIECE`] bytes.
    #[inline]
    fn encode_short(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        // Stack arrays sized to the piece class, so short pieces do not pay to initialise 128.
        // The small class has arrays of twice its pieces' length, so that removing a token
        // shifts a fixed window (a few vector moves) instead of calling memmove.
        match (piece.len() <= SMALL_PIECE, self.pairs_by_bytes) {
            (true, true) if piece.len() <= ShortPiece::MAX_LEN => self.merge_tiny(piece, out),
            (true, true) => self.merge_short::<{ 2 * SMALL_PIECE }, SMALL_PIECE, true>(piece, out),
            (true, false) => {
                self.merge_short::<{ 2 * SMALL_PIECE }, SMALL_PIECE, false>(piece, out)
            }
            (false, true) => self.merge_short::<{ SHORT_PIECE + 1 }, 0, true>(piece, out),
            (false, false) => self.merge_short::<{ SHORT_PIECE + 1 }, 0, false>(piece, out),
        }
    }

    /// The merge of tokens `i` and `i + 1` in [`BpeModel::merge_short`]'s arrays (inlined: it is
    /// called twice per merge, and a call costs about as much as the lookup's arithmetic).
    #[inline(always)]
    fn short_pair<const CAP: usize, const BY_BYTES: bool>(
        &self,
        piece: &[u8],
        ids: &[TokenId; CAP],
        starts: &[u8; CAP],
        i: usize,
    ) -> PairMerge {
        if BY_BYTES {
            let (from, to) = (usize::from(starts[i]), usize::from(starts[i + 2]));
            self.merge_by_bytes(&piece[from..to])
        } else {
            self.merge_of(ids[i], ids[i + 1])
        }
    }

    /// [`BpeModel::encode_short`] with arrays of `CAP` entries, pairs looked up by their bytes
    /// (`BY_BYTES`) or by their ids, and tokens removed by shifting `WINDOW` entries (0: the
    /// rest of the piece; otherwise `piece.len() <= WINDOW` and `2 * WINDOW <= CAP`).
    fn merge_short<const CAP: usize, const WINDOW: usize, const BY_BYTES: bool>(
        &self,
        piece: &[u8],
        out: &mut Vec<TokenId>,
    ) {
        // ids[i] = token i; merges[i] = the merge of (token i, token i + 1); with `BY_BYTES`,
        // starts[i] = where token i starts (token `len`, past the end, starts at the end).
        let mut ids = [0 as TokenId; CAP];
        let mut merges = [NO_MERGE; CAP];
        let mut starts = [0u8; CAP];
        let mut len = piece.len();
        for (slot, &b) in ids.iter_mut().zip(piece) {
            *slot = self.byte_id(b);
        }
        for (m, w) in merges.iter_mut().zip(piece.windows(2)) {
            *m = if BY_BYTES {
                let rank = self.byte_rank(w[0], w[1]);
                PairMerge { rank, result: rank }
            } else {
                self.byte_pair(w[0], w[1])
            };
        }
        if BY_BYTES {
            // Offsets of at most SHORT_PIECE = 128 fit a byte.
            for (i, s) in starts.iter_mut().enumerate().take(len + 1) {
                *s = i as u8;
            }
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
            remove::<_, CAP, WINDOW>(&mut ids, at + 1, len);
            remove::<_, CAP, WINDOW>(&mut merges, at + 1, len);
            if BY_BYTES {
                remove::<_, CAP, WINDOW>(&mut starts, at + 1, len + 1);
            }
            len -= 1;
            merges[at] = if at + 1 < len {
                self.short_pair::<CAP, BY_BYTES>(piece, &ids, &starts, at)
            } else {
                NO_MERGE
            };
            if at > 0 {
                merges[at - 1] = self.short_pair::<CAP, BY_BYTES>(piece, &ids, &starts, at - 1);
            }
            if len == 1 {
                break;
            }
        }
        out.extend_from_slice(&ids[..len]);
    }
}

/// Remove entry `at` of `a[..len]`, shifting the rest left: exactly the rest when `WINDOW` is 0,
/// else the `WINDOW` entries after `at` (entries past them stay as they were, so a tail that
/// holds one value, such as "no merge", keeps holding it).
#[inline(always)]
fn remove<T: Copy, const CAP: usize, const WINDOW: usize>(a: &mut [T; CAP], at: usize, len: usize) {
    if WINDOW == 0 {
        a.copy_within(at + 1..len, at);
    } else {
        a.copy_within(at + 1..at + 1 + WINDOW, at);
    }
}

/// Append consecutive `runs` of ids to `out`. When `out` is empty the first run's vector becomes
/// `out` instead of being copied (growing it then moves its pages rather than its ids).
pub(crate) fn append_runs(out: &mut Vec<TokenId>, runs: Vec<Vec<TokenId>>) {
    let mut runs = runs.into_iter();
    if out.is_empty() {
        *out = runs.next().unwrap_or_default();
    }
    let rest = runs.as_slice();
    out.reserve(rest.iter().map(Vec::len).sum());
    for ids in rest {
        out.extend_from_slice(ids);
    }
}

/// Whether the merge of two adjacent tokens can be found by their joined bytes.
///
/// A tiktoken rank file defines the merges implicitly: two adjacent tokens merge when their
/// joined bytes are a token, ranked by that token's id, so every split of a token into two
/// tokens is a merge. When a model's merges are exactly these, the merge of a pair is the
/// whole-token lookup of its bytes. That index (about 4 MiB for o200k, mostly tokens of at most
/// 7 bytes in 2.3 MiB) is a quarter of the pair table (446k merges, about 10 MiB), so on text
/// whose pieces are not tokens (random letters, base64, CJK) far more of the lookups are
/// answered from L2 instead of memory.
///
/// This holds when `vocab`'s merges are exactly "every split of a token into two tokens, ranked
/// by the token's id" (the merges [`Vocab::from_ranks`] derives), given that `distinct_pairs` of
/// them are distinct pairs and no two tokens share bytes. Every merge is already known to join
/// its two tokens' bytes into its result's, so the merges are a subset of the splits, and equal
/// counts make them all of them.
fn merges_are_all_splits(vocab: &Vocab, tokens: &TokenIndex, distinct_pairs: usize) -> bool {
    // Derived that way by `Vocab::from_ranks` (the tests check it against the count below).
    vocab.merges_are_splits() || splits_are_the_merges(vocab, tokens, distinct_pairs)
}

/// [`merges_are_all_splits`] by counting the splits of every token.
fn splits_are_the_merges(vocab: &Vocab, tokens: &TokenIndex, distinct_pairs: usize) -> bool {
    if !vocab.ranks_are_ids() || distinct_pairs != vocab.merges().len() {
        return false;
    }
    // Found in parallel, as `Vocab::from_ranks` finds them (about 50 ms on one core for o200k).
    let tokens_bytes: Vec<&[u8]> = vocab.ordinary_tokens().map(|(_, b)| b).collect();
    let splits: usize = tokens_bytes
        .par_iter()
        .map(|bytes| {
            (1..bytes.len())
                .filter(|&k| tokens.get(&bytes[..k]).is_some() && tokens.get(&bytes[k..]).is_some())
                .count()
        })
        .sum();
    splits == distinct_pairs
}

/// How many pieces a [`PieceStream`] holds before encoding the oldest (a power of two).
const AHEAD: usize = 8;

/// Encodes a stream of pieces in order, prefetching each piece's lookups [`AHEAD`] pieces early.
pub struct PieceStream<'m, 't> {
    model: &'m BpeModel,
    ring: [&'t [u8]; AHEAD],
    /// Pieces pushed so far (the ring holds the last `min(pushed, AHEAD)`).
    pushed: usize,
    gate: MemoGate,
}

impl<'m, 't> PieceStream<'m, 't> {
    pub fn new(model: &'m BpeModel) -> Self {
        PieceStream {
            model,
            ring: [&[]; AHEAD],
            pushed: 0,
            gate: MemoGate::default(),
        }
    }

    /// Take the next piece; the piece pushed [`AHEAD`] calls ago is encoded into `out`.
    #[inline]
    pub fn push(&mut self, piece: &'t [u8], out: &mut Vec<TokenId>) {
        if self.model.looks_up_whole(piece) {
            self.model.tokens.prefetch(piece);
        }
        let slot = &mut self.ring[self.pushed % AHEAD];
        let oldest = std::mem::replace(slot, piece);
        self.pushed += 1;
        if self.pushed > AHEAD {
            self.model.encode_gated(oldest, out, &mut self.gate);
        }
    }

    /// Encode the pieces still held.
    pub fn finish(mut self, out: &mut Vec<TokenId>) {
        let held = self.pushed.min(AHEAD);
        for k in self.pushed - held..self.pushed {
            self.model
                .encode_gated(self.ring[k % AHEAD], out, &mut self.gate);
        }
    }
}

#[cfg(test)]
mod tests;
