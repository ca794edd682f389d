//! Special tokens in text: finding them (Aho–Corasick, leftmost-longest, linear time) and the
//! tiktoken-style policy of which ones may appear.

use crate::error::{Error, Result};
use crate::vocab::{SpecialToken, TokenId};
use aho_corasick::{AhoCorasick, MatchKind};
use rustc_hash::FxHashSet;

/// Which special tokens a call names: all of them, none, or a set of contents.
#[derive(Clone, Debug, Default)]
pub enum SpecialSet {
    All,
    #[default]
    Nothing,
    Some(FxHashSet<String>),
}

impl SpecialSet {
    pub fn contains(&self, content: &str) -> bool {
        match self {
            SpecialSet::All => true,
            SpecialSet::Nothing => false,
            SpecialSet::Some(set) => set.contains(content),
        }
    }
}

/// A special token occurrence: byte range in the text and the token's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub id: TokenId,
}

/// Finds special tokens in text.
#[derive(Clone, Debug)]
pub struct SpecialMatcher {
    tokens: Vec<SpecialToken>,
    automaton: Option<AhoCorasick>,
}

impl SpecialMatcher {
    pub fn new(tokens: &[SpecialToken]) -> Result<Self> {
        let automaton = if tokens.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(tokens.iter().map(|t| t.content.as_bytes()))
                    .map_err(|e| Error::invalid(format!("special tokens: {e}")))?,
            )
        };
        Ok(SpecialMatcher {
            tokens: tokens.to_vec(),
            automaton,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn tokens(&self) -> &[SpecialToken] {
        &self.tokens
    }

    /// Every special-token occurrence in `text`, left to right, non-overlapping.
    pub fn find_all<'a>(&'a self, text: &'a [u8]) -> impl Iterator<Item = (Found, &'a str)> + 'a {
        self.automaton.iter().flat_map(move |ac| {
            ac.find_iter(text).map(move |m| {
                let tok = &self.tokens[m.pattern().as_usize()];
                (
                    Found {
                        start: m.start(),
                        end: m.end(),
                        id: tok.id,
                    },
                    tok.content.as_str(),
                )
            })
        })
    }

    /// The occurrences that are `allowed`, after checking that none is `disallowed`
    /// (an error names the first disallowed one). Occurrences in neither set are ordinary text.
    pub fn find_allowed(
        &self,
        text: &[u8],
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
    ) -> Result<Vec<Found>> {
        let mut out = Vec::new();
        for (found, content) in self.find_all(text) {
            if allowed.contains(content) {
                out.push(found);
            } else if disallowed.contains(content) {
                return Err(Error::DisallowedSpecial {
                    token: content.to_string(),
                    offset: found.start,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> SpecialMatcher {
        SpecialMatcher::new(&[
            SpecialToken {
                content: "<|end|>".into(),
                id: 10,
            },
            SpecialToken {
                content: "<|end|>x".into(),
                id: 11,
            },
        ])
        .unwrap()
    }

    #[test]
    fn longest_wins_and_policy_applies() {
        let m = matcher();
        let text = b"a<|end|>xb<|end|>";
        let found = m
            .find_allowed(text, &SpecialSet::All, &SpecialSet::Nothing)
            .unwrap();
        assert_eq!(found.iter().map(|f| f.id).collect::<Vec<_>>(), vec![11, 10]);
        let err = m
            .find_allowed(text, &SpecialSet::Nothing, &SpecialSet::All)
            .unwrap_err();
        assert!(err.to_string().contains("<|end|>x"));
        let none = m
            .find_allowed(text, &SpecialSet::Nothing, &SpecialSet::Nothing)
            .unwrap();
        assert!(none.is_empty());
    }
}
