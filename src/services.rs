//! The cloud services a client talks to (Graph and the ConfigMgr gateway) over one transport and
//! one sign-in, with the JSON call helpers every operation uses.

use serde_json::Value;

use crate::auth::Auth;
use crate::cmtrace::Logger;
use crate::config::{Config, GATEWAY_RESOURCE, GRAPH_RESOURCE};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{service_error, Body, Cancelled, Request, Response, Transport};

pub struct Services {
    pub transport: Transport,
    pub auth: Auth,
    pub graph: String,
    pub gateway: String,
}

impl Services {
    pub fn new(config: &Config, logger: Option<Logger>) -> Result<Services> {
        Ok(Services {
            transport: Transport::new(config, logger.clone())?,
            auth: Auth::new(config, logger)?,
            graph: config.endpoints.graph_url().trim_end_matches('/').to_owned(),
            gateway: config.endpoints.gateway_url().trim_end_matches('/').to_owned(),
        })
    }

    /// A call to `base` + `path` with a token for `resource`; the raw answer.
    pub fn call(
        &self,
        resource: &str,
        method: &str,
        url: &str,
        body: Option<&Value>,
        idempotent: bool,
        what: &str,
        cancelled: Cancelled<'_>,
    ) -> Result<Response> {
        let token = self.auth.token(&self.transport, resource, cancelled)?;
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let req = Request {
            method,
            url,
            bearer: Some(&token),
            body: bytes.as_deref().map_or(Body::None, Body::Json),
            idempotent: idempotent || method == "GET" || method == "DELETE",
            what,
            timeout: None,
        };
        self.transport.send(&req, cancelled)
    }

    /// A Graph call that must succeed; its JSON (Null for 204).
    pub fn graph(&self, method: &str, path: &str, body: Option<&Value>, what: &str, cancelled: Cancelled<'_>) -> Result<Value> {
        let url = if path.starts_with("https://") || path.starts_with("http://") { path.to_owned() } else { format!("{}{path}", self.graph) };
        let res = self.call(GRAPH_RESOURCE, method, &url, body, false, what, cancelled)?;
        expect_ok(res, what)
    }

    /// A gateway call; the raw answer (callers handle the documented 400/404/409).
    pub fn gateway(&self, method: &str, path: &str, body: Option<&Value>, idempotent: bool, what: &str, cancelled: Cancelled<'_>) -> Result<Response> {
        let url = format!("{}{path}", self.gateway);
        self.call(GATEWAY_RESOURCE, method, &url, body, idempotent, what, cancelled)
    }
}

/// The JSON of a successful answer, or the service's error.
pub fn expect_ok(res: Response, what: &str) -> Result<Value> {
    if !res.ok() {
        return Err(service_error(&res, what));
    }
    if res.body.is_empty() {
        return Ok(Value::Null);
    }
    res.json()
}

/// The gateway error code of an answer (`error.code`).
pub fn error_code(res: &Response) -> Option<String> {
    serde_json::from_slice::<Value>(&res.body).ok()?["error"]["code"].as_str().map(str::to_owned)
}

/// The gateway's 401 to a site-side call (upload, notifications): Microsoft's logs show it, with
/// `{"Message":"An error has occurred."}`, when the hierarchy's onboarding is broken (onboarded
/// again while onboarded); the gateway also answers it to an app it does not know for the hierarchy.
pub fn site_refused(res: &Response, hierarchy: &str, what: &str) -> Error {
    let said = crate::http::service_error(res, what);
    let mut e = Error::new(
        ErrorKind::NotOnboarded,
        format!(
            "{what} failed: the gateway refused this site's app for hierarchy {hierarchy} (HTTP 401{}). The hierarchy is not onboarded with this app, or              its onboarding is broken (Microsoft documents this after onboarding a hierarchy that was already onboarded): register it again; if that              does not help, offboard, wait two hours and onboard again",
            res.request_id.as_deref().map(|id| format!(", request-id {id}")).unwrap_or_default()
        ),
    )
    .with_http(res.status, res.request_id.clone());
    e.details = Some(serde_json::json!({ "serviceMessage": said.message }));
    e
}

pub fn not_onboarded(hierarchy: &str) -> Error {
    Error::new(ErrorKind::NotOnboarded, format!("hierarchy {hierarchy} is not onboarded to this tenant; run Register-TenantAttach (ta_client_register) first"))
}
