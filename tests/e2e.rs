//! The library against tenant-attach-cloud over HTTPS (trusting its CA through trustedCaFile):
//! onboarding by device code and by import, convergence, conflicts, upload, offboarding, and no
//! secret anywhere.

use std::sync::Arc;

use serde_json::{json, Value};
use tenant_attach::error::ErrorKind;
use tenant_attach::sync::{Input, Options};
use tenant_attach::Client;
use tenant_attach_cloud::{CloudHandle, TestCloud, CONTOSO_DOMAIN, CONTOSO_TENANT, FABRIKAM_TENANT};

const HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-0a1b2c3d4e5f";
const NEVER: &dyn Fn() -> bool = &|| false;

fn config(cloud: &CloudHandle, dir: &std::path::Path, tenant: &str, auth: Value) -> String {
    json!({
        "tenantId": tenant, "siteCode": "PS1", "hierarchyId": HIERARCHY,
        "endpoints": { "authority": cloud.url(), "graph": cloud.url(), "gateway": cloud.url() },
        "trustedCaFile": cloud.ca_file(), "stateDir": dir.join("state"), "logDir": dir.join("logs"),
        "timeouts": { "retryBudgetMs": 20000 },
        "auth": auth,
    })
    .to_string()
}

/// A client signing in by device code, approved in the cloud as `user` when prompted.
fn person(cloud: &Arc<CloudHandle>, dir: &std::path::Path, user: &'static str) -> Client {
    let client = Client::open_json(&config(cloud, dir, CONTOSO_DOMAIN, json!({ "kind": "deviceCode" }))).expect("opens");
    let c = cloud.clone();
    client.set_device_code_prompt(Arc::new(move |p| {
        assert!(p.message.contains(&p.user_code));
        c.approve_device_code(&p.user_code, user).expect("approved");
        Ok(())
    }));
    client
}

fn seed_app(cloud: &CloudHandle, tenant: &str, app: &str, secret: &str) {
    let seed: tenant_attach_cloud::seed::Seed =
        serde_json::from_value(json!({ "apps": [{ "appId": app, "tenantId": tenant, "displayName": "Imported", "secret": secret }] })).expect("seed");
    cloud.seed(seed).expect("seeded");
}

fn devices(n: usize, version: &str) -> String {
    Value::Array(
        (0..n).map(|i| json!({ "Name": format!("PC-ÅÄÖ-{i}"), "SMSID": format!("GUID:{i:08}"), "IsClient": true, "ClientVersion": version })).collect(),
    )
    .to_string()
}

fn upload(client: &Client, text: &str) -> tenant_attach::Result<tenant_attach::sync::Report> {
    let items = tenant_attach::inventory::parse_json(text)?;
    let total = items.len() as u64;
    client.sync_devices(Input::Items(&mut items.into_iter().map(Ok)), total, Options::default(), &mut |_, _| {}, NEVER)
}

