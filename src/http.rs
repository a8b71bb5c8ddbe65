//! HTTPS to Azure AD, Graph and the gateway: one `ureq` agent (rustls with the public web roots
//! plus the configured `trustedCaFile`, never without certificate checks), the configured proxy and
//! timeouts, and the retry policy every call shares: 429, 500, 502, 503, 504 and connection faults
//! are retried with exponential backoff and jitter, honouring `Retry-After`, within
//! `timeouts.maxAttempts` and `timeouts.retryBudgetMs`; a call that is not idempotent is not
//! retried after it may have reached the service.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cmtrace::Logger;
use crate::config::{Config, Timeouts};
use crate::error::{Error, ErrorKind, Result};
use crate::redact;

/// The largest answer read (Graph pages and gateway answers are far smaller).
const MAX_BODY: u64 = 64 * 1024 * 1024;

pub enum Body<'a> {
    None,
    Json(&'a [u8]),
    Form(&'a [(&'a str, &'a str)]),
}

pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub bearer: Option<&'a str>,
    pub body: Body<'a>,
    /// May be sent again after it may have reached the service (GET, PUT-like, DevicePost with
    /// its (syncId, sequence), token requests).
    pub idempotent: bool,
    /// What the call does, for errors and the log ("upload batch 3", "sign-in").
    pub what: &'a str,
    /// Overrides the configured per-attempt timeout (long-polls).
    pub timeout: Option<Duration>,
}

impl<'a> Request<'a> {
    pub fn get(url: &'a str, what: &'a str) -> Self {
        Request { method: "GET", url, bearer: None, body: Body::None, idempotent: true, what, timeout: None }
    }
    pub fn post_json(url: &'a str, body: &'a [u8], what: &'a str) -> Self {
        Request { method: "POST", url, bearer: None, body: Body::Json(body), idempotent: false, what, timeout: None }
    }
    pub fn bearer(mut self, token: &'a str) -> Self {
        self.bearer = Some(token);
        self
    }
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Every header of the answer (names lower-case), for the few callers that need more than the
    /// request id (`Location`, `Content-Type`).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub request_id: Option<String>,
    pub retry_after: Option<String>,
    pub attempts: u32,
    /// From the first attempt to the end of this answer, waits between attempts included.
    pub elapsed: Duration,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).map_err(|e| Error::new(ErrorKind::Server, format!("the service answered something that is not JSON ({e})")))
    }
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Checks cancellation; called before each attempt and during waits.
pub type Cancelled<'a> = &'a dyn Fn() -> bool;

pub struct Transport {
    agent: ureq::Agent,
    timeouts: Timeouts,
    proxy: Option<String>,
    logger: Option<Logger>,
}

