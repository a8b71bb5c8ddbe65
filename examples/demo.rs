//! The main job, end to end: `cargo run --example demo`.
//!
//! Starts the local cloud (tenant-attach-cloud) in-process over HTTPS and then does what a ConfigMgr
//! administrator does with tenant attach, through the library's public API:
//! 1. a Global Administrator signs in by device code and onboards the hierarchy (the app, its
//!    secret and service principal are created; the secret is shown once, masked here);
//! 2. the site uploads its devices (examples/data/devices.json, Get-CMDevice output): a full sync,
//!    then a delta after one device changed;
//! 3. a helpdesk operator runs Sync machine policy and App evaluation cycle from the admin side;
//! 4. the site's notification worker receives them, checks the user against the site's
//!    discovered users, and reports the outcome, which the admin side then sees.
//!
//! An optional argument names another device file (JSON array or NDJSON).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use tenant_attach::actions::Decision;
use tenant_attach::sync::{Input, Options};
use tenant_attach::{Client, Result};
use tenant_attach_cloud::{Cloud, CloudOptions};

const HIERARCHY_ID: &str = "5f0c1a6e-2d3b-4c5d-8e9f-0a1b2c3d4e5f";
const NEVER: &dyn Fn() -> bool = &|| false;

fn main() {
    if let Err(e) = run() {
        eprintln!("demo failed: {} ({})", e.message, e.kind.as_str());
        std::process::exit(1);
    }
}

fn step(text: &str) {
    println!("\n== {text}");
}

fn run() -> Result<()> {
    let input = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/devices.json"));
    let work = std::env::temp_dir().join(format!("tenant-attach-demo-{}", std::process::id()));
    let cloud = Arc::new(
        // The demo's timings, chosen explicitly: uploaded devices visible at once (Microsoft: 5 to
        // 10 minutes) and device codes polled every second (Azure AD: 5 s).
        Cloud::start(CloudOptions::new(work.join("cloud")).fast())
            .map_err(|e| tenant_attach::Error::internal(format!("the local cloud did not start: {e}")))?,
    );
    println!("tenant-attach {} — local cloud at {} (CA {})", env!("CARGO_PKG_VERSION"), cloud.url(), cloud.ca_file().display());
    println!("work folder: {}", work.display());
    let config = |auth: Value| {
        json!({
            "tenantId": "contoso.onmicrosoft.com", "siteCode": "PS1", "hierarchyId": HIERARCHY_ID,
            "endpoints": { "authority": cloud.url(), "graph": cloud.url(), "gateway": cloud.url() },
            "trustedCaFile": cloud.ca_file(), "stateDir": work.join("state"), "logDir": work.join("logs"), "auth": auth,
        })
        .to_string()
    };
    // A person signing in by device code; the local cloud approves as `user` (standing in for
    // someone entering the code in a browser).
    let person = |user: &'static str| -> Result<Client> {
        let client = Client::open_json(&config(json!({ "kind": "deviceCode" })))?;
        let c = cloud.clone();
        client.set_device_code_prompt(Arc::new(move |p| {
            println!("   {}", p.message);
            println!("   (the local cloud approves the code as {user})");
            let _ = c.approve_device_code(&p.user_code, user);
            Ok(())
        }));
        Ok(client)
    };

    step("1. Onboard the hierarchy as a Global Administrator");
    let admin = person("admin@contoso.onmicrosoft.com")?;
    let registered = admin.register(r#"{"uploadScope":{"kind":"all"},"coManagementAutoEnroll":false}"#, NEVER)?;
    let app_id = registered["appId"].as_str().unwrap_or_default().to_owned();
    let secret = registered["createdApp"]["clientSecret"].as_str().unwrap_or_default().to_owned();
    println!("   app {app_id} ({}), service principal {}", registered["appIdUri"], registered["createdApp"]["servicePrincipalId"]);
    println!("   client secret (returned once, never stored by the library): {}…", secret.chars().take(3).collect::<String>());
    println!("   upload scope {}, co-management auto-enroll {}", registered["onboarding"]["uploadScope"], registered["onboarding"]["coManagementAutoEnroll"]);

    step("2. Upload the site's devices");
    let site = Client::open_json(&config(json!({ "kind": "clientSecret", "clientId": app_id, "clientSecret": secret })))?;
    let text = std::fs::read_to_string(&input).map_err(|e| tenant_attach::Error::io(&format!("cannot read {}", input.display()), &e))?;
    let report = upload(&site, &text)?;
    print_report(&report);
    // One device got a new client version: the next run is a delta of one.
    let changed = text.replacen("5.00.9122.1000", "5.00.9128.1007", 1);
    let report = upload(&site, &changed)?;
    print_report(&report);

    step("3. Run device actions from the admin side (a helpdesk operator)");
    let helpdesk = person("helpdesk@contoso.onmicrosoft.com")?;
    let devices = helpdesk.list_devices(None, NEVER)?;
    println!("   the admin center shows {} devices managed by ConfigMgr", devices.len());
    let pick = |name: &str| devices.iter().find(|d| d["deviceName"] == name).and_then(|d| d["id"].as_str()).map(str::to_owned);
    let dp = pick("SRV-DP-01").unwrap_or_default();
    let pc = pick("PC-ÅÄÖ-01").unwrap_or_default();
    for (ids, action) in [(vec![dp.clone()], "SyncMachinePolicy"), (vec![pc.clone()], "AppEvaluationCycle")] {
        for r in helpdesk.trigger_action(&ids, action, NEVER)? {
            println!("   {action} on {}: {}", r["managedDeviceId"], r["result"]);
        }
    }
    match helpdesk.trigger_action(&[pc.clone()], "quickScan", NEVER) {
        Err(e) => println!("   quickScan refused before sending: {}", e.message),
        Ok(_) => println!("   quickScan was unexpectedly accepted"),
    }

    step("4. The site's notification worker");
    let users = discovered_users();
    let mut handled = 0;
    while handled < 2 {
        for decision in site.receive_notifications(&users, 5, NEVER)? {
            handled += 1;
            match decision {
                Decision::Authorized {
                    notification_id,
                    device_name,
                    action,
                    notification_type,
                    template_id,
                    template_number,
                    task_guid,
                    user_principal_name,
                    ..
                } => {
                    println!(
                        "   {action} for {} by {}: authorized; client notification {notification_type}, TemplateID {template_id} ({template_number}), task {task_guid}",
                        device_name.unwrap_or_default(),
                        user_principal_name.unwrap_or_default()
                    );
                    site.complete_notification(&notification_id, true, None, Some(&task_guid), NEVER)?;
                }
                Decision::Refused { reason, .. } => println!("   refused: {reason}"),
            }
        }
    }
    let seen = helpdesk.list_devices(Some("deviceName eq 'SRV-DP-01'"), NEVER)?;
    if let Some(d) = seen.first() {
        println!("   the admin center now shows for SRV-DP-01: {}", d["deviceActionResults"]);
    }

    step("Status");
    let status = site.status(NEVER)?;
    println!("   onboarded: {}, last sync: {}, next run: {}", status["onboarded"], status["local"]["lastSync"], status["nextRunTime"]);
    println!("\nCMTrace logs: {}", work.join("logs").display());
    for f in ["TenantAttach.log", "CMGatewaySyncUploadWorker.log", "CMGatewayNotificationWorker.log"] {
        println!("   {f}");
    }
    Ok(())
}

