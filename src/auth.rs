//! Signing in to Azure AD: client credentials with a client secret or a certificate (runbooks;
//! the certificate's client assertion is made in `certificate.rs`), the device code
//! flow (a person: the code reaches the caller through a callback, the call waits cancellably until
//! it is approved, declined or expires, and the refresh token then serves further resources without
//! asking again), or an access token the caller already has. Tokens are cached per resource and
//! renewed five minutes before they expire; one fetch at a time, so concurrent callers do not
//! stampede the token service.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::cmtrace::Logger;
use crate::config::{AuthConfig, Config};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{service_error, Body, Cancelled, Request, Transport};
use crate::redact;

/// Microsoft Graph PowerShell: the public client used for the device code flow unless configured.
pub const DEFAULT_PUBLIC_CLIENT: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
/// Renew this long before expiry (by default; see [`Auth::set_renew_before`]).
pub const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// The longest lifetime or wait a service's answer may set (a day): a larger number in a token or
/// device code answer is taken as this, never added to a clock where it could overflow.
const MAX_SERVICE_SECONDS: u64 = 86_400;

/// What the person must do to sign in (device code flow).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCodePrompt {
    pub verification_uri: String,
    pub user_code: String,
    pub message: String,
    pub expires_in: u64,
}

/// Shows the device code sign-in's instructions to a person. An error abandons the sign-in (for
/// instance when the prompt cannot be shown on this thread).
pub type PromptFn = dyn Fn(&DeviceCodePrompt) -> Result<()> + Send + Sync;

struct Cached {
    token: String,
    expires_at: Instant,
}

/// The name the design gives it: what hands out tokens per resource.
pub type TokenProvider = Auth;

pub struct Auth {
    method: AuthConfig,
    /// `{authority}/{tenant}`.
    base: String,
    cache: Mutex<HashMap<String, Cached>>,
    refresh_token: Mutex<Option<String>>,
    /// The thread fetching a token, if one is: one sign-in at a time. A flag rather than a lock
    /// held across the sign-in, so that waiters honour their own cancel and a prompt never runs
    /// with a lock held.
    fetching: Mutex<Option<std::thread::ThreadId>>,
    fetched: Condvar,
    prompt: Mutex<Option<Arc<PromptFn>>>,
    logger: Option<Logger>,
    renew_before_ms: AtomicU64,
    /// Kind `clientCertificate`: the certificate and key that sign client assertions.
    certificate: Option<crate::certificate::ClientCertificate>,
}

/// The claims of a token the library uses, decoded WITHOUT verifying the signature: a client cannot
/// verify a token meant for another audience (the service does), so these only serve to tell a
/// person early and clearly what they lack ("you are not a Global Administrator"), never to decide
/// what they may do.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Claims {
    /// The signed-in user's (or the app's service principal's) object id.
    pub oid: Option<String>,
    pub tid: Option<String>,
    pub upn: Option<String>,
    /// The client application: v1 tokens say `appid`, v2 tokens `azp` (see [`Claims::app`]).
    pub appid: Option<String>,
    pub azp: Option<String>,
    /// Directory role template ids of a user (Global Administrator: 62e90394-...).
    pub wids: Vec<String>,
    /// Application permissions of an app token.
    pub roles: Vec<String>,
    pub aud: Option<String>,
    /// Expiry, seconds since 1970.
    pub exp: Option<i64>,
}

/// Directory role template id of Global Administrator.
pub const GLOBAL_ADMINISTRATOR_ROLE: &str = "62e90394-69f5-4237-9190-012177145e10";

impl Claims {
    /// The claims of a JWT; None when `token` is not one (an opaque token).
    pub fn of(token: &str) -> Option<Claims> {
        // Read leniently, claim by claim: one oddly typed claim must not hide the others.
        let c = claims(token)?;
        let text = |k: &str| c[k].as_str().map(str::to_owned);
        let list = |k: &str| c[k].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default();
        Some(Claims {
            oid: text("oid"),
            tid: text("tid"),
            upn: text("upn").or_else(|| text("preferred_username")),
            appid: text("appid"),
            azp: text("azp"),
            wids: list("wids"),
            roles: list("roles"),
            aud: text("aud").or_else(|| list("aud").into_iter().next()),
            exp: c["exp"].as_i64().or_else(|| c["exp"].as_f64().map(|f| f as i64)),
        })
    }

