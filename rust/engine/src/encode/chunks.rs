//! Long pieces cut into short chunks, joined where the cut provably changes nothing.
//!
//! A long piece of CJK without punctuation, a base64 blob, random letters under cl100k (one
//! piece of a megabyte), or a binary file under the `none` pre-tokenizer rarely has tokens
//! reaching far across any point. The piece is cut at UTF-8 char starts into chunks of about
//! [`CHUNK`] bytes, each encoded on its own by the short path (and the memo), and a cut is kept
//! when `x`, the last token of the left side's encoding, and `y`, the first of the right
//! side's, are a **valid pair**: their bytes, merged alone, give `x, y` again (the "compatible
//! pair" of GitHub's `bpe` crate). Then the two encodings, joined, are the encoding across the
//! cut. Write `P(s)` for the encoding of bytes `s`:
//!
//! - Two stretches that no merge crosses evolve apart: every merge inside one is the lowest of
//!   that stretch at its turn (ties broken leftmost first, which orders merges of different
//!   stretches but changes neither's result). So any run of a valid encoding's tokens is the
//!   encoding of its bytes.
//! - If `P(LM)` ends with one token covering `M` and `P(MR)` starts with it, then
//!   `P(LMR) = P(L) + that token + P(R)`: until a merge crosses `L|M` or `M|R` the three
//!   stretches evolve apart, `L` and `M` in the order they do in `P(LM)` (the next merge of
//!   each is compared the same way there). A first crossing merge at `L|M` would be the lowest
//!   pair of `L` and `M`'s state at that moment, a state `P(LM)` also passes through, where it
//!   would cross too; but `P(LM)` keeps `M` whole. Likewise at `M|R`.
//! - With `L` = `A` less `x`, `M = x` and `R = y`: `P(A)` and `x, y` give `P(Ay) = P(A), y`;
//!   with `M = y` and `R` the rest of `B`, `P(Ay)` and `P(B)` give `P(AB)`.
//!
//! The test costs one short encoding of at most [`SHORT_PIECE`] bytes. It implies the older
//! test it replaced (no suffix of `x` and prefix of `y` that are tokens have a merge, which
//! makes `P(xy) = x, y`), and passed where that one failed: random letters under cl100k fail
//! the older test at most cuts (almost every two letters are a token).
//!
//! **Repairs.** The tests must be made with the chunks' final encodings. Chunks therefore sit
//! on a stack whose neighbouring cuts have all passed: a new chunk is tested against the top; a
//! failed cut is repaired by encoding again a window of the tokens within one byte of it on
//! each side (the two tokens at the cut), kept when the window's own two cuts are valid pairs
//! (the argument above, twice), else within 2, 4, ... bytes, up to both chunks whole. The two
//! become one chunk; only when the window reached the top's first token is the cut to the left
//! of it tested again, and so on. Ids are written straight to the output, the stack holding
//! where each chunk's ids start. A window that would outgrow [`SHORT_PIECE`] bytes gives up:
//! the whole piece then takes the list path ([`super::long`]), so the waste is bounded by one
//! more encoding of the piece. On a megabyte of random letters under cl100k about a quarter of
//! the cuts fail; re-encoding the two chunks around each (as before the window) took 19.3 ms of
//! the engine's 2-thread time, the windows 13.5 ms.
//!
//! **Parts.** A piece of [`PARALLEL_MIN`] bytes or more is shared out between the threads of
//! the current rayon pool: it is cut into [`PARTS_PER_THREAD`] parts per thread (of at least
//! [`PART_MIN`] bytes; claimed in turn by the calling thread and pool helpers, see
//! [`crate::share`]), each part is encoded as above as if it were a piece of its own, and the
//! parts' ids are kept as runs, one per part, that a caller copying them anyway (into a Python
//! list) does not have to join: on a megabyte of CJK that was 2.8 MB of ids written once more,
//! into fresh pages, on the calling thread. A failed cut between parts is repaired like a
//! chunk cut, starting at [`REPAIR_REACH`] bytes, on the tokens within [`REPAIR_SIDE`] bytes
//! of it taken out of the two runs (the window kept under half of that, so that it never reaches
//! their ends); a repair needing more joins all runs into one and repairs that, its reach
//! unlimited (at worst the piece so far is encoded again at each of the parts' cuts, at most
//! [`PARTS_PER_THREAD`] per thread). Until these repairs a failed part cut re-encoded the parts
//! around it, each later cut failed again, and a megabyte of random letters under cl100k took
//! 160 ms from Python. (With one part per thread, one thread slowed by a busy neighbour held the
//! whole call: on a megabyte of CJK the two halves took 15 and 24 ms. Parts of 128 KiB made
//! seven of a megabyte, one more for one thread than the other: 2.5 ms of idling at the end.)

