//! Long pieces cut into short chunks, joined where the cut provably changes nothing.
//!
//! A long piece of CJK without punctuation, a base64 blob, random letters under cl100k (one
//! piece of a megabyte), or a binary file under the `none` pre-tokenizer rarely has tokens
//! reaching far across any point. The piece is cut at UTF-8 char starts into chunks of about
//! [`CHUNK`] bytes, each encoded on its own by the short path (and the memo), and a cut is kept
//! only when it is proven harmless, by either of two tests on `x`, the last token of the left
//! side's encoding, and `y`, the first of the right side's:
//!
//! - **No merge crosses.** Merging never moves tokens, so the token at the right end of chunk
//!   `A` only ever grows leftwards: every token it has been is a suffix of its final one, `x`.
//!   Likewise every token at the left end of chunk `B` is a prefix of `y`. Merged as one piece,
//!   `A` and `B` evolve exactly as apart until a first merge joins a token ending at the cut
//!   with one starting there; that pair is (a suffix of `x` that is a token, a prefix of `y`
//!   that is a token). When no such pair has a merge, no merge ever crosses the cut and the
//!   encoding of `AB` is the encoding of `A` followed by that of `B` (ties between the two sides
//!   are broken leftmost first, which orders merges of different sides but changes neither
//!   side's result). With a rank file's merges, whether such a pair merges is looked up by its
//!   joined bytes in the whole-token index, as on the short path.
//! - **The pair is valid**: the bytes of `x` and `y`, merged alone, give `x, y`. Then the
//!   encodings join too (the "compatible pair" of GitHub's `bpe` crate). Write `P(s)` for the
//!   encoding of bytes `s`. If `P(LM)` ends with one token covering `M` and `P(MR)` starts
//!   with it, then `P(LMR) = P(L) + that token + P(R)`: before any merge crosses `L|M` or
//!   `M|R`, the three stretches evolve apart, `L` and `M` in the order they do in `P(LM)` (the
//!   next merge of each is compared the same way there). A first crossing merge at `L|M` would
//!   then be the lowest-ranked pair of `L` and `M`'s state at that moment, a state `P(LM)` also
//!   passes through, where it would cross too; but `P(LM)` keeps `M` whole. Likewise at `M|R`.
//!   With `L` = `A` less `x`, `M = x` and `R = y`: `P(A)` and `x, y` give `P(A y)` = `P(A)`, `y`;
//!   with `M = y` and `R` the rest of `B`, `P(A y)` and `P(B)` give `P(AB)`. (Any run of a
//!   valid encoding's tokens is the encoding of its bytes, by the same argument.)
//!
//! The first test is the cheaper and passes almost everywhere on CJK; random letters under
//! cl100k fail it at most cuts (almost every two letters are a token) and the second passes at
//! half of those: on a megabyte, 91k cuts passed the first, 40k the second, 45k failed.
//!
//! The tests must be made with the chunks' final encodings: when a chunk is later joined with
//! its right neighbour, its first token can change, and the cut on its left must be tested
//! again. Chunks therefore sit on a stack whose neighbouring cuts have all passed with the
//! current encodings: a new chunk is tested against the top; a failure pops the top, encodes the
//! two as one chunk, and tests that against the new top, and so on. Ids are written straight to
//! the output, the stack holding where each chunk's ids start. A joined chunk longer than
//! [`SHORT_PIECE`] bytes gives up: the whole piece then takes the list path ([`super::long`]),
//! so the waste is bounded by one more encoding of the piece.
//!
//! A piece of [`PARALLEL_MIN`] bytes or more is shared out between the threads of the current
//! rayon pool: it is cut into [`PARTS_PER_THREAD`] parts per thread (of at least [`PART_MIN`]
//! bytes; claimed in turn by the calling thread and pool helpers, see [`crate::share`]), each
//! part is encoded as above as if it were a piece of its own, and the parts are joined in order
//! on the calling thread. A cut between parts that fails both tests is repaired: the tokens
//! within [`REPAIR_REACH`] bytes of it on each side are encoded again as one window, which
//! replaces them when the window's own two cuts pass a test (the same argument, twice); else
//! the reach doubles, up to both sides whole (at worst the piece so far is encoded again at each
//! of the parts' cuts, and there are at most [`PARTS_PER_THREAD`] per thread). Until this repair, a failed cut re-encoded the two parts around it,
//! and each later cut failed again on random letters under cl100k: the megabyte took 160 ms,
//! now 22-25 ms. (With one part per thread, one thread slowed by a busy neighbour held the whole
//! call: on a megabyte of CJK the two halves took 15 and 24 ms. Parts of 128 KiB made seven of a
//! megabyte, one more for one thread than the other: 2.5 ms of idling at the end.)

use super::cache::MemoGate;
use super::{append_runs, BpeModel, NO_RANK, SHORT_PIECE};
use crate::share::share_out;
use crate::vocab::TokenId;
use std::ops::Range;

/// Bytes on each side of a failed seam between parts that the first repair encodes again (tiny
/// in tests, so that repairs widen).
const REPAIR_REACH: usize = if cfg!(test) { 1 } else { 32 };

