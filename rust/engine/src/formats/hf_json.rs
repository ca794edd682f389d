//! HF `tokenizer.json` for byte-level BPE.
//!
//! Reading accepts what byte-level BPE files (GPT-2, Llama 3, Qwen2, GPT-4o conversions, files
//! HF's trainer writes) contain, and refuses everything else with an error naming the JSON path:
//! - `model`: `BPE` with `vocab` (keys in GPT-2's byte-level alphabet, see [`crate::bytelevel`]),
//!   `merges` as `"a b"` strings or `["a", "b"]` pairs (rank = index), `ignore_merges`; no
//!   `byte_fallback`, `dropout`, `continuing_subword_prefix`, `end_of_word_suffix` or `unk_token`.
//! - `pre_tokenizer`: `ByteLevel` (`add_prefix_space` false; `use_regex` true is the GPT-2
//!   pattern, false is no pre-tokenization), or `Sequence[Split(Regex, Isolated, invert false),
//!   ByteLevel(use_regex false)]`. A Split regex equal to a preset is recognised as that preset.
//! - `normalizer`: null, `NFC` or `NFKC`; `decoder`: null or `ByteLevel`.
//! - `post_processor`: null, `ByteLevel`, `TemplateProcessing` or a `Sequence` of these is
//!   accepted and not kept: toksmith never adds BOS/EOS tokens, and writing emits `ByteLevel`.
//! - `added_tokens`: every added token becomes a [`SpecialToken`], matched verbatim before
//!   pre-tokenization. Non-special added tokens (`"special": false`) are kept as specials too:
//!   HF also matches them verbatim before the model runs, so ids are the same; what differs is
//!   only that HF's `skip_special_tokens` keeps them when decoding and that toksmith's
//!   allowed/disallowed policy applies to them. `lstrip`/`rstrip`/`single_word` are refused.
//!   An added token that also sits in `model.vocab` under the same id (GPT-2's `<|endoftext|>`)
//!   is taken out of the ordinary tokens.
//!
//! Merges always read with HF semantics (rank = index), whatever wrote them. A tiktoken vocabulary
//! (several merges per result, rank = result id) is written with its merges sorted by
//! `(rank, left, right)`; read back, the ranks become indices in that same order, which HF and
//! toksmith both apply. It differs from tiktoken's "leftmost of equal rank" only when two
//! different splits of one token overlap in a word, and [`super::tiktoken::write_ranks`] still
//! accepts the result (merge results grow with rank), so tiktoken -> JSON -> tiktoken keeps
//! every token and id.
//!
//! Writing produces the layout of `tokenizers` 0.23 (`Tokenizer.to_str()`): specials as added
//! tokens (`special: true, normalized: false`) and also in `model.vocab` (HF takes an added
//! token's id from there; otherwise it renumbers), merges as pairs in `(rank, left, right)` order.
//!
//! Split regexes are Oniguruma's in the file and fancy-regex's in toksmith; see
//! `fancy_to_onig` for the one construct they read differently. One difference remains: HF's
//! `Isolated` keeps text that no match covers as pieces of its own, toksmith drops it; the presets
//! cover all text, so this only matters for custom regexes with gaps.

use crate::bytelevel;
use crate::error::{Error, Result};
use crate::io::{read_file, write_atomic};
use crate::normalize::Normalizer;
use crate::pretokenize::{PreTokenizer, GPT2, PRESETS};
use crate::tokenizer::Tokenizer;
use crate::vocab::{SpecialToken, TokenId, TokenMap, Vocab};
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;

/// Names the file in errors: `tokenizer.json: model.merges[3]: ...`.
struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, path: &str, reason: impl Into<String>) -> Error {
        Error::format(format!("{}: {path}", self.file), reason)
    }

    fn unsupported(&self, path: &str, what: &str) -> Error {
        self.err(
            path,
            format!("unsupported {what}; toksmith reads byte-level BPE tokenizers only"),
        )
    }

    fn object<'v>(&self, value: &'v Value, path: &str) -> Result<&'v Map<String, Value>> {
        value
            .as_object()
            .ok_or_else(|| self.err(path, format!("expected an object, got {}", kind(value))))
    }

    fn type_of<'v>(&self, obj: &'v Map<String, Value>, path: &str) -> Result<&'v str> {
        obj.get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| self.err(&format!("{path}.type"), "missing or not a string"))
    }

    /// A boolean field, `default` when absent.
    fn flag(&self, obj: &Map<String, Value>, path: &str, key: &str, default: bool) -> Result<bool> {
        match obj.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.err(
                &format!("{path}.{key}"),
                format!("expected a boolean, got {}", kind(other)),
            )),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parse a `tokenizer.json` document; `location` names it in errors.
