//! tiktoken rank files, with a JSON sidecar for what they do not hold.
//!
//! A rank file has one line per ordinary token: the token bytes in standard base64, one space,
//! and its rank (which is also its id). Blank lines are skipped (as tiktoken does). The rank file
//! knows nothing about the pre-tokenizer regex, special tokens or normalization, so these come
//! either from the caller or from a sidecar `<file>.json` beside the rank file:
//!
//! ```json
//! {"pattern": "<regex or null for no pre-tokenization>",
//!  "special_tokens": {"<|endoftext|>": 100257},
//!  "normalizer": "none" | "nfc" | "nfkc"}
//! ```
//!
//! tiktoken semantics: two adjacent parts merge when their concatenation is a token, lowest rank
//! first, and a pre-token that is itself a token is emitted without merging. Loading therefore
//! uses [`Vocab::from_ranks`] and sets `ignore_merges`.
//!
//! Writing uses each token's id as its rank. That reproduces the vocabulary's own encoding
//! exactly when its merges already have tiktoken semantics (`rank == result id`, as for files
//! loaded from tiktoken). For a merge-list vocabulary (HF-trained) whose merges produce ids in
//! rank order, it is the usual conversion (the one that maps GPT-2 to r50k); it can differ from
//! the merge list in rare words where a token is reachable through a split that training never
//! merged. A vocabulary whose merge order disagrees with its id order is refused.

use crate::error::{Error, Result};
use crate::io::{read_file, write_atomic};
use crate::normalize::Normalizer;
use crate::pretokenize::PreTokenizer;
use crate::tokenizer::Tokenizer;
use crate::vocab::{SpecialToken, TokenId, Vocab};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Parse a rank file. `location` names the file in errors (`cl100k.tiktoken:12: ...`).
pub fn parse_ranks(data: &[u8], location: &str) -> Result<Vec<(Vec<u8>, TokenId)>> {
    let ends_with_newline = data.last().is_none_or(|&b| b == b'\n');
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let last_line = lines.len();
    let err = |number: usize, reason: String| {
        let truncated = number == last_line && !ends_with_newline;
        let hint = if truncated {
            " (the last line has no newline: the file looks truncated)"
        } else {
            ""
        };
        Error::format(format!("{location}:{number}"), format!("{reason}{hint}"))
    };
    let mut out = Vec::with_capacity(lines.len());
    // The line number of each entry of `out`, for the duplicate checks below.
    let mut numbers = Vec::with_capacity(lines.len());
    for (index, raw) in lines.iter().enumerate() {
        let number = index + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.push(parse_line(line).map_err(|reason| err(number, reason))?);
        numbers.push(number);
    }
    if out.is_empty() {
        return Err(Error::format(location, "no tokens (empty rank file)"));
    }
    if let Some((number, reason)) = first_duplicate(&out, &numbers) {
        return Err(err(number, reason));
    }
    Ok(out)
}

/// The first line (of `numbers`, the line of each entry) that repeats an earlier line's rank or
/// bytes, and why. Checked after parsing, by sorting ranks and hashing borrowed bytes: inserting
/// an owned copy of every line's bytes into a map was most of the parse time of a 200k-line file.
fn first_duplicate(entries: &[(Vec<u8>, TokenId)], numbers: &[usize]) -> Option<(usize, String)> {
    let mut by_rank: Vec<(TokenId, usize)> = entries.iter().map(|(_, r)| *r).zip(0..).collect();
    by_rank.sort_unstable();
    let rank_twice = by_rank.windows(2).filter(|w| w[0].0 == w[1].0).map(|w| {
        let (first, again) = (numbers[w[0].1], numbers[w[1].1]);
        let reason = format!("rank {} already appears on line {first}", w[0].0);
        (again, reason)
    });
    let mut seen: FxHashMap<&[u8], usize> = FxHashMap::default();
    seen.reserve(entries.len());
    let bytes_twice = entries
        .iter()
        .zip(numbers)
        .filter_map(|((bytes, _), &number)| {
            let first = *seen.entry(bytes.as_slice()).or_insert(number);
            (first != number).then(|| {
                let reason = format!("the same token bytes already appear on line {first}");
                (number, reason)
            })
        });
    rank_twice
        .chain(bytes_twice)
        .min_by_key(|(number, _)| *number)
}

