//! The local sync state of one hierarchy: what the cloud has acknowledged (SMSID → content hash),
//! the scope it was uploaded under, the last sync, and whether a full sync is unfinished.
//!
//! Files in `<stateDir>/<hierarchyId>/` (docs/SYNC.md):
//! * `DeviceSync.state` — the snapshot: a first line `{"format":2,"checksum":"<xxh3>"}` whose
//!   checksum covers everything after it, a JSON header line (scope, last sync, device count), then
//!   one `smsId<TAB>hash` line per device. Replaced atomically (temp file, fsync, rename, fsync of
//!   the folder) once per run. Format 1 (header and body checksum on one line, the header itself
//!   unchecked) is still read. No count read from a file is trusted before it is checked against the
//!   file's size: a damaged file costs a warning and a full sync, never the host process.
//! * `DeviceSync.journal` — one line per acknowledged batch (and per run start and end), each
//!   prefixed with its own checksum and fsynced, so committing a batch costs one small append
//!   instead of rewriting 175,000 entries. Replayed on open; a torn last line (a crash during the
//!   append) is ignored, since its batch was never recorded and is simply uploaded again.
//! * `DeviceSync.lock` — held (advisory lock) for as long as the store is open; holds the owner's pid.
//!
//! A damaged snapshot or journal is set aside as `*.corrupt-<time>`, the state starts empty and the
//! store says so in `warnings`: the next run is a full sync, which makes the cloud exact again.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::linecache::LineCache;
use super::table::DeviceTable;
use crate::error::{Error, ErrorKind, Result};

const FORMAT: u32 = 2;
/// The shortest device line: a one-character SMSID, a tab, 16 hex digits, a newline.
const MIN_DEVICE_LINE: usize = 19;
const SNAPSHOT: &str = "DeviceSync.state";
const JOURNAL: &str = "DeviceSync.journal";
const LOCK: &str = "DeviceSync.lock";
/// The hash of a device the state records without its record (a skipped record the cloud holds):
/// no record hashes to it in practice, so its next good record is sent.
pub const KEPT_UNKNOWN: u64 = 0;
/// This site instance's id (a UUID): the gateway binds a hierarchy's uploads to one instance.
const INSTANCE: &str = "DeviceSync.instance";
/// The journal is folded into the snapshot beyond this size (or 16 bytes per device, if more).
const COMPACT_JOURNAL_BYTES: u64 = 1 << 20;

/// The last completed sync, as reported by `Get-TenantAttachStatus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastSync {
    pub sync_id: String,
    pub kind: String,
    pub completed_date_time: String,
    pub uploaded: u64,
    pub deleted: u64,
    pub device_count: u64,
}

/// What the store knows.
#[derive(Clone, Debug, Default)]
pub struct SyncState {
    pub tenant_id: Option<String>,
    /// The gateway's `uploadScope` the devices were uploaded under.
    pub scope: Value,
    pub scope_version: u64,
    pub last_sync: Option<LastSync>,
    /// A full sync that started and did not finish: the next run must be full.
    pub full_sync_in_progress: Option<String>,
    /// The baseline: the last full sync this state completed (only a completed full sync sets
    /// the tenant, scope, epoch and generation above and below). `None`: the next run is full.
    pub baseline: Option<String>,
    /// The gateway's onboarding epoch and full-sync generation when that full sync completed.
    pub epoch: Option<String>,
    pub generation: Option<u64>,
    /// The site instance id as the last snapshot recorded it (checksummed, unlike the
    /// `DeviceSync.instance` file it repairs).
    pub instance_id: Option<String>,
    /// SMSID → xxh3 of the uploaded JSON, for every device the cloud acknowledged.
    pub devices: DeviceTable,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    format: u32,
    hierarchy_id: String,
    tenant_id: Option<String>,
    scope: Value,
    scope_version: u64,
    last_sync: Option<LastSync>,
    full_sync_in_progress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    baseline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epoch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generation: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance_id: Option<String>,
    devices: u64,
    /// Format 1 only: the body's checksum (format 2 puts one over header and body on the first line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
}

/// The first line of a format-2 snapshot.
#[derive(Serialize, Deserialize)]
struct Seal {
    format: u32,
    checksum: String,
}

