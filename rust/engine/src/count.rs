//! Counting pre-tokens over a corpus. (Stub: the trainer helper fills this in.)

use rustc_hash::FxHashMap;

/// Pre-token bytes -> occurrences.
#[derive(Clone, Debug, Default)]
pub struct WordCounts {
    counts: FxHashMap<Box<[u8]>, u64>,
}

impl WordCounts {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, piece: &[u8], n: u64) {
        *self.counts.entry(piece.into()).or_default() += n;
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.counts.iter().map(|(k, v)| (&k[..], *v))
    }
}
