//! tenant-attach-cloud over real HTTPS: sign-in flows and their errors, authorization, tenant
//! isolation, the gateway protocol, Graph paging and $batch, the admin page, faults.

mod common;

use common::*;
use serde_json::{json, Value};
use tenant_attach_cloud::server::Faults;
use tenant_attach_cloud::*;

const HIERARCHY: &str = "5f0c1a6e-0000-4000-8000-00000000c001";

#[test]
fn client_credentials_and_their_aadsts_errors() {
    let cloud = TestCloud::start().expect("starts");
    let ok = app_token(&cloud, CONTOSO_DOMAIN, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH);
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert_eq!(ok.1["token_type"], "Bearer");
    let wrong = app_token(&cloud, CONTOSO_TENANT, CONTOSO_AUTOMATION_APP, "not-the-secret", GRAPH);
    assert_eq!((wrong.0, wrong.1["error"].as_str()), (401, Some("invalid_client")));
    assert!(wrong.1["error_description"].as_str().unwrap().starts_with("AADSTS7000215:"));
    let unknown = app_token(&cloud, CONTOSO_TENANT, "11111111-1111-4111-8111-111111111111", "x", GRAPH);
    assert!(unknown.1["error_description"].as_str().unwrap().starts_with("AADSTS700016:"), "{}", unknown.1);
    let other_tenant = app_token(&cloud, FABRIKAM_TENANT, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH);
    assert!(other_tenant.1["error_description"].as_str().unwrap().starts_with("AADSTS700016:"));
    let no_tenant = app_token(&cloud, "nowhere.onmicrosoft.com", CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH);
    assert!(no_tenant.1["error_description"].as_str().unwrap().starts_with("AADSTS90002:"));
}

#[test]
fn device_code_pending_approved_declined_and_refresh() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let start = || {
        json(
            c.post(format!("{}/organizations/oauth2/v2.0/devicecode", cloud.url()))
                .form(&[("client_id", GRAPH_POWERSHELL_CLIENT), ("scope", "https://graph.microsoft.com/.default offline_access openid")])
                .send()
                .expect("devicecode"),
        )
        .1
    };
    let poll = |code: &Value| {
        json(
            c.post(format!("{}/organizations/oauth2/v2.0/token", cloud.url()))
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", GRAPH_POWERSHELL_CLIENT),
                    ("device_code", code["device_code"].as_str().unwrap()),
                    ("client_info", "1"),
                ])
                .send()
                .expect("poll"),
        )
    };
    let code = start();
    assert!(code["message"].as_str().unwrap().contains(code["user_code"].as_str().unwrap()));
    assert_eq!(poll(&code).1["error"], "authorization_pending");
    cloud.approve_device_code(code["user_code"].as_str().unwrap(), "admin@contoso.onmicrosoft.com").expect("approve");
    let (status, tokens) = poll(&code);
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string() && tokens["client_info"].is_string() && tokens["refresh_token"].is_string());
    let me = json(c.get(format!("{}/v1.0/me", cloud.url())).bearer_auth(tokens["access_token"].as_str().unwrap()).send().expect("me"));
    assert_eq!(me.1["userPrincipalName"], "admin@contoso.onmicrosoft.com");
    let roles = json(c.get(format!("{}/v1.0/me/memberOf", cloud.url())).bearer_auth(tokens["access_token"].as_str().unwrap()).send().expect("memberOf"));
    assert_eq!(roles.1["value"][0]["roleTemplateId"], GLOBAL_ADMINISTRATOR);

    // The refresh token gets a token for another resource without asking again.
    let (status, gw) = json(
        c.post(format!("{}/organizations/oauth2/v2.0/token", cloud.url()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", GRAPH_POWERSHELL_CLIENT),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("scope", GATEWAY),
            ])
            .send()
            .expect("refresh"),
    );
    assert_eq!(status, 200, "{gw}");
    let bad = json(
        c.post(format!("{}/organizations/oauth2/v2.0/token", cloud.url()))
            .form(&[("grant_type", "refresh_token"), ("client_id", GRAPH_POWERSHELL_CLIENT), ("refresh_token", "0.bogus"), ("scope", GATEWAY)])
            .send()
            .expect("refresh"),
    );
    assert_eq!(bad.1["error"], "invalid_grant");

    let declined = start();
    cloud.decline_device_code(declined["user_code"].as_str().unwrap()).expect("decline");
    assert_eq!(poll(&declined).1["error"], "authorization_declined");
    assert_eq!(poll(&declined).1["error"], "bad_verification_code", "a finished code is not recognised any more");
}