#[test]
fn a_global_administrator_onboards_by_device_code_and_uploads() {
    let cloud = Arc::new(TestCloud::start().expect("cloud"));
    let dir = tempfile::tempdir().expect("tempdir");

    let reader = person(&cloud, dir.path(), "reader@contoso.onmicrosoft.com");
    let refused = reader.register("", NEVER).expect_err("not an admin");
    assert_eq!(refused.kind, ErrorKind::Forbidden);
    assert!(refused.message.contains("not a Global Administrator"), "{}", refused.message);

    let admin = person(&cloud, dir.path(), "admin@contoso.onmicrosoft.com");
    let result = admin.register(r#"{"uploadScope":{"kind":"all"}}"#, NEVER).expect("onboards");
    let created = &result["createdApp"];
    let secret = created["clientSecret"].as_str().expect("the secret is returned once").to_owned();
    let app_id = result["appId"].as_str().expect("app id").to_owned();
    assert!(created["servicePrincipalId"].is_string() && created["appObjectId"].is_string());
    assert_eq!(result["onboarding"]["coManagementAutoEnroll"], false);

    // Registering again converges instead of failing, and keeps the app.
    let again = admin.register(r#"{"uploadScope":{"kind":"collection","collectionId":"PS100012"}}"#, NEVER).expect("converges");
    assert_eq!(again["alreadyOnboarded"], true);
    assert_eq!(again["onboarding"]["appId"], app_id.as_str());
    assert_eq!(again["onboarding"]["scopeVersion"], 2);
    admin.set_upload_settings(r#"{"uploadScope":{"kind":"all"}}"#, NEVER).expect("scope back to all");

    // The site uploads with the created app's credentials.
    let site = Client::open_json(&config(&cloud, dir.path(), CONTOSO_TENANT, json!({ "kind": "clientSecret", "clientId": app_id, "clientSecret": secret })))
        .expect("opens");
    let first = upload(&site, &devices(120, "5.00.9128.1000")).expect("full sync");
    assert_eq!((first.kind, first.uploaded), ("full", 120));
    assert_eq!(cloud.device_ids(HIERARCHY).len(), 120);
    // Ten of 120 devices leave: within the deletion guard's share (10%, at least 10 devices).
    let second = upload(&site, &devices(110, "5.00.9130.1000")).expect("delta");
    assert_eq!((second.kind, second.uploaded, second.deleted), ("delta", 110, 10));
    assert_eq!(cloud.device_ids(HIERARCHY).len(), 110);
    let status = site.status(NEVER).expect("status");
    assert_eq!((status["onboarded"].as_bool(), status["local"]["devices"].as_u64()), (Some(true), Some(110)));
    assert!(status["nextRunTime"].is_string());

    // No secret in any log, error, report or state file.
    let mut files = Vec::new();
    collect(dir.path(), &mut files);
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).expect("read")).into_owned();
        assert!(!text.contains(&secret), "the client secret is in {}", f.display());
        assert!(!text.contains("eyJ"), "a token is in {}", f.display());
    }
    for text in [refused.message.clone(), serde_json::to_string(&second).expect("json")] {
        assert!(!text.contains(&secret));
    }

    admin.unregister(NEVER).expect("offboards");
    assert!(cloud.device_ids(HIERARCHY).is_empty());
    assert_eq!(upload(&site, &devices(1, "x")).expect_err("not onboarded").kind, ErrorKind::NotOnboarded);
    // The site's notification worker meets the gateway's published 401 {"Message":"An error has
    // occurred."} (what Microsoft's logs show for a broken onboarding): not onboarded, and what to do.
    let refused = site.receive_notifications("[]", 1, NEVER).expect_err("the gateway refuses the site");
    assert_eq!((refused.kind, refused.http_status), (ErrorKind::NotOnboarded, Some(401)), "{}", refused.message);
    assert!(refused.message.contains("register it again") && refused.message.contains("wait two hours"), "{}", refused.message);
    assert_eq!(refused.details.as_ref().and_then(|d| d["serviceMessage"].as_str()).map(|m| m.contains("An error has occurred.")), Some(true));

    // Onboarding again after offboarding reuses the app (Azure AD keeps its identifier URI unique),
    // with a new secret that works; the old one keeps working until it expires.
    let back = admin.register(r#"{"uploadScope":{"kind":"all"}}"#, NEVER).expect("onboards again after offboarding");
    assert_eq!(back["alreadyOnboarded"], false);
    assert_eq!(back["appId"], app_id.as_str());
    assert_eq!(back["createdApp"]["servicePrincipalId"], created["servicePrincipalId"]);
    let new_secret = back["createdApp"]["clientSecret"].as_str().expect("a new secret").to_owned();
    assert_ne!(new_secret, secret);
    let site =
        Client::open_json(&config(&cloud, dir.path(), CONTOSO_TENANT, json!({ "kind": "clientSecret", "clientId": app_id, "clientSecret": new_secret })))
            .expect("opens");
    assert_eq!(upload(&site, &devices(3, "5.00.9132.1000")).expect("uploads with the new secret").uploaded, 3);
}

fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        if e.path().is_dir() {
            collect(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

#[test]
fn an_imported_app_onboards_and_a_second_tenant_is_refused() {
    let cloud = TestCloud::start().expect("cloud");
    let dir = tempfile::tempdir().expect("tempdir");
    let app = "e0000000-0000-4000-8000-0000000000c1";
    seed_app(&cloud, CONTOSO_TENANT, app, "imported~secret.value.0001");
    let client = Client::open_json(&config(
        &cloud,
        dir.path(),
        CONTOSO_TENANT,
        json!({ "kind": "clientSecret", "clientId": app, "clientSecret": "imported~secret.value.0001" }),
    ))
    .expect("opens");
    let import = |uri: &str, expiry: &str| {
        json!({ "import": { "clientId": app, "clientSecret": "imported~secret.value.0001", "secretExpiry": expiry, "appIdUri": uri } }).to_string()
    };
    let bad_uri = client.register(&import("api://someone-else/ConfigMgr", "2030-01-01T00:00:00Z"), NEVER).expect_err("bad uri");
    assert!(bad_uri.message.contains(&format!("api://{CONTOSO_TENANT}/<name>")), "{}", bad_uri.message);
    let expired = client.register(&import(&format!("api://{CONTOSO_TENANT}/ConfigMgr"), "2020-01-01T00:00:00Z"), NEVER).expect_err("expired");
    assert_eq!(expired.kind, ErrorKind::Expired);
    let ok = client.register(&import(&format!("api://{CONTOSO_TENANT}/ConfigMgr"), "2030-01-01T00:00:00Z"), NEVER).expect("imports");
    assert_eq!(ok["onboarding"]["appId"], app);
    let again = client.register(&import(&format!("api://{CONTOSO_TENANT}/ConfigMgr"), "2030-01-01T00:00:00Z"), NEVER).expect("converges");
    assert_eq!(again["alreadyOnboarded"], true);

    let fab_app = "e0000000-0000-4000-8000-0000000000f1";
    seed_app(&cloud, FABRIKAM_TENANT, fab_app, "fabrikam~secret.value.0001");
    let fab = Client::open_json(&config(
        &cloud,
        dir.path(),
        FABRIKAM_TENANT,
        json!({ "kind": "clientSecret", "clientId": fab_app, "clientSecret": "fabrikam~secret.value.0001" }),
    ))
    .expect("opens");
    let conflict = fab
        .register(&json!({ "import": { "clientId": fab_app, "clientSecret": "fabrikam~secret.value.0001", "secretExpiry": "2030-01-01T00:00:00Z", "appIdUri": format!("api://{FABRIKAM_TENANT}/ConfigMgr") } }).to_string(), NEVER)
        .expect_err("attached elsewhere");
    assert_eq!(conflict.kind, ErrorKind::Conflict);
    assert!(conflict.message.contains(CONTOSO_TENANT), "{}", conflict.message);

    let wrong =
        Client::open_json(&config(&cloud, dir.path(), CONTOSO_TENANT, json!({ "kind": "clientSecret", "clientId": app, "clientSecret": "not-the-secret" })))
            .expect("opens");
    let e = wrong.status(NEVER).expect_err("wrong secret");
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::AuthFailed, Some("AADSTS7000215")));
    assert!(e.message.contains("client secret"), "{}", e.message);
}

#[test]
fn an_untrusted_certificate_is_a_tls_error_naming_the_fix() {
    let cloud = TestCloud::start().expect("cloud");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg: Value = serde_json::from_str(&config(
        &cloud,
        dir.path(),
        CONTOSO_TENANT,
        json!({ "kind": "clientSecret", "clientId": "e0000000-0000-4000-8000-000000000001", "clientSecret": "x-y-z-w-v" }),
    ))
    .expect("json");
    cfg.as_object_mut().expect("object").remove("trustedCaFile");
    let client = Client::open_json(&cfg.to_string()).expect("opens");
    let e = client.status(NEVER).expect_err("untrusted");
    assert_eq!(e.kind, ErrorKind::Tls, "{}", e.message);
    assert!(e.message.contains("trustedCaFile"));
}

#[test]
fn the_endpoint_check_reports_each_endpoint_with_its_error_and_time() {
    let cloud = TestCloud::start().expect("cloud");
    let dir = tempfile::tempdir().expect("tempdir");
    // The gateway regions and aka.ms keep their real (unreachable here) hosts; a closed loopback
    // port stands in for an endpoint that refuses connections.
    let mut cfg: Value = serde_json::from_str(&config(&cloud, dir.path(), CONTOSO_TENANT, json!({ "kind": "deviceCode" }))).expect("json");
    cfg["endpoints"]["gatewayUs"] = json!("http://127.0.0.1:9");
    cfg["timeouts"] = json!({ "connectMs": 2000, "requestMs": 4000, "retryBudgetMs": 1000, "maxAttempts": 1 });
    let client = Client::open_json(&cfg.to_string()).expect("opens");
    let checks = client.test_endpoints().expect("checked");
    let by_name = |n: &str| checks.as_array().and_then(|a| a.iter().find(|c| c["name"] == n)).cloned().unwrap_or(Value::Null);
    for name in ["endpoints.authority", "endpoints.graph", "endpoints.gateway"] {
        let c = by_name(name);
        assert_eq!(c["reachable"], true, "{c}");
        assert!(c["elapsedMs"].is_u64() && c["httpStatus"].is_u64());
    }
    let refused = by_name("endpoints.gatewayUs");
    assert_eq!(refused["reachable"], false);
    assert_eq!(refused["kind"], "network", "{refused}");
    assert!(refused["error"].as_str().unwrap_or("").contains("127.0.0.1:9"), "{refused}");
    assert_eq!(checks.as_array().map(Vec::len), Some(6));
}
