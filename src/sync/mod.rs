//! The device upload engine: decides full, delta or partial, cuts the run into batches, sends each
//! through an [`Uploader`], and commits to the state only what the cloud acknowledged.
//!
//! One pass over the input, memory bounded by the state (SMSID + hash per device) and one batch in
//! hand: a device is read, checked for eligibility, serialised, hashed and either counted unchanged
//! or added to the batch. Batches are sent one behind, so that the last one can be marked `final`.
//! Deletions (delta only) are known once the input is read: devices in the state that the input did
//! not list as eligible. docs/SYNC.md gives the rules.

pub mod batch;
mod linecache;
pub mod state;
pub mod table;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use serde::Serialize;
use serde_json::{json, Value};

use crate::cmtrace::Logger;
use crate::error::{Error, ErrorKind, Result};
use crate::inventory::{Item, Skipped};
use batch::{Batch, Batcher};
use linecache::{Known, LineCache, FRESH, INELIGIBLE};
use state::{LastSync, StateStore};
use table::Bits;

/// The most skipped records listed one by one in a report (all are counted).
pub const MAX_SKIPPED_LISTED: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Full when needed (first upload, scope change, unfinished full sync, repaired state), else delta.
    Auto,
    /// Full on request: every eligible device is sent, the cloud drops the ones not sent.
    Full,
    /// Only the given devices, changed ones sent, nothing deleted.
    Partial,
}

/// The upload scope chosen at onboarding (the gateway's `uploadScope`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    /// One collection, with its child collections (`collection_tree`: parent → children).
    Collection {
        collection_id: String,
    },
}

impl Scope {
    pub fn from_gateway(value: &Value) -> Result<Scope> {
        match (value.get("kind").and_then(Value::as_str), value.get("collectionId").and_then(Value::as_str)) {
            (Some("all"), _) => Ok(Scope::All),
            (Some("collection"), Some(id)) => Ok(Scope::Collection { collection_id: id.to_owned() }),
            _ => Err(Error::new(ErrorKind::Server, format!("the gateway answered an upload scope this library does not know: {value}"))),
        }
    }

    pub fn to_gateway(&self) -> Value {
        match self {
            Scope::All => json!({ "kind": "all" }),
            Scope::Collection { collection_id } => json!({ "kind": "collection", "collectionId": collection_id }),
        }
    }
}

/// Where the run goes: the onboarded hierarchy as the gateway describes it.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub hierarchy_id: String,
    pub tenant_id: Option<String>,
    pub scope: Scope,
    pub scope_version: u64,
    /// What the gateway holds (`None` where it does not say: a dry run without signing in).
    pub cloud: Option<CloudView>,
}

/// The gateway's own account of the hierarchy, read at the start of every run: the local state
/// is a cache of it, checked against it before anything destructive is decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloudView {
    /// A new id at every onboarding.
    pub epoch: Option<String>,
    /// Completed full syncs of this epoch (0: none).
    pub generation: u64,
    /// Devices the gateway holds for the hierarchy now.
    pub devices: u64,
    /// Devices removed in the last 24 hours without the override (the deletion budget's use).
    pub removed_last_24_hours: u64,
    /// The last upload the gateway completed, and how many devices it removed.
    pub last_sync_id: Option<String>,
    pub last_sync_removed: u64,
}

impl CloudView {
    /// From the gateway's onboarding record; `None` from a gateway that says nothing of its devices.
    pub fn from_onboarding(record: &Value) -> Option<CloudView> {
        let devices = record.get("deviceCount").and_then(Value::as_u64)?;
        Some(CloudView {
            epoch: record.get("epoch").and_then(Value::as_str).filter(|e| !e.is_empty()).map(str::to_owned),
            generation: record.get("generation").and_then(Value::as_u64).unwrap_or(0),
            devices,
            removed_last_24_hours: record.get("removedLast24Hours").and_then(Value::as_u64).unwrap_or(0),
            last_sync_id: record.pointer("/lastSync/syncId").and_then(Value::as_str).map(str::to_owned),
            last_sync_removed: record.pointer("/lastSync/removed").and_then(Value::as_u64).unwrap_or(0),
        })
    }
}

impl Default for Scope {
    fn default() -> Self {
        Scope::All
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub mode: Mode,
    pub dry_run: bool,
    pub max_records: usize,
    pub max_bytes: usize,
    /// Child collections of each collection, to include the members of a scope's children.
    pub collection_tree: HashMap<String, Vec<String>>,
    /// For the report's next run time.
    pub interval_minutes: u32,
    /// The members of the scope's collection (their SMSIDs), as `Get-CMCollectionMember` lists them
    /// (its members include those of the collections limited to it or included by it).
    pub collection_members: Option<HashSet<String>>,
    /// The deletion guard (see [`Guard`]).
    pub guard: Guard,
    /// Move the hierarchy's uploads to this site instance (a server migration): the gateway
    /// otherwise refuses uploads from any instance but the one that uploads it now.
    pub take_over: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Auto,
            dry_run: false,
            max_records: 2_500,
            max_bytes: 4 * 1024 * 1024,
            collection_tree: HashMap::new(),
            interval_minutes: 15,
            collection_members: None,
            guard: Guard::default(),
            take_over: false,
        }
    }
}

/// Protection against accidental mass deletion, as Azure AD Connect's "prevent accidental deletes"
/// (which stops an export deleting more than 500 objects). A run stops before sending anything when
/// its input is empty or holds no eligible device (a full sync of it would remove every device), or
/// when it would delete more than `max_deletions` devices, or more than `max_percent` of the devices
/// the cloud has from this hierarchy once more than [`Guard::SMALL`] would go. `allow` goes ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard {
    pub allow: bool,
    pub max_deletions: u64,
    pub max_percent: u32,
}

impl Default for Guard {
    fn default() -> Self {
        Guard { allow: false, max_deletions: 500, max_percent: 10 }
    }
}

impl Guard {
    /// Deletions never stopped by the share rule: a small lab losing a few devices is ordinary.
    pub const SMALL: u64 = 10;

    /// The most deletions a run may make when the cloud holds `known` devices of the hierarchy.
    pub fn allowed(&self, known: u64) -> u64 {
        if self.allow {
            return u64::MAX;
        }
        let share = known.saturating_mul(u64::from(self.max_percent)) / 100;
        self.max_deletions.min(share.max(Self::SMALL))
    }
}

/// What the cloud answered to one batch it applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    /// Devices the batch removed from the cloud (its deletions, or a full sync's final sweep);
    /// `None` from a gateway that does not say.
    pub removed: Option<u64>,
    /// The onboarding epoch and full-sync generation after the batch (where the gateway says).
    pub epoch: Option<String>,
    pub generation: Option<u64>,
    /// Of the batch's `keep`, the devices the cloud holds (kept by a full sync's sweep).
    pub kept: Vec<String>,
}

