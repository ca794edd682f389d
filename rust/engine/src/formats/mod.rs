//! Reading and writing real tokenizer files. (Stub: the formats helper fills this in.)
//! - [`hf_json`]: HF `tokenizer.json` (BPE model, ByteLevel / Split+ByteLevel, added tokens).
//! - [`tiktoken`]: tiktoken rank files (`base64 rank` lines), with an optional JSON sidecar.

pub mod hf_json;
pub mod tiktoken;
