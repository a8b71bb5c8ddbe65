//! Device actions end to end against tenant-attach-cloud: triggered by permitted and unpermitted
//! users through Graph `$batch`, received by the site's notification worker with the site's
//! discovered users, completed, and visible from the admin side; the worker's CMTrace log.

use std::sync::Arc;

use serde_json::{json, Value};
use tenant_attach::actions::Decision;
use tenant_attach::error::ErrorKind;
use tenant_attach::sync::{Input, Options};
use tenant_attach::Client;
use tenant_attach_cloud::{CloudHandle, TestCloud, CONTOSO_AD_ONLY, CONTOSO_TENANT};

const HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-0a1b2c3d4e5f";
const NEVER: &dyn Fn() -> bool = &|| false;
const SITE_APP: &str = "e0000000-0000-4000-8000-0000000000d1";
const SITE_SECRET: &str = "site~secret.value.0001";

fn config(cloud: &CloudHandle, dir: &std::path::Path, auth: Value) -> String {
    json!({ "tenantId": CONTOSO_TENANT, "siteCode": "PS1", "hierarchyId": HIERARCHY,
        "endpoints": { "authority": cloud.url(), "graph": cloud.url(), "gateway": cloud.url() },
        "trustedCaFile": cloud.ca_file(), "stateDir": dir.join("state"), "logDir": dir.join("logs"), "auth": auth })
    .to_string()
}

fn admin(cloud: &Arc<CloudHandle>, dir: &std::path::Path, user: &'static str) -> Client {
    let client = Client::open_json(&config(cloud, dir, json!({ "kind": "deviceCode" }))).expect("opens");
    let c = cloud.clone();
    client.set_device_code_prompt(Arc::new(move |p| {
        c.approve_device_code(&p.user_code, user).expect("approve");
        Ok(())
    }));
    client
}

/// The site's discovered users, as its AD and Azure AD discoveries know them.
fn discovered() -> String {
    json!([
        { "aadUserId": "a0000000-0000-4000-8000-000000000002", "userPrincipalName": "helpdesk@contoso.onmicrosoft.com", "adDiscovered": true, "azureAdDiscovered": true },
        { "aadUserId": "a0000000-0000-4000-8000-000000000001", "userPrincipalName": "admin@contoso.onmicrosoft.com", "adDiscovered": true, "azureAdDiscovered": true },
        { "aadUserId": CONTOSO_AD_ONLY, "userPrincipalName": "adonly@contoso.onmicrosoft.com", "adDiscovered": true, "azureAdDiscovered": false },
    ])
    .to_string()
}

/// A cloud with the hierarchy onboarded and 100 devices uploaded by its site.
fn attached() -> (Arc<CloudHandle>, tempfile::TempDir, Client) {
    let cloud = Arc::new(TestCloud::start().expect("cloud"));
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = serde_json::from_value(json!({ "apps": [{ "appId": SITE_APP, "tenantId": CONTOSO_TENANT, "displayName": "Site", "secret": SITE_SECRET }] }))
        .expect("seed");
    cloud.seed(seed).expect("seeded");
    let site =
        Client::open_json(&config(&cloud, dir.path(), json!({ "kind": "clientSecret", "clientId": SITE_APP, "clientSecret": SITE_SECRET }))).expect("site");
    site.register(&json!({ "import": { "clientId": SITE_APP, "clientSecret": SITE_SECRET, "secretExpiry": "2030-01-01T00:00:00Z", "appIdUri": format!("api://{CONTOSO_TENANT}/ConfigMgr") } }).to_string(), NEVER)
        .expect("onboarded");
    let devices: Vec<Value> = (0..100).map(|i| json!({ "Name": format!("PC-{i:03}"), "SMSID": format!("GUID:{i:08}"), "IsClient": true })).collect();
    let items = tenant_attach::inventory::parse_json(&Value::Array(devices).to_string()).expect("parse");
    site.sync_devices(Input::Items(&mut items.into_iter().map(Ok)), 100, Options::default(), &mut |_, _| {}, NEVER).expect("uploaded");
    (cloud, dir, site)
}

