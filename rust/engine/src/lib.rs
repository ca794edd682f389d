//! toksmith's engine: byte-level BPE in pure Rust.
//!
//! The stages, one module each (HF tokenizers' shape):
//! - [`normalize`]: optional Unicode normalization (NFC/NFKC) applied before pre-tokenization.
//! - [`pretokenize`]: splitting text into pre-tokens (regex presets, custom regex, `none`).
//! - [`count`]: counting pre-tokens over a corpus, in parallel; counts are a mergeable artifact.
//! - [`train`]: the BPE merge loop over counted pre-tokens (HF `BpeTrainer`-identical merges).
//! - [`vocab`]: the learned artifact: token bytes, ids, ranked merges, special tokens.
//! - [`encode`]: applying ranked merges to one pre-token (linear-ish worst case).
//! - [`decode`]: ids back to bytes.
//! - [`tokenizer`]: the full pipeline: specials, normalization, pre-tokenization, encoding, decoding.
//! - [`formats`]: HF `tokenizer.json` and tiktoken rank files.
//!
//! Nothing here depends on Python; `rust/python` is a thin PyO3 layer over these types.
//!
//! The module docs explain the algorithms for maintainers and link to the private modules and
//! constants that implement them: read them with `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

pub mod bytelevel;
pub mod count;
pub mod decode;
pub mod encode;
pub mod error;
pub mod formats;
mod hugemem;
pub mod io;
pub mod normalize;
pub mod pretokenize;
pub mod progress;
pub mod share;
pub mod special;
pub mod tokenizer;
pub mod train;
pub mod vocab;

pub use error::{Error, Result};
pub use tokenizer::Tokenizer;
pub use vocab::{Merge, TokenId, Vocab};