pub fn from_str(json: &str, location: &str) -> Result<Tokenizer> {
    let ctx = Ctx { file: location };
    let root: Value = serde_json::from_str(json).map_err(|e| {
        let what = if e.is_eof() {
            "truncated JSON"
        } else {
            "malformed JSON"
        };
        Error::format(
            format!("{location}:{}:{}", e.line(), e.column()),
            format!("{what}: {e}"),
        )
    })?;
    let root = ctx.object(&root, "(root)")?;
    let specials = read_added_tokens(&ctx, root.get("added_tokens"))?;
    let model = read_model(&ctx, root.get("model").unwrap_or(&Value::Null), &specials)?;
    let normalizer = read_normalizer(&ctx, root.get("normalizer").unwrap_or(&Value::Null))?;
    let pretokenizer = read_pretokenizer(&ctx, root.get("pre_tokenizer").unwrap_or(&Value::Null))?;
    check_decoder(&ctx, root.get("decoder").unwrap_or(&Value::Null))?;
    check_post_processor(
        &ctx,
        root.get("post_processor").unwrap_or(&Value::Null),
        "post_processor",
    )?;
    let ignore_merges = model.ignore_merges;
    let vocab = build_vocab(&ctx, model, specials)?;
    Ok(Tokenizer::new(vocab, pretokenizer, normalizer)?.with_ignore_merges(ignore_merges))
}

/// Read a `tokenizer.json` file.
pub fn load(path: &Path) -> Result<Tokenizer> {
    let location = path.display().to_string();
    let text = String::from_utf8(read_file(path)?)
        .map_err(|e| Error::format(location.clone(), format!("not UTF-8: {e}")))?;
    from_str(&text, &location)
}

/// The BPE model as read: ordinary tokens, merges by id, `ignore_merges`.
struct ModelData {
    tokens: Vec<(Vec<u8>, TokenId)>,
    /// The vocabulary key of each id, to name tokens in errors.
    keys: FxHashMap<TokenId, String>,
    /// Number of `model.vocab` entries (HF numbers added tokens missing from it from here).
    vocab_count: usize,
    /// Added tokens that `model.vocab` also holds.
    specials_in_model: FxHashSet<TokenId>,
    merges: Vec<(TokenId, TokenId)>,
    ignore_merges: bool,
}

fn read_model(ctx: &Ctx, value: &Value, specials: &[SpecialToken]) -> Result<ModelData> {
    let obj = ctx.object(value, "model")?;
    match obj.get("type").and_then(Value::as_str) {
        Some("BPE") => {}
        // Old files omit the type; a merge list identifies BPE.
        None if obj.contains_key("merges") => {}
        Some(other) => return Err(ctx.unsupported("model.type", &format!("{other:?}"))),
        None => return Err(ctx.err("model.type", "missing (expected \"BPE\")")),
    }
    check_model_options(ctx, obj)?;
    let vocab = obj
        .get("vocab")
        .ok_or_else(|| ctx.err("model.vocab", "missing"))?;
    let vocab = ctx.object(vocab, "model.vocab")?;
    let mut tokens = Vec::with_capacity(vocab.len());
    // Vocab key -> id, for the merges (two probes per merge: 892k for o200k).
    let mut ids = TokenMap::with_capacity(vocab.len());
    let mut keys = FxHashMap::default();
    let added: FxHashMap<&str, TokenId> = specials
        .iter()
        .map(|s| (s.content.as_str(), s.id))
        .collect();
    let mut specials_in_model = FxHashSet::default();
    for (key, id) in vocab {
        // Made only for an error: a format per entry was a tenth of loading o200k.
        let path = || format!("model.vocab[{key:?}]");
        let id = id
            .as_u64()
            .and_then(|id| TokenId::try_from(id).ok())
            .ok_or_else(|| ctx.err(&path(), format!("expected a token id, got {id}")))?;
        if let Some(&added_id) = added.get(key.as_str()) {
            // An added token kept in the model vocab too (HF's trainer, GPT-2): HF gives it the
            // model's id, so both must agree.
            if added_id != id {
                return Err(ctx.err(
                    &path(),
                    format!("id {id}, but added_tokens gives this token id {added_id}"),
                ));
            }
            specials_in_model.insert(id);
            keys.insert(id, key.clone());
            continue;
        }
        let bytes = bytelevel::decode(key).ok_or_else(|| {
            ctx.err(
                &path(),
                "the token has characters outside the byte-level alphabet; not a byte-level BPE \
                 vocabulary",
            )
        })?;
        if let Some(first) = keys.insert(id, key.clone()) {
            return Err(ctx.err(&path(), format!("id {id} is also used by {first:?}")));
        }
        ids.insert(key.as_bytes(), id);
        tokens.push((bytes, id));
    }
    let merges = read_merges(ctx, obj.get("merges"), &ids)?;
    Ok(ModelData {
        vocab_count: vocab.len(),
        specials_in_model,
        tokens,
        keys,
        merges,
        ignore_merges: ctx.flag(obj, "model", "ignore_merges", false)?,
    })
}