#[test]
fn many_devices_answer_in_order_and_cancel_is_asked_on_the_calling_thread_only() {
    let (cloud, dir, _site) = attached();
    let helpdesk = admin(&cloud, dir.path(), "helpdesk@contoso.onmicrosoft.com");
    let mut ids: Vec<String> = helpdesk.list_devices(None, NEVER).expect("list").iter().map(|d| d["id"].as_str().expect("id").to_owned()).collect();
    // Unknown devices scattered over several $batch requests (two are in flight at once).
    for at in [0, 7, 45, 99] {
        ids.insert(at, format!("00000000-0000-0000-0000-{at:012}"));
    }
    let results = helpdesk.trigger_action(&ids, "SyncMachinePolicy", NEVER).expect("triggered");
    assert_eq!(results.len(), ids.len());
    for (r, id) in results.iter().zip(&ids) {
        assert_eq!(r["managedDeviceId"], json!(id), "results are in the order given");
        let expected = if id.starts_with("00000000-0000-0000-0000-") { "notFound" } else { "accepted" };
        assert_eq!(r["result"], expected, "{r}");
    }

    // The cancel callback (a PowerShell or C# delegate) is only called on the calling thread.
    let caller = std::thread::current().id();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let cancel = || {
        assert_eq!(std::thread::current().id(), caller, "cancel asked on another thread");
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 2
    };
    // 2,080 devices, 104 batches: the calling thread sends about half of them, asking each time.
    let many: Vec<String> = ids.iter().cycle().take(ids.len() * 20).cloned().collect();
    let e = helpdesk.trigger_action(&many, "SyncMachinePolicy", &cancel).expect_err("cancelled");
    assert_eq!(e.kind, ErrorKind::Cancelled, "{}", e.message);
    assert!(e.message.contains("cancelled"), "{}", e.message);
}

