//! Protocol details clients rely on: Azure AD's error codes for every way a grant goes wrong,
//! Graph's error body and request ids, `$batch` rules, paging that survives concurrent uploads,
//! the admin page's paging, every fault mode and several at once, strict TLS.

mod common;

use common::*;
use serde_json::{json, Value};
use tenant_attach_cloud::server::Faults;
use tenant_attach_cloud::*;

const HIERARCHY: &str = "5f0c1a6e-0000-4000-8000-00000000d001";

fn aadsts(answer: &Value) -> String {
    answer["error_description"].as_str().unwrap_or_default().split(':').next().unwrap_or_default().to_owned()
}

#[test]
fn every_failed_grant_gets_azure_ads_error() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let token_url = format!("{}/organizations/oauth2/v2.0/token", cloud.url());
    let start = || {
        json(
            c.post(format!("{}/organizations/oauth2/v2.0/devicecode", cloud.url()))
                .form(&[("client_id", GRAPH_POWERSHELL_CLIENT), ("scope", "https://graph.microsoft.com/.default openid offline_access")])
                .send()
                .expect("devicecode"),
        )
        .1
    };
    let poll = |code: &Value, client_id: &str| {
        json(
            c.post(&token_url)
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", client_id),
                    ("device_code", code["device_code"].as_str().unwrap()),
                ])
                .send()
                .expect("poll"),
        )
    };

    // An expired code.
    let code = start();
    cloud.expire_device_code(code["user_code"].as_str().unwrap()).expect("expire");
    let (s, expired) = poll(&code, GRAPH_POWERSHELL_CLIENT);
    assert_eq!((s, expired["error"].as_str(), aadsts(&expired).as_str()), (400, Some("expired_token"), "AADSTS70020"), "{expired}");

    // A code polled by another client than the one it was issued to is not recognised.
    let code = start();
    cloud.approve_device_code(code["user_code"].as_str().unwrap(), "helpdesk@contoso.onmicrosoft.com").expect("approve");
    let (_, other) = poll(&code, AZURE_CLI_CLIENT);
    assert_eq!((other["error"].as_str(), aadsts(&other).as_str()), (Some("bad_verification_code"), "AADSTS70018"), "{other}");
    let (s, tokens) = poll(&code, GRAPH_POWERSHELL_CLIENT);
    assert_eq!(s, 200, "{tokens}");
    assert!(tokens["scope"].as_str().unwrap().split(' ').any(|x| x == "https://graph.microsoft.com/.default"), "{tokens}");

    // Refresh tokens: another client, an unknown token, another tenant in the path.
    let refresh = |tenant: &str, client_id: &str, token: &str| {
        json(
            c.post(format!("{}/{tenant}/oauth2/v2.0/token", cloud.url()))
                .form(&[("grant_type", "refresh_token"), ("client_id", client_id), ("refresh_token", token), ("scope", GATEWAY)])
                .send()
                .expect("refresh"),
        )
    };
    let rt = tokens["refresh_token"].as_str().unwrap();
    for (tenant, client_id, token) in
        [("organizations", AZURE_CLI_CLIENT, rt), ("organizations", GRAPH_POWERSHELL_CLIENT, "0.local.bogus"), (FABRIKAM_DOMAIN, GRAPH_POWERSHELL_CLIENT, rt)]
    {
        let (s, bad) = refresh(tenant, client_id, token);
        assert_eq!((s, bad["error"].as_str(), aadsts(&bad).as_str()), (400, Some("invalid_grant"), "AADSTS70000"), "{tenant} {client_id}: {bad}");
    }
    let (s, good) = refresh(CONTOSO_DOMAIN, GRAPH_POWERSHELL_CLIENT, rt);
    assert_eq!(s, 200, "{good}");
    assert!(!good["refresh_token"].as_str().unwrap().contains(rt), "a new refresh token is issued");

    // A device code for a client that is not public, and one without a scope.
    let (_, confidential) = json(
        c.post(format!("{}/organizations/oauth2/v2.0/devicecode", cloud.url()))
            .form(&[("client_id", CONTOSO_AUTOMATION_APP), ("scope", GRAPH)])
            .send()
            .expect("devicecode"),
    );
    assert_eq!(aadsts(&confidential), "AADSTS700016");
    let (_, no_scope) = json(
        c.post(format!("{}/organizations/oauth2/v2.0/devicecode", cloud.url())).form(&[("client_id", GRAPH_POWERSHELL_CLIENT)]).send().expect("devicecode"),
    );
    assert_eq!(aadsts(&no_scope), "AADSTS900144");

    // Client secrets in the Authorization header (client_secret_basic) work as well.
    let (s, basic) = json(
        c.post(format!("{}/{CONTOSO_TENANT}/oauth2/v2.0/token", cloud.url()))
            .basic_auth(CONTOSO_AUTOMATION_APP, Some(CONTOSO_AUTOMATION_SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", GRAPH)])
            .send()
            .expect("basic"),
    );
    assert_eq!(s, 200, "{basic}");
    // Discovery of an unknown tenant.
    let (s, unknown) = json(c.get(format!("{}/nowhere.onmicrosoft.com/v2.0/.well-known/openid-configuration", cloud.url())).send().expect("discovery"));
    assert_eq!((s, unknown["error"].as_str(), aadsts(&unknown).as_str()), (400, Some("invalid_tenant"), "AADSTS90002"));
}

#[test]
fn graph_errors_batches_and_paging_behave_like_graph() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    let ops = bearer(&app_token(&cloud, CONTOSO_TENANT, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH));
    let list = format!("{}/beta/deviceManagement/managedDevices", cloud.url());

    // Graph's error body names both request ids; the headers carry them.
    let r = c.get(format!("{list}?$top=abc")).header("Authorization", &ops).header("client-request-id", "c-1").send().expect("bad top");
    let request_id = r.headers().get("request-id").map(|v| v.to_str().unwrap().to_owned()).expect("request-id");
    assert_eq!(r.headers().get("client-request-id").map(|v| v.to_str().unwrap()), Some("c-1"));
    let (s, e) = json(r);
    assert_eq!(s, 400);
    assert_eq!(
        (e["error"]["innerError"]["request-id"].as_str(), e["error"]["innerError"]["client-request-id"].as_str()),
        (Some(request_id.as_str()), Some("c-1")),
        "{e}"
    );
    // A filter that does not parse is Intune's 400 BadRequest (its message a JSON string).
    let (s, e) = json(c.get(format!("{list}?$filter=deviceName eq 'red")).header("Authorization", &ops).send().expect("bad filter"));
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("BadRequest")), "{e}");
    let inner: Value = serde_json::from_str(e["error"]["message"].as_str().unwrap()).expect("Intune's message is JSON");
    assert_eq!(inner["_version"], 3, "{inner}");
    let (s, _) = json(c.get(format!("{list}?$skiptoken=not-a-token")).header("Authorization", &ops).send().expect("bad token"));
    assert_eq!(s, 400);

    // Keyset paging: devices uploaded between pages neither repeat nor hide the others.
    let batch = |sync: &str, range: std::ops::Range<usize>| json!({ "hierarchyId": HIERARCHY, "syncId": sync, "sequence": 0, "kind": "delta", "final": true, "devices": range.map(|i| device(i * 2, &format!("PC-{i:03}"))).collect::<Vec<_>>() });
    assert_eq!(post_batch(&cloud, &site, batch("s1", 0..120)).0, 200);
    let first = json(c.get(format!("{list}?$top=50&$select=deviceName")).header("Authorization", &ops).send().expect("page")).1;
    assert_eq!(first["value"][0].as_object().map(|o| o.len()), Some(2), "$select keeps id and the selected property: {}", first["value"][0]);
    let odd: Vec<Value> = (0..120).map(|i| device(i * 2 + 1, &format!("NEW-{i:03}"))).collect();
    post_batch(&cloud, &site, json!({ "hierarchyId": HIERARCHY, "syncId": "s2", "sequence": 0, "kind": "delta", "final": true, "devices": odd }));
    let mut names: Vec<String> = first["value"].as_array().unwrap().iter().map(|d| d["deviceName"].as_str().unwrap().to_owned()).collect();
    let mut next = first["@odata.nextLink"].as_str().map(str::to_owned);
    while let Some(url) = next {
        assert!(url.contains("%24select=deviceName") || url.contains("$select=deviceName"), "{url}");
        let page = json(c.get(&url).header("Authorization", &ops).send().expect("page")).1;
        names.extend(page["value"].as_array().unwrap().iter().map(|d| d["deviceName"].as_str().unwrap().to_owned()));
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    let old: Vec<&String> = names.iter().filter(|n| n.starts_with("PC-")).collect();
    assert_eq!(old.len(), 120, "every device uploaded before the listing is listed once");
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "no device twice");

    // $batch: 401 without a token, unique ids, dependsOn, the batch's own version.
    let trigger = |id: &str, action: &str| {
        json!({ "id": id, "method": "POST", "url": format!("/deviceManagement/managedDevices/{}/triggerConfigurationManagerAction", server::managed_device_id(CONTOSO_TENANT, HIERARCHY, "GUID:00000000")),
        "headers": { "Content-Type": "application/json" }, "body": { "configurationManagerAction": { "action": action } } })
    };
    let batch_url = format!("{}/beta/$batch", cloud.url());
    assert_eq!(c.post(&batch_url).json(&json!({ "requests": [trigger("1", "appEvaluation")] })).send().expect("batch").status().as_u16(), 401);
    let (s, _) = json(
        c.post(&batch_url)
            .header("Authorization", &ops)
            .json(&json!({ "requests": [trigger("1", "appEvaluation"), trigger("1", "appEvaluation")] }))
            .send()
            .expect("batch"),
    );
    assert_eq!(s, 400, "duplicate step ids");
    let mut dependent = trigger("2", "refreshMachinePolicy");
    dependent["dependsOn"] = json!(["1"]);
    let (s, answer) =
        json(c.post(&batch_url).header("Authorization", &ops).json(&json!({ "requests": [trigger("1", "wakeUpClient"), dependent] })).send().expect("batch"));
    assert_eq!(s, 200);
    let mut statuses: Vec<(String, u64)> =
        answer["responses"].as_array().unwrap().iter().map(|r| (r["id"].as_str().unwrap().to_owned(), r["status"].as_u64().unwrap())).collect();
    statuses.sort();
    assert_eq!(statuses, [("1".to_owned(), 400), ("2".to_owned(), 424)], "{answer}");
    assert!(cloud.notifications().is_empty(), "a failed dependency runs nothing");
    let admin = user_bearer(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", GRAPH);
    let (_, v1) = json(
        c.post(format!("{}/v1.0/$batch", cloud.url()))
            .header("Authorization", &admin)
            .json(&json!({ "requests": [{ "id": "me", "method": "GET", "url": "/me" }] }))
            .send()
            .expect("batch"),
    );
    let body = &v1["responses"][0]["body"];
    assert!(body["@odata.context"].as_str().unwrap().contains("/v1.0/") && body["userPrincipalName"] == "admin@contoso.onmicrosoft.com", "{v1}");
}