impl Transport {
    pub fn new(config: &Config, logger: Option<Logger>) -> Result<Transport> {
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(path) = &config.trusted_ca_file {
            let pem = std::fs::read(path).map_err(|e| Error::io(&format!("cannot read trustedCaFile {}", path.display()), &e))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| Error::invalid_config(format!("trustedCaFile {} is not PEM certificates: {e}", path.display())))?;
                roots.add(cert).map_err(|e| Error::invalid_config(format!("trustedCaFile {} holds a certificate rustls refuses: {e}", path.display())))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::internal(format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut builder = ureq::AgentBuilder::new()
            .tls_config(Arc::new(tls))
            .timeout_connect(Duration::from_millis(config.timeouts.connect_ms))
            .user_agent(concat!("tenant-attach/", env!("CARGO_PKG_VERSION")))
            .redirects(5);
        if let Some(proxy) = &config.proxy {
            builder = builder.proxy(ureq::Proxy::new(proxy).map_err(|e| Error::invalid_config(format!("proxy: {}", redact::scrub(&e.to_string()))))?);
        }
        Ok(Transport { agent: builder.build(), timeouts: config.timeouts.clone(), proxy: config.proxy.clone(), logger })
    }

    /// Sends with retries. Any final HTTP answer is returned (callers decide what a 4xx means,
    /// usually with [`service_error`]); running out of attempts or budget on retryable answers or
    /// connection faults is an error saying so.
    pub fn send(&self, req: &Request<'_>, cancelled: Cancelled<'_>) -> Result<Response> {
        require_https(req.url)?;
        let started = Instant::now();
        let budget = Duration::from_millis(self.timeouts.retry_budget_ms);
        let max_attempts = self.timeouts.max_attempts.max(1);
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if cancelled() {
                return Err(cancelled_error(req.what));
            }
            let outcome = self.attempt(req, &client_request_id);
            let (retry_after, last) = match outcome {
                Ok(mut res) => {
                    res.attempts = attempt;
                    res.elapsed = started.elapsed();
                    // A 429 was refused unprocessed, so even a call that is not idempotent may be
                    // repeated; a 5xx may have come after the service acted on it.
                    let retryable = res.status == 429 || (req.idempotent && matches!(res.status, 500 | 502 | 503 | 504));
                    if !retryable {
                        return Ok(res);
                    }
                    (retry_after(&res), Last::Status(res))
                }
                Err(mut fault) => {
                    if !req.idempotent && fault.maybe_sent {
                        fault.error.message.push_str("; not repeated, because the request may have reached the service and repeating it is not safe");
                        return Err(fault.error);
                    }
                    if fault.permanent {
                        return Err(fault.error);
                    }
                    (None, Last::Fault(fault.error))
                }
            };
            let backoff = Duration::from_millis((250u64 << (attempt - 1).min(7)).min(30_000));
            let wait = retry_after.unwrap_or(backoff) + jitter(backoff / 4);
            let out_of_budget = started.elapsed() + wait > budget;
            if attempt >= max_attempts || out_of_budget {
                return Err(give_up(req.what, last, attempt, started.elapsed()));
            }
            if let Some(log) = &self.logger {
                log.warning(format!(
                    "{} ({} {}) {}; retrying in {:.1} s (attempt {} of {max_attempts})",
                    req.what,
                    req.method,
                    strip_query(req.url),
                    last.describe(),
                    wait.as_secs_f64(),
                    attempt + 1
                ));
            }
            sleep_cancellable(wait, cancelled).map_err(|_| cancelled_error(req.what))?;
        }
    }

    fn attempt(&self, req: &Request<'_>, client_request_id: &str) -> std::result::Result<Response, Fault> {
        let mut r = self
            .agent
            .request(req.method, req.url)
            .set("client-request-id", client_request_id)
            .set("return-client-request-id", "true")
            .set("Accept", "application/json")
            .timeout(req.timeout.unwrap_or(Duration::from_millis(self.timeouts.request_ms)));
        if let Some(token) = req.bearer {
            r = r.set("Authorization", &format!("Bearer {token}"));
        }
        let result = match &req.body {
            Body::None => r.call(),
            Body::Json(bytes) => r.set("Content-Type", "application/json").send_bytes(bytes),
            Body::Form(fields) => r.send_form(fields),
        };
        let response = match result {
            Ok(res) => res,
            Err(ureq::Error::Status(_, res)) => res,
            Err(ureq::Error::Transport(t)) => return Err(self.transport_fault(req, &t)),
        };
        let status = response.status();
        let headers: Vec<(String, String)> =
            response.headers_names().into_iter().filter_map(|name| response.header(&name).map(|v| (name.to_ascii_lowercase(), v.to_owned()))).collect();
        let request_id = response.header("request-id").or_else(|| response.header("x-ms-request-id")).map(str::to_owned);
        let retry_after_header = response.header("retry-after").map(str::to_owned);
        let mut body = Vec::new();
        if let Err(e) = response.into_reader().take(MAX_BODY).read_to_end(&mut body) {
            // The connection broke in the middle of the answer: the request did reach the service.
            return Err(Fault {
                error: Error::new(ErrorKind::Network, format!("{}: the connection to {} broke while reading the answer ({e})", req.what, host_of(req.url))),
                maybe_sent: true,
                permanent: false,
            });
        }
        let res = Response { status, headers, body, request_id, retry_after: retry_after_header, attempts: 0, elapsed: Duration::ZERO };
        Ok(res)
    }