/// Target chunk length in bytes (a chunk ends at the first char start at or after it).
const CHUNK: usize = 8;
/// Tokens longer than this at a cut are not examined: the cut is refused.
const EDGE: usize = 16;
/// Pieces at least this long are encoded in parts on several threads (small in tests, so that
/// the proptests' pieces are cut into parts).
pub(crate) const PARALLEL_MIN: usize = if cfg!(test) { 512 } else { 256 * 1024 };
/// No part is shorter than this.
const PART_MIN: usize = if cfg!(test) { 200 } else { 64 * 1024 };
/// Parts per pool thread (more parts than threads let the pool even out threads that run at
/// different speeds, as a machine's cores often do).
const PARTS_PER_THREAD: usize = 4;

/// A chunk on the stack: where its bytes and its ids start.
#[derive(Clone, Copy)]
struct Chunk {
    start: usize,
    ids: usize,
}

impl BpeModel {
    /// Encode a long piece chunk by chunk (see the module docs).
    pub(super) fn encode_chunked(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        let parts = if piece.len() < PARALLEL_MIN {
            1
        } else {
            (rayon::current_num_threads() * PARTS_PER_THREAD).min(piece.len() / PART_MIN)
        };
        if parts < 2 {
            self.encode_chunks(piece, out)
        } else {
            self.encode_parts(piece, parts, out)
        }
    }

    /// Encode `piece` cut into `parts` parts on the current rayon pool, then join the parts as
    /// the chunk loop joins chunks: a failed cut re-encodes the two parts around it as one, on
    /// this thread, and that part's cut to the left is tested again.
    fn encode_parts(&self, piece: &[u8], parts: usize, out: &mut Vec<TokenId>) {
        // The first cut is 0 even where the piece starts with continuation bytes.
        let cuts: Vec<usize> = (0..=parts)
            .map(|i| match i {
                0 => 0,
                _ => char_start(piece, piece.len() * i / parts),
            })
            .collect();
        let encode = |from: usize, to: usize| {
            let mut ids = Vec::with_capacity((to - from) / 2);
            self.encode_chunks(&piece[from..to], &mut ids);
            ids
        };
        let mut encoded = share_out(parts, |k| encode(cuts[k], cuts[k + 1])).into_iter();
        let mut joined = encoded.next().unwrap_or_default();
        let mut scratch = Vec::new();
        for (right, w) in encoded.zip(cuts.windows(2).skip(1)) {
            self.join_parts(piece, &mut joined, (w[0], w[1]), right, &mut scratch);
        }
        append_runs(out, vec![joined]);
    }

    /// Appends `right`, the encoding of the bytes of `piece` from `cut` to `end`, to `left`, the
    /// encoding of the bytes before `cut` (from the start of `piece`), repairing the seam where
    /// the two do not simply join: the tokens within `reach` bytes of the cut on both sides are
    /// encoded again as one window, which is kept when its own two seams hold; otherwise the
    /// window doubles, up to both sides whole (see the module docs).
    fn join_parts(
        &self,
        piece: &[u8],
        left: &mut Vec<TokenId>,
        (cut, end): (usize, usize),
        right: Vec<TokenId>,
        scratch: &mut Vec<TokenId>,
    ) {
        let holds =
            |x: Option<&TokenId>, at: usize, y: Option<&TokenId>, scratch: &mut _| match (x, y) {
                (Some(&x), Some(&y)) => self.seam_holds(piece, at, x, y, scratch),
                _ => true,
            };
        if holds(left.last(), cut, right.first(), scratch) {
            left.extend_from_slice(&right);
            return;
        }
        let mut reach = REPAIR_REACH;
        loop {
            let (keep, from) = self.tokens_before(left, 0..cut, reach);
            let (skip, to) = self.tokens_after(&right, cut..end, reach);
            let mut window = Vec::new();
            self.merge_piece(&piece[from..to], &mut window);
            let whole = keep == 0 && skip == right.len();
            if whole
                || (holds(left[..keep].last(), from, window.first(), scratch)
                    && holds(window.last(), to, right[skip..].first(), scratch))
            {
                left.truncate(keep);
                left.extend_from_slice(&window);
                left.extend_from_slice(&right[skip..]);
                return;
            }
            reach *= 2;
        }
    }

    /// How many of `ids`, the tokens of `span`, to keep so that the dropped ones (at its end)
    /// cover at least `reach` bytes, and where the kept ones end. All are dropped when a
    /// token's length is not known exactly.
    fn tokens_before(&self, ids: &[TokenId], span: Range<usize>, reach: usize) -> (usize, usize) {
        let mut at = span.end;
        for (k, &id) in ids.iter().enumerate().rev() {
            if span.end - at >= reach {
                return (k + 1, at);
            }
            match self.exact_len(id) {
                Some(n) => at -= n,
                None => break,
            }
        }
        (0, span.start)
    }

