//! The devices of the sync state as one compact table: every SMSID in one byte arena, a fixed-size
//! entry per device (the SMSID's hash, the device hash, the hash of the NDJSON line it came from)
//! and an index of entry numbers. At hierarchy scale (175,000 devices) that is three allocations
//! instead of one per device, a quarter of the memory of a map of boxed strings, and a lookup that
//! touches one index slot and one entry instead of chasing pointers.
//!
//! The index is built on first use: a run that only meets lines the line cache recognises never
//! looks a device up by SMSID, so it never pays for 175,000 index inserts.
//!
//! Entries are never moved while the table lives: an update changes its entry in place, a new device
//! is appended, a removed one becomes a tombstone. So the same snapshot and journal always give the
//! same layout (entry `i` is the same device), which is what lets the line cache be kept as a plain
//! array aligned with the entries (see `linecache`). [`DeviceTable::compacted`] drops tombstones and
//! sorts, as the snapshot is written.

use hashbrown::HashTable;

/// The entry is removed (a tombstone).
const DEAD: u8 = 1;
/// Sent by the full sync in progress: survives its final sweep.
const MENTIONED: u8 = 2;

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Hash of the SMSID (the index's key).
    key: u64,
    /// xxh3 of the device JSON the cloud acknowledged.
    hash: u64,
    /// xxh3 of the NDJSON line that produced exactly that device, or 0 when unknown.
    line: u64,
    start: u32,
    len: u16,
    flags: u8,
}

/// The longest SMSID the table holds, in bytes (the inventory accepts 256 characters): a longer
/// one in a state file is damage.
pub const MAX_SMS_ID_BYTES: usize = 1024;

/// SMSID → device hash (and line hash) for every device the cloud acknowledged.
#[derive(Clone, Default)]
pub struct DeviceTable {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    /// Entry numbers of the live entries by SMSID key; built on first use.
    index: std::sync::OnceLock<HashTable<u32>>,
    live: usize,
}

impl std::fmt::Debug for DeviceTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The hash the index is keyed by (FxHash: a few cycles for an SMSID of 45 bytes).
pub fn key_of(sms_id: &str) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    sms_id.hash(&mut h);
    h.finish()
}

impl DeviceTable {
    /// Room for `devices` entries whose SMSIDs total about `bytes`.
    pub fn with_capacity(devices: usize, bytes: usize) -> Self {
        DeviceTable { arena: Vec::with_capacity(bytes), entries: Vec::with_capacity(devices), index: std::sync::OnceLock::new(), live: 0 }
    }

    fn index(&self) -> &HashTable<u32> {
        self.index.get_or_init(|| {
            let mut index = HashTable::with_capacity(self.live);
            for (i, e) in self.entries.iter().enumerate().filter(|(_, e)| e.flags & DEAD == 0) {
                index.insert_unique(e.key, i as u32, |&j| self.entries[j as usize].key);
            }
            index
        })
    }

    /// The index and the entries, for changing both.
    fn parts_mut(&mut self) -> (&mut HashTable<u32>, &mut Vec<Entry>, &mut Vec<u8>) {
        self.index();
        let index = self.index.get_mut().expect("built just above");
        (index, &mut self.entries, &mut self.arena)
    }

    /// Appends a device read from a snapshot, which lists SMSIDs sorted and once each: while they
    /// come in order, nothing is looked up (the index is built later, if ever); one out of order
    /// (a damaged or hand-made file) is inserted the ordinary way, so a repeated SMSID is still
    /// one device.
    /// Its entry number.
    pub fn push_sorted(&mut self, sms_id: &str, hash: u64) -> u32 {
        let in_order = self.index.get().is_none() && self.entries.last().is_none_or(|last| self.text(last) < sms_id);
        if !in_order {
            return self.insert(sms_id, hash, 0);
        }
        self.live += 1;
        append(&mut self.entries, &mut self.arena, key_of(sms_id), sms_id, hash, 0)
    }

    /// Devices in the table (tombstones not counted).
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Entries including tombstones: the bound of entry numbers.
    pub fn slots(&self) -> usize {
        self.entries.len()
    }

    fn text(&self, e: &Entry) -> &str {
        // Only whole `&str`s are ever copied into the arena.
        std::str::from_utf8(bytes_of(&self.arena, e)).unwrap_or_default()
    }

    /// The entry number of `sms_id`, if the table holds it.
    pub fn find(&self, sms_id: &str) -> Option<u32> {
        self.find_keyed(key_of(sms_id), sms_id)
    }

    fn find_keyed(&self, key: u64, sms_id: &str) -> Option<u32> {
        let (entries, arena) = (&self.entries, &self.arena);
        self.index().find(key, |&i| holds(entries, arena, i, key, sms_id)).copied()
    }

