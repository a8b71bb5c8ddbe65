//! Sign-in against tenant-attach-cloud (its Azure AD stand-in over HTTPS): client credentials,
//! the device code flow (approved, declined, expired, cancelled, `slow_down`), refresh tokens for
//! further resources, a caller-supplied token, the per-resource cache, renewal and no stampede.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tenant_attach::auth::{Auth, Claims};
use tenant_attach::config::{GATEWAY_RESOURCE, GRAPH_RESOURCE};
use tenant_attach::error::ErrorKind;
use tenant_attach::http::Transport;
use tenant_attach::Config;
use tenant_attach_cloud::{CloudHandle, TestCloud, CONTOSO_AUTOMATION_APP, CONTOSO_AUTOMATION_SECRET, CONTOSO_DOMAIN, CONTOSO_TENANT, GLOBAL_ADMINISTRATOR};

const NEVER: &dyn Fn() -> bool = &|| false;

fn config_for(authority: &str, ca_file: Option<&std::path::Path>, auth: Value) -> Config {
    let mut c = json!({ "tenantId": CONTOSO_DOMAIN, "endpoints": { "authority": authority }, "timeouts": { "retryBudgetMs": 10000 }, "auth": auth });
    if let Some(ca) = ca_file {
        c["trustedCaFile"] = json!(ca);
    }
    Config::from_json(&c.to_string()).expect("valid config")
}

fn signed_in(cloud: &CloudHandle, auth: Value, logger: Option<tenant_attach::cmtrace::Logger>) -> (Auth, Transport) {
    let config = config_for(cloud.url(), Some(cloud.ca_file()), auth);
    (Auth::new(&config, logger.clone()).expect("auth"), Transport::new(&config, logger).expect("transport"))
}

fn app() -> Value {
    json!({ "kind": "clientSecret", "clientId": CONTOSO_AUTOMATION_APP, "clientSecret": CONTOSO_AUTOMATION_SECRET })
}

fn requests(cloud: &CloudHandle) -> u64 {
    cloud.counters()["requests"].as_u64().expect("counter")
}

#[test]
fn client_credentials_are_cached_per_resource_and_renewed_before_expiry() {
    let cloud = TestCloud::start().expect("cloud");
    let logs = tempfile::tempdir().expect("tempdir");
    let logger = tenant_attach::cmtrace::Logger::open(logs.path(), "TenantAttach.log", "TenantAttach", 1 << 20).expect("log");
    let (auth, transport) = signed_in(&cloud, app(), Some(logger.clone()));

    let graph = auth.token(&transport, GRAPH_RESOURCE, NEVER).expect("graph token");
    let claims = Claims::of(&graph).expect("a JWT");
    assert_eq!((claims.app(), claims.tid.as_deref(), claims.aud.as_deref()), (Some(CONTOSO_AUTOMATION_APP), Some(CONTOSO_TENANT), Some(GRAPH_RESOURCE)));
    assert!(claims.roles.iter().any(|r| r == "DeviceManagementManagedDevices.PrivilegedOperations.All"), "{claims:?}");
    assert!(!claims.is_global_administrator());

    // Cached: no request.
    let before = requests(&cloud);
    assert_eq!(auth.token(&transport, GRAPH_RESOURCE, NEVER).expect("cached"), graph);
    assert_eq!(requests(&cloud), before);

    // Another resource is another token.
    let gateway = auth.token(&transport, GATEWAY_RESOURCE, NEVER).expect("gateway token");
    assert_eq!(Claims::of(&gateway).and_then(|c| c.aud).as_deref(), Some(GATEWAY_RESOURCE));
    assert_eq!(requests(&cloud), before + 1);

    // A margin longer than the token's life: every call renews.
    auth.set_renew_before(Duration::from_secs(2 * 3600));
    auth.token(&transport, GRAPH_RESOURCE, NEVER).expect("renewed");
    auth.token(&transport, GRAPH_RESOURCE, NEVER).expect("renewed again");
    assert_eq!(requests(&cloud), before + 3);

    let log = std::fs::read_to_string(logger.path()).expect("log written");
    assert!(log.contains(&format!("Acquired a token for {GRAPH_RESOURCE} as {CONTOSO_AUTOMATION_APP} (expires ")), "{log}");
    assert!(!log.contains(&graph) && !log.contains(CONTOSO_AUTOMATION_SECRET), "no token or secret in the log");
}

