//! The shared server state, the mutations that change it (journaled, replayed on start), request
//! ids, bearer-token checks, Graph-shaped errors and fault injection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::extract::{Request, State};
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

/// A refresh token's grant.
#[derive(Clone, Debug)]
pub struct RefreshGrant {
    pub user_id: String,
    pub tenant_id: String,
    pub client_id: String,
}

/// Fault injection, switched from `/_admin/faults`.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// One of "throttle" (429 with Retry-After), "error" (503/500), "drop" (the connection breaks
    /// in the middle of the answer, after the request was handled), "slow" (answer delayed).
    #[serde(default)]
    pub mode: Option<String>,
    /// Probability 0..1 that a request gets the fault.
    #[serde(default)]
    pub rate: f64,
    /// Only requests whose path starts with this.
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: u64,
    #[serde(default)]
    pub slow_ms: u64,
    /// Answer status for "error" mode (default 503).
    #[serde(default)]
    pub status: Option<u16>,
}

fn default_retry_after() -> u64 {
    1
}

#[derive(Default, Debug)]
pub struct Counters {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub errors: AtomicU64,
    pub dropped: AtomicU64,
    pub slowed: AtomicU64,
}

pub struct Inner {
    pub data: Data,
    pub persistence: Option<Persistence>,
    pub device_codes: HashMap<String, DeviceCode>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub faults: Faults,
    pub ingestion_delay_ms: u64,
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
        self.mutate_with_line(mutation, None)
    }

    /// Journals `line` (an upload batch's mutation, from the bytes that came in) and applies the
    /// batch from those bytes, without building a JSON tree of its devices.
    pub fn mutate_device_post(&mut self, line: Vec<u8>, tenant: &str, now: &str, visible_after_ms: i64, raw: &[u8]) -> Result<(), Response> {
        let deferred = GROUP_COMMIT.try_with(|d| *d).unwrap_or(false);
        if let Some(p) = self.persistence.as_mut() {
            if let Err(e) = p.record_bytes(line, !deferred) {
                return Err(graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", &format!("cannot persist the change: {e}"), ""));
            }
        }
        apply_device_post_raw(&mut self.data, tenant, now, visible_after_ms, raw)
            .map_err(|e| graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", &format!("the batch is not valid: {e}"), ""))?;
        if let Some(p) = self.persistence.as_mut() {
            if p.wants_compaction() {
                let _ = p.compact(&self.data);
            }
        }
        Ok(())
    }

    /// As `mutate`, journaling `line` (the mutation's JSON, already serialised).
    pub fn mutate_with_line(&mut self, mutation: Value, line: Option<Vec<u8>>) -> Result<(), Response> {
        let deferred = GROUP_COMMIT.try_with(|d| *d).unwrap_or(false);
        if let Some(p) = self.persistence.as_mut() {
            let written = match line {
                Some(bytes) => p.record_bytes(bytes, !deferred),
                None => p.record(&mutation, !deferred),
            };
            if let Err(e) = written {
                return Err(graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", &format!("cannot persist the change: {e}"), ""));
            }
        }
        apply(&mut self.data, &mutation);
        if let Some(p) = self.persistence.as_mut() {
            if p.wants_compaction() {
                let _ = p.compact(&self.data);
            }
        }
        Ok(())
    }
}

tokio::task_local! {
    /// Set while a `$batch` runs its steps: their mutations are synced once, before it answers.
    pub static GROUP_COMMIT: bool;
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
        "deleteOnboarding" => {
            let id = m["hierarchyId"].as_str().unwrap_or_default().to_owned();
            data.onboardings.remove(&id);
            data.devices.remove(&id);
            data.device_index.retain(|_, (h, _)| *h != id);
            data.applied_batches.remove(&id);
            data.notifications.retain(|_, n| n.hierarchy_id != id);
        }
        "devicePost" => apply_device_post(data, m),
        "putNotification" => {
            if let Ok(n) = serde_json::from_value::<Notification>(from("notification")) {
                data.notifications.insert(n.notification_id.clone(), n);
            }
        }
        _ => {}
    }
}

/// The managed device id Graph shows: stable for (tenant, hierarchy, SMSID).
pub fn managed_device_id(tenant: &str, hierarchy: &str, sms_id: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{tenant}/{hierarchy}/{}", sms_id.to_ascii_uppercase()).as_bytes()).to_string()
}

fn apply_device_post(data: &mut Data, m: &Value) {
    // Replaying the journal: the body comes back as a parsed tree; the live path skips that.
    let raw = m["body"].to_string();
    let _ = apply_device_post_raw(
        data,
        m["tenantId"].as_str().unwrap_or_default(),
        m["now"].as_str().unwrap_or_default(),
        m["visibleAfterMs"].as_i64().unwrap_or(0),
        raw.as_bytes(),
    );
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
    #[serde(borrow)]
    pub devices: Vec<&'a serde_json::value::RawValue>,
    #[serde(default)]
    pub deletions: Vec<String>,
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

/// Applies an upload batch given as bytes (idempotent by syncId and sequence).
pub fn apply_device_post_raw(data: &mut Data, tenant: &str, now: &str, visible_after_ms: i64, raw: &[u8]) -> Result<(), String> {
    let body: DevicePostBody<'_> = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    let hierarchy = body.hierarchy_id.clone();
    let sync_id = body.sync_id.clone();
    let key = format!("{sync_id}/{}", body.sequence);
    if !data.applied_batches.entry(hierarchy.clone()).or_default().insert(key) {
        return Ok(());
    }
    let full = body.kind == "full";
    let table = data.devices.entry(hierarchy.clone()).or_default();
    for d in &body.devices {
        let Some(sms_id) = sms_id_of(d) else { continue };
        if full {
            data.full_sync_mentions.entry(sync_id.clone()).or_default().insert(sms_id.clone());
        }
        let id = managed_device_id(tenant, &hierarchy, &sms_id);
        data.device_index.insert(id.clone(), (hierarchy.clone(), sms_id.clone()));
        table.insert(sms_id, Device { managed_device_id: id, record: (*d).to_owned(), last_sync_date_time: now.to_owned(), visible_after_ms });
    }
    for gone in &body.deletions {
        if let Some(d) = table.remove(gone) {
            data.device_index.remove(&d.managed_device_id);
        }
    }
    if full && body.is_final {
        let keep = data.full_sync_mentions.remove(&sync_id).unwrap_or_default();
        let index = &mut data.device_index;
        table.retain(|sms_id, d| {
            let kept = keep.contains(sms_id);
            if !kept {
                index.remove(&d.managed_device_id);
            }
            kept
        });
    }
    if body.is_final {
        if let Some(o) = data.onboardings.get_mut(&hierarchy) {
            o.last_sync = Some(json!({ "syncId": sync_id, "kind": body.kind, "completedDateTime": now, "deviceCount": table.len() }));
        }
    }
    Ok(())
}

/// The request id of this request (set by [`request_ids`]).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Gives every answer `request-id` and echoes `client-request-id`, as Graph does.
pub async fn request_ids(mut req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let client = req.headers().get("client-request-id").cloned();
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.run(req).await;
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

/// Graph's error shape.
pub fn graph_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "innerError": {
        "request-id": request_id, "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true) } } });
    (status, axum::Json(body)).into_response()
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
        let challenge = format!(
            "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
            state.base_url
        );
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
        app_id: claims["azp"].as_str().or(claims["appid"].as_str()).unwrap_or_default().to_owned(),
        is_app: claims["idtyp"] == "app",
        tenant_id,
        claims,
    })
}

/// Fault injection for every route but `/_admin`.
pub async fn faults(State(state): State<AppState>, req: Request, next: Next) -> Response {
    state.counters.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_owned();
    let faults = state.lock().faults.clone();
    let hit = match &faults.mode {
        Some(_) if !path.starts_with("/_admin") => {
            faults.path_prefix.as_deref().is_none_or(|p| path.starts_with(p)) && rand::random::<f64>() < faults.rate
        }
        _ => false,
    };
    if !hit {
        return next.run(req).await;
    }
    match faults.mode.as_deref() {
        Some("throttle") => {
            state.counters.throttled.fetch_add(1, Ordering::Relaxed);
            let mut res = graph_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Too many requests (injected fault)", "");
            if let Ok(v) = HeaderValue::from_str(&faults.retry_after_seconds.to_string()) {
                res.headers_mut().insert("Retry-After", v);
            }
            res
        }
        Some("error") => {
            state.counters.errors.fetch_add(1, Ordering::Relaxed);
            let status = faults.status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            graph_error(status, "ServiceUnavailable", "The service is unavailable (injected fault)", "")
        }
        Some("slow") => {
            state.counters.slowed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(std::time::Duration::from_millis(faults.slow_ms)).await;
            next.run(req).await
        }
        Some("drop") => {
            // Handled, then the connection breaks before the answer is complete.
            state.counters.dropped.fetch_add(1, Ordering::Relaxed);
            let res = next.run(req).await;
            let (mut parts, _) = res.into_parts();
            parts.headers.remove("content-length");
            let broken = futures_stream_error();
            Response::from_parts(parts, broken)
        }
        _ => next.run(req).await,
    }
}

/// A body that fails after its first bytes: hyper then aborts the connection mid-answer.
fn futures_stream_error() -> Body {
    let chunks: Vec<Result<&'static [u8], std::io::Error>> =
        vec![Ok(b"{\"partial\":"), Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "injected drop"))];
    Body::from_stream(tokio_stream_iter(chunks))
}

fn tokio_stream_iter(items: Vec<Result<&'static [u8], std::io::Error>>) -> impl futures_core::Stream<Item = Result<&'static [u8], std::io::Error>> {
    struct Iter(std::vec::IntoIter<Result<&'static [u8], std::io::Error>>);
    impl futures_core::Stream for Iter {
        type Item = Result<&'static [u8], std::io::Error>;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(items.into_iter())
}

pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