#[test]
fn the_admin_page_pages_and_searches() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    let devices: Vec<Value> = (0..150).map(|i| device(i, &format!("{}-{i:03}", if i < 10 { "LAB" } else { "PC" }))).collect();
    post_batch(&cloud, &site, json!({ "hierarchyId": HIERARCHY, "syncId": "s", "sequence": 0, "kind": "full", "final": true, "devices": devices }));
    let rows = |html: &str| html.matches("<td>ConfigMgr</td>").count();
    let first = c.get(format!("{}/?tenant={CONTOSO_DOMAIN}", cloud.url())).send().expect("page").text().expect("html");
    assert_eq!(rows(&first), 100);
    let next = first.split("id=\"next\" href=\"").nth(1).and_then(|s| s.split('"').next()).expect("a next page link").replace("&amp;", "&");
    let second = c.get(format!("{}{next}", cloud.url())).send().expect("page").text().expect("html");
    assert!(rows(&second) == 50 && !second.contains("id=\"next\""), "{second}");
    let search = c.get(format!("{}/?search=LAB", cloud.url())).send().expect("page").text().expect("html");
    assert_eq!(rows(&search), 10);
    // Another tenant's page shows none of Contoso's devices.
    let fabrikam = c.get(format!("{}/?tenant={FABRIKAM_DOMAIN}", cloud.url())).send().expect("page").text().expect("html");
    assert_eq!(rows(&fabrikam), 0);
}