    /// How many of `ids`, the tokens of `span`, to drop so that the dropped ones (at its start)
    /// cover at least `reach` bytes, and where the rest start. All are dropped when a token's
    /// length is not known exactly.
    fn tokens_after(&self, ids: &[TokenId], span: Range<usize>, reach: usize) -> (usize, usize) {
        let mut at = span.start;
        for (k, &id) in ids.iter().enumerate() {
            if at - span.start >= reach {
                return (k, at);
            }
            match self.exact_len(id) {
                Some(n) => at += n,
                None => break,
            }
        }
        (ids.len(), span.end)
    }

    /// The byte length of token `id`, unless it is not known exactly (the lengths are capped).
    fn exact_len(&self, id: TokenId) -> Option<usize> {
        let n = self.token_len(id);
        (n > 0 && n < usize::from(u8::MAX)).then_some(n)
    }

    /// The sequential chunk loop (see the module docs).
    fn encode_chunks(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        let first_id = out.len();
        let mut stack: Vec<Chunk> = Vec::with_capacity(piece.len() / CHUNK + 1);
        let mut start = 0;
        let mut gate = MemoGate::default();
        while start < piece.len() {
            let end = next_cut(piece, start);
            let mut chunk = Chunk {
                start,
                ids: out.len(),
            };
            self.merged(&piece[start..end], out, &mut gate);
            while let Some(&top) = stack.last() {
                let (x, y) = (out[chunk.ids - 1], out[chunk.ids]);
                if self.seam_holds(piece, chunk.start, x, y, out) {
                    break;
                }
                if end - top.start > SHORT_PIECE {
                    out.truncate(first_id);
                    return self.encode_long(piece, out);
                }
                stack.pop();
                out.truncate(top.ids);
                // Chunks are merged without the whole-token shortcut: it applies to whole pieces.
                self.merged(&piece[top.start..end], out, &mut gate);
                chunk = top;
            }
            stack.push(chunk);
            start = end;
        }
    }

    /// Whether the encodings on the two sides of `cut`, whose tokens there are `x` (ending at
    /// `cut`) and `y` (starting there), joined are the encoding across it (see the module docs).
    /// `scratch` is used past its end and left as it was.
    fn seam_holds(
        &self,
        piece: &[u8],
        cut: usize,
        x: TokenId,
        y: TokenId,
        scratch: &mut Vec<TokenId>,
    ) -> bool {
        self.never_joins(piece, cut, x, y) || self.valid_pair(piece, cut, x, y, scratch)
    }

    /// Whether the bytes of `x` and `y` (around `cut`), merged alone, give `x` and `y` again.
    fn valid_pair(
        &self,
        piece: &[u8],
        cut: usize,
        x: TokenId,
        y: TokenId,
        scratch: &mut Vec<TokenId>,
    ) -> bool {
        let (x_len, y_len) = (self.token_len(x), self.token_len(y));
        if x_len == 0 || y_len == 0 || x_len + y_len > SHORT_PIECE {
            return false;
        }
        let at = scratch.len();
        self.encode_short(&piece[cut - x_len..cut + y_len], scratch);
        let valid = scratch[at..] == [x, y];
        scratch.truncate(at);
        valid
    }

    /// Whether no merge can join a token ending at `cut` with one starting there, given the
    /// final tokens `x` (ending at `cut`) and `y` (starting there).
    fn never_joins(&self, piece: &[u8], cut: usize, x: TokenId, y: TokenId) -> bool {
        let (x_len, y_len) = (self.token_len(x), self.token_len(y));
        if x_len > EDGE || y_len > EDGE {
            return false;
        }
        // The tokens that start at the cut, with their lengths.
        let mut rights = [(0 as TokenId, 0usize); EDGE];
        let mut n_rights = 0;
        for m in 1..=y_len {
            if let Some(r) = self.edge_token(&piece[cut..cut + m], m == y_len, y) {
                rights[n_rights] = (r, m);
                n_rights += 1;
            }
        }
        (1..=x_len).all(|k| {
            self.edge_token(&piece[cut - k..cut], k == x_len, x)
                .is_none_or(|l| {
                    rights[..n_rights].iter().all(|&(r, m)| {
                        let merge = if self.pairs_by_bytes {
                            self.merge_by_bytes(&piece[cut - k..cut + m])
                        } else {
                            self.merge_of(l, r)
                        };
                        merge.rank == NO_RANK
                    })
                })
        })
    }

    /// The token whose bytes are `bytes` (`whole`: they are the final token `id`'s).
    #[inline]
    fn edge_token(&self, bytes: &[u8], whole: bool, id: TokenId) -> Option<TokenId> {
        match bytes.len() {
            _ if whole => Some(id),
            1 => Some(self.byte_id(bytes[0])),
            _ => self.tokens.get(bytes),
        }
    }
}

/// The first char start at or after `from + CHUNK` (or the end of `piece`).
fn next_cut(piece: &[u8], from: usize) -> usize {
    char_start(piece, from + CHUNK)
}

/// The first char start at or after `at` (or the end of `piece`). Bytes that are not UTF-8 text
/// may be cut anywhere: at most three continuation bytes are skipped.
fn char_start(piece: &[u8], at: usize) -> usize {
    let mut at = at.min(piece.len());
    let limit = (at + 3).min(piece.len());
    while at < limit && piece[at] & 0xC0 == 0x80 {
        at += 1;
    }
    at
}
