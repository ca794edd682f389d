//! Token bytes -> id, tuned for the hottest lookup of encoding: "is this whole piece a token?".
//!
//! Most pre-tokens are at most 7 bytes and nearly all at most 15. Such keys are packed into one
//! integer (the bytes, and the length in the top byte so that `"a"` and `"a\0"` differ) and
//! looked up in a [`LineTable`]: one multiply-hash, one cache line, integer compares, no pointer
//! to chase. Packing reads the piece with two overlapping loads instead of a byte copy. Tokens of
//! 16 bytes or more live in an ordinary table keyed by their bytes.
//!
//! Both packed tables carry a Bloom filter ([`FILTER_BITS`] bits per token, about 300 KiB for
//! o200k, so it stays in L2). Most pieces of prose are tokens and pay one more L2 read; a piece
//! that is not one (a rare word, random letters, base64, the edges of a cut in a long piece) is
//! usually answered by the filter instead of waiting for a bucket line from memory. The encoder
//! prefetches both lines a few pieces ahead.

use super::table::{fits_line, LineTable};
use crate::vocab::TokenId;
use rustc_hash::FxHashMap;

/// Keys of at most this many bytes are packed into a `u64`.
const SHORT: usize = 7;
/// Keys of at most this many bytes are packed into a `u128`.
const MEDIUM: usize = 15;
/// Bloom filter bits per token: a piece that is not a token (a rare word, random text) is
/// usually answered from the filter, which stays in L2, instead of a bucket line from memory.
const FILTER_BITS: usize = 12;

const _: () = assert!(fits_line::<u64, TokenId, 5>() && fits_line::<u128, TokenId, 3>());

/// `bytes` (1 to [`SHORT`] long) packed with their length.
#[inline(always)]
fn pack_short(b: &[u8]) -> u64 {
    let n = b.len();
    debug_assert!((1..=SHORT).contains(&n));
    let v = if n >= 4 {
        let lo = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let hi = u64::from(u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]));
        lo | hi << ((n - 4) * 8)
    } else if n >= 2 {
        let lo = u64::from(u16::from_le_bytes([b[0], b[1]]));
        let hi = u64::from(u16::from_le_bytes([b[n - 2], b[n - 1]]));
        lo | hi << ((n - 2) * 8)
    } else {
        u64::from(b[0])
    };
    v | (n as u64) << 56
}

/// `bytes` ([`SHORT`] + 1 to [`MEDIUM`] long) packed with their length.
#[inline(always)]
fn pack_medium(b: &[u8]) -> u128 {
    let n = b.len();
    debug_assert!((SHORT + 1..=MEDIUM).contains(&n));
    let lo = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let hi = u64::from_le_bytes(b[n - 8..].try_into().expect("8 bytes"));
    (u128::from(lo) | u128::from(hi) << ((n - 8) * 8)) | (n as u128) << 120
}

/// A piece of 1 to [`SHORT`] bytes held in one register, from which the packed key of any of
/// its substrings is cut with a shift and a mask (no slicing, no length dispatch).
#[derive(Clone, Copy)]
pub(crate) struct ShortPiece(u64);

impl ShortPiece {
    /// The longest piece that fits.
    pub(crate) const MAX_LEN: usize = SHORT;

    #[inline(always)]
    pub(crate) fn new(piece: &[u8]) -> Self {
        ShortPiece(pack_short(piece) & ((1 << 56) - 1))
    }

    /// The packed key of bytes `from..to` (`from < to <= len`), as [`pack_short`] packs them.
    #[inline(always)]
    fn key(self, from: usize, to: usize) -> u64 {
        let n = to - from;
        debug_assert!(from < to && n <= SHORT);
        (self.0 >> (8 * from)) & ((1 << (8 * n)) - 1) | (n as u64) << 56
    }
}

#[derive(Clone, Debug)]
pub(crate) struct TokenIndex {
    short: LineTable<u64, TokenId, 5>,
    medium: LineTable<u128, TokenId, 3>,
    long: FxHashMap<Box<[u8]>, TokenId>,
    /// Whether two tokens had the same bytes (the later one won).
    duplicates: bool,
}

