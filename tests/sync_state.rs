//! The upload engine against a model of the gateway that applies DevicePost as docs/GATEWAY.md says
//! (upserts, deletions, the full sync's final sweep, idempotent replays): full then deltas, crashes
//! at any batch, damaged state files, a second process, scopes, and the DP certificate case.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};
use tenant_attach::error::{ErrorKind, Result};
use tenant_attach::inventory::{self, Item};
use tenant_attach::sync::state::StateStore;
use tenant_attach::sync::{self, Ack, Hooks, Mode, Options, Report, Scope, Target, Uploader};

const HIERARCHY: &str = "5f0c1a6e-0000-4000-8000-000000000001";

/// The gateway's device table for one hierarchy, applying batches as the real one does.
#[derive(Default)]
struct ModelGateway {
    devices: BTreeMap<String, Value>,
    applied: HashSet<(String, u64)>,
    mentioned: HashMap<String, HashSet<String>>,
    posts: usize,
    /// Fail (as a dropped connection would) when this many posts have been made.
    fail_at: Option<usize>,
}

impl Uploader for ModelGateway {
    fn post(&mut self, body: &[u8], sequence: u64, records: usize) -> Result<Ack> {
        if self.fail_at == Some(self.posts) {
            return Err(tenant_attach::Error::new(ErrorKind::Network, "connection dropped (test)"));
        }
        self.posts += 1;
        let body: Value = serde_json::from_slice(body).expect("DevicePost body is JSON");
        let sync_id = body["syncId"].as_str().expect("syncId").to_owned();
        assert_eq!(body["sequence"], sequence);
        assert_eq!(body["hierarchyId"], HIERARCHY);
        let devices = body["devices"].as_array().expect("devices");
        let deletions = body["deletions"].as_array().expect("deletions");
        let keep: Vec<Value> = body.get("keep").and_then(Value::as_array).cloned().unwrap_or_default();
        assert_eq!(devices.len() + deletions.len() + keep.len(), records);
        assert!(records <= 5000);
        if !self.applied.insert((sync_id.clone(), sequence)) {
            return Ok(Ack::default()); // replay
        }
        let mentioned = self.mentioned.entry(sync_id.clone()).or_default();
        for d in devices {
            let id = d["smsId"].as_str().expect("smsId").to_owned();
            mentioned.insert(id.clone());
            self.devices.insert(id, d.clone());
        }
        mentioned.extend(keep.iter().map(|k| k.as_str().expect("smsId").to_owned()));
        let before = self.devices.len();
        for id in deletions {
            self.devices.remove(id.as_str().expect("smsId"));
        }
        if body["kind"] == "full" && body["final"] == true {
            let keep = self.mentioned.remove(&sync_id).unwrap_or_default();
            self.devices.retain(|id, _| keep.contains(id));
        }
        Ok(Ack { removed: Some((before - self.devices.len()) as u64), ..Ack::default() })
    }
}

fn device(i: usize, version: &str) -> Value {
    json!({ "Name": format!("PC-{i:06}"), "SMSID": format!("GUID:{i:08X}-0000-0000-0000-000000000000"), "ResourceID": 16_777_216 + i,
            "IsClient": true, "ClientVersion": version, "DeviceOS": "Microsoft Windows NT Workstation 10.0", "Domain": "CONTOSO",
            "CollectionIDs": ["SMS00001"] })
}

fn inventory(n: usize) -> Vec<Value> {
    (0..n).map(|i| device(i, "5.00.9122.1000")).collect()
}

fn target(scope: Scope, version: u64) -> Target {
    Target { hierarchy_id: HIERARCHY.into(), tenant_id: Some("tenant-a".into()), scope, scope_version: version, cloud: None }
}

fn run_with(dir: &std::path::Path, records: &[Value], target: &Target, options: &Options, gateway: &mut ModelGateway) -> Result<Report> {
    let items = inventory::parse_json(&Value::Array(records.to_vec()).to_string())?;
    let mut store = StateStore::open(dir, HIERARCHY)?;
    let mut iter = items.into_iter().map(Ok::<Item, tenant_attach::Error>);
    let mut progress = |_: u64, _: u64| {};
    let mut hooks = Hooks { progress: &mut progress, cancelled: &|| false, logger: None };
    sync::run(&mut store, sync::Input::Items(&mut iter), records.len() as u64, target, options, gateway, &mut hooks)
}

fn run(dir: &std::path::Path, records: &[Value], gateway: &mut ModelGateway) -> Report {
    run_with(dir, records, &target(Scope::All, 1), &small_batches(), gateway).expect("sync runs")
}

fn small_batches() -> Options {
    Options { max_records: 100, ..Options::default() }
}

/// The cloud holds exactly the eligible inventory.
fn assert_converged(gateway: &ModelGateway, records: &[Value]) {
    let want: BTreeMap<String, String> = records
        .iter()
        .filter(|r| r["IsClient"] == true)
        .map(|r| (r["SMSID"].as_str().unwrap().to_owned(), r["ClientVersion"].as_str().unwrap_or("").to_owned()))
        .collect();
    let got: BTreeMap<String, String> = gateway.devices.iter().map(|(id, d)| (id.clone(), d["clientVersion"].as_str().unwrap_or("").to_owned())).collect();
    assert_eq!(got, want);
}

