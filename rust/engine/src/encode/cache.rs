//! A small per-thread memo of the pieces that needed merging.
//!
//! Real text repeats itself: the rare words, identifiers and numbers that are not tokens on their
//! own recur within a document (about 80% of such pieces in our prose + code mix were seen among
//! the last few thousand). Running the merge loop again costs about three pair-table probes per
//! byte; a memo hit costs one hash and one compare.
//!
//! The memo is direct-mapped, like a CPU cache: a fixed array of 64-byte slots, each holding one
//! piece (up to [`MAX_KEY`] bytes) and its ids (up to [`MAX_IDS`]) inline. A lookup reads one
//! slot; an insert overwrites it. Nothing is allocated per piece, memory is bounded (128 KiB per
//! thread), and input that never repeats (random letters, base64) costs only the failed compare,
//! and not even that once a stream's [`MemoGate`] has seen a window of misses. Each slot records
//! which model wrote it, so one thread can use several tokenizers: a slot written by another
//! model is simply a miss.

use crate::vocab::TokenId;
use std::cell::RefCell;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU32, Ordering};

/// Longest piece memoised.
const MAX_KEY: usize = 22;
/// Most ids a memoised piece may have.
const MAX_IDS: usize = 8;
/// Number of slots (a power of two).
const SLOTS: usize = 2048;

/// Identifies the model that wrote a slot; 0 marks an empty slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ModelTag(u32);

impl ModelTag {
    /// A tag no other model in this process has.
    pub(crate) fn fresh() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        ModelTag(NEXT.fetch_add(1, Ordering::Relaxed).max(1))
    }
}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    tag: u32,
    key_len: u8,
    n_ids: u8,
    key: [u8; MAX_KEY],
    ids: [TokenId; MAX_IDS],
}

const EMPTY: Slot = Slot {
    tag: 0,
    key_len: 0,
    n_ids: 0,
    key: [0; MAX_KEY],
    ids: [0; MAX_IDS],
};

struct Memo {
    slots: Box<[Slot]>,
}

thread_local! {
    static MEMO: RefCell<Option<Memo>> = const { RefCell::new(None) };
}

fn slot_of(piece: &[u8]) -> usize {
    let mut h = rustc_hash::FxHasher::default();
    h.write(piece);
    // The high bits of an Fx hash are the well-mixed ones.
    (h.finish() >> 40) as usize & (SLOTS - 1)
}

/// Whether `key` starts with `piece` (at most [`MAX_KEY`] bytes), compared a word at a time with
/// overlapping loads instead of a call to `memcmp`.
#[inline(always)]
fn same(key: &[u8; MAX_KEY], piece: &[u8]) -> bool {
    let n = piece.len();
    let word = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let half = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    match n {
        0 => true,
        1..=3 => key[0] == piece[0] && key[n / 2] == piece[n / 2] && key[n - 1] == piece[n - 1],
        4..=7 => half(key, 0) == half(piece, 0) && half(key, n - 4) == half(piece, n - 4),
        8..=16 => word(key, 0) == word(piece, 0) && word(key, n - 8) == word(piece, n - 8),
        _ => {
            word(key, 0) == word(piece, 0)
                && word(key, 8) == word(piece, 8)
                && word(key, n - 8) == word(piece, n - 8)
        }
    }
}

/// Probes per verdict of a [`MemoGate`].
const GATE_WINDOW: u32 = 256;
/// A window with fewer hits than this closes the gate.
const GATE_MIN_HITS: u32 = GATE_WINDOW / 8;
/// Pieces merged without the memo once the gate closes, before it probes again.
const GATE_CLOSED: u32 = 4096;

/// Whether a stream of pieces consults the memo.
///
/// A miss costs a hash, a compare and a store (about a quarter of merging a short piece), a hit
/// saves the whole merge. On text that never repeats (random letters, base64, CJK) nearly every
/// probe misses, so after a window of [`GATE_WINDOW`] probes with fewer than [`GATE_MIN_HITS`]
/// hits the gate lets [`GATE_CLOSED`] pieces be merged directly, then probes again. Real text,
/// whose non-token pieces hit about 80% of the time, keeps it open.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MemoGate {
    probes: u32,
    hits: u32,
    closed_for: u32,
}

impl MemoGate {
    /// Whether the next piece should consult the memo (counting down a closed gate).
    #[inline(always)]
    fn admits(&mut self) -> bool {
        if self.closed_for == 0 {
            return true;
        }
        self.closed_for -= 1;
        false
    }

