//! Onboarding a hierarchy (Register-TenantAttach): as a Global Administrator, create the Azure AD
//! app, its secret and service principal, then register the hierarchy with the gateway; or import an
//! existing app. Registering again converges (the gateway answers 400 and asks for a two-hour
//! wait: the library reads the onboarding and updates it instead). Also the upload settings
//! ("edit co-management properties"), status, offboarding and the endpoint check.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::claims;
use crate::config::{Config, GRAPH_RESOURCE};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{service_error, Cancelled, Request};
use crate::services::{error_code, expect_ok, not_onboarded, Services};
use crate::sync::Scope;

pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

/// Options of `ta_client_register` (`Register-TenantAttach`). Every member is optional; NULL or
/// `{}` onboards with a created app, every device in scope and co-management enrollment off.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterOptions {
    /// Import this app instead of creating one.
    #[serde(default)]
    pub import: Option<ImportApp>,
    /// The created app's display name (default `ConfigMgr tenant attach <siteCode>`).
    #[serde(default)]
    pub app_name: Option<String>,
    /// `{"kind":"all"}` (default) or `{"kind":"collection","collectionId":"PS100012"}`.
    #[serde(default)]
    #[schemars(with = "Option<UploadScope>")]
    pub upload_scope: Option<Value>,
    /// Automatic client enrollment for co-management; off by default, independent of upload.
    #[serde(default)]
    pub co_management_auto_enroll: bool,
    /// A certificate to add to the app (instead of creating a secret for a new app); see
    /// `certificate::CertificateOption`.
    #[serde(default)]
    pub certificate: Option<crate::certificate::CertificateOption>,
}

/// An existing Azure AD app to onboard with, instead of creating one.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportApp {
    /// The app's client (application) id.
    pub client_id: String,
    /// A client secret of the app (registered as a secret: never logged or echoed).
    pub client_secret: String,
    /// RFC 3339 date the secret expires.
    pub secret_expiry: String,
    /// `api://{tenantId}/{name}` or `https://{verifiedDomain}/{name}`.
    pub app_id_uri: String,
}

/// The upload scope (the gateway's `uploadScope`): every device with `Client = Yes`, or the members
/// of one device collection (with the collections limited to or included by it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum UploadScope {
    /// Every ConfigMgr client (the recommended default).
    All,
    /// The members of one device collection.
    #[serde(rename_all = "camelCase")]
    Collection {
        /// The collection's id, `PS100012`.
        collection_id: String,
    },
}

/// Input of `ta_client_set_upload_settings` (`Set-TenantAttachUploadScope`): what to change; an
/// absent member keeps its current value.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadSettings {
    /// The new upload scope; a change makes the next upload a full sync.
    #[serde(default)]
    #[schemars(with = "Option<UploadScope>")]
    pub upload_scope: Option<Value>,
    /// Automatic client enrollment for co-management.
    #[serde(default)]
    pub co_management_auto_enroll: Option<bool>,
}

/// The gateway's onboarding record of a hierarchy (docs/GATEWAY.md), passed on as the gateway
/// answered it: `ta_client_set_upload_settings`' result, and `onboarding` in the register and
/// status results. Members this library does not know may appear.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnboardingRecord {
    /// The ConfigMgr hierarchy id (a GUID).
    pub hierarchy_id: String,
    /// The Azure AD tenant (GUID) the hierarchy is attached to.
    pub tenant_id: String,
    /// Site code of the top-level site.
    pub site_code: String,
    /// Client id of the app the site signs in with.
    pub app_id: String,
    /// The app's App ID URI.
    pub app_id_uri: String,
    pub upload_scope: UploadScope,
    /// Automatic client enrollment for co-management.
    pub co_management_auto_enroll: bool,
    /// Goes up each time the upload scope changes (the next upload is then a full sync).
    pub scope_version: u64,
    /// RFC 3339.
    pub onboarded_date_time: String,
    /// RFC 3339.
    #[serde(default)]
    pub last_modified_date_time: Option<String>,
    /// The last upload the gateway acknowledged, when there was one.
    #[serde(default)]
    pub last_sync: Option<GatewayLastSync>,
    /// A new id at every onboarding (also after an offboarding): a sync state made under another
    /// epoch knows nothing of what the cloud holds now (docs/GATEWAY.md).
    #[serde(default)]
    pub epoch: Option<String>,
    /// Completed full syncs of this onboarding (0: none yet).
    #[serde(default)]
    pub generation: Option<u64>,
    /// Devices the gateway holds for the hierarchy now.
    #[serde(default)]
    pub device_count: Option<u64>,
    /// Devices removed in the last 24 hours without the override: the deletion budget's use.
    #[serde(default, rename = "removedLast24Hours")]
    pub removed_last_24_hours: Option<u64>,
    /// The site instance the uploads are bound to, once one has uploaded.
    #[serde(default)]
    pub uploader: Option<GatewayUploader>,
}

