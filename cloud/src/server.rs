//! The shared server state, the mutations that change it (journaled, replayed on start), request
//! ids, bearer-token checks, Graph-shaped errors and fault injection.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::model::{Data, Device, Notification, Onboarding, Persistence};
use crate::token::Issuer;

pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
pub const GATEWAY_AUDIENCE: &str = "https://gateway.configmgr.manage.microsoft.com";

/// A pending device-code sign-in.
#[derive(Clone, Debug)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub tenant_id: String,
    pub client_id: String,
    pub scope: String,
    pub expires_at: i64,
    /// Set when approved (the user) or declined.
    pub approved_by: Option<String>,
    pub declined: bool,
    pub last_poll: i64,
}

pub use crate::faults::{Counters, Faults};

pub struct Inner {
    pub data: Data,
    pub persistence: Option<Persistence>,
    pub device_codes: HashMap<String, DeviceCode>,
    /// Fault rules, first match wins (empty: no faults).
    pub faults: Vec<Faults>,
    pub ingestion_delay_ms: u64,
    /// The device code poll interval the token service advertises (seconds).
    pub device_code_interval_seconds: u64,
    /// Public client id → user who approves its device codes at once (tests of callers that
    /// cannot reach `/_admin` themselves, e.g. C programs).
    pub auto_approve: HashMap<String, String>,
}

pub struct Shared {
    pub inner: Mutex<Inner>,
    pub issuer: Issuer,
    pub base_url: String,
    pub counters: Counters,
    /// Woken whenever a notification is queued (the gateway's long-poll waits on it).
    pub notify: tokio::sync::Notify,
    /// The Graph routes, for `$batch` to run its steps through.
    pub graph_router: std::sync::OnceLock<axum::Router>,
}

pub type AppState = Arc<Shared>;

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a handler panicked mid-update; the data is still the last applied.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Records `mutation` in the journal, then applies it. The caller answers only after this.
    pub fn mutate(&mut self, mutation: Value) -> Result<(), Response> {
        self.mutate_all(vec![mutation])
    }

    /// Journals several mutations with one fsync, then applies them (e.g. notifications handed out
    /// by one long-poll answer).
    pub fn mutate_all(&mut self, mutations: Vec<Value>) -> Result<(), Response> {
        self.journal(|p| mutations.iter().try_for_each(|m| p.record(m)))?;
        for m in &mutations {
            apply(&mut self.data, m);
        }
        self.compact_if_due();
        Ok(())
    }

    /// Journals `line` (an upload batch's mutation, from the bytes that came in) and applies the
    /// batch, already parsed and checked, without building a JSON tree of its devices.
    pub fn mutate_device_post(
        &mut self,
        line: Vec<u8>,
        batch: &DevicePostBody<'_>,
        sms_ids: &[String],
        tenant: &str,
        now: &str,
        visible_after_ms: i64,
    ) -> Result<(), Response> {
        self.journal(|p| p.record_bytes(line))?;
        apply_device_post(&mut self.data, batch, sms_ids, tenant, now, visible_after_ms);
        self.compact_if_due();
        Ok(())
    }

    /// Appends to the journal and makes it durable, unless a `$batch` makes it durable once for
    /// all its steps (group commit).
    fn journal(&mut self, write: impl FnOnce(&mut Persistence) -> std::io::Result<()>) -> Result<(), Response> {
        let deferred = GROUP_COMMIT.try_with(|d| *d).unwrap_or(false);
        let Some(p) = self.persistence.as_mut() else { return Ok(()) };
        write(p)
            .and_then(|_| if deferred { Ok(()) } else { p.sync() })
            .map_err(|e| graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", &format!("cannot persist the change: {e}"), ""))
    }

    fn compact_if_due(&mut self) {
        if let Some(p) = self.persistence.as_mut() {
            if p.wants_compaction() {
                if let Err(e) = p.compact(&self.data) {
                    // The journal keeps growing and stays complete; the next attempt may succeed.
                    eprintln!("tenant-attach-cloud: cannot write a snapshot (the journal stays complete): {e}");
                }
            }
        }
    }
}

tokio::task_local! {
    /// Set while a `$batch` runs its steps: their mutations are synced once, before it answers.
    pub static GROUP_COMMIT: bool;
}