fn parse_line(line: &[u8]) -> std::result::Result<(Vec<u8>, TokenId), String> {
    let text = std::str::from_utf8(line).map_err(|_| "the line is not ASCII text".to_string())?;
    let mut fields = text.split_ascii_whitespace();
    let token = fields.next().unwrap_or_default();
    let rank = fields
        .next()
        .ok_or_else(|| format!("missing rank after the token {token:?}"))?;
    if let Some(extra) = fields.next() {
        return Err(format!(
            "unexpected third field {extra:?}; expected `base64 rank`"
        ));
    }
    let bytes = STANDARD
        .decode(token)
        .map_err(|e| format!("bad base64 {token:?}: {e}"))?;
    if bytes.is_empty() {
        return Err("empty token".to_string());
    }
    let rank = rank
        .parse::<TokenId>()
        .map_err(|e| format!("bad rank {rank:?}: {e}"))?;
    Ok((bytes, rank))
}

/// Write `vocab`'s ordinary tokens as a rank file, in id order, with the id as the rank.
///
/// Refuses vocabularies whose merges are not in id order (see the module docs).
pub fn write_ranks(vocab: &Vocab, w: &mut dyn Write) -> Result<()> {
    check_rank_order(vocab)?;
    write_ranks_unchecked(vocab, w).map_err(|e| Error::invalid(format!("writing ranks: {e}")))
}

fn write_ranks_unchecked(vocab: &Vocab, w: &mut dyn Write) -> std::io::Result<()> {
    for (id, bytes) in vocab.ordinary_tokens() {
        writeln!(w, "{} {id}", STANDARD.encode(bytes))?;
    }
    Ok(())
}

/// Ids as ranks keep the merge order only if merge results grow with merge rank.
fn check_rank_order(vocab: &Vocab) -> Result<()> {
    if vocab.ranks_are_ids() {
        return Ok(());
    }
    let mut merges: Vec<_> = vocab.merges().to_vec();
    merges.sort_by_key(|m| (m.rank, m.left, m.right));
    for pair in merges.windows(2) {
        if pair[1].result < pair[0].result {
            return Err(Error::invalid(format!(
                "cannot write a tiktoken rank file: merge rank {} produces token {} but the later \
                 merge rank {} produces the smaller id {}; tiktoken ranks are ids, so this \
                 vocabulary's merge order cannot be kept",
                pair[0].rank, pair[0].result, pair[1].rank, pair[1].result
            )));
        }
    }
    Ok(())
}

/// The sidecar path beside a rank file: `<file>.json`.
pub fn sidecar_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// The sidecar to read: `<file>.json` (what [`save`] writes) or else `<stem>.json` beside it
/// (`cl100k.tiktoken` + `cl100k.json`), defaulting to the former when neither exists.
fn existing_sidecar(path: &Path) -> PathBuf {
    let primary = sidecar_path(path);
    let by_stem = path.with_extension("json");
    if !primary.exists() && path.extension().is_some() && by_stem.exists() {
        by_stem
    } else {
        primary
    }
}

/// What a sidecar holds; every field is optional so that arguments can fill the gaps.
#[derive(Debug, Default)]
struct Sidecar {
    /// `Some(None)` is an explicit `null`: no pre-tokenization.
    pattern: Option<Option<String>>,
    specials: Option<Vec<SpecialToken>>,
    normalizer: Normalizer,
}

fn parse_sidecar(text: &str, location: &str) -> Result<Sidecar> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Error::format(
            format!("{location}:{}:{}", e.line(), e.column()),
            format!("invalid JSON: {e}"),
        )
    })?;
    let obj = value
        .as_object()
        .ok_or_else(|| Error::format(location, "expected a JSON object"))?;
    let field = |name: &str, reason: &str| Error::format(format!("{location}: {name}"), reason);
    let pattern = match obj.get("pattern") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => return Err(field("pattern", "expected a regex string or null")),
    };
    let specials = match obj.get("special_tokens") {
        None => None,
        Some(Value::Object(map)) => Some(parse_specials(map, location)?),
        Some(_) => return Err(field("special_tokens", "expected an object {content: id}")),
    };
    let normalizer = match obj.get("normalizer") {
        None | Some(Value::Null) => Normalizer::None,
        Some(Value::String(s)) => {
            Normalizer::from_name(s).map_err(|e| field("normalizer", &e.to_string()))?
        }
        Some(_) => {
            return Err(field(
                "normalizer",
                "expected \"none\", \"nfc\" or \"nfkc\"",
            ))
        }
    };
    Ok(Sidecar {
        pattern,
        specials,
        normalizer,
    })
}

