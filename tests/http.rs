//! The HTTP transport: retries (Retry-After in seconds and as a date, budget and attempt limits),
//! idempotency, cancellation, HTTPS enforcement, error mapping, the private CA of the local cloud,
//! proxies and the endpoint probe. Retry mechanics run against a scripted plain-HTTP server on
//! 127.0.0.1 (loopback is the one place plain http is allowed); TLS against tenant-attach-cloud.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tenant_attach::error::ErrorKind;
use tenant_attach::http::{service_error, Body, Request, Transport};
use tenant_attach::Config;
use tenant_attach_cloud::TestCloud;

const NEVER: &dyn Fn() -> bool = &|| false;

/// What the scripted server does with one connection.
enum Step {
    /// Reads the request, writes this raw answer, closes.
    Answer(String),
    /// Reads the request, then closes without a word (a connection dropped before the answer).
    Drop,
    /// Reads the request, starts an answer promising more bytes than it sends, closes.
    Truncate,
    /// Reads the request and says nothing for this long (a timeout).
    Silence(Duration),
}

fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Step {
    let mut head = format!("HTTP/1.1 {status} Scripted\r\nContent-Length: {}\r\nConnection: close\r\nContent-Type: application/json\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    Step::Answer(format!("{head}\r\n{body}"))
}

/// A request as the server saw it.
struct Seen {
    at: Instant,
    head: String,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// A plain-HTTP server on 127.0.0.1 that plays `steps`, one per connection, then stops listening
/// (so a further attempt is refused). Gives up after 30 s whatever happens.
struct Scripted {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    fn start(steps: Vec<Step>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        listener.set_nonblocking(true).expect("nonblocking");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            for step in steps {
                let stream = loop {
                    match listener.accept() {
                        Ok((s, _)) => break s,
                        Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                        Err(_) => return,
                    }
                };
                let Some(mut stream) = read_request(stream, &log) else { continue };
                match step {
                    Step::Answer(raw) => {
                        let _ = stream.write_all(raw.as_bytes());
                    }
                    Step::Drop => {}
                    Step::Truncate => {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{\"value\":[");
                    }
                    Step::Silence(d) => std::thread::sleep(d),
                }
            }
        });
        Scripted { url, seen }
    }

    fn count(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or(0)
    }
}

fn read_request(mut stream: TcpStream, log: &Mutex<Vec<Seen>>) -> Option<TcpStream> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&buf[..n]);
        if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let length: usize = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))).unwrap_or(0);
    while bytes.len() < head_end + length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&bytes[head_end..]).into_owned();
    log.lock().ok()?.push(Seen { at: Instant::now(), head, body });
    Some(stream)
}

fn transport(extra: serde_json::Value) -> Transport {
    let mut config = json!({ "timeouts": { "connectMs": 2000, "requestMs": 5000, "retryBudgetMs": 20000, "maxAttempts": 4 } });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    let config = Config::from_json(&config.to_string()).expect("valid config");
    Transport::new(&config, None).expect("transport")
}

fn get<'a>(url: &'a str) -> Request<'a> {
    Request::get(url, "reading the test page")
}

