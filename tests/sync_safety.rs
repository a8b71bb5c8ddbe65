//! The cloud decides every deletion: an administrator's bad days (a wiped or damaged state folder,
//! partial input, a new onboarding from another console, a record that turned bad, a first run
//! that was partial, an export cut short, SMSIDs in another letter case, partial input run after
//! run) never lose a device that still exists in ConfigMgr. The library runs against
//! tenant-attach-cloud, and the cloud is read back through Graph as the admin center reads it.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};
use tenant_attach::sync::{Input, Mode, Options, Report};
use tenant_attach::{Client, ErrorKind};
use tenant_attach_cloud::{CloudHandle, TestCloud, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, CONTOSO_TENANT};

const HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-0000000027aa";
const NEVER: &dyn Fn() -> bool = &|| false;
const SITE_APP: &str = "e0000000-0000-4000-8000-0000000027e5";
const SITE_SECRET: &str = "safety~site.secret.0027";

struct Site {
    cloud: Arc<CloudHandle>,
    dir: tempfile::TempDir,
    admin: Client,
}

fn config(cloud: &CloudHandle, state: &std::path::Path, logs: &std::path::Path, app: &str, secret: &str) -> String {
    json!({ "tenantId": CONTOSO_TENANT, "siteCode": "PS1", "hierarchyId": HIERARCHY,
        "endpoints": { "authority": cloud.url(), "graph": cloud.url(), "gateway": cloud.url() },
        "trustedCaFile": cloud.ca_file(), "stateDir": state, "logDir": logs,
        "auth": { "kind": "clientSecret", "clientId": app, "clientSecret": secret } })
    .to_string()
}

impl Site {
    /// A cloud with the site's app, the hierarchy onboarded by importing it.
    fn onboarded() -> Site {
        let cloud = Arc::new(TestCloud::start().expect("cloud"));
        let dir = tempfile::tempdir().expect("tempdir");
        cloud
            .seed(
                serde_json::from_value(json!({ "apps": [{ "appId": SITE_APP, "tenantId": CONTOSO_TENANT, "displayName": "Site", "secret": SITE_SECRET }] }))
                    .expect("seed"),
            )
            .expect("seeded");
        let admin =
            Client::open_json(&config(&cloud, &dir.path().join("admin-state"), &dir.path().join("logs"), CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET))
                .expect("admin");
        let site = Site { cloud, dir, admin };
        site.server("state").register(&import(), NEVER).expect("onboarded");
        site
    }

    /// A site server whose state folder is `state` (under the test's folder).
    fn server(&self, state: &str) -> Client {
        Client::open_json(&config(&self.cloud, &self.dir.path().join(state), &self.dir.path().join("logs"), SITE_APP, SITE_SECRET)).expect("site")
    }

    /// The SMSIDs the admin center shows for this hierarchy.
    fn in_graph(&self) -> BTreeSet<String> {
        self.admin
            .list_devices(None, NEVER)
            .expect("list")
            .iter()
            .map(|d| d["configurationManagerClientInformation"]["clientIdentifier"].as_str().expect("client id").to_owned())
            .collect()
    }

    /// A helpdesk operator signed in by device code (approved at once).
    fn helpdesk(&self) -> Client {
        let text = config(&self.cloud, &self.dir.path().join("helpdesk"), &self.dir.path().join("logs"), SITE_APP, SITE_SECRET);
        let mut value: Value = serde_json::from_str(&text).expect("config");
        value["auth"] = json!({ "kind": "deviceCode" });
        let client = Client::open_json(&value.to_string()).expect("helpdesk");
        let cloud = self.cloud.clone();
        client.set_device_code_prompt(Arc::new(move |p| {
            cloud.approve_device_code(&p.user_code, "helpdesk@contoso.onmicrosoft.com").expect("approve");
            Ok(())
        }));
        client
    }

    fn onboarding(&self) -> Value {
        let services = self.server("state").services().expect("services");
        tenant_attach::onboarding::get(&services, HIERARCHY, NEVER).expect("read").expect("onboarded")
    }
}

