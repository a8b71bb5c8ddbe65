//! The admin center page (plain server-rendered HTML) and the test control API under `/_admin`.
//!
//! The page has no sign-in: it acts as the user named by `?user=` (a UPN or id, default the
//! tenant's first Global Administrator) in the tenant named by `?tenant=` (id or domain, default
//! Contoso), with that user's permissions checked as Graph checks them. The server listens on
//! loopback only; `/_admin` is for tests and demos.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
// Escapes &, <, >, " and ': safe in text and in quoted attributes alike.
use html_escape::encode_quoted_attribute as esc;
use serde_json::{json, Value};

use crate::devices::{Cursor, Filter, Uploaded};
use crate::model::User;
use crate::seed::{Seed, CONTOSO_TENANT, GLOBAL_ADMINISTRATOR, INITIATE_CONFIGMGR_ACTION};
use crate::server::{AppState, Faults};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(device_list))
        .route("/devices/{id}", get(device_page))
        .route("/devices/{id}/action", post(device_action))
        .route("/devicelogin", get(device_login_page).post(device_login))
        .route("/_admin/seed", post(seed))
        .route("/_admin/devicecode", post(devicecode))
        .route("/_admin/faults", get(get_faults).post(set_faults))
        .route("/_admin/counters", get(counters))
        .route("/_admin/ingestion-delay", post(ingestion_delay))
        .route("/_admin/settings", get(get_settings).post(set_settings))
        .route("/_admin/discovered-users", get(discovered_users))
        .route("/_admin/notifications", get(list_notifications))
        .route("/_admin/auto-approve", post(auto_approve))
        .route("/_admin/certificates", post(new_certificate))
        .route("/_admin/removals", get(list_removals))
        .route("/_admin/removals/restore", post(restore_removal))
}

/// A test certificate made now (RSA 2048, self-signed): `{"subject", "password", "validDays"
/// (default 365; negative: expired that many days ago), "appId" (register it on that app)}` →
/// `{"certificatePem", "privateKeyPem", "pfxBase64", "thumbprint", "notAfter"}`.
async fn new_certificate(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    let bad = |e: String| (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response();
    let subject = body["subject"].as_str().unwrap_or("CN=tenant-attach test certificate").trim_start_matches("CN=").to_owned();
    let password = body["password"].as_str().unwrap_or("").to_owned();
    let days = body["validDays"].as_i64().unwrap_or(365);
    let now = chrono::Utc::now().timestamp();
    let (not_before, not_after) = if days < 0 { (now + (days - 30) * 86_400, now + days * 86_400) } else { (now - 3600, now + days.max(1) * 86_400) };
    let generated = match tokio::task::spawn_blocking(move || crate::certificates::generate(&subject, not_before, not_after, &password)).await {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => return bad(e),
        Err(e) => return bad(e.to_string()),
    };
    if let Some(app_id) = body["appId"].as_str() {
        let credential = match crate::certificates::key_credential(&generated.der, "test certificate", None, None) {
            Ok(k) => k,
            Err(e) => return bad(e),
        };
        let mut inner = state.lock();
        let Some(mut app) = inner.data.apps.get(app_id).cloned() else { return bad(format!("no app {app_id}")) };
        app.key_credentials.push(credential);
        if let Err(r) = inner.mutate(json!({ "op": "putApp", "app": app })) {
            return r;
        }
    }
    use base64::Engine;
    Json(json!({
        "certificatePem": generated.cert_pem, "privateKeyPem": generated.key_pem,
        "pfxBase64": base64::engine::general_purpose::STANDARD.encode(&generated.pfx), "thumbprint": generated.thumbprint,
        "notAfter": chrono::DateTime::from_timestamp(not_after, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }))
    .into_response()
}

/// Stores seed objects (secrets hashed before they reach the journal).
pub fn apply_seed(state: &AppState, seed: Seed) -> Result<(), Response> {
    if let Err(e) = seed.check() {
        return Err((StatusCode::BAD_REQUEST, Json(json!({ "error": format!("bad seed: {e}") }))).into_response());
    }
    let mut data = crate::model::Data::default();
    seed.apply(&mut data);
    let mut inner = state.lock();
    for t in data.tenants.into_values() {
        inner.mutate(json!({ "op": "putTenant", "tenant": t }))?;
    }
    for u in data.users.into_values() {
        inner.mutate(json!({ "op": "putUser", "user": u }))?;
    }
    for a in data.apps.into_values() {
        inner.mutate(json!({ "op": "putApp", "app": a }))?;
    }
    Ok(())
}

async fn seed(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    match serde_json::from_value::<Seed>(body) {
        Ok(seed) => match apply_seed(&state, seed) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(r) => r,
        },
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": format!("bad seed: {e}") }))).into_response(),
    }
}

async fn devicecode(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    let code = body["userCode"].as_str().unwrap_or_default();
    let user = body["user"].as_str();
    let decline = body["decline"].as_bool().unwrap_or(false);
    let result = if body["expire"].as_bool().unwrap_or(false) {
        crate::aad::expire_device_code(&state, code)
    } else {
        crate::aad::decide_device_code(&state, code, user, decline)
    };
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn get_faults(State(state): State<AppState>) -> Response {
    Json(json!({ "rules": state.lock().faults.clone() })).into_response()
}

/// One rule (`{"mode":"throttle","rate":0.5,...}`) or several (`{"rules":[...]}`), replacing the
/// rules in force; `{"mode":null}` or `{"rules":[]}` switches faults off.
async fn set_faults(State(state): State<AppState>, Json(mut body): Json<Value>) -> Response {
    let rules = match body.get_mut("rules").map(Value::take) {
        Some(list) => serde_json::from_value::<Vec<Faults>>(list),
        None => serde_json::from_value::<Faults>(body).map(|f| vec![f]),
    };
    let rules = match rules {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({ "error": format!("bad fault rule: {e}") }))).into_response(),
    };
    if let Some(e) = rules.iter().find_map(|r| r.check().err()) {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response();
    }
    state.lock().faults = rules.into_iter().filter(|r| r.mode.is_some()).collect();
    StatusCode::NO_CONTENT.into_response()
}