#[test]
fn fault_rules_combine_and_reset_leaves_requests_unapplied() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    let body = json!({ "hierarchyId": HIERARCHY, "syncId": "s", "sequence": 0, "kind": "delta", "final": true, "devices": [device(1, "a")] });
    let post = || c.post(format!("{}/api/gateway/DevicePost", cloud.url())).header("Authorization", &site).json(&body).send().and_then(|r| r.text());

    // reset: the upload is not applied; drop: it is applied, the answer is lost.
    cloud.set_faults(Faults { mode: Some("reset".into()), rate: 1.0, path_prefix: Some("/api/gateway/DevicePost".into()), ..Faults::default() });
    assert!(post().is_err());
    assert!(cloud.device_ids(HIERARCHY).is_empty(), "a reset request is never handled");
    cloud.set_faults(Faults { mode: Some("drop".into()), rate: 1.0, path_prefix: Some("/api/gateway/DevicePost".into()), ..Faults::default() });
    assert!(post().is_err());
    assert_eq!(cloud.device_ids(HIERARCHY).len(), 1, "a dropped answer's request was applied");

    // Several rules through the admin API, first match wins; bad rules are refused.
    let admin = format!("{}/_admin/faults", cloud.url());
    let rules = json!({ "rules": [
        { "mode": "throttle", "rate": 1.0, "pathPrefix": "/beta", "retryAfterSeconds": 3 },
        { "mode": "error", "rate": 1.0, "pathPrefix": "/api/gateway", "status": 500 } ] });
    assert_eq!(c.post(&admin).json(&rules).send().expect("set").status().as_u16(), 204);
    assert_eq!(json(c.get(&admin).send().expect("get")).1["rules"].as_array().map(Vec::len), Some(2));
    let graph = c.get(format!("{}/beta/deviceManagement/managedDevices", cloud.url())).send().expect("graph");
    assert_eq!((graph.status().as_u16(), graph.headers().get("retry-after").and_then(|v| v.to_str().ok())), (429, Some("3")));
    assert_eq!(c.get(format!("{}/api/gateway/Notification", cloud.url())).send().expect("gw").status().as_u16(), 500);
    assert_eq!(c.get(format!("{}/{CONTOSO_TENANT}/discovery/v2.0/keys", cloud.url())).send().expect("jwks").status().as_u16(), 200, "other paths untouched");
    for bad in [json!({ "mode": "explode", "rate": 1.0 }), json!({ "mode": "error", "rate": 2.0 }), json!({ "mode": "error", "rate": 1.0, "status": 200 })] {
        assert_eq!(c.post(&admin).json(&bad).send().expect("set").status().as_u16(), 400, "{bad}");
    }
    assert_eq!(c.post(&admin).json(&json!({ "mode": null })).send().expect("off").status().as_u16(), 204);
    assert_eq!(c.get(format!("{}/api/gateway/Notification", cloud.url())).send().expect("gw").status().as_u16(), 401, "faults are off");
    let counters = json(c.get(format!("{}/_admin/counters", cloud.url())).send().expect("counters")).1;
    assert_eq!(
        (counters["reset"].as_u64(), counters["dropped"].as_u64(), counters["throttled"].as_u64(), counters["errors"].as_u64()),
        (Some(1), Some(1), Some(1), Some(1)),
        "{counters}"
    );
}

#[test]
fn the_generated_certificate_passes_strict_verification() {
    let cloud = TestCloud::start().expect("starts");
    let server_pem = cloud.data_dir().join("server.pem");
    // OpenSSL's X509_STRICT is what Python 3.13's default TLS context applies (MSAL's requests).
    match std::process::Command::new("openssl").arg("verify").arg("-x509_strict").arg("-CAfile").arg(cloud.ca_file()).arg(&server_pem).output() {
        Ok(out) => assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        Err(e) => eprintln!("openssl is not installed ({e}); strict verification not checked here"),
    }
    // And a client that knows only the CA file connects.
    assert_eq!(client(&cloud).get(format!("{}/common/discovery/instance", cloud.url())).send().expect("TLS").status().as_u16(), 200);
}

