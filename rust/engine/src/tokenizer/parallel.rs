//! One long text encoded on several threads.
//!
//! A text's pieces are encoded independently of each other, so once the pre-tokenizer has found
//! them they can be shared out. The calling thread scans the text and collects where each piece
//! ends; every [`BATCH`] bytes of pieces it hands the batch to the current rayon pool and scans
//! on, so scanning and merging overlap. Each batch's ids come back tagged with the batch's
//! number and are appended in order: the same pieces, each encoded the same way, in the same
//! order, so the ids are exactly those of one sequential pass. (`Tokenizer::encode_ordinary_runs`
//! hands back the batches' or parts' vectors unjoined, for a caller that copies them anyway.)
//!
//! Memory beyond the ids is four bytes per piece of the batches not yet encoded, and at most
//! [`IN_FLIGHT`] batches per thread are waiting: past that the scanning thread encodes the
//! batch itself, which also keeps a pool that is busy elsewhere from falling behind.
//!
//! A single long piece (a CJK run without punctuation) is one batch here; from 256 KiB on the
//! encoder cuts it into parts of its own (`BpeModel::encode_chunked`), so the scanning thread
//! encodes such a batch itself instead of handing it over: its parts are then shared between
//! it and the pool (see [`crate::share`]), and no worker has to wake up first.
//!
//! # Scanning in parts
//!
//! With a preset pre-tokenizer the scan itself is shared out too: one thread scanning random
//! letters or base64 (40-60 MB/s) cannot feed another that merges. A preset's piece depends only
//! on the text and where the piece starts, so two scans that share one piece start agree from
//! there on. The text is cut into parts: each part starts a few pieces after an even cut, where
//! a scan from the cut ends its [`LEAD_PIECES`]-th piece, if scans from the next two chars end a
//! piece there too (then a scan from the start very likely does as well; in a run of digits,
//! grouped by three from wherever a scan starts, they do not, and when no cut agrees the text
//! takes the batch path above). Every part is scanned and encoded from its start until one of
//! its piece ends is exactly a later part's start; there it stops. The calling thread and
//! pool helpers claim parts in turn ([`crate::share::share_out`]): the caller starts at once,
//! and a worker slow to wake up only takes fewer parts. The ids are then the first part's,
//! followed by those of the part starting where it stopped, and so on: where a guess was still
//! wrong, the part before runs on past it and the part that started there is unused. In the
//! worst case one part scans the whole text, as a single thread would.

