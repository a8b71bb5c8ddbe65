//! A cache that lets a delta run skip parsing the NDJSON lines that did not change.
//!
//! `DeviceSync.lines` maps the xxh3 of a raw input line to the SMSID and content hash it produced
//! last time. A line whose bytes are identical yields an identical device, so when the state still
//! holds that SMSID with that hash the device is unchanged, and the line need not be parsed. Every
//! hit is checked against the state, and the cache is tied to the eligibility rules it was built
//! under (`context`: scope and collection tree), so a stale or damaged cache can only cost time:
//! anything doubtful is parsed. It is not part of the state's safety argument and is written
//! without fsync.

use rustc_hash::FxHashMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

const FILE: &str = "DeviceSync.lines";
const FORMAT: &str = "tenant-attach-lines 1";

#[derive(Default)]
pub struct LineCache {
    /// The SMSIDs are shared (`Arc`) with the run's list of seen devices: a hit costs no allocation.
    map: FxHashMap<u64, (Arc<str>, u64)>,
}

impl LineCache {
    /// Starts reading the cache of `dir` on another thread (it is read while the state snapshot is
    /// read on this one: the two are independent and this machine has two cores).
    pub fn read_in_background(dir: &Path) -> std::thread::JoinHandle<Option<(u64, LineCache)>> {
        let dir = dir.to_path_buf();
        std::thread::spawn(move || Self::read(&dir))
    }

    /// The cache read by `read_in_background` if it was built under `context`; empty otherwise.
    pub fn take(pending: Option<std::thread::JoinHandle<Option<(u64, LineCache)>>>, context: u64) -> LineCache {
        match pending.map(std::thread::JoinHandle::join) {
            Some(Ok(Some((stored, cache)))) if stored == context => cache,
            _ => LineCache::default(),
        }
    }

    fn read(dir: &Path) -> Option<(u64, LineCache)> {
        let bytes = std::fs::read(dir.join(FILE)).ok()?;
        let (header, mut body) = bytes.split_at(bytes.iter().position(|b| *b == b'\n')? + 1);
        let header = std::str::from_utf8(header).ok()?;
        let mut parts = header.trim_end().rsplitn(3, ' ');
        let count: usize = parts.next()?.parse().ok()?;
        let context = u64::from_str_radix(parts.next()?, 16).ok()?;
        if parts.next()? != FORMAT {
            return None;
        }
        let mut map = FxHashMap::with_capacity_and_hasher(count, Default::default());
        // Each line: 16 hex digits, a tab, 16 hex digits, a tab, the SMSID, a newline.
        while !body.is_empty() {
            let end = body.iter().position(|b| *b == b'\n')?;
            let (line, rest) = (&body[..end], &body[end + 1..]);
            if line.len() < 35 || line[16] != b'\t' || line[33] != b'\t' {
                return None;
            }
            let sms_id = std::str::from_utf8(&line[34..]).ok()?;
            map.insert(hex_u64(&line[..16])?, (Arc::from(sms_id), hex_u64(&line[17..33])?));
            body = rest;
        }
        // A torn file (a crash while writing it) is simply not used.
        (map.len() == count).then_some((context, LineCache { map }))
    }

    pub fn get(&self, line_hash: u64) -> Option<&(Arc<str>, u64)> {
        self.map.get(&line_hash)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Replaces the cache with `entries`; failures are ignored (it is only a cache).
    pub fn save<'e>(dir: &Path, context: u64, entries: impl ExactSizeIterator<Item = (u64, &'e str, u64)>) {
        let temp = dir.join(format!("{FILE}.tmp"));
        let written = (|| -> std::io::Result<()> {
            let mut out = BufWriter::new(std::fs::File::create(&temp)?);
            writeln!(out, "{FORMAT} {context:016x} {}", entries.len())?;
            for (line_hash, sms_id, device_hash) in entries {
                writeln!(out, "{line_hash:016x}\t{device_hash:016x}\t{sms_id}")?;
            }
            out.flush()?;
            std::fs::rename(&temp, dir.join(FILE))
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
            let _ = std::fs::remove_file(dir.join(FILE));
        }
    }

    /// Forgets the cache (after offboarding or a state reset).
    pub fn remove(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(FILE));
    }
}

/// Sixteen lowercase or uppercase hex digits.
fn hex_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |value, d| Some(value << 4 | (*d as char).to_digit(16)? as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let entries = [(0x0123_4567_89ab_cdefu64, "GUID:ÅÄÖ-1", 7u64), (u64::MAX, "GUID:2", 0)];
        LineCache::save(dir.path(), 42, entries.iter().map(|(l, s, h)| (*l, *s, *h)));
        let (context, cache) = LineCache::read(dir.path()).expect("read back");
        assert_eq!(context, 42);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(0x0123_4567_89ab_cdef).map(|(s, h)| (&**s, *h)), Some(("GUID:ÅÄÖ-1", 7)));
        assert_eq!(cache.get(u64::MAX).map(|(s, h)| (&**s, *h)), Some(("GUID:2", 0)));
        // Torn (one line short), a bad digit, a missing tab: not used.
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        for damaged in [text.rsplitn(3, '\n').nth(2).unwrap().to_owned() + "\n", text.replacen("0123", "01g3", 1), text.replacen('\t', " ", 1)] {
            std::fs::write(dir.path().join(FILE), damaged).unwrap();
            assert!(LineCache::read(dir.path()).is_none());
        }
    }
}
