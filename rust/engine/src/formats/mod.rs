//! Reading and writing real tokenizer files.
//! - [`hf_json`]: HF `tokenizer.json` (BPE model, ByteLevel / Split+ByteLevel, added tokens).
//! - [`tiktoken`]: tiktoken rank files (`base64 rank` lines), with an optional JSON sidecar.
//!
//! Both readers return a [`crate::Tokenizer`]; errors name the file and the line or JSON path.

pub mod hf_json;
pub mod tiktoken;
