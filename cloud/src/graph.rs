//! The Microsoft Graph subset: applications and service principals (onboarding), organization,
//! me and memberOf, `deviceManagement/managedDevices` (list with `$filter`/`$top`/`$select` and
//! paging, get, `triggerConfigurationManagerAction`) and JSON `$batch`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use serde_json::{json, Value};

use crate::devices;
use crate::model::{App, Device, Notification, Secret, ServicePrincipal};
use crate::seed::{
    sha256_hex, GLOBAL_ADMINISTRATOR, INITIATE_CONFIGMGR_ACTION, MANAGED_DEVICES_PRIVILEGED, MANAGED_DEVICES_READ, MANAGED_DEVICES_READ_WRITE,
    READ_MANAGED_DEVICES,
};
use crate::server::{authenticate, graph_error, now_iso, now_ms, AppState, Caller, RequestId, GRAPH_AUDIENCE};

pub const MAX_BATCH: usize = 20;
/// Intune's page size when `$top` is not given.
const DEFAULT_TOP: usize = 1000;
const MAX_TOP: usize = 1000;
pub const PRIVILEGED_OPERATIONS: &str = MANAGED_DEVICES_PRIVILEGED;
pub const SUPPORTED_ACTIONS: [&str; 3] = ["refreshMachinePolicy", "refreshUserPolicy", "appEvaluation"];
const OTHER_ACTIONS: [&str; 4] = ["wakeUpClient", "quickScan", "fullScan", "windowsDefenderUpdateSignatures"];

pub fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for v in ["/v1.0", "/beta"] {
        r = r
            .route(&format!("{v}/applications"), get(list_applications).post(create_application))
            .route(&format!("{v}/applications/{{id}}"), get(get_application).patch(update_application))
            .route(&format!("{v}/applications/{{id}}/addPassword"), post(add_password))
            .route(&format!("{v}/servicePrincipals"), get(list_service_principals).post(create_service_principal))
            .route(&format!("{v}/organization"), get(organization))
            .route(&format!("{v}/me"), get(me))
            .route(&format!("{v}/me/memberOf"), get(member_of))
            .route(&format!("{v}/deviceManagement/managedDevices"), get(list_devices))
            .route(&format!("{v}/deviceManagement/managedDevices/{{id}}"), get(get_device))
            .route(&format!("{v}/deviceManagement/managedDevices/{{id}}/triggerConfigurationManagerAction"), post(trigger))
            .route(&format!("{v}/$batch"), post(batch));
    }
    r
}

fn auth(state: &AppState, headers: &HeaderMap, rid: &str) -> Result<Caller, Response> {
    authenticate(state, headers, GRAPH_AUDIENCE, rid)
}

fn forbidden(rid: &str, message: &str) -> Response {
    graph_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied", message, rid)
}

fn collection(context: &str, base: &str, value: Vec<Value>) -> Response {
    Json(json!({ "@odata.context": format!("{base}/v1.0/$metadata#{context}"), "value": value })).into_response()
}

