//! The pair index: for every adjacent pair, its weighted count and the words it occurs in.
//!
//! Built once over all words (in parallel over word ranges, merged in range order so every
//! occurrence list is sorted and duplicate-free), then kept up to date by the merge loop from the
//! changes that each word merge reports.

use super::words::Words;
use super::Pair;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Count and occurrence list of one pair.
pub(super) struct PairStats {
    pub count: i64,
    pub words: Vec<u32>,
}

/// Count every adjacent pair of every word (weighted by the word's count) and list the words
/// that contain it.
pub(super) fn count_pairs(words: &Words) -> FxHashMap<Pair, PairStats> {
    let n = words.len();
    let parts = rayon::current_num_threads().clamp(1, 16);
    if n < 50_000 || parts == 1 {
        return count_range(words, 0, n);
    }
    let step = n.div_ceil(parts);
    let maps: Vec<_> = (0..parts)
        .into_par_iter()
        .map(|p| count_range(words, p * step, ((p + 1) * step).min(n)))
        .collect();
    let mut iter = maps.into_iter();
    let mut all = iter.next().unwrap_or_default();
    for map in iter {
        for (pair, stats) in map {
            match all.get_mut(&pair) {
                Some(s) => {
                    s.count += stats.count;
                    s.words.extend_from_slice(&stats.words);
                }
                None => {
                    all.insert(pair, stats);
                }
            }
        }
    }
    all
}

fn count_range(words: &Words, from: usize, to: usize) -> FxHashMap<Pair, PairStats> {
    let mut map: FxHashMap<Pair, PairStats> = FxHashMap::default();
    for w in from..to {
        let count = words.count(w);
        for win in words.word(w).windows(2) {
            let stats = map.entry((win[0], win[1])).or_insert_with(|| PairStats {
                count: 0,
                words: Vec::new(),
            });
            stats.count += count;
            if stats.words.last() != Some(&(w as u32)) {
                stats.words.push(w as u32);
            }
        }
    }
    map
}