    fn transport_fault(&self, req: &Request<'_>, t: &ureq::Transport) -> Fault {
        let text = redact::scrub(&t.to_string()).into_owned();
        let host = host_of(req.url);
        // Only the proxy's host and port: its URL may carry a password.
        let proxy = self.proxy.as_deref().map(host_of);
        use ureq::ErrorKind as K;
        let (kind, message, maybe_sent, permanent) = match t.kind() {
            K::Dns | K::ConnectionFailed if proxy.is_some() && !text.contains("certificate") && !text.contains("UnknownIssuer") => (
                ErrorKind::Network,
                format!("cannot reach {host} through the proxy {} ({text}); check the proxy setting", proxy.as_deref().unwrap_or_default()),
                false,
                false,
            ),
            K::Dns => (ErrorKind::Network, format!("cannot resolve {host}; check the name and DNS ({text})"), false, false),
            K::ConnectionFailed if text.contains("certificate") || text.contains("Certificate") || text.contains("UnknownIssuer") => (
                ErrorKind::Tls,
                format!("the TLS certificate of {host} is not trusted ({text}); if a private CA or a TLS-inspecting proxy signs it, give its CA certificate as trustedCaFile"),
                false,
                true,
            ),
            K::ConnectionFailed => (ErrorKind::Network, format!("cannot connect to {host} ({text})"), false, false),
            K::InvalidProxyUrl | K::ProxyConnect | K::ProxyUnauthorized => (
                ErrorKind::Network,
                format!("the proxy {} failed to reach {host} ({text}); check the proxy setting", proxy.as_deref().unwrap_or_default()),
                false,
                false,
            ),
            K::Io if text.contains("timed out") || text.contains("Timeout") => (ErrorKind::Timeout, format!("{host} did not answer in time ({text})"), true, false),
            K::Io if text.contains("certificate") || text.contains("UnknownIssuer") => (
                ErrorKind::Tls,
                format!("the TLS certificate of {host} is not trusted ({text}); if a private CA or a TLS-inspecting proxy signs it, give its CA certificate as trustedCaFile"),
                false,
                true,
            ),
            K::Io => (ErrorKind::Network, format!("the connection to {host} failed ({text})"), true, false),
            _ => (ErrorKind::Network, format!("the request to {host} failed ({text})"), true, false),
        };
        Fault { error: Error::new(kind, format!("{}: {message}", req.what)), maybe_sent, permanent }
    }
}

struct Fault {
    error: Error,
    /// The request may have reached the service (so only idempotent calls may be repeated).
    maybe_sent: bool,
    /// Retrying cannot help (an untrusted certificate).
    permanent: bool,
}

enum Last {
    Status(Response),
    Fault(Error),
}

impl Last {
    fn describe(&self) -> String {
        match self {
            Last::Status(r) => format!("answered HTTP {}{}", r.status, r.request_id.as_deref().map(|id| format!(" (request-id {id})")).unwrap_or_default()),
            Last::Fault(e) => e.message.clone(),
        }
    }
}

fn give_up(what: &str, last: Last, attempts: u32, elapsed: Duration) -> Error {
    let spent = format!("after {attempts} attempts in {:.1} s", elapsed.as_secs_f64());
    match last {
        Last::Status(res) => {
            let kind = if res.status == 429 { ErrorKind::Throttled } else { ErrorKind::Server };
            let mut e = service_error(&res, what);
            e.kind = kind;
            e.message = format!(
                "{} {spent}: {}; the retry budget (timeouts.retryBudgetMs / maxAttempts) ran out, run again later",
                what,
                if res.status == 429 { "the service kept throttling (429)".to_owned() } else { format!("the service kept failing (HTTP {})", res.status) }
            );
            e
        }
        Last::Fault(mut e) => {
            e.message = format!("{} ({spent}; the retry budget ran out)", e.message);
            e
        }
    }
}