macro_rules! try_r {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

fn may_write_applications(c: &Caller, rid: &str) -> Result<(), Response> {
    if (c.is_app && c.has_role("Application.ReadWrite.All")) || (!c.is_app && c.has_wid(GLOBAL_ADMINISTRATOR)) {
        return Ok(());
    }
    Err(forbidden(
        rid,
        "Insufficient privileges to complete the operation. Creating an application needs the Global Administrator directory role (or the Application.ReadWrite.All application permission).",
    ))
}

fn app_json(a: &App) -> Value {
    json!({
        "id": a.id, "appId": a.app_id, "displayName": a.display_name, "identifierUris": a.identifier_uris,
        "signInAudience": "AzureADMyOrg", "createdDateTime": a.created_date_time, "publisherDomain": Value::Null,
        "passwordCredentials": a.secrets.iter().map(|s| json!({ "keyId": s.key_id, "displayName": s.display_name, "hint": s.hint,
            "endDateTime": s.end_date_time, "secretText": Value::Null })).collect::<Vec<_>>(),
        "keyCredentials": a.key_credentials.iter().map(crate::certificates::KeyCredential::to_graph).collect::<Vec<_>>(),
    })
}

async fn list_applications(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    let filter = match q.get("$filter").map(|f| application_filter(f)).transpose() {
        Ok(f) => f,
        Err(message) => return graph_error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", &message, &rid),
    };
    let inner = state.lock();
    let apps = inner
        .data
        .apps
        .values()
        .filter(|a| a.tenant_id == c.tenant_id)
        .filter(|a| match &filter {
            None => true,
            Some(ApplicationFilter::IdentifierUri(uri)) => a.identifier_uris.iter().any(|u| u.eq_ignore_ascii_case(uri)),
            Some(ApplicationFilter::AppId(id)) => a.app_id.eq_ignore_ascii_case(id),
        })
        .map(app_json)
        .collect();
    collection("applications", &state.base_url, apps)
}

/// The `$filter`s on applications that onboarding uses, as Azure AD reads them:
/// `identifierUris/any(x:x eq 'api://...')` and `appId eq '...'`. Azure AD refuses a filter it
/// does not support with 400, and so does this.
enum ApplicationFilter {
    IdentifierUri(String),
    AppId(String),
}

fn application_filter(filter: &str) -> Result<ApplicationFilter, String> {
    let literal = |text: &str| -> Option<String> {
        let inner = text.trim().strip_prefix('\'')?.strip_suffix('\'')?;
        Some(inner.replace("''", "'"))
    };
    let f = filter.trim();
    if let Some(rest) = f.strip_prefix("identifierUris/any(") {
        let body = rest.strip_suffix(')').unwrap_or_default();
        if let Some((var, condition)) = body.split_once(':') {
            if let Some(value) = condition.trim().strip_prefix(var.trim()).and_then(|c| c.trim_start().strip_prefix("eq ")).and_then(literal) {
                return Ok(ApplicationFilter::IdentifierUri(value));
            }
        }
    } else if let Some(value) = f.strip_prefix("appId eq ").and_then(literal) {
        return Ok(ApplicationFilter::AppId(value));
    }
    Err(format!("Unsupported or invalid query filter clause specified for property 'applications': {filter}"))
}

async fn create_application(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    try_r!(may_write_applications(&c, &rid));
    let Some(name) = body.get("displayName").and_then(Value::as_str).filter(|n| !n.trim().is_empty()) else {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "Property displayName is required.", &rid);
    };
    let uris: Vec<String> =
        body.get("identifierUris").and_then(Value::as_array).map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect()).unwrap_or_default();
    let mut inner = state.lock();
    // Azure AD keeps identifier URIs unique within a tenant.
    if let Some(taken) = uris.iter().find(|u| inner.data.apps.values().any(|a| a.tenant_id == c.tenant_id && a.identifier_uris.contains(u))) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            &format!("Another object with the same value for property identifierUris already exists: {taken}"),
            &rid,
        );
    }
    let app = App {
        id: uuid::Uuid::new_v4().to_string(),
        app_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: c.tenant_id.clone(),
        display_name: name.to_owned(),
        identifier_uris: uris,
        secrets: Vec::new(),
        key_credentials: Vec::new(),
        granted_roles: Vec::new(),
        public_client: false,
        consented_scopes: Vec::new(),
        created_date_time: now_iso(),
    };
    try_r!(inner.mutate(json!({ "op": "putApp", "app": app })));
    let mut out = app_json(&app);
    out["@odata.context"] = json!(format!("{}/v1.0/$metadata#applications/$entity", state.base_url));
    (StatusCode::CREATED, Json(out)).into_response()
}

fn app_not_found(id: &str, rid: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        rid,
    )
}

async fn get_application(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    let inner = state.lock();
    let Some(app) = inner.data.apps.values().find(|a| a.id == id && a.tenant_id == c.tenant_id) else { return app_not_found(&id, &rid) };
    let mut out = app_json(app);
    out["@odata.context"] = json!(format!("{}/v1.0/$metadata#applications/$entity", state.base_url));
    Json(out).into_response()
}

