//! The full pipeline: special tokens, normalization, pre-tokenization, BPE, decoding.
//!
//! Encoding `text` goes:
//! 1. Special tokens (only in [`Tokenizer::encode`]): allowed special-token occurrences split
//!    the text into ordinary segments; an occurrence of a disallowed one is an error (tiktoken's
//!    policy, see [`SpecialMatcher::find_allowed`]). Specials in neither set are ordinary text.
//! 2. Each ordinary segment is normalized ([`Normalizer::apply`]; never inside special tokens),
//! 3. split into pieces by the [`PreTokenizer`],
//! 4. and each piece is encoded by the [`BpeModel`]. A segment of 256 KiB or more has its
//!    pieces encoded on the threads of the current rayon pool (`parallel`), with the same ids.
//!
//! Raw bytes ([`Tokenizer::encode_bytes`]): valid UTF-8 input encodes exactly like
//! [`Tokenizer::encode_ordinary`]. Otherwise, with the `none` pre-tokenizer the whole input is one
//! piece (not normalized: it is binary); with a regex pre-tokenizer the valid UTF-8 runs are
//! normalized and pre-tokenized as text and every invalid byte is a piece of its own.
//!
//! Offsets ([`Tokenizer::encode_with_offsets`]) are byte ranges into the input text. Where
//! normalization changed a segment, the text is normalized in small independent groups (split
//! before every starter that cannot combine with what precedes it), and a token's range is the
//! union of the original groups its normalized bytes come from.

use crate::decode::Decoder;
use crate::encode::{BpeModel, PieceStream};
use crate::error::Result;
use crate::normalize::Normalizer;
use crate::pretokenize::PreTokenizer;
use crate::special::{Found, SpecialMatcher, SpecialSet};
use crate::vocab::{TokenId, Vocab};
use rayon::prelude::*;
use std::borrow::Cow;

/// A byte range `(start, end)` into the input text.
pub type Offsets = (usize, usize);

#[derive(Clone, Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    pretokenizer: PreTokenizer,
    normalizer: Normalizer,
    model: BpeModel,
    decoder: Decoder,
    specials: SpecialMatcher,
}

impl Tokenizer {
    /// A tokenizer with `ignore_merges` off (HF's default); tiktoken vocabularies need it on.
    pub fn new(vocab: Vocab, pretokenizer: PreTokenizer, normalizer: Normalizer) -> Result<Self> {
        let model = BpeModel::new(&vocab);
        let specials = SpecialMatcher::new(vocab.specials())?;
        let decoder = Decoder::new(&vocab);
        Ok(Tokenizer {
            vocab,
            pretokenizer,
            normalizer,
            model,
            decoder,
            specials,
        })
    }

    /// When `true`, a piece that is itself a token is emitted as that token (tiktoken's rule).
    pub fn with_ignore_merges(mut self, ignore_merges: bool) -> Self {
        self.model = self.model.with_ignore_merges(ignore_merges);
        self
    }