/// Applies one journal line (replay on start); false when it does not parse (a torn last line).
pub fn apply_line(data: &mut Data, line: &str) -> bool {
    // Upload batches are most of the journal: read their devices as text, not as JSON trees.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct DevicePostLine<'a> {
        op: &'a str,
        #[serde(default)]
        tenant_id: String,
        #[serde(default)]
        now: String,
        #[serde(default)]
        visible_after_ms: i64,
        #[serde(borrow)]
        body: Option<&'a serde_json::value::RawValue>,
    }
    if let Ok(DevicePostLine { op: "devicePost", tenant_id, now, visible_after_ms, body: Some(body) }) = serde_json::from_str::<DevicePostLine<'_>>(line) {
        let _ = apply_device_post_raw(data, &tenant_id, &now, visible_after_ms, body.get().as_bytes());
        return true;
    }
    match serde_json::from_str::<Value>(line) {
        Ok(mutation) => {
            apply(data, &mutation);
            true
        }
        Err(_) => false,
    }
}

/// Applies one journaled mutation (also used to replay the journal on start).
pub fn apply(data: &mut Data, m: &Value) {
    let from = |key: &str| m.get(key).cloned().unwrap_or(Value::Null);
    match m.get("op").and_then(Value::as_str).unwrap_or("") {
        "putTenant" => {
            if let Ok(t) = serde_json::from_value::<crate::model::Tenant>(from("tenant")) {
                data.tenants.insert(t.id.clone(), t);
            }
        }
        "putUser" => {
            if let Ok(u) = serde_json::from_value::<crate::model::User>(from("user")) {
                data.users.insert(u.id.clone(), u);
            }
        }
        "putApp" => {
            if let Ok(a) = serde_json::from_value::<crate::model::App>(from("app")) {
                data.apps.insert(a.app_id.clone(), a);
            }
        }
        "putServicePrincipal" => {
            if let Ok(sp) = serde_json::from_value::<crate::model::ServicePrincipal>(from("servicePrincipal")) {
                data.service_principals.insert(sp.id.clone(), sp);
            }
        }
        "putOnboarding" => {
            if let Ok(o) = serde_json::from_value::<Onboarding>(from("onboarding")) {
                data.onboardings.insert(o.hierarchy_id.clone(), o);
            }
        }
        "deleteOnboarding" => data.remove_hierarchy(m["hierarchyId"].as_str().unwrap_or_default()),
        "devicePost" => {
            let raw = m["body"].to_string();
            let (tenant, now, visible) =
                (m["tenantId"].as_str().unwrap_or_default(), m["now"].as_str().unwrap_or_default(), m["visibleAfterMs"].as_i64().unwrap_or(0));
            let _ = apply_device_post_raw(data, tenant, now, visible, raw.as_bytes());
        }
        "restoreRemoval" => {
            let text = |key: &str| m[key].as_str().unwrap_or_default();
            restore_removal(data, text("hierarchyId"), text("syncId"), text("now"));
        }
        "putNotification" => {
            if let Ok(n) = serde_json::from_value::<Notification>(from("notification")) {
                data.put_notification(n);
            }
        }
        "putRefreshGrant" => {
            if let (Some(hash), Ok(grant)) = (m["sha256"].as_str(), serde_json::from_value::<crate::model::RefreshGrant>(from("grant"))) {
                let now = now_ms();
                data.refresh_grants.retain(|_, g| g.expires_ms > now);
                data.refresh_grants.insert(hash.to_owned(), grant);
            }
        }
        _ => {}
    }
}

/// The managed device id Graph shows: stable for (tenant, hierarchy, SMSID).
pub fn managed_device_id(tenant: &str, hierarchy: &str, sms_id: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{tenant}/{hierarchy}/{}", sms_id.to_ascii_uppercase()).as_bytes()).to_string()
}

