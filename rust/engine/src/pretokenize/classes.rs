//! Character classes for the hand-written preset splitters.
//!
//! Exactness depends on classifying every code point the way fancy-regex does. fancy-regex hands
//! `\p{L}`, `\p{N}`, `\s`, ... to regex-automata, which takes its tables from `regex-syntax`; and it
//! folds case-insensitive literals with `regex-syntax`'s simple case folding. So this module asks
//! the *same* `regex-syntax` (one version in the lock file, shared with `regex` and `fancy-regex`)
//! for the ranges of each class and for the case folds of the contraction letters, once per
//! process, and packs the result into lookup tables:
//!
//! * an ASCII table of 128 bytes (one load per byte; runs of ASCII letters, digits, spaces and
//!   punctuation are classified a word at a time in [`super::presets`], tested against it), and
//! * a two-level table for all of Unicode: `index[cp >> 8]` picks a 256-entry block, and identical
//!   blocks are stored once (a few dozen kilobytes in total).
//!
//! Each entry is a bit set of the classes below.

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, HirKind};
use std::collections::HashMap;
use std::sync::OnceLock;

/// `\p{L}`.
pub(super) const LETTER: u8 = 1;
/// `\p{N}`.
pub(super) const NUMBER: u8 = 1 << 1;
/// `\s` (Unicode `White_Space`).
pub(super) const SPACE: u8 = 1 << 2;
/// `[^\s\p{L}\p{N}]`: anything that is neither a letter, a number nor white space.
pub(super) const OTHER: u8 = 1 << 3;
/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]` (o200k's "upper" class).
pub(super) const UPPERISH: u8 = 1 << 4;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]` (o200k's "lower" class).
pub(super) const LOWERISH: u8 = 1 << 5;
/// `\r` or `\n`.
pub(super) const CRLF: u8 = 1 << 6;

/// The classes as `regex-syntax` patterns. `OTHER` and `CRLF` are derived, not parsed.
const PARSED: &[(u8, &str)] = &[
    (LETTER, r"\p{L}"),
    (NUMBER, r"\p{N}"),
    (SPACE, r"\s"),
    (UPPERISH, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
    (LOWERISH, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
];

/// The letters that appear in the English-contraction alternatives (`'s`, `'ll`, ...).
const CONTRACTION_LETTERS: &[char] = &['s', 't', 'r', 'e', 'v', 'm', 'l', 'd'];

/// Number of code points (`0..=0x10FFFF`).
const CODE_POINTS: usize = 0x11_0000;

/// The packed class tables plus the case-fold sets of the contraction letters.
pub(super) struct Tables {
    /// Classes of the ASCII bytes.
    pub(super) ascii: [u8; 128],
    /// `index[cp >> 8]` is the block number of `cp`.
    index: Vec<u16>,
    /// Concatenated 256-entry blocks.
    blocks: Vec<u8>,
    /// For each contraction letter, every char that `(?i)letter` matches.
    folds: Vec<(char, Vec<char>)>,
}

impl Tables {
    /// The process-wide tables (built on first use, a few milliseconds).
    pub(super) fn get() -> &'static Tables {
        static TABLES: OnceLock<Tables> = OnceLock::new();
        TABLES.get_or_init(Tables::build)
    }

    /// Classes of a code point.
    #[inline(always)]
    pub(super) fn of(&self, cp: u32) -> u8 {
        let block = self.index[(cp >> 8) as usize] as usize;
        self.blocks[(block << 8) | (cp & 0xFF) as usize]
    }

    /// Whether `c` matches the contraction letter `letter` (given in lower case), case-insensitively
    /// when `fold` is set.
    #[inline]
    pub(super) fn letter_matches(&self, letter: char, c: char, fold: bool) -> bool {
        if !fold {
            return c == letter;
        }
        self.folds
            .iter()
            .find(|(l, _)| *l == letter)
            .is_some_and(|(_, set)| set.contains(&c))
    }

    fn build() -> Tables {
        let flat = flat_table();
        let mut ascii = [0u8; 128];
        ascii.copy_from_slice(&flat[..128]);
        let (index, blocks) = pack(&flat);
        let folds = CONTRACTION_LETTERS
            .iter()
            .map(|&l| (l, case_fold(l)))
            .collect();
        Tables {
            ascii,
            index,
            blocks,
            folds,
        }
    }
}

/// One class byte per code point.
fn flat_table() -> Vec<u8> {
    let mut flat = vec![0u8; CODE_POINTS];
    for &(bit, pattern) in PARSED {
        for (start, end) in class_ranges(pattern) {
            for entry in &mut flat[start as usize..=end as usize] {
                *entry |= bit;
            }
        }
    }
    for entry in &mut flat {
        if *entry & (LETTER | NUMBER | SPACE) == 0 {
            *entry |= OTHER;
        }
    }
    flat[b'\r' as usize] |= CRLF;
    flat[b'\n' as usize] |= CRLF;
    flat
}

/// The code point ranges of a class pattern, from `regex-syntax`.
fn class_ranges(pattern: &str) -> Vec<(u32, u32)> {
    // The patterns are constants of this module; the unit tests parse every one of them.
    let hir = regex_syntax::parse(pattern).expect("built-in class pattern parses");
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        other => panic!("built-in class pattern {pattern:?} is not a Unicode class: {other:?}"),
    }
}

/// Every char that the case-insensitive literal `c` matches (simple case folding, as fancy-regex
/// and regex-syntax do it).
fn case_fold(c: char) -> Vec<char> {
    let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
    class.case_fold_simple();
    class
        .ranges()
        .iter()
        .flat_map(|r| r.start()..=r.end())
        .collect()
}

/// Deduplicate 256-entry blocks: `(index, blocks)`.
fn pack(flat: &[u8]) -> (Vec<u16>, Vec<u8>) {
    let mut seen: HashMap<&[u8], u16> = HashMap::new();
    let mut index = Vec::with_capacity(flat.len() / 256);
    let mut blocks = Vec::new();
    for chunk in flat.chunks(256) {
        let next = seen.len() as u16;
        let id = *seen.entry(chunk).or_insert_with(|| {
            blocks.extend_from_slice(chunk);
            next
        });
        index.push(id);
    }
    (index, blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_agree_with_regex_on_samples() {
        let t = Tables::get();
        let checks: &[(u8, &str)] = &[
            (LETTER, r"^\p{L}$"),
            (NUMBER, r"^\p{N}$"),
            (SPACE, r"^\s$"),
            (UPPERISH, r"^[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]$"),
            (LOWERISH, r"^[\p{Ll}\p{Lm}\p{Lo}\p{M}]$"),
            (OTHER, r"^[^\s\p{L}\p{N}]$"),
        ];
        for &(bit, pattern) in checks {
            let re = regex::Regex::new(pattern).unwrap();
            // Every code point below U+3400 plus a stride through the rest.
            let cps = (0u32..0x3400).chain((0x3400..0x11_0000).step_by(61));
            for c in cps.filter_map(char::from_u32) {
                let mut buf = [0u8; 4];
                let expect = re.is_match(c.encode_utf8(&mut buf));
                assert_eq!(
                    t.of(c as u32) & bit != 0,
                    expect,
                    "{pattern} on U+{:04X}",
                    c as u32
                );
            }
        }
    }

    #[test]
    fn folds_include_long_s() {
        let t = Tables::get();
        assert!(t.letter_matches('s', 'S', true));
        assert!(t.letter_matches('s', '\u{17F}', true));
        assert!(!t.letter_matches('s', 'S', false));
        assert!(!t.letter_matches('t', 's', true));
    }
}