    /// The device hash of `sms_id`.
    pub fn get(&self, sms_id: &str) -> Option<u64> {
        self.find(sms_id).map(|i| self.entries[i as usize].hash)
    }

    pub fn contains(&self, sms_id: &str) -> bool {
        self.find(sms_id).is_some()
    }

    /// Sets `sms_id`'s device hash and line hash (0: unknown), adding it when new; its entry number.
    pub fn insert(&mut self, sms_id: &str, hash: u64, line: u64) -> u32 {
        let key = key_of(sms_id);
        let (index, entries, arena) = self.parts_mut();
        let slot = index.entry(key, |&i| holds(entries, arena, i, key, sms_id), |&j| entries[j as usize].key);
        match slot {
            hashbrown::hash_table::Entry::Occupied(found) => {
                let i = *found.get();
                let e = &mut entries[i as usize];
                e.hash = hash;
                e.line = line;
                i
            }
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                let i = append(entries, arena, key, sms_id, hash, line);
                vacant.insert(i);
                self.live += 1;
                i
            }
        }
    }

    /// Removes `sms_id` (its entry becomes a tombstone).
    pub fn remove(&mut self, sms_id: &str) -> bool {
        let key = key_of(sms_id);
        let (index, entries, arena) = self.parts_mut();
        let found = index.find_entry(key, |&i| holds(entries, arena, i, key, sms_id));
        let Ok(found) = found else { return false };
        let (i, _) = found.remove();
        self.kill(i as usize);
        true
    }

    fn kill(&mut self, i: usize) {
        let e = &mut self.entries[i];
        e.flags = DEAD;
        e.line = 0;
        self.live -= 1;
    }

    /// The SMSID and device hash of entry `i`, unless it is a tombstone.
    pub fn entry(&self, i: u32) -> Option<(&str, u64)> {
        let e = self.entries.get(i as usize)?;
        (e.flags & DEAD == 0).then(|| (self.text(e), e.hash))
    }

    /// The line hash of entry `i` (0: unknown or a tombstone).
    pub fn line(&self, i: u32) -> u64 {
        self.entries.get(i as usize).map_or(0, |e| e.line)
    }

    /// Records that the line hashing to `line` produces entry `i`'s device as it is.
    pub fn set_line(&mut self, i: u32, line: u64) {
        if let Some(e) = self.entries.get_mut(i as usize).filter(|e| e.flags & DEAD == 0) {
            e.line = line;
        }
    }

    /// Live entries: (entry number, SMSID, device hash).
    pub fn iter_numbered(&self) -> impl Iterator<Item = (u32, &str, u64)> + '_ {
        self.entries.iter().enumerate().filter(|(_, e)| e.flags & DEAD == 0).map(|(i, e)| (i as u32, self.text(e), e.hash))
    }

    /// Live entries: (SMSID, device hash).
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.iter_numbered().map(|(_, s, h)| (s, h))
    }

    /// Every entry in layout order, tombstones included: (SMSID key, device hash, line hash), as the
    /// line cache stores them.
    pub fn layout(&self) -> impl ExactSizeIterator<Item = (u64, u64, u64)> + '_ {
        self.entries.iter().map(|e| if e.flags & DEAD == 0 { (e.key, e.hash, e.line) } else { (0, 0, 0) })
    }

    /// Takes the line hashes of a cache written for this very layout: entry `i` gets the cached line
    /// when its SMSID key and device hash are those cached. Anything else stays unknown. The
    /// entries that took one are set in `adopted`.
    pub fn adopt_lines(&mut self, cached: &[(u64, u64, u64)], adopted: &mut Bits) -> usize {
        let mut count = 0;
        for (i, (e, (key, hash, line))) in self.entries.iter_mut().zip(cached).enumerate() {
            if e.flags & DEAD == 0 && e.key == *key && e.hash == *hash && *line != 0 {
                e.line = *line;
                adopted.set(i as u32);
                count += 1;
            }
        }
        count
    }

    /// Forgets every MENTIONED mark (a full sync begins).
    pub fn clear_mentioned(&mut self) {
        self.entries.iter_mut().for_each(|e| e.flags &= !MENTIONED);
    }

    pub fn mark_mentioned(&mut self, i: u32) {
        if let Some(e) = self.entries.get_mut(i as usize) {
            e.flags |= MENTIONED;
        }
    }

    /// Removes every entry not marked MENTIONED (a full sync's final sweep) and clears the marks.
    pub fn retain_mentioned(&mut self) {
        for i in 0..self.entries.len() {
            let e = self.entries[i];
            if e.flags & DEAD == 0 && e.flags & MENTIONED == 0 {
                if let Some(index) = self.index.get_mut() {
                    if let Ok(found) = index.find_entry(e.key, |&j| j as usize == i) {
                        found.remove();
                    }
                }
                self.kill(i);
            }
        }
        self.clear_mentioned();
    }

    /// The same devices sorted by SMSID, without tombstones (the layout of a freshly written
    /// snapshot), and each old entry's new number (`u32::MAX` for a tombstone).
    pub fn compacted(&self) -> (DeviceTable, Vec<u32>) {
        let mut order: Vec<u32> = self.iter_numbered().map(|(i, _, _)| i).collect();
        order.sort_unstable_by(|a, b| self.text(&self.entries[*a as usize]).cmp(self.text(&self.entries[*b as usize])));
        let mut table = DeviceTable::with_capacity(order.len(), self.arena.len());
        let mut remap = vec![u32::MAX; self.entries.len()];
        for old in order {
            let e = self.entries[old as usize];
            let at = table.push_sorted(self.text(&e), e.hash);
            table.set_line(at, e.line);
            remap[old as usize] = at;
        }
        (table, remap)
    }
}

