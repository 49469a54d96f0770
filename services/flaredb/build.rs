//! Generates the gRPC code from `proto/` when the server is built. The
//! spec half needs none of it, so `default-features = false` skips this.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "server")]
    {
        // A vendored protoc, so no system package is needed.
        let mut config = tonic_prost_build::Config::new();
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
        tonic_prost_build::configure().compile_with_config(
            config,
            &["proto/flaredb/v1.proto"],
            &["proto"],
        )?;
        println!("cargo:rerun-if-changed=proto");
    }
    Ok(())
}