#[test]
fn concurrent_callers_share_one_fetch() {
    let cloud = TestCloud::start().expect("cloud");
    let (auth, transport) = signed_in(&cloud, app(), None);
    let before = requests(&cloud);
    let barrier = Barrier::new(8);
    let tokens: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    auth.token(&transport, GRAPH_RESOURCE, NEVER).expect("token")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    assert_eq!(requests(&cloud), before + 1, "one token request for eight callers");
}

#[test]
fn a_wrong_client_secret_says_what_to_check() {
    let cloud = TestCloud::start().expect("cloud");
    let wrong = "wrong~secret.value.123";
    let (auth, transport) = signed_in(&cloud, json!({ "kind": "clientSecret", "clientId": CONTOSO_AUTOMATION_APP, "clientSecret": wrong }), None);
    let e = auth.token(&transport, GRAPH_RESOURCE, NEVER).expect_err("refused");
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::AuthFailed, Some("AADSTS7000215")), "{e}");
    assert!(e.message.contains("client secret") && e.request_id.is_some(), "{e}");
    assert!(!format!("{e:?}").contains(wrong));
}

/// A person signing in by device code, the prompt handled by `on_prompt` (as the cloud's admin
/// would: approve, decline, expire), counting prompts.
fn person(cloud: &Arc<CloudHandle>, on_prompt: impl Fn(&CloudHandle, &str) + Send + Sync + 'static) -> (Auth, Transport, Arc<AtomicUsize>) {
    let (auth, transport) = signed_in(cloud, json!({ "kind": "deviceCode" }), None);
    let prompts = Arc::new(AtomicUsize::new(0));
    let (count, c) = (prompts.clone(), cloud.clone());
    auth.set_prompt(Arc::new(move |p| {
        count.fetch_add(1, Ordering::SeqCst);
        assert!(p.message.contains(&p.user_code) && p.verification_uri.ends_with("/devicelogin") && p.expires_in > 0);
        on_prompt(&c, &p.user_code);
        Ok(())
    }));
    (auth, transport, prompts)
}

#[test]
fn device_code_sign_in_then_refresh_for_the_next_resource_without_asking_again() {
    let cloud = Arc::new(TestCloud::start().expect("cloud"));
    let (auth, transport, prompts) = person(&cloud, |c, code| c.approve_device_code(code, "admin@contoso.onmicrosoft.com").expect("approved"));
    assert!(auth.is_user());
    let graph = auth.token(&transport, GRAPH_RESOURCE, NEVER).expect("approved sign-in");
    let claims = Claims::of(&graph).expect("JWT");
    assert_eq!(claims.upn.as_deref(), Some("admin@contoso.onmicrosoft.com"));
    assert!(claims.is_global_administrator() && claims.wids.iter().any(|w| w == GLOBAL_ADMINISTRATOR));
    assert_eq!(claims.app(), Some(tenant_attach::auth::DEFAULT_PUBLIC_CLIENT));

    let gateway = auth.token(&transport, GATEWAY_RESOURCE, NEVER).expect("by refresh token");
    assert_eq!(Claims::of(&gateway).and_then(|c| c.aud).as_deref(), Some(GATEWAY_RESOURCE));
    auth.set_renew_before(Duration::from_secs(2 * 3600));
    auth.token(&transport, GRAPH_RESOURCE, NEVER).expect("renewed by refresh token");
    assert_eq!(prompts.load(Ordering::SeqCst), 1, "the person is asked once");

    // A reader is signed in too, and their claims say early that they are no Global Administrator.
    let (reader, transport, _) = person(&cloud, |c, code| c.approve_device_code(code, "reader@contoso.onmicrosoft.com").expect("approved"));
    let token = reader.token(&transport, GRAPH_RESOURCE, NEVER).expect("signed in");
    assert!(!Claims::of(&token).expect("JWT").is_global_administrator());
}