#[test]
fn first_run_is_full_then_deltas_send_only_changes_and_deletions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = ModelGateway::default();
    let mut records = inventory(1000);
    let first = run(dir.path(), &records, &mut gw);
    assert_eq!((first.kind, first.uploaded, first.batches), ("full", 1000, 10));
    assert_eq!(first.reason.as_deref(), Some("first upload of this hierarchy"));
    assert_converged(&gw, &records);

    let again = run(dir.path(), &records, &mut gw);
    assert_eq!((again.kind, again.uploaded, again.deleted, again.unchanged, again.batches), ("delta", 0, 0, 1000, 0));

    for i in (0..1000).step_by(100) {
        records[i] = device(i, "5.00.9128.1000"); // 1% upgraded
    }
    records.truncate(995); // 5 removed
    records[1]["IsClient"] = json!(false); // 1 lost its client
    let delta = run(dir.path(), &records, &mut gw);
    assert_eq!((delta.kind, delta.uploaded, delta.deleted, delta.ineligible), ("delta", 10, 6, 1));
    assert_converged(&gw, &records);
}

#[test]
fn a_full_sync_interrupted_at_any_batch_converges_on_the_next_run() {
    for fail_at in [0, 1, 5, 9] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut gw = ModelGateway::default();
        // The cloud holds a stale device the inventory no longer has.
        gw.devices.insert("GUID:STALE".into(), json!({"smsId": "GUID:STALE"}));
        let records = inventory(1000);
        gw.fail_at = Some(fail_at);
        let err = run_with(dir.path(), &records, &target(Scope::All, 1), &small_batches(), &mut gw).expect_err("dropped");
        assert_eq!(err.kind, ErrorKind::Network);
        gw.fail_at = None;
        let next = run(dir.path(), &records, &mut gw);
        assert_eq!(next.kind, "full", "after a failure at post {fail_at}");
        assert_eq!(next.reason.as_deref(), Some("the previous full sync did not finish"));
        assert_converged(&gw, &records);
        let after = run(dir.path(), &records, &mut gw);
        assert_eq!((after.kind, after.uploaded), ("delta", 0));
    }
}

#[test]
fn an_interrupted_delta_resends_exactly_what_was_not_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = ModelGateway::default();
    let mut records = inventory(1000);
    run(dir.path(), &records, &mut gw);
    for r in records.iter_mut().take(350) {
        r["ClientVersion"] = json!("5.00.9130.1000");
    }
    gw.fail_at = Some(gw.posts + 2); // two batches of 100 acknowledged, then the line drops
    assert!(run_with(dir.path(), &records, &target(Scope::All, 1), &small_batches(), &mut gw).is_err());
    gw.fail_at = None;
    let next = run(dir.path(), &records, &mut gw);
    assert_eq!((next.kind, next.uploaded, next.unchanged), ("delta", 150, 850));
    assert_converged(&gw, &records);
}

#[test]
fn a_second_process_is_refused_while_the_state_is_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _held = StateStore::open(dir.path(), HIERARCHY).expect("first opens");
    let err = StateStore::open(dir.path(), HIERARCHY).err().expect("second is refused");
    assert_eq!(err.kind, ErrorKind::StateLocked);
    assert!(err.message.contains(&format!("pid {}", std::process::id())), "{}", err.message);
}

#[test]
fn a_damaged_snapshot_is_kept_aside_reported_and_followed_by_a_full_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = ModelGateway::default();
    let records = inventory(300);
    run(dir.path(), &records, &mut gw);
    let state_file = dir.path().join(HIERARCHY).join("DeviceSync.state");
    let mut bytes = std::fs::read(&state_file).expect("snapshot");
    let last = bytes.len() - 5;
    bytes[last] ^= 0x01; // one flipped bit in a hash
    std::fs::write(&state_file, bytes).expect("damage");
    let next = run(dir.path(), &records, &mut gw);
    assert_eq!(next.kind, "full");
    assert!(next.warnings[0].contains("was damaged (its checksum does not match"), "{:?}", next.warnings);
    let kept: Vec<_> = std::fs::read_dir(dir.path().join(HIERARCHY))
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("DeviceSync.state.corrupt-"))
        .collect();
    assert_eq!(kept.len(), 1, "the damaged file is kept for support");
    assert_converged(&gw, &records);
    assert_eq!(run(dir.path(), &records, &mut gw).kind, "delta");
}

