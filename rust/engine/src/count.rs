//! Counting pre-tokens over a corpus.
//!
//! A [`Counter`] cuts special tokens out of the text, normalizes it, splits it into pre-tokens with
//! a [`PreTokenizer`] and counts each distinct piece in a [`WordCounts`] map. Parallel entry points
//! ([`Counter::add_texts`], [`Counter::add_files`]) let every rayon worker count into its own map
//! and merge the maps at the end, so no lock is taken per piece. Counting a piece that is already
//! in the map does not allocate (look-up by `&[u8]`, insert only for new pieces).
//!
//! Files are streamed: a shared reader hands out chunks of a few MB that end at a line boundary
//! (after a `\n` followed by an ASCII letter or digit, where none of the preset patterns can match
//! across: after a newline they continue only with more newlines, white space, or o200k's `/`),
//! so at most one chunk per worker is in memory.
//!
//! Counts are a mergeable artifact: [`WordCounts::save`] writes a compact binary file
//! (see [`WordCounts::save`] for the layout) whose header records the pre-tokenizer and the
//! normalizer that produced it; [`CountsMeta::check`] refuses to mix counts made differently.

use crate::error::{Error, Result};
use crate::normalize::Normalizer;
use crate::pretokenize::PreTokenizer;
use crate::progress::Progress;
use aho_corasick::{AhoCorasick, MatchKind};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Pre-token bytes -> occurrences.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WordCounts {
    counts: FxHashMap<Box<[u8]>, u64>,
}

/// What [`WordCounts::prune`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Distinct pre-tokens removed.
    pub removed_distinct: usize,
    /// Sum of the removed pre-tokens' counts.
    pub removed_mass: u64,
}

impl WordCounts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `n` occurrences of `piece`; allocates only when `piece` is new.
    pub fn add(&mut self, piece: &[u8], n: u64) {
        if let Some(c) = self.counts.get_mut(piece) {
            *c += n;
        } else {
            self.counts.insert(piece.into(), n);
        }
    }

    /// Add every count of `other` (consumes it; reuses its keys).
    pub fn merge(&mut self, other: WordCounts) {
        let (mut big, small) = if other.counts.len() > self.counts.len() {
            (other.counts, std::mem::take(&mut self.counts))
        } else {
            (std::mem::take(&mut self.counts), other.counts)
        };
        for (k, v) in small {
            *big.entry(k).or_default() += v;
        }
        self.counts = big;
    }

    /// Number of distinct pre-tokens.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Sum of all counts.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The count of one pre-token (0 when absent).
    pub fn get(&self, piece: &[u8]) -> u64 {
        self.counts.get(piece).copied().unwrap_or(0)
    }

    /// `(piece, count)` in arbitrary order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.counts.iter().map(|(k, v)| (&k[..], *v))
    }

    /// `(piece, count)` sorted by bytes (deterministic order).
    pub fn sorted(&self) -> Vec<(&[u8], u64)> {
        let mut v: Vec<_> = self.iter().collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// Keep the `max_distinct` most frequent pre-tokens (ties: smaller bytes kept first).
    pub fn prune(&mut self, max_distinct: usize) -> PruneReport {
        if self.counts.len() <= max_distinct {
            return PruneReport::default();
        }
        let mut all: Vec<(Box<[u8]>, u64)> = std::mem::take(&mut self.counts).into_iter().collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let removed = all.split_off(max_distinct);
        self.counts = all.into_iter().collect();
        PruneReport {
            removed_distinct: removed.len(),
            removed_mass: removed.iter().map(|(_, c)| c).sum(),
        }
    }

    /// Write the counts to `path` atomically.
    ///
    /// Layout (integers little-endian, `varint` = LEB128):
    /// `MAGIC` (8 bytes), version `u32`, pre-tokenizer string and normalizer name (each `u32`
    /// length + UTF-8), entry count `u64`, total `u64`, then per entry (sorted by bytes) `varint`
    /// length, the bytes, `varint` count; finally an FNV-1a 64 checksum of everything before it.
    pub fn save(&self, path: &Path, meta: &CountsMeta) -> Result<()> {
        let mut buf = Vec::with_capacity(64 + self.counts.len() * 12);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        put_str(&mut buf, &meta.pretokenizer);
        put_str(&mut buf, &meta.normalizer);
        buf.extend_from_slice(&(self.counts.len() as u64).to_le_bytes());
        buf.extend_from_slice(&self.total().to_le_bytes());
        for (piece, count) in self.sorted() {
            put_varint(&mut buf, piece.len() as u64);
            buf.extend_from_slice(piece);
            put_varint(&mut buf, count);
        }
        let sum = fnv1a(&buf);
        buf.extend_from_slice(&sum.to_le_bytes());
        crate::io::write_atomic(path, |w| w.write_all(&buf))
    }

    /// Read counts written by [`WordCounts::save`], with the metadata of their header.
    pub fn load(path: &Path) -> Result<(WordCounts, CountsMeta)> {
        let data = crate::io::read_file(path)?;
        decode_counts(&data).map_err(|reason| Error::format(path.display().to_string(), reason))
    }
}