fn import() -> String {
    json!({ "import": { "clientId": SITE_APP, "clientSecret": SITE_SECRET, "secretExpiry": "2030-01-01T00:00:00Z", "appIdUri": format!("api://{CONTOSO_TENANT}/ConfigMgr") } })
        .to_string()
}

fn device(i: usize) -> Value {
    json!({ "Name": format!("PC-{i:04}"), "SMSID": format!("GUID:27000000-0000-4000-8000-{i:012}"), "IsClient": true, "ClientVersion": "5.00.9128.1000" })
}

fn fleet(n: usize) -> Vec<Value> {
    (0..n).map(device).collect()
}

fn ids(devices: &[Value]) -> BTreeSet<String> {
    devices.iter().map(|d| d["SMSID"].as_str().expect("smsid").to_ascii_uppercase()).collect()
}

fn sync(site: &Client, devices: &[Value], options: Options) -> tenant_attach::Result<Report> {
    let items = tenant_attach::inventory::parse_json(&Value::Array(devices.to_vec()).to_string())?;
    let total = items.len() as u64;
    site.sync_devices(Input::Items(&mut items.into_iter().map(Ok)), total, options, &mut |_, _| {}, NEVER)
}

#[test]
fn a_wiped_state_folder_with_partial_input_is_refused_and_the_cloud_keeps_every_device() {
    let site = Site::onboarded();
    let all = fleet(100);
    let first = sync(&site.server("state"), &all, Options::default()).expect("full sync");
    assert_eq!((first.kind, first.uploaded), ("full", 100));

    std::fs::remove_dir_all(site.dir.path().join("state")).expect("the state folder is gone");
    // (Reading the status first, as the runbook does, leaves an empty journal: still no state.)
    site.server("state").status(NEVER).expect("status");
    let refused = sync(&site.server("state"), &all[..30], Options::default()).expect_err("a missing state with an earlier sync in the cloud");
    assert_eq!(refused.kind, ErrorKind::DeletionRefused);
    assert!(refused.message.contains("was expected in") && refused.message.contains("100 of its devices"), "{}", refused.message);
    assert!(!tenant_attach::sync::state::StateStore::exists(&site.dir.path().join("state"), HIERARCHY), "no state is made");
    assert_eq!(site.in_graph(), ids(&all), "every device is still in the admin center");

    // Another place for the state (a mistyped -StateDirectory) is the same.
    let elsewhere = sync(&site.server("typo"), &all[..30], Options::default()).expect_err("a state folder that was never used");
    assert_eq!(elsewhere.kind, ErrorKind::DeletionRefused);
    assert_eq!(site.in_graph(), ids(&all));
}

#[test]
fn a_new_server_taking_over_with_the_whole_fleet_loses_nothing_and_with_part_of_it_removes_nothing() {
    let site = Site::onboarded();
    let all = fleet(40);
    sync(&site.server("state"), &all, Options::default()).expect("full sync");
    let taking_over = Options { take_over: true, ..Options::default() };
    // Taking over lets a run start from a missing state; the cloud's own count still guards it.
    let partial = sync(&site.server("new-server"), &all[..10], taking_over.clone()).expect_err("a quarter of the fleet");
    assert_eq!(partial.kind, ErrorKind::DeletionRefused);
    assert!(partial.message.contains("would remove 30 of the 40 devices"), "{}", partial.message);
    assert_eq!(site.in_graph(), ids(&all));
    let fresh = sync(&site.server("new-server"), &all, taking_over).expect("the new server's first run");
    assert_eq!((fresh.kind, fresh.deleted), ("full", 0));
    assert_eq!(site.in_graph(), ids(&all));
}

