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

    // A code polled by another client than the one it was issued to.
    let code = start();
    cloud.approve_device_code(code["user_code"].as_str().unwrap(), "helpdesk@contoso.onmicrosoft.com").expect("approve");
    let (_, other) = poll(&code, AZURE_CLI_CLIENT);
    assert_eq!((other["error"].as_str(), aadsts(&other).as_str()), (Some("invalid_grant"), "AADSTS70000"), "{other}");
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
    let (s, e) = json(c.get(format!("{list}?$filter=color eq 'red'")).header("Authorization", &ops).send().expect("bad filter"));
    assert!(s == 400 && e["error"]["message"].as_str().unwrap().contains("'color'"), "{e}");
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
    let statuses: Vec<(String, u64)> =
        answer["responses"].as_array().unwrap().iter().map(|r| (r["id"].as_str().unwrap().to_owned(), r["status"].as_u64().unwrap())).collect();
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
