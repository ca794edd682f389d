//! Applying ranked merges to one pre-token. (Stub: the encoder helper fills this in.)

use crate::vocab::{TokenId, Vocab};

/// Ranked-merge BPE over bytes.
#[derive(Clone, Debug)]
pub struct BpeModel {
    byte_ids: Vec<TokenId>,
}

impl BpeModel {
    pub fn new(vocab: &Vocab) -> Self {
        BpeModel {
            byte_ids: (0..=255u8).map(|b| vocab.byte_id(b)).collect(),
        }
    }

    /// Append the ids of `piece` to `out`.
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        let _ = (piece, out, &self.byte_ids);
        todo!("encoder")
    }
}
