//! The training corpus as compact symbol arrays.
//!
//! Every distinct pre-token is one word: a run of token ids inside one flat `Vec<u32>`, with its
//! start offset, current length and count. Merging a pair rewrites a word in place (the array
//! only shrinks), so words never reallocate.

use super::Pair;
use crate::vocab::TokenId;
use rustc_hash::FxHashMap;

/// All words of the corpus.
pub(super) struct Words {
    symbols: Vec<TokenId>,
    starts: Vec<usize>,
    lens: Vec<u32>,
    counts: Vec<i64>,
}

impl Words {
    /// Build from `(pre-token bytes, count)` with `byte_ids[b]` the id of byte `b`.
    pub(super) fn from_counts<'a>(
        counts: impl Iterator<Item = (&'a [u8], u64)>,
        byte_ids: &[TokenId; 256],
        size_hint: usize,
    ) -> Self {
        let mut words = Words {
            symbols: Vec::new(),
            starts: Vec::with_capacity(size_hint + 1),
            lens: Vec::with_capacity(size_hint),
            counts: Vec::with_capacity(size_hint),
        };
        for (piece, count) in counts {
            if piece.is_empty() || count == 0 {
                continue;
            }
            words.starts.push(words.symbols.len());
            words.lens.push(piece.len() as u32);
            words.counts.push(count.min(i64::MAX as u64) as i64);
            words
                .symbols
                .extend(piece.iter().map(|&b| byte_ids[b as usize]));
        }
        words.starts.push(words.symbols.len());
        words.symbols.shrink_to_fit();
        words
    }

    pub(super) fn len(&self) -> usize {
        self.counts.len()
    }

    pub(super) fn count(&self, w: usize) -> i64 {
        self.counts[w]
    }

    /// The current symbols of word `w`.
    pub(super) fn word(&self, w: usize) -> &[TokenId] {
        &self.symbols[self.starts[w]..self.starts[w] + self.lens[w] as usize]
    }

    /// Apply ranked merges to every word: repeatedly merge, left to right, the adjacent pairs of
    /// the lowest rank present (`ranks[pair] = (rank, result)`).
    pub(super) fn apply_ranked(&mut self, ranks: &FxHashMap<Pair, (u32, TokenId)>) {
        if ranks.is_empty() {
            return;
        }
        for w in 0..self.len() {
            let start = self.starts[w];
            let len = self.lens[w] as usize;
            let word = &mut self.symbols[start..start + len];
            self.lens[w] = apply_ranked_word(word, ranks) as u32;
        }
    }

    /// Merge `pair` into `replacement` in word `w` exactly as HF's `Word::merge` does, reporting
    /// each pair change with `emit(pair, +1 | -1)`. See [`merge_symbols`].
    pub(super) fn merge(
        &mut self,
        w: usize,
        pair: Pair,
        replacement: TokenId,
        token_len: &[u32],
        max_length: usize,
        emit: impl FnMut(Pair, i64),
    ) {
        let start = self.starts[w];
        let len = self.lens[w] as usize;
        let word = &mut self.symbols[start..start + len];
        self.lens[w] = merge_symbols(word, pair, replacement, token_len, max_length, emit) as u32;
    }
}

