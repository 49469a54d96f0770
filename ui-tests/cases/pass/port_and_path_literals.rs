// Class 1, corrected: ports at both ends of the range, prefixes in the grammar.
use photon_dsl::prelude::*;

fn main() {
    assert_eq!(port!(1).get(), 1);
    assert_eq!(port!(65535).get(), 65535);
    assert_eq!(path!("echo_v1").trimmed(), "echo_v1");
    assert_eq!(path!("api/v2").trimmed(), "api/v2");
}
