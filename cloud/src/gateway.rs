//! The ConfigMgr gateway, as docs/GATEWAY.md specifies it: onboarding, device upload, and the
//! site's notification long-poll and results.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use crate::model::{Notification, Onboarding};
use crate::seed::GLOBAL_ADMINISTRATOR;
use crate::server::{authenticate, graph_error, now_iso, now_ms, AppState, Caller, RequestId, GATEWAY_AUDIENCE};

pub const MAX_RECORDS: usize = 5_000;
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// How long a delivered notification waits for its result before it is delivered again.
const DEFAULT_LEASE_SECONDS: u64 = 300;
const MAX_LEASE_SECONDS: u64 = 3600;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/gateway/AccountOnboardingInfo", get(get_onboarding).post(onboard).patch(patch_onboarding).delete(offboard))
        .route("/api/gateway/DevicePost", post(device_post))
        .route("/api/gateway/Notification", get(notifications))
        .route("/api/gateway/NotificationResult", post(notification_result))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BYTES + 64 * 1024))
}

fn bad(rid: &str, message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", message, rid)
}

fn forbidden(rid: &str, message: &str) -> Response {
    graph_error(StatusCode::FORBIDDEN, "Forbidden", message, rid)
}

/// The gateway's 401: `{"Message":"…"}`, the only error body of the real gateway Microsoft has
/// published (its logs, for a broken onboarding: `{"Message":"An error has occurred."}`).
pub fn unauthorized_message(message: &str) -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({ "Message": message }))).into_response()
}

/// The published answer to a site whose onboarding the gateway does not know (or no longer
/// knows: onboarded again while onboarded, offboarded, onboarded with another app).
fn broken_onboarding() -> Response {
    unauthorized_message("An error has occurred.")
}

fn caller(state: &AppState, headers: &HeaderMap, rid: &str) -> Result<Caller, Response> {
    authenticate(state, headers, GATEWAY_AUDIENCE, rid).map_err(|graph_401| {
        // The same challenge, with the gateway's body shape.
        let mut res = unauthorized_message("Authorization has been denied for this request.");
        if let Some(v) = graph_401.headers().get("WWW-Authenticate") {
            res.headers_mut().insert("WWW-Authenticate", v.clone());
        }
        res
    })
}

fn text<'a>(body: &'a Value, key: &str, rid: &str) -> Result<&'a str, Response> {
    body.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).ok_or_else(|| bad(rid, &format!("`{key}` is missing or not a string")))
}

fn valid_scope(scope: &Value) -> bool {
    match scope.get("kind").and_then(Value::as_str) {
        Some("all") => true,
        Some("collection") => scope.get("collectionId").and_then(Value::as_str).is_some_and(|c| !c.is_empty()),
        _ => false,
    }
}

/// May this caller change the onboarding of `tenant` naming app `app_id`?
fn may_manage(c: &Caller, tenant: &str, app_id: &str, rid: &str) -> Result<(), Response> {
    if c.tenant_id != tenant {
        return Err(forbidden(rid, "the token is for another tenant than the onboarding"));
    }
    if c.is_app {
        if c.app_id == app_id {
            return Ok(());
        }
        return Err(forbidden(rid, "an application may only manage the onboarding that names it (appId)"));
    }
    if c.has_wid(GLOBAL_ADMINISTRATOR) {
        return Ok(());
    }
    Err(forbidden(rid, "Onboarding requires the Global Administrator directory role (62e90394-69f5-4237-9190-012177145e10)."))
}

