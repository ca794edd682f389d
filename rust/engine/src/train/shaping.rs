//! Vocabulary shaping around the BPE loop: character caps, forced (user-added) tokens, nested
//! prefix vocabularies and padding with reserved special tokens.
//!
//! # Character count of a token
//! [`token_chars`] counts the Unicode characters a token's bytes contribute: every byte that is
//! not a UTF-8 continuation byte (`0x80..=0xBF`) starts a character, and a token that *begins*
//! with continuation bytes (the tail of a character split across tokens) counts that partial
//! character as one more. So `"é"` is 1, `"ab"` is 2, a lone lead byte `"\xC3"` is 1, a lone tail
//! `"\xA9"` is 1, and invalid bytes (`0xF8..`) count one each. A merge is refused by the
//! character cap when its result counts more than the cap ([`fits_chars`]); this is checked on
//! the actual result bytes, unlike HF's `max_token_length`, which sums the byte lengths.
//!
//! # Forced tokens
//! User-added tokens (years, citations, markup) become ordinary tokens through *forced merges*:
//! each token's bytes are merged left to right (`t[..2]`, `t[..3]`, ... `t`), shared prefixes
//! reused, and these merges get the lowest ranks, before anything learned. [`forced_base`] builds
//! that starting vocabulary; the trainer continues from it like from any base, so the learned
//! merges see the corpus with the forced tokens already formed. At encode time a forced token is
//! produced whenever its bytes lie inside one pre-token (the pre-tokenizer must keep it whole).
//!
//! # Nested vocabularies
//! Trained ids are in creation order and a merge's parts are always older than its result, so the
//! tokens with id `< n` together with the merges producing them form a complete BPE vocabulary of
//! size `n` ([`prefix_vocab`]). With the specials at ids `0..k`, every prefix keeps them.
//!
//! # Padding
//! [`padded_size`] rounds a size up to a multiple or a power of two; [`append_specials`] adds
//! reserved special tokens after the largest id to reach it.

use crate::bytelevel::byte_order;
use crate::error::{Error, Result};
use crate::vocab::{Merge, SpecialToken, TokenId, Vocab};
use rustc_hash::FxHashMap;

/// The number of Unicode characters `bytes` contribute (see the module docs).
pub fn token_chars(bytes: &[u8]) -> usize {
    let starts = bytes.iter().filter(|&&b| !is_continuation(b)).count();
    let partial_head = bytes.first().is_some_and(|&b| is_continuation(b));
    starts + usize::from(partial_head)
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Whether `left ++ right` counts at most `max_chars` characters.
pub fn fits_chars(left: &[u8], right: &[u8], max_chars: usize) -> bool {
    // Joining only changes the count at the seam: a right part starting with continuation bytes
    // continues the left part's last character unless the left part is empty.
    let joined_partial = !left.is_empty() && right.first().is_some_and(|&b| is_continuation(b));
    token_chars(left) + token_chars(right) - usize::from(joined_partial) <= max_chars
}

/// The starting vocabulary for forced tokens: `specials` at ids `0..k` (when `specials_first`),
/// the 256 bytes in byte-level order, then one merge per new prefix of each added token.
pub fn forced_base(added: &[Vec<u8>], specials: &[String], specials_first: bool) -> Result<Vocab> {
    let k = if specials_first { specials.len() } else { 0 };
    let mut tokens: Vec<(Vec<u8>, TokenId)> = Vec::with_capacity(256 + added.len() * 3);
    let mut ids: FxHashMap<Vec<u8>, TokenId> = FxHashMap::default();
    for (i, &b) in byte_order().iter().enumerate() {
        let id = (k + i) as TokenId;
        tokens.push((vec![b], id));
        ids.insert(vec![b], id);
    }
    let mut merges = Vec::new();
    for (n, token) in added.iter().enumerate() {
        if token.is_empty() {
            return Err(Error::invalid(format!("added token {n} is empty")));
        }
        let mut left = ids[&token[..1]];
        for end in 2..=token.len() {
            let prefix = &token[..end];
            if let Some(&id) = ids.get(prefix) {
                left = id;
                continue;
            }
            let result = (k + tokens.len()) as TokenId;
            merges.push(Merge {
                left,
                right: ids[&token[end - 1..end]],
                result,
                rank: merges.len() as u32,
            });
            tokens.push((prefix.to_vec(), result));
            ids.insert(prefix.to_vec(), result);
            left = result;
        }
    }
    let specials = if specials_first {
        specials
            .iter()
            .enumerate()
            .map(|(i, s)| SpecialToken {
                content: s.clone(),
                id: i as TokenId,
            })
            .collect()
    } else {
        Vec::new()
    };
    Vocab::from_parts(tokens, merges, specials)
}

/// The first `n` ids of `vocab` as a vocabulary of their own (see the module docs). Errors when
/// a special token or a byte token has an id `>= n`, or when a kept merge uses a dropped token.
pub fn prefix_vocab(vocab: &Vocab, n: usize) -> Result<Vocab> {
    if n > vocab.len() {
        return Err(Error::invalid(format!(
            "cannot take a {n}-token prefix of a vocabulary of {} ids",
            vocab.len()
        )));
    }
    let n_id = n as TokenId;
    if let Some(s) = vocab.specials().iter().find(|s| s.id >= n_id) {
        return Err(Error::invalid(format!(
            "special token {:?} has id {} >= {n}: nested vocabularies need the special tokens \
             first",
            s.content, s.id
        )));
    }
    if let Some(b) = (0..=255u8).find(|&b| vocab.byte_id(b) >= n_id) {
        return Err(Error::invalid(format!(
            "byte 0x{b:02x} has id {} >= {n}: the prefix would not cover all bytes",
            vocab.byte_id(b)
        )));
    }
    let tokens = vocab
        .ordinary_tokens()
        .filter(|&(id, _)| id < n_id)
        .map(|(id, b)| (b.to_vec(), id))
        .collect();
    let merges: Vec<Merge> = vocab
        .merges()
        .iter()
        .filter(|m| m.result < n_id)
        .copied()
        .collect();
    if let Some(m) = merges.iter().find(|m| m.left >= n_id || m.right >= n_id) {
        return Err(Error::invalid(format!(
            "merge ({}, {}) -> {} uses a token outside the {n}-token prefix",
            m.left, m.right, m.result
        )));
    }
    Vocab::from_parts(tokens, merges, vocab.specials().to_vec())
}

/// How to round a vocabulary size up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// To the next multiple of this (at least 1).
    Multiple(usize),
    /// To the next power of two.
    PowerOfTwo,
}

