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
use html_escape::encode_text as esc;
use serde_json::{json, Value};

use crate::model::{Notification, User};
use crate::seed::{Seed, CONTOSO_TENANT, GLOBAL_ADMINISTRATOR, INITIATE_CONFIGMGR_ACTION};
use crate::server::{now_iso, AppState, Faults};

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
        .route("/_admin/discovered-users", get(discovered_users))
        .route("/_admin/notifications", get(list_notifications))
        .route("/_admin/auto-approve", post(auto_approve))
}

/// Stores seed objects (secrets hashed before they reach the journal).
pub fn apply_seed(state: &AppState, seed: Seed) -> Result<(), Response> {
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
    match crate::aad::decide_device_code(&state, code, user, decline) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn get_faults(State(state): State<AppState>) -> Response {
    Json(state.lock().faults.clone()).into_response()
}

async fn set_faults(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    match serde_json::from_value::<Faults>(body) {
        Ok(f) if f.mode.as_deref().is_none_or(|m| matches!(m, "throttle" | "error" | "drop" | "slow")) && (0.0..=1.0).contains(&f.rate) => {
            state.lock().faults = f;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => (StatusCode::BAD_REQUEST, Json(json!({ "error": "mode must be throttle, error, drop, slow or null; rate 0..1" }))).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e.to_string() }))).into_response(),
    }
}

async fn counters(State(state): State<AppState>) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let c = &state.counters;
    Json(json!({ "requests": c.requests.load(Relaxed), "throttled": c.throttled.load(Relaxed), "errors": c.errors.load(Relaxed),
        "dropped": c.dropped.load(Relaxed), "slowed": c.slowed.load(Relaxed) }))
    .into_response()
}

async fn ingestion_delay(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    state.lock().ingestion_delay_ms = body["ms"].as_u64().unwrap_or(0);
    StatusCode::NO_CONTENT.into_response()
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

async fn device_list(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (tenant, user) = match context(&state, &q) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, page("Error", &esc(&e))).into_response(),
    };
    let qs = query_string(&tenant, &user);
    let inner = state.lock();
    let mut rows = String::new();
    let now = crate::server::now_ms();
    let mut count = 0;
    for o in inner.data.onboardings.values().filter(|o| o.tenant_id == tenant) {
        for d in inner.data.devices.get(&o.hierarchy_id).into_iter().flat_map(|t| t.values()).filter(|d| d.visible_after_ms <= now).take(500) {
            count += 1;
            let r = d.fields();
            rows.push_str(&format!(
                "<tr><td><a href=\"/devices/{id}?{qs}\">{name}</a></td><td>ConfigMgr</td><td>{os}</td><td>{sync}</td></tr>",
                id = esc(&d.managed_device_id),
                name = esc(r["name"].as_str().unwrap_or("")),
                os = esc(r["deviceOS"].as_str().unwrap_or("")),
                sync = esc(&d.last_sync_date_time),
            ));
        }
    }
    let tenant_name = inner.data.tenants.get(&tenant).map(|t| t.display_name.clone()).unwrap_or_default();
    page(
        "All devices",
        &format!(
            "<h1>Devices | All devices</h1><p>Tenant {} — signed in as {}</p><p>{count} devices shown (first 500 per hierarchy)</p>\
             <table id=\"devices\"><thead><tr><th>Device name</th><th>Managed by</th><th>OS</th><th>Last check-in</th></tr></thead><tbody>{rows}</tbody></table>",
            esc(&tenant_name),
            esc(&user.user_principal_name)
        ),
    )
    .into_response()
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
    let r = d.fields();
    let name = r["name"].as_str().unwrap_or("");
    let mut buttons = String::new();
    for (action, label) in [("refreshMachinePolicy", "Sync machine policy"), ("refreshUserPolicy", "Sync user policy"), ("appEvaluation", "App evaluation cycle")] {
        buttons.push_str(&format!(
            "<form class=\"inline\" method=\"post\" action=\"/devices/{}/action?{qs}\"><input type=\"hidden\" name=\"action\" value=\"{action}\"><button type=\"submit\" id=\"{action}\">{label}</button></form> ",
            esc(&id)
        ));
    }
    let mut history = String::new();
    for n in inner.data.notifications.values().filter(|n| n.managed_device_id == id) {
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
            esc(r["deviceOS"].as_str().unwrap_or("")),
            esc(r["clientVersion"].as_str().unwrap_or(""))
        ),
    )
    .into_response()
}

async fn device_action(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>, Form(form): Form<HashMap<String, String>>) -> Response {
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
    if !["refreshMachinePolicy", "refreshUserPolicy", "appEvaluation"].contains(&action.as_str()) {
        return back("unsupported action");
    }
    let mut inner = state.lock();
    let Some((hierarchy, sms_id)) = inner.data.device_index.get(&id).cloned() else { return back("device not found") };
    let Some(d) = inner.data.devices.get(&hierarchy).and_then(|t| t.get(&sms_id)).cloned() else { return back("device not found") };
    if !inner.data.onboardings.get(&hierarchy).is_some_and(|o| o.tenant_id == tenant) {
        return back("device not found");
    }
    let n = Notification {
        notification_id: uuid::Uuid::new_v4().to_string(),
        hierarchy_id: hierarchy,
        tenant_id: tenant.clone(),
        managed_device_id: id.clone(),
        sms_id,
        device_name: d.fields()["name"].as_str().unwrap_or_default().to_owned(),
        action: action.clone(),
        initiated_by: json!({ "aadUserId": user.id, "userPrincipalName": user.user_principal_name }),
        created_date_time: now_iso(),
        delivery_count: 0,
        state: "pending".into(),
        lease_until_ms: 0,
        reason: None,
        task_guid: None,
    };
    if let Err(r) = inner.mutate(json!({ "op": "putNotification", "notification": n })) {
        return r;
    }
    drop(inner);
    state.notify.notify_waiters();
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
