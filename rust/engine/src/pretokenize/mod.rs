//! Pre-tokenization: splitting text into the pieces that BPE merges never cross.
//!
//! A [`PreTokenizer`] is built from a spec: a preset name ([`PRESETS`]), `none` (the whole input
//! is one piece: raw binary), or any regex. Three engines sit behind the one API:
//!
//! * **Presets** (`gpt2`, `cl100k`, `o200k`, `llama3`, `qwen2`, also when their exact regex is
//!   given to [`PreTokenizer::from_regex`]) run hand-written splitters ([`presets`]) that
//!   produce exactly the pieces of fancy-regex's `find_iter` on the preset regex, at several
//!   hundred MB/s instead of tens. Their Unicode classes come from the same `regex-syntax`
//!   tables fancy-regex uses ([`classes`]). With the presets the matches tile the text.
//! * **Custom regexes without look-around or backreferences** run on the `regex` crate (a lazy
//!   DFA). A pattern that the `regex` crate rejects (look-around, backreferences, possessive or
//!   atomic groups, ...) runs on fancy-regex.
//! * **`none`**: the whole input is one piece.
//!
//! Custom regexes need not match every char. Text between (or around) matches is emitted as a
//! piece of its own, like HF's `Split(pattern, behavior="Isolated")`, and empty matches are
//! skipped, so the pieces always concatenate back to the input (`decode(encode(x)) == x`).
//!
//! fancy-regex can fail at run time when its backtracking limit is hit. Text is never lost then:
//! from the position where the failed search started, one whitespace-delimited chunk (a run of
//! white space, or a run of anything else) is emitted as a piece and the search resumes after it.

mod classes;
mod presets;
mod superbpe;
#[cfg(test)]
mod tests;

use presets::Preset;
pub use superbpe::{Chunks, CHUNKS_PREFIX, SUPERBPE};

use crate::error::{Error, Result};

/// GPT-2 / r50k / p50k (tiktoken's faster equivalent of the original pattern).
pub const GPT2: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
/// cl100k_base (GPT-3.5/4), as in tiktoken.
pub const CL100K: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// o200k_base (GPT-4o), as in tiktoken.
pub const O200K: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+",
);
/// Llama 3 (Meta's tiktoken-based tokenizer).
pub const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2 (single digits).
pub const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Named presets: `(name, regex)`.
pub const PRESETS: &[(&str, &str)] = &[
    ("gpt2", GPT2),
    ("cl100k", CL100K),
    ("o200k", O200K),
    ("llama3", LLAMA3),
    ("qwen2", QWEN2),
];

