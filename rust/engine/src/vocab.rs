//! The learned artifact: token bytes and ids, ranked merges, special tokens.
//!
//! Two merge semantics exist in the wild and both are represented exactly by a list of
//! [`Merge`]s with explicit ranks:
//! - HF `tokenizer.json` / our trainer: a merge list; the rank of a pair is its index.
//! - tiktoken rank files: no merge list; two adjacent parts merge when their concatenation is a
//!   token, lowest token rank first. [`Vocab::from_ranks`] derives every split `(left, right)` of
//!   every token whose halves are both tokens, with `rank = id of the result`, so the same encoder
//!   reproduces tiktoken's output (ties on equal rank go to the leftmost position, as in tiktoken).
//!
//! Ids may have holes (cl100k has no id 100256); [`Vocab::len`] is one past the largest id.

use crate::encode::TokenIndex;
use crate::error::{Error, Result};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

pub type TokenId = u32;

/// One merge rule: `left` followed by `right` becomes `result`; lower `rank` applies first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Merge {
    pub left: TokenId,
    pub right: TokenId,
    pub result: TokenId,
    pub rank: u32,
}

/// A special (added) token: matched verbatim in text before pre-tokenization, never merged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SpecialToken {
    pub content: String,
    pub id: TokenId,
}

#[derive(Clone, Debug)]
pub struct Vocab {
    /// id -> bytes; specials hold their UTF-8 content; `None` marks a hole.
    tokens: Vec<Option<Box<[u8]>>>,
    /// bytes -> id for ordinary (non-special) tokens.
    ids: TokenMap,
    merges: Vec<Merge>,
    specials: Vec<SpecialToken>,
    special_ids: FxHashSet<TokenId>,
    byte_ids: [TokenId; 256],
    /// Set by [`Vocab::from_ranks`] only: the merges are every split of a token into two
    /// tokens, ranked by the token's id (a vocabulary never changes once built).
    merges_are_splits: bool,
}

impl Vocab {
    /// Build from ordinary tokens, a merge list in rank order (HF semantics: rank = index) and
    /// special tokens. Each merge's result is the token whose bytes are `left ++ right`.
    pub fn from_merges(
        tokens: Vec<(Vec<u8>, TokenId)>,
        merges: &[(TokenId, TokenId)],
        specials: Vec<SpecialToken>,
    ) -> Result<Self> {
        let mut vocab = Self::from_tokens(tokens, specials)?;
        let mut list = Vec::with_capacity(merges.len());
        for (rank, &(left, right)) in merges.iter().enumerate() {
            let (l, r) = vocab.pair_bytes(left, right).ok_or_else(|| {
                Error::format(
                    format!("merges[{rank}]"),
                    format!("merge ({left}, {right}) refers to an id outside the vocabulary"),
                )
            })?;
            let result = vocab.ids.get_joined(l, r).ok_or_else(|| {
                Error::format(
                    format!("merges[{rank}]"),
                    format!("the result of merge ({left}, {right}) is not in the vocabulary"),
                )
            })?;
            list.push(Merge {
                left,
                right,
                result,
                rank: rank as u32,
            });
        }
        vocab.merges = list;
        Ok(vocab)
    }

    /// Build from tiktoken-style ranks (`id` = rank) and special tokens, deriving the merges
    /// (every split of every token into two tokens; o200k has 446k, found in parallel).
    pub fn from_ranks(ranks: Vec<(Vec<u8>, TokenId)>, specials: Vec<SpecialToken>) -> Result<Self> {
        let mut vocab = Self::from_tokens(ranks, specials)?;
        // The encoder's token index: its L2-sized filters answer most of the probes for halves
        // that are not tokens, and each token's probes are announced together.
        let index = &TokenIndex::new(vocab.ordinary_tokens());
        let tokens: Vec<(TokenId, &[u8])> = vocab.ordinary_tokens().collect();
        let mut merges: Vec<Merge> = tokens
            .par_iter()
            .flat_map_iter(|&(id, bytes)| {
                for split in 1..bytes.len() {
                    index.prefetch(&bytes[..split]);
                    index.prefetch(&bytes[split..]);
                }
                (1..bytes.len()).filter_map(move |split| {
                    let left = index.get(&bytes[..split])?;
                    let right = index.get(&bytes[split..])?;
                    Some(Merge {
                        left,
                        right,
                        result: id,
                        rank: id,
                    })
                })
            })
            .collect();
        merges.sort_unstable_by_key(|m| (m.rank, m.left, m.right));
        vocab.merges = merges;
        vocab.merges_are_splits = true;
        Ok(vocab)
    }