#[test]
fn a_damaged_state_with_partial_input_is_refused_against_the_clouds_own_count() {
    let site = Site::onboarded();
    let all = fleet(200);
    sync(&site.server("state"), &all, Options::default()).expect("full sync");
    let snapshot = site.dir.path().join("state").join(HIERARCHY).join("DeviceSync.state");
    let mut bytes = std::fs::read(&snapshot).expect("snapshot");
    let last = bytes.len() - 5;
    bytes[last] ^= 0x5a;
    std::fs::write(&snapshot, bytes).expect("damaged");

    let refused = sync(&site.server("state"), &all[..20], Options::default()).expect_err("the repaired full sync would sweep 180");
    assert_eq!(refused.kind, ErrorKind::DeletionRefused);
    assert!(refused.message.contains("would remove 180 of the 200 devices") && refused.message.contains("repaired"), "{}", refused.message);
    assert_eq!(site.in_graph(), ids(&all), "nothing was removed");
    let details = refused.details.expect("details");
    assert_eq!((details["wouldDelete"].as_u64(), details["devicesKnown"].as_u64()), (Some(180), Some(200)));

    // With the whole fleet, the repaired full sync goes through and removes nothing.
    let repaired = sync(&site.server("state"), &all, Options::default()).expect("the whole fleet");
    assert_eq!((repaired.kind, repaired.deleted), ("full", 0));
    assert_eq!(site.in_graph(), ids(&all));
}

#[test]
fn the_gateway_refuses_a_sweep_beyond_the_guard_on_its_own_count() {
    let site = Site::onboarded();
    let all = fleet(60);
    sync(&site.server("state"), &all, Options::default()).expect("full sync");
    let services = site.server("state").services().expect("services");
    let post = |body: Value| services.gateway("POST", "/api/gateway/DevicePost", Some(&body), true, "a test batch", NEVER).expect("answered");
    // A full sync of 20 of the 60 devices, as a caller that skips the library's own guard would send it.
    let devices: Vec<Value> = (0..20).map(|i| json!({ "smsId": format!("GUID:27000000-0000-4000-8000-{i:012}"), "name": format!("PC-{i:04}") })).collect();
    let instance = std::fs::read_to_string(site.dir.path().join("state").join(HIERARCHY).join("DeviceSync.instance")).expect("instance id");
    let body = json!({ "hierarchyId": HIERARCHY, "syncId": "1b1b1b1b-0000-4000-8000-000000000001", "sequence": 0, "kind": "full", "final": true,
        "devices": devices, "deletions": [], "siteInstanceId": instance.trim() });
    let refused = post(body.clone());
    assert_eq!(refused.status, 409);
    let answer: Value = serde_json::from_slice(&refused.body).expect("JSON");
    assert_eq!(answer["error"]["code"], "DeletionRefused");
    assert_eq!((answer["error"]["wouldRemove"].as_u64(), answer["error"]["devicesKnown"].as_u64()), (Some(40), Some(60)));
    assert_eq!(site.in_graph(), ids(&all), "a refused sweep removes nothing");

    // The explicit override goes ahead, and the answer says how many it removed.
    let mut forced = body;
    forced["syncId"] = json!("1b1b1b1b-0000-4000-8000-000000000002");
    forced["allowMassDeletion"] = json!(true);
    let done = post(forced);
    assert_eq!(done.status, 200);
    let answer: Value = serde_json::from_slice(&done.body).expect("JSON");
    assert_eq!((answer["removed"].as_u64(), answer["deviceCount"].as_u64()), (Some(40), Some(20)));
}

#[test]
fn reonboarding_from_another_console_brings_every_unchanged_device_back() {
    let site = Site::onboarded();
    let all = fleet(25);
    let server = site.server("state");
    sync(&server, &all, Options::default()).expect("full sync");
    let epoch = site.onboarding()["epoch"].as_str().expect("epoch").to_owned();

    // Another console offboards and onboards the hierarchy again: the cloud forgets its devices.
    let console = site.server("console");
    console.unregister(NEVER).expect("offboarded");
    console.register(&import(), NEVER).expect("onboarded again");
    assert!(site.in_graph().is_empty());
    assert_ne!(site.onboarding()["epoch"], epoch, "a new onboarding epoch");

    let next = sync(&server, &all, Options::default()).expect("the site's next run");
    assert_eq!(next.kind, "full");
    assert!(next.reason.as_deref().is_some_and(|r| r.contains("onboarded again")), "{:?}", next.reason);
    assert_eq!(site.in_graph(), ids(&all), "every device is back");
    let after = sync(&server, &all, Options::default()).expect("then a delta");
    assert_eq!((after.kind, after.uploaded), ("delta", 0));
}