/// The site instance a hierarchy's uploads are bound to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayUploader {
    /// The id kept in the state folder (`DeviceSync.instance`).
    pub site_instance_id: String,
    pub machine_name: String,
    /// RFC 3339: since when it uploads the hierarchy.
    pub since_date_time: String,
    /// RFC 3339.
    pub last_upload_date_time: String,
}

/// The last upload as the gateway records it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayLastSync {
    pub sync_id: String,
    /// `full`, `delta` or `partial`.
    pub kind: String,
    /// RFC 3339.
    pub completed_date_time: String,
    /// Devices the hierarchy has in the cloud after it.
    pub device_count: u64,
    /// The onboarding's full-sync generation after it.
    #[serde(default)]
    pub generation: Option<u64>,
    /// Devices the run removed from the cloud (its deletions, or a full sync's sweep).
    #[serde(default)]
    pub removed: Option<u64>,
}

/// Result of `ta_client_register`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResult {
    /// The hierarchy was onboarded before this call: its settings were updated instead (registering
    /// again converges).
    pub already_onboarded: bool,
    /// The gateway's onboarding record after the call.
    #[schemars(with = "OnboardingRecord")]
    pub onboarding: Value,
    /// The app the site signs in with (absent when an onboarding by this tenant was only updated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The app's App ID URI (absent as `appId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id_uri: Option<String>,
    /// The app this call created (absent when an app was imported or the onboarding updated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_app: Option<CreatedApp>,
    /// The certificate added to the app in use when registering again with one (its renewal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<AddedCertificate>,
}

/// A certificate added to an app's `keyCredentials` by `ta_client_register`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddedCertificate {
    /// The certificate's SHA-1 thumbprint (hex), as the portal shows it.
    pub certificate_thumbprint: String,
    /// The key credential's id in the app.
    pub certificate_key_id: Option<String>,
    /// RFC 3339 date the certificate expires.
    pub certificate_expiry: Option<String>,
}

impl AddedCertificate {
    fn from_value(value: Value) -> Result<AddedCertificate> {
        serde_json::from_value(value).map_err(|e| Error::internal(format!("the added certificate could not be described: {e}")))
    }
}

/// An app created by `ta_client_register`. Its secret is shown here once and never stored.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApp {
    /// The application object's id (not its client id).
    pub app_object_id: String,
    /// The service principal's object id.
    pub service_principal_id: Option<String>,
    /// The client secret created for the site: keep it now, it is not shown again. Absent when a
    /// certificate was added instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// RFC 3339 date the secret expires (absent with `clientSecret`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_expiry: Option<String>,
    /// The certificate added instead of a secret, when `certificate` was given.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<AddedCertificate>,
}

/// Reachability of one internet endpoint (`ta_client_test_endpoints`).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCheck {
    /// The configuration key of the endpoint, `endpoints.gateway`.
    pub name: String,
    /// The effective URL checked.
    pub url: String,
    /// Any HTTP answer (even 404) means reachable.
    pub reachable: bool,
    /// The HTTP status answered, when reachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Why it is not reachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's kind (as `kind` in `ta_last_error_json`), when not reachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// How long the check took.
    pub elapsed_ms: u64,
}