async fn onboard(State(state): State<AppState>, Extension(RequestId(rid)): Extension<RequestId>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let c = match caller(&state, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (hierarchy, site, tenant, app_id, uri) = match (
        text(&body, "hierarchyId", &rid),
        text(&body, "siteCode", &rid),
        text(&body, "tenantId", &rid),
        text(&body, "appId", &rid),
        text(&body, "appIdUri", &rid),
    ) {
        (Ok(h), Ok(s), Ok(t), Ok(a), Ok(u)) => (h.to_owned(), s.to_owned(), t.to_owned(), a.to_owned(), u.to_owned()),
        (h, s, t, a, u) => return [h.err(), s.err(), t.err(), a.err(), u.err()].into_iter().flatten().next().unwrap_or_else(|| bad(&rid, "bad request")),
    };
    let scope = body.get("uploadScope").cloned().unwrap_or_else(|| json!({ "kind": "all" }));
    if !valid_scope(&scope) {
        return bad(&rid, "`uploadScope` must be {\"kind\":\"all\"} or {\"kind\":\"collection\",\"collectionId\":\"...\"}");
    }
    if let Err(r) = may_manage(&c, &tenant, &app_id, &rid) {
        return r;
    }
    let mut inner = state.lock();
    if inner.data.apps.get(&app_id).is_none_or(|a| a.tenant_id != tenant) {
        return bad(&rid, &format!("the app {app_id} is not registered in tenant {tenant}"));
    }
    if let Some(existing) = inner.data.onboardings.get(&hierarchy) {
        if existing.tenant_id != tenant {
            let holder = inner.data.tenants.get(&existing.tenant_id).map(|t| t.display_name.clone()).unwrap_or_default();
            // Graph's error shape, plus the holding tenant's id for programs.
            let message =
                format!("Hierarchy {hierarchy} is attached to another tenant: {holder} ({}). Offboard it from that tenant first.", existing.tenant_id);
            let mut body = crate::server::graph_error_body("HierarchyAttachedToAnotherTenant", &message, &rid);
            body["error"]["tenantId"] = json!(existing.tenant_id);
            return (StatusCode::CONFLICT, Json(body)).into_response();
        }
        return bad_code(
            &rid,
            "HierarchyAlreadyOnboarded",
            &format!("Hierarchy {hierarchy} is already onboarded. Wait two hours before onboarding again, or update the existing onboarding with PATCH."),
        );
    }
    let now = now_iso();
    let record = Onboarding {
        hierarchy_id: hierarchy,
        tenant_id: tenant,
        site_code: site,
        app_id,
        app_id_uri: uri,
        upload_scope: scope,
        co_management_auto_enroll: body.get("coManagementAutoEnroll").and_then(Value::as_bool).unwrap_or(false),
        scope_version: 1,
        onboarded_date_time: now.clone(),
        last_modified_date_time: now,
        last_sync: None,
        epoch: uuid::Uuid::new_v4().to_string(),
        generation: 0,
        device_count: 0,
        removed_last_24_hours: 0,
        uploader: None,
        takeovers: Vec::new(),
    };
    if let Err(r) = inner.mutate(json!({ "op": "putOnboarding", "onboarding": record })) {
        return r;
    }
    (StatusCode::CREATED, Json(inner.data.shown(&record, now_ms()))).into_response()
}

fn bad_code(rid: &str, code: &str, message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, code, message, rid)
}

fn not_onboarded(rid: &str, hierarchy: &str) -> Response {
    graph_error(StatusCode::NOT_FOUND, "HierarchyNotOnboarded", &format!("Hierarchy {hierarchy} is not onboarded to this tenant."), rid)
}

/// The onboarding of `hierarchy` as seen by the caller's tenant.
fn onboarding_for(state: &AppState, c: &Caller, hierarchy: &str, rid: &str) -> Result<Onboarding, Response> {
    match state.lock().data.onboardings.get(hierarchy) {
        Some(o) if o.tenant_id == c.tenant_id => Ok(o.clone()),
        _ => Err(not_onboarded(rid, hierarchy)),
    }
}