/// First bytes of a counts file.
pub const MAGIC: &[u8; 8] = b"TKSCOUNT";
/// Version of the counts file layout.
pub const FORMAT_VERSION: u32 = 1;

/// How the counts in a file were produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountsMeta {
    /// The pre-tokenizer's regex, or `none`.
    pub pretokenizer: String,
    /// The normalizer's name (`none`, `nfc`, `nfkc`).
    pub normalizer: String,
}

impl CountsMeta {
    pub fn new(pretokenizer: &PreTokenizer, normalizer: Normalizer) -> Self {
        CountsMeta {
            pretokenizer: pretokenizer.pattern().unwrap_or("none").to_string(),
            normalizer: normalizer.name().to_string(),
        }
    }

    /// Error unless counts described by `self` were made like `expected` (`what` names the file).
    pub fn check(&self, expected: &CountsMeta, what: &str) -> Result<()> {
        if self.pretokenizer != expected.pretokenizer {
            return Err(Error::format(
                what,
                format!(
                    "counts were made with pre-tokenizer {:?}, but {:?} is configured",
                    self.pretokenizer, expected.pretokenizer
                ),
            ));
        }
        if self.normalizer != expected.normalizer {
            return Err(Error::format(
                what,
                format!(
                    "counts were made with normalization {:?}, but {:?} is configured",
                    self.normalizer, expected.normalizer
                ),
            ));
        }
        Ok(())
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A cursor over a counts file; every read names what was being read when the data ran out.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        if self.data.len() - self.pos < n {
            return Err(format!(
                "truncated counts file: ran out of data reading {what} at byte {}",
                self.pos
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }

    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }

    fn varint(&mut self, what: &str) -> std::result::Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1, what)?[0];
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("corrupt counts file: overlong varint in {what}"))
    }

    fn string(&mut self, what: &str) -> std::result::Result<String, String> {
        let n = self.u32(what)? as usize;
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("corrupt counts file: {what} is not UTF-8"))
    }
}

fn decode_counts(data: &[u8]) -> std::result::Result<(WordCounts, CountsMeta), String> {
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        return Err("not a toksmith counts file (bad magic bytes)".into());
    }
    if data.len() < MAGIC.len() + 4 + 8 {
        return Err("truncated counts file: header is incomplete".into());
    }
    let (body, sum) = data.split_at(data.len() - 8);
    let mut cur = Cursor {
        data: body,
        pos: MAGIC.len(),
    };
    let version = cur.u32("the version")?;
    if version != FORMAT_VERSION {
        return Err(format!(
            "unsupported counts file version {version} (this build reads version {FORMAT_VERSION})"
        ));
    }
    if fnv1a(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
        return Err("corrupt or truncated counts file: checksum mismatch".into());
    }
    let meta = CountsMeta {
        pretokenizer: cur.string("the pre-tokenizer")?,
        normalizer: cur.string("the normalizer")?,
    };
    let entries = cur.u64("the entry count")?;
    let total = cur.u64("the total")?;
    let mut counts = WordCounts::default();
    counts
        .counts
        .reserve(entries.min(body.len() as u64) as usize);
    for i in 0..entries {
        let what = format!("entry {i}");
        let len = cur.varint(&what)? as usize;
        let piece = cur.take(len, &what)?;
        let count = cur.varint(&what)?;
        counts.add(piece, count);
    }
    if cur.pos != body.len() {
        return Err(format!(
            "corrupt counts file: {} unexpected bytes after the last entry",
            body.len() - cur.pos
        ));
    }
    if counts.len() as u64 != entries || counts.total() != total {
        return Err("corrupt counts file: entries or total disagree with the header".into());
    }
    Ok((counts, meta))
}