    /// Whether the gate is closed now (for tests).
    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed_for > 0
    }

    #[inline(always)]
    fn record(&mut self, hit: bool) {
        self.probes += 1;
        self.hits += u32::from(hit);
        if self.probes == GATE_WINDOW {
            if self.hits < GATE_MIN_HITS {
                self.closed_for = GATE_CLOSED;
            }
            self.probes = 0;
            self.hits = 0;
        }
    }
}

/// Append `piece`'s ids to `out` from this thread's memo, or compute them with `merge` (which
/// appends to `out`) and remember them; `gate` may skip the memo on text that does not repeat.
#[inline]
pub(crate) fn memoised(
    tag: ModelTag,
    piece: &[u8],
    out: &mut Vec<TokenId>,
    gate: &mut MemoGate,
    merge: impl FnOnce(&mut Vec<TokenId>),
) {
    if piece.len() > MAX_KEY || !gate.admits() {
        return merge(out);
    }
    let at = slot_of(piece);
    let hit = MEMO.with(|m| {
        let m = m.borrow();
        let Some(memo) = m.as_ref() else { return false };
        let s = &memo.slots[at];
        let found = s.tag == tag.0 && usize::from(s.key_len) == piece.len() && same(&s.key, piece);
        if found {
            out.extend_from_slice(&s.ids[..s.n_ids as usize]);
        }
        found
    });
    gate.record(hit);
    if hit {
        return;
    }
    let first = out.len();
    merge(out);
    let ids = &out[first..];
    if ids.len() > MAX_IDS {
        return;
    }
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        let memo = m.get_or_insert_with(|| Memo {
            slots: vec![EMPTY; SLOTS].into_boxed_slice(),
        });
        let s = &mut memo.slots[at];
        s.tag = tag.0;
        s.key_len = piece.len() as u8;
        s.key[..piece.len()].copy_from_slice(piece);
        s.n_ids = ids.len() as u8;
        s.ids[..ids.len()].copy_from_slice(ids);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_return_what_was_stored_and_models_do_not_mix() {
        let (a, b) = (ModelTag::fresh(), ModelTag::fresh());
        let mut out = Vec::new();
        memoised(a, b"hello", &mut out, &mut MemoGate::default(), |o| {
            o.extend([1, 2])
        });
        memoised(a, b"hello", &mut out, &mut MemoGate::default(), |_| {
            panic!("should be a hit")
        });
        assert_eq!(out, [1, 2, 1, 2]);
        let mut calls = 0;
        memoised(b, b"hello", &mut out, &mut MemoGate::default(), |o| {
            calls += 1;
            o.push(9)
        });
        assert_eq!(calls, 1, "another model's slot is a miss");
        assert_eq!(out, [1, 2, 1, 2, 9]);
    }

    #[test]
    fn the_gate_closes_on_misses_reopens_and_stays_open_on_hits() {
        let mut gate = MemoGate::default();
        for _ in 0..GATE_WINDOW {
            assert!(gate.admits());
            gate.record(false);
        }
        for _ in 0..GATE_CLOSED {
            assert!(!gate.admits(), "closed after a window of misses");
        }
        assert!(gate.admits(), "probes again after GATE_CLOSED pieces");
        let mut gate = MemoGate::default();
        for i in 0..10 * GATE_WINDOW {
            assert!(gate.admits(), "a window with enough hits keeps it open");
            gate.record(i % 8 == 0);
        }
    }

    #[test]
    fn same_compares_every_byte_of_every_length() {
        for n in 0..=MAX_KEY {
            let piece: Vec<u8> = (0..n as u8)
                .map(|i| i.wrapping_mul(29).wrapping_add(3))
                .collect();
            let mut key = [0u8; MAX_KEY];
            key[..n].copy_from_slice(&piece);
            assert!(same(&key, &piece), "n={n}");
            for at in 0..n {
                let mut other = key;
                other[at] ^= 1;
                assert!(!same(&other, &piece), "n={n} at={at}");
            }
        }
    }

    #[test]
    fn long_pieces_and_many_ids_are_not_stored() {
        let tag = ModelTag::fresh();
        let long = [b'x'; MAX_KEY + 1];
        for _ in 0..2 {
            let mut calls = 0;
            memoised(tag, &long, &mut Vec::new(), &mut MemoGate::default(), |o| {
                calls += 1;
                o.push(1)
            });
            assert_eq!(calls, 1);
        }
        let many: Vec<TokenId> = (0..MAX_IDS as TokenId + 1).collect();
        for _ in 0..2 {
            let mut calls = 0;
            memoised(
                tag,
                b"many",
                &mut Vec::new(),
                &mut MemoGate::default(),
                |o| {
                    calls += 1;
                    o.extend(&many)
                },
            );
            assert_eq!(calls, 1);
        }
    }
}