async fn get_onboarding(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let c = match caller(&state, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let hierarchy = q.get("hierarchyId").cloned().unwrap_or_default();
    match onboarding_for(&state, &c, &hierarchy, &rid) {
        Ok(o) => Json(state.lock().data.shown(&o, now_ms())).into_response(),
        Err(r) => r,
    }
}

async fn patch_onboarding(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let c = match caller(&state, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let hierarchy = match text(&body, "hierarchyId", &rid) {
        Ok(h) => h.to_owned(),
        Err(r) => return r,
    };
    let o = match onboarding_for(&state, &c, &hierarchy, &rid) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Err(r) = may_manage(&c, &o.tenant_id, &o.app_id, &rid) {
        return r;
    }
    // Changed under the lock, from the record as it is now (an upload may have moved its generation).
    let mut inner = state.lock();
    let Some(mut o) = inner.data.onboardings.get(&hierarchy).cloned() else { return not_onboarded(&rid, &hierarchy) };
    if let Some(scope) = body.get("uploadScope") {
        if !valid_scope(scope) {
            return bad(&rid, "`uploadScope` must be {\"kind\":\"all\"} or {\"kind\":\"collection\",\"collectionId\":\"...\"}");
        }
        if *scope != o.upload_scope {
            o.upload_scope = scope.clone();
            o.scope_version += 1;
        }
    }
    if let Some(flag) = body.get("coManagementAutoEnroll").and_then(Value::as_bool) {
        o.co_management_auto_enroll = flag;
    }
    if let Some(app) = body.get("appId").and_then(Value::as_str) {
        o.app_id = app.to_owned();
    }
    if let Some(uri) = body.get("appIdUri").and_then(Value::as_str) {
        o.app_id_uri = uri.to_owned();
    }
    o.last_modified_date_time = now_iso();
    if let Err(r) = inner.mutate(json!({ "op": "putOnboarding", "onboarding": o })) {
        return r;
    }
    Json(inner.data.shown(&o, now_ms())).into_response()
}

async fn offboard(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let c = match caller(&state, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let hierarchy = q.get("hierarchyId").cloned().unwrap_or_default();
    let o = match onboarding_for(&state, &c, &hierarchy, &rid) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Err(r) = may_manage(&c, &o.tenant_id, &o.app_id, &rid) {
        return r;
    }
    let mut inner = state.lock();
    if let Err(r) = inner.mutate(json!({ "op": "deleteOnboarding", "hierarchyId": hierarchy })) {
        return r;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The hierarchy's own app, in its tenant: the only caller of the site-side calls. Anyone else,
/// and a hierarchy not onboarded (to this tenant, with this app), get the real gateway's 401
/// `{"Message":"An error has occurred."}`, as Microsoft's troubleshooting article shows it for a
/// broken onboarding: the service cannot tell those cases apart either.
fn site_caller(state: &AppState, headers: &HeaderMap, hierarchy: &str, rid: &str) -> Result<Onboarding, Response> {
    let c = caller(state, headers, rid)?;
    let o = onboarding_for(state, &c, hierarchy, rid).map_err(|_| broken_onboarding())?;
    if !c.is_app || c.app_id != o.app_id {
        return Err(broken_onboarding());
    }
    Ok(o)
}

async fn device_post(State(state): State<AppState>, Extension(RequestId(rid)): Extension<RequestId>, headers: HeaderMap, raw: axum::body::Bytes) -> Response {
    if raw.len() > MAX_BYTES {
        return graph_error(StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLarge", &format!("a batch may hold at most {MAX_BYTES} bytes"), &rid);
    }
    // Read without building a tree of the devices: they are stored as the JSON text that came in.
    let body: crate::server::DevicePostBody<'_> = match serde_json::from_slice(&raw) {
        Ok(b) => b,
        Err(e) => return bad(&rid, &format!("the body is not a DevicePost batch (hierarchyId, syncId, sequence, kind, devices, deletions): {e}")),
    };
    let hierarchy = body.hierarchy_id.clone();
    let o = match site_caller(&state, &headers, &hierarchy, &rid) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let (sync_id, sequence) = (body.sync_id.clone(), body.sequence);
    if sync_id.trim().is_empty() {
        return bad(&rid, "`syncId` is missing");
    }
    if !matches!(body.kind.as_str(), "full" | "delta" | "partial") {
        return bad(&rid, "`kind` must be \"full\", \"delta\" or \"partial\"");
    }
    let (devices, deletions) = (body.devices.len(), body.deletions.len());
    if devices + deletions + body.keep.len() > MAX_RECORDS {
        return graph_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLarge",
            &format!("a batch may hold at most {MAX_RECORDS} records (devices + deletions); this one has {}", devices + deletions),
            &rid,
        );
    }
    let sms_ids = match body.sms_ids() {
        Ok(ids) => ids,
        Err(i) => return bad(&rid, &format!("devices[{i}] has no smsId (or is not an object); the batch was not applied")),
    };
    let mut inner = state.lock();
    // The record as it is now (an offboarding, a takeover or another upload may have changed it
    // since it was read): what the batch is checked against.
    let o = match inner.data.onboardings.get(&hierarchy) {
        Some(now) if now.tenant_id == o.tenant_id && now.app_id == o.app_id => now.clone(),
        _ => return broken_onboarding(),
    };
    let duplicate = inner.data.batch_applied(&hierarchy, &sync_id, sequence);
    if !duplicate {
        if let Err(refused) = check_batch(&inner.data, &o, &body, &sms_ids, &rid) {
            return refused;
        }
        let visible_after_ms = now_ms() + inner.ingestion_delay_ms as i64;
        let now = now_iso();
        // Journaled from the bytes received (valid JSON, just parsed; a raw line break can only be
        // whitespace between tokens, so it becomes a space).
        let mut line =
            format!("{{\"op\":\"devicePost\",\"tenantId\":{},\"now\":{},\"visibleAfterMs\":{visible_after_ms},\"body\":", json!(o.tenant_id), json!(now))
                .into_bytes();
        line.extend(raw.iter().map(|b| if matches!(b, b'\n' | b'\r') { b' ' } else { *b }));
        line.push(b'}');
        if let Err(r) = inner.mutate_device_post(line, &body, &sms_ids, &o.tenant_id, &now, visible_after_ms) {
            return r;
        }
    }
    let removed = inner.data.removed_by(&hierarchy, &sync_id, sequence);
    // Of the devices the batch kept, those the gateway holds: the uploader records them.
    let table = inner.data.devices.get(&hierarchy);
    let kept: Vec<String> = body.keep.iter().map(|k| crate::server::sms_key(k)).filter(|k| table.is_some_and(|t| t.contains_key(k))).collect();
    let now = inner.data.onboardings.get(&hierarchy).map(|o| inner.data.shown(o, now_ms())).unwrap_or(o);
    Json(json!({ "syncId": sync_id, "sequence": sequence, "accepted": devices, "deleted": deletions, "removed": removed, "duplicate": duplicate,
        "scopeVersion": now.scope_version, "epoch": now.epoch, "generation": now.generation, "deviceCount": now.device_count, "kept": kept }))
    .into_response()
}

fn conflict(rid: &str, code: &str, message: &str, extra: Value) -> Response {
    let mut body = crate::server::graph_error_body(code, message, rid);
    if let (Some(error), Some(extra)) = (body["error"].as_object_mut(), extra.as_object()) {
        error.extend(extra.clone());
    }
    (StatusCode::CONFLICT, Json(body)).into_response()
}

/// What the gateway refuses before applying a batch, judged on its own data: a batch of another
/// onboarding epoch, a full sync's sweep after another full sync completed, and removals beyond
/// the deletion guard (counting those of the last 24 hours). Nothing of a refused batch is applied.
fn check_batch(data: &crate::model::Data, o: &Onboarding, body: &crate::server::DevicePostBody<'_>, sms_ids: &[String], rid: &str) -> Result<(), Response> {
    let hierarchy = &o.hierarchy_id;
    if let Some(epoch) = body.epoch.as_deref().filter(|e| !e.is_empty() && !o.epoch.is_empty() && *e != o.epoch) {
        return Err(conflict(
            rid,
            "EpochChanged",
            &format!(
                "Hierarchy {hierarchy} was onboarded again since this upload's sync state was made (epoch {epoch}, now {}); nothing of this batch was applied. Upload again: the next run is a full sync.",
                o.epoch
            ),
            json!({ "epoch": o.epoch }),
        ));
    }
    if let Some(holder) = o.uploader.as_ref() {
        // A batch that names no instance is another uploader too (it cannot be told apart).
        let instance = body.site_instance_id.as_deref().unwrap_or("(none)");
        if holder.site_instance_id != instance && !body.take_over {
            return Err(conflict(
                rid,
                "UploaderConflict",
                &format!(
                    "Hierarchy {hierarchy} is uploaded by another site instance: {} ({}), last upload {}; nothing of this batch was applied. \
                     One server uploads a hierarchy. If this server replaces that one (a migration, a site recovery), upload with takeOver \
                     (-TakeOver in PowerShell), then stop the uploads of the other.",
                    holder.machine_name, holder.site_instance_id, holder.last_upload_date_time
                ),
                json!({ "uploader": holder }),
            ));
        }
    }
    let sweeps = body.sweeps(data);
    if let Some(based_on) = body.based_on_generation.filter(|g| sweeps && *g != o.generation) {
        return Err(conflict(
            rid,
            "GenerationChanged",
            &format!(
                "Another full sync of hierarchy {hierarchy} completed while this one ran (generation {based_on} when it started, now {}), so this one does not remove anything; nothing of this batch was applied. Upload again.",
                o.generation
            ),
            json!({ "generation": o.generation }),
        ));
    }
    let would = body.would_remove(data, sms_ids);
    if would == 0 || body.allow_mass_deletion {
        return Ok(());
    }
    let table = data.devices.get(hierarchy).map_or(0, |t| t.len() as u64);
    // A full sync is measured against what the hierarchy had when it began (its own new devices
    // do not widen the limit).
    let at_start = if sweeps {
        data.full_syncs.get(hierarchy).filter(|p| p.sync_id == body.sync_id).map(|p| p.devices_at_start)
    } else {
        data.applied_syncs.get(hierarchy).and_then(|runs| runs.iter().find(|r| r.sync_id == body.sync_id)).map(|r| r.devices_at_start)
    };
    // (0: a run recorded by an earlier version, which did not keep it.)
    let known = at_start.filter(|n| *n > 0).unwrap_or(table);
    let (max, percent) = (body.max_deletions.unwrap_or(500), body.max_deletion_percent.unwrap_or(10));
    let allowed = crate::server::deletions_allowed(known, max, percent);
    let used = data.removed_since(hierarchy, now_ms() - crate::model::BUDGET_WINDOW_MS);
    if used + would <= allowed {
        return Ok(());
    }
    let what = if sweeps { "This full sync's sweep" } else { "This batch" };
    let budget = if used > 0 { format!(" ({used} removed in the last 24 hours already count against it)") } else { String::new() };
    Err(conflict(
        rid,
        "DeletionRefused",
        &format!(
            "{what} would remove {would} of the {known} devices hierarchy {hierarchy} has in the cloud, more than the {allowed} the deletion guard allows in 24 hours ({max} devices or {percent}% of them){budget}; nothing was removed. Check that the input is the whole upload scope; if the removal is intended, upload again allowing it (allowMassDeletion; -Force in PowerShell)."
        ),
        json!({ "wouldRemove": would, "devicesKnown": known, "allowed": allowed, "removedLast24Hours": used, "maxDeletions": max, "maxDeletionPercent": percent }),
    ))
}

async fn notifications(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let hierarchy = q.get("hierarchyId").cloned().unwrap_or_default();
    if let Err(r) = site_caller(&state, &headers, &hierarchy, &rid) {
        return r;
    }
    let timeout = q.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).unwrap_or(30).min(60);
    let max = q.get("max").and_then(|t| t.parse::<usize>().ok()).unwrap_or(100).clamp(1, 1000);
    let lease_ms = q.get("leaseSeconds").and_then(|t| t.parse::<u64>().ok()).unwrap_or(DEFAULT_LEASE_SECONDS).clamp(1, MAX_LEASE_SECONDS) as i64 * 1000;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        // Register interest before looking, so a notification queued in between wakes us.
        let woken = state.notify.notified();
        let taken = take_due(&state, &hierarchy, max, lease_ms);
        match taken {
            Err(r) => return r,
            Ok(list) if !list.is_empty() || tokio::time::Instant::now() >= deadline => {
                return Json(json!({ "notifications": list })).into_response();
            }
            Ok(_) => {}
        }
        // Leases expire without a wake-up: look again at least every second.
        let _ = tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + Duration::from_secs(1)), woken).await;
    }
}

