//! Compiles `proto/` into Rust with protox (a protobuf compiler written in
//! Rust, so no `protoc` binary is needed), then generates tonic services,
//! proto3 JSON mappings (pbjson) for the CLI, and the descriptor set that
//! server reflection serves.
//!
//! `MetricsService`'s server is generated a second time into `OUT_DIR/shared/`
//! with every message mapped to the types above except `SubscribeResponse`,
//! which maps to `crate::subscribe::SharedResponse`: a subscription update
//! is then encoded once per feed and its bytes shared by every subscriber.
//! `IngestService`'s server is generated there too, with `IngestRequest` and
//! `RecordRequest` mapped to `crate::ingest::wire::{IngestBatch,
//! RecordBatch}`: the daemon decodes an event's labels into a vector of
//! pairs, not a `HashMap` per event. Clients, and the transport ceiling of
//! `rapport bench`, keep the ordinary generated types.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos: Vec<PathBuf> = fs::read_dir("proto/rapport/v1")?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    println!("cargo:rerun-if-changed=proto");

    let descriptors = protox::compile(&protos, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("rapport_descriptor.bin");
    fs::write(&descriptor_path, descriptors.encode_to_vec())?;

    let mut served = descriptors.clone();
    served.file.retain(|file| matches!(file.name(), "rapport/v1/metrics.proto" | "rapport/v1/ingest.proto"));
    tonic_prost_build::configure()
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(descriptors)?;

    let shared_dir = out_dir.join("shared");
    fs::create_dir_all(&shared_dir)?;
    tonic_prost_build::configure()
        .build_client(false)
        .out_dir(&shared_dir)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .extern_path(".rapport.v1", "crate::proto")
        .extern_path(".rapport.v1.SubscribeResponse", "crate::subscribe::SharedResponse")
        .extern_path(".rapport.v1.IngestRequest", "crate::ingest::wire::IngestBatch")
        .extern_path(".rapport.v1.RecordRequest", "crate::ingest::wire::RecordBatch")
        .compile_fds(served)?;

    pbjson_build::Builder::new()
        .register_descriptors(&fs::read(&descriptor_path)?)?
        .preserve_proto_field_names()
        .build(&[".rapport.v1"])?;
    Ok(())
}
