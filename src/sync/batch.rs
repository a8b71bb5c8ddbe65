//! Cutting a run into DevicePost batches within the record and byte limits (docs/GATEWAY.md).
//!
//! Device JSON is serialised once, when the device is read, and the same bytes are both hashed for
//! the state and copied into the batch body: no record is serialised twice.

use serde::Serialize;

/// The gateway refuses more than 5,000 records or 16 MiB in one batch.
pub const GATEWAY_MAX_RECORDS: usize = 5_000;
pub const GATEWAY_MAX_BYTES: usize = 16 * 1024 * 1024;

/// Room kept for the envelope (ids, sequence, flags) around the devices and deletions.
const ENVELOPE_BYTES: usize = 512;

/// A batch being filled or ready to send.
#[derive(Debug, Default)]
pub struct Batch {
    pub sequence: u64,
    /// Comma-separated device objects.
    devices_json: Vec<u8>,
    /// (SMSID, hash) of each device, committed to the state once acknowledged.
    pub upserts: Vec<(String, u64)>,
    /// The hash of the NDJSON line each upsert came from (0: not from a line).
    pub lines: Vec<u64>,
    /// Where each upsert of a device new to the state stands in the run's line order (`u32::MAX`:
    /// nowhere), so that its entry can be noted there once committed.
    pub positions: Vec<u32>,
    pub deletions: Vec<String>,
    deletions_bytes: usize,
    /// Devices listed but not sent (their record could not be read this time): a full sync's
    /// sweep keeps them.
    pub keep: Vec<String>,
}

impl Batch {
    pub fn records(&self) -> usize {
        self.upserts.len() + self.deletions.len() + self.keep.len()
    }

    fn bytes(&self) -> usize {
        ENVELOPE_BYTES + self.devices_json.len() + self.deletions_bytes
    }

    /// The DevicePost body, made from the device JSON in place (no copy of the batch's megabytes):
    /// `devices` first, then the envelope (and `extra`: further members as JSON text, each led by a
    /// comma). Taken once; the batch keeps what it commits.
    pub fn take_body(&mut self, hierarchy_id: &str, sync_id: &str, kind: &str, is_final: bool, extra: &[u8]) -> Vec<u8> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Head<'a> {
            hierarchy_id: &'a str,
            sync_id: &'a str,
            sequence: u64,
            kind: &'a str,
            #[serde(rename = "final")]
            is_final: bool,
            deletions: &'a [String],
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            keep: &'a [String],
        }
        let head = Head { hierarchy_id, sync_id, sequence: self.sequence, kind, is_final, deletions: &self.deletions, keep: &self.keep };
        let mut body = std::mem::take(&mut self.devices_json);
        if body.is_empty() {
            body.extend_from_slice(DEVICES_OPEN);
        }
        body.extend_from_slice(b"],");
        // Serialising plain strings and numbers into a Vec cannot fail.
        let head = serde_json::to_vec(&head).unwrap_or_default();
        // Without its braces: the extra members go inside.
        body.extend_from_slice(head.get(1..head.len().saturating_sub(1)).unwrap_or_default());
        body.extend_from_slice(extra);
        body.push(b'}');
        body
    }
}

/// How a body starts: the devices come first, the envelope after them.
const DEVICES_OPEN: &[u8] = b"{\"devices\":[";

/// Fills batches in order; hands back each one that is full.
pub struct Batcher {
    max_records: usize,
    max_bytes: usize,
    current: Batch,
}

impl Batcher {
    pub fn new(max_records: usize, max_bytes: usize) -> Self {
        Batcher { max_records: max_records.clamp(1, GATEWAY_MAX_RECORDS), max_bytes: max_bytes.clamp(4096, GATEWAY_MAX_BYTES), current: Batch::default() }
    }