/// The header's fields sit outside the body; a count in it once sized the device map, so a damaged
/// count aborted the host ("memory allocation of 72567767433232 bytes failed").
#[test]
fn a_damaged_snapshot_header_or_a_huge_count_is_set_aside_never_an_abort() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = ModelGateway::default();
    let records = inventory(40);
    run(dir.path(), &records, &mut gw);
    let state_file = dir.path().join(HIERARCHY).join("DeviceSync.state");
    let good = std::fs::read_to_string(&state_file).expect("snapshot");
    assert!(good.starts_with("{\"format\":2,\"checksum\":\""), "format 2 seals header and body: {:.80}", good);
    let (seal, rest) = good.split_once('\n').expect("seal line");
    let (header, body) = rest.split_once('\n').expect("header line");
    // Format 2: the checksum covers the header, so a changed count or scope is damage.
    let changed_count = format!("{seal}\n{}\n{body}", header.replace("\"devices\":40", "\"devices\":72567767433232"));
    let changed_scope = format!("{seal}\n{}\n{body}", header.replace("\"kind\":\"all\"", "\"kind\":\"alL\""));
    // Format 1 (header unchecked): a count the body cannot hold is refused before any allocation.
    let header_v1 = header.replacen("\"format\":2", &format!("\"format\":1,\"checksum\":\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(body.as_bytes())), 1);
    let v1 = |count: &str| format!("{}\n{body}", header_v1.replace("\"devices\":40", &format!("\"devices\":{count}")));
    for (what, damaged, why) in [
        ("count", changed_count, "its checksum does not match"),
        ("scope", changed_scope, "its checksum does not match"),
        ("format 1 huge count", v1("72567767433232"), "more than its"),
        ("format 1 count", v1("41"), "it lists 40 devices, its header says 41"),
    ] {
        assert_ne!(damaged, good, "{what}: the damage changed nothing");
        std::fs::write(&state_file, &damaged).expect("damage");
        let next = run(dir.path(), &records, &mut gw);
        assert_eq!(next.kind, "full", "{what}");
        assert!(next.warnings.iter().any(|w| w.contains(why)), "{what}: {:?}", next.warnings);
        assert_converged(&gw, &records);
    }
    // A format-1 snapshot written by the previous version is still read as it is.
    std::fs::write(&state_file, v1("40")).expect("format 1");
    let next = run(dir.path(), &records, &mut gw);
    assert_eq!((&*next.kind, next.warnings.len()), ("delta", 0), "{:?}", next.warnings);
}

#[test]
fn a_torn_journal_tail_is_ignored_and_its_batch_sent_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = ModelGateway::default();
    let mut records = inventory(300);
    run(dir.path(), &records, &mut gw);
    for r in records.iter_mut().take(150) {
        r["ClientVersion"] = json!("5.00.9130.1000");
    }
    gw.fail_at = Some(gw.posts + 1); // one batch acknowledged, then stop: the journal holds begin + batch
    assert!(run_with(dir.path(), &records, &target(Scope::All, 1), &small_batches(), &mut gw).is_err());
    gw.fail_at = None;
    // A crash in the middle of appending the batch record: cut its line short.
    let journal = dir.path().join(HIERARCHY).join("DeviceSync.journal");
    let text = std::fs::read(&journal).expect("journal");
    std::fs::write(&journal, &text[..text.len() - 40]).expect("tear");
    let next = run(dir.path(), &records, &mut gw);
    assert!(next.warnings.is_empty(), "a torn tail is expected after a crash, not damage");
    assert_eq!((next.kind, next.uploaded), ("delta", 150), "the torn batch is sent again");
    assert_converged(&gw, &records);
    // The torn bytes were cut off before that run appended to the journal: nothing joined them.
    let after = run(dir.path(), &records, &mut gw);
    assert!(after.warnings.is_empty(), "{:?}", after.warnings);
    assert_eq!((after.kind.as_ref(), after.uploaded), ("delta", 0));
}

#[test]
fn a_distribution_point_sharing_its_certificate_is_synced_like_any_device() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = ModelGateway::default();
    let mut records = inventory(3);
    for r in &mut records[..2] {
        r["CertificateThumbprint"] = json!("A1B2C3D4E5F60718293A4B5C6D7E8F9012345678");
    }
    records[0]["IsDistributionPoint"] = json!(true);
    run(dir.path(), &records, &mut gw);
    assert_converged(&gw, &records);
    records[0]["ClientVersion"] = json!("5.00.9130.1000"); // the DP changes
    let delta = run(dir.path(), &records, &mut gw);
    assert_eq!(delta.uploaded, 1);
    assert_converged(&gw, &records);
}

#[test]
fn a_collection_scope_includes_child_collections_and_a_scope_change_forces_a_full_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = ModelGateway::default();
    let mut records = inventory(6);
    records[0]["CollectionIDs"] = json!(["PS100012"]);
    records[1]["CollectionIDs"] = json!(["PS100020"]); // child of PS100012
    records[2]["CollectionIDs"] = json!(["PS100021"]); // grandchild
    let options = Options {
        collection_tree: HashMap::from([("PS100012".into(), vec!["PS100020".into()]), ("PS100020".into(), vec!["PS100021".into()])]),
        ..small_batches()
    };
    let scoped = target(Scope::Collection { collection_id: "PS100012".into() }, 2);
    let report = run_with(dir.path(), &records, &scoped, &options, &mut gw).expect("runs");
    assert_eq!((report.kind, report.uploaded, report.ineligible), ("full", 3, 3));
    assert_eq!(gw.devices.len(), 3);
    // Back to all devices: the gateway bumped scopeVersion, the library answers with a full sync.
    let report = run_with(dir.path(), &records, &target(Scope::All, 3), &options, &mut gw).expect("runs");
    assert_eq!((report.kind, report.reason.as_deref()), ("full", Some("the upload scope changed")));
    assert_converged(&gw, &records);
}

