//! A cache that lets a delta run skip parsing the NDJSON lines that did not change.
//!
//! `DeviceSync.lines` holds two tables. The first has, for every entry of the state's device table
//! in its layout order (`table`), the SMSID key and device hash the entry had when the cache was
//! written and the xxh3 of the raw input line that produced exactly that device. The second lists
//! the input's lines in their order, each with what it was: a device (its entry number) or a record
//! that was not eligible (not a client, obsolete, out of scope). A line whose bytes are identical
//! yields an identical record, so an input line whose hash is listed is that device, unchanged, or
//! that ineligible record again, and need not be parsed.
//!
//! The cache is adopted entry by entry: an entry takes its cached line only while it still holds
//! that SMSID with that device hash (`DeviceTable::adopt_lines`), and the whole cache is tied to the
//! eligibility rules it was built under (`context`: scope, collection tree, members), so a stale or
//! damaged cache can only cost time: anything doubtful is parsed. It is not part of the state's
//! safety argument and is written without fsync.
//!
//! Inputs come in the same order run after run (the same query, the same export), so the line
//! expected next is compared first: a run over an unchanged input reads both tables in order and
//! looks nothing up. A line out of that order is found through an index by line hash.
//!
//! The body is binary, fixed-size records, little-endian: 24 bytes per entry (key, device hash,
//! line hash), then 12 bytes per input line (line hash, tag).

use hashbrown::HashTable;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::table::{Bits, DeviceTable};

const FILE: &str = "DeviceSync.lines";
const FORMAT: &str = "tenant-attach-lines 3";
const ENTRY_BYTES: usize = 24;
const ORDER_BYTES: usize = 12;

/// A tag of the order table: an ineligible record (bit 0: it told collection membership).
pub const INELIGIBLE: u32 = 0x8000_0000;
/// A tag of a run's order (never stored): a device new to the state whose batch is not committed
/// yet; commit replaces it with the device's entry.
pub const FRESH: u32 = 0x4000_0000;

/// What a line is known to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// That entry's device, exactly as the state holds it.
    Device(u32),
    /// A record that was not eligible under the same rules; whether it told membership.
    Ineligible(bool),
}

#[derive(Default)]
pub struct LineCache {
    /// (SMSID key, device hash, line hash) per entry of the table it was written for.
    entries: Vec<(u64, u64, u64)>,
    /// (line hash, tag) per line of the input it was written for, in its order.
    order: Vec<(u64, u32)>,
    /// Positions in `order`, by line hash.
    by_line: HashTable<u32>,
    /// The entries whose cached line the table adopted (the only devices `recognise` gives).
    adopted: Bits,
    /// The position in `order` of the line expected next.
    cursor: usize,
    /// Lines found at the expected position.
    in_order: usize,
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

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

impl LineCache {
    /// Starts reading the cache of `dir` on another thread (it is read, and its index built, while
    /// the state snapshot is read on this one: the two are independent and this machine has two cores).
    pub fn read_in_background(dir: &Path) -> Pending {
        let dir = dir.to_path_buf();
        Pending(Some(std::thread::spawn(move || Self::read(&dir))))
    }

    fn read(dir: &Path) -> Option<(u64, LineCache)> {
        Self::parse(&std::fs::read(dir.join(FILE)).ok()?)
    }

    /// The cache in `bytes`, `None` when anything is doubtful. The header's counts and checksum are
    /// checked against the body before anything is sized from them; an input line whose entry does
    /// not hold that line is dropped.
    pub(crate) fn parse(bytes: &[u8]) -> Option<(u64, LineCache)> {
        let (header, body) = bytes.split_at(bytes.iter().position(|b| *b == b'\n')? + 1);
        let header = std::str::from_utf8(header).ok()?;
        let mut parts = header.trim_end().rsplitn(5, ' ');
        let checksum = u64::from_str_radix(parts.next()?, 16).ok()?;
        let lines: usize = parts.next()?.parse().ok()?;
        let count: usize = parts.next()?.parse().ok()?;
        let context = u64::from_str_radix(parts.next()?, 16).ok()?;
        let expected = count.checked_mul(ENTRY_BYTES)?.checked_add(lines.checked_mul(ORDER_BYTES)?)?;
        if parts.next()? != FORMAT || expected != body.len() || count >= FRESH as usize || xxhash_rust::xxh3::xxh3_64(body) != checksum {
            return None;
        }
        let (table, rest) = body.split_at(count * ENTRY_BYTES);
        let entries: Vec<(u64, u64, u64)> = table.chunks_exact(ENTRY_BYTES).map(|r| (u64_at(r, 0), u64_at(r, 8), u64_at(r, 16))).collect();
        let mut order = Vec::with_capacity(lines);
        let mut by_line = HashTable::with_capacity(lines);
        for record in rest.chunks_exact(ORDER_BYTES) {
            let (line, tag) = (u64_at(record, 0), u32_at(record, 8));
            let holds = if tag & INELIGIBLE != 0 { tag & !(INELIGIBLE | 1) == 0 } else { entries.get(tag as usize).is_some_and(|e| e.2 == line) };
            if line == 0 || !holds {
                continue;
            }
            order.push((line, tag));
            let order = &order;
            by_line.insert_unique(line, order.len() as u32 - 1, |&p| order[p as usize].0);
        }
        Some((context, LineCache { entries, order, by_line, ..LineCache::default() }))
    }