use super::cache::MemoGate;
use super::{append_runs, BpeModel, SHORT_PIECE};
use crate::share::share_out;
use crate::vocab::TokenId;
use std::ops::Range;

/// Bytes on each side of a failed seam between parts that the first repair encodes again (tiny
/// in tests, so that repairs widen).
const REPAIR_REACH: usize = if cfg!(test) { 1 } else { 32 };
/// Bytes on each side of a failed cut between parts that a repair takes out of the two parts'
/// runs; its window stays under half of that (small in tests, so that windows outgrow it).
const REPAIR_SIDE: usize = if cfg!(test) { 8 } else { 8 * 1024 };

/// Target chunk length in bytes (a chunk ends at the first char start at or after it).
const CHUNK: usize = 8;
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

/// A cut inside a run of ids: `ids[first..seam]` encodes the bytes `start..cut` of the piece,
/// and `ids[seam..]` the bytes `cut..end`.
#[derive(Clone, Copy)]
struct Span {
    first: usize,
    start: usize,
    seam: usize,
    cut: usize,
    end: usize,
}

impl BpeModel {
    /// Encode a long piece chunk by chunk (see the module docs).
    pub(super) fn encode_chunked(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        match self.parts_of(piece) {
            parts if parts < 2 => self.encode_chunks(piece, out),
            parts => append_runs(out, self.encode_parts(piece, parts)),
        }
    }

    /// [`BpeModel::encode_chunked`] as consecutive runs of ids, one per part when the piece is
    /// encoded in parts, for a caller that copies them anyway (see
    /// [`crate::Tokenizer::encode_ordinary_runs`]).
    pub(super) fn encode_chunked_runs(&self, piece: &[u8]) -> Vec<Vec<TokenId>> {
        match self.parts_of(piece) {
            parts if parts < 2 => {
                let mut out = Vec::with_capacity(piece.len() / 2);
                self.encode_chunks(piece, &mut out);
                vec![out]
            }
            parts => self.encode_parts(piece, parts),
        }
    }

    /// How many parts `piece` is encoded in (0 or 1: none).
    fn parts_of(&self, piece: &[u8]) -> usize {
        if piece.len() < PARALLEL_MIN {
            return 1;
        }
        (rayon::current_num_threads() * PARTS_PER_THREAD).min(piece.len() / PART_MIN)
    }

    /// Encode `piece` cut into `parts` parts on the current rayon pool, then join the parts in
    /// order (see [`BpeModel::join_parts`]): one run of ids per part, or fewer.
    fn encode_parts(&self, piece: &[u8], parts: usize) -> Vec<Vec<TokenId>> {
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
        let encoded = share_out(parts, |k| encode(cuts[k], cuts[k + 1]));
        let mut encoded = encoded.into_iter();
        let mut runs: Vec<Vec<TokenId>> = Vec::with_capacity(parts);
        runs.extend(encoded.next());
        for (right, w) in encoded.zip(cuts.windows(2).skip(1)) {
            self.join_parts(piece, &mut runs, (w[0], w[1]), right);
        }
        runs
    }

