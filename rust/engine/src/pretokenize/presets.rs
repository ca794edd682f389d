//! Hand-written splitters for the preset patterns.
//!
//! Each preset regex is an ordered alternation matched leftmost-first (fancy-regex backtracks
//! through the alternatives in order and returns the first that succeeds). For the presets,
//! some alternative matches at *every* position: a char is a letter, a number, white space, or
//! "other", and each of those has an alternative starting with it. So `find_iter`'s matches tile
//! the text, and a splitter only needs `next_end(p)`: the end of the match that starts at `p`.
//! `next_end` tries the alternatives in the regex's order, each reduced by hand to a few scans
//! over class runs. The reductions (the "why exact" part) are:
//!
//! * **Runs.** `X+`, `X++` and `X*` followed by something that can't start with `X` take the
//!   maximal run of `X`: backtracking into the run can't help, as the next item fails at every
//!   shorter end too. Possessive and greedy quantifiers therefore coincide wherever used here.
//! * **Optional prefix.** `[^\r\n\p{L}\p{N}]?\p{L}+` (with `?` or `?+`): the prefix class and
//!   `\p{L}` are disjoint, so the match is "prefix char then letters" when the char after a
//!   prefix char is a letter, "letters" when the first char is a letter, and no match otherwise.
//!   ` ?X+` is the same with a literal space.
//! * **`\s+(?!\S)`.** `\s+` takes the white-space run `[p, q)`; the look-ahead holds at `q` only
//!   when `q` is the end of text. Otherwise backtracking gives back one char, and at `q - 1`
//!   the next char is white space, so the look-ahead holds if at least one char is left: the
//!   match is the run minus its last char, provided the run has two chars or more.
//! * **`\s*[\r\n]` and `\s*[\r\n]+`.** `\s*` takes the run `[p, q)`, the char at `q` is not white
//!   space, so backtracking stops at the *last* `\r`/`\n` of the run: the match ends just after
//!   it (for `+`, the char after it is not `\r`/`\n`, so it also takes one).
//! * **`\s++$`.** `$` without `(?m)` is the end of text: the run must reach it.
//! * **Contractions.** The alternatives `'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d` have distinct
//!   second chars, so at most one matches. Under `(?i)` a letter matches its simple case folds
//!   as computed by `regex-syntax` (so `'ſ` is a contraction), see [`super::classes`].
//! * **o200k's words.** `P?U*L+C?` then `P?U+L*C?`, with `U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`,
//!   `L = [\p{Ll}\p{Lm}\p{Lo}\p{M}]`, `P` the prefix class and `C` the optional contraction.
//!   The classes overlap in `B = Lm|Lo|M`, and marks are also in `P`, so this is the one place
//!   with real backtracking. From a start `s`, `U*` takes the maximal run `[s, u)`. If the char
//!   at `u` is in `L` (it can only be `Ll` there), `L+` takes the maximal `L` run from `u`.
//!   Otherwise `U*` gives back chars one at a time, and `L+` can start at the first char (from
//!   the right) that is in `B`; that char is followed by a non-`L` char or by `u`, so the match
//!   ends right after it. With no `B` char the first alternative fails at `s`. The optional `P`
//!   is tried taken first, then not taken; the whole first alternative is tried before the
//!   second. The second, `U+L*`, is two maximal runs. `C?` is greedy: taken when present.
//!
//! Scanning works on bytes: runs of ASCII are classified eight bytes at a time with word
//! arithmetic (a run ends at a byte the word test rejects, not at a branch per byte, which
//! mispredicted at the end of every word); single ASCII bytes with one table load; other chars
//! are decoded from UTF-8 (the input is a `&str`, so it is valid) and looked up in the two-level
//! table.

use super::classes::{Tables, CRLF, LETTER, LOWERISH, NUMBER, OTHER, SPACE, UPPERISH};
use std::ops::ControlFlow;

/// The high bit of each byte of a word.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Each byte of a word set to `b`.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of each byte of `word` that is an ASCII byte in `lo..=hi` (SWAR: the low seven
/// bits plus `0x80 - lo` carry into the high bit exactly when the byte is at least `lo`, and no
/// carry leaves its byte).
#[inline(always)]
fn ascii_range(word: u64, lo: u8, hi: u8) -> u64 {
    let low7 = word & !HIGH_BITS;
    let at_least_lo = low7 + splat(0x80 - lo);
    let above_hi = low7 + splat(0x7F - hi);
    at_least_lo & !above_hi & !word & HIGH_BITS
}

