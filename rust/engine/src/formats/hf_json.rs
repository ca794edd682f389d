//! HF `tokenizer.json`. (Stub.)
