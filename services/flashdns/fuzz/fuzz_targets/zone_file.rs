//! Any text given to the zone-file reader: a zone or an error naming a
//! line, never a panic.
#![no_main]

use flashdns::zone::file;
use hickory_proto::rr::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Name::from_ascii("example.com.").unwrap();
    if let Ok(zone) = file::parse(text, "fuzz", &origin) {
        // What loads must dump as text that loads again as the same zone.
        let again = file::parse(&zone.to_text(), "dump", &origin).expect("the dump reads back");
        assert_eq!(zone.to_text(), again.to_text());
    }
});