/// `PATCH /applications/{id}`: `displayName`, and `keyCredentials` as Graph takes them: the whole
/// collection, replacing the app's. An entry with a `key` (the certificate, DER base64) is a new
/// certificate; an entry naming an existing `keyId` without a key keeps that one. 204.
async fn update_application(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    try_r!(may_write_applications(&c, &rid));
    let bad = |m: &str| graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", m, &rid);
    let mut inner = state.lock();
    let Some(mut app) = inner.data.apps.values().find(|a| a.id == id && a.tenant_id == c.tenant_id).cloned() else { return app_not_found(&id, &rid) };
    if let Some(name) = body.get("displayName").and_then(Value::as_str) {
        app.display_name = name.to_owned();
    }
    if let Some(keys) = body.get("keyCredentials") {
        let Some(list) = keys.as_array() else { return bad("Invalid value specified for property 'keyCredentials' of resource 'Application'.") };
        let mut updated = Vec::new();
        for entry in list {
            let key = entry["key"].as_str().filter(|k| !k.is_empty());
            match (key, entry["keyId"].as_str()) {
                (None, Some(key_id)) => match app.key_credentials.iter().find(|k| k.key_id.eq_ignore_ascii_case(key_id)) {
                    Some(existing) => updated.push(existing.clone()),
                    None => return bad(&format!("Key credential '{key_id}' does not exist on the application; give its key to add it.")),
                },
                (None, None) => return bad("A key credential needs its key (the certificate, base64) or the keyId of an existing one."),
                (Some(key), _) => {
                    if entry["type"].as_str().is_some_and(|t| t != "AsymmetricX509Cert") || entry["usage"].as_str().is_some_and(|u| u != "Verify") {
                        return bad("Only key credentials of type 'AsymmetricX509Cert' with usage 'Verify' can sign in an application.");
                    }
                    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(key) else { return bad("Key credential key is not base64.") };
                    let credential = crate::certificates::key_credential(
                        &der,
                        entry["displayName"].as_str().unwrap_or(""),
                        entry["startDateTime"].as_str(),
                        entry["endDateTime"].as_str(),
                    );
                    match credential {
                        Ok(mut k) => {
                            if let Some(key_id) = entry["keyId"].as_str().filter(|k| uuid::Uuid::parse_str(k).is_ok()) {
                                k.key_id = key_id.to_owned();
                            }
                            if updated.iter().any(|x: &crate::certificates::KeyCredential| x.thumbprint == k.thumbprint) {
                                return bad("The same certificate is given twice in keyCredentials.");
                            }
                            updated.push(k)
                        }
                        Err(e) => return bad(&format!("Invalid key credential: {e}")),
                    }
                }
            }
        }
        app.key_credentials = updated;
    }
    try_r!(inner.mutate(json!({ "op": "putApp", "app": app })));
    StatusCode::NO_CONTENT.into_response()
}

async fn add_password(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    try_r!(may_write_applications(&c, &rid));
    let body = body.map(|Json(b)| b).unwrap_or(Value::Null);
    let mut inner = state.lock();
    let Some(mut app) = inner.data.apps.values().find(|a| a.id == id && a.tenant_id == c.tenant_id).cloned() else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
            &rid,
        );
    };
    let bytes: [u8; 30] = rand::random();
    let secret_text = format!("{}~{}", &uuid::Uuid::new_v4().simple().to_string()[..3], base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let end = body["passwordCredential"]["endDateTime"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| (chrono::Utc::now() + chrono::Duration::days(730)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let secret = Secret {
        key_id: uuid::Uuid::new_v4().to_string(),
        display_name: body["passwordCredential"]["displayName"].as_str().unwrap_or("").to_owned(),
        hint: secret_text.chars().take(3).collect(),
        sha256: sha256_hex(&secret_text),
        end_date_time: end.clone(),
    };
    app.secrets.push(secret.clone());
    try_r!(inner.mutate(json!({ "op": "putApp", "app": app })));
    Json(json!({
        "@odata.context": format!("{}/v1.0/$metadata#microsoft.graph.passwordCredential", state.base_url),
        "customKeyIdentifier": Value::Null, "displayName": secret.display_name, "endDateTime": end, "hint": secret.hint,
        "keyId": secret.key_id, "secretText": secret_text, "startDateTime": now_iso(),
    }))
    .into_response()
}

async fn list_service_principals(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    let inner = state.lock();
    let wanted = q.get("$filter").and_then(|f| f.split('\'').nth(1)).map(str::to_owned);
    let list = inner
        .data
        .service_principals
        .values()
        .filter(|sp| sp.tenant_id == c.tenant_id && wanted.as_ref().is_none_or(|w| &sp.app_id == w))
        .map(|sp| json!({ "id": sp.id, "appId": sp.app_id, "displayName": sp.display_name, "servicePrincipalType": "Application" }))
        .collect();
    collection("servicePrincipals", &state.base_url, list)
}

async fn create_service_principal(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    try_r!(may_write_applications(&c, &rid));
    let app_id = body.get("appId").and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut inner = state.lock();
    let Some(app) = inner.data.apps.get(&app_id).filter(|a| a.tenant_id == c.tenant_id).cloned() else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            &format!("The appId '{app_id}' of the service principal does not reference a valid application object."),
            &rid,
        );
    };
    if let Some(existing) = inner.data.service_principals.values().find(|sp| sp.app_id == app_id) {
        let existing = existing.clone();
        return graph_error(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            &format!("A service principal for app {app_id} already exists: {}", existing.id),
            &rid,
        );
    }
    let sp = ServicePrincipal { id: uuid::Uuid::new_v4().to_string(), app_id: app_id.clone(), tenant_id: c.tenant_id.clone(), display_name: app.display_name };
    try_r!(inner.mutate(json!({ "op": "putServicePrincipal", "servicePrincipal": sp })));
    let body = json!({ "@odata.context": format!("{}/v1.0/$metadata#servicePrincipals/$entity", state.base_url),
        "id": sp.id, "appId": sp.app_id, "displayName": sp.display_name, "servicePrincipalType": "Application" });
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn organization(State(state): State<AppState>, Extension(RequestId(rid)): Extension<RequestId>, headers: HeaderMap) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    let inner = state.lock();
    let Some(t) = inner.data.tenants.get(&c.tenant_id) else { return graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "no such tenant", &rid) };
    let domains: Vec<Value> = t
        .domains
        .iter()
        .enumerate()
        .map(|(i, d)| json!({ "name": d, "isDefault": i == 0, "isInitial": i == 0, "type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline" }))
        .collect();
    collection("organization", &state.base_url, vec![json!({ "id": t.id, "displayName": t.display_name, "verifiedDomains": domains })])
}