/// What sending a batch needs from the caller (HTTP to DevicePost in production).
pub trait Uploader {
    /// Sends one DevicePost body; Ok means the cloud acknowledged (applied) it.
    fn post(&mut self, body: &[u8], sequence: u64, records: usize) -> Result<Ack>;

    /// An uploader that posts from a thread of the run's own while the calling thread reads and
    /// batches the next devices, stopping (as cancelled) once `stop` is set; `None` (the default)
    /// posts on the calling thread. It must never call back into the caller: a host's callbacks
    /// run on the calling thread only.
    fn concurrent<'s>(&'s self, stop: &'s AtomicBool) -> Option<Box<dyn Uploader + Send + 's>> {
        let _ = stop;
        None
    }
}

/// Batches posted and not yet acknowledged, at most: the cloud applies one while the next waits,
/// and the calling thread reads and serialises the devices of the one after.
const BATCHES_IN_FLIGHT: usize = 2;

/// The report of one upload run (`ta_client_sync_devices*`).
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The run's id (a UUID), sent with every batch.
    pub sync_id: String,
    /// `full`, `delta` or `partial`.
    pub kind: &'static str,
    /// Why a full sync was chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Nothing was sent: what a run would upload and delete (`-WhatIf`).
    pub dry_run: bool,
    /// Records read from the input.
    pub considered: u64,
    /// Records that are ConfigMgr clients in the upload scope.
    pub eligible: u64,
    /// Not a client, or outside the upload scope.
    pub ineligible: u64,
    /// Devices uploaded (new or changed).
    pub uploaded: u64,
    /// Devices deleted from the cloud (gone from the input or the scope).
    pub deleted: u64,
    /// Devices the cloud already has as they are.
    pub unchanged: u64,
    /// Records skipped (all of them, while `skipped` lists the first ones).
    pub skipped_count: u64,
    /// The first skipped records, each with its reason.
    pub skipped: Vec<Skipped>,
    /// `DevicePost` batches sent.
    pub batches: u64,
    /// Bytes of device JSON sent.
    pub bytes: u64,
    pub duration_ms: u64,
    /// RFC 3339: when the next run is due.
    pub next_run_time: String,
    pub warnings: Vec<String>,
}

/// What the deletion guard weighs.
struct GuardFigures {
    /// Devices the run would remove from the cloud (at least).
    would_delete: u64,
    /// Devices of the hierarchy: the larger of the local state's and the cloud's count.
    known: u64,
    /// Removed in the last 24 hours without the override (the cloud's count).
    budget_used: u64,
    considered: u64,
    eligible: u64,
}

/// Why the deletion guard stopped a run: the error's details.
fn guard_details(f: &GuardFigures, guard: &Guard) -> Value {
    json!({ "wouldDelete": f.would_delete, "devicesKnown": f.known, "considered": f.considered, "eligible": f.eligible,
        "maxDeletions": guard.max_deletions, "maxDeletionPercent": guard.max_percent, "removedLast24Hours": f.budget_used, "decidedBy": "library" })
}

/// Progress and cancellation of a run.
pub struct Hooks<'a> {
    pub progress: &'a mut dyn FnMut(u64, u64),
    pub cancelled: &'a dyn Fn() -> bool,
    pub logger: Option<&'a Logger>,
}

/// The devices of a run.
pub enum Input<'i> {
    /// Parsed records (a JSON array from a C or C# caller, or a test).
    Items(&'i mut dyn Iterator<Item = Result<Item>>),
    /// NDJSON streamed from a file: lines that are byte for byte what the cloud acknowledged last
    /// time are not parsed again (see `linecache`).
    Ndjson(&'i mut dyn std::io::BufRead),
}

/// Runs one upload. `total` is the number of input records when known (for progress), else 0.
pub fn run(
    store: &mut StateStore,
    input: Input<'_>,
    total: u64,
    target: &Target,
    options: &Options,
    uploader: &mut dyn Uploader,
    hooks: &mut Hooks<'_>,
) -> Result<Report> {
    let stop = AtomicBool::new(false);
    let Some(mut poster) = uploader.concurrent(&stop).filter(|_| !options.dry_run) else {
        return run_with(store, input, total, target, options, Post::Direct(uploader), hooks);
    };
    std::thread::scope(|scope| {
        // Room for every batch allowed in flight: queuing one never blocks the calling thread,
        // which must stay free to ask the caller's cancel callback.
        let (jobs, queued) = mpsc::sync_channel::<Job>(BATCHES_IN_FLIGHT);
        let (answers, answered) = mpsc::channel::<(u64, Result<Ack>)>();
        let stop = &stop;
        let thread = scope.spawn(move || {
            for job in queued {
                let answer = if stop.load(Ordering::SeqCst) {
                    Err(Error::new(ErrorKind::Cancelled, "the upload stopped before this batch was sent; it is sent next run"))
                } else {
                    poster.post(&job.body, job.sequence, job.records)
                };
                if answer.is_err() {
                    stop.store(true, Ordering::SeqCst);
                }
                if answers.send((job.sequence, answer)).is_err() {
                    return;
                }
            }
        });
        let pipeline = Pipeline { jobs: Some(jobs), answered, in_flight: VecDeque::new(), stop };
        let result = run_with(store, input, total, target, options, Post::Pipelined(pipeline), hooks);
        stop.store(true, Ordering::SeqCst);
        match thread.join() {
            Ok(()) => result,
            Err(_) => result.and(Err(Error::internal("the upload's sending thread failed unexpectedly (a bug, please report it)"))),
        }
    })
}

fn run_with<'a>(
    store: &'a mut StateStore,
    input: Input<'_>,
    total: u64,
    target: &'a Target,
    options: &'a Options,
    post: Post<'a>,
    hooks: &'a mut Hooks<'_>,
) -> Result<Report> {
    let mut run = Run::start(store, total, target, options, post, hooks)?;
    let input = match input {
        Input::Items(items) => {
            for item in items {
                run.accept(item?, None)?;
            }
            return run.finish(None, false);
        }
        Input::Ndjson(input) => input,
    };
    let context = cache_context(target, options);
    let cache = run.sender.store.take_line_cache(context);
    let mut cache = if run.full { LineCache::default() } else { cache };
    let mut reader = crate::inventory::NdjsonReader::new(input);
    // Whether the last line read was not JSON at all: with an unterminated last line, the sign
    // of an export cut short.
    let mut last_cut = (false, 0);
    while let Some(next) = reader.next_raw() {
        let (bytes, index, line) = next?;
        if crate::inventory::is_trailer(bytes) {
            continue;
        }
        last_cut = (false, line);
        let line_hash = xxhash_rust::xxh3::xxh3_64(bytes);
        match cache.recognise(line_hash) {
            // A line that produced a device the state holds as it is: unchanged, unless met
            // already in this input (then it is parsed, and reported as a duplicate).
            Some(Known::Device(entry)) if entry < run.known_slots && !run.seen.set(entry) => {
                run.unchanged_known(entry, line_hash);
                continue;
            }
            Some(Known::Ineligible(membership)) => {
                run.ineligible_known(line_hash, membership);
                continue;
            }
            _ => {}
        }
        // A line identical to one parsed before was valid UTF-8; only new lines are checked.
        let item = crate::inventory::parse_line(crate::inventory::line_text(bytes, line)?, index, line);
        last_cut.0 = matches!(&item, Err(s) if s.reason.starts_with(crate::inventory::NOT_JSON));
        run.accept(item, Some(line_hash))?;
    }
    if reader.unterminated() || last_cut.0 {
        // Read to its end, but not whole: nothing is deleted or swept on its word (what was
        // uploaded already only added or updated devices; a full sync stays unfinished).
        let what = if reader.unterminated() { "has no line end" } else { "is not a whole JSON object" };
        return Err(Error::new(
            ErrorKind::InvalidJson,
            format!(
                "the device input is incomplete: its last line (line {}) {what}, so it looks cut short and its missing devices would be \
                 removed from the cloud; nothing was deleted. Export the devices again and upload the new input",
                last_cut.1
            ),
        ));
    }
    let met_exactly = cache.met_exactly(run.sender.order.len() as u64) && run.parsed == 0;
    drop(cache);
    run.finish(Some(context), met_exactly)
}

