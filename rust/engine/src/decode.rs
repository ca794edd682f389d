//! Ids -> bytes: the decoding stage.
//!
//! Every token's bytes are laid out once in one buffer, with a `(start, len)` span per id, so
//! decoding is one table read and one short copy per id, touching two arrays instead of one
//! heap allocation per token. Decoding is two passes: [`Decoder::decoded_len`] checks every id
//! and sums the lengths, so the caller can size the output exactly (the Python binding writes
//! straight into a new `bytes` object); [`Decoder::write`] then copies. Both are bound by cache
//! misses on ids of rare tokens (the spans and bytes of a 200k vocabulary are megabytes), so
//! each prefetches the span, and then the bytes, of the id [`AHEAD`] places on. Tokens of up to
//! [`WORD`] bytes (nearly all) are copied as one fixed-size block (the buffer is padded so the
//! block never reads past its end; the next token overwrites the excess), which compiles to two
//! moves instead of a `memcpy` call.

use crate::encode::prefetch_line;
use crate::error::{Error, Result};
use crate::hugemem::HugeArray;
use crate::vocab::{TokenId, Vocab};

/// `len` of an id that has no token (a hole in the id space).
const HOLE: u32 = u32::MAX;
/// Tokens up to this long are copied as one fixed-size block.
const WORD: usize = 16;
/// How many ids ahead each pass prefetches.
const AHEAD: usize = 24;

/// Token bytes laid out for decoding (both arrays in huge pages when large: see
/// [`crate::hugemem`]).
#[derive(Clone, Debug)]
pub struct Decoder {
    bytes: HugeArray<u8>,
    spans: HugeArray<(u32, u32)>,
}

impl Decoder {
    pub fn new(vocab: &Vocab) -> Self {
        let mut bytes = Vec::new();
        let spans: Vec<(u32, u32)> = (0..vocab.len() as TokenId)
            .map(|id| match vocab.token_bytes(id) {
                Some(b) => {
                    let start = bytes.len() as u32;
                    bytes.extend_from_slice(b);
                    (start, b.len() as u32)
                }
                None => (0, HOLE),
            })
            .collect();
        bytes.extend_from_slice(&[0; WORD]);
        Decoder {
            bytes: HugeArray::from_slice(&bytes),
            spans: HugeArray::from_slice(&spans),
        }
    }

    /// The span of the id `AHEAD` places after `i`, if any, as a pointer to prefetch.
    #[inline(always)]
    fn span_ahead(&self, ids: &[TokenId], i: usize) -> Option<&(u32, u32)> {
        ids.get(i + AHEAD)
            .and_then(|&id| self.spans.get(id as usize))
    }

    /// The number of bytes `ids` decode to; an id without a token is an error.
    pub fn decoded_len(&self, ids: &[TokenId]) -> Result<usize> {
        let mut total = 0;
        for (i, &id) in ids.iter().enumerate() {
            if let Some(ahead) = self.span_ahead(ids, i) {
                prefetch_line((ahead as *const (u32, u32)).cast());
            }
            match self.spans.get(id as usize) {
                Some(&(_, len)) if len != HOLE => total += len as usize,
                _ => {
                    return Err(Error::UnknownId {
                        id,
                        vocab_size: self.spans.len(),
                    })
                }
            }
        }
        Ok(total)
    }

    /// Write the bytes of `ids` to `out`, which must be exactly [`Decoder::decoded_len`] long
    /// (so every id is known to have a token).
    ///
    /// # Panics
    /// If `out` has another length or an id has no token (both caller bugs).
    pub fn write(&self, ids: &[TokenId], out: &mut [u8]) {
        let mut at = 0;
        for (i, &id) in ids.iter().enumerate() {
            if let Some(&(start, _)) = self.span_ahead(ids, i) {
                prefetch_line(self.bytes.as_ptr().wrapping_add(start as usize));
            }
            let (start, len) = self.spans[id as usize];
            assert!(len != HOLE, "id {id} has no token: check decoded_len first");
            let (start, len) = (start as usize, len as usize);
            if len <= WORD && at + WORD <= out.len() {
                out[at..at + WORD].copy_from_slice(&self.bytes[start..start + WORD]);
            } else {
                out[at..at + len].copy_from_slice(&self.bytes[start..start + len]);
            }
            at += len;
        }
        assert_eq!(at, out.len(), "output sized by decoded_len");
    }

    /// Append the bytes of `ids` to `out`; an id without a token is an error (and `out` is left
    /// unchanged).
    pub fn decode_into(&self, ids: &[TokenId], out: &mut Vec<u8>) -> Result<()> {
        let total = self.decoded_len(ids)?;
        let at = out.len();
        out.resize(at + total, 0);
        self.write(ids, &mut out[at..]);
        Ok(())
    }

    pub fn decode(&self, ids: &[TokenId]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.decode_into(ids, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_tokens_and_names_unknown_ids() {
        let mut toks: Vec<(Vec<u8>, TokenId)> =
            (0..=255u8).map(|b| (vec![b], b as TokenId)).collect();
        toks.push((b"ab".to_vec(), 256));
        let vocab = Vocab::from_merges(toks, &[(97, 98)], vec![]).unwrap();
        let d = Decoder::new(&vocab);
        assert_eq!(d.decode(&[256, 99, 0]).unwrap(), b"abc\0");
        assert_eq!(d.decode(&[]).unwrap(), b"");
        let mut out = b"keep".to_vec();
        let err = d.decode_into(&[97, 257], &mut out).unwrap_err();
        assert!(err.to_string().contains("257"), "{err}");
        assert_eq!(out, b"keep");
    }

    #[test]
    fn writes_long_tokens_and_exact_tails() {
        let mut toks: Vec<(Vec<u8>, TokenId)> =
            (0..=255u8).map(|b| (vec![b], b as TokenId)).collect();
        for (k, n) in [2usize, 4, 8, 16, 32].into_iter().enumerate() {
            toks.push((vec![b'a'; n], 256 + k as TokenId));
        }
        let vocab = Vocab::from_ranks(toks, vec![]).unwrap();
        let d = Decoder::new(&vocab);
        let ids = [260, 98, 259, 260, 257, 99];
        let want = [
            &[b'a'; 32][..],
            b"b",
            &[b'a'; 16],
            &[b'a'; 32],
            b"aaaa",
            b"c",
        ]
        .concat();
        assert_eq!(d.decoded_len(&ids).unwrap(), want.len());
        let mut out = vec![0xff; want.len()];
        d.write(&ids, &mut out);
        assert_eq!(out, want);
        assert_eq!(d.decode(&ids[..3]).unwrap(), want[..49]);
    }
}
