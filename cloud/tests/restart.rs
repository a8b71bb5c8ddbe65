//! The real binary, killed with SIGKILL and started again on the same data dir, still has every
//! tenant, app, onboarding, device and pending action (each was journaled before it was answered).

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tenant_attach_cloud::*;

/// The cloud process; dropping it kills it with SIGKILL (`Child::kill`) and reaps it, also when a
/// test fails half-way.
struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &Path) -> Running {
    let ready = data_dir.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let child = Command::new(env!("CARGO_BIN_EXE_tenant-attach-cloud"))
        .args(["--listen", "127.0.0.1:0", "--ingestion-delay-ms", "0", "--device-code-interval", "1", "--data-dir"])
        .arg(data_dir)
        .arg("--ready-file")
        .arg(&ready)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn the cloud");
    let mut running = Running { child, url: String::new() };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            let v: Value = serde_json::from_str(&text).expect("ready JSON");
            assert_eq!(v["pid"], running.child.id());
            running.url = v["url"].as_str().expect("url").to_owned();
            return running;
        }
        assert!(Instant::now() < deadline, "the cloud did not get ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn client(ca: &Path) -> reqwest::blocking::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).expect("ca")).expect("pem");
    reqwest::blocking::Client::builder().add_root_certificate(ca).build().expect("client")
}

fn token(c: &reqwest::blocking::Client, url: &str, app: &str, secret: &str, scope: &str) -> String {
    let t: Value = c
        .post(format!("{url}/{CONTOSO_TENANT}/oauth2/v2.0/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", app), ("client_secret", secret), ("scope", scope)])
        .send()
        .expect("token")
        .json()
        .expect("json");
    format!("Bearer {}", t["access_token"].as_str().unwrap_or_else(|| panic!("{t}")))
}

