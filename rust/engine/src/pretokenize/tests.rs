//! Tests: the fast preset splitters against fancy-regex, custom regex gaps, error fallback.

use super::*;
use proptest::prelude::*;

/// Each preset: name, fast splitter, fancy-regex (compiled once: compiling is slow in debug).
fn presets() -> &'static [(&'static str, PreTokenizer, fancy_regex::Regex)] {
    static ALL: std::sync::OnceLock<Vec<(&str, PreTokenizer, fancy_regex::Regex)>> =
        std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        PRESETS
            .iter()
            .map(|(name, pattern)| {
                let fast = PreTokenizer::new(name).unwrap();
                (*name, fast, fancy_regex::Regex::new(pattern).unwrap())
            })
            .collect()
    })
}

/// fancy-regex's `find_iter` pieces: the reference the preset splitters must reproduce.
fn reference<'t>(re: &fancy_regex::Regex, text: &'t str) -> Vec<&'t str> {
    re.find_iter(text).map(|m| m.unwrap().as_str()).collect()
}

/// Assert every preset's fast splitter agrees with fancy-regex on `text`.
fn check_all_presets(text: &str) {
    for (name, fast, re) in presets() {
        let got: Vec<&str> = fast.split(text);
        let want = reference(re, text);
        assert_eq!(got, want, "preset {name} on {text:?}");
        assert_eq!(
            want.concat(),
            text,
            "preset {name} reference tiles {text:?}"
        );
    }
}

#[test]
fn presets_compile_and_split() {
    for (name, _) in PRESETS {
        let p = PreTokenizer::new(name).unwrap();
        assert_eq!(p.split("Hello world"), vec!["Hello", " world"], "{name}");
        assert_eq!(p.name(), Some(*name));
    }
    assert!(PreTokenizer::new("cl100k_base").is_ok());
    assert_eq!(preset("r50k_base"), Some(GPT2));
}

#[test]
fn preset_regex_gets_fast_splitter() {
    let p = PreTokenizer::from_regex(O200K).unwrap();
    assert!(matches!(p.splitter, Splitter::Preset(Preset::O200k)));
    assert_eq!(p.spec(), "o200k");
    let r = PreTokenizer::from_regex_reference(O200K).unwrap();
    assert!(matches!(r.splitter, Splitter::Fancy(_)));
}

#[test]
fn bad_regex_is_named() {
    let err = PreTokenizer::new("(unclosed").unwrap_err().to_string();
    assert!(err.contains("(unclosed"), "{err}");
    assert!(PreTokenizer::new("").is_err());
}

#[test]
fn none_is_one_piece() {
    let p = PreTokenizer::new("none").unwrap();
    assert_eq!(p.split("a b  c"), vec!["a b  c"]);
    assert!(p.split("").is_empty());
    assert!(p.is_none());
}

#[test]
fn fixed_cases_match_fancy_regex() {
    let cases = [
        "",
        " ",
        "  ",
        "a  b",
        "Hello, world! I'm here. We'LL see; it's 12345 o'clock",
        "don'T 'S 'Ll 'ſ 'ſt x'ſ A'ſ",
        "line1\nline2\r\n\r\n  indented\n\t\ttab  \n",
        "trailing spaces   ",
        "trailing newline spaces \n  ",
        "\u{a0}\u{3000}word\u{2028}x\u{85}y\u{200b}z",
        "ǅemal ǅ DŽ ǈ Ǉ CamelCase HTTPServer iPhone ABC.",
        "e\u{301}te\u{301} \u{301}\u{301}x .\u{301} A\u{301}b Ab\u{301}C",
        "٣٤٥٦ 12 1234567 ١٢ Ⅻ ½",
        "日本語のテキスト 中文 한국어 Русский текст",
        "emoji 👍🏽 family 👨‍👩‍👧 flags 🇫🇷!",
        "path/to/file.py\n// comment\r\n/*x*/\n",
        "'''\"\"\" ''s 's",
        "ʰmodifier ˈstress ᵃ",
        " 'll ?'re ",
        "x \r\n\r\n",
        "\n\n\n",
        "a\u{2029}\u{2029}b",
    ];
    for case in cases {
        check_all_presets(case);
    }
}

/// Fragments for random strings: a mixed alphabet with the classes the presets distinguish.
const ALPHABET: &[&str] = &[
    "a",
    "b",
    "z",
    "S",
    "T",
    "L",
    "E",
    "s",
    "t",
    "m",
    "d",
    "l",
    "r",
    "v",
    "e",
    "0",
    "7",
    "9",
    ".",
    ",",
    "!",
    "-",
    "/",
    "_",
    "(",
    "\"",
    "'",
    "'",
    "'s",
    "'LL",
    "'Re",
    " ",
    " ",
    " ",
    "  ",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\u{b}",
    "\u{c}",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
    "\u{2029}",
    "\u{85}",
    "\u{1680}",
    "\u{200b}",
    "\u{feff}",
    "\u{301}",
    "\u{308}",
    "\u{20dd}",
    "日",
    "本",
    "の",
    "ア",
    "한",
    "ж",
    "Ж",
    "ǅ",
    "ǈ",
    "ʰ",
    "ˈ",
    "ſ",
    "\u{212a}",
    "ß",
    "İ",
    "ı",
    "٣",
    "١",
    "Ⅻ",
    "½",
    "²",
    "👍",
    "🏽",
    "\u{200d}",
    "€",
    "©",
    "\u{e000}",
    "\u{10ffff}",
    "\u{7f}",
    "\0",
];

