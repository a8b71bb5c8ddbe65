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
}

impl Default for Options {
    fn default() -> Self {
        Options { mode: Mode::Auto, dry_run: false, max_records: 2_500, max_bytes: 4 * 1024 * 1024, collection_tree: HashMap::new(), interval_minutes: 15 }
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

/// What makes a cached line's eligibility still valid: the scope and the collection tree.
fn cache_context(target: &Target, options: &Options) -> u64 {
    let mut tree: Vec<(&String, &Vec<String>)> = options.collection_tree.iter().collect();
    tree.sort();
    let text = serde_json::json!([target.scope.to_gateway(), target.tenant_id, tree]).to_string();
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
        if !options.dry_run {
            store.begin(&sync_id, kind, target.tenant_id.as_deref(), &target.scope.to_gateway(), target.scope_version)?;
        }
        Ok(Run {
            started: std::time::Instant::now(),
            kind,
            full: kind == "full",
            in_scope: scope_members(&target.scope, &options.collection_tree),
            seen: FxHashMap::with_capacity_and_hasher(store.state().devices.len(), Default::default()),
            seen_known: 0,
            cache_hits: 0,
            batcher: Batcher::new(options.max_records, options.max_bytes),
            json: Vec::with_capacity(1024),
            sender: Sender { target, kind, dry_run: options.dry_run, pending: None, uploader, store, report, sync_id: sync_id.clone() },
            sync_id,
            total,
            options,
            hooks,
        })
    }

    /// A line known unchanged from the cache: counted, remembered as seen, not parsed.
    fn unchanged_known(&mut self, sms_id: std::sync::Arc<str>, hash: u64, line_hash: u64) {
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
        let eligible = record.is_client && self.in_scope.as_ref().is_none_or(|set| record.collection_ids.iter().any(|c| set.contains(c.as_str())));
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
        if !self.full {
            let known = self.sender.store.state().devices.get(record.device.sms_id.as_str());
            self.seen_known += u64::from(known.is_some());
            if known == Some(&hash) {
                self.sender.report.unchanged += 1;
                return Ok(());
            }
        }
        if let Some(done) = self.batcher.add_device(&record.device.sms_id, hash, &self.json) {
            self.sender.queue(done, self.hooks, self.total)?;
        }
        Ok(())
    }

    /// Sends the deletions and the last batches, records the end of the run, reports; for NDJSON
    /// input (`cache_context`), writes the next run's line cache.
    fn finish(self, cache_context: Option<u64>) -> Result<Report> {
        let Run { started, kind, full, sync_id, total, options, seen, seen_known, mut batcher, mut sender, hooks, .. } = self;
        // The state's devices that the input did not list are deleted; none when it listed them all.
        if kind == "delta" && seen_known < sender.store.state().devices.len() as u64 {
            let mut gone: Vec<String> = sender.store.state().devices.keys().filter(|k| !seen.contains_key(&***k)).map(|k| k.to_string()).collect();
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

        let Sender { store, mut report, .. } = sender;
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
        let body = batch.body(&self.target.hierarchy_id, &self.sync_id, self.kind, is_final);
        if let Some(log) = hooks.logger {
            log.info(format!("Batching {} records", batch.records()));
        }
        let (uploaded, deleted) = (batch.upserts.len() as u64, batch.deletions.len() as u64);
        if !self.dry_run {
            self.uploader.post(&body, batch.sequence, batch.records())?;
            self.store.commit_batch(&self.sync_id, batch.sequence, batch.upserts, batch.deletions)?;
        }
        self.report.batches += 1;
        self.report.bytes += body.len() as u64;
        self.report.uploaded += uploaded;
        self.report.deleted += deleted;
        (hooks.progress)(self.report.considered, total.max(self.report.considered));
        Ok(())
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