#[test]
fn device_code_declined_expired_or_cancelled() {
    let cloud = Arc::new(TestCloud::start().expect("cloud"));

    let (auth, transport, _) = person(&cloud, |c, code| c.decline_device_code(code).expect("declined"));
    let e = auth.token(&transport, GRAPH_RESOURCE, NEVER).expect_err("declined");
    assert_eq!(e.kind, ErrorKind::AuthFailed);
    assert!(e.message.contains("declined"), "{e}");

    let (auth, transport, _) = person(&cloud, |c, code| c.expire_device_code(code).expect("expired"));
    let e = auth.token(&transport, GRAPH_RESOURCE, NEVER).expect_err("expired");
    assert_eq!(e.kind, ErrorKind::Expired);
    assert!(e.message.contains("run again"), "{e}");

    let (auth, transport, _) = person(&cloud, |_, _| {});
    let cancel = Arc::new(AtomicBool::new(false));
    let setter = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        setter.store(true, Ordering::SeqCst);
    });
    let started = Instant::now();
    let e = auth.token(&transport, GRAPH_RESOURCE, &|| cancel.load(Ordering::SeqCst)).expect_err("cancelled");
    assert_eq!(e.kind, ErrorKind::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

fn jwt(claims: Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk", b64(&json!({ "alg": "RS256", "typ": "JWT" })), b64(&claims))
}

#[test]
fn a_given_access_token_is_used_as_is_and_its_expiry_reported() {
    // No service behind the authority: a given token needs none.
    let valid = jwt(
        json!({ "aud": GRAPH_RESOURCE, "exp": chrono::Utc::now().timestamp() + 600, "wids": [GLOBAL_ADMINISTRATOR], "upn": "admin@contoso.onmicrosoft.com" }),
    );
    let config = config_for("https://login.contoso.invalid", None, json!({ "kind": "accessToken", "accessToken": valid }));
    let (auth, transport) = (Auth::new(&config, None).expect("auth"), Transport::new(&config, None).expect("transport"));
    assert_eq!(auth.token(&transport, GRAPH_RESOURCE, NEVER).expect("as is"), valid);
    assert_eq!(auth.token(&transport, GATEWAY_RESOURCE, NEVER).expect("for any resource"), valid);
    assert!(Claims::of(&valid).expect("claims").is_global_administrator());
    assert_eq!(tenant_attach::redact::scrub(&format!("token {valid}")), "token ***");

    let expired = jwt(json!({ "aud": GRAPH_RESOURCE, "exp": chrono::Utc::now().timestamp() - 60 }));
    let config = config_for("https://login.contoso.invalid", None, json!({ "kind": "accessToken", "accessToken": expired }));
    let auth = Auth::new(&config, None).expect("auth");
    let e = auth.token(&transport, GRAPH_RESOURCE, NEVER).expect_err("expired");
    assert_eq!(e.kind, ErrorKind::Expired);
    assert!(e.message.contains("expired at") && !e.message.contains(&expired), "{e}");

    // An opaque (non-JWT) token has no claims to read and is used as is.
    let opaque = "opaque-token-value-0001";
    let config = config_for("https://login.contoso.invalid", None, json!({ "kind": "accessToken", "accessToken": opaque }));
    assert!(Claims::of(opaque).is_none());
    assert_eq!(Auth::new(&config, None).expect("auth").token(&transport, GRAPH_RESOURCE, NEVER).expect("as is"), opaque);
}

/// A token service on plain HTTP (127.0.0.1) that gives `answers` in order, one per connection,
/// recording when each request came and its body.
struct FakeTokenService {
    url: String,
    seen: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl FakeTokenService {
    fn start(answers: Vec<(u16, Value)>) -> FakeTokenService {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for (status, body) in answers {
                let Ok((mut stream, _)) = listener.accept() else { return };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let request = read_whole_request(&mut stream);
                if let Ok(mut l) = log.lock() {
                    l.push((Instant::now(), request));
                }
                let body = body.to_string();
                let _ = stream.write_all(
                    format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                        .as_bytes(),
                );
            }
        });
        FakeTokenService { url, seen }
    }

    fn auth(&self, prompts: Arc<AtomicUsize>) -> (Auth, Transport) {
        let config = config_for(&self.url, None, json!({ "kind": "deviceCode" }));
        let (auth, transport) = (Auth::new(&config, None).expect("auth"), Transport::new(&config, None).expect("transport"));
        auth.set_prompt(Arc::new(move |_| {
            prompts.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }));
        (auth, transport)
    }
}