/// One journal line.
#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "camelCase")]
enum JournalRecord {
    #[serde(rename_all = "camelCase")]
    Begin { sync_id: String, kind: String, tenant_id: Option<String>, scope: Value, scope_version: u64 },
    #[serde(rename_all = "camelCase")]
    Batch {
        sync_id: String,
        sequence: u64,
        upserts: Vec<(String, u64)>,
        deletions: Vec<String>,
        /// Devices a full sync listed without sending (a record unreadable this time): kept.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        keep: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    End {
        sync_id: String,
        last_sync: LastSync,
        full: bool,
        /// What the gateway answered to the final batch of a full sync: the baseline's epoch and generation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generation: Option<u64>,
    },
}

/// What the gateway said of the hierarchy when a full sync completed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baseline {
    pub epoch: Option<String>,
    pub generation: Option<u64>,
}

pub struct StateStore {
    dir: PathBuf,
    hierarchy_id: String,
    _lock: File,
    journal: File,
    /// The devices sent by the full sync in progress (replayed or live) are marked in the table:
    /// they survive its final sweep.
    state: SyncState,
    warnings: Vec<String>,
    line_cache: super::linecache::Pending,
    instance_id: String,
}

impl StateStore {
    /// Opens (creating when new) and locks the state of `hierarchy_id` under `state_dir`. Another
    /// process holding it gives `StateLocked` at once, naming its pid: a sync run takes minutes at
    /// most, and a scheduled task that finds the previous run still going should skip, not queue.
    /// Also starts reading the line cache an upload uses, on another thread.
    pub fn open(state_dir: &Path, hierarchy_id: &str) -> Result<StateStore> {
        Self::open_with(state_dir, hierarchy_id, true)
    }