#[test]
fn dry_run_and_partial_change_nothing_they_should_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = ModelGateway::default();
    let records = inventory(200);
    let dry = run_with(dir.path(), &records, &target(Scope::All, 1), &Options { dry_run: true, ..small_batches() }, &mut gw).expect("runs");
    assert_eq!((dry.kind, dry.uploaded, dry.batches, gw.posts), ("full", 200, 2, 0));
    assert_eq!(run(dir.path(), &records, &mut gw).kind, "full", "the dry run recorded nothing");
    // Partial: two devices given, one changed; nothing is deleted.
    let mut two = records[..2].to_vec();
    two[0]["ClientVersion"] = json!("5.00.9130.1000");
    let partial = run_with(dir.path(), &two, &target(Scope::All, 1), &Options { mode: Mode::Partial, ..small_batches() }, &mut gw).expect("runs");
    assert_eq!((partial.kind, partial.uploaded, partial.deleted, partial.unchanged), ("partial", 1, 0, 1));
    assert_eq!(gw.devices.len(), 200);
}

#[test]
fn skipped_records_are_reported_with_reasons_and_duplicates_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = ModelGateway::default();
    let mut records = inventory(3);
    records.push(json!({ "Name": "NO-SMSID", "IsClient": true }));
    records.push(device(0, "5.00.9122.1000"));
    let report = run(dir.path(), &records, &mut gw);
    assert_eq!((report.uploaded, report.skipped_count), (3, 2));
    assert!(report.skipped[0].reason.starts_with("SMSID is missing"));
    assert!(report.skipped[1].reason.contains("appears earlier"));
    let shown = serde_json::to_value(&report).expect("report JSON");
    for key in
        ["syncId", "kind", "dryRun", "considered", "eligible", "uploaded", "deleted", "unchanged", "skipped", "batches", "bytes", "durationMs", "nextRunTime"]
    {
        assert!(shown.get(key).is_some(), "report lacks {key}: {shown}");
    }
}

#[test]
fn twenty_thousand_devices_from_ndjson_sync_and_state_stays_compact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("devices.ndjson");
    let text: String = (0..20_000).map(|i| device(i, "5.00.9122.1000").to_string() + "\n").collect();
    std::fs::write(&file, text).expect("write");
    let mut gw = ModelGateway::default();
    let mut store = StateStore::open(&dir.path().join("state"), HIERARCHY).expect("opens");
    let total = inventory::count_ndjson_records(std::io::BufReader::new(std::fs::File::open(&file).expect("open"))).expect("count");
    let mut items = inventory::NdjsonReader::new(std::io::BufReader::new(std::fs::File::open(&file).expect("open")));
    let mut calls = 0u64;
    let mut progress = |done: u64, all: u64| {
        assert!(done <= all);
        calls += 1;
    };
    let mut hooks = Hooks { progress: &mut progress, cancelled: &|| false, logger: None };
    let report = sync::run(&mut store, sync::Input::Items(&mut items), total, &target(Scope::All, 1), &Options::default(), &mut gw, &mut hooks).expect("syncs");
    assert_eq!((report.uploaded, report.batches, gw.devices.len()), (20_000, 8, 20_000));
    assert!(calls >= 8);
    let size = std::fs::metadata(dir.path().join("state").join(HIERARCHY).join("DeviceSync.state")).expect("state").len();
    assert!(size < 20_000 * 80, "state is {size} bytes");
    let journal = std::fs::metadata(dir.path().join("state").join(HIERARCHY).join("DeviceSync.journal")).expect("journal").len();
    assert_eq!(journal, 0, "the journal is folded into the snapshot at the end of a run");
}

#[test]
fn cancelling_between_batches_keeps_what_was_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = ModelGateway::default();
    let records = inventory(1000);
    let items = inventory::parse_json(&Value::Array(records.clone()).to_string()).expect("parses");
    let mut store = StateStore::open(dir.path(), HIERARCHY).expect("opens");
    let posted = std::cell::Cell::new(0u64);
    let mut progress = |_: u64, _: u64| posted.set(posted.get() + 1);
    let cancelled = || posted.get() >= 3;
    let mut hooks = Hooks { progress: &mut progress, cancelled: &cancelled, logger: None };
    let mut iter = items.into_iter().map(Ok);
    let err = sync::run(&mut store, sync::Input::Items(&mut iter), 1000, &target(Scope::All, 1), &small_batches(), &mut gw, &mut hooks).expect_err("cancelled");
    assert_eq!(err.kind, ErrorKind::Cancelled);
    assert_eq!(store.state().devices.len(), 300);
    drop(store);
    let next = run(dir.path(), &records, &mut gw);
    assert_eq!((next.kind, next.uploaded), ("full", 1000));
    assert_converged(&gw, &records);
}

