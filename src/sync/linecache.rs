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
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

const FILE: &str = "DeviceSync.lines";
const FORMAT: &str = "tenant-attach-lines 1";

#[derive(Default)]
pub struct LineCache {
    map: FxHashMap<u64, (Box<str>, u64)>,
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
        let mut reader = BufReader::new(std::fs::File::open(dir.join(FILE)).ok()?);
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let mut parts = header.trim_end().rsplitn(3, ' ');
        let count: usize = parts.next()?.parse().ok()?;
        let context = u64::from_str_radix(parts.next()?, 16).ok()?;
        if parts.next()? != FORMAT {
            return None;
        }
        let mut map = FxHashMap::with_capacity_and_hasher(count, Default::default());
        let mut line = String::new();
        while reader.read_line(&mut line).ok()? > 0 {
            let mut fields = line.trim_end_matches('\n').splitn(3, '\t');
            let line_hash = u64::from_str_radix(fields.next()?, 16).ok()?;
            let device_hash = u64::from_str_radix(fields.next()?, 16).ok()?;
            map.insert(line_hash, (Box::from(fields.next()?), device_hash));
            line.clear();
        }
        // A torn file (a crash while writing it) is simply not used.
        (map.len() == count).then_some((context, LineCache { map }))
    }

    pub fn get(&self, line_hash: u64) -> Option<&(Box<str>, u64)> {
        self.map.get(&line_hash)
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
