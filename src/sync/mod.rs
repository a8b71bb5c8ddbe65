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

use std::collections::{HashMap, HashSet};

use rustc_hash::FxHashMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::cmtrace::Logger;
use crate::error::{Error, ErrorKind, Result};
use crate::inventory::{Item, Skipped};
use batch::{Batch, Batcher};
use linecache::LineCache;
use state::{LastSync, StateStore};

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
#[derive(Clone, Debug)]
pub struct Target {
    pub hierarchy_id: String,
    pub tenant_id: Option<String>,
    pub scope: Scope,
    pub scope_version: u64,
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

/// What sending a batch needs from the caller (HTTP to DevicePost in production).
pub trait Uploader {
    /// Sends one DevicePost body; Ok means the cloud acknowledged (applied) it.
    fn post(&mut self, body: &[u8], sequence: u64, records: usize) -> Result<()>;
}

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

/// Why the deletion guard stopped a run: the error's details.
fn guard_details(would_delete: u64, known: u64, guard: &Guard, considered: u64, eligible: u64) -> Value {
    json!({ "wouldDelete": would_delete, "devicesKnown": known, "considered": considered, "eligible": eligible,
        "maxDeletions": guard.max_deletions, "maxDeletionPercent": guard.max_percent })
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
    let mut run = Run::start(store, total, target, options, uploader, hooks)?;
    let input = match input {
        Input::Items(items) => {
            for item in items {
                run.accept(item?, None)?;
            }
            return run.finish(None);
        }
        Input::Ndjson(input) => input,
    };
    let context = cache_context(target, options);
    let cache = run.sender.store.take_line_cache(context);
    let cache = if run.full { LineCache::default() } else { cache };
    let mut reader = crate::inventory::NdjsonReader::new(input);
    while let Some(next) = reader.next_raw() {
        let (bytes, index, line) = next?;
        let line_hash = xxhash_rust::xxh3::xxh3_64(bytes);
        if let Some((sms_id, hash)) = cache.get(line_hash) {
            if run.sender.store.state().devices.get(&**sms_id) == Some(hash) && !run.seen.contains_key(&**sms_id) {
                run.unchanged_known(sms_id.clone(), *hash, line_hash);
                continue;
            }
        }
        // A line identical to one parsed before was valid UTF-8; only new lines are checked.
        let item = crate::inventory::parse_line(crate::inventory::line_text(bytes, line)?, index, line);
        run.accept(item, Some(line_hash))?;
    }
    // Every line was a hit and every cached line was met: the next cache would be this one.
    let cache_still_true = !run.full && cache.len() > 0 && run.cache_hits == cache.len() as u64 && run.sender.report.considered == run.cache_hits;
    drop(cache);
    run.finish(Some(context).filter(|_| !cache_still_true))
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
    let text = serde_json::json!([target.scope.to_gateway(), target.tenant_id, tree, members]).to_string();
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
    /// Every eligible SMSID of the input, with the hash of its NDJSON line (0 for parsed items)
    /// and of its content: the deletions are what the state has beyond it, the next line cache
    /// is made of it.
    seen: FxHashMap<std::sync::Arc<str>, (u64, u64)>,
    /// How many of `seen` the state already holds (counted in delta runs, the only ones that
    /// delete): when all of them, nothing is to be deleted.
    seen_known: u64,
    /// Lines recognised through the line cache.
    cache_hits: u64,
    /// Whether the input told collection membership at all (a `CollectionIDs` property, or the
    /// collection's members given apart): a collection scope without it can decide nothing.
    membership_seen: bool,
    batcher: Batcher,
    json: Vec<u8>,
    sender: Sender<'a>,
    hooks: &'a mut Hooks<'h>,
}

impl<'a, 'h> Run<'a, 'h> {
    fn start(
        store: &'a mut StateStore,
        total: u64,
        target: &'a Target,
        options: &'a Options,
        uploader: &'a mut dyn Uploader,
        hooks: &'a mut Hooks<'h>,
    ) -> Result<Self> {
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
        Ok(Run {
            started: std::time::Instant::now(),
            kind,
            full: kind == "full",
            in_scope: scope_members(&target.scope, &options.collection_tree),
            membership_seen: options.collection_members.is_some(),
            seen: FxHashMap::with_capacity_and_hasher(store.state().devices.len(), Default::default()),
            seen_known: 0,
            cache_hits: 0,
            batcher: Batcher::new(options.max_records, options.max_bytes),
            json: Vec::with_capacity(1024),
            sender: Sender {
                target,
                kind,
                dry_run: options.dry_run,
                pending: None,
                uploader,
                store,
                report,
                sync_id: sync_id.clone(),
                decided,
                began: false,
                spool: None,
            },
            sync_id,
            total,
            options,
            hooks,
        })
    }