/// `size` rounded up as `padding` says.
pub fn padded_size(size: usize, padding: Padding) -> Result<usize> {
    match padding {
        Padding::Multiple(0) => Err(Error::invalid("pad multiple must be at least 1")),
        Padding::Multiple(m) => Ok(size.div_ceil(m) * m),
        Padding::PowerOfTwo => size
            .checked_next_power_of_two()
            .ok_or_else(|| Error::invalid(format!("no power of two >= {size}"))),
    }
}

/// `vocab` with `names` appended as special tokens at ids `len, len+1, ...`.
pub fn append_specials(vocab: &Vocab, names: &[String]) -> Result<Vocab> {
    let mut specials = vocab.specials().to_vec();
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(Error::invalid("special tokens must not be empty"));
        }
        if vocab.special_id(name).is_some() || names[..i].contains(name) {
            return Err(Error::invalid(format!(
                "special token {name:?} is already in the vocabulary"
            )));
        }
        specials.push(SpecialToken {
            content: name.clone(),
            id: (vocab.len() + i) as TokenId,
        });
    }
    let tokens = vocab
        .ordinary_tokens()
        .map(|(id, b)| (b.to_vec(), id))
        .collect();
    Vocab::from_parts(tokens, vocab.merges().to_vec(), specials)
}

/// The reserved names that pad `vocab` to `padded_size(vocab.len(), padding)`:
/// `<|reserved_0|>`, `<|reserved_1|>`, ... (skipping names already taken).
pub fn reserved_names(vocab: &Vocab, padding: Padding) -> Result<Vec<String>> {
    let target = padded_size(vocab.len(), padding)?;
    let mut names = Vec::with_capacity(target - vocab.len());
    let mut i = 0;
    while names.len() < target - vocab.len() {
        let name = format!("<|reserved_{i}|>");
        if vocab.special_id(&name).is_none() {
            names.push(name);
        }
        i += 1;
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_counts_cover_partial_sequences() {
        assert_eq!(token_chars(b"ab"), 2);
        assert_eq!(token_chars("é".as_bytes()), 1);
        assert_eq!(token_chars("日本".as_bytes()), 2);
        assert_eq!(token_chars(b"\xe6"), 1);
        assert_eq!(token_chars(b"\x97\xa5"), 1);
        assert_eq!(token_chars(b"\x97a"), 2);
        assert_eq!(token_chars(b""), 0);
        // "日" split as \xe6 | \x97\xa5: joined it is one char.
        assert!(fits_chars(b"\xe6", b"\x97\xa5", 1));
        assert!(!fits_chars(b"\xe6", b"\xe6", 1));
        for (l, r) in [
            (&b"a"[..], &b"\x97"[..]),
            (b"\xa5", b"\xe6"),
            (b"ab", b"\x80c"),
        ] {
            let joined = [l, r].concat();
            assert_eq!(fits_chars(l, r, 2), token_chars(&joined) <= 2);
        }
        assert!(fits_chars(b"ab", b"c", 3));
        assert!(!fits_chars(b"ab", b"cd", 3));
    }

    #[test]
    fn forced_base_builds_prefix_chains() {
        let added = vec![b"1776".to_vec(), b"1789".to_vec()];
        let v = forced_base(&added, &["<s>".into()], true).unwrap();
        assert_eq!(v.special_id("<s>"), Some(0));
        // 17, 177, 1776, 178, 1789 (17 shared).
        assert_eq!(v.merges().len(), 5);
        assert_eq!(v.id_of(b"1776"), Some(1 + 256 + 2));
        assert!(forced_base(&[Vec::new()], &[], true).is_err());
    }

    #[test]
    fn padding_sizes() {
        assert_eq!(padded_size(1000, Padding::Multiple(128)).unwrap(), 1024);
        assert_eq!(padded_size(1024, Padding::Multiple(128)).unwrap(), 1024);
        assert_eq!(padded_size(1025, Padding::PowerOfTwo).unwrap(), 2048);
        assert!(padded_size(5, Padding::Multiple(0)).is_err());
    }
}