/// Reads one request (head and `Content-Length` body) so that the answer follows all of it.
fn read_whole_request(stream: &mut std::net::TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&bytes);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length =
                head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok())).unwrap_or(0);
            if body.len() >= length {
                return body.to_owned();
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn device_code_start() -> (u16, Value) {
    (
        200,
        json!({ "device_code": "device-code-0001", "user_code": "ABCDEFGHJ", "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 60, "interval": 1, "message": "enter ABCDEFGHJ" }),
    )
}

fn token_answer(resource: &str, refresh: Option<&str>) -> (String, (u16, Value)) {
    let token = jwt(json!({ "aud": resource, "exp": chrono::Utc::now().timestamp() + 3600 }));
    let mut body = json!({ "access_token": token, "expires_in": "3600", "token_type": "Bearer" });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    (token, (200, body))
}

#[test]
fn slow_down_lengthens_the_polling_interval() {
    let (token, answer) = token_answer(GRAPH_RESOURCE, None);
    let service =
        FakeTokenService::start(vec![device_code_start(), (400, json!({ "error": "slow_down", "error_description": "AADSTS70016: slow down" })), answer]);
    let (auth, transport) = service.auth(Arc::new(AtomicUsize::new(0)));
    assert_eq!(auth.token(&transport, GRAPH_RESOURCE, NEVER).expect("signed in after slow_down"), token);
    let seen = service.seen.lock().expect("log");
    assert_eq!(seen.len(), 3);
    let first_poll = seen[1].0 - seen[0].0;
    let after_slow_down = seen[2].0 - seen[1].0;
    assert!(first_poll >= Duration::from_millis(950) && first_poll < Duration::from_secs(3), "{first_poll:?}");
    assert!(after_slow_down >= Duration::from_millis(5900) && after_slow_down < Duration::from_secs(9), "interval + 5 s: {after_slow_down:?}");
    assert!(
        seen[1].1.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code") && seen[1].1.contains("device_code=device-code-0001"),
        "{}",
        seen[1].1
    );
}

#[test]
fn a_refresh_token_that_no_longer_works_asks_the_person_again() {
    let (graph, graph_answer) = token_answer(GRAPH_RESOURCE, Some("refresh-token-0001"));
    let (gateway, gateway_answer) = token_answer(GATEWAY_RESOURCE, Some("refresh-token-0002"));
    let service = FakeTokenService::start(vec![
        device_code_start(),
        graph_answer,
        (400, json!({ "error": "invalid_grant", "error_description": "AADSTS700082: The refresh token has expired due to inactivity." })),
        device_code_start(),
        gateway_answer,
    ]);
    let prompts = Arc::new(AtomicUsize::new(0));
    let (auth, transport) = service.auth(prompts.clone());
    assert_eq!(auth.token(&transport, GRAPH_RESOURCE, NEVER).expect("first sign-in"), graph);
    assert_eq!(auth.token(&transport, GATEWAY_RESOURCE, NEVER).expect("second sign-in"), gateway);
    assert_eq!(prompts.load(Ordering::SeqCst), 2);
    let seen = service.seen.lock().expect("log");
    assert!(seen[2].1.contains("grant_type=refresh_token") && seen[2].1.contains("refresh_token=refresh-token-0001"), "{}", seen[2].1);
    assert!(seen[2].1.contains("gateway.configmgr.manage.microsoft.com%2F.default"), "{}", seen[2].1);
    // Every secret seen was registered: none can reach a log line or an error.
    let scrubbed = tenant_attach::redact::scrub("refresh-token-0001 refresh-token-0002 device-code-0001");
    assert!(!scrubbed.contains("refresh-token-000") && !scrubbed.contains("device-code-0001"), "{scrubbed}");
}