/// What makes a cached line's eligibility still valid: the scope, the collection tree and the
/// collection's members given apart (a device that leaves the collection keeps its line).
fn cache_context(target: &Target, options: &Options) -> u64 {
    let mut tree: Vec<(&String, &Vec<String>)> = options.collection_tree.iter().collect();
    tree.sort();
    let mut members: Option<Vec<&String>> = options.collection_members.as_ref().map(|m| m.iter().collect());
    if let Some(m) = members.as_mut() {
        m.sort();
    }
    // The library's version too: another version may serialise devices or decide eligibility otherwise.
    let text = serde_json::json!([env!("CARGO_PKG_VERSION"), target.scope.to_gateway(), target.tenant_id, tree, members]).to_string();
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// One upload in progress.
struct Run<'a, 'h> {
    started: std::time::Instant,
    kind: &'static str,
    full: bool,
    sync_id: String,
    total: u64,
    options: &'a Options,
    in_scope: Option<HashSet<&'a str>>,
    /// The state's entries (as the run began) that the input listed as eligible: the deletions
    /// are the rest.
    seen: Bits,
    /// Entries the state had when the run began; later ones were added by this run's batches.
    known_slots: u32,
    /// Devices the state held when the run began.
    known_at_start: u64,
    /// How many of the state's devices the input listed (set bits of `seen`): when all of them,
    /// nothing is to be deleted.
    seen_known: u64,
    /// NDJSON lines parsed (not recognised through the line cache).
    parsed: u64,
    /// Where the device being accepted stands in the order, when it is new to the state.
    position: u32,
    /// Whether the input told collection membership at all (a `CollectionIDs` property, or the
    /// collection's members given apart): a collection scope without it can decide nothing.
    membership_seen: bool,
    batcher: Batcher,
    json: Vec<u8>,
    /// SMSIDs new to the state that a full sync listed in `keep` (skipped records).
    kept: rustc_hash::FxHashSet<Box<str>>,
    /// Devices the state knows that a skipped record kept (listed, though not eligible).
    kept_known: u64,
    sender: Sender<'a>,
    hooks: &'a mut Hooks<'h>,
}

impl<'a, 'h> Run<'a, 'h> {
    fn start(store: &'a mut StateStore, total: u64, target: &'a Target, options: &'a Options, post: Post<'a>, hooks: &'a mut Hooks<'h>) -> Result<Self> {
        let (kind, reason) = choose_kind(store, target, options.mode);
        let sync_id = uuid::Uuid::new_v4().to_string();
        let report = Report {
            sync_id: sync_id.clone(),
            kind,
            reason: reason.clone(),
            dry_run: options.dry_run,
            warnings: store.warnings().to_vec(),
            ..Report::default()
        };
        if let Some(log) = hooks.logger {
            log.info(format!(
                "Starting {kind} upload {sync_id} for hierarchy {}{}{}",
                target.hierarchy_id,
                reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
                if options.dry_run { " [dry run: nothing is sent]" } else { "" }
            ));
            for w in &report.warnings {
                log.warning(w);
            }
        }
        // Nothing is sent (nor the run begun in the state) until the deletion guard is satisfied:
        // batches made before then wait in a spool file. A partial run never deletes; a dry run
        // sends nothing; an allowed run has nothing to wait for.
        let decided = options.dry_run || kind == "partial" || options.guard.allow;
        let envelope = envelope(target, kind, options, store.instance_id());
        Ok(Run {
            started: std::time::Instant::now(),
            kind,
            full: kind == "full",
            in_scope: scope_members(&target.scope, &options.collection_tree),
            membership_seen: options.collection_members.is_some(),
            seen: Bits::new(store.state().devices.slots()),
            known_slots: store.state().devices.slots() as u32,
            known_at_start: store.state().devices.len() as u64,
            seen_known: 0,
            parsed: 0,
            position: u32::MAX,
            batcher: Batcher::new(options.max_records, options.max_bytes),
            json: Vec::with_capacity(1024),
            kept: Default::default(),
            kept_known: 0,
            sender: Sender {
                target,
                kind,
                dry_run: options.dry_run,
                pending: None,
                post,
                order: Vec::new(),
                uncommitted: Default::default(),
                store,
                report,
                sync_id: sync_id.clone(),
                decided,
                began: false,
                spool: None,
                envelope,
                planned_deletions: 0,
                cloud: Answers::default(),
            },
            sync_id,
            total,
            options,
            hooks,
        })
    }

    /// A line known unchanged from the cache (its entry now marked seen): counted, not parsed.
    fn unchanged_known(&mut self, entry: u32, line_hash: u64) {
        // A cached line was eligible under this very scope and membership (`cache_context`), so
        // under a collection scope it told membership then, and tells it now.
        self.membership_seen = true;
        let report = &mut self.sender.report;
        report.considered += 1;
        report.eligible += 1;
        report.unchanged += 1;
        self.seen_known += 1;
        self.sender.order.push((line_hash, entry));
    }

    /// A line known ineligible from the cache (under the same rules, `cache_context`).
    fn ineligible_known(&mut self, line_hash: u64, membership: bool) {
        self.membership_seen |= membership;
        self.sender.report.considered += 1;
        self.sender.report.ineligible += 1;
        self.sender.order.push((line_hash, INELIGIBLE | u32::from(membership)));
    }

    /// Whether `sms_id` was listed earlier in this input, marking it listed; the state's entry, if
    /// the state held it when the run began. A first listing from an NDJSON line goes into `order`.
    fn mark_seen(&mut self, sms_id: &str, line_hash: u64) -> (bool, Option<u32>) {
        self.position = u32::MAX;
        match self.sender.store.state().devices.find(sms_id) {
            Some(entry) if entry < self.known_slots => {
                let was = self.seen.set(entry);
                self.seen_known += u64::from(!was);
                if !was && line_hash != 0 {
                    self.sender.order.push((line_hash, entry));
                }
                return (was, Some(entry));
            }
            // Added by this run's batches: listed before.
            Some(_) => return (true, None),
            None => {}
        }
        // New to the state, and not committed yet: known by the batches that hold it.
        if !self.sender.uncommitted.insert(sms_id.into()) {
            return (true, None);
        }
        // Its entry is noted at this place of the order once its batch is committed.
        if line_hash != 0 {
            self.sender.order.push((line_hash, FRESH));
            self.position = self.sender.order.len() as u32 - 1;
        }
        (false, None)
    }

    fn accept(&mut self, item: Item, line_hash: Option<u64>) -> Result<()> {
        self.sender.report.considered += 1;
        self.parsed += u64::from(line_hash.is_some());
        let record = match item {
            Ok(record) => record,
            Err(skipped) => {
                self.keep_device_of(&skipped)?;
                skip(&mut self.sender.report, skipped);
                return Ok(());
            }
        };
        self.membership_seen |= !record.collection_ids.is_empty();
        let in_scope = match &self.in_scope {
            None => true,
            Some(set) => {
                record.collection_ids.iter().any(|c| set.contains(c.as_str()))
                    || self.options.collection_members.as_ref().is_some_and(|m| m.contains(record.device.sms_id.as_str()))
            }
        };
        let eligible = record.is_client && !record.is_obsolete && in_scope;
        if !eligible {
            self.sender.report.ineligible += 1;
            if let Some(line) = line_hash {
                self.sender.order.push((line, INELIGIBLE | u32::from(!record.collection_ids.is_empty())));
            }
            return Ok(());
        }
        self.json.clear();
        serde_json::to_writer(&mut self.json, &record.device).map_err(|e| Error::internal(format!("cannot serialise a device: {e}")))?;
        let hash = xxhash_rust::xxh3::xxh3_64(&self.json);
        let line_hash = line_hash.unwrap_or(0);
        let (duplicate, known) = self.mark_seen(&record.device.sms_id, line_hash);
        if duplicate {
            let index = self.sender.report.considered - 1;
            let skipped = Skipped {
                index,
                line: None,
                name: Some(record.device.name),
                sms_id: Some(record.device.sms_id),
                reason: "this SMSID appears earlier in the input; the first record was used".into(),
            };
            skip(&mut self.sender.report, skipped);
            return Ok(());
        }
        self.sender.report.eligible += 1;
        // Delta runs compare with the state; a full run sends every device.
        if let Some(entry) = known.filter(|_| !self.full) {
            if self.sender.store.state().devices.entry(entry).map(|(_, h)| h) == Some(hash) {
                self.sender.report.unchanged += 1;
                if line_hash != 0 && !self.options.dry_run {
                    self.sender.store.note_line(entry, line_hash);
                }
                return self.maybe_release();
            }
        }
        if let Some(done) = self.batcher.add_device(&record.device.sms_id, hash, line_hash, self.position, &self.json) {
            self.sender.queue(done, self.hooks, self.total)?;
        }
        self.maybe_release()
    }

    /// A record skipped for being wrong (a field too long, a wrong type) whose SMSID is usable
    /// still names a device that exists: it stays in the cloud as it was. A delta does not delete
    /// it; a full sync lists it in `keep`, so its sweep leaves it (and the state keeps its entry).
    fn keep_device_of(&mut self, skipped: &Skipped) -> Result<()> {
        let Some(sms_id) = skipped.sms_id.as_deref() else { return Ok(()) };
        let known = match self.sender.store.state().devices.find(sms_id) {
            Some(entry) if entry < self.known_slots => Some(entry),
            _ => None,
        };
        if let Some(entry) = known {
            if self.seen.set(entry) {
                return Ok(()); // listed already in this input
            }
            self.seen_known += 1;
            self.kept_known += 1;
        } else if !self.full || !self.kept.insert(sms_id.into()) {
            return Ok(());
        }
        if self.full {
            if let Some(done) = self.batcher.add_keep(sms_id) {
                self.sender.queue(done, self.hooks, self.total)?;
            }
        }
        Ok(())
    }

    /// The guard's figures for this run so far: how many devices the cloud may have that the
    /// input has not listed (at least), and how many it has in all. The local state counts them
    /// exactly when it agrees with the cloud; when it does not (missing, damaged, made by another
    /// server, a new onboarding), the cloud's own count is the floor.
    fn unlisted(&self) -> (u64, u64) {
        let local = self.known_at_start;
        let cloud = self.sender.target.cloud.as_ref().map_or(0, |c| c.devices);
        let listed = self.sender.report.eligible + self.kept.len() as u64 + self.kept_known;
        (local.saturating_sub(self.seen_known).max(cloud.saturating_sub(listed)), local.max(cloud))
    }

    /// Lets the held batches go once no input still to come can make the run delete more than the
    /// guard allows: the devices known that the input has not listed yet are at most that many.
    fn maybe_release(&mut self) -> Result<()> {
        if self.sender.decided || self.sender.report.eligible == 0 {
            return Ok(());
        }
        let (unlisted, known) = self.unlisted();
        if unlisted <= self.options.guard.allowed(known).saturating_sub(self.budget_used()) {
            self.sender.release(self.hooks, self.total)?;
        }
        Ok(())
    }

    /// Devices the cloud removed from the hierarchy in the last 24 hours without the override. A
    /// full sync of this state that the gateway completed although the state did not record it (a
    /// crash, an answer lost) removed devices this state still holds: they count once, as this
    /// run's, not also in the budget.
    fn budget_used(&self) -> u64 {
        let Some(cloud) = self.sender.target.cloud.as_ref() else { return 0 };
        let unrecorded = self.sender.store.state().full_sync_in_progress.is_some() && self.sender.store.state().full_sync_in_progress == cloud.last_sync_id;
        cloud.removed_last_24_hours.saturating_sub(if unrecorded { cloud.last_sync_removed } else { 0 })
    }

    /// Sends the deletions and the last batches, records the end of the run, reports; for NDJSON
    /// input (`cache_context`), writes the next run's line cache.
    fn finish(self, cache_context: Option<u64>, cache_still_true: bool) -> Result<Report> {
        let (unlisted, cloud_known) = self.unlisted();
        let budget_used = self.budget_used();
        let known = self.known_at_start;
        let Run {
            started, kind, full, sync_id, total, options, seen, known_slots, seen_known, membership_seen, in_scope, mut batcher, mut sender, hooks, ..
        } = self;
        // The state's devices that the input did not list are deleted (by a delta's deletions, or
        // by a full sync's final sweep); none when it listed them all.
        let mut gone: Vec<String> = Vec::new();
        let mut swept = 0;
        let unseen = || sender.store.state().devices.iter_numbered().filter(|(i, _, _)| *i < known_slots && !seen.get(*i));
        if kind == "delta" && seen_known < known {
            gone = unseen().map(|(_, id, _)| id.to_owned()).collect();
            gone.sort_unstable();
        } else if full && known > 0 {
            swept = unseen().count() as u64;
        }
        let report = &sender.report;
        let no_membership = in_scope.is_some() && !membership_seen && report.considered > 0;
        let why = report.reason.as_deref().map(|r| format!("{kind} sync because {r}")).unwrap_or_else(|| format!("{kind} sync"));
        // The cloud's count is the floor of what a full sync sweeps when the state does not know
        // every device the cloud has.
        let would_delete = (gone.len() as u64 + swept).max(if full { unlisted } else { 0 });
        let figures = GuardFigures { would_delete, known: cloud_known.max(known), budget_used, considered: report.considered, eligible: report.eligible };
        let refusal = guard_refusal(&sender.target.scope, &options.guard, &figures, no_membership, &why);
        if let Some(e) = refusal {
            if !options.dry_run {
                if let Some(log) = hooks.logger {
                    log.error(format!("Upload {sync_id} stopped before sending anything: {}", e.message));
                }
                return Err(e);
            }
            sender.report.warnings.push(format!("A real run would stop: {}", e.message));
        }
        sender.release(hooks, total)?;
        let gone_count = gone.len() as u64;
        {
            for sms_id in gone {
                if let Some(done) = batcher.add_deletion(&sms_id) {
                    sender.queue(done, hooks, total)?;
                }
            }
        }
        let last = batcher.finish();
        // A full sync always ends with a final batch (even empty: it is what sweeps the cloud).
        if last.records() > 0 || (full && sender.pending.is_none()) {
            sender.queue(last, hooks, total)?;
        }
        sender.flush(true, hooks, total)?;
        sender.settle(0, hooks, total)?;
        sender.begin(false)?;

        let Sender { store, mut report, order, planned_deletions, cloud, .. } = sender;
        report.deleted = if options.dry_run { planned_deletions + would_delete.saturating_sub(gone_count) } else { cloud.removed };
        if !options.dry_run && cloud.unsure && full {
            report.deleted += swept;
        }
        let now = chrono::Utc::now();
        report.next_run_time = (now + chrono::Duration::minutes(options.interval_minutes.into())).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if !options.dry_run {
            let last_sync = LastSync {
                sync_id: sync_id.clone(),
                kind: kind.to_owned(),
                completed_date_time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                uploaded: report.uploaded,
                deleted: report.deleted,
                device_count: if full { report.uploaded } else { store.state().devices.len() as u64 },
            };
            let baseline = state::Baseline { epoch: cloud.last.epoch.clone(), generation: cloud.last.generation };
            let remap = store.finish_with(&sync_id, last_sync, full, baseline)?;
            if let Some(context) = cache_context.filter(|_| remap.is_some() || !cache_still_true) {
                // The run succeeded: the table holds every acknowledged device with the line it
                // came from, in the layout the next open reads; the order names its entries.
                let devices = &store.state().devices;
                let entry_now = |tag: u32| match tag {
                    t if t & INELIGIBLE != 0 => Some(t),
                    // (Never left once the run succeeded: each is noted when its batch is committed.)
                    t if t & FRESH != 0 => None,
                    t => remap.as_ref().map_or(Some(t), |r| r.get(t as usize).copied()).filter(|n| *n != u32::MAX),
                };
                let order: Vec<(u64, u32)> = order
                    .into_iter()
                    .filter_map(|(line, tag)| Some((line, entry_now(tag)?)))
                    .filter(|(line, tag)| tag & INELIGIBLE != 0 || devices.line(*tag) == *line)
                    .collect();
                LineCache::save(store.dir(), context, devices, &order);
            }
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        (hooks.progress)(report.considered, total.max(report.considered));
        if let Some(log) = hooks.logger {
            let label = if options.dry_run { "Dry run of" } else { "Finished" };
            let removed = if options.dry_run { "would be removed" } else { "removed by the cloud" };
            log.info(format!(
                "{label} {kind} upload {sync_id}: {} considered, {} uploaded, {} {removed}, {} unchanged, {} skipped, {} batches in {} ms",
                report.considered, report.uploaded, report.deleted, report.unchanged, report.skipped_count, report.batches, report.duration_ms
            ));
            if let Some(generation) = cloud.last.generation.filter(|_| full && !options.dry_run) {
                log.info(format!("The cloud's device list is generation {generation} of this onboarding now"));
            }
            let next = now + chrono::Duration::minutes(options.interval_minutes.into());
            log.info(format!("Next run time will be at approximately: {}", next.with_timezone(&chrono::Local).format("%m/%d/%Y %H:%M:%S")));
        }
        Ok(report)
    }
}

fn skip(report: &mut Report, skipped: Skipped) {
    report.skipped_count += 1;
    if report.skipped.len() < MAX_SKIPPED_LISTED {
        report.skipped.push(skipped);
    }
}

/// The deletion guard's verdict on a run about to send: the error that stops it, if any.
fn guard_refusal(scope: &Scope, guard: &Guard, f: &GuardFigures, no_membership: bool, kind: &str) -> Option<Error> {
    let stop = |message: String| Some(Error::new(ErrorKind::DeletionRefused, message).with_details(guard_details(f, guard)));
    let allow_hint = "If that is intended, run again allowing it (allowMassDeletion in the options; -Force in PowerShell).";
    let (known, considered) = (f.known, f.considered);
    if no_membership {
        let Scope::Collection { collection_id } = scope else { return None };
        // Never forced: without membership nothing can be decided, so nothing is sent or deleted.
        return stop(format!(
            "the upload scope is collection {collection_id}, but the input says nothing of collection membership, so no device can be chosen and \
             nothing was sent. Give the collection's members (Get-CMCollectionMember -CollectionId {collection_id}; -CollectionMember in PowerShell, \
             collectionMembers in the options) or records with CollectionIDs, or change the upload scope to all devices"
        ));
    }
    if kind.starts_with("partial") || guard.allow {
        return None;
    }
    if considered == 0 {
        return stop(format!(
            "the input holds no device records, so nothing was sent; a {kind} of it would remove all {known} devices of this hierarchy from the cloud. \
             Check the command or file that produced the input (a mistyped collection, a query that returned nothing). {allow_hint}"
        ));
    }
    if f.eligible == 0 {
        return stop(format!(
            "none of the {considered} records is eligible (ConfigMgr clients, not obsolete, in the upload scope {}), so nothing was sent; a {kind} of \
             it would remove all {known} devices of this hierarchy from the cloud. Check the input and the upload scope. {allow_hint}",
            scope.to_gateway()
        ));
    }
    let allowed = guard.allowed(known);
    if f.would_delete > allowed.saturating_sub(f.budget_used) {
        let budget = if f.budget_used > 0 {
            format!(" ({} were removed in the last 24 hours already, which count against the limit)", f.budget_used)
        } else {
            String::new()
        };
        return stop(format!(
            "this run ({kind}) would remove {} of the {known} devices this hierarchy has in the cloud, more than the {allowed} allowed in \
             24 hours ({} devices or {}% of them){budget}, so nothing was sent. Check that the input is the whole upload scope. {allow_hint}",
            f.would_delete, guard.max_deletions, guard.max_percent
        ));
    }
    None
}

/// Full or not, and why. The state is a cache of what the cloud acknowledged: it decides a delta
/// only while it agrees with the cloud's own account (epoch, generation, device count).
fn choose_kind(store: &StateStore, target: &Target, mode: Mode) -> (&'static str, Option<String>) {
    let state = store.state();
    let why_full = match mode {
        Mode::Partial => return ("partial", None),
        Mode::Full => Some("a full sync was requested".to_owned()),
        Mode::Auto if !store.warnings().is_empty() => Some("the local sync state was repaired".to_owned()),
        Mode::Auto if state.full_sync_in_progress.is_some() => Some("the previous full sync did not finish".to_owned()),
        Mode::Auto if state.last_sync.is_none() => Some("first upload of this hierarchy".to_owned()),
        Mode::Auto if state.baseline.is_none() => Some("no full sync has completed from this sync state yet".to_owned()),
        Mode::Auto if state.tenant_id != target.tenant_id => Some("the hierarchy is attached to another tenant now".to_owned()),
        Mode::Auto if state.scope != target.scope.to_gateway() || state.scope_version != target.scope_version => Some("the upload scope changed".to_owned()),
        Mode::Auto => target.cloud.as_ref().and_then(|cloud| disagreement(state, cloud)),
    };
    match why_full {
        Some(reason) => ("full", Some(reason)),
        None => ("delta", None),
    }
}

/// How the local state disagrees with the cloud's account of the hierarchy, if it does.
fn disagreement(state: &state::SyncState, cloud: &CloudView) -> Option<String> {
    let local = state.devices.len() as u64;
    if cloud.epoch.is_some() && state.epoch != cloud.epoch {
        return Some("the hierarchy was onboarded again since this sync state's last full sync (a new onboarding epoch)".to_owned());
    }
    if state.generation != Some(cloud.generation) {
        let mine = state.generation.map_or("none".to_owned(), |g| g.to_string());
        return Some(format!(
            "the cloud's device list was last made by a full sync this sync state did not make (generation {}, this state's {mine})",
            cloud.generation
        ));
    }
    if cloud.devices != local {
        return Some(format!("the cloud holds {} devices of this hierarchy but this sync state knows {local}", cloud.devices));
    }
    None
}

/// The collections whose members are in scope (the scope's collection and its descendants), or
/// `None` for all devices.
fn scope_members<'a>(scope: &'a Scope, tree: &'a HashMap<String, Vec<String>>) -> Option<HashSet<&'a str>> {
    let Scope::Collection { collection_id } = scope else { return None };
    let mut members = HashSet::from([collection_id.as_str()]);
    let mut queue = vec![collection_id.as_str()];
    while let Some(id) = queue.pop() {
        for child in tree.get(id).into_iter().flatten() {
            if members.insert(child.as_str()) {
                queue.push(child.as_str());
            }
        }
    }
    Some(members)
}

/// Sends batches one behind the batcher, so the last can be marked final; commits each acknowledged one.
struct Sender<'a> {
    target: &'a Target,
    sync_id: String,
    kind: &'static str,
    dry_run: bool,
    pending: Option<Batch>,
    post: Post<'a>,
    /// The NDJSON lines in input order with what each was (the state's entry, a new device, an
    /// ineligible record; `linecache` tags): the next line cache.
    order: Vec<(u64, u32)>,
    /// SMSIDs new to the state in batches not yet committed (the committed ones are in the state).
    uncommitted: rustc_hash::FxHashSet<Box<str>>,
    store: &'a mut StateStore,
    report: Report,
    /// The deletion guard is satisfied (or does not apply): batches go out as they are made.
    decided: bool,
    /// The run is recorded as begun in the state (just before its first batch is sent).
    began: bool,
    /// Batches made before the guard was satisfied, waiting.
    spool: Option<Spool>,
    /// Members every batch carries besides its devices (epoch, generation, the guard), as JSON text.
    envelope: Vec<u8>,
    /// Deletions put in batches (what a dry run reports; a real run reports what the cloud removed).
    planned_deletions: u64,
    /// What the cloud answered.
    cloud: Answers,
}

/// What the cloud answered to a run's batches.
#[derive(Default)]
struct Answers {
    /// Devices the acknowledged batches removed, as the gateway counted them.
    removed: u64,
    /// The epoch and generation of the last answer.
    last: Ack,
    /// Some answer did not say what it removed (an older gateway): its deletions are counted.
    unsure: bool,
}

impl Answers {
    /// Notes an answer; the kept devices the cloud said it holds.
    fn note(&mut self, mut ack: Ack, deletions: usize) -> Vec<String> {
        self.unsure |= ack.removed.is_none();
        self.removed += ack.removed.unwrap_or(deletions as u64);
        let kept = std::mem::take(&mut ack.kept);
        self.last = ack;
        kept
    }
}

/// This machine's name, as the gateway shows the hierarchy's uploader to an administrator.
pub fn machine_name() -> String {
    let name = std::env::var("COMPUTERNAME").ok().filter(|n| !n.trim().is_empty());
    #[cfg(unix)]
    let name = name.or_else(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        (rc == 0 && end > 0).then(|| String::from_utf8_lossy(&buf[..end]).into_owned())
    });
    name.unwrap_or_else(|| "unknown".to_owned())
}

