//! The Azure AD token service: OpenID configuration, JWKS, instance discovery, and
//! `/oauth2/v2.0/token` (client credentials with a secret or a certificate's client assertion, see
//! `certificates.rs`; device code, refresh token) and `/devicecode`, with
//! Azure AD's error shapes and AADSTS codes.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;

use crate::model::RefreshGrant;
use crate::seed::{sha256_hex, AZURE_CLI_CLIENT, AZURE_CLI_CONSENT, GRAPH_POWERSHELL_CLIENT, GRAPH_POWERSHELL_CONSENT};
use crate::server::{now_ms, AppState, DeviceCode, GRAPH_AUDIENCE};

/// How long a device code stays valid (Azure AD: 15 minutes). The poll interval it advertises is a
/// setting ([`crate::CloudOptions::device_code_interval_seconds`], 5 s by default as Azure AD's).
pub const DEVICE_CODE_LIFETIME: i64 = 900;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/common/discovery/instance", get(instance_discovery))
        .route("/{tenant}/discovery/instance", get(instance_discovery))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(openid_configuration))
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
}

/// The device code grant type as RFC 8628 and Azure AD's reference name it.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The issuer of v1.0 access tokens, which Azure AD issues for Microsoft Graph (and the other
/// resources this cloud serves) whichever endpoint (v1 or v2.0) was asked.
pub fn v1_issuer(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

/// Azure AD's error answer. As Azure AD writes it, the description ends with the trace id (this
/// request's id, also its `x-ms-request-id` header), the correlation id (the caller's
/// `client-request-id` when it sent one, else a new id) and the time, each on its own line
/// (`\r\n`).
pub fn aad_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let context = crate::server::current_request();
    let trace = if context.request_id.is_empty() { uuid::Uuid::new_v4().to_string() } else { context.request_id };
    let correlation = context.client_request_id.filter(|c| uuid::Uuid::parse_str(c).is_ok()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {now}"),
        "error_codes": [code],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, Json(body)).into_response()
}

/// The tenant GUID for a path segment (GUID or verified domain); `organizations`/`common` → None.
/// Azure AD names an unknown tenant `invalid_request` at the token endpoints and
/// `invalid_tenant` in discovery.
fn resolve_tenant(state: &AppState, segment: &str) -> Result<Option<String>, Response> {
    resolve_tenant_as(state, segment, "invalid_request")
}