#[test]
fn actions_reach_the_site_worker_with_the_right_template_and_outcomes_show_in_graph() {
    let (cloud, dir, site) = attached();
    let helpdesk = admin(&cloud, dir.path(), "helpdesk@contoso.onmicrosoft.com");
    let listed = helpdesk.list_devices(None, NEVER).expect("list");
    assert_eq!(listed.len(), 100);
    let ids: Vec<String> = listed.iter().map(|d| d["id"].as_str().expect("id").to_owned()).collect();

    // Unsupported actions are refused before anything is sent.
    let before = cloud.counters()["requests"].as_u64().unwrap_or(0);
    let e = helpdesk.trigger_action(&ids[..1], "quickScan", NEVER).expect_err("unsupported");
    assert_eq!(e.kind, ErrorKind::UnsupportedAction);
    assert!(e.message.contains("SyncMachinePolicy") && e.message.contains("AppEvaluationCycle"));
    assert_eq!(cloud.counters()["requests"].as_u64().unwrap_or(0), before, "nothing was sent");

    // 100 devices in one call: five $batch requests, not a hundred.
    let results = helpdesk.trigger_action(&ids, "SyncMachinePolicy", NEVER).expect("triggered");
    let after = cloud.counters()["requests"].as_u64().unwrap_or(0);
    assert!(results.iter().all(|r| r["result"] == "accepted"), "{:?}", results.iter().find(|r| r["result"] != "accepted"));
    assert!(after - before <= 8, "{} requests for 100 devices", after - before);
    let unknown = helpdesk.trigger_action(&["00000000-0000-0000-0000-000000000000".to_owned()], "refreshUserPolicy", NEVER).expect("answered");
    assert_eq!(unknown[0]["result"], "notFound");
    helpdesk.trigger_action(&ids[..1], "Sync user policy", NEVER).expect("user policy");
    helpdesk.trigger_action(&ids[1..2], "appEvaluation", NEVER).expect("app evaluation");

    // A user without the Intune permission: 403 naming it.
    let reader = admin(&cloud, dir.path(), "reader@contoso.onmicrosoft.com");
    let denied = reader.trigger_action(&ids[..1], "SyncMachinePolicy", NEVER).expect("answered");
    assert_eq!(denied[0]["result"], "forbidden");
    assert!(denied[0]["message"].as_str().unwrap_or("").contains("Initiate Configuration Manager action"), "{}", denied[0]);

    // A user discovered by AD only: accepted by the cloud, refused at the site.
    let ad_only = admin(&cloud, dir.path(), "adonly@contoso.onmicrosoft.com");
    ad_only.trigger_action(&ids[2..3], "SyncMachinePolicy", NEVER).expect("accepted by the cloud");

    let mut decisions = Vec::new();
    while decisions.len() < 103 {
        let got = site.receive_notifications(&discovered(), 2, NEVER).expect("received");
        assert!(!got.is_empty(), "every action arrives ({} so far)", decisions.len());
        decisions.extend(got);
    }
    let mut templates = std::collections::BTreeMap::new();
    let mut refused = Vec::new();
    for d in &decisions {
        match d {
            Decision::Authorized { template_id, template_number, notification_type, notification_id, task_guid, .. } => {
                *templates.entry((*template_id, *template_number, *notification_type)).or_insert(0) += 1;
                site.complete_notification(notification_id, true, None, Some(task_guid), NEVER).expect("completed");
            }
            Decision::Refused { reason, .. } => refused.push(reason.clone()),
        }
    }
    assert_eq!(templates.get(&("RequestMachinePolicy", 1, "ClientNotificationRequestMachinePolicyNow")), Some(&100));
    assert_eq!(templates.get(&("RequestUsersPolicy", 2, "ClientNotificationRequestUsersPolicyNow")), Some(&1));
    assert_eq!(templates.get(&("AppDeplEvalNow", 6, "ClientNotificationAppDeplEvalNow")), Some(&1));
    assert_eq!(refused.len(), 1);
    assert!(refused[0].contains("not found by Azure AD user discovery"), "{}", refused[0]);

    // The admin side sees each outcome; the refused one with its reason.
    let device2 = helpdesk.list_devices(Some(&format!("configurationManagerClientInformation/clientIdentifier eq 'GUID:{:08}'", 2)), NEVER).expect("list");
    let results2 = device2[0]["deviceActionResults"].as_array().expect("results").clone();
    assert!(results2.iter().any(|r| r["actionState"] == "failed" && r["errorMessage"].as_str().unwrap_or("").contains("AD user discovery")), "{results2:?}");
    assert!(results2.iter().any(|r| r["actionState"] == "done"));
    // Completing twice is harmless.
    if let Some(Decision::Authorized { notification_id, .. }) = decisions.first() {
        assert_eq!(site.complete_notification(notification_id, true, None, None, NEVER).expect("again")["duplicate"], true);
    }

    // The worker's log holds the documented lines, in order.
    let entries = tenant_attach::cmtrace::read_entries(&dir.path().join("logs/CMGatewayNotificationWorker.log")).expect("log");
    let lines: Vec<&str> = entries.iter().map(|e| e.message.as_str()).collect();
    let first = lines.iter().position(|l| *l == "Received new notification. Validating basic notification details...").expect("received line");
    assert_eq!(lines[first + 1], "Validating device action message content...");
    assert!(
        lines[first + 2].starts_with(&format!("Authorized to perform client action. TemplateID: RequestMachinePolicy TenantId: {CONTOSO_TENANT} AADUserID: "))
    );
    assert!(lines[first + 3].starts_with("Forwarded BGB remote task. TemplateID: 1 TaskGuid: ") && lines[first + 3].ends_with("TaskParam: TargetDeviceIDs: 1"));
    assert!(lines.iter().any(|l| l.starts_with("Unauthorized to perform client action. TemplateID: RequestMachinePolicy")));
}

