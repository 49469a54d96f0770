//! flashdns on its own, from the design's TOML schema:
//! `flashdns-server --config flashdns.toml`, or with no file
//! `PHOTON_MODE=standalone flashdns-server` (every `<name>.zone` in
//! `/etc/flashdns/zones`). `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<flashdns::standalone::FlashDnsSchema>("flashdns-server")
}