    /// The client application the token was issued to.
    pub fn app(&self) -> Option<&str> {
        self.appid.as_deref().or(self.azp.as_deref())
    }

    pub fn is_global_administrator(&self) -> bool {
        self.wids.iter().any(|w| w.eq_ignore_ascii_case(GLOBAL_ADMINISTRATOR_ROLE))
    }
}

/// Claims of a token, decoded without verification (the client cannot verify a token; the
/// service does). Used to tell a person early what they lack.
pub fn claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl Auth {
    pub fn new(config: &Config, logger: Option<Logger>) -> Result<Auth> {
        let method = config.auth.clone().ok_or_else(|| {
            Error::invalid_config(
                "no sign-in is configured: set \"auth\" to {\"kind\":\"clientSecret\",...}, {\"kind\":\"deviceCode\"} or {\"kind\":\"accessToken\",...}",
            )
        })?;
        let tenant = config.tenant_id.clone().ok_or_else(|| Error::invalid_config("tenantId is required to sign in"))?;
        match &method {
            AuthConfig::AccessToken { access_token } => redact::register_secret(access_token),
            AuthConfig::ClientSecret { client_secret, .. } => redact::register_secret(client_secret),
            AuthConfig::DeviceCode { .. } | AuthConfig::ClientCertificate { .. } => {}
        }
        let certificate = crate::certificate::Source::of(&method).map(|s| crate::certificate::ClientCertificate::load(&s)).transpose()?;
        Ok(Auth {
            method,
            base: format!("{}/{}", config.endpoints.authority_url().trim_end_matches('/'), tenant),
            cache: Mutex::new(HashMap::new()),
            refresh_token: Mutex::new(None),
            fetching: Mutex::new(None),
            fetched: Condvar::new(),
            prompt: Mutex::new(None),
            logger,
            renew_before_ms: AtomicU64::new(RENEW_BEFORE.as_millis() as u64),
            certificate,
        })
    }

    /// How long before expiry a cached token is renewed (tests shorten or lengthen it).
    pub fn set_renew_before(&self, margin: Duration) {
        self.renew_before_ms.store(u64::try_from(margin.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Where the device code flow's instructions go (default: the log and standard error).
    pub fn set_prompt(&self, prompt: Arc<PromptFn>) {
        *self.prompt.lock().unwrap_or_else(|e| e.into_inner()) = Some(prompt);
    }

    pub fn is_user(&self) -> bool {
        matches!(self.method, AuthConfig::DeviceCode { .. })
    }

    /// A token for `resource` (`https://graph.microsoft.com`), from the cache when still good.
    pub fn token(&self, transport: &Transport, resource: &str, cancelled: Cancelled<'_>) -> Result<String> {
        if let AuthConfig::AccessToken { access_token } = &self.method {
            return check_given_token(access_token);
        }
        if let Some(t) = self.cached(resource) {
            return Ok(t);
        }
        let _one_at_a_time = self.begin_fetch(cancelled)?;
        if let Some(t) = self.cached(resource) {
            return Ok(t);
        }
        let answer = match &self.method {
            AuthConfig::ClientSecret { client_id, client_secret } => {
                let scope = format!("{resource}/.default");
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.as_str()),
                    ("scope", scope.as_str()),
                ];
                self.token_request(transport, &form, cancelled)?
            }
            AuthConfig::ClientCertificate { client_id, .. } => {
                let certificate = self.certificate.as_ref().ok_or_else(|| Error::internal("the certificate was not loaded"))?;
                let url = format!("{}/oauth2/v2.0/token", self.base);
                let form = certificate.token_form(client_id, &url, &format!("{resource}/.default"))?;
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                self.token_request(transport, &form, cancelled)?
            }
            AuthConfig::DeviceCode { client_id } => {
                let client_id = client_id.as_deref().unwrap_or(DEFAULT_PUBLIC_CLIENT);
                let refresh = self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()).clone();
                match refresh {
                    Some(refresh) => {
                        let scope = format!("{resource}/.default offline_access");
                        let form = [("grant_type", "refresh_token"), ("client_id", client_id), ("refresh_token", refresh.as_str()), ("scope", scope.as_str())];
                        match self.token_request(transport, &form, cancelled) {
                            Ok(answer) => answer,
                            // The sign-in is over (revoked, expired, password changed): ask the person again.
                            Err(e) if e.kind == ErrorKind::AuthFailed && e.http_status == Some(400) => {
                                if let Some(log) = &self.logger {
                                    log.warning(format!("The sign-in could not be renewed ({}); asking to sign in again", e.message));
                                }
                                *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = None;
                                self.device_code(transport, client_id, resource, cancelled)?
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    None => self.device_code(transport, client_id, resource, cancelled)?,
                }
            }
            AuthConfig::AccessToken { .. } => unreachable!("handled above"),
        };
        let token = answer["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::new(ErrorKind::AuthFailed, "the token service answered without an access token"))?
            .to_owned();
        redact::register_secret(&token);
        if let Some(refresh) = answer["refresh_token"].as_str().filter(|t| !t.is_empty()) {
            redact::register_secret(refresh);
            *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = Some(refresh.to_owned());
        }
        // AAD v2 sends a number, older endpoints a string.
        let expires_in =
            answer["expires_in"].as_u64().or_else(|| answer["expires_in"].as_str().and_then(|s| s.parse().ok())).unwrap_or(3600).min(MAX_SERVICE_SECONDS);
        let lifetime = Duration::from_secs(expires_in);
        if let Some(log) = &self.logger {
            let who = Claims::of(&token).and_then(|c| c.upn.clone().or_else(|| c.app().map(str::to_owned))).map(|w| format!(" as {w}")).unwrap_or_default();
            let expires = (chrono::Local::now() + chrono::Duration::seconds(expires_in as i64)).format("%H:%M:%S");
            log.info(format!("Acquired a token for {resource}{who} (expires {expires})"));
        }
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(resource.to_owned(), Cached { token: token.clone(), expires_at: Instant::now() + lifetime });
        Ok(token)
    }

    /// Waits for any other thread's sign-in to finish (checking `cancelled` meanwhile), then marks
    /// this thread as the one signing in until the guard drops.
    fn begin_fetch(&self, cancelled: Cancelled<'_>) -> Result<FetchGuard<'_>> {
        let me = std::thread::current().id();
        let mut fetching = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match *fetching {
                None => break,
                Some(owner) if owner == me => {
                    return Err(Error::new(
                        ErrorKind::CallbackReentry,
                        "a token was asked for from inside the device code prompt of the same sign-in, which would wait for itself; \
                         return from the prompt first",
                    ))
                }
                Some(_) if cancelled() => return Err(Error::new(ErrorKind::Cancelled, "the call was cancelled while another call was signing in")),
                Some(_) => fetching = self.fetched.wait_timeout(fetching, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0,
            }
        }
        *fetching = Some(me);
        Ok(FetchGuard(self))
    }

    fn cached(&self, resource: &str) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let margin = Duration::from_millis(self.renew_before_ms.load(Ordering::Relaxed));
        cache.get(resource).filter(|c| Instant::now() + margin < c.expires_at).map(|c| c.token.clone())
    }

    fn token_request(&self, transport: &Transport, form: &[(&str, &str)], cancelled: Cancelled<'_>) -> Result<Value> {
        let url = format!("{}/oauth2/v2.0/token", self.base);
        let req = Request { method: "POST", url: &url, bearer: None, body: Body::Form(form), idempotent: true, what: "sign-in", timeout: None };
        let res = transport.send(&req, cancelled)?;
        if !res.ok() {
            return Err(service_error(&res, "sign-in"));
        }
        res.json()
    }

    fn device_code(&self, transport: &Transport, client_id: &str, resource: &str, cancelled: Cancelled<'_>) -> Result<Value> {
        let url = format!("{}/oauth2/v2.0/devicecode", self.base);
        let scope = format!("{resource}/.default offline_access openid profile");
        let form = [("client_id", client_id), ("scope", scope.as_str())];
        let req = Request { method: "POST", url: &url, bearer: None, body: Body::Form(&form), idempotent: true, what: "device code sign-in", timeout: None };
        let res = transport.send(&req, cancelled)?;
        if !res.ok() {
            return Err(service_error(&res, "device code sign-in"));
        }
        let start = res.json()?;
        let device_code = start["device_code"]
            .as_str()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::new(ErrorKind::AuthFailed, "the token service started no device code sign-in (no device_code in its answer)"))?
            .to_owned();
        redact::register_secret(&device_code);
        let prompt = DeviceCodePrompt {
            verification_uri: start["verification_uri"].as_str().unwrap_or_default().to_owned(),
            user_code: start["user_code"].as_str().unwrap_or_default().to_owned(),
            message: start["message"].as_str().unwrap_or_default().to_owned(),
            expires_in: start["expires_in"].as_u64().unwrap_or(900).min(MAX_SERVICE_SECONDS),
        };
        if let Some(log) = &self.logger {
            log.info(format!("Device code sign-in: {}", prompt.message));
        }
        // Taken out of the lock: the prompt is the caller's code, and may set another prompt.
        let show = self.prompt.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match show {
            Some(show) => show(&prompt)?,
            None => eprintln!("{}", prompt.message),
        }
        let mut interval = Duration::from_secs(start["interval"].as_u64().unwrap_or(5).clamp(1, 60));
        let deadline = Instant::now() + Duration::from_secs(prompt.expires_in);
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", client_id), ("device_code", device_code.as_str())];
        loop {
            let end = Instant::now() + interval;
            while Instant::now() < end {
                if cancelled() {
                    return Err(Error::new(ErrorKind::Cancelled, "the sign-in was cancelled"));
                }
                std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
            }
            let req = Request {
                method: "POST",
                url: &format!("{}/oauth2/v2.0/token", self.base),
                bearer: None,
                body: Body::Form(&form),
                idempotent: true,
                what: "sign-in",
                timeout: None,
            };
            let res = transport.send(&req, cancelled)?;
            if res.ok() {
                return res.json();
            }
            let body: Value = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
            match body["error"].as_str() {
                Some("authorization_pending") if Instant::now() < deadline => continue,
                Some("slow_down") => interval = (interval + Duration::from_secs(5)).min(Duration::from_secs(60)),
                Some("authorization_declined") => {
                    return Err(Error::new(ErrorKind::AuthFailed, "the sign-in was declined; run again and approve it").with_code("authorization_declined"))
                }
                Some("expired_token") | Some("authorization_pending") => {
                    return Err(Error::new(ErrorKind::Expired, "the device code expired before the sign-in was completed; run again and enter the code sooner")
                        .with_code("expired_token"))
                }
                _ => return Err(service_error(&res, "device code sign-in")),
            }
        }
    }
}

/// Marks the end of a thread's sign-in and wakes the threads waiting for it.
struct FetchGuard<'a>(&'a Auth);

impl Drop for FetchGuard<'_> {
    fn drop(&mut self) {
        *self.0.fetching.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.0.fetched.notify_all();
    }
}

/// A caller-supplied token is used as is; when it is a JWT that has expired, say so plainly.
fn check_given_token(token: &str) -> Result<String> {
    if let Some(exp) = Claims::of(token).and_then(|c| c.exp) {
        if exp < chrono::Utc::now().timestamp() {
            let when = chrono::DateTime::from_timestamp(exp, 0).map(|t| t.to_rfc3339()).unwrap_or_default();
            return Err(Error::new(ErrorKind::Expired, format!("the access token given in the configuration expired at {when}; get a new one")));
        }
    }
    Ok(token.to_owned())
}