    pub fn ignore_merges(&self) -> bool {
        self.model.ignore_merges()
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    pub fn model(&self) -> &BpeModel {
        &self.model
    }

    pub fn pretokenizer(&self) -> &PreTokenizer {
        &self.pretokenizer
    }

    pub fn normalizer(&self) -> Normalizer {
        self.normalizer
    }

    /// One past the largest id.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The id of a token by its bytes: an ordinary token, or else a special token's content.
    pub fn token_to_id(&self, bytes: &[u8]) -> Option<TokenId> {
        self.model.token_id(bytes).or_else(|| {
            let content = std::str::from_utf8(bytes).ok()?;
            self.vocab.special_id(content)
        })
    }

    /// The bytes of a token (a special token's content for specials).
    pub fn id_to_token(&self, id: TokenId) -> Option<&[u8]> {
        self.vocab.token_bytes(id)
    }

    /// Encode text, treating special-token text as ordinary text.
    pub fn encode_ordinary(&self, text: &str) -> Vec<TokenId> {
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        self.encode_segment(text, &mut out);
        out
    }

    /// [`Tokenizer::encode_ordinary`]'s ids as consecutive runs, not joined: a long text encoded
    /// on several threads gives one run per part or batch, a short one a single run. A caller
    /// that copies the ids anyway (into a Python list) saves writing each id once more, and
    /// the page faults of a second buffer as large as the ids.
    pub fn encode_ordinary_runs(&self, text: &str) -> Vec<Vec<TokenId>> {
        let normalized = self.normalizer.apply(text);
        if self.encodes_in_parallel(&normalized) {
            return self.parallel_runs(&normalized);
        }
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        self.encode_sequential(&normalized, &mut out);
        vec![out]
    }

    /// Encode text; `allowed` specials become their ids, `disallowed` ones are an error.
    pub fn encode(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
    ) -> Result<Vec<TokenId>> {
        let found = self.find_specials(text, allowed, disallowed)?;
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        let mut last = 0;
        for f in found {
            self.encode_segment(&text[last..f.start], &mut out);
            out.push(f.id);
            last = f.end;
        }
        self.encode_segment(&text[last..], &mut out);
        Ok(out)
    }

    /// Encode raw bytes (see the module docs for how invalid UTF-8 is split).
    pub fn encode_bytes(&self, bytes: &[u8]) -> Vec<TokenId> {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return self.encode_ordinary(text);
        }
        let mut out = Vec::with_capacity(bytes.len() / 4 + 1);
        if self.pretokenizer.is_none() {
            self.model.encode_piece(bytes, &mut out);
            return out;
        }
        for chunk in bytes.utf8_chunks() {
            self.encode_segment(chunk.valid(), &mut out);
            for &b in chunk.invalid() {
                self.model.encode_piece(&[b], &mut out);
            }
        }
        out
    }

    /// Like [`Tokenizer::encode`], also returning each token's byte range in `text`.
    pub fn encode_with_offsets(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
    ) -> Result<(Vec<TokenId>, Vec<Offsets>)> {
        let found = self.find_specials(text, allowed, disallowed)?;
        let mut ids = Vec::with_capacity(text.len() / 4 + 1);
        let mut offsets = Vec::with_capacity(text.len() / 4 + 1);
        let mut last = 0;
        for f in found {
            self.segment_with_offsets(text, last, f.start, &mut ids, &mut offsets);
            ids.push(f.id);
            offsets.push((f.start, f.end));
            last = f.end;
        }
        self.segment_with_offsets(text, last, text.len(), &mut ids, &mut offsets);
        Ok((ids, offsets))
    }

    /// [`Tokenizer::encode`] over many texts in parallel (rayon); the first error wins.
    pub fn encode_batch(
        &self,
        texts: &[&str],
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
    ) -> Result<Vec<Vec<TokenId>>> {
        texts
            .par_iter()
            .map(|t| self.encode(t, allowed, disallowed))
            .collect()
    }

    /// [`Tokenizer::encode_ordinary`] over many texts in parallel (rayon).
    pub fn encode_ordinary_batch(&self, texts: &[&str]) -> Vec<Vec<TokenId>> {
        texts.par_iter().map(|t| self.encode_ordinary(t)).collect()
    }

    /// The bytes of `ids`.
    pub fn decode_bytes(&self, ids: &[TokenId]) -> Result<Vec<u8>> {
        self.decoder.decode(ids)
    }