/// A DevicePost body, its devices left as JSON text.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePostBody<'a> {
    pub hierarchy_id: String,
    pub sync_id: String,
    pub sequence: u64,
    pub kind: String,
    #[serde(default, rename = "final")]
    pub is_final: bool,
    #[serde(borrow, default)]
    pub devices: Vec<&'a serde_json::value::RawValue>,
    #[serde(default)]
    pub deletions: Vec<String>,
    /// Devices the run lists but does not send (their record could not be read this time): a
    /// full sync's sweep keeps them as they are.
    #[serde(default)]
    pub keep: Vec<String>,
    /// The onboarding epoch the uploader's state belongs to: another one is refused.
    #[serde(default)]
    pub epoch: Option<String>,
    /// The generation a full sync builds on: its sweep is refused once another full sync completed.
    #[serde(default)]
    pub based_on_generation: Option<u64>,
    /// The deletion guard: no batch removes more than this many devices (with those removed in
    /// the last 24 hours), unless `allowMassDeletion`.
    #[serde(default)]
    pub max_deletions: Option<u64>,
    #[serde(default)]
    pub max_deletion_percent: Option<u64>,
    #[serde(default)]
    pub allow_mass_deletion: bool,
    /// The site instance that sends the batch, and its machine's name: uploads are bound to one.
    #[serde(default)]
    pub site_instance_id: Option<String>,
    #[serde(default)]
    pub machine_name: Option<String>,
    /// Moves the binding to this instance (a server migration).
    #[serde(default)]
    pub take_over: bool,
}

/// The deletion guard's rules (the library's `Guard`, Azure AD Connect's "prevent accidental
/// deletes"): at most `max` devices, or `percent` of those known once more than 10 would go.
pub fn deletions_allowed(known: u64, max: u64, percent: u64) -> u64 {
    const SMALL: u64 = 10;
    max.min((known.saturating_mul(percent) / 100).max(SMALL))
}

/// One SMSID whatever its letter case: the gateway keys devices by the upper-case form.
pub fn sms_key(sms_id: &str) -> String {
    sms_id.to_ascii_uppercase()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmsIdOnly {
    sms_id: Option<String>,
}

/// The SMSID of one uploaded device, reading nothing else.
pub fn sms_id_of(device: &serde_json::value::RawValue) -> Option<String> {
    serde_json::from_str::<SmsIdOnly>(device.get()).ok()?.sms_id.filter(|s| !s.is_empty())
}

/// Applies an upload batch given as bytes (journal replay).
pub fn apply_device_post_raw(data: &mut Data, tenant: &str, now: &str, visible_after_ms: i64, raw: &[u8]) -> Result<(), String> {
    let body: DevicePostBody<'_> = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    let sms_ids = body.sms_ids().map_err(|i| format!("devices[{i}] has no smsId"))?;
    apply_device_post(data, &body, &sms_ids, tenant, now, visible_after_ms);
    Ok(())
}

impl DevicePostBody<'_> {
    /// Each device's SMSID (upper case), or the index of the first device without one.
    pub fn sms_ids(&self) -> Result<Vec<String>, usize> {
        self.devices.iter().enumerate().map(|(i, d)| sms_id_of(d).map(|s| sms_key(&s)).ok_or(i)).collect()
    }

    /// Whether this batch ends a full sync that sweeps: the final batch of the full run the
    /// gateway tracks (or of a new one), not of one superseded by a newer full run.
    pub fn sweeps(&self, data: &Data) -> bool {
        let hierarchy = self.hierarchy_id.as_str();
        let known_run = data.applied_syncs.get(hierarchy).is_some_and(|runs| runs.iter().any(|r| r.sync_id == self.sync_id));
        self.kind == "full" && self.is_final && (!known_run || data.full_syncs.get(hierarchy).is_some_and(|p| p.sync_id == self.sync_id))
    }

    /// The devices this batch would remove from `data` if applied now.
    pub fn would_remove(&self, data: &Data, sms_ids: &[String]) -> u64 {
        let Some(table) = data.devices.get(&self.hierarchy_id) else { return 0 };
        let deleted: HashSet<String> = self.deletions.iter().map(|d| sms_key(d)).filter(|d| table.contains_key(d)).collect();
        if !self.sweeps(data) {
            return deleted.len() as u64;
        }
        let mentioned = data.full_syncs.get(&self.hierarchy_id).filter(|p| p.sync_id == self.sync_id).map(|p| &p.mentioned);
        let here: HashSet<String> = sms_ids.iter().cloned().chain(self.keep.iter().map(|k| sms_key(k))).collect();
        let swept = table.keys().filter(|k| !here.contains(*k) && !deleted.contains(*k) && !mentioned.is_some_and(|m| m.contains(*k))).count();
        (deleted.len() + swept) as u64
    }
}

