//! Token bytes -> id, tuned for the hottest lookup of encoding: "is this whole piece a token?".
//!
//! Most pre-tokens are at most 7 bytes. Their keys are packed into one `u64` (the bytes, and the
//! length in the top byte so that `"a"` and `"a\0"` differ), so a lookup is one multiply-hash and
//! one probe that compares integers, with no pointer to chase. Longer tokens live in a second
//! table keyed by their bytes.

use crate::vocab::TokenId;
use rustc_hash::FxHashMap;

/// Keys of at most this many bytes are stored inline.
const INLINE: usize = 7;

/// `bytes` (at most [`INLINE`] long) packed with their length.
#[inline]
fn pack(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[7] = bytes.len() as u8;
    u64::from_le_bytes(buf)
}

#[derive(Clone, Debug, Default)]
pub(crate) struct TokenIndex {
    inline: FxHashMap<u64, TokenId>,
    long: FxHashMap<Box<[u8]>, TokenId>,
}

impl TokenIndex {
    pub(crate) fn new<'a>(tokens: impl Iterator<Item = (TokenId, &'a [u8])>) -> Self {
        let mut index = TokenIndex::default();
        for (id, bytes) in tokens {
            if bytes.len() <= INLINE {
                index.inline.insert(pack(bytes), id);
            } else {
                index.long.insert(Box::from(bytes), id);
            }
        }
        index
    }

    #[inline]
    pub(crate) fn get(&self, bytes: &[u8]) -> Option<TokenId> {
        if bytes.len() <= INLINE {
            self.inline.get(&pack(bytes)).copied()
        } else {
            self.long.get(bytes).copied()
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
        ];
        let index = TokenIndex::new(toks.iter().copied());
        for (id, bytes) in &toks {
            assert_eq!(index.get(bytes), Some(*id), "{bytes:?}");
        }
        assert_eq!(index.get(b"\0"), None);
        assert_eq!(index.get(b"a\0\0"), None);
        assert_eq!(index.get(b"abcdefgh\0\0"), None);
        assert_eq!(index.get(b""), None);
    }
}
