//! flashdns and BIND's `named-checkzone` agree on which zone files are
//! valid: every file in `tests/checkzone/` is given to both. The file names
//! say what both are expected to decide (`valid-*`, `invalid-*`), so the
//! corpus cannot drift into agreeing on nothing.

use std::path::Path;
use std::process::Command;

use flashdns::zone::file;
use hickory_proto::rr::Name;

#[test]
fn flashdns_and_named_checkzone_accept_and_reject_the_same_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/checkzone");
    let origin = Name::from_ascii("example.com.").unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .collect();
    files.sort();
    let mut disagreements = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let named = Command::new("named-checkzone")
            .args(["-q", "example.com", path.to_str().unwrap()])
            .status()
            .expect("named-checkzone runs (bind9-utils; .ci/setup installs it)")
            .success();
        let ours = file::load(path, &origin);
        let expected = name.starts_with("valid-");
        if expected {
            valid += 1
        } else {
            invalid += 1
        }
        if named != expected {
            disagreements.push(format!(
                "{name}: named-checkzone says {named}, the name says {expected}"
            ));
        }
        match (&ours, named) {
            (Ok(_), true) | (Err(_), false) => {}
            (Ok(_), false) => disagreements.push(format!(
                "{name}: flashdns loads it, named-checkzone rejects it"
            )),
            (Err(e), true) => disagreements.push(format!(
                "{name}: flashdns rejects it ({e}), named-checkzone loads it"
            )),
        }
        if let Err(e) = &ours {
            // Every rejection names the file.
            assert!(e.to_string().starts_with(path.to_str().unwrap()), "{e}");
        }
    }
    assert!(
        valid >= 10 && invalid >= 15,
        "{valid} valid and {invalid} invalid files"
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