fn to_json<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::internal(e.to_string()))
}

fn require<'a>(value: &'a Option<String>, key: &str) -> Result<&'a str> {
    value.as_deref().ok_or_else(|| Error::invalid_config(format!("`{key}` is required in the configuration for onboarding")))
}

pub fn parse_scope(value: Option<&Value>) -> Result<Value> {
    let scope = value.cloned().unwrap_or_else(|| json!({ "kind": "all" }));
    Scope::from_gateway(&scope).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("uploadScope {scope} is not valid: use {{\"kind\":\"all\"}} or {{\"kind\":\"collection\",\"collectionId\":\"PS100012\"}}"),
        )
    })?;
    Ok(scope)
}

/// Checks an imported app's id and secret expiry before anything is sent.
fn check_import(import: &ImportApp) -> Result<()> {
    crate::redact::register_secret(&import.client_secret);
    uuid::Uuid::parse_str(&import.client_id).map_err(|_| Error::invalid_argument(format!("import.clientId `{}` is not a GUID", import.client_id)))?;
    let expiry = chrono::DateTime::parse_from_rfc3339(&import.secret_expiry)
        .map_err(|_| Error::invalid_argument(format!("import.secretExpiry `{}` is not a date such as 2027-06-30T00:00:00Z", import.secret_expiry)))?;
    if expiry < chrono::Utc::now() {
        return Err(Error::new(
            ErrorKind::Expired,
            format!("the imported app's secret expired on {}; create a new secret for app {} and import it", expiry.format("%Y-%m-%d"), import.client_id),
        ));
    }
    Ok(())
}

/// `api://{tenantId}/{name}` (`tenants`: the names the tenant goes by, its GUID first) or
/// `https://{verifiedDomain}/{name}`.
fn check_app_id_uri(uri: &str, tenants: &[&str]) -> Result<()> {
    let ok = if let Some(rest) = uri.strip_prefix("api://") {
        rest.split_once('/').is_some_and(|(t, name)| tenants.iter().any(|x| t.eq_ignore_ascii_case(x)) && !name.is_empty() && !name.contains('/'))
    } else if let Some(rest) = uri.strip_prefix("https://") {
        rest.split_once('/').is_some_and(|(domain, name)| domain.contains('.') && !name.is_empty() && !name.contains('/'))
    } else {
        false
    };
    if !ok {
        return Err(Error::invalid_argument(format!("import.appIdUri `{uri}` must be api://{}/<name> or https://<verified domain>/<name>", tenants[0])));
    }
    Ok(())
}

/// The first object of a Graph collection that matches an OData `$filter`, if any.
fn find_one(services: &Services, collection: &str, filter: &str, cancelled: Cancelled<'_>) -> Result<Option<Value>> {
    let mut url = url::Url::parse(&format!("{}{collection}", services.graph)).map_err(|e| Error::invalid_config(format!("endpoints.graph: {e}")))?;
    url.query_pairs_mut().append_pair("$filter", filter);
    let page = services.graph("GET", url.as_str(), None, &format!("looking up {collection}"), cancelled)?;
    Ok(page["value"].as_array().and_then(|v| v.first()).cloned())
}

/// A string literal inside an OData filter: single quotes doubled.
fn odata_quote(text: &str) -> String {
    text.replace('\'', "''")
}