fn parse_specials(map: &Map<String, Value>, location: &str) -> Result<Vec<SpecialToken>> {
    map.iter()
        .map(|(content, id)| {
            let id = id
                .as_u64()
                .and_then(|id| TokenId::try_from(id).ok())
                .ok_or_else(|| {
                    Error::format(
                        format!("{location}: special_tokens[{content:?}]"),
                        format!("expected a token id, got {id}"),
                    )
                })?;
            Ok(SpecialToken {
                content: content.clone(),
                id,
            })
        })
        .collect()
}

fn sidecar_json(tok: &Tokenizer) -> String {
    let specials: Map<String, Value> = tok
        .vocab()
        .specials()
        .iter()
        .map(|s| (s.content.clone(), Value::from(s.id)))
        .collect();
    let value = serde_json::json!({
        "pattern": tok.pretokenizer().pattern(),
        "special_tokens": specials,
        "normalizer": tok.normalizer().name(),
    });
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
    text.push('\n');
    text
}

/// Load a rank file. The pattern (a preset name, `none` or a regex) and the special tokens come
/// from the arguments when given, otherwise from the sidecar `<file>.json`; the normalizer only
/// from the sidecar (default none). Missing information is an error that says what to pass.
pub fn load(
    path: &Path,
    pattern: Option<&str>,
    specials: Option<Vec<SpecialToken>>,
) -> Result<Tokenizer> {
    let location = path.display().to_string();
    let ranks = parse_ranks(&read_file(path)?, &location)?;
    let side_path = existing_sidecar(path);
    let sidecar = if side_path.exists() {
        let text = String::from_utf8(read_file(&side_path)?).map_err(|_| {
            Error::format(side_path.display().to_string(), "the sidecar is not UTF-8")
        })?;
        parse_sidecar(&text, &side_path.display().to_string())?
    } else {
        Sidecar::default()
    };
    let missing = |what: &str, arg: &str| {
        Error::invalid(format!(
            "{location}: a tiktoken rank file does not hold the {what}; pass {arg}, or put it in \
             the sidecar {} as {{\"pattern\": ..., \"special_tokens\": {{...}}}}",
            side_path.display()
        ))
    };
    let pretokenizer = match (pattern, sidecar.pattern) {
        (Some(spec), _) => PreTokenizer::new(spec)?,
        (None, Some(Some(regex))) => PreTokenizer::from_regex(&regex)?,
        (None, Some(None)) => PreTokenizer::none(),
        (None, None) => {
            return Err(missing(
                "pre-tokenizer pattern",
                "a pattern (preset name, `none` or regex)",
            ))
        }
    };
    let specials = match (specials, sidecar.specials) {
        (Some(s), _) | (None, Some(s)) => s,
        (None, None) => {
            return Err(missing(
                "special tokens",
                "the special tokens (or an empty list)",
            ))
        }
    };
    let vocab = Vocab::from_ranks(ranks, specials).map_err(|e| match e {
        Error::InvalidArgument(reason) => Error::format(location.clone(), reason),
        other => other,
    })?;
    Ok(Tokenizer::new(vocab, pretokenizer, sidecar.normalizer)?.with_ignore_merges(true))
}