/// Pending notifications, and delivered ones whose lease ran out, marked delivered.
fn take_due(state: &AppState, hierarchy: &str, max: usize, lease_ms: i64) -> Result<Vec<Value>, Response> {
    let mut inner = state.lock();
    let now = now_ms();
    let mut due: Vec<&Notification> = inner
        .data
        .notifications
        .values()
        .filter(|n| n.hierarchy_id == hierarchy && (n.state == "pending" || (n.state == "delivered" && n.lease_until_ms < now)))
        .collect();
    // Oldest first (ids are random).
    due.sort_by(|a, b| (&a.created_date_time, &a.notification_id).cmp(&(&b.created_date_time, &b.notification_id)));
    let due: Vec<Notification> = due.into_iter().take(max).cloned().collect();
    let mut out = Vec::new();
    let mut changes = Vec::new();
    for mut n in due {
        n.state = "delivered".into();
        n.delivery_count += 1;
        n.lease_until_ms = now + lease_ms;
        n.last_updated_date_time = now_iso();
        out.push(json!({
            "notificationId": n.notification_id, "hierarchyId": n.hierarchy_id, "tenantId": n.tenant_id,
            "managedDeviceId": n.managed_device_id, "smsId": n.sms_id, "deviceName": n.device_name, "action": n.action,
            "initiatedBy": n.initiated_by, "createdDateTime": n.created_date_time, "deliveryCount": n.delivery_count,
        }));
        changes.push(json!({ "op": "putNotification", "notification": n }));
    }
    // Durable before the answer: after a crash, what was handed out stays leased to the site.
    inner.mutate_all(changes)?;
    Ok(out)
}