async fn counters(State(state): State<AppState>) -> Response {
    Json(state.counters.to_json()).into_response()
}

async fn ingestion_delay(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    let Some(ms) = body["ms"].as_u64() else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "`ms` must be a non-negative integer (milliseconds)" }))).into_response();
    };
    state.lock().ingestion_delay_ms = ms;
    StatusCode::NO_CONTENT.into_response()
}

fn settings_json(state: &AppState) -> Value {
    let inner = state.lock();
    json!({ "deviceCodeIntervalSeconds": inner.device_code_interval_seconds, "ingestionDelayMs": inner.ingestion_delay_ms })
}

async fn get_settings(State(state): State<AppState>) -> Response {
    Json(settings_json(&state)).into_response()
}

/// `{"deviceCodeIntervalSeconds":1,"ingestionDelayMs":0}` (either or both): the timings in force
/// from now on. Answers the settings in force.
async fn set_settings(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    let Value::Object(map) = &body else { return (StatusCode::BAD_REQUEST, Json(json!({ "error": "the settings must be a JSON object" }))).into_response() };
    let mut interval = None;
    let mut delay = None;
    for (key, value) in map {
        let Some(n) = value.as_u64() else {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": format!("`{key}` must be a non-negative integer") }))).into_response();
        };
        match key.as_str() {
            "deviceCodeIntervalSeconds" if (1..=60).contains(&n) => interval = Some(n),
            "deviceCodeIntervalSeconds" => {
                return (StatusCode::BAD_REQUEST, Json(json!({ "error": "`deviceCodeIntervalSeconds` must be 1 to 60" }))).into_response()
            }
            "ingestionDelayMs" => delay = Some(n),
            other => {
                let known = "deviceCodeIntervalSeconds, ingestionDelayMs";
                return (StatusCode::BAD_REQUEST, Json(json!({ "error": format!("unknown setting `{other}` (known: {known})") }))).into_response();
            }
        }
    }
    {
        let mut inner = state.lock();
        if let Some(i) = interval {
            inner.device_code_interval_seconds = i;
        }
        if let Some(d) = delay {
            inner.ingestion_delay_ms = d;
        }
    }
    Json(settings_json(&state)).into_response()
}

/// The users of a tenant with their discovery flags: what a site's discovery data would hold.
async fn discovered_users(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let tenant = q.get("tenantId").cloned().unwrap_or_else(|| CONTOSO_TENANT.to_owned());
    let inner = state.lock();
    let users: Vec<Value> = inner
        .data
        .users
        .values()
        .filter(|u| u.tenant_id == tenant && (u.discovered_by_ad || u.discovered_by_azure_ad))
        .map(|u| json!({ "aadUserId": u.id, "userPrincipalName": u.user_principal_name, "adDiscovered": u.discovered_by_ad, "azureAdDiscovered": u.discovered_by_azure_ad }))
        .collect();
    Json(json!(users)).into_response()
}