    /// Adds a device; returns the previous batch when this one did not fit in it.
    pub fn add_device(&mut self, sms_id: &str, hash: u64, line: u64, position: u32, json: &[u8]) -> Option<Batch> {
        let done = self.make_room(json.len() + 1);
        if self.current.devices_json.is_empty() {
            // Room for the whole batch at once: no copying as it grows (untouched pages cost nothing).
            self.current.devices_json.reserve(self.max_bytes);
            self.current.devices_json.extend_from_slice(DEVICES_OPEN);
        } else {
            self.current.devices_json.push(b',');
        }
        self.current.devices_json.extend_from_slice(json);
        self.current.upserts.push((sms_id.to_owned(), hash));
        self.current.lines.push(line);
        self.current.positions.push(position);
        done
    }

    /// Adds a device the run lists without sending it (see [`Batch::keep`]).
    pub fn add_keep(&mut self, sms_id: &str) -> Option<Batch> {
        let done = self.make_room(sms_id.len() + 3);
        self.current.deletions_bytes += serde_json::to_string(sms_id).map_or(sms_id.len() + 3, |s| s.len() + 1);
        self.current.keep.push(sms_id.to_owned());
        done
    }

    pub fn add_deletion(&mut self, sms_id: &str) -> Option<Batch> {
        let done = self.make_room(sms_id.len() + 3);
        self.current.deletions_bytes += serde_json::to_string(sms_id).map_or(sms_id.len() + 3, |s| s.len() + 1);
        self.current.deletions.push(sms_id.to_owned());
        done
    }

    /// The batch in progress, even when empty (a full sync with no device still sends its final batch).
    pub fn finish(self) -> Batch {
        self.current
    }

    fn make_room(&mut self, extra: usize) -> Option<Batch> {
        let fits = self.current.records() < self.max_records && self.current.bytes() + extra <= self.max_bytes;
        if fits || self.current.records() == 0 {
            return None;
        }
        let next = Batch { sequence: self.current.sequence + 1, ..Batch::default() };
        Some(std::mem::replace(&mut self.current, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_record_limit_and_number_in_order() {
        let mut b = Batcher::new(2, GATEWAY_MAX_BYTES);
        let mut done = Vec::new();
        for i in 0..5 {
            done.extend(b.add_device(&format!("GUID:{i}"), i, 0, u32::MAX, format!("{{\"smsId\":\"GUID:{i}\"}}").as_bytes()));
        }
        done.extend(b.add_deletion("GUID:old"));
        done.push(b.finish());
        let shape: Vec<(u64, usize)> = done.iter().map(|b| (b.sequence, b.records())).collect();
        assert_eq!(shape, [(0, 2), (1, 2), (2, 2)]);
        let body: serde_json::Value = serde_json::from_slice(&done[2].take_body("h", "s", "delta", true, b"")).expect("valid JSON");
        assert_eq!(body["devices"][0]["smsId"], "GUID:4");
        assert_eq!(body["deletions"][0], "GUID:old");
        assert_eq!(body["final"], true);
        assert_eq!(body["sequence"], 2);
    }

    #[test]
    fn batches_respect_the_byte_limit() {
        let mut b = Batcher::new(5000, 4096);
        let big = format!("{{\"smsId\":\"x\",\"name\":\"{}\"}}", "n".repeat(1500));
        let mut done = Vec::new();
        for i in 0..6 {
            done.extend(b.add_device(&format!("GUID:{i}"), i, 0, u32::MAX, big.as_bytes()));
        }
        done.push(b.finish());
        assert!(done.len() >= 3);
        for batch in &mut done {
            let body = batch.take_body("h", "s", "full", false, b",\"epoch\":\"e\"");
            assert!(body.len() <= 4096);
            serde_json::from_slice::<serde_json::Value>(&body).expect("valid JSON");
        }
        let mut empty = Batcher::new(5, 4096).finish();
        let body: serde_json::Value = serde_json::from_slice(&empty.take_body("h", "s", "full", true, b"")).expect("an empty batch is valid JSON");
        assert_eq!((body["devices"].as_array().map(Vec::len), body["final"].as_bool()), (Some(0), Some(true)));
    }
}