    /// Whether `state_dir` holds a sync state of `hierarchy_id`: a snapshot, a journal that
    /// recorded something (reading the status or a dry run leaves an empty one: not a state), or a
    /// damaged one set aside (this server's state, repaired by a full sync checked against the cloud).
    pub fn exists(state_dir: &Path, hierarchy_id: &str) -> bool {
        let dir = state_dir.join(hierarchy_id);
        let set_aside = |entry: std::fs::DirEntry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            [SNAPSHOT, JOURNAL].iter().any(|f| name.starts_with(&format!("{f}.corrupt-")))
        };
        dir.join(SNAPSHOT).exists()
            || std::fs::metadata(dir.join(JOURNAL)).is_ok_and(|m| m.len() > 0)
            || std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.any(|e| e.is_ok_and(set_aside)))
    }

    /// As [`open`](Self::open), without the line cache: for reading the state or resetting it.
    pub fn open_without_line_cache(state_dir: &Path, hierarchy_id: &str) -> Result<StateStore> {
        Self::open_with(state_dir, hierarchy_id, false)
    }

    fn open_with(state_dir: &Path, hierarchy_id: &str, line_cache: bool) -> Result<StateStore> {
        let dir = state_dir.join(hierarchy_id);
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create the sync state folder", &dir, &e))?;
        let lock = lock(&dir.join(LOCK), hierarchy_id)?;
        // Joined when dropped, also when this open fails below.
        let line_cache = if line_cache { LineCache::read_in_background(&dir) } else { super::linecache::Pending::none() };
        let mut warnings = Vec::new();
        let mut state = match read_snapshot(&dir.join(SNAPSHOT), hierarchy_id) {
            Ok(Some(state)) => state,
            Ok(None) => SyncState::default(),
            Err(Damage::Newer(message)) => return Err(Error::new(ErrorKind::StateCorrupt, message)),
            Err(Damage::Corrupt(why)) => {
                warnings.push(set_aside(&dir, SNAPSHOT, &why)?);
                set_aside(&dir, JOURNAL, "it belongs to the damaged snapshot").ok();
                SyncState::default()
            }
        };
        let mut torn_at = None;
        match replay(&dir.join(JOURNAL), &mut state) {
            Ok(cut) => torn_at = cut,
            Err(why) => {
                warnings.push(set_aside(&dir, JOURNAL, &why)?);
                set_aside(&dir, SNAPSHOT, "its journal was damaged").ok();
                state = SyncState::default();
            }
        }
        let instance_id = instance_id(&dir, state.instance_id.as_deref())?;
        state.instance_id = Some(instance_id.clone());
        let journal = OpenOptions::new().create(true).append(true).open(dir.join(JOURNAL)).map_err(|e| io_error("open the sync journal", &dir, &e))?;
        if let Some(len) = torn_at {
            // The torn record's batch was never recorded (it is simply sent again): cut it off.
            journal.set_len(len).and_then(|_| journal.sync_all()).map_err(|e| io_error("cut the torn end of the sync journal", &dir, &e))?;
        }
        Ok(StateStore { dir, hierarchy_id: hierarchy_id.to_owned(), _lock: lock, journal, state, warnings, line_cache, instance_id })
    }

    pub fn state(&self) -> &SyncState {
        &self.state
    }

    /// Problems found and repaired when opening (a damaged file set aside): reported to the caller.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The NDJSON line cache read alongside the state, if it was built under `context`, with its
    /// line hashes adopted by the device table.
    pub(crate) fn take_line_cache(&mut self, context: u64) -> LineCache {
        let mut cache = std::mem::replace(&mut self.line_cache, super::linecache::Pending::none()).take(context);
        cache.adopt(&mut self.state.devices);
        cache
    }

    /// Records that the NDJSON line hashing to `line` gives entry `entry` exactly as acknowledged
    /// (kept in memory for the next line cache; not part of the state).
    pub(crate) fn note_line(&mut self, entry: u32, line: u64) {
        self.state.devices.set_line(entry, line);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The id of this site instance (this state folder), made when the folder was first used:
    /// the gateway lets one instance upload a hierarchy at a time.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Records the start of a run. A full run forgets nothing yet: its final batch's sweep does.
    pub fn begin(&mut self, sync_id: &str, kind: &str, tenant_id: Option<&str>, scope: &Value, scope_version: u64) -> Result<()> {
        self.begin_with(sync_id, kind, tenant_id, scope, scope_version, true)
    }

    /// As [`begin`](Self::begin); not `durable` for a run that sent nothing and records its end
    /// next: the end's flush makes both durable (one fsync instead of two).
    pub(crate) fn begin_with(&mut self, sync_id: &str, kind: &str, tenant_id: Option<&str>, scope: &Value, scope_version: u64, durable: bool) -> Result<()> {
        let record = JournalRecord::Begin {
            sync_id: sync_id.to_owned(),
            kind: kind.to_owned(),
            tenant_id: tenant_id.map(str::to_owned),
            scope: scope.clone(),
            scope_version,
        };
        self.append_with(&record, durable)?;
        apply(&mut self.state, record, None);
        Ok(())
    }

    /// Records a batch the cloud acknowledged; durable when this returns.
    pub fn commit_batch(&mut self, sync_id: &str, sequence: u64, upserts: Vec<(String, u64)>, deletions: Vec<String>) -> Result<()> {
        self.commit_batch_lines(sync_id, sequence, upserts, deletions, Vec::new(), &[]).map(drop)
    }

    /// As [`commit_batch`](Self::commit_batch), with the hash of the NDJSON line each upsert came
    /// from (0 or missing: not from a line), kept in memory for the next line cache; the entry of
    /// each upsert, in order.
    pub(crate) fn commit_batch_lines(
        &mut self,
        sync_id: &str,
        sequence: u64,
        upserts: Vec<(String, u64)>,
        deletions: Vec<String>,
        keep: Vec<String>,
        lines: &[u64],
    ) -> Result<Vec<u32>> {
        let record = JournalRecord::Batch { sync_id: sync_id.to_owned(), sequence, upserts, deletions, keep };
        self.append(&record)?;
        let mut entries = Vec::new();
        apply(&mut self.state, record, Some((lines, &mut entries)));
        Ok(entries)
    }

    /// Records the end of a run (for a full run: the cloud swept what it did not mention, and so
    /// does the state), then folds the journal into a new snapshot.
    /// When the snapshot was rewritten, the table is in the snapshot's sorted layout now: the new
    /// number of each old entry (`u32::MAX`: gone).
    pub fn finish(&mut self, sync_id: &str, last_sync: LastSync, full: bool) -> Result<Option<Vec<u32>>> {
        self.finish_with(sync_id, last_sync, full, Baseline::default())
    }

    /// As [`finish`](Self::finish), with the epoch and generation the gateway answered to a full
    /// sync's final batch: the baseline the next runs are checked against.
    pub fn finish_with(&mut self, sync_id: &str, last_sync: LastSync, full: bool, baseline: Baseline) -> Result<Option<Vec<u32>>> {
        let record = JournalRecord::End { sync_id: sync_id.to_owned(), last_sync, full, epoch: baseline.epoch, generation: baseline.generation };
        self.append(&record)?;
        apply(&mut self.state, record, None);
        // Folding rewrites every entry: worth it after a full sync or once the journal has grown;
        // a small journal (a no-change or small delta run) is cheaper to replay on the next open.
        let journal_bytes = self.journal.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        if full || journal_bytes > COMPACT_JOURNAL_BYTES.max(self.state.devices.len() as u64 * 16) {
            return self.compact().map(Some);
        }
        Ok(None)
    }

    /// Forgets everything (the hierarchy was offboarded): the next upload is a full sync.
    pub fn reset(&mut self) -> Result<()> {
        self.state = SyncState::default();
        self.line_cache = super::linecache::Pending::none();
        LineCache::remove(&self.dir);
        self.compact().map(drop)
    }

    /// Writes the snapshot atomically, then empties the journal it now contains; the table's new
    /// numbering (see [`DeviceTable::compacted`]).
    fn compact(&mut self) -> Result<Vec<u32>> {
        let path = self.dir.join(SNAPSHOT);
        let temp = self.dir.join(format!("{SNAPSHOT}.tmp"));
        let io = |what: &str, e: std::io::Error| io_error(what, &path, &e);
        // The table takes the snapshot's layout (sorted, no tombstones): the layout the next open
        // reads, which the line cache written after this run must match.
        let (devices, remap) = self.state.devices.compacted();
        self.state.devices = devices;
        let header = Header {
            format: FORMAT,
            hierarchy_id: self.hierarchy_id.clone(),
            tenant_id: self.state.tenant_id.clone(),
            scope: self.state.scope.clone(),
            scope_version: self.state.scope_version,
            last_sync: self.state.last_sync.clone(),
            full_sync_in_progress: self.state.full_sync_in_progress.clone(),
            baseline: self.state.baseline.clone(),
            epoch: self.state.epoch.clone(),
            generation: self.state.generation,
            instance_id: Some(self.instance_id.clone()),
            devices: self.state.devices.len() as u64,
            checksum: None,
        };
        let mut sealed = serde_json::to_vec(&header).map_err(|e| Error::internal(format!("cannot serialise the sync state: {e}")))?;
        sealed.push(b'\n');
        // The seal has a fixed width: it is written first with a zero checksum, the header and the
        // device lines are streamed and hashed (no 10 MB copy of the body in memory), then the
        // seal is written again with the checksum.
        let seal = |checksum: u64| serde_json::to_vec(&Seal { format: FORMAT, checksum: format!("{checksum:016x}") });
        let seal_json = |checksum| seal(checksum).map_err(|e| Error::internal(format!("cannot serialise the sync state: {e}")));
        {
            let file = File::create(&temp).map_err(|e| io("create the sync state", e))?;
            let mut out = BufWriter::with_capacity(1 << 16, file);
            let mut hasher = xxhash_rust::xxh3::Xxh3::new();
            hasher.update(&sealed);
            out.write_all(&seal_json(0)?).and_then(|_| out.write_all(b"\n")).and_then(|_| out.write_all(&sealed)).map_err(|e| io("write the sync state", e))?;
            let mut line = Vec::with_capacity(128);
            for (sms_id, hash) in self.state.devices.iter() {
                line.clear();
                // SMSIDs never hold control characters (the inventory refuses them).
                writeln!(line, "{sms_id}\t{hash:016x}").map_err(|e| io("write the sync state", e))?;
                hasher.update(&line);
                out.write_all(&line).map_err(|e| io("write the sync state", e))?;
            }
            let mut file = out.into_inner().map_err(|e| io("write the sync state", e.into_error()))?;
            let final_seal = seal_json(hasher.digest())?;
            file.rewind().and_then(|_| file.write_all(&final_seal)).map_err(|e| io("write the sync state", e))?;
            file.sync_all().map_err(|e| io("flush the sync state", e))?;
        }
        std::fs::rename(&temp, &path).map_err(|e| io("replace the sync state", e))?;
        sync_dir(&self.dir);
        self.journal.set_len(0).and_then(|_| self.journal.sync_all()).map_err(|e| io("empty the sync journal", e))?;
        Ok(remap)
    }

    fn append(&mut self, record: &JournalRecord) -> Result<()> {
        self.append_with(record, true)
    }

    fn append_with(&mut self, record: &JournalRecord, durable: bool) -> Result<()> {
        let json = serde_json::to_string(record).map_err(|e| Error::internal(format!("cannot serialise a journal record: {e}")))?;
        let line = format!("{:016x} {json}\n", xxhash_rust::xxh3::xxh3_64(json.as_bytes()));
        let path = self.dir.join(JOURNAL);
        self.journal
            .write_all(line.as_bytes())
            .and_then(|_| if durable { self.journal.sync_data() } else { Ok(()) })
            .map_err(|e| io_error("record an acknowledged batch in", &path, &e))
    }
}