/// `{"clientId":"…","user":"helpdesk@…"}`: device codes of that public client are approved at
/// once as that user (`"user": null` stops it). For tests whose caller cannot reach `/_admin`.
async fn auto_approve(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    let Some(client) = body["clientId"].as_str() else { return (StatusCode::BAD_REQUEST, Json(json!({ "error": "clientId is required" }))).into_response() };
    let mut inner = state.lock();
    match body["user"].as_str() {
        Some(user) => inner.auto_approve.insert(client.to_owned(), user.to_owned()),
        None => inner.auto_approve.remove(client),
    };
    StatusCode::NO_CONTENT.into_response()
}

/// Each hierarchy's removals of the last 30 days (newest last) and how many removed devices are kept.
async fn list_removals(State(state): State<AppState>) -> Response {
    let inner = state.lock();
    let data = &inner.data;
    let out: serde_json::Map<String, Value> = data
        .onboardings
        .keys()
        .map(|h| (h.clone(), json!({ "removals": data.removals.get(h).cloned().unwrap_or_default(), "kept": data.tombstones.get(h).map_or(0, |t| t.len()) })))
        .collect();
    Json(Value::Object(out)).into_response()
}

/// Puts back what one removal (a sweep or a delta's deletions, by its sync id) took, as long as
/// the devices are kept (30 days) and were not uploaded again: `{"hierarchyId":"…","syncId":"…"}`.
async fn restore_removal(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    let (Some(hierarchy), Some(sync_id)) = (body["hierarchyId"].as_str(), body["syncId"].as_str()) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "give hierarchyId and syncId" }))).into_response();
    };
    match restore(&state, hierarchy, sync_id) {
        Ok(restored) => Json(json!({ "hierarchyId": hierarchy, "syncId": sync_id, "restored": restored })).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, Json(json!({ "error": e }))).into_response(),
    }
}

/// Restores a removal (journaled); the count of devices put back.
pub fn restore(state: &AppState, hierarchy: &str, sync_id: &str) -> Result<u64, String> {
    let mut inner = state.lock();
    let waiting = inner.data.tombstones.get(hierarchy).map_or(0, |t| t.values().filter(|t| t.sync_id == sync_id).count());
    if waiting == 0 {
        return Err(format!("no removed device of hierarchy {hierarchy} from sync {sync_id} is kept"));
    }
    inner
        .mutate(json!({ "op": "restoreRemoval", "hierarchyId": hierarchy, "syncId": sync_id, "now": crate::server::now_iso() }))
        .map_err(|_| "cannot store the restore".to_owned())?;
    Ok(waiting as u64)
}

async fn list_notifications(State(state): State<AppState>) -> Response {
    let inner = state.lock();
    Json(json!(inner.data.notifications.values().collect::<Vec<_>>())).into_response()
}

/// The page's tenant and acting user.
fn context(state: &AppState, q: &HashMap<String, String>) -> Result<(String, User), String> {
    let inner = state.lock();
    let wanted = q.get("tenant").map(String::as_str).unwrap_or(CONTOSO_TENANT);
    let tenant = inner
        .data
        .tenants
        .values()
        .find(|t| t.id.eq_ignore_ascii_case(wanted) || t.domains.iter().any(|d| d.eq_ignore_ascii_case(wanted)))
        .ok_or_else(|| format!("unknown tenant {wanted}"))?;
    let user = match q.get("user") {
        Some(u) => inner.data.users.values().find(|x| x.tenant_id == tenant.id && (x.id == *u || x.user_principal_name.eq_ignore_ascii_case(u))),
        None => inner.data.users.values().find(|x| x.tenant_id == tenant.id && x.directory_roles.iter().any(|r| r == GLOBAL_ADMINISTRATOR)),
    }
    .ok_or_else(|| "no such user in this tenant".to_owned())?;
    Ok((tenant.id.clone(), user.clone()))
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} - Microsoft Endpoint Manager admin center (local)</title>\
         <style>body{{font-family:Segoe UI,sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}\
         .banner{{background:#fff4ce;padding:6px}}form.inline{{display:inline}}</style></head><body>\
         <p class=\"banner\">tenant-attach-cloud: a local stand-in for the Microsoft Endpoint Manager admin center</p>{}</body></html>",
        esc(title),
        body
    ))
}

fn query_string(tenant: &str, user: &User) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("tenant", tenant).append_pair("user", &user.user_principal_name);
    s.finish()
}

/// Rows per page of the device list.
const PAGE_SIZE: usize = 100;