    /// The decoding stage, for callers that size and own the output buffer.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    fn find_specials(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
    ) -> Result<Vec<Found>> {
        let nothing = |s: &SpecialSet| matches!(s, SpecialSet::Nothing);
        if self.specials.is_empty() || (nothing(allowed) && nothing(disallowed)) {
            return Ok(Vec::new());
        }
        self.specials
            .find_allowed(text.as_bytes(), allowed, disallowed)
    }

    /// Normalize, pre-tokenize and encode one ordinary segment.
    fn encode_segment(&self, text: &str, out: &mut Vec<TokenId>) {
        if text.is_empty() {
            return;
        }
        let normalized = self.normalizer.apply(text);
        if self.encodes_in_parallel(&normalized) {
            return self.encode_parallel(&normalized, out);
        }
        self.encode_sequential(&normalized, out)
    }

    /// Pre-tokenize and encode normalized `text` on this thread.
    fn encode_sequential(&self, text: &str, out: &mut Vec<TokenId>) {
        let mut stream = PieceStream::new(&self.model);
        self.pretokenizer
            .for_each_piece(text, |piece| stream.push(piece.as_bytes(), out));
        stream.finish(out);
    }

    /// Encode `text[start..end]`, pushing ids and their byte ranges in `text`.
    fn segment_with_offsets(
        &self,
        text: &str,
        start: usize,
        end: usize,
        ids: &mut Vec<TokenId>,
        offsets: &mut Vec<Offsets>,
    ) {
        let segment = &text[start..end];
        if segment.is_empty() {
            return;
        }
        match self.normalizer.apply(segment) {
            Cow::Borrowed(_) => {
                self.pieces_with_offsets(segment, ids, offsets, |a, b| (start + a, start + b))
            }
            Cow::Owned(_) => {
                let aligned = Aligned::new(self.normalizer, segment);
                self.pieces_with_offsets(&aligned.normalized, ids, offsets, |a, b| {
                    let (s, e) = aligned.original_range(a, b);
                    (start + s, start + e)
                })
            }
        }
    }

    /// Pre-tokenize and encode `text` (already normalized), mapping each token's range in
    /// `text` through `map`.
    fn pieces_with_offsets(
        &self,
        text: &str,
        ids: &mut Vec<TokenId>,
        offsets: &mut Vec<Offsets>,
        map: impl Fn(usize, usize) -> Offsets,
    ) {
        self.pretokenizer.for_each_piece(text, |piece| {
            let mut at = piece.as_ptr() as usize - text.as_ptr() as usize;
            let first = ids.len();
            self.model.encode_piece(piece.as_bytes(), ids);
            for &id in &ids[first..] {
                let len = self.vocab.token_bytes(id).map_or(0, <[u8]>::len);
                offsets.push(map(at, at + len));
                at += len;
            }
        });
    }
}

/// Normalized text with, for every group of it, the original range it came from.
struct Aligned {
    normalized: String,
    /// `(normalized_start, original_start, original_end)`, sorted by `normalized_start`.
    groups: Vec<(usize, usize, usize)>,
}

impl Aligned {
    fn new(normalizer: Normalizer, text: &str) -> Self {
        let mut normalized = String::with_capacity(text.len() + text.len() / 4);
        let mut groups = Vec::new();
        let mut group_start = 0;
        let boundaries = text
            .char_indices()
            .filter(|&(i, c)| i > 0 && is_stable_starter(normalizer, c))
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()));
        for boundary in boundaries {
            let group = &text[group_start..boundary];
            groups.push((normalized.len(), group_start, boundary));
            normalized.push_str(&normalizer.apply(group));
            group_start = boundary;
        }
        Aligned { normalized, groups }
    }

    /// The original range covering normalized bytes `start..end` (`start < end`).
    fn original_range(&self, start: usize, end: usize) -> Offsets {
        let group_of = |at: usize| self.groups.partition_point(|g| g.0 <= at).saturating_sub(1);
        let first = self.groups[group_of(start)];
        let last = self.groups[group_of(end.saturating_sub(1).max(start))];
        (first.1, last.2)
    }
}

/// True when `c` neither reorders with nor composes onto the characters before it, so text can
/// be normalized independently on either side of it.
fn is_stable_starter(normalizer: Normalizer, c: char) -> bool {
    use unicode_normalization::char::canonical_combining_class;
    use unicode_normalization::{is_nfc_quick, is_nfkc_quick, IsNormalized};
    if canonical_combining_class(c) != 0 {
        return false;
    }
    let quick = match normalizer {
        Normalizer::None => return true,
        Normalizer::Nfc => is_nfc_quick(std::iter::once(c)),
        Normalizer::Nfkc => is_nfkc_quick(std::iter::once(c)),
    };
    quick == IsNormalized::Yes
}

mod parallel;
#[cfg(test)]
mod tests;
