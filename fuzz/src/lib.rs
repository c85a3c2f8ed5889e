//! Shared pieces of the fuzz targets.
//!
//! The op decoder and the model are the ones the stable tests use: one copy, in
//! `iommu/tests/common/zx_model.rs`, included here by path. `cargo test` replays this crate's
//! corpus (`fuzz/corpus/zx_ops/`) through the same code (`iommu/tests/fuzz_corpus_replay.rs`).

#[path = "../../iommu/tests/common/zx_model.rs"]
mod zx_model;

pub use zx_model::*;

/// A decoded op sequence, for structured fuzzing with `arbitrary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpSequence(pub Vec<Op>);

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for OpSequence {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let bytes: &[u8] = u.arbitrary()?;
        Ok(OpSequence(decode(bytes)))
    }
}