    /// Build from an explicit, already ranked merge list (as the trainer produces it).
    pub fn from_parts(
        tokens: Vec<(Vec<u8>, TokenId)>,
        merges: Vec<Merge>,
        specials: Vec<SpecialToken>,
    ) -> Result<Self> {
        let mut vocab = Self::from_tokens(tokens, specials)?;
        for m in &merges {
            let ok = vocab
                .pair_bytes(m.left, m.right)
                .zip(vocab.token_bytes(m.result))
                .is_some_and(|((l, r), joined)| {
                    joined.len() == l.len() + r.len()
                        && joined.starts_with(l)
                        && joined.ends_with(r)
                });
            if !ok {
                return Err(Error::invalid(format!(
                    "merge ({}, {}) -> {} is inconsistent with the token bytes",
                    m.left, m.right, m.result
                )));
            }
        }
        vocab.merges = merges;
        Ok(vocab)
    }

    fn from_tokens(tokens: Vec<(Vec<u8>, TokenId)>, specials: Vec<SpecialToken>) -> Result<Self> {
        let max_id = tokens
            .iter()
            .map(|(_, id)| *id)
            .chain(specials.iter().map(|s| s.id))
            .max()
            .ok_or_else(|| Error::invalid("empty vocabulary"))?;
        let mut slots: Vec<Option<Box<[u8]>>> = vec![None; max_id as usize + 1];
        let mut ids = TokenMap::with_capacity(tokens.len());
        for (bytes, id) in tokens {
            if bytes.is_empty() {
                return Err(Error::invalid(format!("token id {id} has empty bytes")));
            }
            if slots[id as usize].is_some() {
                return Err(Error::invalid(format!("token id {id} is assigned twice")));
            }
            let bytes: Box<[u8]> = bytes.into_boxed_slice();
            if ids.insert(&bytes, id).is_some() {
                return Err(Error::invalid(format!(
                    "token bytes {:?} appear under two ids",
                    String::from_utf8_lossy(&bytes)
                )));
            }
            slots[id as usize] = Some(bytes);
        }
        let mut special_ids = FxHashSet::default();
        for s in &specials {
            if s.content.is_empty() {
                return Err(Error::invalid(format!(
                    "special token id {} is empty",
                    s.id
                )));
            }
            if slots[s.id as usize].is_some() {
                return Err(Error::invalid(format!(
                    "special token {:?} reuses id {}, which is already taken",
                    s.content, s.id
                )));
            }
            slots[s.id as usize] = Some(s.content.as_bytes().into());
            special_ids.insert(s.id);
        }
        let mut byte_ids = [0; 256];
        for b in 0..=255u8 {
            byte_ids[b as usize] = ids.get(&[b]).ok_or_else(|| {
                Error::invalid(format!(
                    "the vocabulary lacks the single-byte token 0x{b:02x}; toksmith needs all 256 \
                     bytes (byte-level BPE)"
                ))
            })?;
        }
        Ok(Vocab {
            tokens: slots,
            ids,
            merges: Vec::new(),
            specials,
            special_ids,
            byte_ids,
            merges_are_splits: false,
        })
    }

    /// The bytes of two ordinary tokens (`None` if either is special or unknown).
    fn pair_bytes(&self, left: TokenId, right: TokenId) -> Option<(&[u8], &[u8])> {
        Some((self.ordinary_bytes(left)?, self.ordinary_bytes(right)?))
    }