    /// Appends `right`, the encoding of the bytes of `piece` from `cut` to `end`, to `runs`, the
    /// encoding of the bytes before `cut` (from the start of `piece`), as a run of its own.
    /// Where the cut fails the test, the tokens around it (at least [`REPAIR_SIDE`] bytes on
    /// each side) are taken out of the two runs and repaired on their own, the window kept under
    /// half of that so that it never reaches their ends; a repair needing more joins all the
    /// runs into one and repairs that, its reach unlimited.
    fn join_parts(
        &self,
        piece: &[u8],
        runs: &mut Vec<Vec<TokenId>>,
        (cut, end): (usize, usize),
        mut right: Vec<TokenId>,
    ) {
        let Some(left) = runs.last_mut() else {
            return runs.push(right);
        };
        let (Some(&x), Some(&y)) = (left.last(), right.first()) else {
            return runs.push(right);
        };
        if self.seam_holds(piece, cut, x, y, left) {
            return runs.push(right);
        }
        let (keep, from) = self.tokens_before(left, 0..cut, REPAIR_SIDE);
        let (skip, to) = self.tokens_after(&right, cut..end, REPAIR_SIDE);
        if keep > 0 && skip < right.len() {
            let mut around: Vec<TokenId> =
                left[keep..].iter().chain(&right[..skip]).copied().collect();
            let span = Span {
                first: 0,
                start: from,
                seam: left.len() - keep,
                cut,
                end: to,
            };
            if self
                .repair(piece, &mut around, span, REPAIR_REACH, REPAIR_SIDE / 2)
                .is_some()
            {
                left.truncate(keep);
                left.append(&mut around);
                right.drain(..skip);
                return runs.push(right);
            }
        }
        let mut all = Vec::with_capacity(runs.iter().map(Vec::len).sum::<usize>() + right.len());
        for mut run in runs.drain(..) {
            all.append(&mut run);
        }
        let seam = all.len();
        all.append(&mut right);
        let span = Span {
            first: 0,
            start: 0,
            seam,
            cut,
            end,
        };
        self.repair(piece, &mut all, span, REPAIR_REACH, usize::MAX)
            .expect("an unlimited repair succeeds");
        runs.push(all);
    }

    /// Repairs a failed cut (see [`Span`]): the tokens within `reach` bytes of it on each side
    /// are encoded again as one window, which replaces them when the window's own two cuts hold
    /// (or it spans both sides whole); else the reach doubles. `None` when the window would grow
    /// past `limit` bytes; otherwise whether it reached the start of the left side (whose first
    /// token may then have changed).
    fn repair(
        &self,
        piece: &[u8],
        ids: &mut Vec<TokenId>,
        span: Span,
        mut reach: usize,
        limit: usize,
    ) -> Option<bool> {
        loop {
            let (keep, from) =
                self.tokens_before(&ids[span.first..span.seam], span.start..span.cut, reach);
            let (skip, to) = self.tokens_after(&ids[span.seam..], span.cut..span.end, reach);
            if to - from > limit {
                return None;
            }
            let (keep, skip) = (span.first + keep, span.seam + skip);
            let at = ids.len();
            let whole = keep == span.first && skip == at;
            // The window's ids go past the end for now. A long window takes the sequential
            // chunk loop, never the parts: a window as long as the piece would be cut into the
            // same parts, fail at the same cut and recurse without end.
            let window = &piece[from..to];
            if window.len() <= SHORT_PIECE {
                self.encode_short(window, ids);
            } else {
                self.encode_chunks(window, ids);
            }
            let (first, last) = (ids[at], ids[ids.len() - 1]);
            let holds = whole
                || ((keep == span.first || {
                    let x = ids[keep - 1];
                    self.seam_holds(piece, from, x, first, ids)
                }) && (skip == at || {
                    let y = ids[skip];
                    self.seam_holds(piece, to, last, y, ids)
                }));
            if holds {
                // [kept][dropped][rest][window] -> [kept][window][rest]
                let (dropped, window) = (skip - keep, ids.len() - at);
                ids[keep..].rotate_left(dropped);
                ids.truncate(ids.len() - dropped);
                ids[keep..].rotate_right(window);
                return Some(keep == span.first);
            }
            ids.truncate(at);
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
                let span = Span {
                    first: top.ids,
                    start: top.start,
                    seam: chunk.ids,
                    cut: chunk.start,
                    end,
                };
                let Some(reached_start) = self.repair(piece, out, span, 1, SHORT_PIECE) else {
                    out.truncate(first_id);
                    return self.encode_long(piece, out);
                };
                stack.pop();
                chunk = top;
                if !reached_start {
                    break;
                }
            }
            stack.push(chunk);
            start = end;
        }
    }

    /// Whether the encodings on the two sides of `cut`, whose tokens there are `x` (ending at
    /// `cut`) and `y` (starting there), joined are the encoding across it: whether the bytes of
    /// `x` and `y`, merged alone, give `x` and `y` again (see the module docs). `scratch` is
    /// used past its end and left as it was.
    fn seam_holds(
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
