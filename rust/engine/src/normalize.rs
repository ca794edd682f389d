//! Unicode normalization applied to text before pre-tokenization.

use crate::error::{Error, Result};
use std::borrow::Cow;
use unicode_normalization::{is_nfc_quick, is_nfkc_quick, IsNormalized, UnicodeNormalization};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Normalizer {
    #[default]
    None,
    Nfc,
    Nfkc,
}

impl Normalizer {
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "" | "none" => Ok(Normalizer::None),
            "nfc" => Ok(Normalizer::Nfc),
            "nfkc" => Ok(Normalizer::Nfkc),
            other => Err(Error::invalid(format!(
                "unknown normalization {other:?}; expected one of none, nfc, nfkc"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Normalizer::None => "none",
            Normalizer::Nfc => "nfc",
            Normalizer::Nfkc => "nfkc",
        }
    }

    /// Normalize `text`, borrowing when it is already normal.
    pub fn apply<'t>(self, text: &'t str) -> Cow<'t, str> {
        match self {
            Normalizer::None => Cow::Borrowed(text),
            Normalizer::Nfc => match is_nfc_quick(text.chars()) {
                IsNormalized::Yes => Cow::Borrowed(text),
                _ => Cow::Owned(text.nfc().collect()),
            },
            Normalizer::Nfkc => match is_nfkc_quick(text.chars()) {
                IsNormalized::Yes => Cow::Borrowed(text),
                _ => Cow::Owned(text.nfkc().collect()),
            },
        }
    }
}