async fn notification_result(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let (hierarchy, id) = match (text(&body, "hierarchyId", &rid), text(&body, "notificationId", &rid)) {
        (Ok(h), Ok(i)) => (h.to_owned(), i.to_owned()),
        (h, i) => return h.err().or(i.err()).unwrap_or_else(|| bad(&rid, "bad request")),
    };
    if let Err(r) = site_caller(&state, &headers, &hierarchy, &rid) {
        return r;
    }
    let status = body.get("status").and_then(Value::as_str).unwrap_or("");
    if !matches!(status, "succeeded" | "failed") {
        return bad(&rid, "`status` must be \"succeeded\" or \"failed\"");
    }
    let mut inner = state.lock();
    let Some(mut n) = inner.data.notifications.get(&id).filter(|n| n.hierarchy_id == hierarchy).cloned() else {
        return graph_error(StatusCode::NOT_FOUND, "NotificationNotFound", &format!("no notification {id} for hierarchy {hierarchy}"), &rid);
    };
    let duplicate = n.state == "succeeded" || n.state == "failed";
    if !duplicate {
        n.state = status.to_owned();
        n.reason = body.get("reason").and_then(Value::as_str).map(str::to_owned);
        n.task_guid = body.get("taskGuid").and_then(Value::as_str).map(str::to_owned);
        n.last_updated_date_time = now_iso();
        if let Err(r) = inner.mutate(json!({ "op": "putNotification", "notification": n })) {
            return r;
        }
    }
    Json(json!({ "notificationId": id, "status": n.state, "duplicate": duplicate })).into_response()
}