    fn ordinary_bytes(&self, id: TokenId) -> Option<&[u8]> {
        if self.special_ids.contains(&id) {
            return None;
        }
        self.token_bytes(id)
    }

    /// One past the largest id (ids may have holes).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Number of ordinary tokens (without specials and holes).
    pub fn num_ordinary(&self) -> usize {
        self.ids.len()
    }

    /// The bytes of a token (a special token's UTF-8 content for specials).
    pub fn token_bytes(&self, id: TokenId) -> Option<&[u8]> {
        self.tokens.get(id as usize)?.as_deref()
    }

    /// The id of an ordinary token by its bytes.
    pub fn id_of(&self, bytes: &[u8]) -> Option<TokenId> {
        self.ids.get(bytes)
    }

    /// The id of the single-byte token for `b`.
    pub fn byte_id(&self, b: u8) -> TokenId {
        self.byte_ids[b as usize]
    }

    pub fn merges(&self) -> &[Merge] {
        &self.merges
    }

    pub fn specials(&self) -> &[SpecialToken] {
        &self.specials
    }

    pub fn is_special(&self, id: TokenId) -> bool {
        self.special_ids.contains(&id)
    }

    pub fn special_id(&self, content: &str) -> Option<TokenId> {
        self.specials
            .iter()
            .find(|s| s.content == content)
            .map(|s| s.id)
    }

    /// Ordinary tokens as `(id, bytes)` in id order.
    pub fn ordinary_tokens(&self) -> impl Iterator<Item = (TokenId, &[u8])> + '_ {
        self.tokens.iter().enumerate().filter_map(move |(id, t)| {
            let id = id as TokenId;
            match t {
                Some(bytes) if !self.special_ids.contains(&id) => Some((id, &bytes[..])),
                _ => None,
            }
        })
    }

    /// True when every merge's rank equals its result id and ids follow ranks, i.e. the vocab
    /// can be written as a tiktoken rank file without changing how text encodes.
    pub fn ranks_are_ids(&self) -> bool {
        self.merges.iter().all(|m| m.rank == m.result)
    }

    /// True when the vocabulary was built by [`Vocab::from_ranks`], whose merges are by
    /// construction every split of a token into two tokens, ranked by the token's id (false
    /// does not mean they are not: other constructors do not check).
    pub fn merges_are_splits(&self) -> bool {
        self.merges_are_splits
    }
}

/// Ordinary token bytes -> id (also used for `tokenizer.json`'s vocab keys). Keys of up to 15
/// bytes (nearly every token) are packed with their length into one integer: an insert allocates
/// nothing and a probe hashes one word and compares integers, with no pointer to follow and no
/// byte compare (deriving o200k's merges makes a few million probes). Longer keys live in a map
/// of owned bytes.
#[derive(Clone, Debug, Default)]
pub(crate) struct TokenMap {
    packed: FxHashMap<u128, TokenId>,
    long: FxHashMap<Box<[u8]>, TokenId>,
}

impl TokenMap {
    const PACKED: usize = 15;

