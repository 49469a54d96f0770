use photon_dsl::path;

fn main() {
    let _ = path!("echo-v1");
}
