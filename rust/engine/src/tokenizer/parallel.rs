//! One long text encoded on several threads.
//!
//! A text's pieces are encoded independently of each other, so once the pre-tokenizer has found
//! them they can be shared out. The calling thread scans the text and collects where each piece
//! ends; every [`WINDOW`] bytes of pieces (and at the end of the text) the collected pieces are
//! cut into runs of consecutive pieces of about equal byte length, a few per thread of the
//! current rayon pool, the runs are encoded in parallel, and their ids appended in order. The ids
//! are those of one sequential pass by construction: the same pieces, each encoded the same way,
//! in the same order. Memory beyond the ids is four bytes per pending piece, bounded by the
//! window.
//!
//! The scan stays on one thread (it is 5-25% of the time on the inputs that are slow to merge:
//! random letters, base64), so a pool of `t` threads brings at most about `t` times the merging
//! speed. A single long piece (a CJK run without punctuation) is one run here; from 256 KiB on the
//! encoder cuts it into parts of its own (`BpeModel::encode_chunked`).

use super::Tokenizer;
use crate::encode::PieceStream;
use crate::vocab::TokenId;
use rayon::prelude::*;

/// Texts shorter than this are encoded on the calling thread (small in tests, so that the
/// proptests' texts take this path).
const PARALLEL_MIN: usize = if cfg!(test) { 2048 } else { 256 * 1024 };
/// Bytes of pieces collected before they are encoded.
const WINDOW: usize = if cfg!(test) { 4096 } else { 4 << 20 };
/// Runs of pieces per thread (more than one evens out runs that are slower to merge).
const RUNS_PER_THREAD: usize = 4;

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
        // Piece ends (byte offsets into `text`) since `from`, the end of the encoded pieces.
        let mut ends: Vec<u32> = Vec::new();
        let mut from = 0;
        self.pretokenizer.for_each_piece(text, |piece| {
            let end = piece.as_ptr() as usize - base + piece.len();
            ends.push(end as u32);
            if end - from >= WINDOW {
                self.encode_pieces(text, from, &ends, out);
                ends.clear();
                from = end;
            }
        });
        self.encode_pieces(text, from, &ends, out);
    }

    /// Encode the pieces of `text` that start at `from` and end at `ends`, in parallel runs.
    fn encode_pieces(&self, text: &str, from: usize, ends: &[u32], out: &mut Vec<TokenId>) {
        let Some(&last) = ends.last() else { return };
        let runs = rayon::current_num_threads() * RUNS_PER_THREAD;
        let target = (last as usize - from).div_ceil(runs).max(1);
        // Split points into `ends`: run k holds pieces cuts[k]..cuts[k + 1].
        let mut cuts = vec![0];
        let mut run_start = from;
        for (k, &end) in ends.iter().enumerate() {
            if end as usize - run_start >= target {
                cuts.push(k + 1);
                run_start = end as usize;
            }
        }
        if cuts.last() != Some(&ends.len()) {
            cuts.push(ends.len());
        }
        let encoded: Vec<Vec<TokenId>> = cuts
            .par_windows(2)
            .map(|w| {
                let mut start = if w[0] == 0 {
                    from
                } else {
                    ends[w[0] - 1] as usize
                };
                let mut ids = Vec::with_capacity((ends[w[1] - 1] as usize - start) / 3 + 8);
                let mut stream = PieceStream::new(self.model());
                for &end in &ends[w[0]..w[1]] {
                    stream.push(&text.as_bytes()[start..end as usize], &mut ids);
                    start = end as usize;
                }
                stream.finish(&mut ids);
                ids
            })
            .collect();
        out.reserve(encoded.iter().map(Vec::len).sum());
        for ids in &encoded {
            out.extend_from_slice(ids);
        }
    }
}