/// The members every batch of a run carries besides its devices: the onboarding epoch its state
/// belongs to, the generation a full sync builds on, and the deletion guard the gateway enforces.
fn envelope(target: &Target, kind: &str, options: &Options, instance_id: &str) -> Vec<u8> {
    let guard = &options.guard;
    let mut extra = serde_json::Map::new();
    extra.insert("siteInstanceId".into(), json!(instance_id));
    extra.insert("machineName".into(), json!(machine_name()));
    if options.take_over {
        extra.insert("takeOver".into(), json!(true));
    }
    if let Some(cloud) = &target.cloud {
        if let Some(epoch) = &cloud.epoch {
            extra.insert("epoch".into(), json!(epoch));
        }
        if kind == "full" {
            extra.insert("basedOnGeneration".into(), json!(cloud.generation));
        }
    }
    if guard.allow {
        extra.insert("allowMassDeletion".into(), json!(true));
    } else {
        extra.insert("maxDeletions".into(), json!(guard.max_deletions));
        extra.insert("maxDeletionPercent".into(), json!(guard.max_percent));
    }
    let text = Value::Object(extra).to_string();
    // `{"a":1,"b":2}` as `,"a":1,"b":2`.
    let mut out = text.into_bytes();
    out[0] = b',';
    out.pop();
    out
}