/// Applies one record to the state, live or replayed: the same records in the same order give the
/// same table layout. `live` (live runs only): the NDJSON line hash of each upsert, when known, and
/// where the entry of each upsert is noted.
fn apply(state: &mut SyncState, record: JournalRecord, live: Option<(&[u64], &mut Vec<u32>)>) {
    match record {
        JournalRecord::Begin { sync_id, kind, tenant_id, scope, scope_version } => {
            // Only a full sync sets the baseline: a delta runs under it, and a partial run (or
            // a failed one) on a fresh state leaves the next automatic run a full sync.
            if kind == "full" {
                state.tenant_id = tenant_id;
                state.scope = scope;
                state.scope_version = scope_version;
                state.full_sync_in_progress = Some(sync_id);
                state.baseline = None;
                state.devices.clear_mentioned();
            }
        }
        JournalRecord::Batch { sync_id, upserts, deletions, keep, .. } => {
            let full = state.full_sync_in_progress.as_deref() == Some(sync_id.as_str());
            let (lines, mut entries) = match live {
                Some((lines, entries)) => (lines, Some(entries)),
                None => (&[][..], None),
            };
            for (n, (sms_id, hash)) in upserts.iter().enumerate() {
                let entry = state.devices.insert(sms_id, *hash, lines.get(n).copied().unwrap_or(0));
                if full {
                    state.devices.mark_mentioned(entry);
                }
                if let Some(entries) = entries.as_mut() {
                    entries.push(entry);
                }
            }
            for sms_id in deletions {
                state.devices.remove(sms_id.as_str());
            }
            if full {
                for sms_id in keep {
                    // (One the state does not know is one the cloud holds: recorded with no hash.)
                    let entry = match state.devices.find(&sms_id) {
                        Some(entry) => entry,
                        None => state.devices.insert(&sms_id, KEPT_UNKNOWN, 0),
                    };
                    state.devices.mark_mentioned(entry);
                }
            }
        }
        JournalRecord::End { sync_id, last_sync, full, epoch, generation } => {
            if full && state.full_sync_in_progress.as_deref() == Some(sync_id.as_str()) {
                state.devices.retain_mentioned();
                state.full_sync_in_progress = None;
                state.baseline = Some(sync_id);
                state.epoch = epoch;
                state.generation = generation;
            }
            state.last_sync = Some(last_sync);
        }
    }
}