#[test]
fn a_second_server_is_refused_by_name_until_it_takes_over_and_then_the_first_is() {
    let site = Site::onboarded();
    let all = fleet(30);
    let server = site.server("state");
    sync(&server, &all, Options::default()).expect("full sync");
    // A copied runbook on another server uploads five devices of its own.
    let extra: Vec<Value> = (100..105).map(device).collect();
    let copy = site.server("copy");
    let refused = sync(&copy, &extra, Options { mode: Mode::Partial, ..Options::default() }).expect_err("another site instance");
    assert_eq!(refused.kind, ErrorKind::Conflict);
    let machine = tenant_attach::sync::machine_name();
    assert!(refused.message.contains(&machine) && refused.message.contains("-TakeOver"), "{}", refused.message);
    assert_eq!(site.in_graph(), ids(&all), "nothing was sent");

    // A migration: the new server takes over (and the cloud records it).
    sync(&copy, &extra, Options { mode: Mode::Partial, take_over: true, ..Options::default() }).expect("taken over");
    assert_eq!(site.onboarding()["takeovers"].as_array().map(Vec::len), Some(1));
    let old = sync(&server, &all, Options::default()).expect_err("the old server is refused now");
    assert_eq!(old.kind, ErrorKind::Conflict);

    // Taking it back: its state disagrees with the cloud's count, so the run is a full sync.
    let next = sync(&server, &all, Options { take_over: true, ..Options::default() }).expect("the site's next run");
    assert_eq!(next.kind, "full");
    assert!(next.reason.as_deref().is_some_and(|r| r.contains("the cloud holds 35 devices")), "{:?}", next.reason);
    assert_eq!((next.deleted, site.in_graph()), (5, ids(&all)), "the full sync makes the cloud exact again");
    let log = tenant_attach::cmtrace::read_entries(&site.dir.path().join("logs/CMGatewaySyncUploadWorker.log")).expect("log");
    assert!(log.iter().any(|e| e.message.starts_with("Taking over the uploads of hierarchy")), "the takeover is logged");
}

#[test]
fn a_record_that_turned_bad_keeps_its_device_in_the_cloud() {
    let site = Site::onboarded();
    let mut all = fleet(20);
    let server = site.server("state");
    sync(&server, &all, Options::default()).expect("full sync");
    all[5]["Name"] = json!("N".repeat(2000)); // over the 1,024-character limit
    all[6]["IsClient"] = json!([1]); // a wrong type
    let delta = sync(&server, &all, Options::default()).expect("delta");
    assert_eq!((delta.kind, delta.skipped_count, delta.deleted), ("delta", 2, 0));
    assert!(
        delta.skipped.iter().any(|s| s.reason.contains("Name") && s.sms_id.as_deref() == Some("GUID:27000000-0000-4000-8000-000000000005")),
        "{:?}",
        delta.skipped
    );
    assert_eq!(site.in_graph(), ids(&all), "the two devices stay");

    let full = sync(&server, &all, Options { mode: Mode::Full, ..Options::default() }).expect("a full sync");
    assert_eq!((full.kind, full.deleted), ("full", 0));
    assert_eq!(site.in_graph(), ids(&all), "a full sync's sweep keeps them too");
    let again = sync(&server, &all, Options::default()).expect("and the next delta");
    assert_eq!((again.kind, again.deleted), ("delta", 0), "the state kept their entries");
}

#[test]
fn a_bad_record_on_a_new_servers_first_run_keeps_its_device_and_the_next_runs_are_deltas() {
    let site = Site::onboarded();
    let mut all = fleet(20);
    sync(&site.server("state"), &all, Options::default()).expect("full sync");
    all[5]["Name"] = json!(5); // a wrong type, on the new server's first run
    let new_server = site.server("new-server");
    let first = sync(&new_server, &all, Options { take_over: true, ..Options::default() }).expect("taken over");
    assert_eq!((first.kind, first.deleted), ("full", 0));
    assert_eq!(site.in_graph(), ids(&all), "the device stays");
    let next = sync(&new_server, &all, Options::default()).expect("next");
    assert_eq!((next.kind, next.uploaded), ("delta", 0), "the state counts the kept device, so it agrees with the cloud: {:?}", next.reason);
    all[5]["Name"] = json!("PC-0005");
    let fixed = sync(&new_server, &all, Options::default()).expect("fixed");
    assert_eq!((fixed.kind, fixed.uploaded), ("delta", 1), "its next good record is sent");
}