fn retry_after(res: &Response) -> Option<Duration> {
    parse_retry_after(res.retry_after.as_deref()?)
}

/// A `Retry-After` value: seconds, whole or decimal (Graph sends both: `"2"`, `"2.5"`), or an
/// HTTP date; at most five minutes. None when it is neither.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(300.0)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.signed_duration_since(chrono::Utc::now()).num_milliseconds().max(0) as u64;
    Some(Duration::from_millis(wait.min(300_000)))
}

/// Up to `max` of pseudo-random jitter (no RNG dependency: the clock's nanoseconds suffice).
fn jitter(max: Duration) -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    max.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

fn sleep_cancellable(total: Duration, cancelled: Cancelled<'_>) -> std::result::Result<(), ()> {
    let end = Instant::now() + total;
    while Instant::now() < end {
        if cancelled() {
            return Err(());
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    Ok(())
}

fn cancelled_error(what: &str) -> Error {
    Error::new(ErrorKind::Cancelled, format!("{what} was cancelled"))
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// `host:port` of a URL, for messages (never the path or query, which may carry a secret).
pub fn host_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}{}", u.host_str().unwrap_or(""), u.port_or_known_default().map(|p| format!(":{p}")).unwrap_or_default()),
        Err(_) => "an unparsable address".to_owned(),
    }
}

/// Plain http only to this machine (the local cloud); anything else must be https, whatever
/// built the URL (configuration, a `@odata.nextLink`, a redirect target given to us).
fn require_https(raw: &str) -> Result<()> {
    let url = url::Url::parse(raw).map_err(|e| Error::invalid_config(format!("`{}` is not a URL ({e})", redact::scrub(strip_query(raw)))))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if crate::config::is_loopback(&url) => Ok(()),
        other => Err(Error::invalid_config(format!(
            "refusing `{}`: {other}:// to a host that is not this machine; use https:// (plain http is allowed only for 127.0.0.0/8, ::1 and localhost)",
            redact::scrub(strip_query(raw))
        ))),
    }
}

/// What an endpoint check found: any HTTP answer (even 404) means the host is reachable.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    pub url: String,
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it is not reachable (DNS, TLS, proxy, refused, timeout), or why the check was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    pub elapsed_ms: u64,
}

impl Transport {
    /// One unauthenticated GET to `url`, not retried: whether this machine can reach it through the
    /// configured proxy and trust its certificate.
    pub fn probe(&self, url: &str, cancelled: Cancelled<'_>) -> ProbeResult {
        let started = Instant::now();
        let req = Request { method: "GET", url, bearer: None, body: Body::None, idempotent: false, what: "endpoint check", timeout: None };
        let outcome = self.send_once(&req, cancelled);
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let url = redact::scrub(strip_query(url)).into_owned();
        match outcome {
            Ok(res) => ProbeResult { url, reachable: true, status: Some(res.status), error: None, error_kind: None, elapsed_ms },
            Err(e) => ProbeResult { url, reachable: false, status: None, error: Some(e.message), error_kind: Some(e.kind), elapsed_ms },
        }
    }

    /// A single attempt (no retry whatever happens).
    fn send_once(&self, req: &Request<'_>, cancelled: Cancelled<'_>) -> Result<Response> {
        require_https(req.url)?;
        if cancelled() {
            return Err(cancelled_error(req.what));
        }
        let started = Instant::now();
        let mut res = self.attempt(req, &uuid::Uuid::new_v4().to_string()).map_err(|f| f.error)?;
        res.attempts = 1;
        res.elapsed = started.elapsed();
        Ok(res)
    }
}

