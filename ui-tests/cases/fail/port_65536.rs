use photon_dsl::port;

fn main() {
    let _ = port!(65536);
}