/// The regex of a preset name (`r50k` and `*_base` spellings are accepted).
pub fn preset(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_suffix("_base").unwrap_or(&name);
    let name = match name {
        "r50k" | "p50k" => "gpt2",
        other => other,
    };
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

#[derive(Clone, Debug)]
enum Splitter {
    /// No pre-tokenization: the whole input is one piece.
    None,
    /// A hand-written preset splitter.
    Preset(Preset),
    /// A custom regex the `regex` crate accepts.
    Regex(regex::Regex),
    /// A custom regex that needs fancy-regex (look-around, backreferences, ...).
    Fancy(fancy_regex::Regex),
    /// Random-length chunks for the separator curriculum (training only, see [`superbpe`]).
    Chunks(Chunks),
}

/// Splits text into pre-tokens.
#[derive(Clone, Debug)]
pub struct PreTokenizer {
    /// The preset name, if built from one.
    name: Option<String>,
    /// The regex source (`None` for `none`).
    pattern: Option<String>,
    splitter: Splitter,
}

impl PreTokenizer {
    /// Build from a preset name, `none`, or a regex.
    pub fn new(spec: &str) -> Result<Self> {
        if spec.trim().eq_ignore_ascii_case("none") {
            return Ok(Self::none());
        }
        if let Some(chunks) = Chunks::parse(spec) {
            return Ok(Self::chunks(chunks?));
        }
        if let Some(pattern) = preset(spec) {
            let mut p = Self::from_regex(pattern)?;
            p.name = Some(spec.trim().to_ascii_lowercase());
            return Ok(p);
        }
        if spec.is_empty() {
            return Err(Error::invalid(
                "empty pre-tokenizer pattern; give a preset name, `none`, or a regex",
            ));
        }
        Self::from_regex(spec)
    }

    /// Build from a regex (never interpreted as a preset name). A preset's exact regex gets the
    /// preset's fast splitter; other regexes use the `regex` crate when it accepts them and
    /// fancy-regex otherwise.
    pub fn from_regex(pattern: &str) -> Result<Self> {
        let splitter = match Preset::from_pattern(pattern) {
            Some(preset) => {
                // Build the class tables now (a few ms), not in the first encode call.
                classes::Tables::get();
                Splitter::Preset(preset)
            }
            None => match regex::Regex::new(pattern) {
                Ok(re) => Splitter::Regex(re),
                Err(_) => Splitter::Fancy(compile_fancy(pattern)?),
            },
        };
        Ok(Self::with_splitter(pattern, splitter))
    }

    /// Build from a regex that always runs on fancy-regex, even for a preset's regex: the
    /// reference behaviour the fast splitters are tested against (slow; for tests and benchmarks).
    pub fn from_regex_reference(pattern: &str) -> Result<Self> {
        Ok(Self::with_splitter(
            pattern,
            Splitter::Fancy(compile_fancy(pattern)?),
        ))
    }

    fn with_splitter(pattern: &str, splitter: Splitter) -> Self {
        PreTokenizer {
            name: PRESETS
                .iter()
                .find(|(_, p)| *p == pattern)
                .map(|(n, _)| n.to_string()),
            pattern: Some(pattern.to_string()),
            splitter,
        }
    }

    /// Build around an already compiled fancy-regex (tests use it to set a backtrack limit).
    #[cfg(test)]
    fn from_fancy(pattern: &str, re: fancy_regex::Regex) -> Self {
        Self::with_splitter(pattern, Splitter::Fancy(re))
    }

    /// No pre-tokenization.
    pub fn none() -> Self {
        PreTokenizer {
            name: Some("none".into()),
            pattern: None,
            splitter: Splitter::None,
        }
    }

    /// Random-length chunks (training only: HF has no equivalent, so its pattern is the spec).
    pub fn chunks(chunks: Chunks) -> Self {
        let spec = chunks.spec();
        PreTokenizer {
            name: Some(spec.clone()),
            pattern: Some(spec),
            splitter: Splitter::Chunks(chunks),
        }
    }

    /// Whether this pre-tokenizer is for training only (random chunks): it cannot be exported.
    pub fn is_training_only(&self) -> bool {
        matches!(self.splitter, Splitter::Chunks(_))
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_deref()
    }

    pub fn is_none(&self) -> bool {
        matches!(self.splitter, Splitter::None)
    }

    /// A spec that [`PreTokenizer::new`] turns back into this pre-tokenizer.
    pub fn spec(&self) -> &str {
        self.name
            .as_deref()
            .or(self.pattern.as_deref())
            .unwrap_or("none")
    }

    /// Call `f` on each piece of `text`, in order. The pieces are non-empty and concatenate to
    /// `text`.
    pub fn for_each_piece<'t>(&self, text: &'t str, mut f: impl FnMut(&'t str)) {
        match &self.splitter {
            Splitter::None => {
                if !text.is_empty() {
                    f(text)
                }
            }
            Splitter::Preset(preset) => preset.for_each_piece(text, &mut f),
            Splitter::Regex(re) => {
                let matches = re.find_iter(text).map(|m| m.range());
                emit_with_gaps(text, matches, &mut f)
            }
            Splitter::Fancy(re) => fancy_pieces(re, text, &mut f),
            Splitter::Chunks(chunks) => chunks.for_each_piece(text, &mut f),
        }
    }

    /// Whether [`PreTokenizer::pieces_from`] can start a scan anywhere (the presets: each of
    /// their pieces depends only on the text and where it starts).
    pub fn is_resumable(&self) -> bool {
        matches!(self.splitter, Splitter::Preset(_))
    }

    /// Call `f` on each piece of `text` from byte `from` (a char boundary) on, until `f` breaks
    /// or the text ends: the pieces that the scan of the whole text produces wherever it has a
    /// piece start at `from`. `false` (and nothing called) unless [`Self::is_resumable`].
    pub fn pieces_from<'t>(
        &self,
        text: &'t str,
        from: usize,
        mut f: impl FnMut(&'t str) -> std::ops::ControlFlow<()>,
    ) -> bool {
        match &self.splitter {
            Splitter::Preset(preset) => {
                preset.pieces_from(text, from, &mut f);
                true
            }
            _ => false,
        }
    }

    /// The pieces of `text` as a vector (convenient in tests and tools).
    pub fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut out = Vec::new();
        self.for_each_piece(text, |p| out.push(p));
        out
    }
}

fn compile_fancy(pattern: &str) -> Result<fancy_regex::Regex> {
    fancy_regex::Regex::new(pattern).map_err(|e| Error::Regex {
        pattern: pattern.to_string(),
        reason: e.to_string(),
    })
}

/// Emit the matches (byte ranges, in order, non-overlapping) and the text between them; skip
/// empty pieces.
fn emit_with_gaps<'t>(
    text: &'t str,
    matches: impl Iterator<Item = std::ops::Range<usize>>,
    f: &mut impl FnMut(&'t str),
) {
    let mut done = 0;
    for m in matches {
        if m.start > done {
            f(&text[done..m.start]);
        }
        if m.end > m.start {
            f(&text[m.start..m.end]);
        }
        done = m.end;
    }
    if done < text.len() {
        f(&text[done..]);
    }
}

/// fancy-regex's matches with gaps, surviving run-time errors (see the module docs).
fn fancy_pieces<'t>(re: &fancy_regex::Regex, text: &'t str, f: &mut impl FnMut(&'t str)) {
    let mut ranges = Vec::new();
    // `pos`: where the next search starts; it can run ahead of the last match after empty ones.
    let mut pos = 0;
    while pos <= text.len() {
        match re.find_from_pos(text, pos) {
            Ok(None) => break,
            Ok(Some(m)) if m.start() == m.end() => match text[m.end()..].chars().next() {
                // An empty match: search again one char further.
                Some(c) => pos = m.end() + c.len_utf8(),
                None => break,
            },
            Ok(Some(m)) => {
                ranges.push(m.range());
                pos = m.end();
            }
            Err(_) => {
                let end = chunk_end(text, pos);
                if end == pos {
                    break; // at the end of text: nothing left to cover
                }
                ranges.push(pos..end);
                pos = end;
            }
        }
    }
    emit_with_gaps(text, ranges.into_iter(), f)
}

/// End of the whitespace-delimited chunk at `pos`: the run of white space or of non-white space.
fn chunk_end(text: &str, pos: usize) -> usize {
    let rest = &text[pos..];
    let Some(first) = rest.chars().next() else {
        return pos;
    };
    let space = first.is_whitespace();
    let len = rest
        .find(|c: char| c.is_whitespace() != space)
        .unwrap_or(rest.len());
    pos + len
}