/// Registers the hierarchy; returns the result (with the created app's secret, shown once).
pub fn register(config: &Config, services: &Services, options: RegisterOptions, log: &dyn Fn(&str), cancelled: Cancelled<'_>) -> Result<Value> {
    let hierarchy = require(&config.hierarchy_id, "hierarchyId")?;
    let site = require(&config.site_code, "siteCode")?;
    let scope = parse_scope(options.upload_scope.as_ref())?;
    // Read and checked before anything is sent.
    let certificate = options.certificate.as_ref().map(|c| c.load()).transpose()?;
    if certificate.is_some() && options.import.is_some() {
        return Err(Error::invalid_argument(
            "`certificate` adds a certificate to the app onboarding creates or already uses; to import an app, add its certificate in the Azure portal (Certificates & secrets) and import it with its secret",
        ));
    }

    // The sign-in that performs the onboarding: the imported app's, or the configured one (a
    // Global Administrator by device code, usually).
    let import_services;
    let (acting, app_id, app_id_uri, created) = match &options.import {
        Some(import) => {
            let configured = require(&config.tenant_id, "tenantId")?;
            check_import(import)?;
            let mut c = config.clone();
            c.auth = Some(crate::config::AuthConfig::ClientSecret { client_id: import.client_id.clone(), client_secret: import.client_secret.clone() });
            import_services = Services::new(&c, None)?;
            // api://{tenantId}/{name} names the tenant by its GUID, which the imported app's sign-in tells.
            let token = import_services.auth.token(&import_services.transport, crate::config::GATEWAY_RESOURCE, cancelled)?;
            let tid = claims(&token).and_then(|c| c["tid"].as_str().map(str::to_owned)).unwrap_or_else(|| configured.to_owned());
            check_app_id_uri(&import.app_id_uri, &[tid.as_str(), configured])?;
            log(&format!("Importing app {} ({}) for hierarchy {hierarchy}", import.client_id, import.app_id_uri));
            (&import_services, import.client_id.clone(), import.app_id_uri.clone(), None)
        }
        None => {
            let token = services.auth.token(&services.transport, GRAPH_RESOURCE, cancelled)?;
            let c = claims(&token).unwrap_or(Value::Null);
            let is_admin = c["wids"].as_array().is_some_and(|w| w.iter().any(|r| r == GLOBAL_ADMINISTRATOR));
            if !is_admin {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    format!(
                        "{} is not a Global Administrator: creating the tenant attach app needs the Global Administrator role ({GLOBAL_ADMINISTRATOR}); sign in as one, or import an existing app",
                        c["upn"].as_str().or(c["appid"].as_str()).unwrap_or("the signed-in account")
                    ),
                ));
            }
            let tenant_guid = c["tid"].as_str().unwrap_or_default().to_owned();
            // Converge first: an onboarded hierarchy keeps its app.
            if let Some(existing) = get(services, hierarchy, cancelled)? {
                check_same_tenant(&existing, &tenant_guid)?;
                log(&format!("Hierarchy {hierarchy} is already onboarded; updating its settings"));
                let updated = patch(services, hierarchy, Some(&scope), Some(options.co_management_auto_enroll), cancelled)?;
                let mut certificate_added = None;
                if let Some(cert) = &certificate {
                    // Adding a certificate to the app in use: how a certificate is renewed.
                    let app_id = existing["appId"].as_str().unwrap_or_default();
                    let app = find_one(services, "/v1.0/applications", &format!("appId eq '{}'", odata_quote(app_id)), cancelled)?.ok_or_else(|| {
                        Error::new(ErrorKind::NotFound, format!("the onboarded app {app_id} is not in the tenant; onboard again after offboarding"))
                    })?;
                    let added = crate::certificate::add_to_app(services, app["id"].as_str().unwrap_or_default(), cert, cancelled)?;
                    log(&format!("Added certificate {} to app {app_id}", cert.thumbprint()));
                    certificate_added = Some(AddedCertificate::from_value(added)?);
                }
                return to_json(&RegisterResult {
                    already_onboarded: true,
                    onboarding: updated,
                    app_id: None,
                    app_id_uri: None,
                    created_app: None,
                    certificate: certificate_added,
                });
            }
            let name = options.app_name.clone().unwrap_or_else(|| format!("ConfigMgr tenant attach {site}"));
            let uri = format!("api://{tenant_guid}/ConfigMgrService-{hierarchy}");
            // Converge on an app left by an earlier onboarding of this hierarchy (offboarding keeps
            // the app, and an onboarding may have stopped after creating it): Azure AD keeps
            // identifier URIs unique, so creating it again would fail.
            let (object_id, app_id) = match find_one(services, "/v1.0/applications", &format!("identifierUris/any(x:x eq '{}')", odata_quote(&uri)), cancelled)?
            {
                Some(app) => {
                    log(&format!("Reusing app {} ({uri}) of an earlier onboarding; adding a new credential", app["appId"].as_str().unwrap_or_default()));
                    (app["id"].as_str().unwrap_or_default().to_owned(), app["appId"].as_str().unwrap_or_default().to_owned())
                }
                None => {
                    log(&format!("Creating app {name} ({uri})"));
                    let app = services.graph(
                        "POST",
                        "/v1.0/applications",
                        Some(&json!({ "displayName": name, "identifierUris": [uri], "signInAudience": "AzureADMyOrg" })),
                        "creating the app",
                        cancelled,
                    )?;
                    (app["id"].as_str().unwrap_or_default().to_owned(), app["appId"].as_str().unwrap_or_default().to_owned())
                }
            };
            // A certificate instead of a secret, when one is given (Microsoft's recommendation).
            let (secret, added) = match &certificate {
                Some(cert) => {
                    let added = crate::certificate::add_to_app(services, &object_id, cert, cancelled)?;
                    log(&format!("Added certificate {} to app {app_id}", cert.thumbprint()));
                    (Value::Null, Some(added))
                }
                None => {
                    let secret = services.graph(
                        "POST",
                        &format!("/v1.0/applications/{object_id}/addPassword"),
                        Some(&json!({ "passwordCredential": { "displayName": "ConfigMgr tenant attach" } })),
                        "creating the app's secret",
                        cancelled,
                    )?;
                    if let Some(text) = secret["secretText"].as_str() {
                        crate::redact::register_secret(text);
                    }
                    (secret, None)
                }
            };
            let sp = match find_one(services, "/v1.0/servicePrincipals", &format!("appId eq '{}'", odata_quote(&app_id)), cancelled)? {
                Some(sp) => sp,
                None => services.graph("POST", "/v1.0/servicePrincipals", Some(&json!({ "appId": app_id })), "creating the service principal", cancelled)?,
            };
            log(&format!("Created app {app_id} (object {object_id}) and service principal {}", sp["id"].as_str().unwrap_or("")));
            let text = |v: &Value| v.as_str().map(str::to_owned);
            let created = CreatedApp {
                app_object_id: object_id,
                service_principal_id: text(&sp["id"]),
                client_secret: text(&secret["secretText"]),
                secret_expiry: text(&secret["endDateTime"]),
                certificate: added.map(AddedCertificate::from_value).transpose()?,
            };
            (services, app_id, uri, Some(created))
        }
    };
    let tenant = require(&config.tenant_id, "tenantId")?;
    let tenant_guid = acting
        .auth
        .token(&acting.transport, crate::config::GATEWAY_RESOURCE, cancelled)
        .ok()
        .and_then(|t| claims(&t))
        .and_then(|c| c["tid"].as_str().map(str::to_owned))
        .unwrap_or_else(|| tenant.to_owned());
    let body = json!({ "hierarchyId": hierarchy, "siteCode": site, "tenantId": tenant_guid, "appId": app_id, "appIdUri": app_id_uri,
        "uploadScope": scope, "coManagementAutoEnroll": options.co_management_auto_enroll });
    let res = acting.gateway("POST", "/api/gateway/AccountOnboardingInfo", Some(&body), false, "onboarding", cancelled)?;
    let (record, already) = match res.status {
        201 | 200 => (res.json()?, false),
        400 if error_code(&res).as_deref() == Some("HierarchyAlreadyOnboarded") => {
            log(&format!("The gateway says hierarchy {hierarchy} is already onboarded; converging with its current onboarding"));
            let existing = get(acting, hierarchy, cancelled)?.ok_or_else(|| not_onboarded(hierarchy))?;
            check_same_tenant(&existing, &tenant_guid)?;
            (patch(acting, hierarchy, Some(&scope), Some(options.co_management_auto_enroll), cancelled)?, true)
        }
        409 => {
            let body: Value = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
            let holder = body["error"]["tenantId"].as_str().unwrap_or("another tenant").to_owned();
            let mut e = service_error(&res, "onboarding");
            e.kind = ErrorKind::Conflict;
            e.message = format!("hierarchy {hierarchy} is attached to another tenant ({holder}); offboard it from that tenant first. {}", e.message);
            return Err(e.with_details(json!({ "tenantId": holder })));
        }
        _ => return Err(service_error(&res, "onboarding")),
    };
    log(&format!("Hierarchy {hierarchy} onboarded to tenant {tenant_guid} with app {app_id}, upload scope {scope}"));
    to_json(&RegisterResult {
        already_onboarded: already,
        onboarding: record,
        certificate: None,
        app_id: Some(app_id),
        app_id_uri: Some(app_id_uri),
        created_app: created,
    })
}

