//! Pre-tokenizers for supertokens (tokens that cross white space).
//!
//! * [`SUPERBPE`]: SuperBPE's stage-2 regex (Liu et al. 2025, `scripts/extend_tokenizer.sh` of
//!   PythonNut/superbpe). Used as an HF-style isolated `Split`: matches are pieces and so is the
//!   text between matches. Its matches are only runs of 1-3 digits, runs of two or more
//!   punctuation/symbol chars (with an optional leading space and trailing `\r`, `\n`, `/`), and
//!   runs of spaces that are followed by more white space. Everything else, in particular words
//!   joined by single spaces (and by single newlines), is one gap piece, so merges may join words.
//!   It runs on fancy-regex (it has a look-ahead) and exports to tokenizer.json as is.
//! * [`Chunks`] (spec `chunks:MIN-MAX[:SEED]`): the separator curriculum of TokenAdapt
//!   (Sharthak et al. 2025). The text is cut into chunks whose lengths, in chars, are drawn
//!   uniformly from `MIN..=MAX` by a seeded generator (SplitMix64, seeded from the seed and a hash
//!   of the text, so the same text always gets the same cuts). Chunk cuts ignore white space, so
//!   learned tokens can span it. This is a *training-only* pre-tokenizer: HF has no equivalent,
//!   and a tokenizer trained on chunks encodes with another pre-tokenizer (`none` by default).

use crate::error::{Error, Result};

/// SuperBPE's stage-2 pre-tokenizer regex.
pub const SUPERBPE: &str = r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]{2,}[\r\n/]*| +(?!\S)";

/// Prefix of a chunk spec.
pub const CHUNKS_PREFIX: &str = "chunks:";

/// Random-length chunking (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunks {
    min: usize,
    max: usize,
    seed: u64,
}

impl Chunks {
    /// Chunks of `min..=max` chars (`1 <= min <= max`).
    pub fn new(min: usize, max: usize, seed: u64) -> Result<Self> {
        if min == 0 || min > max {
            return Err(Error::invalid(format!(
                "chunk lengths must satisfy 1 <= min <= max, got min {min}, max {max}"
            )));
        }
        Ok(Chunks { min, max, seed })
    }

    /// Parse `chunks:MIN-MAX[:SEED]`; `None` when `spec` does not start with `chunks:`.
    pub fn parse(spec: &str) -> Option<Result<Self>> {
        let rest = spec.trim().strip_prefix(CHUNKS_PREFIX)?;
        let bad = || {
            Error::invalid(format!(
                "bad chunk spec {spec:?}: expected chunks:MIN-MAX or chunks:MIN-MAX:SEED"
            ))
        };
        let mut parts = rest.split(':');
        let range = parts.next().unwrap_or_default();
        let seed = match parts.next() {
            Some(s) => s.parse::<u64>().map_err(|_| bad()),
            None => Ok(0),
        };
        let parsed = (|| {
            if parts.next().is_some() {
                return Err(bad());
            }
            let (lo, hi) = range.split_once('-').ok_or_else(bad)?;
            let lo = lo.parse::<usize>().map_err(|_| bad())?;
            let hi = hi.parse::<usize>().map_err(|_| bad())?;
            Chunks::new(lo, hi, seed?)
        })();
        Some(parsed)
    }

    /// The spec that [`Chunks::parse`] reads back.
    pub fn spec(&self) -> String {
        format!("{CHUNKS_PREFIX}{}-{}:{}", self.min, self.max, self.seed)
    }

    /// Call `f` on each chunk of `text`, in order; the chunks concatenate to `text`.
    pub fn for_each_piece<'t>(&self, text: &'t str, f: &mut impl FnMut(&'t str)) {
        let mut rng = SplitMix64(self.seed ^ fnv1a(text.as_bytes()));
        let span = (self.max - self.min + 1) as u64;
        let mut start = 0;
        let mut chars = text.char_indices();
        loop {
            let len = self.min + (rng.next() % span) as usize;
            // The byte offset after `len` more chars (or the end of text).
            let end = chars.nth(len - 1).map(|(i, c)| i + c.len_utf8());
            match end {
                Some(end) => {
                    f(&text[start..end]);
                    start = end;
                }
                None => {
                    if start < text.len() {
                        f(&text[start..]);
                    }
                    return;
                }
            }
        }
    }
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretokenize::PreTokenizer;

    #[test]
    fn superbpe_joins_words_across_single_spaces() {
        let p = PreTokenizer::new(SUPERBPE).unwrap();
        assert_eq!(
            p.split("Hello big world.\nIt costs 1234 dollars...  ok"),
            vec![
                "Hello big world.\nIt costs ",
                "123",
                "4",
                " dollars",
                "...",
                " ",
                " ok"
            ]
        );
    }

    #[test]
    fn chunks_cover_text_within_bounds() {
        let c = Chunks::new(4, 23, 7).unwrap();
        let text = "The quick brown fox jumps over the lazy dog, — naïve café 東京 ".repeat(20);
        let mut pieces = Vec::new();
        c.for_each_piece(&text, &mut |p| pieces.push(p));
        assert_eq!(pieces.concat(), text);
        for p in &pieces[..pieces.len() - 1] {
            let n = p.chars().count();
            assert!((4..=23).contains(&n), "{p:?} has {n} chars");
        }
        // Lengths vary, and the cuts are deterministic.
        let lens: std::collections::HashSet<_> = pieces.iter().map(|p| p.len()).collect();
        assert!(lens.len() > 5);
        let mut again = Vec::new();
        c.for_each_piece(&text, &mut |p| again.push(p));
        assert_eq!(pieces, again);
    }

    #[test]
    fn chunk_specs() {
        let c = Chunks::parse("chunks:4-23").unwrap().unwrap();
        assert_eq!(c, Chunks::new(4, 23, 0).unwrap());
        assert_eq!(Chunks::parse(&c.spec()).unwrap().unwrap(), c);
        assert!(Chunks::parse("o200k").is_none());
        for bad in [
            "chunks:5",
            "chunks:0-3",
            "chunks:9-3",
            "chunks:4-5:x",
            "chunks:1-2:3:4",
        ] {
            let err = Chunks::parse(bad).unwrap().unwrap_err().to_string();
            assert!(err.contains("chunk"), "{bad}: {err}");
        }
        let p = PreTokenizer::new("chunks:2-2:1").unwrap();
        assert_eq!(p.split("abcde"), vec!["ab", "cd", "e"]);
        assert_eq!(p.spec(), "chunks:2-2:1");
    }
}
