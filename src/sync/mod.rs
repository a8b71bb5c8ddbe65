//! The device upload engine: decides full, delta or partial, cuts the run into batches, sends each
//! through an [`Uploader`], and commits to the state only what the cloud acknowledged.
//!
//! One pass over the input, memory bounded by the state (SMSID + hash per device) and one batch in
//! hand: a device is read, checked for eligibility, serialised, hashed and either counted unchanged
//! or added to the batch. Batches are sent one behind, so that the last one can be marked `final`.
//! Deletions (delta only) are known once the input is read: devices in the state that the input did
//! not list as eligible. docs/SYNC.md gives the rules.

pub mod batch;
pub mod state;

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{json, Value};

use crate::cmtrace::Logger;
use crate::error::{Error, ErrorKind, Result};
use crate::inventory::{Item, Skipped};
use batch::{Batch, Batcher};
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
    Collection { collection_id: String },
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
        }
    }
}

/// What sending a batch needs from the caller (HTTP to DevicePost in production).
pub trait Uploader {
    /// Sends one DevicePost body; Ok means the cloud acknowledged (applied) it.
    fn post(&mut self, body: &[u8], sequence: u64, records: usize) -> Result<()>;
}

/// The report of one run.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub sync_id: String,
    pub kind: &'static str,
    /// Why a full sync was chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub dry_run: bool,
    pub considered: u64,
    pub eligible: u64,
    /// Not a client, or outside the upload scope.
    pub ineligible: u64,
    pub uploaded: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub skipped_count: u64,
    pub skipped: Vec<Skipped>,
    pub batches: u64,
    pub bytes: u64,
    pub duration_ms: u64,
    pub next_run_time: String,
    pub warnings: Vec<String>,
}

/// Progress and cancellation of a run.
pub struct Hooks<'a> {
    pub progress: &'a mut dyn FnMut(u64, u64),
    pub cancelled: &'a dyn Fn() -> bool,
    pub logger: Option<&'a Logger>,
}

