//! Device records, as a JSON array and as NDJSON: any bytes give records, skipped records with a
//! reason, or an error; never a panic. Every record that is accepted can be keyed and uploaded.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tenant_attach::inventory::{self, Item, NdjsonReader};

fn check(item: &Item) {
    match item {
        Ok(record) => {
            let sms_id = &record.device.sms_id;
            assert!(!sms_id.is_empty() && sms_id.trim() == sms_id, "SMSID {sms_id:?} is not a key");
            assert!(!sms_id.chars().any(char::is_control), "SMSID {sms_id:?} holds control characters");
            assert!(!record.device.name.trim().is_empty(), "a record without a name");
            assert!(sms_id.chars().count() <= inventory::MAX_SMS_ID_CHARS, "an over-long SMSID was kept");
            assert!(record.device.name.chars().count() <= inventory::MAX_NAME_CHARS, "an over-long name was kept");
            // What the upload sends and the sync state hashes.
            let json = serde_json::to_vec(&record.device).expect("a device serialises");
            let back: serde_json::Value = serde_json::from_slice(&json).expect("and reads back");
            assert_eq!(back["smsId"].as_str(), Some(sms_id.as_str()));
        }
        Err(skipped) => assert!(!skipped.reason.is_empty(), "a record skipped without a reason"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match inventory::parse_json(text) {
            Ok(items) => items.iter().for_each(check),
            Err(e) => assert!(!e.message.is_empty()),
        }
    }
    let lines = inventory::count_ndjson_records(Cursor::new(data)).expect("reading memory cannot fail");
    let mut seen = 0;
    for item in NdjsonReader::new(Cursor::new(data)) {
        match item {
            Ok(item) => check(&item),
            Err(e) => {
                assert!(!e.message.is_empty());
                break; // invalid UTF-8 ends the stream
            }
        }
        seen += 1;
    }
    assert!(seen <= lines, "{seen} records from {lines} lines");
});