async fn me(State(state): State<AppState>, Extension(RequestId(rid)): Extension<RequestId>, headers: HeaderMap) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    if c.is_app {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "/me request is only valid with delegated authentication flow.", &rid);
    }
    let inner = state.lock();
    let Some(u) = inner.data.users.get(&c.object_id) else { return graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "no such user", &rid) };
    Json(json!({ "@odata.context": format!("{}/v1.0/$metadata#users/$entity", state.base_url), "id": u.id, "userPrincipalName": u.user_principal_name,
        "displayName": u.display_name, "mail": u.user_principal_name }))
    .into_response()
}

async fn member_of(State(state): State<AppState>, Extension(RequestId(rid)): Extension<RequestId>, headers: HeaderMap) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    if c.is_app {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "/me request is only valid with delegated authentication flow.", &rid);
    }
    let inner = state.lock();
    let roles = inner.data.users.get(&c.object_id).map(|u| u.directory_roles.clone()).unwrap_or_default();
    let list = roles
        .iter()
        .map(|r| {
            let name = if r == GLOBAL_ADMINISTRATOR { "Global Administrator" } else { "Directory role" };
            json!({ "@odata.type": "#microsoft.graph.directoryRole", "id": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, r.as_bytes()).to_string(), "roleTemplateId": r, "displayName": name })
        })
        .collect();
    collection("directoryObjects", &state.base_url, list)
}

/// Intune's error answer (the device endpoints): Graph's envelope, a code such as `BadRequest`,
/// `Forbidden` or `ResourceNotFound`, and in `error.message` a JSON *string* in Intune's own shape
/// (`{"_version":3,"Message":"… - Operation ID (for customer support): … - Activity ID: … - Url: …",
/// "CustomApiErrorPhrase":"","RetryAfter":null,"ErrorSourceService":"","HttpHeaders":"{}"}`,
/// indented, CRLF line ends), as Intune's answers carry it.
pub fn intune_error(status: StatusCode, code: &str, message: &str, rid: &str) -> Response {
    let context = crate::server::current_request();
    let activity = if rid.is_empty() { context.request_id.clone() } else { rid.to_owned() };
    let inner = json!({
        "_version": 3,
        "Message": format!(
            "{message} - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: {activity} - Url: https://fef.local.manage.microsoft.com/DeviceFE/StatelessDeviceFEService/deviceManagement/managedDevices"
        ),
        "CustomApiErrorPhrase": "",
        "RetryAfter": Value::Null,
        "ErrorSourceService": "",
        "HttpHeaders": "{}",
    });
    let text = serde_json::to_string_pretty(&inner).unwrap_or_default().replace('\n', "\r\n");
    graph_error(status, code, &text, rid)
}

fn intune_forbidden(rid: &str, message: &str) -> Response {
    intune_error(StatusCode::FORBIDDEN, "Forbidden", message, rid)
}