fn random_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(ALPHABET), 0..48).prop_map(|v| v.concat())
}

/// Custom regexes of both engines, with gaps and empty matches.
fn custom() -> &'static [PreTokenizer] {
    static ALL: std::sync::OnceLock<Vec<PreTokenizer>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        [r"\p{L}+", r"[a-z]+(?=\s)", r"\d|(?<=x)\s", "x*", r"\b"]
            .iter()
            .map(|p| PreTokenizer::from_regex(p).unwrap())
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn presets_equal_fancy_regex_on_random_text(text in random_text()) {
        for (name, fast, re) in presets() {
            let got: Vec<&str> = fast.split(&text);
            let want = reference(re, &text);
            prop_assert_eq!(got, want, "preset {} on {:?}", name, text);
        }
    }

    #[test]
    fn custom_regex_keeps_all_text(text in random_text()) {
        for p in custom() {
            let pattern = p.pattern().unwrap_or_default();
            let pieces = p.split(&text);
            prop_assert_eq!(pieces.concat(), text.clone(), "pattern {:?}", pattern);
            prop_assert!(pieces.iter().all(|p| !p.is_empty()));
        }
    }
}

#[test]
fn real_text_matches_fancy_regex() {
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/usr/share/common-licenses") {
        files.extend(dir.flatten().map(|e| e.path()));
    }
    for lib in [
        "/usr/lib/python3.11",
        "/usr/lib/python3.12",
        "/usr/lib/python3.13",
    ] {
        for name in ["textwrap.py", "string.py", "json/decoder.py", "locale.py"] {
            files.push(std::path::Path::new(lib).join(name));
        }
    }
    let mut checked = 0;
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (name, fast, re) in presets() {
            let want = reference(re, &text);
            let got = fast.split(&text);
            if got != want {
                let i = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
                panic!(
                    "{name} on {}: first difference at piece {i}: {:?} vs {:?}",
                    path.display(),
                    got.get(i),
                    want.get(i)
                );
            }
        }
        checked += 1;
    }
    eprintln!("real_text_matches_fancy_regex: {checked} files checked");
}

#[test]
fn custom_regex_emits_gaps() {
    // The regex crate path.
    let p = PreTokenizer::new(r"[a-z]+").unwrap();
    assert!(matches!(p.splitter, Splitter::Regex(_)));
    assert_eq!(p.split("ab, cd!"), vec!["ab", ", ", "cd", "!"]);
    // The fancy-regex path (look-ahead).
    let p = PreTokenizer::new(r"[a-z]+(?=,)").unwrap();
    assert!(matches!(p.splitter, Splitter::Fancy(_)));
    assert_eq!(p.split("ab, cd!"), vec!["ab", ", cd!"]);
    // Empty matches are skipped, text kept.
    let p = PreTokenizer::new(r"x*").unwrap();
    assert_eq!(p.split("axxb"), vec!["a", "xx", "b"]);
    let p = PreTokenizer::new(r"(?=b)|x*").unwrap();
    assert_eq!(p.split("axxb"), vec!["a", "xx", "b"]);
}

#[test]
fn custom_regex_agrees_with_fancy_regex_matches() {
    // For patterns both engines accept, the regex crate path yields fancy-regex's matches.
    let text = "Hello, World! It's 2024-05-01.\n\tx = y + 42 # ünïcödé";
    for pattern in [
        r"\w+|[^\w\s]+",
        r"\p{L}+|\p{N}",
        r"\s+|\S",
        r"(?i)hello|\d{2}",
    ] {
        let fast = PreTokenizer::from_regex(pattern).unwrap();
        assert!(matches!(fast.splitter, Splitter::Regex(_)));
        let slow = PreTokenizer::from_regex_reference(pattern).unwrap();
        assert_eq!(fast.split(text), slow.split(text), "{pattern}");
    }
}

#[test]
fn backtrack_limit_loses_no_text() {
    let pattern = r"(a+)+\1b|\s";
    let re = fancy_regex::RegexBuilder::new(pattern)
        .backtrack_limit(50)
        .build()
        .unwrap();
    assert!(re.find("aaaaaaaaaaaaaaaaaaaaaaaa c").is_err());
    let p = PreTokenizer::from_fancy(pattern, re);
    let text = "aaaaaaaaaaaaaaaaaaaaaaaa c aab";
    let pieces = p.split(text);
    assert_eq!(pieces.concat(), text);
    assert!(pieces.len() > 1, "{pieces:?}");
}