fn run_file(dir: &std::path::Path, records: &[Value], options: &Options, gateway: &mut ModelGateway) -> Report {
    let text: String = records.iter().map(|r| r.to_string() + "\n").collect();
    let mut store = StateStore::open(dir, HIERARCHY).expect("opens");
    let mut progress = |_: u64, _: u64| {};
    let mut hooks = Hooks { progress: &mut progress, cancelled: &|| false, logger: None };
    sync::run(&mut store, sync::Input::Ndjson(&mut text.as_bytes()), 0, &target(Scope::All, 1), options, gateway, &mut hooks).expect("syncs")
}

#[test]
fn ndjson_runs_skip_unchanged_lines_yet_catch_every_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = ModelGateway::default();
    let mut records = inventory(500);
    let first = run_file(dir.path(), &records, &small_batches(), &mut gw);
    assert_eq!((first.kind, first.uploaded), ("full", 500));
    assert!(dir.path().join(HIERARCHY).join("DeviceSync.lines").is_file(), "the line cache is written");

    let cache_file = dir.path().join(HIERARCHY).join("DeviceSync.lines");
    let written = std::fs::metadata(&cache_file).and_then(|m| m.modified()).expect("cache written");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let same = run_file(dir.path(), &records, &small_batches(), &mut gw);
    assert_eq!((same.kind, same.uploaded, same.unchanged, same.batches), ("delta", 0, 500, 0));
    let kept = std::fs::metadata(&cache_file).and_then(|m| m.modified()).expect("cache kept");
    assert_eq!(kept, written, "a run that changed nothing leaves the line cache as it was");

    records[7]["ClientVersion"] = json!("5.00.9132.1011");
    records[8]["IsClient"] = json!(false);
    records.remove(9);
    records.push(records[10].clone()); // an identical line twice: the second is a duplicate
    let delta = run_file(dir.path(), &records, &small_batches(), &mut gw);
    assert_eq!((delta.uploaded, delta.deleted, delta.ineligible, delta.skipped_count), (1, 2, 1, 1));
    assert_converged(&gw, &records);

    // The cloud lost a device behind the library's back and the state was told (a full sync):
    // a cached line whose SMSID the state no longer holds with that hash is parsed and sent again.
    let mut store = StateStore::open(dir.path(), HIERARCHY).expect("opens");
    store.commit_batch("manual", 0, Vec::new(), vec![records[0]["SMSID"].as_str().unwrap().to_owned()]).expect("commit");
    drop(store);
    let again = run_file(dir.path(), &records, &small_batches(), &mut gw);
    assert_eq!(again.uploaded, 1, "the device the state forgot is uploaded again");

    // Another collection tree: eligibility may differ, so the cache is not used.
    let other = Options { collection_tree: HashMap::from([("SMS00001".into(), vec!["PS100099".into()])]), ..small_batches() };
    let changed_rules = run_file(dir.path(), &records, &other, &mut gw);
    assert_eq!((changed_rules.uploaded, changed_rules.unchanged), (0, 498));
    assert_converged(&gw, &records);
}

fn allowing() -> Options {
    Options { guard: sync::Guard { allow: true, ..sync::Guard::default() }, ..small_batches() }
}

fn refused(result: Result<Report>) -> tenant_attach::Error {
    let e = result.expect_err("the deletion guard stops the run");
    assert_eq!(e.kind, ErrorKind::DeletionRefused, "{}", e.message);
    e
}

#[test]
fn an_empty_or_wholly_ineligible_input_stops_before_sending_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gateway = ModelGateway::default();
    let fleet = inventory(300);
    run(dir.path(), &fleet, &mut gateway);
    let posts = gateway.posts;
    let journal = std::fs::read(dir.path().join("DeviceSync.journal")).unwrap_or_default();

    // An empty pipeline (a mistyped collection, a query that found nothing).
    let e = refused(run_with(dir.path(), &[], &target(Scope::All, 1), &small_batches(), &mut gateway));
    assert!(e.message.contains("no device records") && e.message.contains("all 300 devices") && e.message.contains("-Force"), "{}", e.message);
    assert_eq!(e.details.as_ref().expect("details")["wouldDelete"], 300);
    // Records, none of them eligible: non-clients, obsolete ones.
    let mut ineligible = inventory(5);
    for (i, r) in ineligible.iter_mut().enumerate() {
        if i % 2 == 0 {
            r["IsClient"] = json!(false);
        } else {
            r["IsObsolete"] = json!(true);
        }
    }
    let e = refused(run_with(dir.path(), &ineligible, &target(Scope::All, 1), &small_batches(), &mut gateway));
    assert!(e.message.contains("none of the 5 records is eligible"), "{}", e.message);
    // A forced full sync of it is stopped just the same.
    refused(run_with(dir.path(), &[], &target(Scope::All, 1), &Options { mode: Mode::Full, ..small_batches() }, &mut gateway));

    assert_eq!(gateway.posts, posts, "nothing was sent");
    assert_converged(&gateway, &fleet);
    assert_eq!(std::fs::read(dir.path().join("DeviceSync.journal")).unwrap_or_default(), journal, "nothing was recorded");
    assert!(!dir.path().join("upload.spool").exists());

    // A dry run says what a real run would do, and sends nothing.
    let dry = run_with(dir.path(), &[], &target(Scope::All, 1), &Options { dry_run: true, ..small_batches() }, &mut gateway).expect("dry run");
    assert_eq!(dry.deleted, 300);
    assert!(dry.warnings.iter().any(|w| w.starts_with("A real run would stop: ")), "{:?}", dry.warnings);

    // Allowed explicitly, it goes ahead.
    let gone = run_with(dir.path(), &[], &target(Scope::All, 1), &allowing(), &mut gateway).expect("allowed");
    assert_eq!((gone.kind, gone.deleted), ("delta", 300));
    assert!(gateway.devices.is_empty());
}