/// Intune's 403 for a token without one of the permissions an endpoint takes (delegated `scp`
/// or application `roles`).
fn missing_scope(rid: &str, needed: &[&str]) -> Response {
    intune_forbidden(
        rid,
        &format!("Application is not authorized to perform this operation. Application must have one of the following scopes: {}", needed.join(", ")),
    )
}

/// Listing and reading managed devices, as Microsoft Graph's Intune reference says: delegated
/// `DeviceManagementManagedDevices.Read.All` or `.ReadWrite.All` in `scp`, plus an Intune role
/// that reads devices (Managed devices/Read, or Initiate Configuration Manager action, or a
/// Global Administrator); application: one of those two roles. `PrivilegedOperations.All` alone
/// does not list.
fn may_read_devices(c: &Caller, rid: &str, state: &AppState) -> Result<(), Response> {
    let needed = [MANAGED_DEVICES_READ, MANAGED_DEVICES_READ_WRITE];
    let scoped = if c.is_app { needed.iter().any(|r| c.has_role(r)) } else { needed.iter().any(|s| c.has_scope(s)) };
    if !scoped {
        return Err(missing_scope(rid, &needed));
    }
    if c.is_app || c.has_wid(GLOBAL_ADMINISTRATOR) || user_has(state, c, READ_MANAGED_DEVICES) || user_has(state, c, INITIATE_CONFIGMGR_ACTION) {
        return Ok(());
    }
    Err(intune_forbidden(
        rid,
        &format!("User is not authorized to perform this operation: reading managed devices needs the Intune permission '{READ_MANAGED_DEVICES}'."),
    ))
}

fn user_has(state: &AppState, c: &Caller, permission: &str) -> bool {
    state.lock().data.users.get(&c.object_id).is_some_and(|u| u.intune_permissions.iter().any(|p| p == permission))
}

/// `/v1.0` or `/beta`, as the request asked.
fn version_of(uri: &axum::http::Uri) -> &'static str {
    if uri.path().starts_with("/v1.0") {
        "/v1.0"
    } else {
        "/beta"
    }
}

async fn list_devices(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    try_r!(may_read_devices(&c, &rid, &state));
    let filter = match q.get("$filter").map(|f| devices::Filter::parse(f)).transpose() {
        Ok(f) => f.unwrap_or(devices::Filter::All),
        Err(e) => return intune_error(StatusCode::BAD_REQUEST, "BadRequest", &e, &rid),
    };
    let top = match q.get("$top").map(|t| t.parse::<usize>()) {
        None => DEFAULT_TOP,
        Some(Ok(n)) if n >= 1 => n.min(MAX_TOP),
        Some(_) => {
            return intune_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("Invalid $top value '{}': a positive integer is expected (at most {MAX_TOP} per page).", q["$top"]),
                &rid,
            )
        }
    };
    let after = match q.get("$skiptoken").map(|t| devices::Cursor::decode(t)) {
        None => None,
        Some(Some(cursor)) => Some(cursor),
        Some(None) => return intune_error(StatusCode::BAD_REQUEST, "BadRequest", "The $skiptoken is not valid: use the @odata.nextLink as given.", &rid),
    };
    let version = version_of(&uri);
    let select: Option<Vec<String>> = q.get("$select").map(|s| s.split(',').map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()).collect());
    let inner = state.lock();
    let (found, next) = devices::page(&inner.data, &c.tenant_id, &filter, after.as_ref(), top, now_ms());
    let page: Vec<Value> = found
        .into_iter()
        .map(|d| {
            let full = devices::managed_device(d, &inner.data.notifications_of(&d.managed_device_id));
            match &select {
                Some(fields) => devices::select(full, fields),
                None => full,
            }
        })
        .collect();
    drop(inner);
    // Intune's answers carry `@odata.count` unasked; here it counts this page's devices.
    let mut body = json!({
        "@odata.context": format!("{}{version}/$metadata#deviceManagement/managedDevices", state.base_url),
        "@odata.count": page.len(),
        "value": page,
    });
    if let Some(cursor) = next {
        let mut link = format!("{}{version}/deviceManagement/managedDevices?", state.base_url);
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        pairs.append_pair("$top", &top.to_string());
        for key in ["$filter", "$select"] {
            if let Some(v) = q.get(key) {
                pairs.append_pair(key, v);
            }
        }
        pairs.append_pair("$skiptoken", &cursor.encode());
        link.push_str(&pairs.finish());
        body["@odata.nextLink"] = json!(link);
    }
    Json(body).into_response()
}

