//! Pre-tokenization: splitting text into the pieces that BPE merges never cross.
//!
//! A [`PreTokenizer`] is built from a spec: a preset name ([`PRESETS`]), `none` (the whole input
//! is one piece: raw binary), or any regex (matched with look-around support). Pieces are the
//! regex's successive matches; text between matches is dropped, as in tiktoken and HF's
//! `Split(..., behavior=Isolated)` — with the presets no text falls between matches.

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
    Regex(fancy_regex::Regex),
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

    /// Build from a regex (never interpreted as a preset name).
    pub fn from_regex(pattern: &str) -> Result<Self> {
        let re = fancy_regex::Regex::new(pattern).map_err(|e| Error::Regex {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })?;
        Ok(PreTokenizer {
            name: PRESETS
                .iter()
                .find(|(_, p)| *p == pattern)
                .map(|(n, _)| n.to_string()),
            pattern: Some(pattern.to_string()),
            splitter: Splitter::Regex(re),
        })
    }

    /// No pre-tokenization.
    pub fn none() -> Self {
        PreTokenizer {
            name: Some("none".into()),
            pattern: None,
            splitter: Splitter::None,
        }
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

    /// Call `f` on each piece of `text`, in order.
    pub fn for_each_piece<'t>(&self, text: &'t str, mut f: impl FnMut(&'t str)) {
        match &self.splitter {
            Splitter::None => {
                if !text.is_empty() {
                    f(text)
                }
            }
            Splitter::Regex(re) => {
                for m in re.find_iter(text) {
                    match m {
                        Ok(m) => f(m.as_str()),
                        // A backtracking limit hit: keep going without losing text.
                        Err(_) => {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// The pieces of `text` as a vector (convenient in tests and tools).
    pub fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut out = Vec::new();
        self.for_each_piece(text, |p| out.push(p));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_compile_and_split() {
        for (name, _) in PRESETS {
            let p = PreTokenizer::new(name).unwrap();
            assert_eq!(p.split("Hello world"), vec!["Hello", " world"], "{name}");
        }
        assert!(PreTokenizer::new("cl100k_base").is_ok());
    }

    #[test]
    fn bad_regex_is_named() {
        let err = PreTokenizer::new("(unclosed").unwrap_err().to_string();
        assert!(err.contains("(unclosed"), "{err}");
    }

    #[test]
    fn none_is_one_piece() {
        let p = PreTokenizer::new("none").unwrap();
        assert_eq!(p.split("a b  c"), vec!["a b  c"]);
    }
}