fn resolve_tenant_as(state: &AppState, segment: &str, error: &str) -> Result<Option<String>, Response> {
    if segment.eq_ignore_ascii_case("organizations") || segment.eq_ignore_ascii_case("common") {
        return Ok(None);
    }
    let inner = state.lock();
    let found = inner.data.tenants.values().find(|t| t.id.eq_ignore_ascii_case(segment) || t.domains.iter().any(|d| d.eq_ignore_ascii_case(segment)));
    match found {
        Some(t) => Ok(Some(t.id.clone())),
        None => Err(aad_error(
            StatusCode::BAD_REQUEST,
            error,
            90002,
            &format!("Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        )),
    }
}

async fn instance_discovery(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let tenant = q
        .get("authorization_endpoint")
        .and_then(|a| url::Url::parse(a).ok())
        .and_then(|u| u.path_segments().and_then(|mut s| s.next().map(str::to_owned)))
        .unwrap_or_else(|| "common".into());
    let host = state.base_url.trim_start_matches("https://").trim_start_matches("http://").to_owned();
    Json(json!({
        "tenant_discovery_endpoint": format!("{}/{tenant}/v2.0/.well-known/openid-configuration", state.base_url),
        "api-version": "1.1",
        "metadata": [{ "preferred_network": host, "preferred_cache": host, "aliases": [host] }],
    }))
    .into_response()
}

async fn openid_configuration(State(state): State<AppState>, Path(segment): Path<String>) -> Response {
    let tenant = match resolve_tenant_as(&state, &segment, "invalid_tenant") {
        Ok(t) => t.unwrap_or_else(|| "{tenantid}".into()),
        Err(e) => return e,
    };
    let base = &state.base_url;
    Json(json!({
        "token_endpoint": format!("{base}/{segment}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{segment}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{segment}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{segment}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{segment}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/{segment}/kerberos"),
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }))
    .into_response()
}

async fn jwks(State(state): State<AppState>) -> Response {
    Json(state.issuer.jwks().clone()).into_response()
}

/// The resource of a scope list (`https://graph.microsoft.com/.default` → Graph), and the
/// delegated permission names (`User.Read`).
fn resource_of(scope: &str) -> Result<(String, Vec<String>), Response> {
    let mut resource: Option<String> = None;
    let mut permissions = Vec::new();
    for s in scope.split_whitespace() {
        if matches!(s, "openid" | "profile" | "offline_access" | "email") {
            continue;
        }
        let Some(idx) = s.rfind('/').filter(|_| s.contains("://")) else {
            // A bare permission name means Graph.
            resource.get_or_insert_with(|| GRAPH_AUDIENCE.to_owned());
            permissions.push(s.to_owned());
            continue;
        };
        let (res, perm) = (&s[..idx], &s[idx + 1..]);
        if resource.as_deref().is_some_and(|r| r != res) {
            return Err(aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                28000,
                "Provided value for the input parameter scope is not valid because it contains more than one resource.",
            ));
        }
        resource = Some(res.to_owned());
        if perm != ".default" {
            permissions.push(perm.to_owned());
        }
    }
    Ok((resource.unwrap_or_else(|| GRAPH_AUDIENCE.to_owned()), permissions))
}

async fn token(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    headers: axum::http::HeaderMap,
    Form(mut form): Form<HashMap<String, String>>,
) -> Response {
    let tenant = match resolve_tenant(&state, &segment) {
        Ok(t) => t,
        Err(e) => return e,
    };
    if let Some((id, secret)) = basic_credentials(&headers) {
        // client_secret_basic: the same credentials in the Authorization header.
        form.entry("client_id".into()).or_insert(id);
        form.entry("client_secret".into()).or_insert(secret);
    }
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let client_info = field("client_info") == "1";
    match field("grant_type") {
        "client_credentials" => client_credentials(&state, tenant, &segment, &form),
        // The URN is the documented name (RFC 8628, Azure AD's device code reference); Azure AD also
        // takes `device_code`, which Microsoft's MSAL.NET sends (4.92 does): refusing it would break
        // Microsoft's own client.
        DEVICE_CODE_GRANT | "device_code" => device_code_token(&state, field("device_code"), field("client_id"), client_info),
        "refresh_token" => refresh(&state, tenant.as_deref(), field("refresh_token"), field("client_id"), field("scope"), client_info),
        "" => aad_error(StatusCode::BAD_REQUEST, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."),
        other => aad_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003, &format!("The app requested an unsupported grant type '{other}'.")),
    }
}

/// `Authorization: Basic base64(urlencoded id ":" urlencoded secret)` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unescape(id)?, unescape(secret)?))
}

fn client_credentials(state: &AppState, tenant: Option<String>, segment: &str, form: &HashMap<String, String>) -> Response {
    let Some(tenant) = tenant else {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 700015, "Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI) and a tenant, not /common or /organizations.");
    };
    // A certificate credential (RFC 7523 client assertion) instead of a secret; `client_id` may
    // then be left out: the assertion's subject names the app.
    let assertion = form.get("client_assertion").filter(|a| !a.is_empty());
    let client_id = form
        .get("client_id")
        .filter(|c| !c.is_empty())
        .cloned()
        .or_else(|| assertion.and_then(|a| crate::certificates::unverified_claims(a)).and_then(|c| c["sub"].as_str().map(str::to_owned)))
        .unwrap_or_default();
    let secret = form.get("client_secret").cloned().unwrap_or_default();
    let scope = form.get("scope").cloned().unwrap_or_default();
    if !scope.split_whitespace().any(|s| s.ends_with("/.default")) {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_scope", 1002012, &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."));
    }
    let (resource, _) = match resource_of(&scope) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let inner = state.lock();
    let tenant_name = inner.data.tenants.get(&tenant).map(|t| t.display_name.clone()).unwrap_or_default();
    let Some(app) = inner.data.apps.get(&client_id).filter(|a| a.tenant_id == tenant) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
        );
    };
    if assertion.is_some() {
        // Addressed to this token endpoint, however the tenant is named (or to Azure AD's own).
        let mut names = vec![segment.to_owned(), tenant.clone()];
        names.extend(inner.data.tenants.get(&tenant).map(|t| t.domains.clone()).unwrap_or_default());
        let audiences: Vec<String> = [state.base_url.as_str(), "https://login.microsoftonline.com"]
            .iter()
            .flat_map(|host| names.iter().flat_map(move |n| ["/oauth2/v2.0/token", "/oauth2/token", "/v2.0"].map(|p| format!("{host}/{n}{p}"))))
            .collect();
        if let Err(r) = crate::certificates::verify_assertion(form, &client_id, &app.key_credentials, &audiences) {
            return r;
        }
    } else {
        let hash = sha256_hex(&secret);
        let Some(matching) = app.secrets.iter().find(|s| s.sha256 == hash) else {
            return aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
            );
        };
        if chrono::DateTime::parse_from_rfc3339(&matching.end_date_time).is_ok_and(|end| end < chrono::Utc::now()) {
            return aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000222,
                &format!("The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app."),
            );
        }
    }
    let sp_id = inner.data.service_principals.values().find(|sp| sp.app_id == client_id).map(|sp| sp.id.clone()).unwrap_or_else(|| app.id.clone());
    // A v1.0 access token, as Azure AD issues them for Graph: `appid`/`appidacr` (not v2.0's
    // `azp`/`azpacr`), the sts.windows.net issuer, `ver` 1.0.
    let claims = json!({
        "aud": resource, "iss": v1_issuer(&tenant), "tid": tenant, "oid": sp_id, "sub": sp_id,
        "appid": client_id, "appidacr": if assertion.is_some() { "2" } else { "1" }, "idtyp": "app", "roles": app.granted_roles, "ver": "1.0",
    });
    drop(inner);
    Json(token_answer(state.issuer.issue(claims), None, None, None)).into_response()
}