async fn device_list(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (tenant, user) = match context(&state, &q) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, page("Error", &esc(&e))).into_response(),
    };
    let qs = query_string(&tenant, &user);
    let search = q.get("search").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let filter = search.as_deref().map_or(Filter::All, |s| Filter::starts_with("deviceName", s));
    let after = q.get("skiptoken").and_then(|t| Cursor::decode(t));
    let inner = state.lock();
    let (found, next) = crate::devices::page(&inner.data, &tenant, &filter, after.as_ref(), PAGE_SIZE, crate::server::now_ms());
    let mut rows = String::new();
    for d in &found {
        let r = Uploaded::of(d);
        rows.push_str(&format!(
            "<tr><td><a href=\"/devices/{id}?{qs}\">{name}</a></td><td>ConfigMgr</td><td>{os}</td><td>{version}</td><td>{sync}</td></tr>",
            id = esc(&d.managed_device_id),
            name = esc(r.name.as_deref().unwrap_or("")),
            os = esc(r.operating_system()),
            version = esc(r.device_os_build.as_deref().unwrap_or("")),
            sync = esc(&d.last_sync_date_time),
        ));
    }
    let total: usize =
        inner.data.onboardings.values().filter(|o| o.tenant_id == tenant).filter_map(|o| inner.data.devices.get(&o.hierarchy_id)).map(|t| t.len()).sum();
    let tenant_name = inner.data.tenants.get(&tenant).map(|t| t.display_name.clone()).unwrap_or_default();
    let shown = found.len();
    let removals = recent_removals(&inner.data, &tenant);
    drop(inner);
    let mut more = String::new();
    if let Some(cursor) = next {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(search) = &search {
            s.append_pair("search", search);
        }
        s.append_pair("skiptoken", &cursor.encode());
        more = format!("<p><a id=\"next\" href=\"/?{qs}&{}\">Next page</a></p>", esc(&s.finish()));
    }
    page(
        "All devices",
        &format!(
            "<h1>Devices | All devices</h1><p>Tenant {} — signed in as {}</p>\
             <form method=\"get\" action=\"/\"><input type=\"hidden\" name=\"tenant\" value=\"{}\"><input type=\"hidden\" name=\"user\" value=\"{}\">\
             <label>Search by device name <input name=\"search\" value=\"{}\"></label> <button type=\"submit\">Search</button></form>\
             <p>{total} devices in the tenant; {} shown</p>\
             <table id=\"devices\"><thead><tr><th>Device name</th><th>Managed by</th><th>OS</th><th>OS version</th><th>Last check-in</th></tr></thead><tbody>{rows}</tbody></table>{more}{removals}",
            esc(&tenant_name),
            esc(&user.user_principal_name),
            esc(&tenant),
            esc(&user.user_principal_name),
            esc(search.as_deref().unwrap_or("")),
            shown,
        ),
    )
    .into_response()
}