#[test]
fn a_full_sync_with_many_records_turned_bad_is_not_taken_for_a_mass_removal() {
    let site = Site::onboarded();
    let mut all = fleet(100);
    let server = site.server("state");
    sync(&server, &all, Options::default()).expect("full sync");
    for d in all.iter_mut().take(30) {
        d["IsClient"] = json!("maybe"); // a wrong type: 30 of 100, beyond the guard's 10
    }
    let full = sync(&server, &all, Options { mode: Mode::Full, ..Options::default() }).expect("the kept devices are listed, not removed");
    assert_eq!((full.kind, full.skipped_count, full.deleted), ("full", 30, 0));
    assert_eq!(site.in_graph(), ids(&all));
}

#[test]
fn a_partial_first_run_leaves_the_next_automatic_run_a_full_sync() {
    let site = Site::onboarded();
    let all = fleet(12);
    let server = site.server("state");
    let partial = sync(&server, &all[..3], Options { mode: Mode::Partial, ..Options::default() }).expect("partial");
    assert_eq!(partial.kind, "partial");
    let next = sync(&server, &all, Options::default()).expect("automatic");
    assert_eq!(next.kind, "full", "{:?}", next.reason);
    let then = sync(&server, &all, Options::default()).expect("then");
    assert_eq!(then.kind, "delta");
}

#[test]
fn an_ndjson_export_cut_in_the_middle_of_a_line_deletes_nothing() {
    let site = Site::onboarded();
    let all = fleet(50);
    let server = site.server("state");
    sync(&server, &all, Options::default()).expect("full sync");
    let mut text: String = all[..10].iter().map(|d| format!("{d}\n")).collect();
    text.push_str(&all[10].to_string()[..30]); // cut mid-record, no line end
    let mut input = std::io::Cursor::new(text.into_bytes());
    let refused = server.sync_devices(Input::Ndjson(&mut input), 0, Options::default(), &mut |_, _| {}, NEVER).expect_err("cut short");
    assert_eq!(refused.kind, ErrorKind::InvalidJson);
    assert!(refused.message.contains("incomplete"), "{}", refused.message);
    assert_eq!(site.in_graph(), ids(&all));
}

#[test]
fn an_ndjson_file_is_checked_whole_before_anything_is_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("devices.ndjson");
    let lines: String = fleet(3).iter().map(|d| format!("{d}\n")).collect();
    let check = |text: &str| {
        std::fs::write(&file, text).expect("write");
        tenant_attach::inventory::check_ndjson_file(&file)
    };
    assert_eq!(check(&lines).expect("whole"), 3);
    assert_eq!(check(&format!("{lines}{{\"@tenantAttachTrailer\":{{\"records\":3}}}}\n")).expect("with its trailer"), 3);
    let wrong = check(&format!("{lines}{{\"@tenantAttachTrailer\":{{\"records\":4}}}}\n")).expect_err("a trailer that counts more");
    assert!(wrong.message.contains("trailer says it holds 4 records, but 3 were found"), "{}", wrong.message);
    let unterminated = check(lines.trim_end()).expect_err("no line end");
    assert!(unterminated.message.contains("has no line end"), "{}", unterminated.message);
    let garbage = check(&format!("{lines}{{\"Name\":\"PC-9\",\"SM\n")).expect_err("a last line cut");
    assert!(garbage.message.contains("not a whole JSON object"), "{}", garbage.message);
}

#[test]
fn smsids_that_differ_only_in_letter_case_are_one_device() {
    let site = Site::onboarded();
    let mut all = fleet(10);
    let server = site.server("state");
    sync(&server, &all, Options::default()).expect("full sync");
    let lower = all[3]["SMSID"].as_str().expect("smsid").to_ascii_lowercase();
    all[3]["SMSID"] = json!(lower);
    let next = sync(&server, &all, Options::default()).expect("delta");
    assert_eq!((next.kind, next.uploaded, next.deleted), ("delta", 0, 0), "the same device, unchanged");
    assert_eq!(site.in_graph().len(), 10);
}

