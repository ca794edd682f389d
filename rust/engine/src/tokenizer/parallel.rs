//! One long text encoded on several threads.
//!
//! A text's pieces are encoded independently of each other, so once the pre-tokenizer has found
//! them they can be shared out. The calling thread scans the text and collects where each piece
//! ends; every [`BATCH`] bytes of pieces it hands the batch to the current rayon pool and scans
//! on, so scanning and merging overlap. Each batch's ids come back tagged with the batch's
//! number and are appended in order: the same pieces, each encoded the same way, in the same
//! order, so the ids are exactly those of one sequential pass.
//!
//! Memory beyond the ids is four bytes per piece of the batches not yet encoded, and at most
//! [`IN_FLIGHT`] batches per thread are waiting: past that the scanning thread encodes the
//! batch itself, which also keeps a pool that is busy elsewhere from falling behind.
//!
//! A single long piece (a CJK run without punctuation) is one batch here; from 256 KiB on the
//! encoder cuts it into parts of its own (`BpeModel::encode_chunked`).

use super::Tokenizer;
use crate::encode::PieceStream;
use crate::vocab::TokenId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Texts shorter than this are encoded on the calling thread (small in tests, so that the
/// proptests' texts take this path).
const PARALLEL_MIN: usize = if cfg!(test) { 2048 } else { 256 * 1024 };
/// Bytes of pieces in a batch.
const BATCH: usize = if cfg!(test) { 512 } else { 32 * 1024 };
/// Batches per pool thread that may wait to be encoded.
const IN_FLIGHT: usize = 8;

impl Tokenizer {
    /// Whether `text` (normalized) is encoded on several threads.
    pub(super) fn encodes_in_parallel(&self, text: &str) -> bool {
        text.len() >= PARALLEL_MIN
            && text.len() <= u32::MAX as usize
            && rayon::current_num_threads() > 1
    }

    /// Encode normalized `text` on the current rayon pool (see the module docs).
    pub(super) fn encode_parallel(&self, text: &str, out: &mut Vec<TokenId>) {
        let base = text.as_ptr() as usize;
        let max_waiting = rayon::current_num_threads() * IN_FLIGHT;
        let (done_tx, done_rx) = mpsc::channel::<(usize, Vec<TokenId>)>();
        let finished = AtomicUsize::new(0);
        let mut batches = 0;
        rayon::scope(|scope| {
            // Piece ends (byte offsets into `text`) since `from`, where the batch starts.
            let mut ends: Vec<u32> = Vec::new();
            let mut from = 0;
            self.pretokenizer.for_each_piece(text, |piece| {
                let end = piece.as_ptr() as usize - base + piece.len();
                ends.push(end as u32);
                if end - from < BATCH {
                    return;
                }
                let (batch, number, start) = (std::mem::take(&mut ends), batches, from);
                batches += 1;
                from = end;
                let (done_tx, finished) = (done_tx.clone(), &finished);
                let encode = move || {
                    let ids = self.encode_pieces_from(text, start, &batch);
                    finished.fetch_add(1, Ordering::Relaxed);
                    // The receiver outlives the scope: sending cannot fail.
                    let _ = done_tx.send((number, ids));
                };
                if number - finished.load(Ordering::Relaxed) >= max_waiting {
                    encode();
                } else {
                    scope.spawn(move |_| encode());
                }
            });
            let _ = done_tx.send((batches, self.encode_pieces_from(text, from, &ends)));
            batches += 1;
        });
        drop(done_tx);
        let mut results = vec![Vec::new(); batches];
        for (number, ids) in done_rx {
            results[number] = ids;
        }
        out.reserve(results.iter().map(Vec::len).sum());
        for ids in &results {
            out.extend_from_slice(ids);
        }
    }

    /// The ids of the pieces of `text` that start at `from` and end at `ends`.
    fn encode_pieces_from(&self, text: &str, from: usize, ends: &[u32]) -> Vec<TokenId> {
        let mut start = from;
        let mut ids = Vec::with_capacity(ends.last().map_or(0, |&e| e as usize - from) / 3 + 8);
        let mut stream = PieceStream::new(self.model());
        for &end in ends {
            stream.push(&text.as_bytes()[start..end as usize], &mut ids);
            start = end as usize;
        }
        stream.finish(&mut ids);
        ids
    }
}
