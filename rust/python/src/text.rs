//! Python strs as UTF-8, converted on the pool's threads instead of under the GIL.
//!
//! CPython stores a str with one, two or four bytes per code point (PEP 393) and makes its UTF-8
//! form only when asked, on the calling thread with the GIL held, keeping a copy in the object.
//! For a batch of a multilingual corpus (20 MB, three fifths of it in non-ASCII texts) that
//! serial step took about a tenth of the batch's time. [`map_texts`] reads ASCII strs, and strs
//! whose UTF-8 CPython already holds, in place; every other str is converted by the worker
//! thread that then encodes it, with the GIL released. A str with a lone surrogate has no UTF-8
//! form: CPython's own conversion is then asked for it, to raise its `UnicodeEncodeError` (the
//! Python layer repairs such text and retries, as tiktoken does).

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyStringMethods};
use rayon::prelude::*;
use std::borrow::Cow;

use crate::tokenizer::on_threads;

/// A str's characters as CPython stores them.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Utf8(&'a str),
    Latin1(&'a [u8]),
    Ucs2(&'a [u16]),
    Ucs4(&'a [u32]),
}

impl<'a> Raw<'a> {
    /// The storage of `s`, which must stay alive (and it is immutable) while the view is used.
    fn of(s: &'a Bound<'_, PyString>) -> PyResult<Self> {
        let op = s.as_ptr();
        // SAFETY: `op` is a live str and the GIL is held. A ready str's data, kind and length
        // describe its characters for as long as it lives (strs are immutable); ASCII data and
        // a cached UTF-8 form are valid UTF-8.
        unsafe {
            if ffi::PyUnicode_READY(op) != 0 {
                return Err(PyErr::fetch(s.py()));
            }
            let len = usize::try_from(ffi::PyUnicode_GET_LENGTH(op)).unwrap_or(0);
            let data = ffi::PyUnicode_DATA(op);
            if ffi::PyUnicode_IS_ASCII(op) != 0 {
                let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
                return Ok(Raw::Utf8(std::str::from_utf8_unchecked(bytes)));
            }
            if ffi::PyUnicode_IS_COMPACT(op) != 0 {
                let compact = &*op.cast::<ffi::PyCompactUnicodeObject>();
                if !compact.utf8.is_null() {
                    let n = usize::try_from(compact.utf8_length).unwrap_or(0);
                    let bytes = std::slice::from_raw_parts(compact.utf8.cast::<u8>(), n);
                    return Ok(Raw::Utf8(std::str::from_utf8_unchecked(bytes)));
                }
            }
            Ok(match ffi::PyUnicode_KIND(op) {
                ffi::PyUnicode_1BYTE_KIND => {
                    Raw::Latin1(std::slice::from_raw_parts(data.cast(), len))
                }
                ffi::PyUnicode_2BYTE_KIND => {
                    Raw::Ucs2(std::slice::from_raw_parts(data.cast(), len))
                }
                _ => Raw::Ucs4(std::slice::from_raw_parts(data.cast(), len)),
            })
        }
    }

    /// The UTF-8 form, or `None` for a lone surrogate.
    fn utf8(self) -> Option<Cow<'a, str>> {
        match self {
            Raw::Utf8(s) => Some(Cow::Borrowed(s)),
            Raw::Latin1(b) => Some(Cow::Owned(latin1_to_utf8(b))),
            Raw::Ucs2(units) => code_points(units.iter().map(|&u| u32::from(u)), units.len() * 3),
            Raw::Ucs4(points) => code_points(points.iter().copied(), points.len() * 4),
        }
    }
}

/// Latin-1 as UTF-8: ASCII eight bytes at a time, other bytes as two.
fn latin1_to_utf8(b: &[u8]) -> String {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut out = Vec::with_capacity(b.len() + b.iter().filter(|&&c| c >= 0x80).count());
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        if u64::from_le_bytes(chunk.try_into().expect("8 bytes")) & HIGH == 0 {
            out.extend_from_slice(chunk);
        } else {
            push_latin1(&mut out, chunk);
        }
    }
    push_latin1(&mut out, chunks.remainder());
    String::from_utf8(out).expect("Latin-1 re-encoded as UTF-8")
}

fn push_latin1(out: &mut Vec<u8>, bytes: &[u8]) {
    for &c in bytes {
        if c < 0x80 {
            out.push(c);
        } else {
            out.extend([0xC0 | c >> 6, 0x80 | (c & 0x3F)]);
        }
    }
}

/// Code points as UTF-8 (`None` at a surrogate, which has no UTF-8 form).
fn code_points<'a>(points: impl Iterator<Item = u32>, capacity: usize) -> Option<Cow<'a, str>> {
    let mut out = String::with_capacity(capacity);
    for point in points {
        out.push(char::from_u32(point)?);
    }
    Some(Cow::Owned(out))
}

/// `f` of each text's UTF-8, on `num_threads` threads (see [`on_threads`]) with the GIL
/// released (see the module docs).
pub(crate) fn map_texts<T: Send>(
    py: Python<'_>,
    texts: &[Bound<'_, PyString>],
    num_threads: Option<usize>,
    f: impl Fn(&str) -> T + Sync,
) -> PyResult<Vec<T>> {
    let raws = texts.iter().map(Raw::of).collect::<PyResult<Vec<_>>>()?;
    let done = py.allow_threads(|| {
        on_threads(num_threads, || {
            raws.par_iter()
                .map(|raw| raw.utf8().map(|text| f(&text)))
                .collect::<Vec<Option<T>>>()
        })
    })?;
    done.into_iter()
        .zip(texts)
        .map(|(value, text)| match value {
            Some(value) => Ok(value),
            None => {
                // CPython's conversion raises the UnicodeEncodeError of the surrogate.
                text.to_str()?;
                Err(PyValueError::new_err("text has no UTF-8 form"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_equal_rusts_own() {
        let latin1: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let want: String = latin1.iter().map(|&c| char::from(c)).collect();
        assert_eq!(Raw::Latin1(&latin1).utf8().unwrap(), want);
        let text = "naïve café 中文 \u{1F600} x";
        let ucs4: Vec<u32> = text.chars().map(u32::from).collect();
        assert_eq!(Raw::Ucs4(&ucs4).utf8().unwrap(), text);
        let ucs2: Vec<u16> = "naïve 中文".chars().map(|c| c as u16).collect();
        assert_eq!(Raw::Ucs2(&ucs2).utf8().unwrap(), "naïve 中文");
        assert!(Raw::Ucs2(&[0x61, 0xD800]).utf8().is_none());
        assert!(Raw::Ucs4(&[0xDFFF]).utf8().is_none());
    }
}