#[test]
fn uploads_appear_after_the_ingestion_delay_and_unfinished_actions_come_back() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    let ops = bearer(&app_token(&cloud, CONTOSO_TENANT, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH));
    let count = || {
        json(c.get(format!("{}/beta/deviceManagement/managedDevices", cloud.url())).header("Authorization", &ops).send().expect("list")).1["value"]
            .as_array()
            .map(Vec::len)
    };

    assert_eq!(c.post(format!("{}/_admin/ingestion-delay", cloud.url())).json(&json!({ "ms": 800 })).send().expect("delay").status().as_u16(), 204);
    let uploaded = std::time::Instant::now();
    post_batch(
        &cloud,
        &site,
        json!({ "hierarchyId": HIERARCHY, "syncId": "s", "sequence": 0, "kind": "full", "final": true, "devices": [device(1, "late"), device(2, "later")] }),
    );
    if uploaded.elapsed().as_millis() < 700 {
        assert_eq!(count(), Some(0), "not in Graph before the delay");
    }
    std::thread::sleep(std::time::Duration::from_millis(900));
    assert_eq!(count(), Some(2), "in Graph after the delay");
    cloud.set_ingestion_delay_ms(0);

    // Two actions, oldest first; one completed, the other's lease runs out and it comes back.
    let helpdesk = user_bearer(&cloud, CONTOSO_TENANT, "helpdesk@contoso.onmicrosoft.com", GRAPH);
    for (sms, action) in [("GUID:00000001", "refreshMachinePolicy"), ("GUID:00000002", "refreshUserPolicy")] {
        let id = server::managed_device_id(CONTOSO_TENANT, HIERARCHY, sms);
        let r = c
            .post(format!("{}/beta/deviceManagement/managedDevices/{id}/triggerConfigurationManagerAction", cloud.url()))
            .header("Authorization", &helpdesk)
            .json(&json!({ "configurationManagerAction": { "action": action } }))
            .send()
            .expect("trigger");
        assert_eq!(r.status().as_u16(), 204);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let poll = |lease: u64| {
        json(
            c.get(format!("{}/api/gateway/Notification?hierarchyId={HIERARCHY}&timeoutSeconds=1&leaseSeconds={lease}", cloud.url()))
                .header("Authorization", &site)
                .send()
                .expect("poll"),
        )
        .1
    };
    let first = poll(1);
    let actions: Vec<&str> = first["notifications"].as_array().unwrap().iter().map(|n| n["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["refreshMachinePolicy", "refreshUserPolicy"], "{first}");
    let done = json!({ "hierarchyId": HIERARCHY, "notificationId": first["notifications"][0]["notificationId"], "status": "failed", "reason": "Unauthorized to perform client action" });
    assert_eq!(
        c.post(format!("{}/api/gateway/NotificationResult", cloud.url())).header("Authorization", &site).json(&done).send().expect("result").status().as_u16(),
        200
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = poll(300);
    assert_eq!(again["notifications"].as_array().map(Vec::len), Some(1), "{again}");
    assert_eq!((again["notifications"][0]["action"].as_str(), again["notifications"][0]["deliveryCount"].as_u64()), (Some("refreshUserPolicy"), Some(2)));
    assert_eq!(poll(300)["notifications"].as_array().map(Vec::len), Some(0), "leased again: not handed out twice");
    let id = server::managed_device_id(CONTOSO_TENANT, HIERARCHY, "GUID:00000001");
    let shown = json(c.get(format!("{}/beta/deviceManagement/managedDevices/{id}", cloud.url())).header("Authorization", &ops).send().expect("get")).1;
    assert_eq!(
        (shown["deviceActionResults"][0]["actionState"].as_str(), shown["deviceActionResults"][0]["errorMessage"].as_str()),
        (Some("failed"), Some("Unauthorized to perform client action"))
    );
}

#[test]
fn bodies_axum_cannot_read_still_get_the_services_error_shape() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let ops = bearer(&app_token(&cloud, CONTOSO_TENANT, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH));
    let (s, e) = json(
        c.post(format!("{}/v1.0/$batch", cloud.url()))
            .header("Authorization", &ops)
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .expect("batch"),
    );
    assert!(s == 400 && e["error"]["code"] == "BadRequest" && e["error"]["innerError"]["request-id"].is_string(), "{e}");
    let (s, e) = json(c.get(format!("{}/v1.0/nothingHere", cloud.url())).header("Authorization", &ops).send().expect("unknown"));
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("ResourceNotFound")), "{e}");
    let (s, e) = json(c.delete(format!("{}/api/gateway/DevicePost", cloud.url())).send().expect("method"));
    assert_eq!((s, e["error"]["code"].as_str()), (405, Some("MethodNotAllowed")), "{e}");
    let (s, e) = json(
        c.post(format!("{}/{CONTOSO_TENANT}/oauth2/v2.0/token", cloud.url())).header("Content-Type", "application/json").body("{}").send().expect("token"),
    );
    assert!(s == 415 && e["error"] == "invalid_request" && e["error_description"].as_str().unwrap().starts_with("AADSTS9002313:"), "{e}");
}

#[test]
fn applications_are_found_by_identifier_uri_or_app_id_and_other_filters_are_refused() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let (app_id, _) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let graph = user_bearer(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", GRAPH);
    let list = |filter: &str| {
        let mut url = reqwest::Url::parse(&format!("{}/v1.0/applications", cloud.url())).unwrap();
        url.query_pairs_mut().append_pair("$filter", filter);
        json(c.get(url).header("Authorization", &graph).send().expect("list applications"))
    };
    let uri = format!("api://{CONTOSO_TENANT}/ConfigMgrService-{HIERARCHY}");
    let ids = |v: &Value| v["value"].as_array().unwrap().iter().map(|a| a["appId"].as_str().unwrap().to_owned()).collect::<Vec<_>>();

    let (s, found) = list(&format!("identifierUris/any(x:x eq '{uri}')"));
    assert_eq!((s, ids(&found)), (200, vec![app_id.clone()]), "{found}");
    let (s, found) = list(&format!("identifierUris/any(u: u eq '{}')", uri.to_uppercase()));
    assert_eq!((s, ids(&found)), (200, vec![app_id.clone()]), "identifier URIs compare without case: {found}");
    let (s, found) = list(&format!("appId eq '{app_id}'"));
    assert_eq!((s, ids(&found)), (200, vec![app_id.clone()]), "{found}");
    let (s, none) = list("identifierUris/any(x:x eq 'api://nobody/O''Brien')");
    assert_eq!((s, ids(&none).len()), (200, 0), "{none}");
    let (s, e) = list("displayName eq 'x'");
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("Request_UnsupportedQuery")), "{e}");
}