#[test]
fn retry_after_in_seconds_is_honoured_and_the_client_request_id_is_kept() {
    let server = Scripted::start(vec![answer(503, &[("Retry-After", "1")], "{}"), answer(200, &[("request-id", "rid-2")], r#"{"ok":true}"#)]);
    let started = Instant::now();
    let res = transport(json!({})).send(&get(&format!("{}/page", server.url)), NEVER).expect("second attempt succeeds");
    assert_eq!((res.status, res.attempts), (200, 2));
    assert_eq!(res.json().expect("json")["ok"], true);
    assert_eq!(res.request_id.as_deref(), Some("rid-2"));
    assert!(res.elapsed >= Duration::from_secs(1) && started.elapsed() >= Duration::from_secs(1), "waited {:?}", res.elapsed);

    let seen = server.seen.lock().expect("log");
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(950) && gap < Duration::from_secs(5), "Retry-After: 1 gave a gap of {gap:?}");
    let ids: Vec<_> = seen.iter().map(|s| s.header("client-request-id").expect("client-request-id sent")).collect();
    assert_eq!(ids[0], ids[1], "one logical call keeps its client-request-id");
    assert!(uuid::Uuid::parse_str(&ids[0]).is_ok_and(|u| u.get_version_num() == 4), "{}", ids[0]);
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let when = (chrono::Utc::now() + chrono::Duration::seconds(3)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let server = Scripted::start(vec![answer(429, &[("Retry-After", &when)], "{}"), answer(200, &[], "{}")]);
    let res = transport(json!({})).send(&get(&server.url), NEVER).expect("succeeds");
    assert_eq!(res.attempts, 2);
    let seen = server.seen.lock().expect("log");
    // The date has whole seconds: between 2 and 3 s from the first answer.
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(1900) && gap < Duration::from_secs(6), "gap {gap:?}");
}

#[test]
fn throttling_past_the_budget_ends_in_a_clear_throttled_error() {
    let steps = (0..5)
        .map(|_| answer(429, &[("Retry-After", "1"), ("x-ms-request-id", "rid-429")], r#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#))
        .collect();
    let server = Scripted::start(steps);
    let t = transport(json!({ "timeouts": { "retryBudgetMs": 2500, "maxAttempts": 10 } }));
    let started = Instant::now();
    let e = t.send(&get(&server.url), NEVER).expect_err("throttled to the end");
    assert_eq!(e.kind, ErrorKind::Throttled);
    assert_eq!(e.http_status, Some(429));
    assert_eq!(e.request_id.as_deref(), Some("rid-429"));
    assert!(e.message.contains("retry budget") && e.message.contains("429"), "{}", e.message);
    assert!(started.elapsed() < Duration::from_secs(4), "stopped within the budget: {:?}", started.elapsed());
    assert!((2..=3).contains(&server.count()), "{} attempts", server.count());
}

#[test]
fn server_errors_stop_at_max_attempts_with_the_last_status() {
    let steps = (0..5).map(|_| answer(502, &[("request-id", "rid-502")], "bad gateway")).collect();
    let server = Scripted::start(steps);
    let t = transport(json!({ "timeouts": { "maxAttempts": 3 } }));
    let e = t.send(&get(&server.url), NEVER).expect_err("fails");
    assert_eq!(e.kind, ErrorKind::Server);
    assert_eq!((e.http_status, e.request_id.as_deref()), (Some(502), Some("rid-502")));
    assert!(e.message.contains("3 attempts") && e.message.contains("HTTP 502"), "{}", e.message);
    assert_eq!(server.count(), 3);
}

#[test]
fn a_post_that_is_not_idempotent_is_not_repeated() {
    // A 500 may come after the service acted: the answer goes back to the caller as it is.
    let server = Scripted::start(vec![answer(500, &[], r#"{"error":{"code":"InternalServerError","message":"boom"}}"#), answer(200, &[], "{}")]);
    let t = transport(json!({}));
    let res = t.send(&Request::post_json(&server.url, b"{\"n\":1}", "creating the app"), NEVER).expect("an answer");
    assert_eq!(res.status, 500);
    assert_eq!(server.count(), 1);
    assert_eq!(service_error(&res, "creating the app").kind, ErrorKind::Server);
    assert_eq!(server.seen.lock().expect("log")[0].body, "{\"n\":1}");

    // Dropped before the answer: it may have been handled, so it is not sent again either.
    let server = Scripted::start(vec![Step::Drop, answer(200, &[], "{}")]);
    let e = t.send(&Request::post_json(&server.url, b"{}", "creating the app"), NEVER).expect_err("not repeated");
    assert_eq!(e.kind, ErrorKind::Network);
    assert!(e.message.contains("not repeated"), "{}", e.message);
    assert_eq!(server.count(), 1);

    // A 429 was refused unprocessed: safe to repeat even so.
    let server = Scripted::start(vec![answer(429, &[("Retry-After", "0")], "{}"), answer(201, &[], "{}")]);
    let res = t.send(&Request::post_json(&server.url, b"{}", "creating the app"), NEVER).expect("repeated after 429");
    assert_eq!((res.status, server.count()), (201, 2));
}

#[test]
fn an_idempotent_post_is_repeated_after_connection_faults() {
    let server = Scripted::start(vec![Step::Drop, Step::Truncate, answer(503, &[("Retry-After", "0")], "{}"), answer(200, &[], r#"{"accepted":3}"#)]);
    let t = transport(json!({}));
    let res = t.send(&Request::post_json(&server.url, b"{\"sequence\":3}", "upload batch 3").idempotent(), NEVER).expect("succeeds in the end");
    assert_eq!((res.status, res.attempts, server.count()), (200, 4, 4));
    let seen = server.seen.lock().expect("log");
    assert!(seen.iter().all(|s| s.body == "{\"sequence\":3}"));
}

#[test]
fn cancellation_during_a_backoff_wait_returns_promptly() {
    let server = Scripted::start(vec![answer(503, &[("Retry-After", "30")], "{}"), answer(200, &[], "{}")]);
    let t = transport(json!({ "timeouts": { "retryBudgetMs": 60000 } }));
    let cancel = Arc::new(AtomicBool::new(false));
    let setter = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        setter.store(true, Ordering::SeqCst);
    });
    let started = Instant::now();
    let e = t.send(&get(&server.url), &|| cancel.load(Ordering::SeqCst)).expect_err("cancelled");
    assert_eq!(e.kind, ErrorKind::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(server.count(), 1);

    // Already cancelled: nothing is sent.
    let server = Scripted::start(vec![answer(200, &[], "{}")]);
    let e = t.send(&get(&server.url), &|| true).expect_err("cancelled");
    assert_eq!(e.kind, ErrorKind::Cancelled);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(server.count(), 0);
}

#[test]
fn plain_http_is_refused_except_to_this_machine() {
    let t = transport(json!({}));
    let e = t.send(&get("http://graph.contoso.invalid/v1.0/me?secret=x"), NEVER).expect_err("refused");
    assert_eq!(e.kind, ErrorKind::InvalidConfig);
    assert!(e.message.contains("http://graph.contoso.invalid/v1.0/me") && e.message.contains("https://"), "{}", e.message);
    assert!(!e.message.contains("secret=x"), "the query is not echoed: {}", e.message);
    let probe = t.probe("http://example.invalid/", NEVER);
    assert!(!probe.reachable && probe.error_kind == Some(ErrorKind::InvalidConfig));
}

#[test]
fn a_refused_connection_names_host_and_port_and_a_silent_one_times_out() {
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let t = transport(json!({ "timeouts": { "maxAttempts": 2 } }));
    let e = t.send(&get(&format!("http://127.0.0.1:{port}/x")), NEVER).expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Network);
    assert!(e.message.contains(&format!("127.0.0.1:{port}")) && e.message.contains("2 attempts"), "{}", e.message);

    let server = Scripted::start(vec![Step::Silence(Duration::from_secs(3))]);
    let t = transport(json!({ "timeouts": { "requestMs": 400, "maxAttempts": 1 } }));
    let started = Instant::now();
    let e = t.send(&get(&server.url), NEVER).expect_err("times out");
    assert_eq!(e.kind, ErrorKind::Timeout, "{}", e.message);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn service_errors_map_to_kinds_with_codes_hints_and_request_ids() {
    let aad = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Trace ID: 1 Correlation ID: 2"}"#;
    let graph = |code: &str, message: &str| json!({ "error": { "code": code, "message": message, "innerError": { "request-id": "inner" } } }).to_string();
    let cases = [
        (401, aad.to_owned(), ErrorKind::AuthFailed, "AADSTS7000215", "client secret"),
        (
            403,
            graph("Authorization_RequestDenied", "Missing permission DeviceManagementManagedDevices.PrivilegedOperations.All"),
            ErrorKind::Forbidden,
            "Authorization_RequestDenied",
            "PrivilegedOperations.All",
        ),
        (404, graph("ResourceNotFound", "no such device"), ErrorKind::NotFound, "ResourceNotFound", "no such device"),
        (409, graph("HierarchyAttachedToAnotherTenant", "attached elsewhere"), ErrorKind::Conflict, "HierarchyAttachedToAnotherTenant", "attached elsewhere"),
        (400, graph("BadRequest", "siteCode is missing"), ErrorKind::InvalidArgument, "BadRequest", "siteCode is missing"),
        (401, graph("InvalidAuthenticationToken", "token expired"), ErrorKind::AuthFailed, "InvalidAuthenticationToken", "token expired"),
    ];
    let steps = cases.iter().map(|(status, body, ..)| answer(*status, &[("x-ms-request-id", "rid-map")], body)).collect();
    let server = Scripted::start(steps);
    let t = transport(json!({}));
    for (status, _, kind, code, text) in &cases {
        let res = t.send(&get(&server.url), NEVER).expect("an answer");
        let e = service_error(&res, "the call");
        assert_eq!((e.kind, e.http_status, e.code.as_deref(), e.request_id.as_deref()), (*kind, Some(*status), Some(*code), Some("rid-map")), "{}", e.message);
        assert!(e.message.contains(text), "{}", e.message);
    }
}

#[test]
fn a_decimal_retry_after_is_honoured_to_the_millisecond() {
    // Graph sends Retry-After with a fraction at times ("0.6"); it is neither ignored nor rounded.
    let server = Scripted::start(vec![answer(429, &[("Retry-After", "0.6")], "{}"), answer(200, &[], "{}")]);
    let res = transport(json!({})).send(&get(&server.url), NEVER).expect("succeeds");
    assert_eq!(res.attempts, 2);
    let seen = server.seen.lock().expect("log");
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(580) && gap < Duration::from_millis(1500), "Retry-After: 0.6 gave a gap of {gap:?}");
    assert_eq!(tenant_attach::http::parse_retry_after(" 2.5 "), Some(Duration::from_millis(2500)));
    assert_eq!(tenant_attach::http::parse_retry_after("-1"), None);
}

#[test]
fn the_services_own_error_shapes_give_their_words_without_the_ids() {
    // Azure AD: trace and correlation ids on their own lines; Intune: a JSON string in
    // error.message; the gateway: {"Message":"…"}.
    let aad = json!({ "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2026-01-01 00:00:00Z" }).to_string();
    let intune_message = "{\r\n  \"_version\": 3,\r\n  \"Message\": \"Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementManagedDevices.Read.All - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: a-1 - Url: https://fef/x\",\r\n  \"CustomApiErrorPhrase\": \"\",\r\n  \"RetryAfter\": null\r\n}";
    let intune = json!({ "error": { "code": "Forbidden", "message": intune_message, "innerError": { "request-id": "r-1" } } }).to_string();
    let gateway = json!({ "Message": "An error has occurred." }).to_string();
    let server = Scripted::start(vec![answer(401, &[], &aad), answer(403, &[], &intune), answer(401, &[], &gateway)]);
    let t = transport(json!({}));
    let e = service_error(&t.send(&get(&server.url), NEVER).expect("aad"), "sign-in");
    assert_eq!(e.code.as_deref(), Some("AADSTS7000215"));
    assert!(e.message.contains("Invalid client secret provided.") && !e.message.contains("Trace ID") && !e.message.contains("c-1"), "{}", e.message);
    let e = service_error(&t.send(&get(&server.url), NEVER).expect("intune"), "listing devices");
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::Forbidden, Some("Forbidden")));
    assert!(
        e.message.contains("Application must have one of the following scopes: DeviceManagementManagedDevices.Read.All (HTTP 403")
            && !e.message.contains("_version")
            && !e.message.contains("Operation ID"),
        "{}",
        e.message
    );
    let e = service_error(&t.send(&get(&server.url), NEVER).expect("gateway"), "uploading");
    assert!(e.kind == ErrorKind::AuthFailed && e.message.contains("An error has occurred."), "{}", e.message);
    // Intune's message wrapped once more, as public reports show it (microsoft-graph-docs#13096).
    let inner = json!({ "_version": 3, "Message": "An error has occurred - Operation ID (for customer support): 0 - Activity ID: a-2 - Url: https://fef/y" })
        .to_string();
    let wrapped = json!({ "ErrorCode": "Forbidden", "Message": inner, "Target": null }).to_string();
    assert_eq!(tenant_attach::http::graph_message(&wrapped), "An error has occurred");
    assert_eq!(tenant_attach::http::graph_message("plain words"), "plain words");
}

#[test]
fn secrets_never_reach_errors() {
    let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZS14eXo";
    tenant_attach::redact::register_secret("s3cr3t-client-value");
    let body = format!(r#"{{"error":{{"code":"Unauthorized","message":"token {token} and s3cr3t-client-value are wrong"}}}}"#);
    let server = Scripted::start(vec![answer(401, &[], &body)]);
    let req = Request {
        method: "POST",
        url: &server.url,
        bearer: Some(token),
        body: Body::Form(&[("client_secret", "s3cr3t-client-value")]),
        idempotent: false,
        what: "sign-in",
        timeout: None,
    };
    let res = transport(json!({})).send(&req, NEVER).expect("an answer");
    let e = service_error(&res, "sign-in");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(token) && !shown.contains("s3cr3t-client-value"), "{shown}");
    let seen = server.seen.lock().expect("log");
    assert_eq!(seen[0].header("authorization").as_deref(), Some(format!("Bearer {token}").as_str()), "the token still reaches the service");
    assert!(seen[0].body.contains("client_secret=s3cr3t-client-value"));
}

#[test]
fn the_local_clouds_private_ca_is_trusted_through_trusted_ca_file_only() {
    let cloud = TestCloud::start().expect("cloud");
    let url = format!("{}/common/discovery/instance?api-version=1.1", cloud.url());

    let trusted = transport(json!({ "trustedCaFile": cloud.ca_file() }));
    let res = trusted.send(&get(&url), NEVER).expect("TLS with the cloud's CA");
    assert!(res.status < 500, "HTTP {}", res.status);
    assert!(res.header("content-type").is_some());

    // Web roots only: the private CA is unknown.
    let e = transport(json!({})).send(&get(&url), NEVER).expect_err("untrusted");
    assert_eq!(e.kind, ErrorKind::Tls, "{}", e.message);
    assert!(e.message.contains("trustedCaFile"), "{}", e.message);

    // Another CA (same shape, other key) does not vouch for the cloud's certificate either.
    let other = tempfile::tempdir().expect("tempdir");
    let files = tenant_attach_cloud::tls::ensure(other.path()).expect("another CA");
    let e = transport(json!({ "trustedCaFile": files.ca_file })).send(&get(&url), NEVER).expect_err("wrong CA");
    assert_eq!(e.kind, ErrorKind::Tls, "{}", e.message);

    // A probe: any answer, even 404, means reachable; the TLS failure is reported, not retried.
    let found = trusted.probe(&format!("{}/no/such/page", cloud.url()), NEVER);
    assert!(found.reachable && found.status == Some(404) && found.error.is_none(), "{found:?}");
    let untrusted = transport(json!({})).probe(cloud.url(), NEVER);
    assert!(!untrusted.reachable && untrusted.error_kind == Some(ErrorKind::Tls), "{untrusted:?}");
    let json = serde_json::to_value(&found).expect("json");
    assert!(json["elapsedMs"].is_u64() && json["reachable"] == true);
}

#[test]
fn an_unreachable_proxy_is_named() {
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let t = transport(json!({ "proxy": format!("http://user:pr0xy-pass@127.0.0.1:{port}"), "timeouts": { "maxAttempts": 1 } }));
    let e = t.send(&get("https://graph.microsoft.com/v1.0/"), NEVER).expect_err("no proxy there");
    assert_eq!(e.kind, ErrorKind::Network);
    assert!(e.message.contains(&format!("proxy 127.0.0.1:{port}")), "{}", e.message);
    assert!(!e.message.contains("pr0xy-pass"), "{}", e.message);
    let probe = t.probe("https://graph.microsoft.com/", NEVER);
    assert!(!probe.reachable && probe.error.as_deref().is_some_and(|m| m.contains("proxy")), "{probe:?}");
}