fn upload(site: &Client, text: &str) -> Result<tenant_attach::sync::Report> {
    let items = if text.trim_start().starts_with('[') {
        tenant_attach::inventory::parse_json(text)?
    } else {
        tenant_attach::inventory::NdjsonReader::new(text.as_bytes()).collect::<Result<Vec<_>>>()?
    };
    let total = items.len() as u64;
    site.sync_devices(Input::Items(&mut items.into_iter().map(Ok)), total, Options::default(), &mut |_, _| {}, NEVER)
}

fn print_report(r: &tenant_attach::sync::Report) {
    println!(
        "   {} sync{}: {} considered, {} uploaded, {} deleted, {} unchanged, {} not clients, {} skipped, {} batches, {} ms",
        r.kind,
        r.reason.as_deref().map(|x| format!(" ({x})")).unwrap_or_default(),
        r.considered,
        r.uploaded,
        r.deleted,
        r.unchanged,
        r.ineligible,
        r.skipped_count,
        r.batches,
        r.duration_ms
    );
    for s in &r.skipped {
        println!("     skipped #{} {}: {}", s.index, s.name.as_deref().unwrap_or(""), s.reason);
    }
}

/// The site's discovered users (in ConfigMgr, from AD and Azure AD user discovery; here, from the
/// local cloud's seed, which marks who each discovery found).
fn discovered_users() -> String {
    json!([
        { "aadUserId": tenant_attach_cloud::CONTOSO_HELPDESK, "userPrincipalName": "helpdesk@contoso.onmicrosoft.com", "adDiscovered": true, "azureAdDiscovered": true },
        { "aadUserId": tenant_attach_cloud::CONTOSO_ADMIN, "userPrincipalName": "admin@contoso.onmicrosoft.com", "adDiscovered": true, "azureAdDiscovered": true },
        { "aadUserId": tenant_attach_cloud::CONTOSO_AD_ONLY, "userPrincipalName": "adonly@contoso.onmicrosoft.com", "adDiscovered": true, "azureAdDiscovered": false },
    ])
    .to_string()
}