/// Batches held back, their bodies in a scratch file of the state folder (a full sync at hierarchy
/// scale is tens of megabytes) and what each commits to the state in memory.
struct Spool {
    file: std::fs::File,
    path: std::path::PathBuf,
    held: Vec<(usize, Acked)>,
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Sender<'_> {
    /// Sends what was held back and everything after as it comes.
    fn release(&mut self, hooks: &mut Hooks<'_>, total: u64) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        self.decided = true;
        let Some(mut spool) = self.spool.take() else { return Ok(()) };
        spool.file.seek(SeekFrom::Start(0)).map_err(|e| Error::io("cannot read back the upload spool", &e))?;
        for (len, acked) in std::mem::take(&mut spool.held) {
            let mut body = vec![0; len];
            spool.file.read_exact(&mut body).map_err(|e| Error::io("cannot read back the upload spool", &e))?;
            self.send(body, acked, hooks, total)?;
        }
        Ok(())
    }

    /// Posts one batch and commits it to the state once acknowledged.
    fn send(&mut self, body: Vec<u8>, acked: Acked, hooks: &mut Hooks<'_>, total: u64) -> Result<()> {
        if (hooks.cancelled)() {
            // What the cloud acknowledged already is recorded before the run stops.
            if let Post::Pipelined(pipeline) = &self.post {
                pipeline.stop.store(true, Ordering::SeqCst);
            }
            let settled = self.settle(0, hooks, total);
            let batches = self.report.batches;
            return settled.and(Err(cancelled_or(Error::new(ErrorKind::Cancelled, "cancelled"), batches)));
        }
        let (sequence, records) = (acked.sequence, acked.upserts.len() + acked.deletions.len());
        if let Some(log) = hooks.logger {
            log.info(format!("Batching {records} records"));
        }
        if self.dry_run {
            (hooks.progress)(self.report.considered, total.max(self.report.considered));
            return Ok(());
        }
        self.ensure_begun()?;
        let pipeline = match &mut self.post {
            Post::Direct(uploader) => {
                let ack = uploader.post(&body, sequence, records)?;
                let kept = self.cloud.note(ack, acked.deletions.len());
                commit(self.store, &self.sync_id, acked, &kept, &mut self.order, &mut self.uncommitted)?;
                (hooks.progress)(self.report.considered, total.max(self.report.considered));
                return Ok(());
            }
            Post::Pipelined(pipeline) => pipeline,
        };
        pipeline.in_flight.push_back(acked);
        let queued = pipeline.jobs.as_ref().is_some_and(|jobs| jobs.send(Job { body, sequence, records }).is_ok());
        if !queued {
            // The sending thread stopped: its answers say why.
            return self.settle(0, hooks, total);
        }
        self.settle(BATCHES_IN_FLIGHT, hooks, total)
    }