#[test]
fn a_filter_the_service_ignores_never_reaches_an_action() {
    let (cloud, dir, _site) = attached();
    let helpdesk = admin(&cloud, dir.path(), "helpdesk@contoso.onmicrosoft.com");
    // Intune ignores a filter on userId and answers with all 100 devices: the library refuses to
    // return them, and a trigger on that filter sends nothing.
    let ignored = "userId eq 'a0000000-0000-4000-8000-000000000002'";
    let e = helpdesk.list_devices(Some(ignored), NEVER).expect_err("the service did not filter");
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::InvalidArgument, Some("FilterNotApplied")), "{}", e.message);
    assert!(e.message.contains("100 of the 100 devices") && e.message.contains(ignored), "{}", e.message);
    assert_eq!(e.details.as_ref().map(|d| (d["returned"].clone(), d["notMatching"].clone())), Some((json!(100), json!(100))));
    let e = helpdesk.trigger_action_filtered(ignored, "SyncMachinePolicy", NEVER).expect_err("nothing triggered");
    assert_eq!(e.code.as_deref(), Some("FilterNotApplied"));
    // As reported of Intune, `ne` is applied as `eq`: the answer does not match, nothing is acted on.
    let e = helpdesk.trigger_action_filtered("deviceName ne 'PC-000'", "SyncMachinePolicy", NEVER).expect_err("ne");
    assert_eq!(e.code.as_deref(), Some("FilterNotApplied"), "{}", e.message);
    // Only the first part of an `or` is applied: a device missing from the answer cannot be
    // noticed, so `or` is refused before anything is sent.
    let e = helpdesk.trigger_action_filtered("deviceName eq 'PC-001' or deviceName eq 'PC-002'", "SyncMachinePolicy", NEVER).expect_err("or");
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::InvalidArgument, Some("FilterNotSupported")), "{}", e.message);
    // A filter the library cannot check is refused before anything is sent.
    let e = helpdesk.list_devices(Some("matchesPattern(deviceName,'PC')"), NEVER).expect_err("cannot evaluate");
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::InvalidArgument, None));
    assert!(cloud.notifications().is_empty(), "no action reached the cloud");
    assert_eq!(cloud.counters()["actionsQueued"], 0);

    // A filter the service applies: exactly the matching devices get the action.
    let results = helpdesk.trigger_action_filtered("startswith(deviceName,'PC-00')", "SyncMachinePolicy", NEVER).expect("triggered");
    assert_eq!(results.len(), 10);
    assert!(results.iter().all(|r| r["result"] == "accepted"), "{results:?}");
    let mut targets: Vec<String> = cloud.notifications().iter().map(|n| n["deviceName"].as_str().unwrap_or_default().to_owned()).collect();
    targets.sort();
    assert_eq!(targets, (0..10).map(|i| format!("PC-{i:03}")).collect::<Vec<_>>());
}

#[test]
fn throttled_batch_steps_are_delivered_exactly_once() {
    use tenant_attach_cloud::server::Faults;
    let (cloud, dir, _site) = attached();
    let helpdesk = admin(&cloud, dir.path(), "helpdesk@contoso.onmicrosoft.com");
    let ids: Vec<String> = helpdesk.list_devices(None, NEVER).expect("list").iter().map(|d| d["id"].as_str().expect("id").to_owned()).collect();
    assert_eq!(ids.len(), 100);
    let step_rule = |retry: f64, batch_status: Option<u16>, limit: u64| Faults {
        mode: Some("throttle".into()),
        rate: 1.0,
        target: Some("batchStep".into()),
        path_prefix: Some("/beta/deviceManagement/managedDevices/".into()),
        retry_after_seconds: retry,
        batch_status,
        limit: Some(limit),
        ..Faults::default()
    };
    // Round 1: the first 45 steps throttled with a decimal Retry-After, each batch that holds one
    // answered 424 as a whole (Graph's guidance once said so); step headers say "Retry-After".
    cloud.set_faults(step_rule(0.4, Some(424), 45));
    let started = std::time::Instant::now();
    let results = helpdesk.trigger_action(&ids, "SyncMachinePolicy", NEVER).expect("every device answered");
    assert!(started.elapsed() >= std::time::Duration::from_millis(400), "the decimal Retry-After was waited for ({:?})", started.elapsed());
    assert!(results.iter().all(|r| r["result"] == "accepted"), "{:?}", results.iter().find(|r| r["result"] != "accepted"));
    assert!(results.iter().any(|r| r["attempts"].as_u64() > Some(1)), "some were sent again");
    // Round 2: throttled in every round but the last, the batch itself answering 200.
    cloud.set_faults(step_rule(0.0, None, 100 + 60));
    let results = helpdesk.trigger_action(&ids, "AppEvaluationCycle", NEVER).expect("every device answered");
    assert!(results.iter().all(|r| r["result"] == "accepted"), "{:?}", results.iter().find(|r| r["result"] != "accepted"));
    cloud.set_faults(Faults::default());

    // The cloud's counters: every throttled step was sent again, and each device got each action once.
    let counters = cloud.counters();
    assert_eq!(counters["stepsThrottled"], 45 + 160, "{counters}");
    assert_eq!(counters["actionsQueued"], 200, "{counters}");
    let mut per_device = std::collections::BTreeMap::new();
    for n in cloud.notifications() {
        *per_device.entry((n["managedDeviceId"].as_str().unwrap_or_default().to_owned(), n["action"].as_str().unwrap_or_default().to_owned())).or_insert(0) +=
            1;
    }
    assert_eq!(per_device.len(), 200);
    assert!(per_device.values().all(|&n| n == 1), "an action delivered twice: {per_device:?}");
}