impl TokenIndex {
    pub(crate) fn new<'a>(tokens: impl Iterator<Item = (TokenId, &'a [u8])>) -> Self {
        let tokens: Vec<_> = tokens.filter(|(_, b)| !b.is_empty()).collect();
        let count = |lens: std::ops::RangeInclusive<usize>| {
            tokens
                .iter()
                .filter(|(_, b)| lens.contains(&b.len()))
                .count()
        };
        let mut short = LineTable::with_capacity(count(1..=SHORT));
        let mut medium = LineTable::with_capacity(count(SHORT + 1..=MEDIUM));
        let mut long = FxHashMap::default();
        let mut duplicates = false;
        for (id, bytes) in tokens {
            let replaced = match bytes.len() {
                1..=SHORT => short.insert(pack_short(bytes), id),
                n if n <= MEDIUM => medium.insert(pack_medium(bytes), id),
                _ => long.insert(Box::from(bytes), id),
            };
            duplicates |= replaced.is_some();
        }
        TokenIndex {
            short: short.with_filter(FILTER_BITS),
            medium: medium.with_filter(FILTER_BITS),
            long,
            duplicates,
        }
    }

    /// Whether every token's bytes are its own (no two tokens share bytes).
    pub(crate) fn is_distinct(&self) -> bool {
        !self.duplicates
    }

    #[inline(always)]
    pub(crate) fn get(&self, bytes: &[u8]) -> Option<TokenId> {
        match bytes.len() {
            0 => None,
            1..=SHORT => self.short.get(pack_short(bytes)),
            n if n <= MEDIUM => self.medium.get(pack_medium(bytes)),
            _ => self.long.get(bytes).copied(),
        }
    }

    /// The token whose bytes are `piece[from..to]` (`from < to <= piece`'s length).
    #[inline(always)]
    pub(crate) fn get_within(&self, piece: ShortPiece, from: usize, to: usize) -> Option<TokenId> {
        self.short.get(piece.key(from, to))
    }

    /// Start loading the line that [`TokenIndex::get`] will read for `bytes`.
    #[inline(always)]
    pub(crate) fn prefetch(&self, bytes: &[u8]) {
        match bytes.len() {
            0 => {}
            1..=SHORT => self.short.prefetch(pack_short(bytes)),
            n if n <= MEDIUM => self.medium.prefetch(pack_medium(bytes)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_zero_bytes_are_distinct_keys() {
        let toks: Vec<(TokenId, &[u8])> = vec![
            (1, b"a"),
            (2, b"a\0"),
            (3, b"\0a"),
            (4, b"abcdefg"),
            (5, b"abcdefgh"),
            (6, b"abcdefgh\0"),
            (7, b"abcdefghijklmno"),
            (8, b"abcdefghijklmnop"),
            (9, b"\0\0\0"),
        ];
        let index = TokenIndex::new(toks.iter().copied());
        for (id, bytes) in &toks {
            assert_eq!(index.get(bytes), Some(*id), "{bytes:?}");
        }
        assert_eq!(index.get(b"\0"), None);
        assert_eq!(index.get(b"\0\0"), None);
        assert_eq!(index.get(b"a\0\0"), None);
        assert_eq!(index.get(b"abcdefgh\0\0"), None);
        assert_eq!(index.get(b"abcdefghijklmn"), None);
        assert_eq!(index.get(b""), None);
        assert!(index.is_distinct());
        let twice = TokenIndex::new([(1, &b"ab"[..]), (2, &b"ab"[..])].into_iter());
        assert!(!twice.is_distinct());
    }

    #[test]
    fn a_short_piece_cuts_the_keys_of_its_substrings() {
        let piece = b"a\0bc\xffde";
        let packed = ShortPiece::new(piece);
        for from in 0..piece.len() {
            for to in from + 1..=piece.len() {
                assert_eq!(
                    packed.key(from, to),
                    pack_short(&piece[from..to]),
                    "{from}..{to}"
                );
            }
        }
    }

    #[test]
    fn packing_is_injective_on_every_length() {
        // Two pieces of the same length that differ in any one byte pack differently.
        for n in 1..=MEDIUM {
            let base: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            for at in 0..n {
                let mut other = base.clone();
                other[at] ^= 0x5a;
                if n <= SHORT {
                    assert_ne!(pack_short(&base), pack_short(&other), "n={n} at={at}");
                } else {
                    assert_ne!(pack_medium(&base), pack_medium(&other), "n={n} at={at}");
                }
            }
        }
    }
}