    /// Commits the batches the cloud acknowledged, in order, waiting until at most `keep` are
    /// still in flight; the first failure ends the run (what came after it is sent next run).
    fn settle(&mut self, keep: usize, hooks: &mut Hooks<'_>, total: u64) -> Result<()> {
        let Post::Pipelined(pipeline) = &mut self.post else { return Ok(()) };
        loop {
            let wait = pipeline.in_flight.len() > keep;
            let answer = if wait {
                match pipeline.answered.recv_timeout(std::time::Duration::from_millis(50)) {
                    Ok(answer) => answer,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        // The calling thread asks `cancelled()`; the sending thread sees `stop`.
                        if (hooks.cancelled)() {
                            pipeline.stop.store(true, Ordering::SeqCst);
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(Error::internal("the upload's sending thread stopped unexpectedly (a bug, please report it)"))
                    }
                }
            } else {
                match pipeline.answered.try_recv() {
                    Ok(answer) => answer,
                    Err(_) => return Ok(()),
                }
            };
            let Some(acked) = pipeline.in_flight.pop_front() else {
                return Err(Error::internal("an upload answer came for no batch (a bug, please report it)"));
            };
            let (sequence, result) = answer;
            if sequence != acked.sequence {
                return Err(Error::internal(format!("batch {sequence} was answered in place of batch {} (a bug, please report it)", acked.sequence)));
            }
            let ack = match result {
                Ok(ack) => ack,
                Err(e) => {
                    pipeline.stop.store(true, Ordering::SeqCst);
                    return Err(cancelled_or(e, self.report.batches));
                }
            };
            let kept = self.cloud.note(ack, acked.deletions.len());
            commit(self.store, &self.sync_id, acked, &kept, &mut self.order, &mut self.uncommitted)?;
            (hooks.progress)(self.report.considered, total.max(self.report.considered));
        }
    }