#[test]
fn a_run_that_would_delete_more_than_the_threshold_sends_nothing_not_even_its_uploads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gateway = ModelGateway::default();
    let fleet = inventory(1_000);
    run(dir.path(), &fleet, &mut gateway);
    let posts = gateway.posts;

    // 150 devices change and 150 leave (15% of 1,000, over the 10% share): the changes come first
    // in the input, in more than one batch, and still nothing is sent.
    let mut half: Vec<Value> = fleet[..850].to_vec();
    for r in half.iter_mut().take(150) {
        r["ClientVersion"] = json!("5.00.9132.1000");
    }
    let e = refused(run_with(dir.path(), &half, &target(Scope::All, 1), &small_batches(), &mut gateway));
    assert!(e.message.contains("would remove 150 of the 1000 devices") && e.message.contains("more than the 100 allowed"), "{}", e.message);
    assert_eq!(gateway.posts, posts, "nothing was sent");
    assert!(!dir.path().join("upload.spool").exists(), "the held batches are gone");
    // The same as a full sync (its final sweep would delete them).
    let e = refused(run_with(dir.path(), &half, &target(Scope::All, 1), &Options { mode: Mode::Full, ..small_batches() }, &mut gateway));
    assert!(e.message.contains("would remove 150 of the 1000"), "{}", e.message);
    assert_eq!(gateway.posts, posts, "nothing was sent");
    assert_converged(&gateway, &fleet);

    // Within the threshold (100 = 10%), the run goes through: held batches first, in order.
    let ninety: Vec<Value> = half.iter().cloned().chain(fleet[850..910].iter().cloned()).collect();
    let ok = run_with(dir.path(), &ninety, &target(Scope::All, 1), &small_batches(), &mut gateway).expect("within the guard");
    assert_eq!((ok.uploaded, ok.deleted), (150, 90));
    assert_converged(&gateway, &ninety);

    // A larger threshold or the explicit allowance lets a bigger removal through.
    let few: Vec<Value> = ninety[..100].to_vec();
    refused(run_with(dir.path(), &few, &target(Scope::All, 1), &small_batches(), &mut gateway));
    let bigger = Options { guard: sync::Guard { max_deletions: 5_000, max_percent: 100, allow: false }, ..small_batches() };
    let ok = run_with(dir.path(), &few, &target(Scope::All, 1), &bigger, &mut gateway).expect("threshold raised");
    assert_eq!(ok.deleted, 810);
    assert_converged(&gateway, &few);
}

#[test]
fn a_full_sync_of_a_known_fleet_is_held_until_the_input_proves_it_safe_then_sent_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gateway = ModelGateway::default();
    let fleet = inventory(2_000);
    run(dir.path(), &fleet, &mut gateway);
    let changed: Vec<Value> = fleet
        .iter()
        .map(|r| {
            json!({ "ClientVersion": "5.00.9140.1000" }).as_object().unwrap().iter().fold(r.clone(), |mut r, (k, v)| {
                r[k] = v.clone();
                r
            })
        })
        .collect();
    let full = run_with(dir.path(), &changed, &target(Scope::All, 1), &Options { mode: Mode::Full, ..small_batches() }, &mut gateway).expect("full");
    assert_eq!((full.kind, full.uploaded, full.deleted, full.batches), ("full", 2_000, 0, 20));
    assert_converged(&gateway, &changed);
    assert!(!dir.path().join("upload.spool").exists());
}

#[test]
fn a_collection_scope_takes_its_members_from_get_cmcollectionmember_and_never_deletes_without_membership() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gateway = ModelGateway::default();
    // Get-CMDevice output carries no CollectionIDs.
    let fleet: Vec<Value> = inventory(1_000)
        .into_iter()
        .map(|mut r| {
            r.as_object_mut().unwrap().remove("CollectionIDs");
            r
        })
        .collect();
    let scope = target(Scope::Collection { collection_id: "PS100012".into() }, 1);
    // Without membership nothing can be chosen: stopped, even when deletions are allowed.
    for options in [small_batches(), allowing()] {
        let e = refused(run_with(dir.path(), &fleet, &scope, &options, &mut gateway));
        assert!(
            e.message.contains("says nothing of collection membership") && e.message.contains("Get-CMCollectionMember -CollectionId PS100012"),
            "{}",
            e.message
        );
    }
    assert_eq!(gateway.posts, 0);

    let members: HashSet<String> = fleet.iter().step_by(4).map(|r| r["SMSID"].as_str().unwrap().to_owned()).collect();
    let options = Options { collection_members: Some(members.clone()), ..small_batches() };
    let first = run_with(dir.path(), &fleet, &scope, &options, &mut gateway).expect("members");
    assert_eq!((first.kind, first.uploaded, first.ineligible), ("full", 250, 750));
    assert_eq!(gateway.devices.keys().cloned().collect::<HashSet<_>>(), members, "exactly the members");
    let again = run_with(dir.path(), &fleet, &scope, &options, &mut gateway).expect("delta");
    assert_eq!((again.kind, again.uploaded, again.deleted), ("delta", 0, 0));
}