enum Damage {
    /// Written by a newer version: not ours to discard.
    Newer(String),
    Corrupt(String),
}

fn read_snapshot(path: &Path, hierarchy_id: &str) -> std::result::Result<Option<SyncState>, Damage> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Damage::Corrupt(format!("it cannot be read: {e}"))),
    };
    parse_snapshot(&bytes, hierarchy_id, &path.display().to_string())
}

/// The first line of `bytes` (without its newline) and the rest; `None` without a newline.
fn first_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|b| *b == b'\n')?;
    Some((&bytes[..end], &bytes[end + 1..]))
}

fn xxh3_of(parts: &[&[u8]]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    parts.iter().for_each(|p| hasher.update(p));
    hasher.digest()
}

/// A snapshot's bytes as state. Every check happens before anything is sized from the file.
fn parse_snapshot(bytes: &[u8], hierarchy_id: &str, shown: &str) -> std::result::Result<Option<SyncState>, Damage> {
    let damaged = |why: &str| Damage::Corrupt(why.to_owned());
    let (first, rest) = first_line(bytes).ok_or_else(|| damaged("it has no header line"))?;
    let format = serde_json::from_slice::<Value>(first).ok().and_then(|v| v.get("format").and_then(Value::as_u64));
    if let Some(f) = format.filter(|f| *f > FORMAT as u64) {
        return Err(Damage::Newer(format!("the sync state {shown} has format {f}, written by a newer version of tenant-attach; use that version")));
    }
    let (header, body) = match format {
        Some(1) => {
            let header: Header = serde_json::from_slice(first).map_err(|e| Damage::Corrupt(format!("its header is damaged ({e})")))?;
            if Some(format!("{:016x}", xxh3_of(&[rest]))) != header.checksum {
                return Err(damaged("its checksum does not match its content"));
            }
            (header, rest)
        }
        Some(2) => {
            let seal: Seal = serde_json::from_slice(first).map_err(|e| Damage::Corrupt(format!("its first line is damaged ({e})")))?;
            if format!("{:016x}", xxh3_of(&[rest])) != seal.checksum {
                return Err(damaged("its checksum does not match its content"));
            }
            let (header, body) = first_line(rest).ok_or_else(|| damaged("it has no header"))?;
            (serde_json::from_slice(header).map_err(|e| Damage::Corrupt(format!("its header is damaged ({e})")))?, body)
        }
        _ => return Err(damaged("its first line names no format")),
    };
    if header.hierarchy_id != hierarchy_id {
        return Err(Damage::Corrupt(format!("it belongs to hierarchy {}", header.hierarchy_id)));
    }
    // The count sizes the map: it must fit in the body (a damaged count must not ask for terabytes).
    if header.devices > (body.len() / MIN_DEVICE_LINE) as u64 {
        return Err(Damage::Corrupt(format!("its header counts {} devices, more than its {} bytes can hold", header.devices, body.len())));
    }
    let text = std::str::from_utf8(body).map_err(|_| damaged("it is not UTF-8"))?;
    let mut devices = DeviceTable::with_capacity(header.devices as usize, body.len());
    for line in text.lines() {
        let (sms_id, hash) = device_line(line).ok_or_else(|| Damage::Corrupt(format!("a device line is damaged: {line:.80}")))?;
        devices.push_sorted(sms_id, hash);
    }
    if devices.len() as u64 != header.devices {
        return Err(Damage::Corrupt(format!("it lists {} devices, its header says {}", devices.len(), header.devices)));
    }
    Ok(Some(SyncState {
        tenant_id: header.tenant_id,
        scope: header.scope,
        scope_version: header.scope_version,
        last_sync: header.last_sync,
        full_sync_in_progress: header.full_sync_in_progress,
        baseline: header.baseline,
        epoch: header.epoch,
        generation: header.generation,
        instance_id: header.instance_id,
        devices,
    }))
}

