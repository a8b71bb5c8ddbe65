//! Device upload end to end against tenant-attach-cloud, read back through Graph `managedDevices`
//! as the admin center would: full then deltas, changes, leavers, scope changes, non-clients, the
//! shared-certificate distribution point, dry runs, and the upload worker's log lines.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};
use tenant_attach::sync::{Input, Options};
use tenant_attach::Client;
use tenant_attach_cloud::{CloudHandle, TestCloud, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, CONTOSO_TENANT};

const HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-00000000abcd";
const NEVER: &dyn Fn() -> bool = &|| false;
const SITE_APP: &str = "e0000000-0000-4000-8000-0000000000e5";
const SITE_SECRET: &str = "upload~site.secret.0001";

fn config(cloud: &CloudHandle, dir: &std::path::Path, app: &str, secret: &str) -> String {
    json!({ "tenantId": CONTOSO_TENANT, "siteCode": "PS1", "hierarchyId": HIERARCHY,
        "endpoints": { "authority": cloud.url(), "graph": cloud.url(), "gateway": cloud.url() },
        "trustedCaFile": cloud.ca_file(), "stateDir": dir.join("state"), "logDir": dir.join("logs"),
        "auth": { "kind": "clientSecret", "clientId": app, "clientSecret": secret } })
    .to_string()
}

fn device(i: usize, collection: &str) -> Value {
    json!({ "Name": format!("PC-Malmö-{i:03}"), "SMSID": format!("GUID:E{i:07}"), "IsClient": true, "ClientVersion": "5.00.9128.1000",
            "CollectionIDs": ["SMS00001", collection] })
}

fn run(site: &Client, devices: &[Value], options: Options) -> tenant_attach::sync::Report {
    let items = tenant_attach::inventory::parse_json(&Value::Array(devices.to_vec()).to_string()).expect("parse");
    let total = items.len() as u64;
    site.sync_devices(Input::Items(&mut items.into_iter().map(Ok)), total, options, &mut |_, _| {}, NEVER).expect("sync")
}

/// The SMSIDs the admin center shows for this hierarchy (through Graph, every page).
fn in_graph(admin: &Client) -> BTreeSet<String> {
    admin
        .list_devices(Some("startswith(deviceName,'PC-Malmö')"), NEVER)
        .expect("list")
        .iter()
        .map(|d| d["configurationManagerClientInformation"]["clientIdentifier"].as_str().expect("client id").to_owned())
        .collect()
}

fn eligible(devices: &[Value], collection: Option<&str>) -> BTreeSet<String> {
    devices
        .iter()
        .filter(|d| d["IsClient"] == true && collection.is_none_or(|c| d["CollectionIDs"].as_array().is_some_and(|a| a.iter().any(|x| x == c))))
        .map(|d| d["SMSID"].as_str().expect("smsid").to_owned())
        .collect()
}