/// The high bit of each byte of `word` that is ASCII and has a class in `mask`. `CRLF` is not
/// tested here (no run is taken of it): a mask of it alone finds no byte, which sends
/// [`Scan::run`] to its byte loop, still exact.
#[inline(always)]
fn ascii_in(word: u64, mask: u8) -> u64 {
    let letters = || ascii_range(word | splat(0x20), b'a', b'z');
    let mut found = 0;
    if mask & LETTER != 0 {
        found |= letters();
    } else {
        if mask & UPPERISH != 0 {
            found |= ascii_range(word, b'A', b'Z');
        }
        if mask & LOWERISH != 0 {
            found |= ascii_range(word, b'a', b'z');
        }
    }
    if mask & NUMBER != 0 {
        found |= ascii_range(word, b'0', b'9');
    }
    if mask & SPACE != 0 {
        found |= ascii_range(word, b'\t', b'\r') | ascii_range(word, b' ', b' ');
    }
    if mask & OTHER != 0 {
        let ascii = !word & HIGH_BITS;
        let not_other = letters()
            | ascii_range(word, b'0', b'9')
            | ascii_range(word, b'\t', b'\r')
            | ascii_range(word, b' ', b' ');
        found |= ascii & !not_other;
    }
    found
}

/// A preset with a hand-written splitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Preset {
    Gpt2,
    Cl100k,
    O200k,
    Llama3,
    Qwen2,
}

impl Preset {
    /// The preset whose regex is exactly `pattern`.
    pub(super) fn from_pattern(pattern: &str) -> Option<Preset> {
        Some(match pattern {
            p if p == super::GPT2 => Preset::Gpt2,
            p if p == super::CL100K => Preset::Cl100k,
            p if p == super::O200K => Preset::O200k,
            p if p == super::LLAMA3 => Preset::Llama3,
            p if p == super::QWEN2 => Preset::Qwen2,
            _ => return None,
        })
    }

    /// Call `f` on each piece of `text`.
    pub(super) fn for_each_piece<'t>(self, text: &'t str, f: &mut impl FnMut(&'t str)) {
        self.pieces_from(text, 0, &mut |piece| {
            f(piece);
            ControlFlow::Continue(())
        })
    }

    /// Call `f` on each piece of `text` from byte `from` (a char boundary) on, until it breaks.
    /// A piece depends only on the text and where it starts, so these are the pieces of the
    /// whole text's scan wherever that scan has a piece start at `from`.
    pub(super) fn pieces_from<'t>(
        self,
        text: &'t str,
        from: usize,
        f: &mut impl FnMut(&'t str) -> ControlFlow<()>,
    ) {
        let scan = Scan::new(text);
        match self {
            Preset::Gpt2 => scan.pieces(text, from, f, |s, p| s.gpt2(p)),
            Preset::Cl100k => scan.pieces(text, from, f, |s, p| s.cl100k(p)),
            Preset::O200k => scan.pieces(text, from, f, |s, p| s.o200k(p)),
            Preset::Llama3 => scan.pieces(text, from, f, |s, p| s.llama3(p, 3)),
            Preset::Qwen2 => scan.pieces(text, from, f, |s, p| s.llama3(p, 1)),
        }
    }
}

/// The text as bytes plus the class tables.
struct Scan<'a> {
    b: &'a [u8],
    t: &'static Tables,
}