    /// Gives `table` the line hashes this cache holds for it; how many entries took one.
    pub fn adopt(&mut self, table: &mut DeviceTable) -> usize {
        self.adopted = Bits::new(self.entries.len());
        table.adopt_lines(&self.entries, &mut self.adopted)
    }

    /// What the line hashing to `line` is known to be, if anything.
    pub fn recognise(&mut self, line: u64) -> Option<Known> {
        let position = match self.order.get(self.cursor) {
            Some((expected, _)) if *expected == line => {
                self.in_order += 1;
                self.cursor
            }
            _ => *self.by_line.find(line, |&p| self.order[p as usize].0 == line)? as usize,
        };
        self.cursor = position + 1;
        match self.order[position].1 {
            tag if tag & INELIGIBLE != 0 => Some(Known::Ineligible(tag & 1 != 0)),
            entry => self.adopted.get(entry).then_some(Known::Device(entry)),
        }
    }

    /// Whether every line listed was met, in order, and nothing else: the next cache would be this one.
    pub fn met_exactly(&self, lines: u64) -> bool {
        self.in_order == self.order.len() && lines == self.order.len() as u64
    }

    /// Replaces the cache with `table`'s layout and the input's `order` (entry numbers of `table`,
    /// or ineligible tags); failures are ignored (it is only a cache).
    pub fn save(dir: &Path, context: u64, table: &DeviceTable, order: &[(u64, u32)]) {
        let temp = dir.join(format!("{FILE}.tmp"));
        let written = (|| -> std::io::Result<()> {
            let layout = table.layout();
            let count = layout.len();
            let mut body = Vec::with_capacity(count * ENTRY_BYTES + order.len() * ORDER_BYTES);
            for (key, hash, line) in layout {
                body.extend_from_slice(&key.to_le_bytes());
                body.extend_from_slice(&hash.to_le_bytes());
                body.extend_from_slice(&line.to_le_bytes());
            }
            for (line, tag) in order {
                body.extend_from_slice(&line.to_le_bytes());
                body.extend_from_slice(&tag.to_le_bytes());
            }
            let mut out = BufWriter::new(std::fs::File::create(&temp)?);
            writeln!(out, "{FORMAT} {context:016x} {count} {} {:016x}", order.len(), xxhash_rust::xxh3::xxh3_64(&body))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn written() -> (tempfile::TempDir, DeviceTable) {
        let dir = tempfile::tempdir().unwrap();
        let mut table = DeviceTable::default();
        table.insert("GUID:ÅÄÖ-1", 7, 0x0123_4567_89ab_cdef);
        table.insert("GUID:2", 8, 0x7777);
        table.insert("GUID:gone", 9, 5);
        table.remove("GUID:gone");
        // Input order: device 1, an ineligible line (membership told), device 0; and a line whose
        // entry does not hold it, which the reader drops.
        LineCache::save(dir.path(), 42, &table, &[(0x7777, 1), (77, INELIGIBLE | 1), (0x0123_4567_89ab_cdef, 0), (5, 2)]);
        (dir, table)
    }

    #[test]
    fn round_trip_in_order_and_out_of_order() {
        let (dir, _) = written();
        let (context, mut cache) = LineCache::read(dir.path()).expect("read back");
        assert_eq!((context, cache.order.len()), (42, 3));
        let mut fresh = DeviceTable::default();
        fresh.insert("GUID:ÅÄÖ-1", 7, 0);
        fresh.insert("GUID:2", 8, 0);
        assert_eq!(cache.adopt(&mut fresh), 2);
        assert_eq!(cache.recognise(0x7777), Some(Known::Device(1)));
        assert_eq!(cache.recognise(77), Some(Known::Ineligible(true)));
        assert_eq!(cache.recognise(0x0123_4567_89ab_cdef), Some(Known::Device(0)));
        assert!(cache.met_exactly(3));
        // Out of order, and unknown lines.
        assert_eq!(cache.recognise(0x7777), Some(Known::Device(1)));
        assert_eq!(cache.recognise(5), None);
        assert_eq!(cache.recognise(12345), None);
        assert!(!cache.met_exactly(5), "five lines met, two of them out of order");
    }

    #[test]
    fn a_changed_device_is_not_recognised() {
        let (dir, _) = written();
        let (_, mut cache) = LineCache::read(dir.path()).expect("read back");
        let mut fresh = DeviceTable::default();
        fresh.insert("GUID:ÅÄÖ-1", 7, 0);
        fresh.insert("GUID:2", 99, 0); // changed since: its line is not adopted
        assert_eq!(cache.adopt(&mut fresh), 1);
        assert_eq!(cache.recognise(0x7777), None);
        assert_eq!(cache.recognise(0x0123_4567_89ab_cdef), Some(Known::Device(0)));
    }

    #[test]
    fn damage_is_not_used() {
        let (dir, _) = written();
        let bytes = std::fs::read(dir.path().join(FILE)).unwrap();
        let text_end = bytes.iter().position(|b| *b == b'\n').unwrap();
        let header = String::from_utf8(bytes[..text_end].to_vec()).unwrap();
        let mut huge = header.replacen(" 3 4 ", " 72567767433232 4 ", 1).into_bytes();
        assert_ne!(huge, header.as_bytes());
        huge.extend_from_slice(&bytes[text_end..]);
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        // Torn (a byte short), a flipped byte, a huge count: not used.
        for damaged in [bytes[..bytes.len() - 1].to_vec(), flipped, huge] {
            std::fs::write(dir.path().join(FILE), damaged).unwrap();
            assert!(LineCache::read(dir.path()).is_none());
        }
    }
}
