//! One error type for the engine. Every message names the problem (and the file, line or field
//! where there is one) so that the Python layer can show it as is.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument that cannot be honoured (vocab size too small, unknown preset, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// A regular expression that does not compile.
    #[error("invalid pre-tokenizer regex {pattern:?}: {reason}")]
    Regex { pattern: String, reason: String },
    /// A file whose content is malformed; `location` names the file and, where known, line/field.
    #[error("{location}: {reason}")]
    Format { location: String, reason: String },
    /// Text that contains a special token the caller did not allow.
    #[error(
        "encountered text corresponding to disallowed special token {token:?} at byte {offset}; \
         pass it in allowed_special to encode it as a special token, or exclude it from \
         disallowed_special to encode it as ordinary text"
    )]
    DisallowedSpecial { token: String, offset: usize },
    /// A token id outside the vocabulary.
    #[error("token id {id} is not in the vocabulary (size {vocab_size})")]
    UnknownId { id: u32, vocab_size: usize },
    /// An I/O failure, with the path involved.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    pub fn format(location: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Format {
            location: location.into(),
            reason: reason.into(),
        }
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