/// Whitespace handling after `\s++$` (cl100k) or not (the others).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ws {
    /// `\s++$|\s+(?!\S)|\s` (gpt2).
    Gpt2,
    /// `\s++$|\s*[\r\n]|\s+(?!\S)|\s` (cl100k).
    Cl100k,
    /// `\s*[\r\n]+|\s+(?!\S)|\s+` (o200k, llama3, qwen2).
    NewlineFirst,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Self {
        Scan {
            b: text.as_bytes(),
            t: Tables::get(),
        }
    }

    /// The loop of one preset from `from` on, `next_end` giving the end of the match at a
    /// position; `f` may stop it.
    #[inline(always)]
    fn pieces<'t>(
        &self,
        text: &'t str,
        from: usize,
        f: &mut impl FnMut(&'t str) -> ControlFlow<()>,
        next_end: impl Fn(&Self, usize) -> usize,
    ) {
        let mut p = from;
        while p < text.len() {
            let end = next_end(self, p);
            // Every alternative consumes at least one char; guard anyway so that a bug could
            // never loop forever or split inside a char.
            let end = if end > p && text.is_char_boundary(end) {
                end
            } else {
                self.next(p)
            };
            if f(&text[p..end]).is_break() {
                return;
            }
            p = end;
        }
    }

    /// Classes and byte length of the char at `i` (`i < len`).
    #[inline(always)]
    fn at(&self, i: usize) -> (u8, usize) {
        let b0 = self.b[i];
        if b0 < 0x80 {
            return (self.t.ascii[b0 as usize], 1);
        }
        let (cp, len) = self.decode(i);
        (self.t.of(cp), len)
    }

    /// Classes of the char at `i`, or 0 at the end of text.
    #[inline(always)]
    fn class(&self, i: usize) -> u8 {
        if i < self.b.len() {
            self.at(i).0
        } else {
            0
        }
    }

    /// Decode the multi-byte char at `i`.
    #[inline(always)]
    fn decode(&self, i: usize) -> (u32, usize) {
        let b = self.b;
        let b0 = b[i] as u32;
        let cont = |k: usize| (b[i + k] & 0x3F) as u32;
        if b0 < 0xE0 {
            (((b0 & 0x1F) << 6) | cont(1), 2)
        } else if b0 < 0xF0 {
            (((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
        } else {
            (
                ((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
                4,
            )
        }
    }

    /// The char at `i` (`i < len`).
    fn char_at(&self, i: usize) -> char {
        let b0 = self.b[i];
        if b0 < 0x80 {
            return b0 as char;
        }
        char::from_u32(self.decode(i).0).unwrap_or('\u{FFFD}')
    }

    /// Byte position after the char at `i`.
    #[inline(always)]
    fn next(&self, i: usize) -> usize {
        i + self.at(i).1
    }

    /// Byte position of the char that ends at `i` (`i > 0`).
    #[inline(always)]
    fn prev(&self, mut i: usize) -> usize {
        i -= 1;
        while i > 0 && self.b[i] & 0xC0 == 0x80 {
            i -= 1;
        }
        i
    }

    /// End of the maximal run, from `i`, of chars having any class in `mask`. ASCII is taken
    /// eight bytes at a time (see [`ascii_in`]), other chars one by one through the tables.
    #[inline(always)]
    fn run(&self, mut i: usize, mask: u8) -> usize {
        let b = self.b;
        while let Some(&c) = b.get(i) {
            if c >= 0x80 {
                let (cls, len) = self.at(i);
                if cls & mask == 0 {
                    return i;
                }
                i += len;
            } else if let Some(chunk) = b.get(i..i + 8) {
                let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                let outside = !ascii_in(word, mask) & HIGH_BITS;
                if outside == 0 {
                    i += 8;
                    continue;
                }
                i += (outside.trailing_zeros() / 8) as usize;
                // An ASCII byte that stops the word is outside the class; a non-ASCII one is
                // classified on the next turn.
                if b[i] < 0x80 {
                    return i;
                }
            } else if self.t.ascii[c as usize] & mask == 0 {
                return i;
            } else {
                i += 1;
            }
        }
        i
    }

    /// End of at most `max` chars of `\p{N}` from `i`.
    #[inline]
    fn digits(&self, mut i: usize, max: usize) -> usize {
        for _ in 0..max {
            if i >= self.b.len() {
                break;
            }
            let (cls, len) = self.at(i);
            if cls & NUMBER == 0 {
                break;
            }
            i += len;
        }
        i
    }

    /// End of the run of bytes in `set` (ASCII only) from `i`.
    #[inline]
    fn bytes_in(&self, mut i: usize, set: &[u8]) -> usize {
        while i < self.b.len() && set.contains(&self.b[i]) {
            i += 1;
        }
        i
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `i` (case-insensitively if `fold`): the end of the match.
    /// Inlined down to the apostrophe test, which nearly every word fails.
    #[inline(always)]
    fn contraction(&self, i: usize, fold: bool) -> Option<usize> {
        if self.b.get(i) != Some(&b'\'') {
            return None;
        }
        self.contraction_after_apostrophe(i, fold)
    }

    /// [`Scan::contraction`] once the byte at `i` is an apostrophe.
    #[inline(never)]
    fn contraction_after_apostrophe(&self, i: usize, fold: bool) -> Option<usize> {
        if i + 1 >= self.b.len() {
            return None;
        }
        let first = i + 1;
        let c1 = self.char_at(first);
        let after1 = self.next(first);
        let is = |letter: char, c: char| self.t.letter_matches(letter, c, fold);
        if ['s', 't', 'm', 'd'].iter().any(|&l| is(l, c1)) {
            return Some(after1);
        }
        if after1 >= self.b.len() {
            return None;
        }
        let c2 = self.char_at(after1);
        let pairs = [('r', 'e'), ('v', 'e'), ('l', 'l')];
        pairs
            .iter()
            .any(|&(x, y)| is(x, c1) && is(y, c2))
            .then(|| self.next(after1))
    }

    /// The white-space alternatives at `p` (the char at `p` is white space).
    fn whitespace(&self, p: usize, ws: Ws) -> usize {
        let q = self.run(p, SPACE);
        if q == self.b.len() && ws != Ws::NewlineFirst {
            return q; // \s++$
        }
        if ws != Ws::Gpt2 {
            // \s*[\r\n] / \s*[\r\n]+: up to the last line break of the run.
            if let Some(r) = self.b[p..q].iter().rposition(|&c| c == b'\r' || c == b'\n') {
                return p + r + 1;
            }
        }
        if q == self.b.len() {
            return q; // \s+(?!\S) at the end of text
        }
        let last = self.prev(q);
        if last > p {
            last // \s+(?!\S): give back the char before the non-space
        } else {
            q // \s or \s+ with a single char
        }
    }

    /// ` ?[^\s\p{L}\p{N}]++` at `p`, then the run of `tail` bytes. `None` if it doesn't match.
    #[inline]
    fn punct(&self, p: usize, cls: u8, tail: &[u8]) -> Option<usize> {
        let start = if cls & OTHER != 0 {
            p
        } else if self.b[p] == b' ' && self.class(p + 1) & OTHER != 0 {
            p + 1
        } else {
            return None;
        };
        let end = self.run(start, OTHER);
        Some(self.bytes_in(end, tail))
    }

    /// `[^\r\n\p{L}\p{N}]?\p{L}+` at `p` (either quantifier flavour).
    #[inline]
    fn prefixed_letters(&self, p: usize, cls: u8, len: usize) -> Option<usize> {
        if cls & LETTER != 0 {
            return Some(self.run(p + len, LETTER));
        }
        if cls & (NUMBER | CRLF) == 0 && self.class(p + len) & LETTER != 0 {
            return Some(self.run(p + len, LETTER));
        }
        None
    }

    /// gpt2: `'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`.
    fn gpt2(&self, p: usize) -> usize {
        if let Some(end) = self.contraction(p, false) {
            return end;
        }
        let cls = self.at(p).0;
        let (start, cls) = if self.b[p] == b' ' && p + 1 < self.b.len() {
            let next = self.class(p + 1);
            if next & (LETTER | NUMBER | OTHER) != 0 {
                (p + 1, next)
            } else {
                (p, cls)
            }
        } else {
            (p, cls)
        };
        for mask in [LETTER, NUMBER, OTHER] {
            if cls & mask != 0 {
                return self.run(start, mask);
            }
        }
        self.whitespace(p, Ws::Gpt2)
    }

    /// cl100k: `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|
    /// ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`.
    fn cl100k(&self, p: usize) -> usize {
        if let Some(end) = self.contraction(p, true) {
            return end;
        }
        self.llama_family(p, 3, Ws::Cl100k)
    }

    /// llama3 (`max_digits` 3) and qwen2 (1): `(?i:'s|'t|'re|'ve|'m|'ll|'d)|
    /// [^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    fn llama3(&self, p: usize, max_digits: usize) -> usize {
        if let Some(end) = self.contraction(p, true) {
            return end;
        }
        self.llama_family(p, max_digits, Ws::NewlineFirst)
    }

    /// The alternatives after the contraction, shared by cl100k, llama3 and qwen2.
    #[inline(always)]
    fn llama_family(&self, p: usize, max_digits: usize, ws: Ws) -> usize {
        let (cls, len) = self.at(p);
        if let Some(end) = self.prefixed_letters(p, cls, len) {
            return end;
        }
        if cls & NUMBER != 0 {
            return self.digits(p, max_digits);
        }
        if let Some(end) = self.punct(p, cls, b"\r\n") {
            return end;
        }
        self.whitespace(p, ws)
    }

    /// o200k: `[^\r\n\p{L}\p{N}]?U*L+C?|[^\r\n\p{L}\p{N}]?U+L*C?|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+` (see the module docs).
    fn o200k(&self, p: usize) -> usize {
        let (cls, len) = self.at(p);
        // A number can neither start a word nor be a word's prefix char (general categories are
        // exclusive and the prefix class excludes `\p{N}`), so numbers skip the word scans.
        if cls & NUMBER != 0 {
            return self.digits(p, 3);
        }
        if let Some(end) = self.o200k_word(p, cls, len) {
            return self.contraction(end, true).unwrap_or(end);
        }
        if let Some(end) = self.punct(p, cls, b"\r\n/") {
            return end;
        }
        self.whitespace(p, Ws::NewlineFirst)
    }

    /// The word part (without the contraction) of o200k's first two alternatives.
    #[inline(always)]
    fn o200k_word(&self, p: usize, cls: u8, len: usize) -> Option<usize> {
        let prefix = cls & (LETTER | NUMBER | CRLF) == 0;
        // Fast path: a lowercase-only word, with or without prefix.
        if prefix {
            if let Some(end) = self.upper_then_lower(p + len) {
                return Some(end);
            }
        }
        if let Some(end) = self.upper_then_lower(p) {
            return Some(end);
        }
        if prefix {
            if let Some(end) = self.upper_run(p + len) {
                return Some(end);
            }
        }
        self.upper_run(p)
    }

    /// `U*L+` from `s` (the first o200k alternative without its prefix and contraction).
    #[inline(always)]
    fn upper_then_lower(&self, s: usize) -> Option<usize> {
        let u = self.run(s, UPPERISH);
        if self.class(u) & LOWERISH != 0 {
            return Some(self.run(u, LOWERISH));
        }
        // Give back chars of the U run until one can start L+ (a char in both classes).
        let mut k = u;
        while k > s {
            let prev = self.prev(k);
            if self.at(prev).0 & LOWERISH != 0 {
                return Some(k);
            }
            k = prev;
        }
        None
    }

    /// `U+L*` from `s` (the second o200k alternative without its prefix and contraction).
    #[inline(always)]
    fn upper_run(&self, s: usize) -> Option<usize> {
        if self.class(s) & UPPERISH == 0 {
            return None;
        }
        let u = self.run(s, UPPERISH);
        Some(self.run(u, LOWERISH))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_classes_agree_with_the_ascii_table() {
        let t = Tables::get();
        let masks = [LETTER, NUMBER, SPACE, OTHER, UPPERISH, LOWERISH, CRLF];
        for mask in masks
            .iter()
            .flat_map(|&a| masks.iter().map(move |&b| a | b))
        {
            for byte in 0..=255u8 {
                let word = u64::from_le_bytes([b'a', byte, 0x80, byte, b' ', 0xff, b'0', byte]);
                let found = ascii_in(word, mask);
                for (k, &x) in word.to_le_bytes().iter().enumerate() {
                    let claimed = found >> (8 * k + 7) & 1 == 1;
                    let member = x < 0x80 && t.ascii[x as usize] & mask != 0;
                    // A claimed byte must be a member; runs may stop early, never late.
                    assert!(!claimed || member, "mask {mask:#x} byte {x:#x}");
                    if mask & CRLF == 0 || mask & SPACE != 0 {
                        assert_eq!(claimed, member, "mask {mask:#x} byte {x:#x}");
                    }
                }
            }
        }
    }
}