/// What to do with bytes that are not valid UTF-8 in a text file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Utf8Policy {
    /// Fail, naming the file and line.
    #[default]
    Strict,
    /// Replace invalid sequences with U+FFFD.
    Replace,
    /// Drop lines that are not valid UTF-8.
    SkipLine,
}

/// How binary input is cut into pieces (binary BPE: no normalization, no regex).
///
/// With `split_nul`, maximal runs of NUL bytes and maximal runs of other bytes are separate
/// pieces (merges never cross a NUL boundary). Every run longer than `window` bytes is then cut
/// into windows of `window` bytes (the last one shorter), which bounds the cost of a merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinaryChunking {
    pub split_nul: bool,
    pub window: usize,
}

impl Default for BinaryChunking {
    /// NUL-delimited runs in windows of at most 256 bytes.
    fn default() -> Self {
        BinaryChunking {
            split_nul: true,
            window: 256,
        }
    }
}

/// Call `f` on every piece of `data` as `chunking` cuts it (the pieces tile `data`).
pub fn binary_pieces<'d>(data: &'d [u8], chunking: BinaryChunking, mut f: impl FnMut(&'d [u8])) {
    let window = chunking.window.max(1);
    let mut emit_windows = |run: &'d [u8]| run.chunks(window).for_each(&mut f);
    if !chunking.split_nul {
        emit_windows(data);
        return;
    }
    let mut start = 0;
    while start < data.len() {
        let nul = data[start] == 0;
        let len = data[start..]
            .iter()
            .position(|&b| (b == 0) != nul)
            .unwrap_or(data.len() - start);
        emit_windows(&data[start..start + len]);
        start += len;
    }
}

/// Bytes per file chunk handed to one worker.
const CHUNK_BYTES: usize = 4 << 20;

/// Counts pre-tokens of texts, byte strings and files.
pub struct Counter {
    pretokenizer: PreTokenizer,
    normalizer: Normalizer,
    specials: Option<AhoCorasick>,
    counts: WordCounts,
    chunk_bytes: usize,
}