/// The SMSID bytes of `e`.
fn bytes_of<'t>(arena: &'t [u8], e: &Entry) -> &'t [u8] {
    &arena[e.start as usize..e.start as usize + e.len as usize]
}

/// Whether entry `i` is `sms_id` (whose key is `key`).
fn holds(entries: &[Entry], arena: &[u8], i: u32, key: u64, sms_id: &str) -> bool {
    let e = &entries[i as usize];
    e.key == key && bytes_of(arena, e) == sms_id.as_bytes()
}

/// Appends an entry (not indexed); its number.
fn append(entries: &mut Vec<Entry>, arena: &mut Vec<u8>, key: u64, sms_id: &str, hash: u64, line: u64) -> u32 {
    // SMSIDs are at most 256 characters (inventory::MAX_SMS_ID_CHARS), 1,024 bytes; state files
    // holding longer ones are refused as damaged before they get here.
    let len = sms_id.len().min(u16::MAX as usize);
    let start = arena.len() as u32;
    arena.extend_from_slice(&sms_id.as_bytes()[..len]);
    entries.push(Entry { key, hash, line, start, len: len as u16, flags: 0 });
    entries.len() as u32 - 1
}

/// One bit per entry number.
#[derive(Clone, Default)]
pub struct Bits(Vec<u64>);

impl Bits {
    pub fn new(len: usize) -> Bits {
        Bits(vec![0; len.div_ceil(64)])
    }

    /// Sets bit `i`; whether it was set before. Bits beyond the length given are never set.
    pub fn set(&mut self, i: u32) -> bool {
        let (word, bit) = (i as usize / 64, 1u64 << (i % 64));
        match self.0.get_mut(word) {
            Some(w) => {
                let was = *w & bit != 0;
                *w |= bit;
                was
            }
            None => false,
        }
    }

    pub fn get(&self, i: u32) -> bool {
        self.0.get(i as usize / 64).is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_update_remove_and_layout() {
        let mut t = DeviceTable::default();
        assert_eq!(t.insert("GUID:B", 2, 20), 0);
        assert_eq!(t.insert("GUID:Å", 1, 10), 1);
        assert_eq!(t.insert("GUID:B", 3, 0), 0, "an update keeps the entry");
        assert_eq!((t.len(), t.get("GUID:B"), t.get("GUID:Å"), t.line(0), t.line(1)), (2, Some(3), Some(1), 0, 10));
        assert!(t.remove("GUID:B"));
        assert!(!t.remove("GUID:B"));
        assert_eq!((t.len(), t.slots(), t.get("GUID:B"), t.entry(0)), (1, 2, None, None));
        assert_eq!(t.insert("GUID:B", 4, 0), 2, "a removed device comes back as a new entry");
        let (c, remap) = t.compacted();
        assert_eq!(c.iter().collect::<Vec<_>>(), [("GUID:B", 4), ("GUID:Å", 1)]);
        assert_eq!(c.line(1), 10, "line hashes survive compaction");
        assert_eq!(remap, [u32::MAX, 1, 0]);
    }

    #[test]
    fn full_sync_sweep_keeps_what_it_mentioned() {
        let mut t = DeviceTable::default();
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            t.insert(id, i as u64, 0);
        }
        t.clear_mentioned();
        t.mark_mentioned(t.find("b").unwrap());
        t.retain_mentioned();
        assert_eq!(t.iter().collect::<Vec<_>>(), [("b", 1)]);
        assert!(t.find("a").is_none() && t.find("c").is_none());
    }

    #[test]
    fn adopted_lines_need_the_same_device_at_the_same_place() {
        let mut t = DeviceTable::default();
        t.insert("a", 1, 0);
        t.insert("b", 2, 0);
        let cached = [(key_of("a"), 1, 100), (key_of("b"), 9, 200)];
        let mut adopted = Bits::new(2);
        assert_eq!(t.adopt_lines(&cached, &mut adopted), 1);
        assert_eq!((t.line(0), t.line(1), adopted.get(0), adopted.get(1)), (100, 0, true, false));
    }
}