fn check_same_tenant(existing: &Value, tenant: &str) -> Result<()> {
    let holder = existing["tenantId"].as_str().unwrap_or_default();
    if !holder.eq_ignore_ascii_case(tenant) {
        return Err(Error::new(ErrorKind::Conflict, format!("the hierarchy is attached to another tenant ({holder}); offboard it from that tenant first"))
            .with_details(json!({ "tenantId": holder })));
    }
    Ok(())
}

/// The onboarding record, or None when the hierarchy is not onboarded (to this tenant).
pub fn get(services: &Services, hierarchy: &str, cancelled: Cancelled<'_>) -> Result<Option<Value>> {
    let res =
        services.gateway("GET", &format!("/api/gateway/AccountOnboardingInfo?hierarchyId={hierarchy}"), None, true, "reading the onboarding", cancelled)?;
    match res.status {
        404 => Ok(None),
        _ => expect_ok(res, "reading the onboarding").map(Some),
    }
}

pub fn patch(services: &Services, hierarchy: &str, scope: Option<&Value>, co_management: Option<bool>, cancelled: Cancelled<'_>) -> Result<Value> {
    let mut body = json!({ "hierarchyId": hierarchy });
    if let Some(s) = scope {
        body["uploadScope"] = s.clone();
    }
    if let Some(c) = co_management {
        body["coManagementAutoEnroll"] = json!(c);
    }
    let res = services.gateway("PATCH", "/api/gateway/AccountOnboardingInfo", Some(&body), true, "updating the onboarding", cancelled)?;
    if res.status == 404 {
        return Err(not_onboarded(hierarchy));
    }
    expect_ok(res, "updating the onboarding")
}