/// Applies an upload batch (idempotent by syncId and sequence); `sms_ids[i]` is `devices[i]`'s.
/// Deterministic (journal replay gives the same data): what it removes is recorded with `now`.
pub fn apply_device_post(data: &mut Data, body: &DevicePostBody<'_>, sms_ids: &[String], tenant: &str, now: &str, visible_after_ms: i64) {
    let hierarchy = body.hierarchy_id.as_str();
    let sync_id = body.sync_id.as_str();
    let known_run = data.applied_syncs.get(hierarchy).is_some_and(|runs| runs.iter().any(|r| r.sync_id == sync_id));
    if !data.mark_batch_applied(hierarchy, sync_id, body.sequence) {
        return;
    }
    if let (Some(o), Some(instance)) = (data.onboardings.get_mut(hierarchy), body.site_instance_id.as_deref()) {
        bind_uploader(o, instance, body.machine_name.as_deref().unwrap_or("unknown"), body.take_over, now);
    }
    let full = body.kind == "full";
    let table_len = data.devices.get(hierarchy).map_or(0, |t| t.len() as u64);
    if full && !known_run {
        // A new full run: an unfinished older one can no longer sweep (extra devices at worst,
        // removed by the next full run that finishes).
        let progress = crate::model::FullSyncProgress { sync_id: sync_id.to_owned(), mentioned: Default::default(), devices_at_start: table_len };
        data.full_syncs.insert(hierarchy.to_owned(), progress);
    }
    // A late batch of a superseded full run only upserts.
    let tracked = full && data.full_syncs.get(hierarchy).is_some_and(|p| p.sync_id == sync_id);
    let time_ms = chrono::DateTime::parse_from_rfc3339(now).map(|t| t.timestamp_millis()).unwrap_or(0);
    let tombstones = data.tombstones.entry(hierarchy.to_owned()).or_default();
    tombstones.retain(|_, t| t.time_ms >= time_ms - crate::model::REMOVALS_KEPT_MS);
    let table = data.devices.entry(hierarchy.to_owned()).or_default();
    let mut progress = if tracked { data.full_syncs.get_mut(hierarchy) } else { None };
    for (d, sms_id) in body.devices.iter().zip(sms_ids) {
        let sms_id = sms_key(sms_id);
        if let Some(p) = progress.as_mut() {
            p.mentioned.insert(sms_id.clone());
        }
        let id = managed_device_id(tenant, hierarchy, &sms_id);
        data.device_index.insert(id.clone(), (hierarchy.to_owned(), sms_id.clone()));
        // Uploaded again: back with its id (and so its action history).
        tombstones.remove(&sms_id);
        table.insert(sms_id, Device { managed_device_id: id, record: (*d).to_owned(), last_sync_date_time: now.to_owned(), visible_after_ms });
    }
    if let Some(p) = progress.as_mut() {
        p.mentioned.extend(body.keep.iter().map(|k| sms_key(k)));
    }
    let mut removed = 0u64;
    let bury =
        |sms_id: String, device: Device| (sms_id, crate::model::Tombstone { device, sync_id: sync_id.to_owned(), removed_date_time: now.to_owned(), time_ms });
    for gone in &body.deletions {
        let key = sms_key(gone);
        if let Some(d) = table.remove(&key) {
            data.device_index.remove(&d.managed_device_id);
            let (k, t) = bury(key, d);
            tombstones.insert(k, t);
            removed += 1;
        }
    }
    let mut swept = false;
    if tracked && body.is_final {
        if let Some(keep) = data.full_syncs.remove(hierarchy).map(|p| p.mentioned) {
            swept = true;
            let index = &mut data.device_index;
            let swept: Vec<String> = table.keys().filter(|k| !keep.contains(*k)).cloned().collect();
            for key in swept {
                if let Some(d) = table.remove(&key) {
                    index.remove(&d.managed_device_id);
                    let (k, t) = bury(key, d);
                    tombstones.insert(k, t);
                    removed += 1;
                }
            }
        }
    }
    let count = table.len();
    if let Some(run) = data.applied_syncs.get_mut(hierarchy).and_then(|runs| runs.iter_mut().find(|r| r.sync_id == sync_id)) {
        run.removed.insert(body.sequence, removed);
    }
    if removed > 0 {
        let list = data.removals.entry(hierarchy.to_owned()).or_default();
        list.retain(|r| r.time_ms >= time_ms - crate::model::REMOVALS_KEPT_MS);
        let how = if swept { "sweep" } else { "deletions" };
        list.push(crate::model::Removal {
            sync_id: sync_id.to_owned(),
            kind: body.kind.clone(),
            how: how.to_owned(),
            date_time: now.to_owned(),
            time_ms,
            count: removed,
            forced: body.allow_mass_deletion,
            restored_date_time: None,
        });
    }
    if body.is_final {
        if let Some(o) = data.onboardings.get_mut(hierarchy) {
            if swept {
                o.generation += 1;
            }
            let removed_by_run =
                data.applied_syncs.get(hierarchy).and_then(|runs| runs.iter().find(|r| r.sync_id == sync_id)).map_or(0, |r| r.removed.values().sum::<u64>());
            o.last_sync = Some(json!({ "syncId": sync_id, "kind": body.kind, "completedDateTime": now, "deviceCount": count,
                "generation": o.generation, "removed": removed_by_run }));
        }
    }
}