fn token_answer(access: String, refresh: Option<String>, id_token: Option<String>, client_info: Option<String>) -> Value {
    let mut body = json!({ "token_type": "Bearer", "expires_in": crate::token::LIFETIME_SECONDS, "ext_expires_in": crate::token::LIFETIME_SECONDS, "access_token": access });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    if let Some(i) = id_token {
        body["id_token"] = json!(i);
    }
    if let Some(c) = client_info {
        body["client_info"] = json!(c);
    }
    body
}

/// How long a refresh token stays valid (Azure AD: 90 days).
const REFRESH_LIFETIME_MS: i64 = 90 * 24 * 3600 * 1000;
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// The delegated permissions a `.default` request gets: what was consented for the client. Microsoft
/// Graph PowerShell and seeded public clients: their consented scopes; Azure CLI: Microsoft's
/// preauthorized directory scopes (no Intune scope); other resources: `user_impersonation`.
fn consented(state: &AppState, client_id: &str, resource: &str) -> Vec<String> {
    if resource != GRAPH_AUDIENCE {
        return vec!["user_impersonation".to_owned()];
    }
    let list: Vec<&str> = if client_id == GRAPH_POWERSHELL_CLIENT {
        GRAPH_POWERSHELL_CONSENT.to_vec()
    } else if client_id == AZURE_CLI_CLIENT {
        AZURE_CLI_CONSENT.to_vec()
    } else {
        let inner = state.lock();
        let app = inner.data.apps.get(client_id);
        match app.map(|a| a.consented_scopes.clone()).filter(|s| !s.is_empty()) {
            Some(scopes) => return scopes,
            // A new app registration's only API permission is User.Read.
            None => vec!["User.Read"],
        }
    };
    list.into_iter().map(str::to_owned).collect()
}