#[test]
fn uploads_converge_to_exactly_the_eligible_devices_as_graph_shows_them() {
    let cloud = Arc::new(TestCloud::start().expect("cloud"));
    let dir = tempfile::tempdir().expect("tempdir");
    cloud
        .seed(
            serde_json::from_value(json!({ "apps": [{ "appId": SITE_APP, "tenantId": CONTOSO_TENANT, "displayName": "Site", "secret": SITE_SECRET }] }))
                .expect("seed"),
        )
        .expect("seeded");
    let site = Client::open_json(&config(&cloud, dir.path(), SITE_APP, SITE_SECRET)).expect("site");
    site.register(&json!({ "import": { "clientId": SITE_APP, "clientSecret": SITE_SECRET, "secretExpiry": "2030-01-01T00:00:00Z", "appIdUri": format!("api://{CONTOSO_TENANT}/ConfigMgr") } }).to_string(), NEVER)
        .expect("onboarded");
    let admin = Client::open_json(&config(&cloud, dir.path(), CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET)).expect("admin");

    let mut devices: Vec<Value> = (0..60).map(|i| device(i, if i < 30 { "PS100012" } else { "PS100099" })).collect();
    for i in [5, 6] {
        devices[i]["IsClient"] = json!(false); // never uploaded
    }
    // The distribution point and another device share one PKI certificate.
    for i in [10, 11] {
        devices[i]["CertificateThumbprint"] = json!("A1B2C3D4E5F60718293A4B5C6D7E8F9012345678");
    }
    devices[10]["IsDistributionPoint"] = json!(true);

    // A dry run sends nothing.
    let dry = run(&site, &devices, Options { dry_run: true, max_records: 25, ..Options::default() });
    assert_eq!((dry.dry_run, dry.uploaded), (true, 58));
    assert!(in_graph(&admin).is_empty(), "a dry run sends nothing");

    let first = run(&site, &devices, Options { max_records: 25, ..Options::default() });
    assert_eq!((first.kind, first.uploaded, first.ineligible, first.batches), ("full", 58, 2, 3));
    assert_eq!(in_graph(&admin), eligible(&devices, None), "the cloud holds exactly the eligible devices");

    let same = run(&site, &devices, Options::default());
    assert_eq!((same.kind, same.uploaded, same.batches), ("delta", 0, 0), "no change uploads nothing");

    for i in [1, 2, 10] {
        devices[i]["ClientVersion"] = json!("5.00.9132.1011"); // the DP is one of the three
    }
    let three = run(&site, &devices, Options::default());
    assert_eq!((three.uploaded, three.deleted), (3, 0), "three changes upload three records");
    let dp = admin.list_devices(Some("configurationManagerClientInformation/clientIdentifier eq 'GUID:E0000010'"), NEVER).expect("dp");
    assert_eq!(dp[0]["configurationManagerClientInformation"]["clientVersion"], "5.00.9132.1011", "the shared-certificate DP is updated");
    assert!(in_graph(&admin).contains("GUID:E0000011"), "and its certificate twin stays");

    devices[3]["IsClient"] = json!(false);
    devices.remove(4);
    let leavers = run(&site, &devices, Options::default());
    assert_eq!(leavers.deleted, 2);
    assert_eq!(in_graph(&admin), eligible(&devices, None), "a non-client and a removed device disappear");

    // Scope: one collection. The scope change makes the next run full.
    site.set_upload_settings(r#"{"uploadScope":{"kind":"collection","collectionId":"PS100012"}}"#, NEVER).expect("scope");
    // Narrowing the scope removes the devices outside it: more than the deletion guard lets one
    // run delete (30 of 56), so the run stops until it is allowed, as Azure AD Connect's does.
    let items = tenant_attach::inventory::parse_json(&Value::Array(devices.clone()).to_string()).expect("parse");
    let stopped = site.sync_devices(Input::Items(&mut items.into_iter().map(Ok)), 0, Options::default(), &mut |_, _| {}, NEVER).expect_err("guard");
    assert_eq!(stopped.kind, tenant_attach::ErrorKind::DeletionRefused);
    assert!(stopped.message.contains("would remove 30 of the 56 devices") && stopped.message.contains("the upload scope changed"), "{}", stopped.message);
    assert_eq!(in_graph(&admin), eligible(&devices, None), "nothing was sent");
    let allowed = Options { guard: tenant_attach::sync::Guard { allow: true, ..Default::default() }, ..Options::default() };
    let scoped = run(&site, &devices, allowed);
    assert_eq!((scoped.kind, scoped.reason.as_deref(), scoped.deleted), ("full", Some("the upload scope changed"), 30));
    assert_eq!(in_graph(&admin), eligible(&devices, Some("PS100012")));
    devices[0]["CollectionIDs"] = json!(["SMS00001", "PS100099"]); // leaves the collection
    let left = run(&site, &devices, Options::default());
    assert_eq!((left.kind, left.deleted), ("delta", 1));
    assert_eq!(in_graph(&admin), eligible(&devices, Some("PS100012")), "a device that leaves the collection disappears");

    // The upload worker's log: Batching N records per batch, and the next run 15 minutes on.
    let entries = tenant_attach::cmtrace::read_entries(&dir.path().join("logs/CMGatewaySyncUploadWorker.log")).expect("log");
    let batching: Vec<&str> = entries.iter().map(|e| e.message.as_str()).filter(|m| m.starts_with("Batching ")).collect();
    assert_eq!(&batching[..3], ["Batching 25 records", "Batching 25 records", "Batching 8 records"], "the dry run logs its plan");
    let next = entries.iter().rev().find_map(|e| e.message.strip_prefix("Next run time will be at approximately: ")).expect("next run line");
    let next = chrono::NaiveDateTime::parse_from_str(next, "%m/%d/%Y %H:%M:%S").expect("MM/dd/yyyy HH:mm:ss");
    let logged_at = chrono::NaiveDateTime::parse_from_str(
        &format!("{} {}", entries.last().expect("entries").date, &entries.last().expect("entries").time[..8]),
        "%m-%d-%Y %H:%M:%S",
    )
    .expect("entry time");
    let minutes = (next - logged_at).num_seconds() as f64 / 60.0;
    assert!((14.9..=15.1).contains(&minutes), "next run {minutes} minutes after the run");
}