impl Counter {
    /// A counter that cuts `special_tokens` out of the text (they are not counted).
    pub fn new(
        pretokenizer: PreTokenizer,
        normalizer: Normalizer,
        special_tokens: &[String],
    ) -> Result<Self> {
        if special_tokens.iter().any(|s| s.is_empty()) {
            return Err(Error::invalid("special tokens must not be empty"));
        }
        let specials = if special_tokens.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(special_tokens)
                    .map_err(|e| Error::invalid(format!("special tokens: {e}")))?,
            )
        };
        Ok(Counter {
            pretokenizer,
            normalizer,
            specials,
            counts: WordCounts::default(),
            chunk_bytes: CHUNK_BYTES,
        })
    }

    /// Bytes read per file chunk (default 4 MiB; at least 1).
    pub fn set_chunk_bytes(&mut self, n: usize) {
        self.chunk_bytes = n.max(1);
    }

    /// How the counts are made (for the counts file header).
    pub fn meta(&self) -> CountsMeta {
        CountsMeta::new(&self.pretokenizer, self.normalizer)
    }

    /// Count the pre-tokens of one text.
    pub fn add_text(&mut self, text: &str) {
        let mut counts = std::mem::take(&mut self.counts);
        self.count_text(text, &mut counts);
        self.counts = counts;
    }

    /// Count many texts in parallel.
    pub fn add_texts(&mut self, texts: &[&str]) {
        let counts = texts
            .par_iter()
            .fold(WordCounts::default, |mut acc, t| {
                self.count_text(t, &mut acc);
                acc
            })
            .reduce(WordCounts::default, |mut a, b| {
                a.merge(b);
                a
            });
        self.counts.merge(counts);
    }

    /// Count raw bytes. With the `none` pre-tokenizer the bytes (between special tokens) are one
    /// piece each, whatever their encoding; other pre-tokenizers need valid UTF-8.
    pub fn add_bytes(&mut self, data: &[u8]) -> Result<()> {
        if self.pretokenizer.is_none() {
            let mut counts = std::mem::take(&mut self.counts);
            self.for_each_segment(data, |seg| {
                if !seg.is_empty() {
                    counts.add(seg, 1)
                }
            });
            self.counts = counts;
            return Ok(());
        }
        let text = std::str::from_utf8(data).map_err(|e| {
            Error::invalid(format!(
                "input is not valid UTF-8 at byte {} (the {} pre-tokenizer needs text; use `none` \
                 for binary data)",
                e.valid_up_to(),
                self.pretokenizer.spec()
            ))
        })?;
        self.add_text(text);
        Ok(())
    }

    /// Count text files, streaming them in chunks of a few MB on every rayon worker.
    /// With the `none` pre-tokenizer each line (with its `\n`) is one piece.
    /// Progress is reported as `("counting", bytes_done, bytes_total)`.
    pub fn add_files(
        &mut self,
        paths: &[PathBuf],
        policy: Utf8Policy,
        progress: &dyn Progress,
    ) -> Result<()> {
        let mut total = 0u64;
        for p in paths {
            total += std::fs::metadata(p).map_err(|e| Error::io(p, e))?.len();
        }
        let reader = Mutex::new(ChunkReader::new(paths.to_vec(), self.chunk_bytes));
        let done = AtomicU64::new(0);
        let workers = rayon::current_num_threads().max(1);
        let results: Vec<Result<WordCounts>> = (0..workers)
            .into_par_iter()
            .map(|_| {
                let mut local = WordCounts::default();
                loop {
                    let chunk = reader
                        .lock()
                        .map_err(|_| Error::invalid("a counting worker panicked"))?
                        .next_chunk()?;
                    let Some(chunk) = chunk else { break };
                    self.count_chunk(&chunk, policy, &mut local)?;
                    let d = done.fetch_add(chunk.data.len() as u64, Ordering::Relaxed);
                    progress.update("counting", d + chunk.data.len() as u64, total);
                }
                Ok(local)
            })
            .collect();
        for r in results {
            self.counts.merge(r?);
        }
        Ok(())
    }

    /// Count raw binary data cut by `chunking` (needs the `none` pre-tokenizer; special tokens
    /// are still cut out, normalization is never applied).
    pub fn add_binary(&mut self, data: &[u8], chunking: BinaryChunking) -> Result<()> {
        self.check_binary()?;
        let mut counts = std::mem::take(&mut self.counts);
        self.count_binary(data, chunking, &mut counts);
        self.counts = counts;
        Ok(())
    }

    /// Count whole files as binary data (any files: executables, images...), in parallel over
    /// files. Progress is reported as `("counting", bytes_done, bytes_total)`.
    pub fn add_binary_files(
        &mut self,
        paths: &[PathBuf],
        chunking: BinaryChunking,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.check_binary()?;
        let mut total = 0u64;
        for p in paths {
            total += std::fs::metadata(p).map_err(|e| Error::io(p, e))?.len();
        }
        let done = AtomicU64::new(0);
        let counts = paths
            .par_iter()
            .try_fold(WordCounts::default, |mut acc, path| {
                let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
                self.count_binary(&data, chunking, &mut acc);
                let d = done.fetch_add(data.len() as u64, Ordering::Relaxed) + data.len() as u64;
                progress.update("counting", d, total);
                Ok::<_, Error>(acc)
            })
            .try_reduce(WordCounts::default, |mut a, b| {
                a.merge(b);
                Ok(a)
            })?;
        self.counts.merge(counts);
        Ok(())
    }

    fn check_binary(&self) -> Result<()> {
        if self.pretokenizer.is_none() && self.normalizer == Normalizer::None {
            return Ok(());
        }
        Err(Error::invalid(format!(
            "binary counting needs the `none` pre-tokenizer and no normalization (got {} and {})",
            self.pretokenizer.spec(),
            self.normalizer.name()
        )))
    }

    fn count_binary(&self, data: &[u8], chunking: BinaryChunking, counts: &mut WordCounts) {
        self.for_each_segment(data, |seg| {
            binary_pieces(seg, chunking, |p| counts.add(p, 1));
        });
    }

    /// The counts so far.
    pub fn counts(&self) -> &WordCounts {
        &self.counts
    }

    /// Finish counting.
    pub fn finish(self) -> WordCounts {
        self.counts
    }

    fn for_each_segment<'t>(&self, data: &'t [u8], mut f: impl FnMut(&'t [u8])) {
        match &self.specials {
            None => f(data),
            Some(ac) => {
                let mut start = 0;
                for m in ac.find_iter(data) {
                    f(&data[start..m.start()]);
                    start = m.end();
                }
                f(&data[start..]);
            }
        }
    }

    fn count_text(&self, text: &str, counts: &mut WordCounts) {
        self.for_each_segment(text.as_bytes(), |seg| {
            // Special tokens are valid UTF-8, so segment bounds are char boundaries.
            let seg = std::str::from_utf8(seg).expect("segments of a str split at UTF-8 matches");
            let norm = self.normalizer.apply(seg);
            self.pretokenizer
                .for_each_piece(&norm, |p| counts.add(p.as_bytes(), 1));
        });
    }

    fn count_chunk(
        &self,
        chunk: &Chunk,
        policy: Utf8Policy,
        counts: &mut WordCounts,
    ) -> Result<()> {
        let text = decode_chunk(chunk, policy)?;
        if self.pretokenizer.is_none() {
            self.for_each_segment(text.as_bytes(), |seg| {
                for line in seg.split_inclusive(|&b| b == b'\n') {
                    counts.add(line, 1);
                }
            });
        } else {
            self.count_text(&text, counts);
        }
        Ok(())
    }
}

