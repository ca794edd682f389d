//! Ids -> bytes: the decoding stage.
//!
//! Every token's bytes are laid out once in one buffer, with a `(start, len)` span per id, so
//! decoding is one table read and one short copy per id, touching two arrays instead of one
//! heap allocation per token. The output is sized up front from the spans, and tokens of up to
//! [`WORD`] bytes (nearly all) are copied as one fixed-size block (the buffer is padded so the
//! block never reads past its end; the next token overwrites the excess), which compiles to two
//! moves instead of a `memcpy` call.

use crate::error::{Error, Result};
use crate::vocab::{TokenId, Vocab};

/// `len` of an id that has no token (a hole in the id space).
const HOLE: u32 = u32::MAX;
/// Tokens up to this long are copied as one fixed-size block.
const WORD: usize = 16;

#[derive(Clone, Debug)]
pub struct Decoder {
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

impl Decoder {
    pub fn new(vocab: &Vocab) -> Self {
        let mut bytes = Vec::new();
        let spans = (0..vocab.len() as TokenId)
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
        Decoder { bytes, spans }
    }

    #[inline]
    fn span(&self, id: TokenId) -> Result<(usize, usize)> {
        match self.spans.get(id as usize) {
            Some(&(start, len)) if len != HOLE => Ok((start as usize, len as usize)),
            _ => Err(Error::UnknownId {
                id,
                vocab_size: self.spans.len(),
            }),
        }
    }

    /// Append the bytes of `ids` to `out`; an id without a token is an error (and `out` is left
    /// unchanged).
    pub fn decode_into(&self, ids: &[TokenId], out: &mut Vec<u8>) -> Result<()> {
        let mut total = 0;
        for &id in ids {
            total += self.span(id)?.1;
        }
        let mut at = out.len();
        let end = at + total;
        out.resize(end + WORD, 0);
        // Every id was checked above: read the spans directly.
        for &id in ids {
            let (start, len) = self.spans[id as usize];
            let (start, len) = (start as usize, len as usize);
            if len <= WORD {
                out[at..at + WORD].copy_from_slice(&self.bytes[start..start + WORD]);
            } else {
                out[at..at + len].copy_from_slice(&self.bytes[start..start + len]);
            }
            at += len;
        }
        out.truncate(end);
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
}
