//! tiktoken rank files. (Stub.)
