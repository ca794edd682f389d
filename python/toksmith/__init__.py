"""toksmith: tokenizer engineering toolkit with a Rust core."""