/// Refuse the BPE options that are not plain byte-level BPE.
fn check_model_options(ctx: &Ctx, obj: &Map<String, Value>) -> Result<()> {
    let not_byte_level = |key: &str, value: &Value| {
        ctx.err(
            &format!("model.{key}"),
            format!("{value} is not supported: toksmith reads plain byte-level BPE only"),
        )
    };
    for key in [
        "continuing_subword_prefix",
        "end_of_word_suffix",
        "unk_token",
    ] {
        match obj.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(v) => return Err(not_byte_level(key, v)),
        }
    }
    match obj.get("dropout") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_f64() == Some(0.0) => {}
        Some(v) => return Err(not_byte_level("dropout", v)),
    }
    if ctx.flag(obj, "model", "byte_fallback", false)? {
        return Err(not_byte_level("byte_fallback", &Value::Bool(true)));
    }
    Ok(())
}

fn read_merges(
    ctx: &Ctx,
    value: Option<&Value>,
    ids: &TokenMap,
) -> Result<Vec<(TokenId, TokenId)>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let list = value.as_array().ok_or_else(|| {
        ctx.err(
            "model.merges",
            format!("expected an array, got {}", kind(value)),
        )
    })?;
    let mut merges = Vec::with_capacity(list.len());
    for (index, merge) in list.iter().enumerate() {
        let path = || format!("model.merges[{index}]");
        let (left, right) = merge_parts(merge)
            .ok_or_else(|| ctx.err(&path(), "expected \"left right\" or [\"left\", \"right\"]"))?;
        let id = |part: &str| {
            ids.get(part.as_bytes()).ok_or_else(|| {
                ctx.err(
                    &path(),
                    format!("unknown token {part:?} (not in model.vocab)"),
                )
            })
        };
        merges.push((id(left)?, id(right)?));
    }
    Ok(merges)
}

fn merge_parts(merge: &Value) -> Option<(&str, &str)> {
    match merge {
        Value::String(s) => {
            let (left, right) = s.split_once(' ')?;
            (!right.contains(' ')).then_some((left, right))
        }
        Value::Array(parts) if parts.len() == 2 => Some((parts[0].as_str()?, parts[1].as_str()?)),
        _ => None,
    }
}

fn read_added_tokens(ctx: &Ctx, value: Option<&Value>) -> Result<Vec<SpecialToken>> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(ctx.err(
                "added_tokens",
                format!("expected an array, got {}", kind(other)),
            ))
        }
    };
    let mut specials = Vec::with_capacity(list.len());
    for (index, token) in list.iter().enumerate() {
        let path = format!("added_tokens[{index}]");
        let obj = ctx.object(token, &path)?;
        let id = obj
            .get("id")
            .and_then(Value::as_u64)
            .and_then(|id| TokenId::try_from(id).ok())
            .ok_or_else(|| ctx.err(&format!("{path}.id"), "missing or not a token id"))?;
        let content = obj
            .get("content")
            .and_then(Value::as_str)
            .ok_or_else(|| ctx.err(&format!("{path}.content"), "missing or not a string"))?;
        for key in ["lstrip", "rstrip", "single_word"] {
            if ctx.flag(obj, &path, key, false)? {
                return Err(ctx.err(
                    &format!("{path}.{key}"),
                    "unsupported true; toksmith matches added tokens verbatim",
                ));
            }
        }
        specials.push(SpecialToken {
            content: content.to_string(),
            id,
        });
    }
    Ok(specials)
}

fn read_normalizer(ctx: &Ctx, value: &Value) -> Result<Normalizer> {
    if value.is_null() {
        return Ok(Normalizer::None);
    }
    let obj = ctx.object(value, "normalizer")?;
    match ctx.type_of(obj, "normalizer")? {
        "NFC" => Ok(Normalizer::Nfc),
        "NFKC" => Ok(Normalizer::Nfkc),
        "Sequence" => match obj.get("normalizers").and_then(Value::as_array) {
            Some(list) if list.is_empty() => Ok(Normalizer::None),
            Some(list) if list.len() == 1 => read_normalizer(ctx, &list[0])
                .map_err(|_| ctx.unsupported("normalizer.normalizers[0]", "normalizer")),
            _ => Err(ctx.unsupported("normalizer.normalizers", "normalizer sequence")),
        },
        other => Err(ctx.unsupported("normalizer.type", &format!("{other:?}"))),
    }
}