    /// Records the start of the run in the state before its first batch is sent; a run that sent
    /// nothing begins at its end (not `durable`: the end's record is flushed with it).
    fn ensure_begun(&mut self) -> Result<()> {
        self.begin(true)
    }

    fn begin(&mut self, durable: bool) -> Result<()> {
        if !self.began && !self.dry_run {
            let t = self.target;
            self.store.begin_with(&self.sync_id, self.kind, t.tenant_id.as_deref(), &t.scope.to_gateway(), t.scope_version, durable)?;
            self.began = true;
        }
        Ok(())
    }

    fn queue(&mut self, batch: Batch, hooks: &mut Hooks<'_>, total: u64) -> Result<()> {
        self.flush(false, hooks, total)?;
        self.pending = Some(batch);
        Ok(())
    }

    fn flush(&mut self, is_final: bool, hooks: &mut Hooks<'_>, total: u64) -> Result<()> {
        let Some(mut batch) = self.pending.take() else { return Ok(()) };
        let body = batch.take_body(&self.target.hierarchy_id, &self.sync_id, self.kind, is_final, &self.envelope);
        self.report.batches += 1;
        self.report.bytes += body.len() as u64;
        self.report.uploaded += batch.upserts.len() as u64;
        self.planned_deletions += batch.deletions.len() as u64;
        if self.decided {
            return self.send(body, Acked::from(batch), hooks, total);
        }
        if (hooks.cancelled)() {
            return Err(Error::new(ErrorKind::Cancelled, "the upload was cancelled before anything was sent; the next run starts it again"));
        }
        if self.spool.is_none() {
            let path = self.store.dir().join("upload.spool");
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(|e| Error::io(&format!("cannot create the upload spool {}", path.display()), &e))?;
            self.spool = Some(Spool { file, path, held: Vec::new() });
        }
        if let Some(spool) = self.spool.as_mut() {
            std::io::Write::write_all(&mut spool.file, &body).map_err(|e| Error::io("cannot write the upload spool", &e))?;
            spool.held.push((body.len(), Acked::from(batch)));
        }
        (hooks.progress)(self.report.considered, total.max(self.report.considered));
        Ok(())
    }
}

/// How batches reach the cloud.
enum Post<'a> {
    /// Posted and committed on the calling thread, one at a time.
    Direct(&'a mut (dyn Uploader + 'a)),
    /// Posted by the run's sending thread, committed here as they are acknowledged.
    Pipelined(Pipeline<'a>),
}

/// A batch for the sending thread.
struct Job {
    body: Vec<u8>,
    sequence: u64,
    records: usize,
}

