//! Uploads under injected faults converge: a 20,000-device full sync and three deltas, each with
//! the cloud failing a share of DevicePost calls (5xx, 429 with Retry-After, connections dropped
//! after the batch was applied, answers slower than the timeout), end with exactly the eligible
//! devices in the cloud; a run whose retry budget runs out fails clearly and the next converges.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tenant_attach::error::ErrorKind;
use tenant_attach::sync::{Guard, Input, Options};

/// These runs remove a few hundred devices each, run after run: beyond the deletion guard's
/// budget of a day (docs/SYNC.md), which these tests of convergence are not about.
const CHURN: Guard = Guard { allow: false, max_deletions: 1_000_000, max_percent: 100 };
use tenant_attach::Client;
use tenant_attach_cloud::server::Faults;
use tenant_attach_cloud::{CloudHandle, TestCloud, CONTOSO_TENANT};

const HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-00000000fa17";
const SITE_APP: &str = "e0000000-0000-4000-8000-0000000000f7";
const SITE_SECRET: &str = "faults~site.secret.0001";
const NEVER: &dyn Fn() -> bool = &|| false;

fn site(cloud: &CloudHandle, dir: &std::path::Path, budget_ms: u64) -> Client {
    Client::open_json(
        &json!({ "tenantId": CONTOSO_TENANT, "siteCode": "PS1", "hierarchyId": HIERARCHY,
            "endpoints": { "authority": cloud.url(), "graph": cloud.url(), "gateway": cloud.url() },
            "trustedCaFile": cloud.ca_file(), "stateDir": dir.join("state"), "logDir": dir.join("logs"),
            "timeouts": { "requestMs": 1000, "retryBudgetMs": budget_ms, "maxAttempts": 12 },
            "auth": { "kind": "clientSecret", "clientId": SITE_APP, "clientSecret": SITE_SECRET } })
        .to_string(),
    )
    .expect("opens")
}

fn inventory(n: usize, version: &str, skip: usize) -> Vec<Value> {
    (0..n)
        .filter(|i| i % 97 != skip)
        .map(|i| json!({ "Name": format!("PC-{i:05}"), "SMSID": format!("GUID:F{i:07}"), "IsClient": i % 50 != 1, "ClientVersion": if i % 10 == 0 { version } else { "5.00.9128.1000" } }))
        .collect()
}

fn upload(site: &Client, devices: &[Value]) -> tenant_attach::Result<tenant_attach::sync::Report> {
    let items = tenant_attach::inventory::parse_json(&Value::Array(devices.to_vec()).to_string())?;
    let total = items.len() as u64;
    // Small batches, so that each run makes enough calls for the faults to hit several of them.
    site.sync_devices(
        Input::Items(&mut items.into_iter().map(Ok)),
        total,
        Options { max_records: 100, guard: CHURN, ..Options::default() },
        &mut |_, _| {},
        NEVER,
    )
}

fn eligible(devices: &[Value]) -> BTreeSet<String> {
    devices.iter().filter(|d| d["IsClient"] == true).map(|d| d["SMSID"].as_str().unwrap_or("").to_owned()).collect()
}

#[test]
fn uploads_under_faults_end_with_exactly_the_right_devices() {
    let cloud = TestCloud::start().expect("cloud");
    let dir = tempfile::tempdir().expect("tempdir");
    cloud
        .seed(
            serde_json::from_value(json!({ "apps": [{ "appId": SITE_APP, "tenantId": CONTOSO_TENANT, "displayName": "Site", "secret": SITE_SECRET }] }))
                .expect("seed"),
        )
        .expect("seeded");
    let client = site(&cloud, dir.path(), 60_000);
    client
        .register(&json!({ "import": { "clientId": SITE_APP, "clientSecret": SITE_SECRET, "secretExpiry": "2030-01-01T00:00:00Z", "appIdUri": format!("api://{CONTOSO_TENANT}/ConfigMgr") } }).to_string(), NEVER)
        .expect("onboarded");
    let fault = |mode: &str, rate: f64| {
        cloud.set_faults(Faults {
            mode: Some(mode.into()),
            rate,
            path_prefix: Some("/api/gateway/DevicePost".into()),
            retry_after_seconds: 1.0,
            slow_ms: 1500,
            ..Faults::default()
        })
    };
    let mut figures = Vec::new();
    for (run, (mode, version, skip)) in [("error", "a", 200), ("throttle", "b", 3), ("drop", "c", 5), ("slow", "d", 7)].into_iter().enumerate() {
        let devices = inventory(20_000, version, skip);
        // About 20 faults in the full sync's 200 calls, a handful in each delta's 20-odd.
        fault(
            mode,
            match mode {
                "error" => 0.1,
                "throttle" => 0.25,
                "slow" => 0.25,
                _ => 0.3,
            },
        );
        let before = cloud.counters();
        let report = upload(&client, &devices).unwrap_or_else(|e| panic!("run {run} under {mode}: {}", e.message));
        cloud.set_faults(Faults::default());
        let after = cloud.counters();
        let injected: u64 = ["throttled", "errors", "dropped", "slowed"].iter().map(|k| after[k].as_u64().unwrap_or(0) - before[k].as_u64().unwrap_or(0)).sum();
        let requests = after["requests"].as_u64().unwrap_or(0) - before["requests"].as_u64().unwrap_or(0);
        assert!(injected > 0, "run {run} ({mode}): faults were injected");
        assert!(requests <= report.batches * 3 + 10, "run {run} ({mode}): retries stay bounded ({requests} requests for {} batches)", report.batches);
        let held: BTreeSet<String> = cloud.device_ids(HIERARCHY).into_iter().collect();
        assert_eq!(held, eligible(&devices), "run {run} ({mode}): the cloud holds exactly the eligible devices");
        assert_eq!(report.kind, if run == 0 { "full" } else { "delta" });
        figures.push(format!("{mode}: {} batches, {requests} requests, {injected} faults injected, {} devices compared", report.batches, held.len()));
    }
    // The retry budget runs out: a clear error, then the next run converges.
    let short = site(&cloud, dir.path(), 1500);
    let devices = inventory(20_000, "e", 11);
    fault("error", 1.0);
    let e = upload(&short, &devices).expect_err("budget exhausted");
    assert_eq!(e.kind, ErrorKind::Server, "{}", e.message);
    assert!(e.message.contains("retry budget") && e.message.contains("run again later"), "{}", e.message);
    cloud.set_faults(Faults::default());
    let next = upload(&short, &devices).expect("converges");
    assert!(next.uploaded > 0);
    assert_eq!(cloud.device_ids(HIERARCHY).into_iter().collect::<BTreeSet<_>>(), eligible(&devices));
    println!("fault figures: {}", figures.join("; "));
}
