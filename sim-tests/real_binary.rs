//! The normal (real-mode) `kafka-sim` binary for the tests that start `serve`, built once
//! per test process. Included with `#[path]` by serve_kafka_python.rs,
//! serve_multiprocess.rs and kafka_oracle.rs.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the normal (real-mode) binary and returns its path. The outer `cargo sim`
/// build's settings must not leak into this one.
pub fn build_real_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build_real_binary_once).clone()
}

fn build_real_binary_once() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let st = Command::new(cargo)
        .current_dir(manifest_dir())
        .args(["build", "--quiet", "--bin", "kafka-sim"])
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .status()
        .expect("run cargo build");
    assert!(
        st.success(),
        "cargo build --bin kafka-sim (normal build) failed"
    );
    manifest_dir()
        .join("target")
        .join("debug")
        .join("kafka-sim")
}