/// Tokens for `user` on behalf of `client_id` for `scope`: access, a refresh token when the grant
/// includes `offline_access`, and id and client info when asked.
fn user_tokens(state: &AppState, user_id: &str, client_id: &str, scope: &str, client_info: bool, offline: bool) -> Response {
    let (resource, permissions) = match resource_of(scope) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Some(user) = state.lock().data.users.get(user_id).cloned() else {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_grant", 50034, "The user account does not exist in the directory.");
    };
    let tenant = user.tenant_id.clone();
    let iss = format!("{}/{tenant}/v2.0", state.base_url);
    // `.default` means "what was consented" for the client; named permissions are granted as asked
    // (the person consents on the sign-in page).
    let granted = if permissions.is_empty() { consented(state, client_id, &resource) } else { permissions.clone() };
    // A v1.0 access token (Graph's): `appid`, `appidacr` 0 for a public client, `upn` and
    // `unique_name`, the sts.windows.net issuer.
    let access = state.issuer.issue(json!({
        "aud": resource, "iss": v1_issuer(&tenant), "tid": tenant, "oid": user.id, "sub": user.id, "appid": client_id, "appidacr": "0",
        "scp": granted.join(" "), "upn": user.user_principal_name, "unique_name": user.user_principal_name, "name": user.display_name,
        "wids": user.directory_roles, "idtyp": "user", "ver": "1.0",
    }));
    let requested: Vec<&str> = scope.split_whitespace().collect();
    let id_token = requested.contains(&"openid").then(|| {
        state.issuer.issue(json!({
            "aud": client_id, "iss": iss, "tid": tenant, "oid": user.id, "sub": user.id,
            "preferred_username": user.user_principal_name, "name": user.display_name,
        }))
    });
    // A refresh token only when the grant includes offline_access, as Azure AD does.
    let refresh = if offline {
        let bytes: [u8; 32] = rand::random();
        let refresh = format!("0.local.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
        let grant =
            RefreshGrant { user_id: user.id.clone(), tenant_id: tenant.clone(), client_id: client_id.to_owned(), expires_ms: now_ms() + REFRESH_LIFETIME_MS };
        // Only the token's hash is stored (and survives a restart).
        if let Err(r) = state.lock().mutate(json!({ "op": "putRefreshGrant", "sha256": sha256_hex(&refresh), "grant": grant })) {
            return r;
        }
        Some(refresh)
    } else {
        None
    };
    let info = client_info.then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({ "uid": user.id, "utid": tenant }).to_string()));
    let mut body = token_answer(access, refresh, id_token, info);
    // Graph's permissions are named bare, other resources' with their URI, as Azure AD does; a
    // `.default` request is answered with `.default` too, so that clients find the token again.
    let mut answered: Vec<String> = granted.iter().map(|p| if resource == GRAPH_AUDIENCE { p.clone() } else { format!("{resource}/{p}") }).collect();
    if permissions.is_empty() {
        answered.push(format!("{resource}/.default"));
    }
    answered.extend(requested.iter().filter(|s| OIDC_SCOPES.contains(s) && (offline || **s != "offline_access")).map(|s| s.to_string()));
    body["scope"] = json!(answered.join(" "));
    Json(body).into_response()
}

fn is_public_client(state: &AppState, client_id: &str) -> bool {
    client_id == GRAPH_POWERSHELL_CLIENT || client_id == AZURE_CLI_CLIENT || state.lock().data.apps.get(client_id).is_some_and(|a| a.public_client)
}

async fn device_code(State(state): State<AppState>, Path(segment): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    let tenant = match resolve_tenant(&state, &segment) {
        Ok(t) => t.unwrap_or_default(),
        Err(e) => return e,
    };
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    if !is_public_client(&state, &client_id) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory, or is not a public client that may use the device code flow."),
        );
    }
    let scope = form.get("scope").cloned().unwrap_or_default();
    if scope.trim().is_empty() {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.");
    }
    if let Err(e) = resource_of(&scope) {
        return e;
    }
    let letters: Vec<char> = "BCDFGHJKLMNPQRSTVWXZ23456789".chars().collect();
    let user_code: String = (0..9).map(|_| letters[rand::random::<usize>() % letters.len()]).collect();
    let device_code = format!("DAQABAAEAAAD.local.{}", uuid::Uuid::new_v4().simple());
    let verification_uri = format!("{}/devicelogin", state.base_url);
    let (auto, interval) = {
        let inner = state.lock();
        let auto = inner
            .auto_approve
            .get(&client_id)
            .and_then(|u| inner.data.users.values().find(|x| x.user_principal_name.eq_ignore_ascii_case(u)).map(|x| x.id.clone()));
        (auto, inner.device_code_interval_seconds)
    };
    state.lock().device_codes.insert(
        device_code.clone(),
        DeviceCode {
            device_code: device_code.clone(),
            user_code: user_code.clone(),
            tenant_id: tenant,
            client_id,
            scope,
            expires_at: now_ms() + DEVICE_CODE_LIFETIME * 1000,
            approved_by: auto,
            declined: false,
            last_poll: 0,
        },
    );
    Json(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": DEVICE_CODE_LIFETIME,
        "interval": interval,
        "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
    }))
    .into_response()
}