#[test]
fn microsofts_timings_are_the_default_and_a_setting_shortens_them() {
    // Started as `Cloud::start(CloudOptions::new(dir))` (and the binary without flags): Azure AD's
    // 5-second device code interval and a 5-minute ingestion delay.
    let dir = std::env::temp_dir().join(format!("ta-cloud-defaults-{}", std::process::id()));
    let cloud = Cloud::start(CloudOptions::new(&dir)).expect("starts");
    let c = client(&cloud);
    let interval = || {
        json(
            c.post(format!("{}/organizations/oauth2/v2.0/devicecode", cloud.url()))
                .form(&[("client_id", GRAPH_POWERSHELL_CLIENT), ("scope", "https://graph.microsoft.com/.default offline_access")])
                .send()
                .expect("devicecode"),
        )
        .1["interval"]
            .clone()
    };
    assert_eq!(interval(), json!(5));
    let (s, settings) = json(c.get(format!("{}/_admin/settings", cloud.url())).send().expect("settings"));
    assert_eq!((s, settings), (200, json!({ "deviceCodeIntervalSeconds": 5, "ingestionDelayMs": 300_000 })));

    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    let ops = bearer(&app_token(&cloud, CONTOSO_TENANT, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH));
    let count = || {
        json(c.get(format!("{}/beta/deviceManagement/managedDevices", cloud.url())).header("Authorization", &ops).send().expect("list")).1["value"]
            .as_array()
            .map(Vec::len)
    };
    let batch = |seq: u64, sms: usize| json!({ "hierarchyId": HIERARCHY, "syncId": "s", "sequence": seq, "kind": "delta", "final": true, "devices": [device(sms, "PC")] });
    assert_eq!(post_batch(&cloud, &site, batch(0, 1)).0, 200);
    assert_eq!(count(), Some(0), "not in Graph for five minutes");

    // The setting: interval 1 s, no delay, for what is uploaded from now on.
    let (s, now) =
        json(c.post(format!("{}/_admin/settings", cloud.url())).json(&json!({ "deviceCodeIntervalSeconds": 1, "ingestionDelayMs": 0 })).send().expect("set"));
    assert_eq!((s, now), (200, json!({ "deviceCodeIntervalSeconds": 1, "ingestionDelayMs": 0 })));
    assert_eq!(interval(), json!(1));
    assert_eq!(post_batch(&cloud, &site, batch(1, 2)).0, 200);
    assert_eq!(count(), Some(1), "the device uploaded without a delay is visible at once, the earlier one still waits");
    for bad in [json!({ "deviceCodeIntervalSeconds": 0 }), json!({ "ingestionDelayMs": -1 }), json!({ "interval": 1 }), json!([1])] {
        assert_eq!(c.post(format!("{}/_admin/settings", cloud.url())).json(&bad).send().expect("bad").status().as_u16(), 400, "{bad}");
    }
    drop(cloud);
    let _ = std::fs::remove_dir_all(&dir);
}

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("claims")
}

#[test]
fn graph_access_tokens_are_v1_and_the_device_code_flow_is_azure_ads() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    // Client credentials: a v1.0 token (ver, sts.windows.net issuer, appid; no v2.0 azp).
    let app = app_token(&cloud, CONTOSO_DOMAIN, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH);
    let claims = claims_of(app.1["access_token"].as_str().expect("token"));
    assert_eq!(
        (&claims["ver"], &claims["iss"], &claims["appid"], &claims["appidacr"], &claims["idtyp"], &claims["aud"]),
        (
            &json!("1.0"),
            &json!(format!("https://sts.windows.net/{CONTOSO_TENANT}/")),
            &json!(CONTOSO_AUTOMATION_APP),
            &json!("1"),
            &json!("app"),
            &json!("https://graph.microsoft.com")
        ),
        "{claims}"
    );
    assert!(claims.get("azp").is_none() && claims.get("azpacr").is_none(), "{claims}");

    let token_url = format!("{}/organizations/oauth2/v2.0/token", cloud.url());
    let start = |scope: &str| {
        json(
            c.post(format!("{}/organizations/oauth2/v2.0/devicecode", cloud.url()))
                .form(&[("client_id", GRAPH_POWERSHELL_CLIENT), ("scope", scope)])
                .send()
                .expect("start"),
        )
        .1
    };
    let poll = |grant: &str, code: &str| {
        json(c.post(&token_url).form(&[("grant_type", grant), ("client_id", GRAPH_POWERSHELL_CLIENT), ("device_code", code)]).send().expect("poll"))
    };
    let urn = "urn:ietf:params:oauth:grant-type:device_code";
    // Without offline_access: tokens but no refresh token.
    let code = start("https://graph.microsoft.com/.default openid profile");
    assert_eq!((code["interval"].as_u64(), code["expires_in"].as_u64()), (Some(1), Some(900)), "TestCloud's interval, Azure AD's lifetime");
    cloud.approve_device_code(code["user_code"].as_str().unwrap(), "helpdesk@contoso.onmicrosoft.com").expect("approve");
    // Any other grant type than the device code's is refused; `device_code` (what MSAL.NET sends)
    // works as well as the documented URN (tests/interop runs MSAL.NET's device code flow).
    let (s, other) = poll("urn:ietf:params:oauth:grant-type:device-code", code["device_code"].as_str().unwrap());
    assert_eq!((s, other["error"].as_str(), aadsts(&other).as_str()), (400, Some("unsupported_grant_type"), "AADSTS70003"), "{other}");
    let (s, tokens) = poll("device_code", code["device_code"].as_str().unwrap());
    assert_eq!(s, 200, "{tokens}");
    assert!(tokens.get("refresh_token").is_none(), "no offline_access, no refresh token: {tokens}");
    assert!(!tokens["scope"].as_str().unwrap().contains("offline_access"), "{tokens}");
    let user = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        (&user["ver"], &user["iss"], &user["appid"], &user["appidacr"], &user["idtyp"], &user["upn"]),
        (
            &json!("1.0"),
            &json!(format!("https://sts.windows.net/{CONTOSO_TENANT}/")),
            &json!(GRAPH_POWERSHELL_CLIENT),
            &json!("0"),
            &json!("user"),
            &json!("helpdesk@contoso.onmicrosoft.com")
        ),
        "{user}"
    );
    assert!(user.get("azp").is_none(), "{user}");
    assert_eq!(claims_of(tokens["id_token"].as_str().unwrap())["ver"], "2.0", "id tokens stay v2.0");
    // Redeemed, the code is not recognised any more; nor is one never issued.
    for code in [code["device_code"].as_str().unwrap(), "DAQABAAEAAAD.never-issued"] {
        let (s, gone) = poll(urn, code);
        assert_eq!((s, gone["error"].as_str(), aadsts(&gone).as_str()), (400, Some("bad_verification_code"), "AADSTS70018"), "{gone}");
    }
    // With offline_access: a refresh token.
    let code = start("https://graph.microsoft.com/.default offline_access");
    cloud.approve_device_code(code["user_code"].as_str().unwrap(), "helpdesk@contoso.onmicrosoft.com").expect("approve");
    let (_, tokens) = poll(urn, code["device_code"].as_str().unwrap());
    assert!(tokens["refresh_token"].is_string() && tokens["scope"].as_str().unwrap().contains("offline_access"), "{tokens}");
}