/// A device of the caller's tenant, visible in Graph: (hierarchy, device).
fn find_device(state: &AppState, tenant: &str, id: &str) -> Option<(String, Device)> {
    let inner = state.lock();
    let (hierarchy, sms_id) = inner.data.device_index.get(id)?.clone();
    let o = inner.data.onboardings.get(&hierarchy).filter(|o| o.tenant_id == tenant)?;
    let d = inner.data.devices.get(&o.hierarchy_id)?.get(&sms_id).filter(|d| d.visible_after_ms <= now_ms())?;
    Some((hierarchy, d.clone()))
}

fn device_not_found(rid: &str, id: &str) -> Response {
    intune_error(StatusCode::NOT_FOUND, "ResourceNotFound", &format!("The managed device {id} was not found."), rid)
}

async fn get_device(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    try_r!(may_read_devices(&c, &rid, &state));
    let Some((_, d)) = find_device(&state, &c.tenant_id, &id) else { return device_not_found(&rid, &id) };
    let mut body = devices::managed_device(&d, &state.lock().data.notifications_of(&d.managed_device_id));
    if let Some(fields) = q.get("$select") {
        body = devices::select(body, &fields.split(',').map(|f| f.trim().to_owned()).collect::<Vec<_>>());
    }
    body["@odata.context"] = json!(format!("{}{}/$metadata#deviceManagement/managedDevices/$entity", state.base_url, version_of(&uri)));
    Json(body).into_response()
}

/// Who queued an action, as the site's notification shows it.
pub fn initiator(user_id: &str, upn: &str, app_id: Option<&str>) -> Value {
    json!({ "aadUserId": user_id, "userPrincipalName": upn, "appId": app_id })
}

/// Queues a ConfigMgr action for a device (journaled, then the site's long-poll is woken).
pub fn queue_action(state: &AppState, hierarchy: &str, tenant: &str, d: &Device, action: &str, initiated_by: Value) -> Result<(), Response> {
    let uploaded = devices::Uploaded::of(d);
    let now = now_iso();
    let n = Notification {
        notification_id: uuid::Uuid::new_v4().to_string(),
        hierarchy_id: hierarchy.to_owned(),
        tenant_id: tenant.to_owned(),
        managed_device_id: d.managed_device_id.clone(),
        sms_id: uploaded.sms_id.as_deref().unwrap_or_default().to_owned(),
        device_name: uploaded.name.as_deref().unwrap_or_default().to_owned(),
        action: action.to_owned(),
        initiated_by,
        created_date_time: now.clone(),
        last_updated_date_time: now,
        delivery_count: 0,
        state: "pending".into(),
        lease_until_ms: 0,
        reason: None,
        task_guid: None,
    };
    state.lock().mutate(json!({ "op": "putNotification", "notification": n }))?;
    state.counters.actions_queued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    state.notify.notify_waiters();
    Ok(())
}

async fn trigger(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let c = try_r!(auth(&state, &headers, &rid));
    // Delegated and application alike: DeviceManagementManagedDevices.PrivilegedOperations.All
    // (Graph's reference for triggerConfigurationManagerAction); a user also needs the Intune role
    // permission.
    let scoped = if c.is_app { c.has_role(PRIVILEGED_OPERATIONS) } else { c.has_scope(PRIVILEGED_OPERATIONS) };
    if !scoped {
        return missing_scope(&rid, &[PRIVILEGED_OPERATIONS]);
    }
    if !c.is_app && !user_has(&state, &c, INITIATE_CONFIGMGR_ACTION) {
        return intune_forbidden(
            &rid,
            &format!("User is not authorized to perform this operation: a Configuration Manager action needs the Intune permission '{INITIATE_CONFIGMGR_ACTION}' (Remote tasks > Initiate Configuration Manager action)."),
        );
    }
    let action = body.as_ref().and_then(|Json(b)| b["configurationManagerAction"]["action"].as_str()).unwrap_or("").to_owned();
    if let Err(message) = check_action(&action) {
        return intune_error(StatusCode::BAD_REQUEST, "BadRequest", &message, &rid);
    }
    let Some((hierarchy, d)) = find_device(&state, &c.tenant_id, &id) else { return device_not_found(&rid, &id) };
    let by = initiator(&c.object_id, &c.upn(), c.is_app.then_some(c.app_id.as_str()));
    try_r!(queue_action(&state, &hierarchy, &c.tenant_id, &d, &action, by));
    StatusCode::NO_CONTENT.into_response()
}