fn read_pretokenizer(ctx: &Ctx, value: &Value) -> Result<PreTokenizer> {
    if value.is_null() {
        return Err(ctx.err(
            "pre_tokenizer",
            "null; byte-level BPE needs a ByteLevel pre-tokenizer",
        ));
    }
    let obj = ctx.object(value, "pre_tokenizer")?;
    match ctx.type_of(obj, "pre_tokenizer")? {
        "ByteLevel" => byte_level(ctx, obj, "pre_tokenizer"),
        "Sequence" => read_sequence(ctx, obj),
        other => Err(ctx.unsupported("pre_tokenizer.type", &format!("{other:?}"))),
    }
}

/// A ByteLevel pre-tokenizer on its own: its regex is GPT-2's when `use_regex` is set.
fn byte_level(ctx: &Ctx, obj: &Map<String, Value>, path: &str) -> Result<PreTokenizer> {
    if ctx.flag(obj, path, "add_prefix_space", true)? {
        return Err(ctx.err(
            &format!("{path}.add_prefix_space"),
            "unsupported true (or absent, which means true); toksmith never adds a prefix space",
        ));
    }
    if ctx.flag(obj, path, "use_regex", true)? {
        PreTokenizer::from_regex(GPT2)
    } else {
        Ok(PreTokenizer::none())
    }
}

/// `Sequence[Split(Regex), ByteLevel(use_regex false)]`, or a one-element `Sequence[ByteLevel]`.
fn read_sequence(ctx: &Ctx, obj: &Map<String, Value>) -> Result<PreTokenizer> {
    let path = "pre_tokenizer.pretokenizers";
    let list = obj
        .get("pretokenizers")
        .and_then(Value::as_array)
        .ok_or_else(|| ctx.err(path, "missing or not an array"))?;
    let steps: Vec<(String, &Map<String, Value>)> = list
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let p = format!("{path}[{i}]");
            let o = ctx.object(v, &p)?;
            let t = ctx.type_of(o, &p)?;
            if t != "Split" && t != "ByteLevel" {
                return Err(ctx.unsupported(&format!("{p}.type"), &format!("{t:?}")));
            }
            Ok((p, o))
        })
        .collect::<Result<_>>()?;
    match steps.as_slice() {
        [(p, only)] if only.get("type") == Some(&json!("ByteLevel")) => byte_level(ctx, only, p),
        [(split_path, split), (bl_path, bl)]
            if split.get("type") == Some(&json!("Split"))
                && bl.get("type") == Some(&json!("ByteLevel")) =>
        {
            let pre = read_split(ctx, split, split_path)?;
            if byte_level(ctx, bl, bl_path)?.pattern().is_some() {
                return Err(ctx.err(
                    &format!("{bl_path}.use_regex"),
                    "unsupported true after a Split (two regex passes)",
                ));
            }
            Ok(pre)
        }
        _ => Err(ctx.err(
            path,
            "unsupported sequence; expected [Split(Regex, Isolated), ByteLevel(use_regex false)]",
        )),
    }
}

fn read_split(ctx: &Ctx, obj: &Map<String, Value>, path: &str) -> Result<PreTokenizer> {
    let behavior = obj.get("behavior").and_then(Value::as_str);
    if behavior != Some("Isolated") {
        return Err(ctx.err(
            &format!("{path}.behavior"),
            format!("unsupported {behavior:?}; expected \"Isolated\""),
        ));
    }
    if ctx.flag(obj, path, "invert", false)? {
        return Err(ctx.err(&format!("{path}.invert"), "unsupported true"));
    }
    let regex = obj
        .get("pattern")
        .and_then(|p| p.get("Regex"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ctx.err(
                &format!("{path}.pattern"),
                "expected {\"Regex\": \"...\"} (string patterns are not supported)",
            )
        })?;
    let fancy = onig_to_fancy(regex);
    PreTokenizer::from_regex(&fancy)
        .map_err(|e| ctx.err(&format!("{path}.pattern.Regex"), e.to_string()))
}

/// HF matches Split regexes with Oniguruma (Ruby syntax), toksmith with fancy-regex (tiktoken's
/// engine). Both agree on `?+ *+ ++` (possessive), `(?>...)`, `\p{..}` and `(?i:..)`, but
/// `X{n,m}+` is possessive in fancy-regex and "repeat `X{n,m}` one or more times" in Oniguruma.
/// Writing turns it into `(?>X{n,m})`, reading turns Oniguruma's into `(?:X{n,m})+`, and a
/// pattern that is the written form of a preset reads back as that preset.
fn fancy_to_onig(pattern: &str) -> String {
    rewrite_interval_plus(pattern, |atom, interval| format!("(?>{atom}{interval})"))
}