#[test]
fn graph_checks_tokens_permissions_and_tenants() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let devices = format!("{}/beta/deviceManagement/managedDevices", cloud.url());
    let none = c.get(&devices).send().expect("list");
    assert_eq!(none.status().as_u16(), 401);
    assert!(none.headers().get("www-authenticate").is_some_and(|v| v.to_str().unwrap().starts_with("Bearer")));
    // Forged (signed by another key), expired, and wrong-audience tokens are refused.
    let forged = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20iLCJ0aWQiOiJjMGZmZWUwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDEiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl";
    assert_eq!(c.get(&devices).bearer_auth(forged).send().expect("forged").status().as_u16(), 401);
    let expired = cloud.issue_token(json!({ "aud": "https://graph.microsoft.com", "tid": CONTOSO_TENANT, "exp": 1_000_000, "idtyp": "app", "roles": ["DeviceManagementManagedDevices.Read.All"] }));
    assert!(json(c.get(&devices).bearer_auth(&expired).send().expect("expired")).1["error"]["message"].as_str().unwrap().contains("expired"));
    // A token the cloud signed, for a tenant it does not hold: refused, not an empty answer.
    let stranger = cloud.issue_token(json!({ "aud": "https://graph.microsoft.com", "tid": "0badc0de-0000-4000-8000-000000000000", "exp": 4_102_444_800u64, "idtyp": "app", "roles": ["DeviceManagementManagedDevices.Read.All"] }));
    let (s, body) = json(c.get(&devices).bearer_auth(&stranger).send().expect("stranger"));
    assert_eq!(s, 401, "{body}");
    let gateway_token = bearer(&app_token(&cloud, CONTOSO_TENANT, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GATEWAY));
    assert_eq!(c.get(&devices).header("Authorization", &gateway_token).send().expect("aud").status().as_u16(), 401);

    // Contoso onboards and uploads; the reader may list, not act; Fabrikam sees nothing.
    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    let body =
        json!({ "hierarchyId": HIERARCHY, "syncId": "s1", "sequence": 0, "kind": "full", "final": true, "devices": [device(1, "PC-1")], "deletions": [] });
    assert_eq!(post_batch(&cloud, &site, body).0, 200);
    let reader = user_bearer(&cloud, CONTOSO_TENANT, "reader@contoso.onmicrosoft.com", GRAPH);
    let (s, list) = json(c.get(&devices).header("Authorization", &reader).send().expect("list"));
    assert_eq!((s, list["value"].as_array().map(Vec::len)), (200, Some(1)), "{list}");
    let id = list["value"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["value"][0]["managementAgent"], "configurationManagerClient");
    let trigger = format!("{devices}/{id}/triggerConfigurationManagerAction");
    let action = json!({ "configurationManagerAction": { "action": "refreshMachinePolicy" } });
    let (s, denied) = json(c.post(&trigger).header("Authorization", &reader).json(&action).send().expect("trigger"));
    assert_eq!(s, 403);
    assert!(denied["error"]["message"].as_str().unwrap().contains("Initiate Configuration Manager action"), "{denied}");
    let helpdesk = user_bearer(&cloud, CONTOSO_TENANT, "helpdesk@contoso.onmicrosoft.com", GRAPH);
    assert_eq!(c.post(&trigger).header("Authorization", &helpdesk).json(&action).send().expect("trigger").status().as_u16(), 204);
    let (s, unsupported) = json(
        c.post(&trigger).header("Authorization", &helpdesk).json(&json!({ "configurationManagerAction": { "action": "quickScan" } })).send().expect("trigger"),
    );
    assert_eq!(s, 400);
    assert!(unsupported["error"]["message"].as_str().unwrap().contains("refreshMachinePolicy, refreshUserPolicy, appEvaluation"));

    let fabrikam = bearer(&app_token(&cloud, FABRIKAM_TENANT, FABRIKAM_AUTOMATION_APP, FABRIKAM_AUTOMATION_SECRET, GRAPH));
    assert_eq!(json(c.get(&devices).header("Authorization", &fabrikam).send().expect("list")).1["value"], json!([]));
    assert_eq!(c.get(format!("{devices}/{id}")).header("Authorization", &fabrikam).send().expect("get").status().as_u16(), 404);
    assert_eq!(c.post(&trigger).header("Authorization", &fabrikam).json(&action).send().expect("trigger").status().as_u16(), 404);
    // A Fabrikam admin cannot create apps in Contoso's directory, and a non-admin cannot create apps at all.
    let (s, _) = json(
        c.post(format!("{}/v1.0/applications", cloud.url())).header("Authorization", &helpdesk).json(&json!({ "displayName": "x" })).send().expect("create"),
    );
    assert_eq!(s, 403);
}