    fn pack(bytes: &[u8]) -> u128 {
        let mut key = [0u8; 16];
        key[..bytes.len()].copy_from_slice(bytes);
        key[15] = bytes.len() as u8;
        u128::from_le_bytes(key)
    }

    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut map = TokenMap::default();
        map.packed.reserve(n);
        map
    }

    /// Store `id` under `bytes` (not empty), returning the id it replaces.
    pub(crate) fn insert(&mut self, bytes: &[u8], id: TokenId) -> Option<TokenId> {
        if bytes.len() <= Self::PACKED {
            self.packed.insert(Self::pack(bytes), id)
        } else {
            self.long.insert(bytes.into(), id)
        }
    }

    pub(crate) fn get(&self, bytes: &[u8]) -> Option<TokenId> {
        if bytes.len() <= Self::PACKED {
            self.packed.get(&Self::pack(bytes)).copied()
        } else {
            self.long.get(bytes).copied()
        }
    }

    /// The id of the token `left ++ right`, without allocating for short ones.
    fn get_joined(&self, left: &[u8], right: &[u8]) -> Option<TokenId> {
        let n = left.len() + right.len();
        if n <= Self::PACKED {
            let mut key = [0u8; 16];
            key[..left.len()].copy_from_slice(left);
            key[left.len()..n].copy_from_slice(right);
            key[15] = n as u8;
            self.packed.get(&u128::from_le_bytes(key)).copied()
        } else {
            self.long.get([left, right].concat().as_slice()).copied()
        }
    }

    fn len(&self) -> usize {
        self.packed.len() + self.long.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes256() -> Vec<(Vec<u8>, TokenId)> {
        (0..=255u8).map(|b| (vec![b], b as TokenId)).collect()
    }

    #[test]
    fn token_map_keys_keep_length_and_zero_bytes_apart() {
        let keys: [&[u8]; 8] = [
            b"a",
            b"a\0",
            b"\0a",
            b"abcdefghijklmno",
            b"abcdefghijklmno\0",
            b"abcdefghijklmnop",
            b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        ];
        let mut map = TokenMap::with_capacity(4);
        for (id, key) in keys.iter().enumerate() {
            assert_eq!(map.insert(key, id as TokenId), None);
        }
        assert_eq!(map.len(), keys.len());
        for (id, key) in keys.iter().enumerate() {
            assert_eq!(map.get(key), Some(id as TokenId), "{key:?}");
        }
        for absent in [
            &b"\0"[..],
            b"a\0\0",
            b"abcdefghijklmn",
            b"abcdefghijklmnopq",
        ] {
            assert_eq!(map.get(absent), None, "{absent:?}");
        }
        for (id, key) in keys.iter().enumerate() {
            for cut in 0..=key.len() {
                let (l, r) = key.split_at(cut);
                assert_eq!(
                    map.get_joined(l, r),
                    Some(id as TokenId),
                    "{key:?} at {cut}"
                );
            }
        }
        assert_eq!(map.get_joined(b"a", b"\0\0"), None);
        assert_eq!(map.insert(b"abcdefghijklmnop", 99), Some(5));
    }

    #[test]
    fn merges_resolve_to_results() {
        let mut toks = bytes256();
        toks.push((b"ab".to_vec(), 256));
        toks.push((b"abc".to_vec(), 257));
        let v = Vocab::from_merges(toks, &[(97, 98), (256, 99)], vec![]).unwrap();
        assert_eq!(v.merges()[1].result, 257);
        assert_eq!(v.merges()[1].rank, 1);
        assert!(Vocab::from_merges(bytes256(), &[(97, 98)], vec![]).is_err());
    }

    #[test]
    fn ranks_derive_every_split() {
        let mut toks = bytes256();
        toks.push((b"ab".to_vec(), 256));
        toks.push((b"bc".to_vec(), 257));
        toks.push((b"abc".to_vec(), 258));
        let special = SpecialToken {
            content: "<|end|>".into(),
            id: 300,
        };
        let v = Vocab::from_ranks(toks, vec![special]).unwrap();
        let abc: Vec<_> = v.merges().iter().filter(|m| m.result == 258).collect();
        assert_eq!(abc.len(), 2);
        assert!(abc.iter().all(|m| m.rank == 258));
        assert_eq!(v.len(), 301);
        assert_eq!(v.token_bytes(299), None);
        assert_eq!(v.token_bytes(300), Some(&b"<|end|>"[..]));
        assert!(v.ranks_are_ids());
    }

    #[test]
    fn missing_byte_is_an_error() {
        let toks: Vec<_> = (0..255u8).map(|b| (vec![b], b as TokenId)).collect();
        let err = Vocab::from_ranks(toks, vec![]).unwrap_err().to_string();
        assert!(err.contains("0xff"), "{err}");
    }
}