fn onig_to_fancy(pattern: &str) -> String {
    let preset = PRESETS.iter().find(|(_, p)| fancy_to_onig(p) == pattern);
    match preset {
        Some((_, p)) => p.to_string(),
        None => rewrite_interval_plus(pattern, |atom, interval| format!("(?:{atom}{interval})+")),
    }
}

/// Replace every `ATOM{n,m}+` by `f(ATOM, "{n,m}")`, where ATOM is the escape, class, group or
/// character before the interval. Escapes and character classes are skipped as units.
fn rewrite_interval_plus(pattern: &str, f: impl Fn(&str, &str) -> String) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut atom_start: Option<usize> = None;
    let mut groups: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = out.len();
        let end = unit_end(&chars, i);
        let unit: String = chars[i..end].iter().collect();
        let is_interval = chars[i] == '{' && end > i + 1;
        match chars[i] {
            '{' if is_interval && atom_start.is_some() && chars.get(end) == Some(&'+') => {
                let atom = out.split_off(atom_start.take().unwrap_or(start));
                out.push_str(&f(&atom, &unit));
                i = end + 1;
                continue;
            }
            '(' => {
                groups.push(start);
                atom_start = None;
            }
            ')' => atom_start = groups.pop(),
            '|' | '*' | '+' | '?' => atom_start = None,
            '{' if is_interval => atom_start = None,
            _ => atom_start = Some(start),
        }
        out.push_str(&unit);
        i = end;
    }
    out
}

/// The end of the syntactic unit starting at `i`: an escape (`\p{..}` whole), a bracket class,
/// an interval `{n,m}`, or one char.
fn unit_end(chars: &[char], i: usize) -> usize {
    let close = |from: usize| {
        chars[from..]
            .iter()
            .position(|&x| x == '}')
            .map_or(chars.len(), |p| from + p + 1)
    };
    match chars[i] {
        '\\' if i + 1 < chars.len() => match chars[i + 1] {
            'p' | 'P' | 'x' if chars.get(i + 2) == Some(&'{') => close(i + 2),
            _ => i + 2,
        },
        '[' => class_end(chars, i),
        '{' => {
            let end = close(i);
            let closed = end > i + 2 && chars[end - 1] == '}';
            if closed
                && chars[i + 1..end - 1]
                    .iter()
                    .all(|c| c.is_ascii_digit() || *c == ',')
            {
                end
            } else {
                i + 1
            }
        }
        _ => i + 1,
    }
}

/// The end of a bracket class starting at `i` (nested classes and escapes included; a `]` right
/// after `[` or `[^` is literal).
fn class_end(chars: &[char], i: usize) -> usize {
    let mut depth = 0;
    let mut j = i;
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 1,
            '[' => depth += 1,
            ']' if j > i + 1 && !(j == i + 2 && chars[i + 1] == '^') => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    chars.len()
}

fn check_decoder(ctx: &Ctx, value: &Value) -> Result<()> {
    if value.is_null() {
        return Ok(());
    }
    let obj = ctx.object(value, "decoder")?;
    match ctx.type_of(obj, "decoder")? {
        "ByteLevel" => Ok(()),
        other => Err(ctx.unsupported("decoder.type", &format!("{other:?}"))),
    }
}

fn check_post_processor(ctx: &Ctx, value: &Value, path: &str) -> Result<()> {
    if value.is_null() {
        return Ok(());
    }
    let obj = ctx.object(value, path)?;
    match ctx.type_of(obj, path)? {
        "ByteLevel" | "TemplateProcessing" => Ok(()),
        "Sequence" => {
            let list = obj
                .get("processors")
                .and_then(Value::as_array)
                .ok_or_else(|| ctx.err(&format!("{path}.processors"), "missing or not an array"))?;
            for (i, p) in list.iter().enumerate() {
                check_post_processor(ctx, p, &format!("{path}.processors[{i}]"))?;
            }
            Ok(())
        }
        other => Err(ctx.unsupported(&format!("{path}.type"), &format!("{other:?}"))),
    }
}

/// Combine model tokens and added tokens into a [`Vocab`].
fn build_vocab(ctx: &Ctx, model: ModelData, specials: Vec<SpecialToken>) -> Result<Vocab> {
    check_added_ids(ctx, &model, &specials)?;
    let in_model = |e: Error| match e {
        Error::InvalidArgument(reason) => ctx.err("model", reason),
        Error::Format { location, reason } => ctx.err(&format!("model.{location}"), reason),
        other => other,
    };
    Vocab::from_merges(model.tokens, &model.merges, specials).map_err(in_model)
}