/// One pass of HF's `Word::merge` over `syms`, compacting in place; returns the new length.
///
/// Scanning left to right, each occurrence of `(a, b)` becomes `replacement`; the scan resumes
/// after it, so occurrences never overlap. For each merge the neighbours' pairs change: the pair
/// with the previous symbol (which may itself be a fresh replacement) and with the next symbol
/// lose one occurrence, and the new pairs with the replacement gain one — only when the two
/// tokens' lengths add up to less than `max_length` (HF's strict `<`). The merged pair itself is
/// not reported (HF leaves its count stale).
pub(super) fn merge_symbols(
    syms: &mut [TokenId],
    (a, b): Pair,
    replacement: TokenId,
    token_len: &[u32],
    max_length: usize,
    mut emit: impl FnMut(Pair, i64),
) -> usize {
    let n = syms.len();
    let new_len = token_len[replacement as usize] as usize;
    let fits =
        |other: TokenId| (token_len[other as usize] as usize).saturating_add(new_len) < max_length;
    let (mut read, mut write) = (0, 0);
    while read < n {
        if syms[read] == a && read + 1 < n && syms[read + 1] == b {
            if write > 0 {
                let prev = syms[write - 1];
                emit((prev, a), -1);
                if fits(prev) {
                    emit((prev, replacement), 1);
                }
            }
            if read + 2 < n {
                let next = syms[read + 2];
                emit((b, next), -1);
                if fits(next) {
                    emit((replacement, next), 1);
                }
            }
            syms[write] = replacement;
            read += 2;
        } else {
            syms[write] = syms[read];
            read += 1;
        }
        write += 1;
    }
    write
}

fn apply_ranked_word(word: &mut [TokenId], ranks: &FxHashMap<Pair, (u32, TokenId)>) -> usize {
    let mut len = word.len();
    loop {
        let best = word[..len]
            .windows(2)
            .filter_map(|p| ranks.get(&(p[0], p[1])).map(|r| r.0))
            .min();
        let Some(best) = best else { return len };
        let (mut read, mut write) = (0, 0);
        while read < len {
            let merged = (read + 1 < len)
                .then(|| ranks.get(&(word[read], word[read + 1])))
                .flatten()
                .filter(|r| r.0 == best);
            if let Some(&(_, result)) = merged {
                word[write] = result;
                read += 2;
            } else {
                word[write] = word[read];
                read += 1;
            }
            write += 1;
        }
        len = write;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(syms: &[u32], pair: Pair, r: u32, max: usize) -> (Vec<u32>, Vec<(Pair, i64)>) {
        let mut v = syms.to_vec();
        let lens = vec![1u32; 16];
        let mut lens = lens;
        lens[r as usize] = 2;
        let mut changes = Vec::new();
        let n = merge_symbols(&mut v, pair, r, &lens, max, |p, d| changes.push((p, d)));
        v.truncate(n);
        (v, changes)
    }

    #[test]
    fn merge_matches_hf_word_merge() {
        // HF's test_merge: "hello" with (l, l) -> ll.
        let (w, c) = run(&[0, 1, 2, 2, 3], (2, 2), 4, usize::MAX);
        assert_eq!(w, vec![0, 1, 4, 3]);
        assert_eq!(
            c,
            vec![((1, 2), -1), ((1, 4), 1), ((2, 3), -1), ((4, 3), 1)]
        );
        // Overlapping runs merge left to right.
        let (w, c) = run(&[1, 1, 1, 1], (1, 1), 5, usize::MAX);
        assert_eq!(w, vec![5, 5]);
        assert_eq!(
            c,
            vec![((1, 1), -1), ((5, 1), 1), ((5, 1), -1), ((5, 5), 1)]
        );
    }

    #[test]
    fn max_length_skips_new_pairs_only() {
        // len(prev) + len(new) = 1 + 2 = 3, not < 3: the new pair is not created.
        let (w, c) = run(&[0, 2, 2, 3], (2, 2), 4, 3);
        assert_eq!(w, vec![0, 4, 3]);
        assert_eq!(c, vec![((0, 2), -1), ((2, 3), -1)]);
    }

    #[test]
    fn ranked_application_prefers_low_ranks() {
        let mut ranks = FxHashMap::default();
        ranks.insert((1, 2), (1, 10));
        ranks.insert((2, 3), (0, 11));
        ranks.insert((1, 11), (2, 12));
        let mut w = vec![1, 2, 3, 1, 2];
        let n = apply_ranked_word(&mut w, &ranks);
        assert_eq!(&w[..n], &[12, 10]);
    }
}