/// The text a person needs from a Graph error's `error.message`. Intune puts a JSON *string* there
/// (`{"_version":3,"Message":"… - Operation ID (for customer support): … - Activity ID: …"}`), at
/// times wrapped once more (`{"ErrorCode":"Forbidden","Message":"{\"_version\":3,…}"}`): the
/// innermost `Message` up to the support ids is what is said; any other message is itself.
pub fn graph_message(message: &str) -> String {
    let mut text = message.to_owned();
    for _ in 0..3 {
        match serde_json::from_str::<Value>(text.trim()).ok().and_then(|v| v.get("Message").and_then(Value::as_str).map(str::to_owned)) {
            Some(inner) => text = inner,
            None => break,
        }
    }
    if text == message {
        return text;
    }
    text.split(" - Operation ID").next().unwrap_or(&text).trim().to_owned()
}

/// The library's error for a service's non-success answer: Azure AD's (`error`,
/// `error_description` with its AADSTS code, trace and correlation ids cut off), Graph's and
/// Intune's (`error.code`, `error.message`, Intune's JSON-in-a-string read) or the gateway's
/// (`{"Message":"…"}`) shape, with the HTTP status and request id, and a hint where one helps.
pub fn service_error(res: &Response, what: &str) -> Error {
    let body: Value = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
    let (code, message) = match &body["error"] {
        Value::String(error) => {
            let description = body["error_description"].as_str().unwrap_or("");
            let aadsts = description.split(':').next().filter(|c| c.starts_with("AADSTS")).map(str::to_owned);
            // Azure AD ends the description with "\r\nTrace ID: …\r\nCorrelation ID: …" (older
            // answers: the same after spaces).
            let short = description.split("Trace ID:").next().unwrap_or(description).trim_end().to_owned();
            (aadsts.or_else(|| Some(error.clone())), if short.is_empty() { error.clone() } else { short })
        }
        Value::Object(e) => (e.get("code").and_then(Value::as_str).map(str::to_owned), graph_message(e.get("message").and_then(Value::as_str).unwrap_or(""))),
        _ => match body.get("Message").and_then(Value::as_str) {
            Some(m) => (None, m.to_owned()),
            None => (None, String::from_utf8_lossy(&res.body).chars().take(300).collect()),
        },
    };
    let is_aad = matches!(body["error"], Value::String(_));
    let kind = match res.status {
        400 if is_aad => ErrorKind::AuthFailed,
        401 => ErrorKind::AuthFailed,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        429 => ErrorKind::Throttled,
        400..=499 => ErrorKind::InvalidArgument,
        _ => ErrorKind::Server,
    };
    let hint = match code.as_deref() {
        Some("AADSTS7000215") => " Check the client secret: give the secret's value (not its id), and create a new one if it has expired or was deleted.",
        Some("AADSTS7000222") => " The client secret has expired: create a new one and update the configuration.",
        Some("AADSTS700016") => " Check the client id and that the app is registered in this tenant.",
        Some("AADSTS90002") => " Check tenantId: it must be the tenant's GUID or a verified domain.",
        Some("AADSTS700027") => {
            " Check the certificate: it must be one of the app registration's certificates (Certificates & secrets), not expired there, with the private key that belongs to it."
        }
        Some("AADSTS700024") => " The client assertion was outside its valid time: check this machine's clock.",
        _ => "",
    };
    let message = redact::scrub(&message).into_owned();
    let mut e = Error::new(
        kind,
        format!("{what} failed: {message}{hint} (HTTP {}{})", res.status, res.request_id.as_deref().map(|id| format!(", request-id {id}")).unwrap_or_default()),
    )
    .with_http(res.status, res.request_id.clone());
    if let Some(code) = code {
        e = e.with_code(code);
    }
    e
}