#[test]
fn killed_and_restarted_it_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("cloud");
    let first = start(&data);
    let c = client(&data.join("ca.pem"));
    let url = first.url.clone();

    // An app created through Graph by the automation app (it holds Application.ReadWrite.All? no:
    // seed one that does, through the admin API), an onboarding, devices, a pending action.
    let seed = json!({ "apps": [{ "appId": "e0000000-0000-4000-8000-0000000000aa", "tenantId": CONTOSO_TENANT, "displayName": "Onboarder",
        "secret": "restart~test.secret.0001", "grantedRoles": ["Application.ReadWrite.All", "DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.PrivilegedOperations.All"] }] });
    assert_eq!(c.post(format!("{url}/_admin/seed")).json(&seed).send().expect("seed").status().as_u16(), 204);
    let app = "e0000000-0000-4000-8000-0000000000aa";
    let secret = "restart~test.secret.0001";
    let graph = token(&c, &url, app, secret, GRAPH);
    let created: Value = c
        .post(format!("{url}/v1.0/applications"))
        .header("Authorization", &graph)
        .json(&json!({ "displayName": "Kept app" }))
        .send()
        .expect("app")
        .json()
        .expect("json");
    let gateway = token(&c, &url, app, secret, GATEWAY);
    let hierarchy = "5f0c1a6e-0000-4000-8000-00000000beef";
    let onboarded = c.post(format!("{url}/api/gateway/AccountOnboardingInfo")).header("Authorization", &gateway)
        .json(&json!({ "hierarchyId": hierarchy, "siteCode": "PS1", "tenantId": CONTOSO_TENANT, "appId": app, "appIdUri": format!("api://{CONTOSO_TENANT}/kept") }))
        .send().expect("onboard");
    assert_eq!(onboarded.status().as_u16(), 201);
    let devices: Vec<Value> = (0..300).map(|i| device(i, &format!("PC-ÅÄÖ-{i}"))).collect();
    let posted = c
        .post(format!("{url}/api/gateway/DevicePost"))
        .header("Authorization", &gateway)
        .json(&json!({ "hierarchyId": hierarchy, "syncId": "s", "sequence": 0, "kind": "full", "final": true, "devices": devices }))
        .send()
        .expect("post");
    assert_eq!(posted.status().as_u16(), 200);
    let id = tenant_attach_cloud::server::managed_device_id(CONTOSO_TENANT, hierarchy, "GUID:00000007");
    let triggered = c
        .post(format!("{url}/beta/deviceManagement/managedDevices/{id}/triggerConfigurationManagerAction"))
        .header("Authorization", &graph)
        .json(&json!({ "configurationManagerAction": { "action": "refreshMachinePolicy" } }))
        .send()
        .expect("trigger");
    assert_eq!(triggered.status().as_u16(), 204);

    // A new tenant, and a user's refresh token (device code flow, approved through /_admin).
    let woodgrove =
        json!({ "tenants": [{ "id": "d0000000-0000-4000-8000-00000000000d", "displayName": "Woodgrove", "domains": ["woodgrove.onmicrosoft.com"] }] });
    assert_eq!(c.post(format!("{url}/_admin/seed")).json(&woodgrove).send().expect("seed").status().as_u16(), 204);
    let code: Value = c
        .post(format!("{url}/organizations/oauth2/v2.0/devicecode"))
        .form(&[("client_id", GRAPH_POWERSHELL_CLIENT), ("scope", "https://graph.microsoft.com/.default offline_access")])
        .send()
        .expect("devicecode")
        .json()
        .expect("json");
    let approved = c
        .post(format!("{url}/_admin/devicecode"))
        .json(&json!({ "userCode": code["user_code"], "user": "helpdesk@contoso.onmicrosoft.com" }))
        .send()
        .expect("approve");
    assert_eq!(approved.status().as_u16(), 204);
    let signed_in: Value = c
        .post(format!("{url}/organizations/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", GRAPH_POWERSHELL_CLIENT),
            ("device_code", code["device_code"].as_str().expect("device_code")),
        ])
        .send()
        .expect("token")
        .json()
        .expect("json");
    let refresh_token = signed_in["refresh_token"].as_str().unwrap_or_else(|| panic!("{signed_in}")).to_owned();

    // SIGKILL: no chance to flush anything.
    drop(first);

    let second = start(&data);
    let url = second.url.clone();
    let graph = token(&c, &url, app, secret, GRAPH);
    let apps: Value = c.get(format!("{url}/v1.0/applications")).header("Authorization", &graph).send().expect("apps").json().expect("json");
    assert!(apps["value"].as_array().unwrap().iter().any(|a| a["appId"] == created["appId"]), "the created app survived");
    let gateway = token(&c, &url, app, secret, GATEWAY);
    let record: Value = c
        .get(format!("{url}/api/gateway/AccountOnboardingInfo?hierarchyId={hierarchy}"))
        .header("Authorization", &gateway)
        .send()
        .expect("get")
        .json()
        .expect("json");
    assert_eq!(record["siteCode"], "PS1");
    let listed: Value =
        c.get(format!("{url}/beta/deviceManagement/managedDevices?$top=1000")).header("Authorization", &graph).send().expect("list").json().expect("json");
    assert_eq!(listed["value"].as_array().map(Vec::len), Some(300), "every device survived");
    assert!(listed["value"].as_array().unwrap().iter().any(|d| d["deviceName"] == "PC-ÅÄÖ-7"));
    let pending: Value = c
        .get(format!("{url}/api/gateway/Notification?hierarchyId={hierarchy}&timeoutSeconds=1"))
        .header("Authorization", &gateway)
        .send()
        .expect("poll")
        .json()
        .expect("json");
    assert_eq!(pending["notifications"][0]["managedDeviceId"], id.as_str(), "the pending action survived");
    let discovery = c.get(format!("{url}/woodgrove.onmicrosoft.com/v2.0/.well-known/openid-configuration")).send().expect("discovery");
    assert_eq!(discovery.status().as_u16(), 200, "the seeded tenant survived");
    let refreshed = c
        .post(format!("{url}/organizations/oauth2/v2.0/token"))
        .form(&[("grant_type", "refresh_token"), ("client_id", GRAPH_POWERSHELL_CLIENT), ("refresh_token", refresh_token.as_str()), ("scope", GATEWAY)])
        .send()
        .expect("refresh");
    assert_eq!(refreshed.status().as_u16(), 200, "the refresh token survived");
    // The journal holds no secret in clear: not the app's secret, not the refresh token.
    let journal = std::fs::read_to_string(data.join("cloud-journal.ndjson")).unwrap_or_default()
        + &std::fs::read_to_string(data.join("cloud-state.json")).unwrap_or_default();
    assert!(!journal.contains(secret) && !journal.contains(&refresh_token), "no secret in the data dir");
    drop(second);
}