/// The tenant's removals of the last 30 days, newest first: when, which upload, how many.
fn recent_removals(data: &crate::model::Data, tenant: &str) -> String {
    let mut list: Vec<(&String, &crate::model::Removal)> = data
        .onboardings
        .values()
        .filter(|o| o.tenant_id == tenant)
        .flat_map(|o| data.removals.get(&o.hierarchy_id).into_iter().flatten().map(move |r| (&o.hierarchy_id, r)))
        .collect();
    if list.is_empty() {
        return "<h2>Recent removals</h2><p id=\"removals\">No device was removed in the last 30 days.</p>".to_owned();
    }
    list.sort_by(|a, b| b.1.time_ms.cmp(&a.1.time_ms));
    let rows: String = list
        .iter()
        .take(50)
        .map(|(h, r)| {
            let how = if r.how == "sweep" { "full sync sweep" } else { "deletions" };
            let note = match (&r.restored_date_time, r.forced) {
                (Some(t), _) => format!("restored {}", esc(t)),
                (None, true) => "allowed beyond the deletion guard".to_owned(),
                (None, false) => String::new(),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{} ({how})</td><td>{}</td><td>{}</td><td>{note}</td></tr>",
                esc(&r.date_time),
                esc(h),
                esc(&r.kind),
                esc(&r.sync_id),
                r.count
            )
        })
        .collect();
    format!(
        "<h2>Recent removals</h2><p>Removed devices are kept 30 days: uploading one again, or restoring its removal, brings it back with its id and action history.</p>\
         <table id=\"removals\"><thead><tr><th>When</th><th>Hierarchy</th><th>Upload</th><th>Sync id</th><th>Devices removed</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

async fn device_page(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (tenant, user) = match context(&state, &q) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, page("Error", &esc(&e))).into_response(),
    };
    let qs = query_string(&tenant, &user);
    let inner = state.lock();
    let found = inner.data.device_index.get(&id).and_then(|(h, s)| {
        let o = inner.data.onboardings.get(h).filter(|o| o.tenant_id == tenant)?;
        inner.data.devices.get(&o.hierarchy_id)?.get(s)
    });
    let Some(d) = found else { return (StatusCode::NOT_FOUND, page("Not found", "<h1>Device not found</h1>")).into_response() };
    let r = Uploaded::of(d);
    let name = r.name.as_deref().unwrap_or("");
    let mut buttons = String::new();
    for (action, label) in
        [("refreshMachinePolicy", "Sync machine policy"), ("refreshUserPolicy", "Sync user policy"), ("appEvaluation", "App evaluation cycle")]
    {
        buttons.push_str(&format!(
            "<form class=\"inline\" method=\"post\" action=\"/devices/{}/action?{qs}\"><input type=\"hidden\" name=\"action\" value=\"{action}\"><button type=\"submit\" id=\"{action}\">{label}</button></form> ",
            esc(&id)
        ));
    }
    let mut history = String::new();
    for n in inner.data.notifications_of(&id) {
        history.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&n.action),
            esc(&n.state),
            esc(&n.created_date_time),
            esc(n.initiated_by["userPrincipalName"].as_str().unwrap_or("")),
            esc(n.reason.as_deref().unwrap_or(""))
        ));
    }
    let message = q.get("message").map(|m| format!("<p id=\"message\">{}</p>", esc(m))).unwrap_or_default();
    page(
        name,
        &format!(
            "<p><a href=\"/?{qs}\">All devices</a></p><h1>{}</h1>{message}<p>Managed by ConfigMgr · {} · client {}</p><p>{buttons}</p>\
             <h2>Device actions status</h2><table id=\"history\"><thead><tr><th>Action</th><th>Status</th><th>Date/Time</th><th>Initiated by</th><th>Reason</th></tr></thead><tbody>{history}</tbody></table>",
            esc(name),
            esc(r.device_os.as_deref().unwrap_or("")),
            esc(r.client_version.as_deref().unwrap_or(""))
        ),
    )
    .into_response()
}

async fn device_action(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (tenant, user) = match context(&state, &q) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, page("Error", &esc(&e))).into_response(),
    };
    let qs = query_string(&tenant, &user);
    let action = form.get("action").cloned().unwrap_or_default();
    let back = |message: &str| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("message", message);
        Redirect::to(&format!("/devices/{id}?{qs}&{}", s.finish())).into_response()
    };
    if !user.intune_permissions.iter().any(|p| p == INITIATE_CONFIGMGR_ACTION) {
        return back(&format!("{} lacks the Intune permission '{INITIATE_CONFIGMGR_ACTION}'", user.user_principal_name));
    }
    if let Err(message) = crate::graph::check_action(&action) {
        return back(&message);
    }
    let found = {
        let inner = state.lock();
        inner
            .data
            .device_index
            .get(&id)
            .filter(|(h, _)| inner.data.onboardings.get(h).is_some_and(|o| o.tenant_id == tenant))
            .and_then(|(h, s)| Some((h.clone(), inner.data.devices.get(h)?.get(s)?.clone())))
    };
    let Some((hierarchy, d)) = found else { return back("device not found") };
    let by = crate::graph::initiator(&user.id, &user.user_principal_name, None);
    if let Err(r) = crate::graph::queue_action(&state, &hierarchy, &tenant, &d, &action, by) {
        return r;
    }
    back(&format!("{action} was sent to the device"))
}

async fn device_login_page() -> Html<String> {
    page(
        "Enter code",
        "<h1>Enter code</h1><form method=\"post\" action=\"/devicelogin\"><p><label>Code <input name=\"code\" id=\"code\"></label></p>\
         <p><label>Sign in as (user principal name) <input name=\"user\" id=\"user\" value=\"admin@contoso.onmicrosoft.com\"></label></p>\
         <p><button type=\"submit\" name=\"decision\" value=\"approve\">Continue</button> <button type=\"submit\" name=\"decision\" value=\"decline\">Cancel sign-in</button></p></form>",
    )
}

async fn device_login(State(state): State<AppState>, Form(form): Form<HashMap<String, String>>) -> Response {
    let decline = form.get("decision").is_some_and(|d| d == "decline");
    let result = crate::aad::decide_device_code(&state, form.get("code").map(String::as_str).unwrap_or(""), form.get("user").map(String::as_str), decline);
    match result {
        Ok(()) => page("Done", if decline { "<h1>Sign-in cancelled</h1>" } else { "<h1>You have signed in. You may close this window.</h1>" }).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, page("Error", &format!("<h1>{}</h1>", esc(&e)))).into_response(),
    }
}