#[test]
fn partial_input_run_after_run_cannot_sweep_the_cloud_a_few_devices_at_a_time() {
    let site = Site::onboarded();
    let all = fleet(100);
    let server = site.server("state");
    sync(&server, &all, Options::default()).expect("full sync");
    // 10% of 100 is 10 a day: eight go, then eight more are refused.
    let first = sync(&server, &all[..92], Options::default()).expect("eight removed");
    assert_eq!(first.deleted, 8);
    let second = sync(&server, &all[..84], Options::default()).expect_err("eight more within 24 hours");
    assert_eq!(second.kind, ErrorKind::DeletionRefused);
    assert!(second.message.contains("8 were removed in the last 24 hours"), "{}", second.message);
    assert_eq!(site.in_graph(), ids(&all[..92]));
}

#[test]
fn the_report_and_the_log_say_what_the_cloud_removed() {
    let site = Site::onboarded();
    let all = fleet(30);
    let server = site.server("state");
    sync(&server, &all, Options::default()).expect("full sync");
    let full = sync(&server, &all[..27], Options { mode: Mode::Full, ..Options::default() }).expect("a full sync of 27");
    assert_eq!((full.kind, full.deleted), ("full", 3));
    assert_eq!(site.onboarding()["lastSync"]["removed"], 3);
    let log = tenant_attach::cmtrace::read_entries(&site.dir.path().join("logs/CMGatewaySyncUploadWorker.log")).expect("log");
    assert!(log.iter().any(|e| e.message.contains("3 removed by the cloud")), "the log says what the cloud removed");
    assert!(log.iter().any(|e| e.message.contains("generation 2 of this onboarding")), "and the generation");
}

#[test]
fn a_removed_device_comes_back_with_its_id_and_action_history() {
    let site = Site::onboarded();
    let all = fleet(20);
    let server = site.server("state");
    sync(&server, &all, Options::default()).expect("full sync");
    let helpdesk = site.helpdesk();
    let pc3 = || helpdesk.list_devices(Some("deviceName eq 'PC-0003'"), NEVER).expect("list");
    let id = pc3()[0]["id"].as_str().expect("id").to_owned();
    helpdesk.trigger_action(std::slice::from_ref(&id), "SyncMachinePolicy", NEVER).expect("an action");

    // PC-0003 leaves ConfigMgr's input, then is back (a client reinstalled keeps its SMSID).
    let without: Vec<Value> = all.iter().filter(|d| d["Name"] != "PC-0003").cloned().collect();
    assert_eq!(sync(&server, &without, Options::default()).expect("delta").deleted, 1);
    assert!(pc3().is_empty());
    assert_eq!(sync(&server, &all, Options::default()).expect("back").uploaded, 1);
    let back = pc3();
    assert_eq!(back[0]["id"], id.as_str(), "the same id");
    assert_eq!(back[0]["deviceActionResults"].as_array().map(Vec::len), Some(1), "and its action history: {}", back[0]);

    // A sweep, put back through /_admin.
    let full = sync(&server, &all[..18], Options { mode: Mode::Full, ..Options::default() }).expect("a full sync of 18");
    assert_eq!(full.deleted, 2);
    let removals = site.cloud.restore_removal(HIERARCHY, &full.sync_id).expect("restored");
    assert_eq!(removals, 2);
    assert_eq!(site.in_graph(), ids(&all), "the sweep is undone");
    let next = sync(&server, &all, Options::default()).expect("the site's next run");
    assert_eq!((next.kind, next.deleted), ("full", 0), "the state disagrees with the cloud's count, so the run is full: {:?}", next.reason);
}

const GUARD_CHILD: &str = "TA_GUARD_CHILD";

fn spec_config(url: &str, ca: &str, state: &str, hierarchy: &str) -> String {
    json!({ "tenantId": CONTOSO_TENANT, "siteCode": "PS1", "hierarchyId": hierarchy,
        "endpoints": { "authority": url, "graph": url, "gateway": url }, "trustedCaFile": ca, "stateDir": state,
        "auth": { "kind": "clientSecret", "clientId": SITE_APP, "clientSecret": SITE_SECRET } })
    .to_string()
}