#[test]
fn system_resource_records_are_read_and_obsolete_ones_are_not_uploaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gateway = ModelGateway::default();
    // SMS_R_System spells the SMSID and the client flag differently (Client is 0/1).
    let records = vec![
        json!({ "Name": "PC-R-01", "SMSUniqueIdentifier": "GUID:AAAA0001", "Client": 1, "ResourceID": 16777300 }),
        json!({ "Name": "PC-R-02", "SMSUniqueIdentifier": "GUID:AAAA0002", "Client": 0, "ResourceID": 16777301 }),
        json!({ "Name": "PC-R-03", "SMSID": "GUID:AAAA0003", "IsClient": true, "IsObsolete": true }),
        json!({ "Name": "PC-R-04", "SMSID": "GUID:AAAA0004", "IsClient": true, "IsObsolete": false }),
    ];
    let report = run_with(dir.path(), &records, &target(Scope::All, 1), &small_batches(), &mut gateway).expect("sync");
    assert_eq!((report.uploaded, report.ineligible), (2, 2));
    assert_eq!(gateway.devices.keys().map(String::as_str).collect::<Vec<_>>(), ["GUID:AAAA0001", "GUID:AAAA0004"]);
}

/// NDJSON runs under a collection scope: the line cache (unchanged lines are not parsed again).
fn run_ndjson(dir: &std::path::Path, records: &[Value], target: &Target, options: &Options, gateway: &mut ModelGateway) -> Result<Report> {
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    let mut store = StateStore::open(dir, HIERARCHY)?;
    let mut input = std::io::Cursor::new(text.into_bytes());
    let mut progress = |_: u64, _: u64| {};
    let mut hooks = Hooks { progress: &mut progress, cancelled: &|| false, logger: None };
    sync::run(&mut store, sync::Input::Ndjson(&mut input), records.len() as u64, target, options, gateway, &mut hooks)
}

#[test]
fn an_unchanged_ndjson_export_under_a_collection_scope_is_a_no_change_run_and_leavers_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gateway = ModelGateway::default();
    let scope = target(Scope::Collection { collection_id: "PS100012".into() }, 1);
    // An inventory export: members carry CollectionIDs, the others none.
    let export: Vec<Value> = inventory(200)
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r["CollectionIDs"] = if i < 150 { json!(["PS100012"]) } else { json!([]) };
            r
        })
        .collect();
    let first = run_ndjson(dir.path(), &export, &scope, &small_batches(), &mut gateway).expect("full");
    assert_eq!((first.kind, first.uploaded), ("full", 150));
    let again = run_ndjson(dir.path(), &export, &scope, &small_batches(), &mut gateway).expect("the same export again is no change, not refused");
    assert_eq!((again.kind, again.uploaded, again.deleted, again.unchanged), ("delta", 0, 0, 150));

    // Membership given apart: five members leave the collection while the export stays the same.
    let plain: Vec<Value> = export
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("CollectionIDs");
            r
        })
        .collect();
    let members =
        |n: usize| Options { collection_members: Some(plain[..n].iter().map(|r| r["SMSID"].as_str().unwrap().to_owned()).collect()), ..small_batches() };
    run_ndjson(dir.path(), &plain, &scope, &members(150), &mut gateway).expect("members given apart");
    let leavers = run_ndjson(dir.path(), &plain, &scope, &members(145), &mut gateway).expect("five leave");
    assert_eq!((leavers.kind, leavers.deleted), ("delta", 5));
    assert_eq!(gateway.devices.len(), 145);
}