#[test]
fn azure_ad_errors_carry_trace_and_correlation_ids_on_their_own_lines() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let correlation = "0c0ffee0-1234-4abc-8def-000000000042";
    let r = c
        .post(format!("{}/{CONTOSO_TENANT}/oauth2/v2.0/token", cloud.url()))
        .header("client-request-id", correlation)
        .form(&[("grant_type", "client_credentials"), ("client_id", CONTOSO_AUTOMATION_APP), ("client_secret", "wrong"), ("scope", GRAPH)])
        .send()
        .expect("token");
    let request_id = r.headers().get("x-ms-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned).expect("x-ms-request-id");
    let (s, e) = json(r);
    assert_eq!((s, e["error"].as_str(), &e["error_codes"]), (401, Some("invalid_client"), &json!([7000215])));
    let description = e["error_description"].as_str().unwrap();
    let lines: Vec<&str> = description.split("\r\n").collect();
    assert_eq!(lines.len(), 4, "{description:?}");
    assert!(lines[0].starts_with("AADSTS7000215: "));
    assert_eq!(lines[1], format!("Trace ID: {request_id}"));
    assert_eq!(lines[2], format!("Correlation ID: {correlation}"));
    assert!(lines[3].starts_with("Timestamp: "));
    assert_eq!((e["trace_id"].as_str(), e["correlation_id"].as_str()), (Some(request_id.as_str()), Some(correlation)));
    // Without a client-request-id, the correlation id is still another id than the trace id.
    let (_, e) = app_token(&cloud, CONTOSO_TENANT, CONTOSO_AUTOMATION_APP, "wrong", GRAPH);
    assert_ne!(e["trace_id"], e["correlation_id"], "{e}");
}

/// Intune's error: its code, and in `message` a JSON string with `_version` 3 and `Message`.
fn intune_error(answer: &(u16, Value)) -> (u16, String, Value) {
    let message = answer.1["error"]["message"].as_str().unwrap_or_else(|| panic!("no error message: {:?}", answer));
    let inner: Value = serde_json::from_str(message).unwrap_or_else(|e| panic!("the message is not Intune's JSON ({e}): {message}"));
    assert_eq!(inner["_version"], 3, "{inner}");
    assert!(inner["Message"].as_str().is_some_and(|m| m.contains(" - Operation ID (for customer support): ")), "{inner}");
    (answer.0, answer.1["error"]["code"].as_str().unwrap_or_default().to_owned(), inner)
}

#[test]
fn device_endpoints_check_scopes_and_roles_as_intune_does() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    post_batch(&cloud, &site, json!({ "hierarchyId": HIERARCHY, "syncId": "s", "sequence": 0, "kind": "full", "final": true, "devices": [device(1, "PC-1")] }));
    let id = server::managed_device_id(CONTOSO_TENANT, HIERARCHY, "GUID:00000001");
    let list = format!("{}/beta/deviceManagement/managedDevices", cloud.url());
    let one = format!("{list}/{id}");
    let act = format!("{list}/{id}/triggerConfigurationManagerAction");
    let body = json!({ "configurationManagerAction": { "action": "refreshMachinePolicy" } });
    let get = |url: &str, auth: &str| json(c.get(url).header("Authorization", auth).send().expect("get"));
    let post = |url: &str, auth: &str, body: &Value| json(c.post(url).header("Authorization", auth).json(body).send().expect("post"));

    // A delegated token without an Intune scope: 403, even for a Global Administrator with every role.
    for (who, scope, client_id) in [
        ("User.Read asked for", "User.Read openid", GRAPH_POWERSHELL_CLIENT),
        ("Azure CLI's consent", "https://graph.microsoft.com/.default", AZURE_CLI_CLIENT),
    ] {
        let (s, code) = json(
            c.post(format!("{}/organizations/oauth2/v2.0/devicecode", cloud.url())).form(&[("client_id", client_id), ("scope", scope)]).send().expect("start"),
        );
        assert_eq!(s, 200, "{code}");
        cloud.approve_device_code(code["user_code"].as_str().unwrap(), "admin@contoso.onmicrosoft.com").expect("approve");
        let (_, tokens) = json(
            c.post(format!("{}/organizations/oauth2/v2.0/token", cloud.url()))
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", client_id),
                    ("device_code", code["device_code"].as_str().unwrap()),
                ])
                .send()
                .expect("token"),
        );
        let scp = claims_of(tokens["access_token"].as_str().unwrap())["scp"].as_str().unwrap().to_owned();
        assert!(!scp.contains("DeviceManagement"), "{who}: {scp}");
        let auth = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
        for answer in [get(&list, &auth), get(&one, &auth), post(&act, &auth, &body)] {
            let (s, code, inner) = intune_error(&answer);
            assert_eq!((s, code.as_str()), (403, "Forbidden"), "{who}: {inner}");
        }
    }
    // Microsoft Graph PowerShell's consent includes the Intune scopes: the same admin lists and acts.
    let admin = user_bearer(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", GRAPH);
    assert_eq!(get(&list, &admin).0, 200);
    assert_eq!(c.post(&act).header("Authorization", &admin).json(&body).send().expect("act").status().as_u16(), 204);
    // A user with the scopes but without the Intune role permission: 403 naming the permission.
    let reader = user_bearer(&cloud, CONTOSO_TENANT, "reader@contoso.onmicrosoft.com", GRAPH);
    assert_eq!(get(&list, &reader).0, 200);
    let (s, code, inner) = intune_error(&post(&act, &reader, &body));
    assert!(s == 403 && code == "Forbidden" && inner["Message"].as_str().unwrap().contains("Initiate Configuration Manager action"), "{inner}");

    // Apps: PrivilegedOperations.All alone triggers but cannot list or read; Read.All alone lists, cannot trigger.
    let seed = serde_json::from_value(json!({ "apps": [
        { "appId": "e0000000-0000-4000-8000-0000000000a1", "tenantId": CONTOSO_TENANT, "displayName": "Actions only", "secret": "s-a1",
          "grantedRoles": ["DeviceManagementManagedDevices.PrivilegedOperations.All"] },
        { "appId": "e0000000-0000-4000-8000-0000000000a2", "tenantId": CONTOSO_TENANT, "displayName": "Read only", "secret": "s-a2",
          "grantedRoles": ["DeviceManagementManagedDevices.Read.All"] } ] }))
    .expect("seed");
    cloud.seed(seed).expect("seeded");
    let actions_only = bearer(&app_token(&cloud, CONTOSO_TENANT, "e0000000-0000-4000-8000-0000000000a1", "s-a1", GRAPH));
    for answer in [get(&list, &actions_only), get(&one, &actions_only)] {
        let (s, code, inner) = intune_error(&answer);
        assert!(s == 403 && code == "Forbidden" && inner["Message"].as_str().unwrap().contains("DeviceManagementManagedDevices.Read.All"), "{inner}");
    }
    assert_eq!(c.post(&act).header("Authorization", &actions_only).json(&body).send().expect("act").status().as_u16(), 204);
    let read_only = bearer(&app_token(&cloud, CONTOSO_TENANT, "e0000000-0000-4000-8000-0000000000a2", "s-a2", GRAPH));
    assert_eq!(get(&list, &read_only).0, 200);
    let (s, code, _) = intune_error(&post(&act, &read_only, &body));
    assert_eq!((s, code.as_str()), (403, "Forbidden"));

    // Intune's codes for what is not found or not valid.
    let missing = format!("{list}/00000000-0000-0000-0000-000000000000");
    assert_eq!(intune_error(&get(&missing, &admin)).1, "ResourceNotFound");
    assert_eq!(intune_error(&post(&format!("{missing}/triggerConfigurationManagerAction"), &admin, &body)).1, "ResourceNotFound");
    let (s, code, _) = intune_error(&post(&act, &admin, &json!({ "configurationManagerAction": { "action": "quickScan" } })));
    assert_eq!((s, code.as_str()), (400, "BadRequest"));
    assert_eq!(cloud.counters()["actionsQueued"], 2);
}