#[test]
fn gateway_onboarding_upload_and_notifications() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let admin_gw = user_bearer(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", GATEWAY);
    let onboarding = format!("{}/api/gateway/AccountOnboardingInfo", cloud.url());
    let record = json!({ "hierarchyId": HIERARCHY, "siteCode": "PS1", "tenantId": CONTOSO_TENANT, "appId": app_id, "appIdUri": "api://x/y" });
    let (s, again) = json(c.post(&onboarding).header("Authorization", &admin_gw).json(&record).send().expect("again"));
    assert_eq!((s, again["error"]["code"].as_str()), (400, Some("HierarchyAlreadyOnboarded")));
    let (s, patched) = json(
        c.patch(&onboarding)
            .header("Authorization", &admin_gw)
            .json(&json!({ "hierarchyId": HIERARCHY, "uploadScope": { "kind": "collection", "collectionId": "PS100012" } }))
            .send()
            .expect("patch"),
    );
    assert_eq!((s, patched["scopeVersion"].as_u64()), (200, Some(2)));
    // Fabrikam tries to attach the same hierarchy.
    let fab_app = FABRIKAM_AUTOMATION_APP;
    let fab_admin = user_bearer(&cloud, FABRIKAM_TENANT, "admin@fabrikam.onmicrosoft.com", GATEWAY);
    let (s, conflict) = json(
        c.post(&onboarding)
            .header("Authorization", &fab_admin)
            .json(&json!({ "hierarchyId": HIERARCHY, "siteCode": "PS1", "tenantId": FABRIKAM_TENANT, "appId": fab_app, "appIdUri": "api://f/y" }))
            .send()
            .expect("conflict"),
    );
    assert_eq!(s, 409);
    assert_eq!(conflict["error"]["tenantId"], CONTOSO_TENANT);
    assert!(conflict["error"]["message"].as_str().unwrap().contains("Contoso"));

    // Uploads: a user token is refused; the hierarchy's app is accepted; replays are idempotent.
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    let batch = |seq: u64, kind: &str, fin: bool, devices: Vec<Value>, deletions: Vec<&str>, sync: &str| json!({ "hierarchyId": HIERARCHY, "syncId": sync, "sequence": seq, "kind": kind, "final": fin, "devices": devices, "deletions": deletions });
    // Anyone but the hierarchy's own app gets the real gateway's 401 {"Message":…}.
    assert_eq!(
        post_batch(&cloud, &admin_gw, batch(0, "full", false, vec![device(1, "a")], vec![], "s1")),
        (401, json!({ "Message": "An error has occurred." }))
    );
    assert_eq!(post_batch(&cloud, &site, batch(0, "full", false, (1..=3).map(|i| device(i, "d")).collect(), vec![], "s1")).0, 200);
    let (_, dup) = post_batch(&cloud, &site, batch(0, "full", false, (1..=3).map(|i| device(i, "d")).collect(), vec![], "s1"));
    assert_eq!(dup["duplicate"], true);
    assert_eq!(post_batch(&cloud, &site, batch(1, "full", true, vec![device(4, "d")], vec![], "s1")).0, 200);
    assert_eq!(cloud.device_ids(HIERARCHY).len(), 4);
    // A second full sync that does not mention device 1 sweeps it at its final batch.
    post_batch(&cloud, &site, batch(0, "full", true, (2..=4).map(|i| device(i, "d")).collect(), vec![], "s2"));
    assert_eq!(cloud.device_ids(HIERARCHY), ["GUID:00000002", "GUID:00000003", "GUID:00000004"]);
    post_batch(&cloud, &site, batch(0, "delta", true, vec![device(5, "e")], vec!["GUID:00000002"], "s3"));
    assert_eq!(cloud.device_ids(HIERARCHY), ["GUID:00000003", "GUID:00000004", "GUID:00000005"]);
    let (s, bad) =
        post_batch(&cloud, &site, json!({ "hierarchyId": HIERARCHY, "syncId": "s4", "sequence": 0, "kind": "delta", "devices": [{ "name": "no id" }] }));
    assert_eq!(s, 400, "{bad}");
    let too_many: Vec<Value> = (0..5001).map(|i| device(i, "x")).collect();
    assert_eq!(post_batch(&cloud, &site, batch(0, "delta", true, too_many, vec![], "s5")).0, 413);

    // The long-poll answers as soon as an action is triggered.
    let ops = bearer(&app_token(&cloud, CONTOSO_TENANT, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH));
    let list = json(
        c.get(format!("{}/beta/deviceManagement/managedDevices?$filter=deviceName eq 'e'", cloud.url())).header("Authorization", &ops).send().expect("list"),
    )
    .1;
    let id = list["value"][0]["id"].as_str().expect("device e").to_owned();
    let poll_url = format!("{}/api/gateway/Notification?hierarchyId={HIERARCHY}&timeoutSeconds=20", cloud.url());
    let started = std::time::Instant::now();
    let poller = {
        let c = c.clone();
        let site = site.clone();
        std::thread::spawn(move || json(c.get(&poll_url).header("Authorization", &site).send().expect("poll")))
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let helpdesk = user_bearer(&cloud, CONTOSO_TENANT, "helpdesk@contoso.onmicrosoft.com", GRAPH);
    let triggered = std::time::Instant::now();
    c.post(format!("{}/beta/deviceManagement/managedDevices/{id}/triggerConfigurationManagerAction", cloud.url()))
        .header("Authorization", &helpdesk)
        .json(&json!({ "configurationManagerAction": { "action": "appEvaluation" } }))
        .send()
        .expect("trigger");
    let (s, got) = poller.join().expect("poller");
    assert_eq!(s, 200);
    assert!(triggered.elapsed().as_secs_f64() < 2.0 && started.elapsed().as_secs_f64() < 10.0, "the long-poll answered promptly");
    let n = &got["notifications"][0];
    assert_eq!(
        (n["action"].as_str(), n["smsId"].as_str(), n["initiatedBy"]["aadUserId"].as_str()),
        (Some("appEvaluation"), Some("GUID:00000005"), Some(CONTOSO_HELPDESK))
    );
    let result = json!({ "hierarchyId": HIERARCHY, "notificationId": n["notificationId"], "status": "succeeded", "taskGuid": "T-1" });
    let done = json(c.post(format!("{}/api/gateway/NotificationResult", cloud.url())).header("Authorization", &site).json(&result).send().expect("result"));
    assert_eq!(done.1["duplicate"], false);
    let twice = json(c.post(format!("{}/api/gateway/NotificationResult", cloud.url())).header("Authorization", &site).json(&result).send().expect("result"));
    assert_eq!(twice.1["duplicate"], true);
    let device = json(c.get(format!("{}/beta/deviceManagement/managedDevices/{id}", cloud.url())).header("Authorization", &ops).send().expect("get")).1;
    assert_eq!(device["deviceActionResults"][0]["actionState"], "done");

    // Offboarding removes the hierarchy's devices; the site is then refused as Microsoft's logs
    // show it for a broken onboarding.
    assert_eq!(c.delete(format!("{onboarding}?hierarchyId={HIERARCHY}")).header("Authorization", &admin_gw).send().expect("delete").status().as_u16(), 204);
    assert!(cloud.device_ids(HIERARCHY).is_empty());
    assert_eq!(
        post_batch(&cloud, &site, batch(0, "delta", true, vec![common::device(6, "f")], vec![], "s6")),
        (401, json!({ "Message": "An error has occurred." }))
    );
    let poll = json(
        c.get(format!("{}/api/gateway/Notification?hierarchyId={HIERARCHY}&timeoutSeconds=1", cloud.url()))
            .header("Authorization", &site)
            .send()
            .expect("poll"),
    );
    assert_eq!(poll, (401, json!({ "Message": "An error has occurred." })));
    // A token the gateway cannot accept: 401 in the same shape, with the challenge.
    let refused = c.get(format!("{onboarding}?hierarchyId={HIERARCHY}")).header("Authorization", "Bearer not-a-token").send().expect("bad token");
    assert!(refused.headers().get("www-authenticate").is_some_and(|v| v.to_str().unwrap_or("").starts_with("Bearer")));
    assert_eq!(json(refused), (401, json!({ "Message": "Authorization has been denied for this request." })));
}

#[test]
fn graph_paging_filters_and_batch() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    let devices: Vec<Value> = (0..250).map(|i| device(i, &format!("PC-{i:03}"))).collect();
    post_batch(&cloud, &site, json!({ "hierarchyId": HIERARCHY, "syncId": "s", "sequence": 0, "kind": "full", "final": true, "devices": devices }));
    let ops = bearer(&app_token(&cloud, CONTOSO_TENANT, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH));
    let mut next = Some(format!("{}/beta/deviceManagement/managedDevices?$top=100&$filter=managementAgent eq 'configurationManagerClient'", cloud.url()));
    let mut seen = Vec::new();
    while let Some(url) = next {
        let page = json(c.get(&url).header("Authorization", &ops).send().expect("page")).1;
        seen.extend(page["value"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()));
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 250);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 250, "no device twice across pages");
    let some = json(c.get(format!("{}/beta/deviceManagement/managedDevices?$filter=startswith(deviceName,'PC-01') and configurationManagerClientInformation/clientIdentifier eq 'GUID:00000012'", cloud.url())).header("Authorization", &ops).send().expect("filter")).1;
    assert_eq!(some["value"].as_array().map(Vec::len), Some(1));

    let steps: Vec<Value> = seen
        .iter()
        .take(20)
        .enumerate()
        .map(|(i, id)| {
            json!({ "id": i.to_string(), "method": "POST",
        "url": format!("/deviceManagement/managedDevices/{id}/triggerConfigurationManagerAction"),
        "headers": { "Content-Type": "application/json" }, "body": { "configurationManagerAction": { "action": "refreshUserPolicy" } } })
        })
        .collect();
    let (s, answer) =
        json(c.post(format!("{}/beta/$batch", cloud.url())).header("Authorization", &ops).json(&json!({ "requests": steps })).send().expect("batch"));
    assert_eq!(s, 200);
    assert!(answer["responses"].as_array().unwrap().iter().all(|r| r["status"] == 204), "{answer}");
    assert_eq!(cloud.notifications().len(), 20);
    let too_many: Vec<Value> = (0..21).map(|i| json!({ "id": i.to_string(), "method": "GET", "url": "/me" })).collect();
    assert_eq!(
        c.post(format!("{}/v1.0/$batch", cloud.url()))
            .header("Authorization", &ops)
            .json(&json!({ "requests": too_many }))
            .send()
            .expect("batch")
            .status()
            .as_u16(),
        400
    );
}