/// Only the three actions ConfigMgr tenant attach supports; the message names them.
pub fn check_action(action: &str) -> Result<(), String> {
    if SUPPORTED_ACTIONS.contains(&action) {
        return Ok(());
    }
    let what = if OTHER_ACTIONS.contains(&action) {
        "is not available for Configuration Manager (tenant attach) devices"
    } else {
        "is not a valid configurationManagerActionType"
    };
    Err(format!("The action '{action}' {what}. Supported actions: refreshMachinePolicy, refreshUserPolicy, appEvaluation."))
}

/// A step's header, its name matched without regard to case.
fn step_header<'a>(step: &'a Value, name: &str) -> Option<&'a str> {
    step.get("headers")?.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
}

/// JSON batching as Graph does it: at most 20 steps; ids unique without regard to case; every
/// `dependsOn` names an earlier step of the batch, and a step with a body says its Content-Type
/// (else the whole batch is a 400). Each step runs through the Graph routes with the batch's
/// headers; a step whose `dependsOn` step failed answers 424. Step rules of the fault injection
/// may throttle or fail steps. The answers come back in no particular order, step headers with
/// Graph's capitalised names.
async fn batch(
    State(state): State<AppState>,
    Extension(RequestId(rid)): Extension<RequestId>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    try_r!(auth(&state, &headers, &rid));
    let bad = |message: &str| graph_error(StatusCode::BAD_REQUEST, "BadRequest", message, &rid);
    let Some(requests) = body.get("requests").and_then(Value::as_array) else {
        return bad("The batch must have a 'requests' array.");
    };
    if requests.len() > MAX_BATCH {
        return bad(&format!("Number of batch request steps exceeds the maximum of {MAX_BATCH}."));
    }
    let mut seen: Vec<String> = Vec::new();
    for r in requests {
        let id = r.get("id").and_then(Value::as_str).unwrap_or("");
        if id.is_empty() || r.get("method").and_then(Value::as_str).is_none() || r.get("url").and_then(Value::as_str).is_none() {
            return bad("Every batch step needs a string 'id', a 'method' and a relative 'url'.");
        }
        if seen.iter().any(|s| s.eq_ignore_ascii_case(id)) {
            return bad(&format!("Batch request id '{id}' is used more than once; ids must be unique (without regard to case)."));
        }
        if let Some(deps) = r.get("dependsOn") {
            let Some(list) = deps.as_array().filter(|l| l.iter().all(Value::is_string)) else {
                return bad(&format!("Request '{id}': dependsOn must be an array of request ids."));
            };
            if let Some(missing) = list.iter().filter_map(Value::as_str).find(|d| !seen.iter().any(|s| s.eq_ignore_ascii_case(d))) {
                return bad(&format!("Request '{id}' depends on '{missing}', which is not an earlier request of this batch."));
            }
        }
        if r.get("body").is_some_and(|b| !b.is_null()) && step_header(r, "content-type").is_none() {
            return bad(&format!("Write request id : {id} does not contain Content-Type header or body."));
        }
        seen.push(id.to_owned());
    }
    let Some(router) = state.graph_router.get().cloned() else {
        return graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "batching is not ready", &rid);
    };
    let version = version_of(&uri);
    let rules: Vec<crate::faults::Faults> = state.lock().faults.iter().filter(|f| f.targets_steps()).cloned().collect();
    let (mut responses, faulted) = crate::server::GROUP_COMMIT.scope(true, run_steps(&state, router, version, requests.clone(), headers, &rules)).await;
    // Every step's change is durable before the batch answers.
    if let Some(p) = state.lock().persistence.as_mut() {
        if let Err(e) = p.sync() {
            return graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", &format!("cannot persist the batch: {e}"), &rid);
        }
    }
    // "Responses might be returned in a different order" than the requests: clients match them by id.
    {
        use rand::seq::SliceRandom;
        responses.shuffle(&mut rand::thread_rng());
    }
    let status = faulted.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    (status, Json(json!({ "responses": responses }))).into_response()
}

/// Graph's capitalised names for the step headers it passes on (`request-id` stays as Graph writes it).
const STEP_HEADERS: [(&str, &str); 5] = [
    ("content-type", "Content-Type"),
    ("retry-after", "Retry-After"),
    ("location", "Location"),
    ("cache-control", "Cache-Control"),
    ("request-id", "request-id"),
];