/// The line cache (DeviceSync.lines) only saves parsing: thirty runs over an input that is
/// reordered, changed, grown, shrunk, given duplicates, non-clients and broken lines decide exactly
/// what the same runs decide with the cache removed before each of them, under a collection scope
/// too (its membership given apart, so cached ineligible lines must follow membership changes).
#[test]
fn the_line_cache_never_changes_what_a_run_decides() {
    let (cached, uncached) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let (mut gw_cached, mut gw_uncached) = (ModelGateway::default(), ModelGateway::default());
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut records: Vec<Value> = inventory(400);
    let mut fresh_id = 400;
    for round in 0..30 {
        match round % 6 {
            0 => records.reverse(),
            1 => {
                for _ in 0..20 {
                    let i = next(records.len() as u64) as usize;
                    records[i]["ClientVersion"] = json!(format!("5.00.{round}.{}", next(1000)));
                }
            }
            2 => {
                for _ in 0..15 {
                    let at = next(records.len() as u64) as usize;
                    records.insert(at, device(fresh_id, "5.00.9122.1000"));
                    fresh_id += 1;
                }
                for _ in 0..10 {
                    let at = next(records.len() as u64) as usize;
                    records.remove(at);
                }
            }
            3 => {
                // A line twice, the same SMSID with other content, a non-client, a broken record.
                let i = next(records.len() as u64) as usize;
                let twin = records[i].clone();
                let mut other = records[(i + 1) % records.len()].clone();
                other["Name"] = json!("SAME-SMSID-OTHER-NAME");
                records.push(twin);
                records.push(other);
                let j = next(records.len() as u64) as usize;
                records[j]["IsClient"] = json!(false);
                records.push(json!({ "Name": "NO-SMSID", "IsClient": true }));
            }
            4 => {
                let j = next(records.len() as u64) as usize;
                records[j]["IsClient"] = json!(true);
                let by = next(records.len() as u64) as usize;
                records.rotate_left(by);
            }
            _ if round % 12 == 5 => {
                // Another caller (a C# tool's JSON array) changes devices the cache knows; the next
                // NDJSON run, with the old lines, must send them back as they are in the file.
                let mut changed: Vec<Value> = records.iter().filter(|r| r.get("SMSID").is_some()).take(30).cloned().collect();
                for r in &mut changed {
                    r["ClientVersion"] = json!("5.00.0000.0000");
                }
                let mut options = Options { mode: Mode::Partial, ..Options::default() };
                options.guard.allow = true;
                run_with(cached.path(), &changed, &target(Scope::All, 1), &options, &mut gw_cached).expect("partial run");
                run_with(uncached.path(), &changed, &target(Scope::All, 1), &options, &mut gw_uncached).expect("partial run");
            }
            _ => {} // unchanged: a no-change run on both sides
        }
        let mut options = Options { max_records: 50, ..Options::default() };
        options.guard.allow = true;
        let _ = std::fs::remove_file(uncached.path().join(HIERARCHY).join("DeviceSync.lines"));
        let a = run_ndjson(cached.path(), &records, &target(Scope::All, 1), &options, &mut gw_cached).expect("cached run");
        let b = run_ndjson(uncached.path(), &records, &target(Scope::All, 1), &options, &mut gw_uncached).expect("uncached run");
        let shape = |r: &Report| (r.kind, r.considered, r.eligible, r.ineligible, r.uploaded, r.deleted, r.unchanged, r.skipped_count);
        assert_eq!(shape(&a), shape(&b), "round {round}");
        assert_eq!(gw_cached.devices, gw_uncached.devices, "round {round}");
    }
    // The last round was a no-change run, with non-clients, duplicates and a broken record in its
    // input: it recognised every line it could, so the cache it read is left as it was (it was
    // rewritten by every such run while non-clients were never cached).
    let lines = cached.path().join(HIERARCHY).join("DeviceSync.lines");
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mut options = Options { max_records: 50, ..Options::default() };
        options.guard.allow = true;
        // Each SMSID once (duplicates are reported, and so parsed, every run).
        let mut ids = HashSet::new();
        let clean: Vec<Value> = records.iter().filter(|r| r["SMSID"].as_str().is_some_and(|id| ids.insert(id.to_owned()))).cloned().collect();
        run_ndjson(cached.path(), &clean, &target(Scope::All, 1), &options, &mut gw_cached).expect("a run that writes the cache for this input");
        let before = std::fs::metadata(&lines).expect("cache").ino();
        let again = run_ndjson(cached.path(), &clean, &target(Scope::All, 1), &options, &mut gw_cached).expect("no-change run");
        assert_eq!((again.uploaded, again.deleted, again.unchanged + again.ineligible), (0, 0, clean.len() as u64));
        assert!(again.ineligible > 0, "the input holds non-clients");
        assert_eq!(std::fs::metadata(&lines).expect("cache").ino(), before, "a no-change run leaves the line cache alone");
    }
    assert!(lines.exists());

    // A collection scope whose members are given apart: membership changes, lines do not.
    let (cached, uncached) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let (mut gw_cached, mut gw_uncached) = (ModelGateway::default(), ModelGateway::default());
    let records = inventory(200);
    let scope = Scope::Collection { collection_id: "PS100010".into() };
    for round in 0..6u64 {
        let members: HashSet<String> =
            records.iter().enumerate().filter(|(i, _)| (*i as u64 + round) % 3 != 0).map(|(_, r)| r["SMSID"].as_str().unwrap().to_owned()).collect();
        let mut options = Options { collection_members: Some(members), ..Options::default() };
        options.guard.allow = true;
        let _ = std::fs::remove_file(uncached.path().join(HIERARCHY).join("DeviceSync.lines"));
        let a = run_ndjson(cached.path(), &records, &target(scope.clone(), 1), &options, &mut gw_cached).expect("cached run");
        let b = run_ndjson(uncached.path(), &records, &target(scope.clone(), 1), &options, &mut gw_uncached).expect("uncached run");
        assert_eq!((a.eligible, a.ineligible, a.uploaded, a.deleted), (b.eligible, b.ineligible, b.uploaded, b.deleted), "membership round {round}");
        assert_eq!(gw_cached.devices, gw_uncached.devices, "membership round {round}");
    }
}
