//! GPT-2's reversible byte <-> char mapping ("ByteLevel" in HF tokenizers).
//!
//! Printable bytes (`!`..=`~`, `¡`..=`¬`, `®`..=`ÿ`) map to the char with the same code point; the
//! other 68 bytes map, in byte order, to U+0100 onwards (so the space 0x20 becomes `Ġ`). HF's
//! `tokenizer.json` stores byte-level tokens as strings in this alphabet, and both HF's trainer
//! and tiktoken's GPT-2 family number the 256 single bytes in *char* order of this alphabet,
//! which [`byte_order`] gives.

use std::sync::OnceLock;

fn is_printable(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

fn tables() -> &'static ([char; 256], [u8; 324]) {
    static T: OnceLock<([char; 256], [u8; 324])> = OnceLock::new();
    T.get_or_init(|| {
        let mut to_char = ['\0'; 256];
        // Index by code point; 0 marks "not in the alphabet" except for '\u{100}'+n handled below.
        let mut to_byte = [0u8; 324];
        let mut next = 256u32;
        for b in 0..=255u8 {
            let c = if is_printable(b) {
                b as u32
            } else {
                next += 1;
                next - 1
            };
            to_char[b as usize] = char::from_u32(c).expect("valid code point");
            to_byte[c as usize] = b;
        }
        (to_char, to_byte)
    })
}

/// The char that stands for byte `b`.
pub fn byte_to_char(b: u8) -> char {
    tables().0[b as usize]
}

/// The byte that char `c` stands for, if `c` is in the byte-level alphabet.
pub fn char_to_byte(c: char) -> Option<u8> {
    let (to_char, to_byte) = tables();
    let cp = c as usize;
    if cp < to_byte.len() {
        let b = to_byte[cp];
        (to_char[b as usize] == c).then_some(b)
    } else {
        None
    }
}

/// Encode bytes as a byte-level string.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| byte_to_char(b)).collect()
}

/// Decode a byte-level string; `None` if it holds a char outside the alphabet.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    s.chars().map(char_to_byte).collect()
}

/// The 256 bytes sorted by their byte-level char: position `i` holds the byte whose id is `i` in
/// GPT-2-family vocabularies and in HF-trained byte-level vocabularies (before special tokens).
pub fn byte_order() -> [u8; 256] {
    let mut bytes: Vec<u8> = (0..=255).collect();
    bytes.sort_by_key(|&b| byte_to_char(b));
    bytes.try_into().expect("256 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_byte() {
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(char_to_byte('a'), Some(b'a'));
        assert_eq!(char_to_byte('\u{1F600}'), None);
    }

    #[test]
    fn order_starts_with_printables() {
        let order = byte_order();
        assert_eq!(order[0], b'!');
        assert_eq!(order[93], b'~');
        assert_eq!(order[188], 0); // first non-printable maps to U+0100
    }
}