fn device_code_token(state: &AppState, code: &str, client_id: &str, client_info: bool) -> Response {
    if code.is_empty() {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 900144, "The request body must contain the following parameter: 'device_code'.");
    }
    // A code never issued, already redeemed, or issued to another client is not recognised: the
    // device code flow's documented `bad_verification_code`.
    let entry = state.lock().device_codes.get(code).cloned().filter(|e| e.client_id == client_id);
    let Some(entry) = entry else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "bad_verification_code",
            70018,
            "The provided value for the input parameter 'device_code' is not valid: the device code was not recognized.",
        );
    };
    if now_ms() > entry.expires_at {
        state.lock().device_codes.remove(code);
        return aad_error(StatusCode::BAD_REQUEST, "expired_token", 70020, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.");
    }
    if entry.declined {
        state.lock().device_codes.remove(code);
        return aad_error(StatusCode::BAD_REQUEST, "authorization_declined", 70000, "The user declined the sign-in request.");
    }
    let Some(user_id) = entry.approved_by.clone() else {
        return aad_error(StatusCode::BAD_REQUEST, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.");
    };
    state.lock().device_codes.remove(code);
    let offline = entry.scope.split_whitespace().any(|s| s == "offline_access");
    user_tokens(state, &user_id, &entry.client_id, &entry.scope, client_info, offline)
}

fn refresh(state: &AppState, tenant: Option<&str>, refresh_token: &str, client_id: &str, scope: &str, client_info: bool) -> Response {
    let invalid = |why: &str| aad_error(StatusCode::BAD_REQUEST, "invalid_grant", 70000, &format!("Provided grant is invalid or malformed: {why}"));
    if refresh_token.is_empty() {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.");
    }
    let grant = state.lock().data.refresh_grants.get(&sha256_hex(refresh_token)).cloned();
    let Some(g) = grant else { return invalid("the refresh token is not known.") };
    if g.expires_ms < now_ms() {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_grant", 700082, "The refresh token has expired due to inactivity. Sign in again.");
    }
    if g.client_id != client_id {
        return invalid("the refresh token was issued to another application.");
    }
    if tenant.is_some_and(|t| t != g.tenant_id) {
        return invalid("the refresh token was issued in another tenant.");
    }
    // The grant exists because offline_access was granted: a new refresh token comes with it.
    user_tokens(state, &g.user_id, &g.client_id, scope, client_info, true)
}

/// Makes a pending device code expire now (tests of `expired_token`).
pub fn expire_device_code(state: &AppState, user_code: &str) -> Result<(), String> {
    let mut inner = state.lock();
    let entry = inner
        .device_codes
        .values_mut()
        .find(|d| d.user_code.eq_ignore_ascii_case(user_code.trim()))
        .ok_or_else(|| format!("no pending sign-in with code {user_code}"))?;
    entry.expires_at = now_ms() - 1;
    Ok(())
}

/// Approves or declines a pending device code as a user (the test's stand-in for a person at
/// the browser). Returns an error text when the code or the user is unknown.
pub fn decide_device_code(state: &AppState, user_code: &str, user: Option<&str>, decline: bool) -> Result<(), String> {
    let mut inner = state.lock();
    let user_id = match user {
        Some(u) => Some(
            inner
                .data
                .users
                .values()
                .find(|x| x.id.eq_ignore_ascii_case(u) || x.user_principal_name.eq_ignore_ascii_case(u))
                .map(|x| x.id.clone())
                .ok_or_else(|| format!("no user {u}"))?,
        ),
        None => None,
    };
    let user_tenant = user_id.as_ref().and_then(|id| inner.data.users.get(id)).map(|u| u.tenant_id.clone());
    let entry = inner
        .device_codes
        .values_mut()
        .find(|d| d.user_code.eq_ignore_ascii_case(user_code.trim()))
        .ok_or_else(|| format!("no pending sign-in with code {user_code}"))?;
    if decline {
        entry.declined = true;
        return Ok(());
    }
    if !entry.tenant_id.is_empty() && user_tenant.as_deref() != Some(entry.tenant_id.as_str()) {
        return Err("that user belongs to another tenant than the sign-in".into());
    }
    entry.approved_by = user_id;
    Ok(())
}