use super::Tokenizer;
use crate::encode::{append_runs, PieceStream, PIECE_PARALLEL_MIN};
use crate::share::share_out;
use crate::vocab::TokenId;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Texts shorter than this are encoded on the calling thread (small in tests, so that the
/// proptests' texts take this path).
const PARALLEL_MIN: usize = if cfg!(test) { 2048 } else { 256 * 1024 };
/// Bytes of pieces in a batch.
const BATCH: usize = if cfg!(test) { 512 } else { 32 * 1024 };
/// Batches per pool thread that may wait to be encoded.
const IN_FLIGHT: usize = 8;
/// Parts per pool thread when parts are scanned on their own (more parts than threads let the
/// pool even out parts that encode at different speeds).
const PARTS_PER_THREAD: usize = 4;
/// No part is shorter than this.
const PART_MIN: usize = if cfg!(test) { 300 } else { 64 * 1024 };
/// Pieces scanned from an even cut to choose where a part starts.
const LEAD_PIECES: usize = 4;
/// Bytes after an even cut that choosing a part start may look at.
const GUESS_WINDOW: usize = 1024;

/// The ids of one part and where its pieces stopped.
struct Part {
    end: usize,
    ids: Vec<TokenId>,
}

impl Tokenizer {
    /// Whether `text` (normalized) is encoded on several threads.
    pub(super) fn encodes_in_parallel(&self, text: &str) -> bool {
        text.len() >= PARALLEL_MIN
            && text.len() <= u32::MAX as usize
            && rayon::current_num_threads() > 1
    }

    /// Encode normalized `text` on the current rayon pool (see the module docs), appending to
    /// `out`.
    pub(super) fn encode_parallel(&self, text: &str, out: &mut Vec<TokenId>) {
        append_runs(out, self.parallel_runs(text));
    }

    /// The ids of normalized `text`, encoded on the current rayon pool, as consecutive runs.
    pub(super) fn parallel_runs(&self, text: &str) -> Vec<Vec<TokenId>> {
        if self.pretokenizer.is_resumable() {
            if let Some(runs) = self.encode_in_parts(text) {
                return runs;
            }
        }
        self.encode_batches(text)
    }

    /// Each part scanned and encoded by a pool thread (see "Scanning in parts"), the used
    /// parts' ids in order; `None` when no part start could be agreed on.
    fn encode_in_parts(&self, text: &str) -> Option<Vec<Vec<TokenId>>> {
        let wanted = rayon::current_num_threads() * PARTS_PER_THREAD;
        let starts = self.part_starts(text, wanted.min(text.len() / PART_MIN).max(1));
        if starts.len() < 2 {
            return None;
        }
        let mut parts: Vec<Option<Part>> = share_out(starts.len(), |i| {
            Some(self.encode_part(text, starts[i], &starts[i + 1..]))
        });
        // A part ends at the end of the text or exactly where a later one starts.
        let mut used = Vec::with_capacity(parts.len());
        let mut at = 0;
        while at < text.len() {
            let k = starts.binary_search(&at).expect("parts end at part starts");
            let part = parts[k].take().expect("parts end after their start");
            at = part.end;
            used.push(part.ids);
        }
        Some(used)
    }

    /// Where the parts start: 0, then one start near each even cut that scans from three
    /// neighbouring chars all reach (strictly increasing, all before the end of the text).
    fn part_starts(&self, text: &str, parts: usize) -> Vec<usize> {
        let mut starts = vec![0];
        for k in 1..parts {
            let cut = char_start(text, text.len() / parts * k);
            // Guesses look at most GUESS_WINDOW bytes on (a megabyte of CJK is one piece); a
            // guess the window's end may have changed is checked by the parts like any other.
            let window = &text[..char_start(text, cut + GUESS_WINDOW)];
            let origins = [
                cut,
                char_start(window, cut + 1),
                char_start(window, cut + 2),
            ];
            let mut seen = 0;
            let start = self.end_where(window, origins[0], |_| {
                seen += 1;
                seen == LEAD_PIECES
            });
            let agreed = origins[1..]
                .iter()
                .all(|&o| self.end_where(window, o, |end| end >= start) == start);
            if agreed && start < window.len() && starts.last().is_some_and(|&last| start > last) {
                starts.push(start);
            }
        }
        starts
    }

    /// The end of the first piece, scanning from `from`, for which `stop(end)` holds (or the end
    /// of the text).
    fn end_where(&self, text: &str, from: usize, mut stop: impl FnMut(usize) -> bool) -> usize {
        let mut end = text.len();
        self.pretokenizer.pieces_from(text, from, |piece| {
            end = offset(text, piece) + piece.len();
            if stop(end) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        end
    }

    /// Scan and encode from `start` until a piece ends at one of `later` (sorted) or the text
    /// ends.
    fn encode_part(&self, text: &str, start: usize, later: &[usize]) -> Part {
        let span = later.first().map_or(text.len(), |&s| s) - start;
        let mut ids = Vec::with_capacity(span / 3 + 8);
        let mut stream = PieceStream::new(self.model());
        let (mut next, mut end) = (0, text.len());
        self.pretokenizer.pieces_from(text, start, |piece| {
            stream.push(piece.as_bytes(), &mut ids);
            let piece_end = offset(text, piece) + piece.len();
            while later.get(next).is_some_and(|&s| s < piece_end) {
                next += 1;
            }
            if later.get(next) == Some(&piece_end) {
                end = piece_end;
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        stream.finish(&mut ids);
        Part { end, ids }
    }

    /// The calling thread scans, pool threads encode batches of its pieces (the module docs);
    /// the batches' ids in order.
    fn encode_batches(&self, text: &str) -> Vec<Vec<TokenId>> {
        let max_waiting = rayon::current_num_threads() * IN_FLIGHT;
        let (done_tx, done_rx) = mpsc::channel::<(usize, Vec<Vec<TokenId>>)>();
        let finished = AtomicUsize::new(0);
        let mut batches = 0;
        rayon::in_place_scope(|scope| {
            // Piece ends (byte offsets into `text`) since `from`, where the batch starts.
            let mut ends: Vec<u32> = Vec::new();
            let mut from = 0;
            self.pretokenizer.for_each_piece(text, |piece| {
                let end = offset(text, piece) + piece.len();
                ends.push(end as u32);
                if end - from < BATCH {
                    return;
                }
                let (batch, number, start) = (std::mem::take(&mut ends), batches, from);
                // A lone piece the encoder shares out itself (a CJK run): this thread, already
                // running, takes its part of it rather than waiting for one worker to start,
                // wake another and hand the result back.
                let lone_long = batch.len() == 1 && end - start >= PIECE_PARALLEL_MIN;
                batches += 1;
                from = end;
                let (done_tx, finished) = (done_tx.clone(), &finished);
                let encode = move || {
                    let runs = if lone_long {
                        // Its parts' runs, unjoined (see `BpeModel::encode_piece_runs`).
                        self.model().encode_piece_runs(&text.as_bytes()[start..end])
                    } else {
                        vec![self.encode_pieces_from(text, start, &batch)]
                    };
                    finished.fetch_add(1, Ordering::Relaxed);
                    // The receiver outlives the scope: sending cannot fail.
                    let _ = done_tx.send((number, runs));
                };
                if lone_long || number - finished.load(Ordering::Relaxed) >= max_waiting {
                    encode();
                } else {
                    scope.spawn(move |_| encode());
                }
            });
            let _ = done_tx.send((batches, vec![self.encode_pieces_from(text, from, &ends)]));
            batches += 1;
        });
        drop(done_tx);
        let mut results = vec![Vec::new(); batches];
        for (number, runs) in done_rx {
            results[number] = runs;
        }
        results.into_iter().flatten().collect()
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

/// Where `piece` (a slice of `text`) starts in `text`.
fn offset(text: &str, piece: &str) -> usize {
    piece.as_ptr() as usize - text.as_ptr() as usize
}

/// The first char boundary at or after `at` (or the end of `text`; `str::ceil_char_boundary` is
/// newer than the crate's minimum Rust).
fn char_start(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}