/// `smsId<TAB>hash` (16 hex digits, as written; any other count of digits as format 1 allowed).
fn device_line(line: &str) -> Option<(&str, u64)> {
    let (id, hash) = device_line_parts(line)?;
    (id.len() <= super::table::MAX_SMS_ID_BYTES).then_some((id, hash))
}

fn device_line_parts(line: &str) -> Option<(&str, u64)> {
    let bytes = line.as_bytes();
    // The common case, read from the end without searching: a tab, then 16 digits.
    if bytes.len() > 17 && bytes[bytes.len() - 17] == b'\t' {
        let (id, digits) = (&line[..line.len() - 17], &bytes[bytes.len() - 16..]);
        let hash = digits.iter().try_fold(0u64, |v, d| Some(v << 4 | (*d as char).to_digit(16)? as u64))?;
        return (!id.is_empty() && !id.contains('\t')).then_some((id, hash));
    }
    line.split_once('\t').filter(|(id, _)| !id.is_empty()).and_then(|(id, hash)| Some((id, u64::from_str_radix(hash, 16).ok()?)))
}

/// Replays the journal; a damaged line other than the last is an error (the last may be torn).
/// Returns the length of the journal up to its last good line when a torn tail was dropped: the
/// file must be cut there before anything is appended, or the next record would join the torn
/// bytes and the whole journal would read as damaged next time.
fn replay(path: &Path, state: &mut SyncState) -> std::result::Result<Option<u64>, String> {
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("it cannot be read: {e}")),
    };
    let mut start = 0;
    let mut number = 0;
    while start < text.len() {
        let end = text[start..].iter().position(|b| *b == b'\n').map(|i| start + i);
        let line = &text[start..end.unwrap_or(text.len())];
        let next = end.map_or(text.len(), |e| e + 1);
        if line.is_empty() {
            start = next;
            continue;
        }
        number += 1;
        let last = text[next..].iter().all(|b| *b == b'\n');
        match parse_journal_line(line) {
            Some(record) if end.is_some() => apply(state, record, None),
            _ if last => return Ok(Some(start as u64)),
            _ => return Err(format!("line {number} is damaged")),
        }
        start = next;
    }
    Ok(None)
}