/// A piece of a file ending at a safe boundary.
struct Chunk {
    path: PathBuf,
    /// 1-based line number of the chunk's first line.
    first_line: u64,
    data: Vec<u8>,
}

/// Decode a chunk under `policy`; errors name the file and line.
fn decode_chunk(chunk: &Chunk, policy: Utf8Policy) -> Result<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    match std::str::from_utf8(&chunk.data) {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(e) => match policy {
            Utf8Policy::Replace => Ok(String::from_utf8_lossy(&chunk.data)),
            Utf8Policy::Strict => {
                let line = chunk.first_line + count_newlines(&chunk.data[..e.valid_up_to()]);
                Err(Error::format(
                    format!("{}:{line}", chunk.path.display()),
                    "invalid UTF-8 (use the replace or skip policy to accept such input)",
                ))
            }
            Utf8Policy::SkipLine => {
                let mut out = String::with_capacity(chunk.data.len());
                for line in chunk.data.split_inclusive(|&b| b == b'\n') {
                    if let Ok(s) = std::str::from_utf8(line) {
                        out.push_str(s);
                    }
                }
                Ok(Cow::Owned(out))
            }
        },
    }
}

fn count_newlines(data: &[u8]) -> u64 {
    data.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The end of the last safe boundary in `data`: just after a `\n` that is followed by an ASCII
/// letter or digit (a `\n` followed by other punctuation is not safe: o200k's
/// ` ?[^\s\p{L}\p{N}]+[\r\n/]*` runs on through `\n/`). Falls back to after any `\n`, then to a
/// UTF-8 char boundary.
fn safe_cut(data: &[u8]) -> usize {
    let nl = |i: usize| data[i] == b'\n';
    for i in (0..data.len().saturating_sub(1)).rev() {
        if nl(i) && data[i + 1].is_ascii_alphanumeric() {
            return i + 1;
        }
    }
    if let Some(i) = data.iter().rposition(|&b| b == b'\n') {
        return i + 1;
    }
    // No newline at all: cut at the last UTF-8 char boundary (keep everything if there is none).
    let mut cut = data.len().saturating_sub(1);
    while cut > 0 && (data[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    if cut == 0 {
        data.len()
    } else {
        cut
    }
}

/// Hands out file chunks in order; one instance is shared by the workers under a mutex.
struct ChunkReader {
    paths: Vec<PathBuf>,
    next_path: usize,
    current: Option<(PathBuf, std::fs::File)>,
    carry: Vec<u8>,
    line: u64,
    chunk_bytes: usize,
}

impl ChunkReader {
    fn new(paths: Vec<PathBuf>, chunk_bytes: usize) -> Self {
        ChunkReader {
            chunk_bytes,
            paths,
            next_path: 0,
            current: None,
            carry: Vec::new(),
            line: 1,
        }
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.paths.get(self.next_path).cloned() else {
                    return Ok(None);
                };
                self.next_path += 1;
                let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
                self.current = Some((path, file));
                self.line = 1;
                self.carry.clear();
            }
            let (path, file) = self.current.as_mut().expect("a file is open");
            let mut data = std::mem::take(&mut self.carry);
            let start = data.len();
            data.resize(start + self.chunk_bytes, 0);
            let n = read_full(file, &mut data[start..]).map_err(|e| Error::io(path, e))?;
            data.truncate(start + n);
            let path = path.clone();
            let at_eof = n < self.chunk_bytes;
            if at_eof {
                self.current = None;
                if data.is_empty() {
                    continue;
                }
            } else {
                let cut = safe_cut(&data);
                self.carry = data.split_off(cut);
            }
            let first_line = self.line;
            self.line += count_newlines(&data);
            return Ok(Some(Chunk {
                path,
                first_line,
                data,
            }));
        }
    }
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    fn counter(spec: &str, specials: &[&str]) -> Counter {
        let specials: Vec<String> = specials.iter().map(|s| s.to_string()).collect();
        Counter::new(
            PreTokenizer::new(spec).unwrap(),
            Normalizer::None,
            &specials,
        )
        .unwrap()
    }

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("toksmith-count-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn counts_pieces_and_cuts_specials() {
        let mut c = counter("cl100k", &["<|end|>"]);
        c.add_text("hello world<|end|> hello");
        let wc = c.finish();
        assert_eq!(wc.get(b"hello"), 1);
        assert_eq!(wc.get(b" hello"), 1);
        assert_eq!(wc.get(b" world"), 1);
        assert_eq!(wc.get(b"<|"), 0);
        assert_eq!(wc.total(), 3);
    }

    #[test]
    fn parallel_texts_equal_sequential() {
        let texts: Vec<String> = (0..200)
            .map(|i| format!("doc {i} says hi {}", i % 7))
            .collect();
        let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
        let mut a = counter("o200k", &[]);
        a.add_texts(&refs);
        let mut b = counter("o200k", &[]);
        for t in &refs {
            b.add_text(t);
        }
        assert_eq!(a.finish(), b.finish());
    }

    #[test]
    fn prune_keeps_most_frequent_with_byte_ties() {
        let mut wc = WordCounts::new();
        wc.add(b"a", 5);
        wc.add(b"c", 2);
        wc.add(b"b", 2);
        wc.add(b"d", 1);
        let r = wc.prune(2);
        assert_eq!(
            r,
            PruneReport {
                removed_distinct: 2,
                removed_mass: 3
            }
        );
        assert_eq!(wc.get(b"a"), 5);
        assert_eq!(wc.get(b"b"), 2);
        assert_eq!(wc.get(b"c"), 0);
    }

    #[test]
    fn save_load_round_trip_and_errors() {
        let mut wc = WordCounts::new();
        wc.add(b"hello", 3);
        wc.add(&[0xff, 0x00], 300);
        let meta = CountsMeta::new(&PreTokenizer::new("o200k").unwrap(), Normalizer::Nfc);
        let path = tmp("c.bin");
        wc.save(&path, &meta).unwrap();
        let (back, m) = WordCounts::load(&path).unwrap();
        assert_eq!(back, wc);
        assert_eq!(m, meta);
        m.check(&meta, "c.bin").unwrap();
        let other = CountsMeta::new(&PreTokenizer::new("cl100k").unwrap(), Normalizer::Nfc);
        let err = m.check(&other, "c.bin").unwrap_err().to_string();
        assert!(err.contains("pre-tokenizer"), "{err}");

        let data = std::fs::read(&path).unwrap();
        std::fs::write(&path, &data[..data.len() - 5]).unwrap();
        let err = WordCounts::load(&path).unwrap_err().to_string();
        assert!(err.contains("c.bin") && err.contains("truncated"), "{err}");
        let mut bad = data.clone();
        bad[30] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let err = WordCounts::load(&path).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        std::fs::write(&path, b"nope").unwrap();
        let err = WordCounts::load(&path).unwrap_err().to_string();
        assert!(err.contains("magic"), "{err}");
    }

    #[test]
    fn files_match_text_and_policies_apply() {
        let mut text = String::new();
        for i in 0..3_000 {
            text.push_str(&format!("line {i}  with words\n\n  indented {}\n", i % 13));
            // o200k's ` ?[^\s\p{L}\p{N}]+[\r\n/]*` runs on through "\n/": no cut may fall there.
            text.push_str(&format!("end.\n\n/usr/lib/{i}\n#include <x.h>\n"));
        }
        let path = tmp("big.txt");
        std::fs::write(&path, &text).unwrap();
        let mut a = counter("o200k", &[]);
        a.set_chunk_bytes(4096);
        a.add_files(std::slice::from_ref(&path), Utf8Policy::Strict, &Silent)
            .unwrap();
        let mut b = counter("o200k", &[]);
        b.add_text(&text);
        assert_eq!(a.finish(), b.finish());

        let bad = tmp("bad.txt");
        std::fs::write(&bad, b"ok line\nbad \xff line\nfine\n").unwrap();
        let mut c = counter("o200k", &[]);
        let err = c
            .add_files(std::slice::from_ref(&bad), Utf8Policy::Strict, &Silent)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.txt:2"), "{err}");
        let mut c = counter("o200k", &[]);
        c.add_files(std::slice::from_ref(&bad), Utf8Policy::SkipLine, &Silent)
            .unwrap();
        assert_eq!(c.counts().get(b" line"), 1);
        let mut c = counter("o200k", &[]);
        c.add_files(std::slice::from_ref(&bad), Utf8Policy::Replace, &Silent)
            .unwrap();
        assert_eq!(c.counts().get(b" line"), 2);
    }

    #[test]
    fn bytes_with_none_are_one_piece() {
        let mut c = counter("none", &["<s>"]);
        c.add_bytes(b"\xff\x00ab<s>cd").unwrap();
        assert_eq!(c.counts().get(b"\xff\x00ab"), 1);
        assert_eq!(c.counts().get(b"cd"), 1);
        let mut c = counter("gpt2", &[]);
        assert!(c.add_bytes(b"\xff").is_err());
    }

    #[test]
    fn binary_pieces_split_nul_runs_and_windows() {
        let data = b"ab\0\0\0cdefg\0h";
        let mut pieces = Vec::new();
        let ch = BinaryChunking {
            split_nul: true,
            window: 3,
        };
        binary_pieces(data, ch, |p| pieces.push(p.to_vec()));
        let want: Vec<&[u8]> = vec![b"ab", b"\0\0\0", b"cde", b"fg", b"\0", b"h"];
        assert_eq!(pieces, want);
        pieces.clear();
        let ch = BinaryChunking {
            split_nul: false,
            window: 5,
        };
        binary_pieces(data, ch, |p| pieces.push(p.to_vec()));
        assert_eq!(pieces.concat(), data.to_vec());
        assert_eq!(pieces.len(), 3);
    }

    #[test]
    fn binary_files_count_like_binary_data() {
        let a = tmp("a.bin");
        let b = tmp("b.bin");
        std::fs::write(&a, b"\x7fELF\0\0\0\x01\xff").unwrap();
        std::fs::write(&b, b"\x7fELF\0\x02").unwrap();
        let mut c = counter("none", &[]);
        c.add_binary_files(&[a, b], BinaryChunking::default(), &Silent)
            .unwrap();
        assert_eq!(c.counts().get(b"\x7fELF"), 2);
        assert_eq!(c.counts().get(b"\0\0\0"), 1);
        assert_eq!(c.counts().get(b"\x01\xff"), 1);
        let mut c = counter("o200k", &[]);
        let err = c
            .add_binary(b"x", BinaryChunking::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("none"), "{err}");
        let mut c = counter("none", &[]);
        let err = c
            .add_binary_files(&[tmp("missing.bin")], BinaryChunking::default(), &Silent)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.bin"), "{err}");
    }
}