/// Runs the steps in order; the answers, and the batch status a step rule asks for when it hit.
async fn run_steps(
    state: &AppState,
    router: axum::Router,
    version: &str,
    requests: Vec<Value>,
    headers: HeaderMap,
    rules: &[crate::faults::Faults],
) -> (Vec<Value>, Option<u16>) {
    use std::sync::atomic::Ordering;
    use tower::ServiceExt;
    let mut responses = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut batch_status = None;
    for r in &requests {
        let id = r["id"].as_str().unwrap_or_default().to_owned();
        let depends: Vec<&str> = r.get("dependsOn").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        if let Some(dep) = depends.iter().find(|d| failed.iter().any(|f| f.eq_ignore_ascii_case(d))) {
            failed.push(id.clone());
            responses.push(json!({ "id": id, "status": 424, "headers": { "Content-Type": "application/json" },
                "body": crate::server::graph_error_body("FailedDependency", &format!("The step it depends on ({dep}) failed."), "") }));
            continue;
        }
        let method = r.get("method").and_then(Value::as_str).and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok()).unwrap_or(Method::GET);
        let url = r.get("url").and_then(Value::as_str).unwrap_or("/");
        let path = if url.starts_with("/v1.0/") || url.starts_with("/beta/") { url.to_owned() } else { format!("{version}/{}", url.trim_start_matches('/')) };
        state.counters.batch_steps.fetch_add(1, Ordering::Relaxed);
        if let Some(rule) = rules.iter().find(|f| f.hits_step(path.split('?').next().unwrap_or(&path))) {
            failed.push(id.clone());
            batch_status = batch_status.or(rule.batch_status);
            let step = if rule.mode.as_deref() == Some("throttle") {
                state.counters.steps_throttled.fetch_add(1, Ordering::Relaxed);
                json!({ "id": id, "status": 429,
                    "headers": { "Retry-After": crate::faults::retry_after_text(rule.retry_after_seconds), "Content-Type": "application/json" },
                    "body": crate::server::graph_error_body("TooManyRequests", "Too many requests (injected fault). Retry after the time in Retry-After.", "") })
            } else {
                state.counters.step_errors.fetch_add(1, Ordering::Relaxed);
                let status = rule.status.unwrap_or(503);
                json!({ "id": id, "status": status, "headers": { "Content-Type": "application/json" },
                    "body": crate::server::graph_error_body("ServiceUnavailable", "The service is temporarily unavailable (injected fault).", "") })
            };
            responses.push(step);
            continue;
        }
        let mut builder = axum::http::Request::builder().method(method).uri(path);
        for name in ["authorization", "client-request-id"] {
            if let Some(v) = headers.get(name) {
                builder = builder.header(name, v);
            }
        }
        for (k, v) in r.get("headers").and_then(Value::as_object).into_iter().flatten() {
            if let Some(v) = v.as_str() {
                builder = builder.header(k.as_str(), v);
            }
        }
        let sub_body = match r.get("body") {
            Some(b) if !b.is_null() => axum::body::Body::from(b.to_string()),
            _ => axum::body::Body::empty(),
        };
        let Ok(request) = builder.body(sub_body) else {
            failed.push(id.clone());
            responses.push(json!({ "id": id, "status": 400, "headers": { "Content-Type": "application/json" },
                "body": crate::server::graph_error_body("BadRequest", "The batch step is not a valid request (method, url or headers).", "") }));
            continue;
        };
        let answer = match router.clone().oneshot(request).await {
            Ok(a) => a,
            Err(e) => match e {},
        };
        let status = answer.status().as_u16();
        if status >= 400 {
            failed.push(id.clone());
        }
        let mut out_headers = serde_json::Map::new();
        for (name, shown) in STEP_HEADERS {
            if let Some(v) = answer.headers().get(name).and_then(|v| v.to_str().ok()) {
                out_headers.insert(shown.to_owned(), json!(v));
            }
        }
        let bytes = axum::body::to_bytes(answer.into_body(), 64 * 1024 * 1024).await.unwrap_or_default();
        let body: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        let mut step = json!({ "id": id, "status": status, "headers": out_headers });
        if !body.is_null() {
            step["body"] = body;
        }
        responses.push(step);
    }
    (responses, batch_status)
}