/// Runs one upload. `total` is the number of input records when known (for progress), else 0.
pub fn run(
    store: &mut StateStore,
    items: &mut dyn Iterator<Item = Result<Item>>,
    total: u64,
    target: &Target,
    options: &Options,
    uploader: &mut dyn Uploader,
    hooks: &mut Hooks<'_>,
) -> Result<Report> {
    let started = std::time::Instant::now();
    let (kind, reason) = choose_kind(store, target, options.mode);
    let full = kind == "full";
    let sync_id = uuid::Uuid::new_v4().to_string();
    let mut report = Report {
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
    let scope_value = target.scope.to_gateway();
    if !options.dry_run {
        store.begin(&sync_id, kind, target.tenant_id.as_deref(), &scope_value, target.scope_version)?;
    }
    let in_scope = scope_members(&target.scope, &options.collection_tree);
    let mut sender = Sender {
        target,
        sync_id: &sync_id,
        kind,
        dry_run: options.dry_run,
        pending: None,
        uploader,
        store,
        report: &mut report,
    };
    let mut batcher = Batcher::new(options.max_records, options.max_bytes);
    let mut seen: HashSet<Box<str>> = HashSet::new();
    let mut json = Vec::with_capacity(512);
    for item in items {
        let record = match item? {
            Ok(record) => record,
            Err(skipped) => {
                sender.report.considered += 1;
                skip(sender.report, skipped);
                continue;
            }
        };
        sender.report.considered += 1;
        let eligible = record.is_client && in_scope.as_ref().is_none_or(|set| record.collection_ids.iter().any(|c| set.contains(c.as_str())));
        if !eligible {
            sender.report.ineligible += 1;
            continue;
        }
        if !seen.insert(Box::from(record.device.sms_id.as_str())) {
            let index = sender.report.considered - 1;
            skip(
                sender.report,
                Skipped {
                    index,
                    line: None,
                    name: Some(record.device.name.clone()),
                    sms_id: Some(record.device.sms_id.clone()),
                    reason: "this SMSID appears earlier in the input; the first record was used".into(),
                },
            );
            continue;
        }
        sender.report.eligible += 1;
        json.clear();
        serde_json::to_writer(&mut json, &record.device).map_err(|e| Error::internal(format!("cannot serialise a device: {e}")))?;
        let hash = xxhash_rust::xxh3::xxh3_64(&json);
        if !full && sender.store.state().devices.get(record.device.sms_id.as_str()) == Some(&hash) {
            sender.report.unchanged += 1;
            continue;
        }
        if let Some(done) = batcher.add_device(&record.device.sms_id, hash, &json) {
            sender.queue(done, hooks, total)?;
        }
    }
    if kind == "delta" {
        let mut gone: Vec<String> = sender.store.state().devices.keys().filter(|k| !seen.contains(*k)).map(|k| k.to_string()).collect();
        gone.sort_unstable();
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

    let now = chrono::Utc::now();
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.next_run_time = (now + chrono::Duration::minutes(options.interval_minutes.into())).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if !options.dry_run {
        let device_count = store.state().devices.len() as u64;
        let last_sync = LastSync {
            sync_id: sync_id.clone(),
            kind: kind.to_owned(),
            completed_date_time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            uploaded: report.uploaded,
            deleted: report.deleted,
            device_count: if full { report.uploaded } else { device_count },
        };
        store.finish(&sync_id, last_sync, full)?;
    }
    (hooks.progress)(report.considered, total.max(report.considered));
    if let Some(log) = hooks.logger {
        log.info(format!(
            "Finished {kind} upload {sync_id}: {} considered, {} uploaded, {} deleted, {} unchanged, {} skipped, {} batches in {} ms",
            report.considered, report.uploaded, report.deleted, report.unchanged, report.skipped_count, report.batches, report.duration_ms
        ));
        let next = chrono::DateTime::parse_from_rfc3339(&report.next_run_time).map(|t| t.with_timezone(&chrono::Local));
        if let Ok(next) = next {
            log.info(format!("Next run time will be at approximately: {}", next.format("%m/%d/%Y %H:%M:%S")));
        }
    }
    Ok(report)
}

fn skip(report: &mut Report, skipped: Skipped) {
    report.skipped_count += 1;
    if report.skipped.len() < MAX_SKIPPED_LISTED {
        report.skipped.push(skipped);
    }
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
        Mode::Auto if state.scope != target.scope.to_gateway() || state.scope_version != target.scope_version => {
            Some("the upload scope changed".to_owned())
        }
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
    sync_id: &'a str,
    kind: &'static str,
    dry_run: bool,
    pending: Option<Batch>,
    uploader: &'a mut dyn Uploader,
    store: &'a mut StateStore,
    report: &'a mut Report,
}

impl Sender<'_> {
    fn queue(&mut self, batch: Batch, hooks: &mut Hooks<'_>, total: u64) -> Result<()> {
        self.flush(false, hooks, total)?;
        self.pending = Some(batch);
        Ok(())
    }

    fn flush(&mut self, is_final: bool, hooks: &mut Hooks<'_>, total: u64) -> Result<()> {
        let Some(batch) = self.pending.take() else { return Ok(()) };
        if (hooks.cancelled)() {
            return Err(Error::new(
                ErrorKind::Cancelled,
                format!(
                    "the upload was cancelled after {} batches; what the cloud acknowledged is recorded and the rest is sent next run",
                    self.report.batches
                ),
            ));
        }
        let body = batch.body(&self.target.hierarchy_id, self.sync_id, self.kind, is_final);
        if let Some(log) = hooks.logger {
            log.info(format!("Batching {} records", batch.records()));
        }
        let (uploaded, deleted) = (batch.upserts.len() as u64, batch.deletions.len() as u64);
        if !self.dry_run {
            self.uploader.post(&body, batch.sequence, batch.records())?;
            self.store.commit_batch(self.sync_id, batch.sequence, batch.upserts, batch.deletions)?;
        }
        self.report.batches += 1;
        self.report.bytes += body.len() as u64;
        self.report.uploaded += uploaded;
        self.report.deleted += deleted;
        (hooks.progress)(self.report.considered, total.max(self.report.considered));
        Ok(())
    }
}