/// Puts back the devices that removal `sync_id` took from `hierarchy` and that are still kept
/// (not uploaded again since), with their ids and action history; how many.
pub fn restore_removal(data: &mut Data, hierarchy: &str, sync_id: &str, now: &str) -> u64 {
    let (Some(tombstones), Some(o)) = (data.tombstones.get_mut(hierarchy), data.onboardings.get(hierarchy)) else { return 0 };
    let tenant = o.tenant_id.clone();
    let back: Vec<String> = tombstones.iter().filter(|(_, t)| t.sync_id == sync_id).map(|(k, _)| k.clone()).collect();
    let table = data.devices.entry(hierarchy.to_owned()).or_default();
    for key in &back {
        if let Some(t) = tombstones.remove(key) {
            let mut device = t.device;
            device.managed_device_id = managed_device_id(&tenant, hierarchy, key);
            data.device_index.insert(device.managed_device_id.clone(), (hierarchy.to_owned(), key.clone()));
            table.insert(key.clone(), device);
        }
    }
    for r in data.removals.get_mut(hierarchy).into_iter().flatten().filter(|r| r.sync_id == sync_id) {
        r.restored_date_time = Some(now.to_owned());
    }
    back.len() as u64
}

/// Binds the hierarchy's uploads to `instance` (the first to upload, or one taking over; the
/// gateway checked the takeover before), noting when it last uploaded.
fn bind_uploader(o: &mut Onboarding, instance: &str, machine: &str, take_over: bool, now: &str) {
    match o.uploader.as_mut() {
        Some(u) if u.site_instance_id == instance => {
            u.last_upload_date_time = now.to_owned();
            u.machine_name = machine.to_owned();
        }
        // Only a takeover moves the binding (the gateway refused other instances before).
        Some(_) if !take_over => {}
        previous => {
            if let Some(p) = previous {
                o.takeovers.push(json!({ "dateTime": now, "from": { "siteInstanceId": p.site_instance_id, "machineName": p.machine_name,
                    "lastUploadDateTime": p.last_upload_date_time }, "to": { "siteInstanceId": instance, "machineName": machine } }));
                if o.takeovers.len() > 10 {
                    o.takeovers.remove(0);
                }
                eprintln!(
                    "tenant-attach-cloud: hierarchy {}: uploads taken over by {machine} ({instance}) from {} ({})",
                    o.hierarchy_id, p.machine_name, p.site_instance_id
                );
            }
            o.uploader = Some(crate::model::Uploader {
                site_instance_id: instance.to_owned(),
                machine_name: machine.to_owned(),
                since_date_time: now.to_owned(),
                last_upload_date_time: now.to_owned(),
            });
        }
    }
}

/// The request id of this request (set by [`request_ids`]).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The ids of the request being answered, for error bodies built far from the handler.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    pub request_id: String,
    pub client_request_id: Option<String>,
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// The ids of the request being answered (empty outside a request).
pub fn current_request() -> RequestContext {
    REQUEST.try_with(Clone::clone).unwrap_or_default()
}

/// Gives every answer `request-id` and echoes `client-request-id`, as Graph does.
pub async fn request_ids(mut req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let client = req.headers().get("client-request-id").cloned();
    req.extensions_mut().insert(RequestId(id.clone()));
    let context = RequestContext { request_id: id.clone(), client_request_id: client.as_ref().and_then(|c| c.to_str().ok()).map(str::to_owned) };
    let mut res = REQUEST.scope(context, next.run(req)).await;
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert("request-id", v.clone());
        headers.insert("x-ms-request-id", v);
    }
    if let Some(c) = client {
        headers.insert("client-request-id", c);
    }
    res
}

