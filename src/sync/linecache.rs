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
const FORMAT: &str = "tenant-attach-lines 2";
/// The shortest line: two 16-digit hashes, two tabs, a one-character SMSID, a newline.
const MIN_LINE: usize = 36;

#[derive(Default)]
pub struct LineCache {
    /// The SMSIDs are shared (`Arc`) with the run's list of seen devices: a hit costs no allocation.
    map: FxHashMap<u64, (Arc<str>, u64)>,
}

/// A cache being read on another thread. Dropping it waits for that thread: no thread of the
/// library outlives the call that started it (a failed open, `status`, `unregister` included).
pub struct Pending(Option<std::thread::JoinHandle<Option<(u64, LineCache)>>>);

impl Pending {
    /// Nothing being read (the cache is not wanted).
    pub fn none() -> Pending {
        Pending(None)
    }

    /// The cache if it was built under `context`; empty otherwise (also when reading it failed).
    pub fn take(mut self, context: u64) -> LineCache {
        match self.0.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Some((stored, cache)))) if stored == context => cache,
            _ => LineCache::default(),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(reader) = self.0.take() {
            let _ = reader.join();
        }
    }
}

impl LineCache {
    /// Starts reading the cache of `dir` on another thread (it is read while the state snapshot is
    /// read on this one: the two are independent and this machine has two cores).
    pub fn read_in_background(dir: &Path) -> Pending {
        let dir = dir.to_path_buf();
        Pending(Some(std::thread::spawn(move || Self::read(&dir))))
    }

    fn read(dir: &Path) -> Option<(u64, LineCache)> {
        Self::parse(&std::fs::read(dir.join(FILE)).ok()?)
    }

    /// The cache in `bytes`, `None` when anything is doubtful. The header's count and checksum are
    /// checked against the body before the map is sized from them.
    pub(crate) fn parse(bytes: &[u8]) -> Option<(u64, LineCache)> {
        let (header, mut body) = bytes.split_at(bytes.iter().position(|b| *b == b'\n')? + 1);
        let header = std::str::from_utf8(header).ok()?;
        let mut parts = header.trim_end().rsplitn(4, ' ');
        let checksum = u64::from_str_radix(parts.next()?, 16).ok()?;
        let count: usize = parts.next()?.parse().ok()?;
        let context = u64::from_str_radix(parts.next()?, 16).ok()?;
        if parts.next()? != FORMAT || count > body.len() / MIN_LINE || xxhash_rust::xxh3::xxh3_64(body) != checksum {
            return None;
        }
        let mut map = FxHashMap::with_capacity_and_hasher(count, Default::default());
        // Each line: 16 hex digits, a tab, 16 hex digits, a tab, the SMSID, a newline.
        while !body.is_empty() {
            let end = body.iter().position(|b| *b == b'\n')?;
            let (line, rest) = (&body[..end], &body[end + 1..]);
            if line.len() < MIN_LINE - 1 || line[16] != b'\t' || line[33] != b'\t' {
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
            let count = entries.len();
            let mut body = Vec::with_capacity(count * 80);
            for (line_hash, sms_id, device_hash) in entries {
                writeln!(body, "{line_hash:016x}\t{device_hash:016x}\t{sms_id}")?;
            }
            let mut out = BufWriter::new(std::fs::File::create(&temp)?);
            writeln!(out, "{FORMAT} {context:016x} {count} {:016x}", xxhash_rust::xxh3::xxh3_64(&body))?;
            out.write_all(&body)?;
            out.flush()?;
            drop(out);
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
        // Torn (one line short), a bad digit, a missing tab, a huge count: not used.
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        let huge = text.replacen(" 2 ", " 72567767433232 ", 1);
        assert_ne!(huge, text);
        for damaged in [text.rsplitn(3, '\n').nth(2).unwrap().to_owned() + "\n", text.replacen("0123", "01g3", 1), text.replacen('\t', " ", 1), huge] {
            std::fs::write(dir.path().join(FILE), damaged).unwrap();
            assert!(LineCache::read(dir.path()).is_none());
        }
    }
}