/// HF ignores the ids written in `added_tokens`: a token in `model.vocab` gets the model's id, the
/// others get ids counting up from the number of `model.vocab` entries, in file order. A file
/// whose ids disagree would encode differently in HF than it reads, so it is refused.
fn check_added_ids(ctx: &Ctx, model: &ModelData, specials: &[SpecialToken]) -> Result<()> {
    let mut next = model.vocab_count as u64;
    for (index, s) in specials.iter().enumerate() {
        let path = format!("added_tokens[{index}]");
        if model.specials_in_model.contains(&s.id) {
            continue;
        }
        if let Some(key) = model.keys.get(&s.id) {
            return Err(ctx.err(
                &path,
                format!(
                    "id {} is {:?} here but {key:?} in model.vocab",
                    s.id, s.content
                ),
            ));
        }
        if u64::from(s.id) != next {
            return Err(ctx.err(
                &path,
                format!(
                    "id {} for {:?}, but HF assigns {next}: added tokens missing from model.vocab \
                     are numbered after its {} entries, in order",
                    s.id, s.content, model.vocab_count
                ),
            ));
        }
        next += 1;
    }
    Ok(())
}

/// Serialize to `tokenizer.json` text (pretty-printed, like HF's `save`).
pub fn to_string(tok: &Tokenizer) -> Result<String> {
    let vocab = tok.vocab();
    let mut added: Vec<&SpecialToken> = vocab.specials().iter().collect();
    added.sort_by_key(|s| s.id);
    let added: Vec<Value> = added
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id, "content": s.content, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true,
            })
        })
        .collect();
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer_json(tok.normalizer()),
        "pre_tokenizer": pretokenizer_json(tok.pretokenizer()),
        "post_processor": byte_level_json(),
        "decoder": byte_level_json(),
        "model": model_json(tok)?,
    });
    let mut text = serde_json::to_string_pretty(&doc)
        .map_err(|e| Error::invalid(format!("serializing tokenizer.json: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// Write `tokenizer.json` atomically.
pub fn save(tok: &Tokenizer, path: &Path) -> Result<()> {
    let text = to_string(tok)?;
    write_atomic(path, |w: &mut dyn Write| w.write_all(text.as_bytes()))
}

fn normalizer_json(n: Normalizer) -> Value {
    match n {
        Normalizer::None => Value::Null,
        Normalizer::Nfc => json!({"type": "NFC"}),
        Normalizer::Nfkc => json!({"type": "NFKC"}),
    }
}

fn byte_level_json() -> Value {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false})
}

fn pretokenizer_json(pre: &PreTokenizer) -> Value {
    match pre.pattern() {
        None => byte_level_json(),
        Some(pattern) => json!({
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": fancy_to_onig(pattern)},
                    "behavior": "Isolated",
                    "invert": false,
                },
                byte_level_json(),
            ],
        }),
    }
}

/// `model.vocab`: ordinary tokens as byte-level strings and specials as their content, in id
/// order. Specials must be there: HF takes an added token's id from the model vocabulary, and
/// numbers the others after it (ignoring the ids written in `added_tokens`).
fn model_vocab_json(vocab: &Vocab) -> Result<Map<String, Value>> {
    let mut entries: Vec<(TokenId, String)> = vocab
        .ordinary_tokens()
        .map(|(id, bytes)| (id, bytelevel::encode(bytes)))
        .collect();
    entries.extend(vocab.specials().iter().map(|s| (s.id, s.content.clone())));
    entries.sort_unstable_by_key(|e| e.0);
    let mut map = Map::with_capacity(entries.len());
    for (id, key) in entries {
        if let Some(other) = map.insert(key.clone(), Value::from(id)) {
            return Err(Error::invalid(format!(
                "cannot write tokenizer.json: special token {key:?} (id {id}) has the same text as \
                 the byte-level form of ordinary token {other}"
            )));
        }
    }
    Ok(map)
}