/// Error answers that axum made itself (a body it could not read, an unknown route, a wrong
/// method: plain text or nothing) get the service's error shape instead: Azure AD's on the token
/// service, Graph's everywhere else. Clients parse those bodies; they must never meet a bare text.
pub async fn error_bodies(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    let status = res.status();
    let structured = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json") || c.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || structured {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.map(|b| String::from_utf8_lossy(&b).trim().to_owned()).unwrap_or_default();
    let (code, default) = match status {
        StatusCode::NOT_FOUND => ("ResourceNotFound", format!("No resource at '{path}'.")),
        StatusCode::METHOD_NOT_ALLOWED => ("MethodNotAllowed", format!("The method is not allowed on '{path}'.")),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("UnsupportedMediaType", "The body must be JSON (Content-Type: application/json).".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => ("RequestTooLarge", "The request body is too large.".to_owned()),
        s if s.is_client_error() => ("BadRequest", "The request is not valid.".to_owned()),
        _ => ("InternalServerError", "The service failed to answer.".to_owned()),
    };
    let message = if text.is_empty() { default } else { text };
    let mut fixed = if path.contains("/oauth2/") {
        crate::aad::aad_error(status, "invalid_request", 9002313, &format!("Invalid request. Request is malformed or invalid: {message}"))
    } else {
        graph_error(status, code, &message, "")
    };
    for (name, value) in parts.headers.iter().filter(|(n, _)| *n == axum::http::header::ALLOW) {
        fixed.headers_mut().insert(name, value.clone());
    }
    fixed
}

/// Graph's error shape; `request_id` may be empty (the current request's is used).
pub fn graph_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    (status, axum::Json(graph_error_body(code, message, request_id))).into_response()
}

/// The body of [`graph_error`], for answers that add members to it.
pub fn graph_error_body(code: &str, message: &str, request_id: &str) -> Value {
    let context = REQUEST.try_with(Clone::clone).unwrap_or_default();
    let request_id = if request_id.is_empty() { context.request_id.as_str() } else { request_id };
    let mut inner = json!({ "request-id": request_id, "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true) });
    if let Some(c) = context.client_request_id {
        inner["client-request-id"] = json!(c);
    }
    json!({ "error": { "code": code, "message": message, "innerError": inner } })
}

/// The caller, from a verified token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub claims: Value,
    pub tenant_id: String,
    /// The user's object id (delegated) or the service principal's / app's (application).
    pub object_id: String,
    pub app_id: String,
    pub is_app: bool,
}

impl Caller {
    pub fn has_role(&self, role: &str) -> bool {
        self.claims["roles"].as_array().is_some_and(|r| r.iter().any(|v| v == role))
    }
    /// A delegated permission in the token's `scp` (space-separated, compared ignoring case).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims["scp"].as_str().is_some_and(|s| s.split_whitespace().any(|x| x.eq_ignore_ascii_case(scope)))
    }
    pub fn has_wid(&self, wid: &str) -> bool {
        self.claims["wids"].as_array().is_some_and(|r| r.iter().any(|v| v == wid))
    }
    pub fn upn(&self) -> String {
        self.claims["upn"].as_str().unwrap_or_default().to_owned()
    }
}

/// Checks the bearer token for `audience`; a 401 with `WWW-Authenticate` otherwise.
pub fn authenticate(state: &Shared, headers: &HeaderMap, audience: &str, request_id: &str) -> Result<Caller, Response> {
    let unauthorized = |message: &str| {
        let mut res = graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message, request_id);
        let challenge =
            format!("Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"", state.base_url);
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            res.headers_mut().insert("WWW-Authenticate", v);
        }
        res
    };
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized("Access token is empty."));
    };
    let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) else {
        return Err(unauthorized("The Authorization header must be 'Bearer <token>'."));
    };
    let claims = state.issuer.verify(token.trim(), audience).map_err(|why| unauthorized(&why))?;
    let tenant_id = claims["tid"].as_str().unwrap_or_default().to_owned();
    if !state.lock().data.tenants.contains_key(&tenant_id) {
        return Err(unauthorized("the token's tenant is unknown"));
    }
    Ok(Caller {
        object_id: claims["oid"].as_str().unwrap_or_default().to_owned(),
        app_id: claims["appid"].as_str().or(claims["azp"].as_str()).unwrap_or_default().to_owned(),
        is_app: claims["idtyp"] == "app",
        tenant_id,
        claims,
    })
}

pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
