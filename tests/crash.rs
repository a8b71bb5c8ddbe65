//! Crashes and concurrency: an upload killed with SIGKILL at 20 points (during batches and during
//! the state writes) is followed by a run that converges, with the state never unreadable; two
//! processes uploading with one state folder never corrupt it (the second is told the state is in
//! use). The child processes are this test binary in a child mode.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use tenant_attach::error::ErrorKind;
use tenant_attach::sync::{Guard, Input, Options};

/// These runs remove a few hundred devices each, run after run: beyond the deletion guard's
/// budget of a day (docs/SYNC.md), which these tests of convergence are not about.
const CHURN: Guard = Guard { allow: false, max_deletions: 1_000_000, max_percent: 100 };
use tenant_attach::Client;
use tenant_attach_cloud::{TestCloud, CONTOSO_TENANT};

const HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-00000000c4a5";
const SITE_APP: &str = "e0000000-0000-4000-8000-0000000000c4";
const SITE_SECRET: &str = "crash~site.secret.0001";
const CHILD: &str = "TA_CRASH_CHILD";
const NEVER: &dyn Fn() -> bool = &|| false;

fn config(url: &str, ca: &str, state: &str) -> String {
    json!({ "tenantId": CONTOSO_TENANT, "siteCode": "PS1", "hierarchyId": HIERARCHY,
        "endpoints": { "authority": url, "graph": url, "gateway": url }, "trustedCaFile": ca, "stateDir": state,
        "auth": { "kind": "clientSecret", "clientId": SITE_APP, "clientSecret": SITE_SECRET } })
    .to_string()
}

fn inventory(version: u32) -> Vec<Value> {
    (0..6000)
        .filter(|i| (i + version as usize) % 37 != 0)
        .map(|i| json!({ "Name": format!("PC-{i:05}"), "SMSID": format!("GUID:C{i:07}"), "IsClient": true, "ClientVersion": format!("5.00.{}.{}", 9000 + version, i % 7) }))
        .collect()
}

fn upload(client: &Client, devices: &[Value]) -> tenant_attach::Result<tenant_attach::sync::Report> {
    let items = tenant_attach::inventory::parse_json(&Value::Array(devices.to_vec()).to_string())?;
    let total = items.len() as u64;
    client.sync_devices(
        Input::Items(&mut items.into_iter().map(Ok)),
        total,
        Options { max_records: 100, guard: CHURN, ..Options::default() },
        &mut |_, _| {},
        NEVER,
    )
}

/// Not a test of its own: the body of the child processes (`TA_CRASH_CHILD=url|ca|state|version`).
#[test]
fn child_uploader() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let parts: Vec<&str> = spec.split('|').collect();
    let client = Client::open_json(&config(parts[0], parts[1], parts[2])).expect("child opens");
    match upload(&client, &inventory(parts[3].parse().unwrap_or(0))) {
        Ok(_) => println!("CHILD DONE"),
        Err(e) if e.kind == ErrorKind::StateLocked => println!("CHILD LOCKED {}", e.message),
        Err(e) => println!("CHILD ERROR {}", e.message),
    }
}

fn spawn(spec: &str) -> std::process::Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["child_uploader", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, spec)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn")
}

fn eligible(devices: &[Value]) -> BTreeSet<String> {
    devices.iter().map(|d| d["SMSID"].as_str().unwrap_or("").to_owned()).collect()
}

#[test]
fn killed_at_twenty_points_the_next_run_converges_and_two_processes_never_corrupt_the_state() {
    let cloud = TestCloud::start().expect("cloud");
    let dir = tempfile::tempdir().expect("tempdir");
    cloud
        .seed(
            serde_json::from_value(json!({ "apps": [{ "appId": SITE_APP, "tenantId": CONTOSO_TENANT, "displayName": "Site", "secret": SITE_SECRET }] }))
                .expect("seed"),
        )
        .expect("seeded");
    let state = dir.path().join("state");
    let (url, ca, state_s) = (cloud.url().to_owned(), cloud.ca_file().display().to_string(), state.display().to_string());
    let site = Client::open_json(&config(&url, &ca, &state_s)).expect("site");
    site.register(&json!({ "import": { "clientId": SITE_APP, "clientSecret": SITE_SECRET, "secretExpiry": "2030-01-01T00:00:00Z", "appIdUri": format!("api://{CONTOSO_TENANT}/ConfigMgr") } }).to_string(), NEVER)
        .expect("onboarded");

    // A full upload takes a few hundred ms: kill points spread from its start to past its end.
    let mut survived = 0;
    let mut killed_mid_run = 0;
    for point in 0..20u32 {
        let version = point + 1;
        let mut child = spawn(&format!("{url}|{ca}|{state_s}|{version}"));
        std::thread::sleep(Duration::from_millis(10 + u64::from(point) * 12));
        if child.try_wait().ok().flatten().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // The state is never unreadable: the next run opens it (repairing a torn write if any) and converges.
        let devices = inventory(version);
        let report = upload(&site, &devices).unwrap_or_else(|e| panic!("after a kill at point {point}: {}", e.message));
        let held: BTreeSet<String> = cloud.device_ids(HIERARCHY).into_iter().collect();
        assert_eq!(held, eligible(&devices), "after a kill at point {point} ({} run), the cloud holds exactly the inventory", report.kind);
        assert!(report.warnings.iter().all(|w| w.contains("kept as")), "{:?}", report.warnings);
        survived += 1;
    }
    assert_eq!(survived, 20);
    assert!(killed_mid_run >= 10, "only {killed_mid_run} of 20 kills hit a running upload");
    println!("crash figures: 20 kill points, {killed_mid_run} during a running upload, 20 convergent runs after them");

    // Two processes on one state folder: one uploads, the other is told the state is in use (or
    // runs after it); never both at once, and the result converges.
    let a = spawn(&format!("{url}|{ca}|{state_s}|40"));
    let b = spawn(&format!("{url}|{ca}|{state_s}|40"));
    let outputs: Vec<String> = [a, b].into_iter().map(|c| String::from_utf8_lossy(&c.wait_with_output().expect("wait").stdout).into_owned()).collect();
    let done = outputs.iter().filter(|o| o.contains("CHILD DONE")).count();
    let locked = outputs.iter().filter(|o| o.contains("CHILD LOCKED")).count();
    assert!(done >= 1 && done + locked == 2, "{outputs:?}");
    if let Some(o) = outputs.iter().find(|o| o.contains("CHILD LOCKED")) {
        assert!(o.contains("in use by another process (pid "), "{o}");
    }
    let after = upload(&site, &inventory(40)).expect("converges");
    assert_eq!(after.uploaded, 0, "the winner's upload was recorded whole");
    assert_eq!(cloud.device_ids(HIERARCHY).into_iter().collect::<BTreeSet<_>>(), eligible(&inventory(40)));
}