#[test]
fn filters_are_applied_as_intune_applies_them() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    let ops = bearer(&app_token(&cloud, CONTOSO_TENANT, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH));
    let devices: Vec<Value> = (0..1001).map(|i| device(i, &format!("{}-{i:04}", if i < 3 { "KIOSK" } else { "PC" }))).collect();
    assert_eq!(
        post_batch(&cloud, &site, json!({ "hierarchyId": HIERARCHY, "syncId": "s", "sequence": 0, "kind": "full", "final": true, "devices": devices })).0,
        200
    );
    let names = |filter: &str| -> Vec<String> {
        let mut url = url::Url::parse(&format!("{}/beta/deviceManagement/managedDevices", cloud.url())).unwrap();
        url.query_pairs_mut().append_pair("$filter", filter).append_pair("$top", "1000");
        let (s, page) = json(c.get(url.as_str()).header("Authorization", &ops).send().expect("list"));
        assert_eq!(s, 200, "{filter}: {page}");
        page["value"].as_array().unwrap().iter().map(|d| d["deviceName"].as_str().unwrap().to_owned()).collect()
    };
    // Supported: eq, startsWith/startswith and contains, and; every name compared ignoring case.
    assert_eq!(names("deviceName eq 'kiosk-0001'"), ["KIOSK-0001"]);
    assert_eq!(names("startsWith(deviceName,'KIOSK')").len(), 3);
    assert_eq!(names("contains(deviceName, 'SK-000') and operatingSystem eq 'Windows'").len(), 3);
    // A property Intune does not filter on, or what it does not support: ignored, every device comes back.
    for ignored in [
        "userId eq 'a0000000-0000-4000-8000-000000000001'",
        "skuFamily eq 'Enterprise'",
        "not (deviceName eq 'KIOSK-0001')",
        "endswith(deviceName,'0001')",
        "startswith(deviceName,'KIOSK') and complianceState eq 'compliant'",
    ] {
        assert_eq!(names(ignored).len(), 1000, "{ignored}: a full page");
    }
    // As reported of Intune: `ne` applied as `eq`, and only the first part of an `or`.
    assert_eq!(names("deviceName ne 'KIOSK-0001'"), ["KIOSK-0001"]);
    assert_eq!(names("deviceName eq 'KIOSK-0001' or deviceName eq 'KIOSK-0002'"), ["KIOSK-0001"]);

    // Pages of 1000 without $top, each with @odata.count; links keep the version asked.
    for version in ["v1.0", "beta"] {
        let (_, first) = json(c.get(format!("{}/{version}/deviceManagement/managedDevices", cloud.url())).header("Authorization", &ops).send().expect("list"));
        assert_eq!((first["value"].as_array().map(Vec::len), first["@odata.count"].as_u64()), (Some(1000), Some(1000)));
        assert!(first["@odata.context"].as_str().unwrap().contains(&format!("/{version}/$metadata")), "{}", first["@odata.context"]);
        let next = first["@odata.nextLink"].as_str().expect("a next page");
        assert!(next.starts_with(&format!("{}/{version}/deviceManagement/managedDevices?", cloud.url())), "{next}");
        let (_, second) = json(c.get(next).header("Authorization", &ops).send().expect("next"));
        assert_eq!((second["value"].as_array().map(Vec::len), second["@odata.count"].as_u64(), second.get("@odata.nextLink")), (Some(1), Some(1), None));
    }
}