fn model_json(tok: &Tokenizer) -> Result<Value> {
    let vocab = tok.vocab();
    let key = |id: TokenId| bytelevel::encode(vocab.token_bytes(id).unwrap_or_default());
    let tokens = model_vocab_json(vocab)?;
    let mut merges = vocab.merges().to_vec();
    merges.sort_by_key(|m| (m.rank, m.left, m.right));
    let merges: Vec<Value> = merges
        .iter()
        .map(|m| json!([key(m.left), key(m.right)]))
        .collect();
    Ok(json!({
        "type": "BPE",
        "dropout": null,
        "unk_token": null,
        "continuing_subword_prefix": null,
        "end_of_word_suffix": null,
        "fuse_unk": false,
        "byte_fallback": false,
        "ignore_merges": tok.ignore_merges(),
        "vocab": tokens,
        "merges": merges,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 256 bytes in GPT-2 order, then `ab`, `abc`, a special, an id hole at 259.
    fn small_tokenizer(pre: PreTokenizer, normalizer: Normalizer) -> Tokenizer {
        let mut toks: Vec<_> = bytelevel::byte_order()
            .iter()
            .enumerate()
            .map(|(i, &b)| (vec![b], i as TokenId))
            .collect();
        toks.push((b"ab".to_vec(), 256));
        toks.push((b"abc".to_vec(), 257));
        let a = toks.iter().find(|t| t.0 == b"a").unwrap().1;
        let b = toks.iter().find(|t| t.0 == b"b").unwrap().1;
        let c = toks.iter().find(|t| t.0 == b"c").unwrap().1;
        let special = SpecialToken {
            content: "<|end|>".into(),
            id: 260,
        };
        let vocab = Vocab::from_merges(toks, &[(a, b), (256, c)], vec![special]).unwrap();
        Tokenizer::new(vocab, pre, normalizer)
            .unwrap()
            .with_ignore_merges(true)
    }

    fn assert_same(a: &Tokenizer, b: &Tokenizer) {
        let (va, vb) = (a.vocab(), b.vocab());
        assert_eq!(va.len(), vb.len());
        assert!(va.ordinary_tokens().eq(vb.ordinary_tokens()));
        assert_eq!(va.merges(), vb.merges());
        assert_eq!(va.specials(), vb.specials());
        assert_eq!(a.ignore_merges(), b.ignore_merges());
        assert_eq!(a.normalizer(), b.normalizer());
        assert_eq!(a.pretokenizer().pattern(), b.pretokenizer().pattern());
        assert_eq!(a.pretokenizer().name(), b.pretokenizer().name());
    }

    #[test]
    fn round_trips_through_json() {
        for (pre, norm) in [
            (PreTokenizer::new("cl100k").unwrap(), Normalizer::Nfc),
            (PreTokenizer::new("gpt2").unwrap(), Normalizer::None),
            (
                PreTokenizer::from_regex(r"\w+|\W").unwrap(),
                Normalizer::Nfkc,
            ),
            (PreTokenizer::none(), Normalizer::None),
        ] {
            let tok = small_tokenizer(pre, norm);
            let text = to_string(&tok).unwrap();
            let back = from_str(&text, "t.json").unwrap();
            assert_same(&tok, &back);
            assert_eq!(to_string(&back).unwrap(), text);
        }
    }

    #[test]
    fn tiktoken_vocab_keeps_rank_semantics() {
        let mut toks: Vec<_> = (0..=255u8).map(|b| (vec![b], b as TokenId)).collect();
        toks.push((b"ab".to_vec(), 256));
        toks.push((b"bc".to_vec(), 257));
        toks.push((b"abc".to_vec(), 258));
        let vocab = Vocab::from_ranks(toks, vec![]).unwrap();
        let tok = Tokenizer::new(vocab, PreTokenizer::new("o200k").unwrap(), Normalizer::None)
            .unwrap()
            .with_ignore_merges(true);
        let text = to_string(&tok).unwrap();
        let back = from_str(&text, "t.json").unwrap();
        let triples = |t: &Tokenizer| -> Vec<_> {
            let m = t.vocab().merges().iter();
            m.map(|m| (m.left, m.right, m.result)).collect()
        };
        assert_eq!(triples(&back), triples(&tok));
        assert_eq!(
            back.vocab().merges()[2].rank,
            2,
            "HF semantics: rank = index"
        );
        assert!(back.ignore_merges());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        crate::formats::tiktoken::write_ranks(tok.vocab(), &mut a).unwrap();
        crate::formats::tiktoken::write_ranks(back.vocab(), &mut b).unwrap();
        assert_eq!(a, b);
    }

    fn json_of(tok: &Tokenizer) -> Value {
        serde_json::from_str(&to_string(tok).unwrap()).unwrap()
    }

    fn error_of(doc: &Value) -> String {
        from_str(&doc.to_string(), "tokenizer.json")
            .expect_err("an error")
            .to_string()
    }

    #[test]
    fn possessive_intervals_translate() {
        use crate::pretokenize::CL100K;
        assert_eq!(fancy_to_onig(r"\p{N}{1,3}+|x"), r"(?>\p{N}{1,3})|x");
        assert_eq!(fancy_to_onig(r"[a-z\]]{2}+"), r"(?>[a-z\]]{2})");
        assert_eq!(fancy_to_onig(r"(ab|c){1,}+d"), r"(?>(ab|c){1,})d");
        assert_eq!(fancy_to_onig(r"a++b?+\{2}"), r"a++b?+\{2}");
        for odd in ["{", "a{", "a{}+", "a{,", "[", "\\", "(", ")"] {
            assert_eq!(fancy_to_onig(odd), odd);
        }
        assert_eq!(onig_to_fancy(r"\d{1,3}+"), r"(?:\d{1,3})+");
        assert!(fancy_to_onig(CL100K).contains(r"(?>\p{N}{1,3})"));
        assert_eq!(onig_to_fancy(&fancy_to_onig(CL100K)), CL100K);
        for (_, p) in PRESETS {
            assert_eq!(onig_to_fancy(&fancy_to_onig(p)), *p);
        }
    }

    #[test]
    fn malformed_json_has_line_and_column() {
        let text = to_string(&small_tokenizer(PreTokenizer::none(), Normalizer::None)).unwrap();
        let err = from_str(&text[..text.len() / 2], "tokenizer.json")
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("tokenizer.json:"), "{err}");
        assert!(err.contains("truncated JSON"), "{err}");
        let err = from_str("{\n  \"model\": ]", "t.json")
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("t.json:2:"), "{err}");
    }

    #[test]
    fn unsupported_parts_are_named() {
        let tok = small_tokenizer(PreTokenizer::new("llama3").unwrap(), Normalizer::None);
        let base = json_of(&tok);
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut doc = base.clone();
            f(&mut doc);
            error_of(&doc)
        };
        let cases: Vec<(String, &str)> = vec![
            (
                edit(&|d| d["model"]["type"] = json!("WordPiece")),
                "tokenizer.json: model.type: unsupported \"WordPiece\"",
            ),
            (
                edit(&|d| d["pre_tokenizer"]["pretokenizers"][0]["type"] = json!("Metaspace")),
                "tokenizer.json: pre_tokenizer.pretokenizers[0].type: unsupported \"Metaspace\"",
            ),
            (
                edit(&|d| d["model"]["merges"][1] = json!(["ab", "zz"])),
                "tokenizer.json: model.merges[1]: unknown token \"zz\"",
            ),
            (
                edit(&|d| d["model"]["byte_fallback"] = json!(true)),
                "model.byte_fallback",
            ),
            (
                edit(&|d| d["model"]["continuing_subword_prefix"] = json!("##")),
                "model.continuing_subword_prefix",
            ),
            (
                edit(&|d| d["normalizer"] = json!({"type": "Lowercase"})),
                "normalizer.type: unsupported \"Lowercase\"",
            ),
            (
                edit(&|d| d["pre_tokenizer"]["pretokenizers"][0]["behavior"] = json!("Removed")),
                "pre_tokenizer.pretokenizers[0].behavior",
            ),
            (
                edit(&|d| d["pre_tokenizer"] = json!({"type": "ByteLevel"})),
                "pre_tokenizer.add_prefix_space",
            ),
            (
                edit(&|d| d["added_tokens"][0]["lstrip"] = json!(true)),
                "added_tokens[0].lstrip",
            ),
            (
                edit(&|d| d["decoder"] = json!({"type": "Metaspace"})),
                "decoder.type",
            ),
            (
                edit(&|d| d["model"]["vocab"]["Ġ"] = json!(1)),
                "model.vocab[\"Ġ\"]: id 1 is also used by",
            ),
            (
                edit(&|d| d["model"]["vocab"]["a b"] = json!(300)),
                "outside the byte-level alphabet",
            ),
        ];
        for (err, expected) in cases {
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        }
    }

    #[test]
    fn legacy_merges_and_overlapping_added_tokens() {
        let tok = small_tokenizer(PreTokenizer::new("gpt2").unwrap(), Normalizer::None);
        let mut doc = json_of(&tok);
        doc["model"]["merges"] = json!(["a b", "ab c"]);
        // GPT-2 keeps <|endoftext|> in the model vocab too, under the added token's id.
        doc["model"]["vocab"]["<|end|>"] = json!(260);
        doc["pre_tokenizer"] = json!({"type": "ByteLevel", "add_prefix_space": false});
        let back = from_str(&doc.to_string(), "t").unwrap();
        assert_eq!(back.vocab().merges(), tok.vocab().merges());
        assert_eq!(back.vocab().special_id("<|end|>"), Some(260));
        assert_eq!(back.pretokenizer().name(), Some("gpt2"));
        doc["model"]["vocab"]["<|end|>"] = json!(258);
        let err = error_of(&doc);
        assert!(
            err.contains("model.vocab[\"<|end|>\"]: id 258, but added_tokens"),
            "{err}"
        );
        doc["model"]["vocab"]
            .as_object_mut()
            .unwrap()
            .remove("<|end|>");
        doc["model"]["vocab"]["zz"] = json!(260);
        let err = error_of(&doc);
        assert!(
            err.contains("added_tokens[0]: id 260 is \"<|end|>\" here but \"zz\""),
            "{err}"
        );
        doc["model"]["vocab"].as_object_mut().unwrap().remove("zz");
        // Not in model.vocab: HF would number it 258 (after the 258 entries), not 260.
        let err = error_of(&doc);
        assert!(err.contains("but HF assigns 258"), "{err}");
    }
}