fn parse_journal_line(line: &[u8]) -> Option<JournalRecord> {
    let text = std::str::from_utf8(line).ok()?;
    let (checksum, json) = text.split_once(' ')?;
    let record: JournalRecord = (format!("{:016x}", xxhash_rust::xxh3::xxh3_64(json.as_bytes())) == checksum).then(|| serde_json::from_str(json).ok())??;
    // An SMSID longer than any the inventory accepts is damage, not a device.
    let too_long = |id: &String| id.len() > super::table::MAX_SMS_ID_BYTES;
    match &record {
        JournalRecord::Batch { upserts, deletions, keep, .. } if upserts.iter().any(|(id, _)| too_long(id)) || deletions.iter().chain(keep).any(too_long) => {
            None
        }
        _ => Some(record),
    }
}

/// The instance id kept in `dir`. The snapshot's copy (`recorded`, checksummed) wins over a file
/// that is missing, damaged or says otherwise, and the file is written again; without either, a
/// new id is made (atomically). A damaged state set aside keeps its instance through the file, a
/// damaged file through the snapshot; a wiped folder loses it.
fn instance_id(dir: &Path, recorded: Option<&str>) -> Result<String> {
    let path = dir.join(INSTANCE);
    let in_file = std::fs::read_to_string(&path).ok().and_then(|text| uuid::Uuid::parse_str(text.trim()).ok()).map(|id| id.to_string());
    let recorded = recorded.and_then(|r| uuid::Uuid::parse_str(r).ok()).map(|id| id.to_string());
    match (in_file, recorded) {
        (Some(file), Some(snapshot)) if file == snapshot => return Ok(file),
        (Some(file), None) => return Ok(file),
        (_, Some(snapshot)) => return write_instance(dir, &path, snapshot),
        (None, None) => {}
    }
    write_instance(dir, &path, uuid::Uuid::new_v4().to_string())
}

fn write_instance(dir: &Path, path: &Path, id: String) -> Result<String> {
    let temp = dir.join(format!("{INSTANCE}.tmp"));
    std::fs::write(&temp, format!("{id}\n"))
        .and_then(|_| File::open(&temp).and_then(|f| f.sync_all()))
        .and_then(|_| std::fs::rename(&temp, path))
        .map_err(|e| io_error("write the site instance id", path, &e))?;
    sync_dir(dir);
    Ok(id)
}

/// Moves a damaged file aside (never deletes it) and says what happened.
fn set_aside(dir: &Path, name: &str, why: &str) -> Result<String> {
    let path = dir.join(name);
    let aside = dir.join(format!("{name}.corrupt-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    std::fs::rename(&path, &aside).map_err(|e| io_error("set aside the damaged", &path, &e))?;
    Ok(format!("the sync state file {} was damaged ({why}); it was kept as {} and the next upload is a full sync", path.display(), aside.display()))
}

fn lock(path: &Path, hierarchy_id: &str) -> Result<File> {
    let mut file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path).map_err(|e| io_error("open the lock file", path, &e))?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.set_len(0).and_then(|_| file.rewind()).and_then(|_| write!(file, "{}", std::process::id()));
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            // The owner writes its pid just after taking the lock: give it a moment to appear.
            let mut owner = String::new();
            for _ in 0..20 {
                owner.clear();
                let _ = file.rewind().and_then(|_| file.read_to_string(&mut owner));
                if !owner.trim().is_empty() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let owner = owner.trim();
            let who = if owner.is_empty() { "another process".to_owned() } else { format!("another process (pid {owner})") };
            Err(Error::new(
                ErrorKind::StateLocked,
                format!("the sync state of hierarchy {hierarchy_id} is in use by {who}; wait for that upload to finish, or stop it, then run again"),
            )
            .with_details(serde_json::json!({ "lockFile": path, "pid": owner.parse::<u32>().ok() })))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io_error("lock", path, &e)),
    }
}

/// Makes a rename durable (POSIX); a no-op where folders cannot be opened.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::io(&format!("cannot {what} {}", path.display()), e)
}