#[test]
fn the_admin_page_escapes_device_names_and_queues_actions() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    post_batch(
        &cloud,
        &site,
        json!({ "hierarchyId": HIERARCHY, "syncId": "s", "sequence": 0, "kind": "full", "final": true, "devices": [device(1, "<script>alert(1)</script>")] }),
    );
    let html = c.get(format!("{}/?tenant=contoso.onmicrosoft.com", cloud.url())).send().expect("page").text().expect("html");
    assert!(!html.contains("<script>alert(1)</script>") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
    assert!(html.contains("ConfigMgr"));
    let id = tenant_attach_cloud::server::managed_device_id(CONTOSO_TENANT, HIERARCHY, "GUID:00000001");
    let page = c.get(format!("{}/devices/{id}?user=helpdesk@contoso.onmicrosoft.com", cloud.url())).send().expect("device").text().expect("html");
    assert!(page.contains("Sync machine policy") && page.contains("Sync user policy") && page.contains("App evaluation cycle"));
    let r = c
        .post(format!("{}/devices/{id}/action?user=helpdesk@contoso.onmicrosoft.com", cloud.url()))
        .form(&[("action", "refreshMachinePolicy")])
        .send()
        .expect("click");
    assert!(r.text().expect("html").contains("refreshMachinePolicy was sent"));
    assert_eq!(cloud.notifications()[0]["action"], "refreshMachinePolicy");
    let denied = c
        .post(format!("{}/devices/{id}/action?user=reader@contoso.onmicrosoft.com", cloud.url()))
        .form(&[("action", "refreshMachinePolicy")])
        .send()
        .expect("click")
        .text()
        .expect("html");
    assert!(denied.contains("lacks the Intune permission"));
}

