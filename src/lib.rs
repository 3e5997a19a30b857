//! rapport server library.
pub mod proto {
    //! Generated from `proto/rapport/v1`.
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("rapport.v1");
    include!(concat!(env!("OUT_DIR"), "/rapport.v1.serde.rs"));
    /// Encoded descriptor set of the contract, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/rapport_descriptor.bin"));
}