#[test]
fn batches_follow_graphs_rules_and_fault_rules_reach_their_steps() {
    let cloud = TestCloud::start().expect("starts");
    let c = client(&cloud);
    let (app_id, secret) = onboard(&cloud, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", HIERARCHY);
    let site = bearer(&app_token(&cloud, CONTOSO_TENANT, &app_id, &secret, GATEWAY));
    let ops = bearer(&app_token(&cloud, CONTOSO_TENANT, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, GRAPH));
    let devices: Vec<Value> = (0..20).map(|i| device(i, &format!("PC-{i:02}"))).collect();
    post_batch(&cloud, &site, json!({ "hierarchyId": HIERARCHY, "syncId": "s", "sequence": 0, "kind": "full", "final": true, "devices": devices }));
    let step = |id: &str, i: usize| {
        json!({ "id": id, "method": "POST", "url": format!("/deviceManagement/managedDevices/{}/triggerConfigurationManagerAction", server::managed_device_id(CONTOSO_TENANT, HIERARCHY, &format!("GUID:{i:08}"))),
            "headers": { "Content-Type": "application/json" }, "body": { "configurationManagerAction": { "action": "refreshMachinePolicy" } } })
    };
    let send = |requests: Vec<Value>| {
        json(c.post(format!("{}/beta/$batch", cloud.url())).header("Authorization", &ops).json(&json!({ "requests": requests })).send().expect("batch"))
    };
    let refused = |requests: Vec<Value>, why: &str| {
        let (s, e) = send(requests);
        assert_eq!((s, e["error"]["code"].as_str()), (400, Some("BadRequest")), "{why}: {e}");
        e["error"]["message"].as_str().unwrap_or_default().to_owned()
    };
    // Ids are unique without regard to case; dependsOn names an earlier step; a body needs its Content-Type.
    refused(vec![step("a", 0), step("A", 1)], "ids differing in case only");
    let mut unknown = step("2", 1);
    unknown["dependsOn"] = json!(["9"]);
    refused(vec![step("1", 0), unknown], "an unknown dependsOn");
    let mut untyped = step("1", 0);
    untyped["headers"] = json!({});
    assert_eq!(refused(vec![untyped], "a body without Content-Type"), "Write request id : 1 does not contain Content-Type header or body.");
    assert!(cloud.notifications().is_empty(), "a refused batch runs nothing");
    // dependsOn matches ids without regard to case.
    let mut dependent = step("second", 1);
    dependent["dependsOn"] = json!(["FIRST"]);
    let mut failing = step("first", 0);
    failing["body"]["configurationManagerAction"]["action"] = json!("quickScan");
    let (s, answer) = send(vec![failing, dependent]);
    assert_eq!(s, 200);
    let status_of = |answer: &Value, id: &str| answer["responses"].as_array().unwrap().iter().find(|r| r["id"] == id).map(|r| r["status"].as_u64().unwrap());
    assert_eq!((status_of(&answer, "first"), status_of(&answer, "second")), (Some(400), Some(424)), "{answer}");

    // Answers in no particular order (20 steps in request order every time would be a 1 in 20! chance).
    let in_order = (0..5).all(|_| {
        let (_, a) = send((0..20).map(|i| json!({ "id": i.to_string(), "method": "GET", "url": format!("/deviceManagement/managedDevices/{}", server::managed_device_id(CONTOSO_TENANT, HIERARCHY, &format!("GUID:{i:08}"))) })).collect());
        let ids: Vec<String> = a["responses"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(ids.len(), 20);
        ids == (0..20).map(|i| i.to_string()).collect::<Vec<_>>()
    });
    assert!(!in_order, "responses come in any order");
    // Step headers carry Graph's capitalised names.
    let (_, a) = send(vec![json!({ "id": "1", "method": "GET", "url": "/deviceManagement/managedDevices?$top=1" })]);
    assert!(a["responses"][0]["headers"]["Content-Type"].as_str().is_some_and(|t| t.starts_with("application/json")), "{a}");

    // A step rule: the first 3 steps throttled with a decimal Retry-After, the batch itself 424.
    let (s, _) = json(
        c.post(format!("{}/_admin/faults", cloud.url()))
            .json(&json!({ "mode": "throttle", "rate": 1.0, "target": "batchStep", "pathPrefix": "/beta/deviceManagement", "retryAfterSeconds": 0.5, "batchStatus": 424, "limit": 3 }))
            .send()
            .expect("faults"),
    );
    assert_eq!(s, 204);
    let before = cloud.counters();
    let (s, answer) = send((0..5).map(|i| step(&i.to_string(), i)).collect());
    assert_eq!(s, 424, "{answer}");
    let throttled: Vec<&Value> = answer["responses"].as_array().unwrap().iter().filter(|r| r["status"] == 429).collect();
    assert_eq!(throttled.len(), 3, "{answer}");
    assert!(throttled.iter().all(|r| r["headers"]["Retry-After"] == "0.5" && r["body"]["error"]["code"] == "TooManyRequests"), "{answer}");
    let after = cloud.counters();
    assert_eq!(after["stepsThrottled"].as_u64().unwrap() - before["stepsThrottled"].as_u64().unwrap(), 3);
    assert_eq!(after["actionsQueued"].as_u64().unwrap() - before["actionsQueued"].as_u64().unwrap(), 2, "throttled steps are not run");
    // Spent: the next batch answers 200.
    assert_eq!(send(vec![step("1", 10)]).0, 200);
    // Step rules take throttle and error only; a request rule has no batchStatus.
    for bad in [
        json!({ "mode": "drop", "rate": 1.0, "target": "batchStep" }),
        json!({ "mode": "throttle", "rate": 1.0, "batchStatus": 424 }),
        json!({ "mode": "throttle", "rate": 1.0, "target": "steps" }),
    ] {
        assert_eq!(c.post(format!("{}/_admin/faults", cloud.url())).json(&bad).send().expect("faults").status().as_u16(), 400, "{bad}");
    }
}