#[test]
fn each_fault_mode_switches_on_and_off() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let url = format!("{}/{CONTOSO_TENANT}/v2.0/.well-known/openid-configuration", cloud.url());
    let set =
        |mode: Option<&str>| cloud.set_faults(Faults { mode: mode.map(str::to_owned), rate: 1.0, retry_after_seconds: 7.0, slow_ms: 600, ..Faults::default() });
    set(Some("throttle"));
    let r = c.get(&url).send().expect("429");
    assert_eq!((r.status().as_u16(), r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned())), (429, Some("7".into())));
    set(Some("error"));
    assert_eq!(c.get(&url).send().expect("503").status().as_u16(), 503);
    set(Some("drop"));
    assert!(c.get(&url).send().and_then(|r| r.text()).is_err(), "the answer is cut");
    set(Some("slow"));
    let t = std::time::Instant::now();
    assert_eq!(c.get(&url).send().expect("slow").status().as_u16(), 200);
    assert!(t.elapsed().as_millis() >= 600);
    set(None);
    assert_eq!(c.get(&url).send().expect("ok").status().as_u16(), 200);
    let counters = cloud.counters();
    assert_eq!(
        (counters["throttled"].as_u64(), counters["errors"].as_u64(), counters["dropped"].as_u64(), counters["slowed"].as_u64()),
        (Some(1), Some(1), Some(1), Some(1))
    );
    // A path prefix limits the faults.
    cloud.set_faults(Faults { mode: Some("error".into()), rate: 1.0, path_prefix: Some("/api/gateway".into()), ..Faults::default() });
    assert_eq!(c.get(&url).send().expect("ok").status().as_u16(), 200);
}