/// What a batch commits to the state once acknowledged.
struct Acked {
    sequence: u64,
    upserts: Vec<(String, u64)>,
    lines: Vec<u64>,
    /// Where each upsert of a new device stands in the run's order (`u32::MAX`: nowhere).
    positions: Vec<u32>,
    deletions: Vec<String>,
    keep: Vec<String>,
}

impl From<Batch> for Acked {
    /// What a batch whose body was taken commits once acknowledged.
    fn from(batch: Batch) -> Self {
        Acked { sequence: batch.sequence, upserts: batch.upserts, lines: batch.lines, positions: batch.positions, deletions: batch.deletions, keep: batch.keep }
    }
}

/// Commits an acknowledged batch: its new devices are in the state now, their entries noted in
/// the run's order.
/// A kept device the state does not know but the cloud holds (a record that could not be read on a
/// state that is new or was repaired) is recorded too, with no hash, so that the state counts what
/// the cloud has and its next good record is sent.
fn commit(
    store: &mut StateStore,
    sync_id: &str,
    acked: Acked,
    kept: &[String],
    order: &mut [(u64, u32)],
    uncommitted: &mut rustc_hash::FxHashSet<Box<str>>,
) -> Result<()> {
    let Acked { sequence, upserts, lines, positions, deletions, mut keep } = acked;
    keep.retain(|k| store.state().devices.contains(k) || kept.iter().any(|c| c == k));
    let new: Vec<(usize, u32)> = positions.iter().enumerate().filter(|(_, p)| **p != u32::MAX).map(|(n, p)| (n, *p)).collect();
    if !uncommitted.is_empty() {
        for (sms_id, _) in &upserts {
            uncommitted.remove(sms_id.as_str());
        }
    }
    let entries = store.commit_batch_lines(sync_id, sequence, upserts, deletions, keep, &lines)?;
    for (n, position) in new {
        if let (Some(slot), Some(entry)) = (order.get_mut(position as usize), entries.get(n)) {
            slot.1 = *entry;
        }
    }
    Ok(())
}

struct Pipeline<'a> {
    /// Closed (None) to end the sending thread.
    jobs: Option<mpsc::SyncSender<Job>>,
    answered: mpsc::Receiver<(u64, Result<Ack>)>,
    in_flight: VecDeque<Acked>,
    stop: &'a AtomicBool,
}

impl Drop for Pipeline<'_> {
    fn drop(&mut self) {
        // A run that ends early sends nothing more: queued batches are not posted.
        if !self.in_flight.is_empty() {
            self.stop.store(true, Ordering::SeqCst);
        }
        self.jobs.take();
    }
}

/// The error of a batch the sending thread could not post, as the calling thread reports it.
fn cancelled_or(e: Error, batches: u64) -> Error {
    if e.kind != ErrorKind::Cancelled {
        return e;
    }
    Error::new(
        ErrorKind::Cancelled,
        format!("the upload was cancelled after {batches} batches; what the cloud acknowledged is recorded and the rest is sent next run"),
    )
}

/// The uploader of a dry run: never called (a dry run sends nothing), so it refuses if it is.
pub struct DryRunUploader;

impl Uploader for DryRunUploader {
    fn post(&mut self, _: &[u8], _: u64, _: usize) -> Result<Ack> {
        Err(Error::internal("a dry run tried to send a batch (a bug, please report it)"))
    }
}

/// Sends batches to the gateway's DevicePost (idempotent by `syncId` and `sequence`, so retried).
pub struct GatewayUploader<'s> {
    pub services: &'s crate::services::Services,
    pub hierarchy: &'s str,
    pub cancelled: &'s dyn Fn() -> bool,
}

impl Uploader for GatewayUploader<'_> {
    fn post(&mut self, body: &[u8], sequence: u64, records: usize) -> Result<Ack> {
        device_post(self.services, self.hierarchy, body, sequence, records, self.cancelled)
    }

    fn concurrent<'s>(&'s self, stop: &'s AtomicBool) -> Option<Box<dyn Uploader + Send + 's>> {
        Some(Box::new(ConcurrentGatewayUploader { services: self.services, hierarchy: self.hierarchy, stop }))
    }
}

/// [`GatewayUploader`] on the run's sending thread: the caller's `cancelled` is asked on the
/// calling thread only, which sets `stop`.
struct ConcurrentGatewayUploader<'s> {
    services: &'s crate::services::Services,
    hierarchy: &'s str,
    stop: &'s AtomicBool,
}

impl Uploader for ConcurrentGatewayUploader<'_> {
    fn post(&mut self, body: &[u8], sequence: u64, records: usize) -> Result<Ack> {
        device_post(self.services, self.hierarchy, body, sequence, records, &|| self.stop.load(Ordering::SeqCst))
    }
}

fn device_post(services: &crate::services::Services, hierarchy: &str, body: &[u8], sequence: u64, records: usize, cancelled: &dyn Fn() -> bool) -> Result<Ack> {
    let url = format!("{}/api/gateway/DevicePost", services.gateway);
    let token = services.auth.token(&services.transport, crate::config::GATEWAY_RESOURCE, cancelled)?;
    let what = format!("uploading batch {sequence} ({records} records)");
    let req = crate::http::Request::post_json(&url, body, &what).bearer(&token).idempotent();
    let res = services.transport.send(&req, cancelled)?;
    match res.status {
        200 => {
            let answer: Value = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
            Ok(Ack {
                removed: answer.get("removed").and_then(Value::as_u64),
                epoch: answer.get("epoch").and_then(Value::as_str).filter(|e| !e.is_empty()).map(str::to_owned),
                generation: answer.get("generation").and_then(Value::as_u64),
                kept: answer.get("kept").and_then(Value::as_array).map(|k| k.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default(),
            })
        }
        404 => Err(Error::new(ErrorKind::NotOnboarded, "the gateway says the hierarchy is not onboarded (any more); register it again, then upload")),
        401 => Err(crate::services::site_refused(&res, hierarchy, &what)),
        409 => Err(gateway_refusal(&res, &what)),
        _ => Err(crate::http::service_error(&res, &what)),
    }
}

/// A batch the gateway refused on its own data: its deletion guard (the same status as the
/// library's own guard, with the gateway's figures) or a run made stale by another onboarding or
/// full sync.
fn gateway_refusal(res: &crate::http::Response, what: &str) -> Error {
    let e = crate::http::service_error(res, what);
    let body: Value = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
    let error = &body["error"];
    match error["code"].as_str() {
        Some("DeletionRefused") => {
            let figures = json!({ "wouldDelete": error["wouldRemove"], "devicesKnown": error["devicesKnown"], "allowed": error["allowed"],
                "removedLast24Hours": error["removedLast24Hours"], "maxDeletions": error["maxDeletions"], "maxDeletionPercent": error["maxDeletionPercent"],
                "decidedBy": "gateway" });
            Error { kind: ErrorKind::DeletionRefused, ..e }.with_details(figures)
        }
        _ => e,
    }
}
