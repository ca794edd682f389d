//! Pieces of 2 to 7 bytes under a rank file's merges, merged in registers.
//!
//! Random letters, base64 and rare words are pre-tokenized into pieces of a few bytes that are
//! not tokens, and merging them is most of the time spent on such text. With a rank file's
//! merges a pair's merge is the token of its joined bytes, ranked by its id (see
//! [`super::merges_are_all_splits`]), so the loop needs only the piece's bytes, where its tokens
//! start, and the rank of each adjacent pair:
//!
//! - the bytes sit in one `u64` ([`ShortPiece`]), and the whole-token index's key of any
//!   substring is cut out of it with a shift and a mask;
//! - the tokens' starts are the bytes of another `u64`, and removing one is two masks and a shift;
//! - the ranks and ids live in 16-entry arrays whose unused tail holds "no merge", so the
//!   lowest rank is a branch-free minimum over six entries (rank and position in one integer:
//!   the leftmost wins ties), and removing an entry moves a fixed window of eight.
//!
//! Pieces of two and three bytes (two fifths of random letters' pieces that are not tokens) are
//! answered in closed form: two bytes merge or not; of three, the lower byte pair (the left one
//! on ties) merges, and then the whole piece if it is a token.
//!
//! The merges applied are exactly those of [`BpeModel::merge_short`]'s loop: lowest rank first,
//! leftmost on ties, the two pairs around a merge looked up again.

use super::index::ShortPiece;
use super::{remove, BpeModel, NO_RANK};
use crate::vocab::TokenId;

/// Entries moved when a token is removed: all a piece's tokens after the first.
const WINDOW: usize = 8;
/// Entries of the rank and id arrays: the longest piece's tokens plus a window.
const SLOTS: usize = 2 * WINDOW;
/// The start of token `k` in byte `k` (`k <= 7`); a piece's end is the start of the token after
/// its last.
const FIRST_STARTS: u64 = 0x0706_0504_0302_0100;

/// Byte `k` of `starts`.
#[inline(always)]
fn start(starts: u64, k: usize) -> usize {
    usize::from((starts >> (8 * k)) as u8)
}

/// `starts` without its byte `k` (`1 <= k <= 7`): the bytes above move down one.
#[inline(always)]
fn without(starts: u64, k: usize) -> u64 {
    let below = (1u64 << (8 * k)) - 1;
    starts & below | (starts >> 8) & !below
}

impl BpeModel {
    /// Merge a piece of 2 to [`ShortPiece::MAX_LEN`] bytes when `pairs_by_bytes` holds.
    #[inline]
    pub(super) fn merge_tiny(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        debug_assert!((2..=ShortPiece::MAX_LEN).contains(&piece.len()) && self.pairs_by_bytes);
        match *piece {
            [a, b] => self.merge_two(a, b, out),
            [a, b, c] => self.merge_three(piece, a, b, c, out),
            _ => self.merge_few(piece, out),
        }
    }

    /// Two bytes: their pair's merge or the two bytes.
    #[inline(always)]
    pub(super) fn merge_two(&self, a: u8, b: u8, out: &mut Vec<TokenId>) {
        match self.byte_rank(a, b) {
            NO_RANK => out.extend([self.byte_id(a), self.byte_id(b)]),
            id => out.push(id),
        }
    }

    /// Three bytes: the lower of the two byte pairs (the left one on ties) merges first, then
    /// the whole piece if it is a token.
    #[inline(always)]
    fn merge_three(&self, piece: &[u8], a: u8, b: u8, c: u8, out: &mut Vec<TokenId>) {
        let (left, right) = (self.byte_rank(a, b), self.byte_rank(b, c));
        if left != NO_RANK || right != NO_RANK {
            if let Some(id) = self.tokens.get(piece) {
                return out.push(id);
            }
        }
        self.three_apart(a, b, c, left, right, out)
    }

    /// Three bytes that are not a token: [`BpeModel::merge_three`] without the whole-piece
    /// lookup, for a piece whose whole-token lookup has just missed.
    #[inline(always)]
    pub(super) fn merge_three_apart(&self, a: u8, b: u8, c: u8, out: &mut Vec<TokenId>) {
        let (left, right) = (self.byte_rank(a, b), self.byte_rank(b, c));
        self.three_apart(a, b, c, left, right, out)
    }

    /// The ids of bytes `a b c`, not a token, whose byte pairs have ranks `left` and `right`.
    #[inline(always)]
    fn three_apart(&self, a: u8, b: u8, c: u8, left: u32, right: u32, out: &mut Vec<TokenId>) {
        match (left, right) {
            (NO_RANK, NO_RANK) => out.extend([self.byte_id(a), self.byte_id(b), self.byte_id(c)]),
            _ if left <= right => out.extend([left, self.byte_id(c)]),
            _ => out.extend([self.byte_id(a), right]),
        }
    }

    /// Four to seven bytes: the general loop on registers (see the module docs).
    #[inline(always)]
    fn merge_few(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        let n = piece.len();
        let packed = ShortPiece::new(piece);
        // ids[k] = token k; ranks[k] = the rank of merging tokens k and k + 1, which with a rank
        // file's merges is also the id of the result.
        let mut ids = [0 as TokenId; SLOTS];
        let mut ranks = [NO_RANK; SLOTS];
        for (k, &b) in piece.iter().enumerate() {
            ids[k] = self.byte_id(b);
        }
        for k in 0..n - 1 {
            ranks[k] = self.byte_rank(piece[k], piece[k + 1]);
        }
        let mut starts = FIRST_STARTS;
        let mut len = n;
        loop {
            let best = (0..ShortPiece::MAX_LEN - 1)
                .map(|k| u64::from(ranks[k]) << 3 | k as u64)
                .min()
                .expect("six pairs");
            let (rank, at) = ((best >> 3) as u32, (best & 7) as usize);
            if rank == NO_RANK {
                break;
            }
            ids[at] = rank;
            remove::<_, SLOTS, WINDOW>(&mut ids, at + 1, len);
            remove::<_, SLOTS, WINDOW>(&mut ranks, at + 1, len);
            starts = without(starts, at + 1);
            len -= 1;
            if len == 1 {
                break;
            }
            ranks[at] = if at + 1 < len {
                self.pair_within(packed, starts, at)
            } else {
                NO_RANK
            };
            if at > 0 {
                ranks[at - 1] = self.pair_within(packed, starts, at - 1);
            }
        }
        out.extend_from_slice(&ids[..len]);
    }

    /// The rank of merging tokens `k` and `k + 1` of `packed`, given where its tokens start.
    #[inline(always)]
    fn pair_within(&self, packed: ShortPiece, starts: u64, k: usize) -> u32 {
        let (from, to) = (start(starts, k), start(starts, k + 2));
        self.tokens.get_within(packed, from, to).unwrap_or(NO_RANK)
    }
}