/// A's devices 0..n, and B's (new to the cloud) n..n+m.
fn range(from: usize, to: usize) -> Vec<Value> {
    (from..to).map(device).collect()
}

/// Not a test of its own: a new server's full sync of the wrong input, killed by the test
/// (`TA_GUARD_CHILD=url|ca|state|hierarchy`): 900 of the cloud's 1,200 devices and 300 new ones.
#[test]
fn guarded_full_sync_child() {
    let Ok(spec) = std::env::var(GUARD_CHILD) else { return };
    let p: Vec<&str> = spec.split('|').collect();
    let client = Client::open_json(&spec_config(p[0], p[1], p[2], p[3])).expect("child opens");
    let wrong: Vec<Value> = range(0, 900).into_iter().chain(range(1200, 1500)).collect();
    let options = Options { mode: Mode::Full, take_over: true, max_records: 25, ..Options::default() };
    match sync(&client, &wrong, options) {
        Ok(r) => println!("CHILD DONE {}", r.deleted),
        Err(e) => println!("CHILD ERROR {:?} {}", e.kind, e.message),
    }
}

#[test]
fn a_guarded_full_sync_killed_at_any_step_loses_no_device_and_the_next_run_converges() {
    // The wrong input lists as many devices as the cloud holds (900 of its 1,200 and 300 new ones),
    // so only the gateway, counting its own list, can see that its sweep would remove 300.
    let mut hit_running = 0;
    let mut refused_by_gateway = 0;
    // The first run is not killed: it runs to the gateway's refusal and ends, and its length spreads
    // the kill points of the others over a whole run, whatever this machine's speed.
    let mut whole_run = std::time::Duration::ZERO;
    for point in 0..12u32 {
        let site = Site::onboarded();
        let a = range(0, 1200);
        sync(&site.server("state"), &a, Options::default()).expect("the fleet");
        let hierarchy_state = site.dir.path().join(format!("new-server-{point}"));
        let spec = format!("{}|{}|{}|{HIERARCHY}", site.cloud.url(), site.cloud.ca_file().display(), hierarchy_state.display());
        let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args(["guarded_full_sync_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(GUARD_CHILD, &spec)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let started = std::time::Instant::now();
        if point > 0 {
            std::thread::sleep(whole_run * (2 * point - 1) / 22);
            if child.try_wait().ok().flatten().is_none() {
                hit_running += 1;
            }
            let _ = child.kill(); // SIGKILL
        }
        let out = child.wait_with_output().expect("wait");
        if point == 0 {
            whole_run = started.elapsed();
        }
        let said = String::from_utf8_lossy(&out.stdout);
        refused_by_gateway += usize::from(said.contains("CHILD ERROR DeletionRefused") && said.contains("sweep"));
        assert!(!said.contains("CHILD DONE"), "the wrong full sync never completes: {said}");
        let held: BTreeSet<String> = site.cloud.device_ids(HIERARCHY).into_iter().collect();
        assert!(ids(&a).is_subset(&held), "after a kill at point {point}, every device of the fleet is still in the cloud");

        // The administrator fixes the input (the new server now lists every device) and runs again.
        let whole: Vec<Value> = range(0, 1500);
        let new_server =
            Client::open_json(&spec_config(site.cloud.url(), &site.cloud.ca_file().display().to_string(), &hierarchy_state.display().to_string(), HIERARCHY))
                .expect("new server");
        let report = sync(&new_server, &whole, Options { take_over: true, ..Options::default() })
            .unwrap_or_else(|e| panic!("after a kill at point {point}: {}", e.message));
        assert_eq!(report.deleted, 0);
        let held: BTreeSet<String> = site.cloud.device_ids(HIERARCHY).into_iter().collect();
        assert_eq!(held, ids(&whole), "after a kill at point {point}, the next run converges ({} run)", report.kind);
    }
    println!(
        "guarded full sync kill figures: a whole run of {} ms, 11 kill points, {hit_running} during the run; {refused_by_gateway} runs refused by the gateway (the first left to finish)",
        whole_run.as_millis()
    );
    assert!(hit_running >= 6, "only {hit_running} kills hit a running upload");
    assert!(refused_by_gateway >= 1, "no run got as far as the gateway's refusal");
}