/// Save as a rank file at `path` plus the sidecar `<path>.json`, each written atomically.
pub fn save(tok: &Tokenizer, path: &Path) -> Result<()> {
    check_rank_order(tok.vocab())?;
    write_atomic(path, |w| write_ranks_unchecked(tok.vocab(), w))?;
    let side = sidecar_json(tok);
    write_atomic(&sidecar_path(path), |w| w.write_all(side.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank_file() -> String {
        let mut s = String::new();
        for b in 0..=255u8 {
            s += &format!("{} {b}\n", STANDARD.encode([b]));
        }
        s += &format!("{} 256\n", STANDARD.encode(b"ab"));
        s += &format!("{} 257\n", STANDARD.encode(b"abc"));
        s
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("toksmith-tt-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn parses_and_allows_blank_lines() {
        let text = rank_file() + "\n";
        let ranks = parse_ranks(text.as_bytes(), "f").unwrap();
        assert_eq!(ranks.len(), 258);
        assert_eq!(ranks[257], (b"abc".to_vec(), 257));
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let cases = [
            ("YQ== 0\n!!! 1\n", "f:2", "bad base64"),
            ("YQ== 0\nYg==\n", "f:2", "missing rank"),
            (
                "YQ== 0\nYg== 0\n",
                "f:2",
                "rank 0 already appears on line 1",
            ),
            ("YQ== 0\nYQ== 1\n", "f:2", "already appear on line 1"),
            // Several repeats: the earliest repeating line is named, blank lines counted.
            (
                "YQ== 0\n\nYw== 2\nYQ== 3\nYg== 2\nYw== 0\n",
                "f:4",
                "token bytes already appear on line 1",
            ),
            (
                "YQ== 5\nYg== 6\nYw== 5\nYg== 7\n",
                "f:3",
                "rank 5 already appears on line 1",
            ),
            ("YQ== 0\nYg== x\n", "f:2", "bad rank"),
            ("YQ== 0\nYg", "f:2", "truncated"),
        ];
        for (text, location, reason) in cases {
            let err = parse_ranks(text.as_bytes(), "f").unwrap_err().to_string();
            assert!(err.starts_with(location), "{err}");
            assert!(err.contains(reason), "{err}");
        }
        assert!(parse_ranks(b"\n\n", "f").is_err());
    }

    #[test]
    fn write_then_parse_round_trips() {
        let ranks = parse_ranks(rank_file().as_bytes(), "f").unwrap();
        let vocab = Vocab::from_ranks(ranks.clone(), vec![]).unwrap();
        let mut out = Vec::new();
        write_ranks(&vocab, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), rank_file());
    }

    #[test]
    fn merge_order_against_ids_is_refused() {
        let mut toks: Vec<_> = (0..=255u8).map(|b| (vec![b], b as TokenId)).collect();
        toks.push((b"ab".to_vec(), 257));
        toks.push((b"cd".to_vec(), 256));
        let vocab = Vocab::from_merges(toks, &[(97, 98), (99, 100)], vec![]).unwrap();
        let err = write_ranks(&vocab, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("merge order"), "{err}");
    }

    #[test]
    fn load_needs_pattern_and_specials() {
        let dir = temp_dir("missing");
        let path = dir.join("x.tiktoken");
        std::fs::write(&path, rank_file()).unwrap();
        let err = load(&path, None, None).unwrap_err().to_string();
        assert!(
            err.contains("pattern") && err.contains("x.tiktoken.json"),
            "{err}"
        );
        let err = load(&path, Some("gpt2"), None).unwrap_err().to_string();
        assert!(err.contains("special tokens"), "{err}");
        let tok = load(&path, Some("gpt2"), Some(vec![])).unwrap();
        assert!(tok.ignore_merges());
        assert_eq!(tok.vocab().merges().len(), 2); // a+b, ab+c (bc is no token)
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn save_and_load_with_sidecar() {
        let dir = temp_dir("save");
        let path = dir.join("y.tiktoken");
        let ranks = parse_ranks(rank_file().as_bytes(), "f").unwrap();
        let special = SpecialToken {
            content: "<|end|>".into(),
            id: 300,
        };
        let vocab = Vocab::from_ranks(ranks, vec![special.clone()]).unwrap();
        let pre = PreTokenizer::new("cl100k").unwrap();
        let tok = Tokenizer::new(vocab, pre, Normalizer::Nfc).unwrap();
        save(&tok, &path).unwrap();
        let back = load(&path, None, None).unwrap();
        assert_eq!(back.vocab().specials(), &[special]);
        assert_eq!(back.pretokenizer().name(), Some("cl100k"));
        assert_eq!(back.normalizer(), Normalizer::Nfc);
        assert_eq!(back.vocab().merges(), tok.vocab().merges());
        let none = Tokenizer::new(tok.vocab().clone(), PreTokenizer::none(), Normalizer::None);
        save(&none.unwrap(), &path).unwrap();
        assert!(load(&path, None, None).unwrap().pretokenizer().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
