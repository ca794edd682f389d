//! The full pipeline: special tokens, normalization, pre-tokenization, BPE, decoding.
//! (Stub: the encoder helper fills this in.)

use crate::encode::BpeModel;
use crate::error::Result;
use crate::normalize::Normalizer;
use crate::pretokenize::PreTokenizer;
use crate::special::{SpecialMatcher, SpecialSet};
use crate::vocab::{TokenId, Vocab};

#[derive(Clone, Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    pretokenizer: PreTokenizer,
    normalizer: Normalizer,
    model: BpeModel,
    specials: SpecialMatcher,
    /// Emit a pre-token that is itself a vocabulary token without merging (HF `ignore_merges`,
    /// tiktoken's behaviour).
    ignore_merges: bool,
}

impl Tokenizer {
    pub fn new(vocab: Vocab, pretokenizer: PreTokenizer, normalizer: Normalizer) -> Result<Self> {
        let model = BpeModel::new(&vocab);
        let specials = SpecialMatcher::new(vocab.specials())?;
        Ok(Tokenizer {
            vocab,
            pretokenizer,
            normalizer,
            model,
            specials,
            ignore_merges: false,
        })
    }

    /// Set HF's `ignore_merges`: whole pre-tokens found in the vocabulary are emitted as is.
    pub fn with_ignore_merges(mut self, ignore_merges: bool) -> Self {
        self.ignore_merges = ignore_merges;
        self
    }

    pub fn ignore_merges(&self) -> bool {
        self.ignore_merges
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    pub fn pretokenizer(&self) -> &PreTokenizer {
        &self.pretokenizer
    }

    pub fn normalizer(&self) -> Normalizer {
        self.normalizer
    }

    /// Encode text, treating special-token text as ordinary text.
    pub fn encode_ordinary(&self, text: &str) -> Vec<TokenId> {
        let _ = (text, &self.model, &self.specials);
        todo!("encoder")
    }

    /// Encode text; `allowed` specials become their ids, `disallowed` ones are an error.
    pub fn encode(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
    ) -> Result<Vec<TokenId>> {
        let _ = (text, allowed, disallowed);
        todo!("encoder")
    }

    /// The bytes of `ids`.
    pub fn decode_bytes(&self, ids: &[TokenId]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.vocab.decode_into(ids, &mut out)?;
        Ok(out)
    }
}