pub fn unregister(services: &Services, hierarchy: &str, cancelled: Cancelled<'_>) -> Result<()> {
    let res = services.gateway("DELETE", &format!("/api/gateway/AccountOnboardingInfo?hierarchyId={hierarchy}"), None, true, "offboarding", cancelled)?;
    match res.status {
        204 | 200 => Ok(()),
        404 => Err(not_onboarded(hierarchy)),
        _ => Err(service_error(&res, "offboarding")),
    }
}

/// Reachability of each internet endpoint: any HTTP answer (even 404) means reachable.
pub fn test_endpoints(config: &Config, services_transport: &crate::http::Transport) -> Vec<EndpointCheck> {
    config
        .endpoints
        .all()
        .iter()
        .map(|(name, url)| {
            let started = std::time::Instant::now();
            let req = Request { method: "GET", url, bearer: None, body: crate::http::Body::None, idempotent: false, what: "endpoint check", timeout: None };
            let outcome = services_transport.send(&req, &|| false);
            let ms = started.elapsed().as_millis() as u64;
            let check = EndpointCheck {
                name: (*name).to_owned(),
                url: (*url).to_owned(),
                reachable: false,
                http_status: None,
                error: None,
                kind: None,
                elapsed_ms: ms,
            };
            match outcome {
                Ok(res) => EndpointCheck { reachable: true, http_status: Some(res.status), ..check },
                Err(e) => EndpointCheck { error: Some(e.message), kind: Some(e.kind.as_str().to_owned()), ..check },
            }
        })
        .collect()
}