    /// A line known unchanged from the cache: counted, remembered as seen, not parsed.
    fn unchanged_known(&mut self, sms_id: std::sync::Arc<str>, hash: u64, line_hash: u64) {
        // A cached line was eligible under this very scope and membership (`cache_context`), so
        // under a collection scope it told membership then, and tells it now.
        self.membership_seen = true;
        let report = &mut self.sender.report;
        report.considered += 1;
        report.eligible += 1;
        report.unchanged += 1;
        self.cache_hits += 1;
        self.seen_known += 1;
        self.seen.insert(sms_id, (line_hash, hash));
    }

    fn accept(&mut self, item: Item, line_hash: Option<u64>) -> Result<()> {
        self.sender.report.considered += 1;
        let record = match item {
            Ok(record) => record,
            Err(skipped) => {
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
            return Ok(());
        }
        if self.seen.contains_key(record.device.sms_id.as_str()) {
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
        self.json.clear();
        serde_json::to_writer(&mut self.json, &record.device).map_err(|e| Error::internal(format!("cannot serialise a device: {e}")))?;
        let hash = xxhash_rust::xxh3::xxh3_64(&self.json);
        self.seen.insert(std::sync::Arc::from(record.device.sms_id.as_str()), (line_hash.unwrap_or(0), hash));
        // Delta runs compare with the state; a full run looks a device up only while the deletion
        // guard still counts which of the devices known the input lists.
        if !self.full || !self.sender.decided {
            let known = self.sender.store.state().devices.get(record.device.sms_id.as_str());
            self.seen_known += u64::from(known.is_some());
            if !self.full && known == Some(&hash) {
                self.sender.report.unchanged += 1;
                return self.maybe_release();
            }
        }
        if let Some(done) = self.batcher.add_device(&record.device.sms_id, hash, &self.json) {
            self.sender.queue(done, self.hooks, self.total)?;
        }
        self.maybe_release()
    }

    /// Lets the held batches go once no input still to come can make the run delete more than the
    /// guard allows: the devices known that the input has not listed yet are at most that many.
    fn maybe_release(&mut self) -> Result<()> {
        if self.sender.decided || self.sender.report.eligible == 0 {
            return Ok(());
        }
        let known = self.sender.store.state().devices.len() as u64;
        if known.saturating_sub(self.seen_known) <= self.options.guard.allowed(known) {
            self.sender.release(self.hooks, self.total)?;
        }
        Ok(())
    }

    /// Sends the deletions and the last batches, records the end of the run, reports; for NDJSON
    /// input (`cache_context`), writes the next run's line cache.
    fn finish(self, cache_context: Option<u64>) -> Result<Report> {
        let Run { started, kind, full, sync_id, total, options, seen, seen_known, membership_seen, in_scope, mut batcher, mut sender, hooks, .. } = self;
        let known = sender.store.state().devices.len() as u64;
        // The state's devices that the input did not list are deleted (by a delta's deletions, or
        // by a full sync's final sweep); none when it listed them all.
        let mut gone: Vec<String> = Vec::new();
        let mut swept = 0;
        if kind == "delta" && seen_known < known {
            gone = sender.store.state().devices.keys().filter(|k| !seen.contains_key(&***k)).map(|k| k.to_string()).collect();
            gone.sort_unstable();
        } else if full && known > 0 {
            swept = sender.store.state().devices.keys().filter(|k| !seen.contains_key(&***k)).count() as u64;
        }
        let report = &sender.report;
        let no_membership = in_scope.is_some() && !membership_seen && report.considered > 0;
        let why = report.reason.as_deref().map(|r| format!("{kind} sync because {r}")).unwrap_or_else(|| format!("{kind} sync"));
        let refusal =
            guard_refusal(&sender.target.scope, &options.guard, gone.len() as u64 + swept, known, report.considered, report.eligible, no_membership, &why);
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
        sender.ensure_begun()?;

        let Sender { store, mut report, .. } = sender;
        report.deleted += swept;
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
            store.finish(&sync_id, last_sync, full)?;
            if let Some(context) = cache_context {
                // The run succeeded: every entry of `seen` is now in the state with its hash.
                let lines = seen.iter().filter(|(_, (line, _))| *line != 0);
                let entries: Vec<(u64, &str, u64)> = lines.map(|(id, (line, hash))| (*line, &**id, *hash)).collect();
                LineCache::save(store.dir(), context, entries.into_iter());
            }
        }
        drop(seen);
        report.duration_ms = started.elapsed().as_millis() as u64;
        (hooks.progress)(report.considered, total.max(report.considered));
        if let Some(log) = hooks.logger {
            log.info(format!(
                "Finished {kind} upload {sync_id}: {} considered, {} uploaded, {} deleted, {} unchanged, {} skipped, {} batches in {} ms",
                report.considered, report.uploaded, report.deleted, report.unchanged, report.skipped_count, report.batches, report.duration_ms
            ));
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
#[allow(clippy::too_many_arguments)]
fn guard_refusal(
    scope: &Scope,
    guard: &Guard,
    would_delete: u64,
    known: u64,
    considered: u64,
    eligible: u64,
    no_membership: bool,
    kind: &str,
) -> Option<Error> {
    let stop =
        |message: String| Some(Error::new(ErrorKind::DeletionRefused, message).with_details(guard_details(would_delete, known, guard, considered, eligible)));
    let allow_hint = "If that is intended, run again allowing it (allowMassDeletion in the options; -Force in PowerShell).";
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
    if eligible == 0 {
        return stop(format!(
            "none of the {considered} records is eligible (ConfigMgr clients, not obsolete, in the upload scope {}), so nothing was sent; a {kind} of \
             it would remove all {known} devices of this hierarchy from the cloud. Check the input and the upload scope. {allow_hint}",
            scope.to_gateway()
        ));
    }
    if would_delete > guard.allowed(known) {
        return stop(format!(
            "this run ({kind}) would remove {would_delete} of the {known} devices this hierarchy has in the cloud, more than the {} allowed in \
             one run ({} devices or {}% of them), so nothing was sent. Check that the input is the whole upload scope. {allow_hint}",
            guard.allowed(known),
            guard.max_deletions,
            guard.max_percent
        ));
    }
    None
}

/// Full or not, and why.
fn choose_kind(store: &StateStore, target: &Target, mode: Mode) -> (&'static str, Option<String>) {
    let state = store.state();
    let why_full = match mode {
        Mode::Partial => return ("partial", None),
        Mode::Full => Some("a full sync was requested".to_owned()),
        Mode::Auto if !store.warnings().is_empty() => Some("the local sync state was repaired".to_owned()),
        Mode::Auto if state.full_sync_in_progress.is_some() => Some("the previous full sync did not finish".to_owned()),
        Mode::Auto if state.last_sync.is_none() => Some("first upload of this hierarchy".to_owned()),
        Mode::Auto if state.tenant_id != target.tenant_id => Some("the hierarchy is attached to another tenant now".to_owned()),
        Mode::Auto if state.scope != target.scope.to_gateway() || state.scope_version != target.scope_version => Some("the upload scope changed".to_owned()),
        Mode::Auto => None,
    };
    match why_full {
        Some(reason) => ("full", Some(reason)),
        None => ("delta", None),
    }
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
    uploader: &'a mut dyn Uploader,
    store: &'a mut StateStore,
    report: Report,
    /// The deletion guard is satisfied (or does not apply): batches go out as they are made.
    decided: bool,
    /// The run is recorded as begun in the state (just before its first batch is sent).
    began: bool,
    /// Batches made before the guard was satisfied, waiting.
    spool: Option<Spool>,
}

/// Batches held back, their bodies in a scratch file of the state folder (a full sync at hierarchy
/// scale is tens of megabytes) and what each commits to the state in memory.
struct Spool {
    file: std::fs::File,
    path: std::path::PathBuf,
    held: Vec<(u64, usize, Vec<(String, u64)>, Vec<String>)>,
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
        for (sequence, len, upserts, deletions) in std::mem::take(&mut spool.held) {
            let mut body = vec![0; len];
            spool.file.read_exact(&mut body).map_err(|e| Error::io("cannot read back the upload spool", &e))?;
            self.send(&body, sequence, upserts, deletions, hooks, total)?;
        }
        Ok(())
    }

    /// Posts one batch and commits it to the state once acknowledged.
    fn send(&mut self, body: &[u8], sequence: u64, upserts: Vec<(String, u64)>, deletions: Vec<String>, hooks: &mut Hooks<'_>, total: u64) -> Result<()> {
        if (hooks.cancelled)() {
            return Err(Error::new(
                ErrorKind::Cancelled,
                format!(
                    "the upload was cancelled after {} batches; what the cloud acknowledged is recorded and the rest is sent next run",
                    self.report.batches
                ),
            ));
        }
        let records = upserts.len() + deletions.len();
        if let Some(log) = hooks.logger {
            log.info(format!("Batching {records} records"));
        }
        if self.dry_run {
            (hooks.progress)(self.report.considered, total.max(self.report.considered));
            return Ok(());
        }
        self.ensure_begun()?;
        self.uploader.post(body, sequence, records)?;
        self.store.commit_batch(&self.sync_id, sequence, upserts, deletions)?;
        (hooks.progress)(self.report.considered, total.max(self.report.considered));
        Ok(())
    }

    /// Records the end of the run in the state; a run that sent nothing begins here.
    fn ensure_begun(&mut self) -> Result<()> {
        if !self.began && !self.dry_run {
            let t = self.target;
            self.store.begin(&self.sync_id, self.kind, t.tenant_id.as_deref(), &t.scope.to_gateway(), t.scope_version)?;
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
        let Some(batch) = self.pending.take() else { return Ok(()) };
        let body = batch.body(&self.target.hierarchy_id, &self.sync_id, self.kind, is_final);
        self.report.batches += 1;
        self.report.bytes += body.len() as u64;
        self.report.uploaded += batch.upserts.len() as u64;
        self.report.deleted += batch.deletions.len() as u64;
        if self.decided {
            return self.send(&body, batch.sequence, batch.upserts, batch.deletions, hooks, total);
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
            spool.held.push((batch.sequence, body.len(), batch.upserts, batch.deletions));
        }
        (hooks.progress)(self.report.considered, total.max(self.report.considered));
        Ok(())
    }
}

/// The uploader of a dry run: never called (a dry run sends nothing), so it refuses if it is.
pub struct DryRunUploader;

impl Uploader for DryRunUploader {
    fn post(&mut self, _: &[u8], _: u64, _: usize) -> Result<()> {
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
    fn post(&mut self, body: &[u8], sequence: u64, records: usize) -> Result<()> {
        let url = format!("{}/api/gateway/DevicePost", self.services.gateway);
        let token = self.services.auth.token(&self.services.transport, crate::config::GATEWAY_RESOURCE, self.cancelled)?;
        let what = format!("uploading batch {sequence} ({records} records)");
        let req = crate::http::Request::post_json(&url, body, &what).bearer(&token).idempotent();
        let res = self.services.transport.send(&req, self.cancelled)?;
        match res.status {
            200 => Ok(()),
            404 => Err(Error::new(ErrorKind::NotOnboarded, "the gateway says the hierarchy is not onboarded (any more); register it again, then upload")),
            401 => Err(crate::services::site_refused(&res, self.hierarchy, &what)),
            _ => Err(crate::http::service_error(&res, &what)),
        }
    }
}
