//! Certificate sign-in (auth kind `clientCertificate`) against tenant-attach-cloud: PEM and PFX,
//! the client assertion's shape, Azure AD's errors for a wrong, unknown, expired or misaddressed
//! assertion, the clear errors for bad input when the client opens, and that neither the PFX
//! password nor the key reaches a log, an error or a state file. Certificates are generated here,
//! at run time.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{json, Value};
use tenant_attach::auth::{claims, Auth};
use tenant_attach::certificate::{ClientCertificate, Source, CLIENT_ASSERTION_TYPE};
use tenant_attach::config::GRAPH_RESOURCE;
use tenant_attach::error::ErrorKind;
use tenant_attach::http::{Body, Request, Transport};
use tenant_attach::{Client, Config};
use tenant_attach_cloud::certificates::{generate, Generated};
use tenant_attach_cloud::{CloudHandle, Seed, SeedApp, SeedCertificate, TestCloud, CONTOSO_DOMAIN, CONTOSO_TENANT};

const NEVER: &dyn Fn() -> bool = &|| false;
const APP: &str = "e0000000-0000-4000-8000-00000000ce01";
const PASSWORD: &str = "pfx-Passw0rd!secret";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn cert(subject: &str) -> Generated {
    generate(subject, now() - 3600, now() + 30 * 86_400, PASSWORD).expect("certificate")
}

/// Registers an app whose certificates are `certs` (PEM, with optional credential dates).
fn register(cloud: &CloudHandle, certs: Vec<SeedCertificate>) {
    let app = SeedApp {
        app_id: APP.into(),
        tenant_id: CONTOSO_TENANT.into(),
        display_name: "Certificate runbook".into(),
        granted_roles: vec!["DeviceManagementManagedDevices.Read.All".into()],
        certificates: certs,
        ..Default::default()
    };
    cloud.seed(Seed { apps: vec![app], ..Default::default() }).expect("seed");
}

fn seed_cert(g: &Generated) -> SeedCertificate {
    SeedCertificate { pem: g.cert_pem.clone(), ..Default::default() }
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files { dir: tempfile::tempdir().expect("tempdir") }
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }
}

fn config(cloud: &CloudHandle, auth: Value, extra: Value) -> Value {
    let mut c = json!({ "tenantId": CONTOSO_DOMAIN, "endpoints": { "authority": cloud.url(), "graph": cloud.url(), "gateway": cloud.url() },
        "trustedCaFile": cloud.ca_file(), "timeouts": { "retryBudgetMs": 10000 }, "auth": auth });
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            c[k] = v;
        }
    }
    c
}

fn pfx_auth(path: &Path, password: &str) -> Value {
    json!({ "kind": "clientCertificate", "clientId": APP, "certificateFile": path, "certificatePassword": password })
}

fn sign_in(cloud: &CloudHandle, auth: Value) -> tenant_attach::Result<String> {
    let config = Config::from_json(&config(cloud, auth, json!({})).to_string())?;
    let (auth, transport) = (Auth::new(&config, None)?, Transport::new(&config, None)?);
    auth.token(&transport, GRAPH_RESOURCE, NEVER)
}

fn open_error(cloud: &CloudHandle, auth: Value) -> tenant_attach::Error {
    Config::from_json(&config(cloud, auth, json!({})).to_string()).expect_err("refused")
}

#[test]
fn pfx_and_pem_certificates_sign_in_with_an_rfc7523_assertion() {
    let cloud = TestCloud::start().expect("cloud");
    let g = cert("tenant-attach runbook");
    register(&cloud, vec![seed_cert(&g)]);
    let files = Files::new();

    // PFX with its password.
    let pfx = files.write("runbook.pfx", &g.pfx);
    let token = sign_in(&cloud, pfx_auth(&pfx, PASSWORD)).expect("PFX sign-in");
    let c = claims(&token).expect("a JWT");
    assert_eq!((c["appid"].as_str(), c["tid"].as_str(), c["aud"].as_str()), (Some(APP), Some(CONTOSO_TENANT), Some(GRAPH_RESOURCE)));
    assert_eq!(c["appidacr"], "2", "a certificate sign-in: {c}");

    // PEM: certificate and key in one file, or the key in its own file; the same inline.
    let both = files.write("runbook.pem", format!("{}{}", g.cert_pem, g.key_pem).as_bytes());
    sign_in(&cloud, json!({ "kind": "clientCertificate", "clientId": APP, "certificateFile": both })).expect("PEM sign-in");
    let cert_only = files.write("cert.pem", g.cert_pem.as_bytes());
    let key_only = files.write("key.pem", g.key_pem.as_bytes());
    sign_in(&cloud, json!({ "kind": "clientCertificate", "clientId": APP, "certificateFile": cert_only, "privateKeyFile": key_only })).expect("PEM + key");
    let inline = base64::engine::general_purpose::STANDARD.encode(&g.pfx);
    sign_in(&cloud, json!({ "kind": "clientCertificate", "clientId": APP, "certificateData": inline, "certificatePassword": PASSWORD })).expect("inline PFX");

    // The assertion: x5t (SHA-1) and x5t#S256 in the header, iss = sub = client id, aud = token endpoint.
    let loaded = ClientCertificate::load(&Source { certificate_file: Some(&pfx), certificate_data: None, private_key_file: None, password: Some(PASSWORD) })
        .expect("load");
    assert_eq!(loaded.thumbprint(), g.thumbprint);
    let assertion = loaded.assertion(APP, "https://login.example/t/oauth2/v2.0/token").expect("assertion");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value = serde_json::from_slice(&b64.decode(assertion.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(hex::encode_upper(b64.decode(header["x5t"].as_str().unwrap()).unwrap()), g.thumbprint);
    assert_eq!(b64.decode(header["x5t#S256"].as_str().unwrap()).unwrap().len(), 32);
    let body = claims(&assertion).unwrap();
    assert_eq!((body["iss"].as_str(), body["sub"].as_str(), body["aud"].as_str()), (Some(APP), Some(APP), Some("https://login.example/t/oauth2/v2.0/token")));
    assert_eq!(body["exp"].as_i64().unwrap() - body["nbf"].as_i64().unwrap(), 600);
    assert!(body["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(tenant_attach::redact::scrub(&format!("sent {assertion}")), "sent ***", "an assertion is hidden wherever it would appear");
    assert!(format!("{loaded:?}").contains(&g.thumbprint) && !format!("{loaded:?}").contains("PRIVATE"));
}

/// Posts a hand-made assertion to the token endpoint; the AAD error code and description.
fn post_assertion(cloud: &CloudHandle, assertion: &str) -> (u16, String) {
    let config = Config::from_json(&config(cloud, json!({ "kind": "deviceCode" }), json!({})).to_string()).unwrap();
    let transport = Transport::new(&config, None).unwrap();
    let url = format!("{}/{CONTOSO_TENANT}/oauth2/v2.0/token", cloud.url());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", APP),
        ("client_assertion_type", CLIENT_ASSERTION_TYPE),
        ("client_assertion", assertion),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let req = Request { method: "POST", url: &url, bearer: None, body: Body::Form(&form), idempotent: true, what: "sign-in", timeout: None };
    let res = transport.send(&req, NEVER).expect("answer");
    let body: Value = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
    (res.status, body["error_description"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn wrong_unknown_expired_and_misaddressed_assertions_get_azure_ads_errors() {
    let cloud = TestCloud::start().expect("cloud");
    let registered = cert("registered");
    let stranger = cert("not registered");
    register(&cloud, vec![seed_cert(&registered)]);
    let files = Files::new();

    // A certificate the app does not have: AADSTS700027, the key was not found (through the library).
    let e = sign_in(&cloud, pfx_auth(&files.write("s.pfx", &stranger.pfx), PASSWORD)).expect_err("unknown certificate");
    assert_eq!((e.kind, e.code.as_deref(), e.http_status), (ErrorKind::AuthFailed, Some("AADSTS700027"), Some(401)), "{e:?}");
    assert!(e.message.contains("The key was not found") && e.message.contains(&stranger.thumbprint), "{}", e.message);
    assert!(e.message.contains("Check the certificate"), "the library says what to do: {}", e.message);

    let load = |g: &Generated| {
        let path = files.write(&format!("{}.pfx", g.thumbprint), &g.pfx);
        ClientCertificate::load(&Source { certificate_file: Some(&path), certificate_data: None, private_key_file: None, password: Some(PASSWORD) }).unwrap()
    };
    let good = load(&registered);
    let token_url = format!("{}/{CONTOSO_TENANT}/oauth2/v2.0/token", cloud.url());
    // Sanity: the hand-made request works when nothing is wrong.
    let (status, _) = post_assertion(&cloud, &good.assertion(APP, &token_url).unwrap());
    assert_eq!(status, 200);

    // Signed by another key under the registered certificate's thumbprint: the signature does not match.
    let other = good.assertion(APP, &token_url).unwrap();
    let forged_sig = load(&stranger).assertion(APP, &token_url).unwrap().rsplit('.').next().unwrap().to_owned();
    let forged = format!("{}.{forged_sig}", other.rsplit_once('.').unwrap().0);
    let (status, text) = post_assertion(&cloud, &forged);
    assert_eq!(status, 401);
    assert!(text.starts_with("AADSTS700027") && text.contains("did not match the expected signature"), "{text}");

    // Expired assertion (made an hour ago, valid ten minutes): AADSTS700024.
    let (status, text) = post_assertion(&cloud, &good.assertion_at(APP, &token_url, now() - 3600).unwrap());
    assert_eq!(status, 401);
    assert!(text.starts_with("AADSTS700024: Client assertion is not within its valid time range"), "{text}");

    // Addressed to another token endpoint: AADSTS700023.
    let (status, text) = post_assertion(&cloud, &good.assertion(APP, "https://login.example.com/other/oauth2/v2.0/token").unwrap());
    assert_eq!(status, 401);
    assert!(text.starts_with("AADSTS700023"), "{text}");

    // Issued for another client id than the request's: AADSTS700021.
    let (status, text) = post_assertion(&cloud, &good.assertion("e0000000-0000-4000-8000-00000000ffff", &token_url).unwrap());
    assert_eq!(status, 401);
    assert!(text.starts_with("AADSTS700021"), "{text}");

    // The certificate's credential expired in the directory: AADSTS700027, the key used is expired.
    let day = 86_400;
    let iso = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap().to_rfc3339();
    register(
        &cloud,
        vec![SeedCertificate {
            pem: registered.cert_pem.clone(),
            start_date_time: Some(iso(now() - 2 * day)),
            end_date_time: Some(iso(now() - 60)),
            ..Default::default()
        }],
    );
    let e = sign_in(&cloud, pfx_auth(&files.write("r.pfx", &registered.pfx), PASSWORD)).expect_err("expired key credential");
    assert_eq!(e.code.as_deref(), Some("AADSTS700027"), "{e:?}");
    assert!(e.message.contains("The key used is expired"), "{}", e.message);
}

#[test]
fn bad_certificate_input_is_refused_when_the_client_opens_with_what_to_do() {
    let cloud = TestCloud::start().expect("cloud");
    let g = cert("input checks");
    let files = Files::new();
    let pfx = files.write("good.pfx", &g.pfx);
    let check = |auth: Value, kind: ErrorKind, path: &str, says: &str| {
        let e = open_error(&cloud, auth);
        assert_eq!(e.kind, kind, "{e:?}");
        assert_eq!(e.details.as_ref().and_then(|d| d["path"].as_str()), Some(path), "{e:?}");
        assert!(e.message.contains(says), "`{says}` not in: {}", e.message);
        assert!(!e.message.contains(PASSWORD), "the password is never shown: {}", e.message);
        e
    };
    // Missing file.
    check(pfx_auth(&files.dir.path().join("missing.pfx"), PASSWORD), ErrorKind::InvalidConfig, "auth.certificateFile", "cannot be read");
    // Wrong password, and no password for a protected PFX.
    check(pfx_auth(&pfx, "wrong-password-123"), ErrorKind::InvalidConfig, "auth.certificatePassword", "the password does not open");
    check(
        json!({ "kind": "clientCertificate", "clientId": APP, "certificateFile": pfx }),
        ErrorKind::InvalidConfig,
        "auth.certificatePassword",
        "give it as `certificatePassword`",
    );
    // Neither a PFX nor a PEM.
    let junk = files.write("junk.pfx", b"\x30\x03\x02\x01\x05 this is not a certificate");
    check(pfx_auth(&junk, PASSWORD), ErrorKind::InvalidConfig, "auth.certificateFile", "neither a PFX");
    // A PEM certificate without its key.
    let cert_only = files.write("cert.pem", g.cert_pem.as_bytes());
    check(
        json!({ "kind": "clientCertificate", "clientId": APP, "certificateFile": cert_only }),
        ErrorKind::InvalidConfig,
        "auth.certificateFile",
        "holds no private key",
    );
    // A key that belongs to another certificate.
    let other = cert("another");
    let mismatched = files.write("mismatch.pem", format!("{}{}", g.cert_pem, other.key_pem).as_bytes());
    check(
        json!({ "kind": "clientCertificate", "clientId": APP, "certificateFile": mismatched }),
        ErrorKind::InvalidConfig,
        "auth.certificateFile",
        "does not belong to the certificate",
    );
    // A key that is not RSA (ECDSA P-256).
    let ec_key = rcgen::KeyPair::generate().expect("EC key");
    let ec_cert = rcgen::CertificateParams::new(vec!["ec.example".to_owned()]).unwrap().self_signed(&ec_key).unwrap();
    let ec = files.write("ec.pem", format!("{}{}", ec_cert.pem(), ec_key.serialize_pem()).as_bytes());
    check(json!({ "kind": "clientCertificate", "clientId": APP, "certificateFile": ec }), ErrorKind::InvalidConfig, "auth.certificateFile", "not RSA");
    // An encrypted PEM key.
    let encrypted =
        files.write("enc.pem", format!("{}-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n", g.cert_pem).as_bytes());
    check(
        json!({ "kind": "clientCertificate", "clientId": APP, "certificateFile": encrypted }),
        ErrorKind::InvalidConfig,
        "auth.certificateFile",
        "give a PFX file",
    );
    // An expired certificate.
    let old = generate("expired", now() - 40 * 86_400, now() - 86_400, PASSWORD).expect("certificate");
    let e = check(pfx_auth(&files.write("old.pfx", &old.pfx), PASSWORD), ErrorKind::Expired, "auth.certificateFile", "expired on");
    assert!(e.message.contains(&old.thumbprint) && e.message.contains("create a new certificate"), "{}", e.message);
    // Both sources, or none; a key file with a PFX; a client id that is not a GUID.
    let inline = base64::engine::general_purpose::STANDARD.encode(&g.pfx);
    check(
        json!({ "kind": "clientCertificate", "clientId": APP, "certificateFile": pfx, "certificateData": inline }),
        ErrorKind::InvalidConfig,
        "auth.certificateData",
        "not both",
    );
    check(json!({ "kind": "clientCertificate", "clientId": APP }), ErrorKind::InvalidConfig, "auth.certificateFile", "a certificate is required");
    check(
        json!({ "kind": "clientCertificate", "clientId": APP, "certificateFile": pfx, "certificatePassword": PASSWORD, "privateKeyFile": cert_only }),
        ErrorKind::InvalidConfig,
        "auth.privateKeyFile",
        "leave `privateKeyFile` out",
    );
    check(json!({ "kind": "clientCertificate", "clientId": "runbook", "certificateFile": pfx }), ErrorKind::InvalidConfig, "auth.clientId", "not a GUID");
    // An unknown key inside auth is named.
    check(
        json!({ "kind": "clientCertificate", "clientId": APP, "certificateFile": pfx, "certificatePasword": PASSWORD }),
        ErrorKind::InvalidConfig,
        "auth.certificatePasword",
        "unknown configuration key",
    );
}

/// Every file under `dir`, as text (lossy).
fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&all_text(&path));
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()));
        }
    }
    out
}

#[test]
fn the_pfx_password_and_the_key_never_reach_logs_errors_or_state() {
    let cloud = TestCloud::start().expect("cloud");
    let g = cert("secrets stay secret");
    let stranger = cert("stranger");
    register(&cloud, vec![seed_cert(&g)]);
    let files = Files::new();
    let (logs, state) = (files.dir.path().join("logs"), files.dir.path().join("state"));
    let pfx = files.write("runbook.pfx", &g.pfx);
    let inline = base64::engine::general_purpose::STANDARD.encode(&g.pfx);
    let key_body: String = g.key_pem.lines().nth(3).expect("a line of the key").to_owned();
    let extra = json!({ "logDir": logs, "stateDir": state, "siteCode": "PS1", "hierarchyId": "5bc3e7d2-5d6c-4a2f-9f1e-0a2b3c4d5e6f" });

    let mut errors = Vec::new();
    for auth in [pfx_auth(&pfx, PASSWORD), json!({ "kind": "clientCertificate", "clientId": APP, "certificateData": inline, "certificatePassword": PASSWORD })]
    {
        let client = Client::open_json(&config(&cloud, auth, extra.clone()).to_string()).expect("open");
        let shown = client.config_json_redacted();
        assert!(!shown.contains(PASSWORD) && !shown.contains(&inline[..200]), "{shown}");
        assert!(shown.contains("\"certificatePassword\":\"***\""), "{shown}");
        client.list_devices(None, NEVER).expect("signed in with the certificate and listed devices");
        // A failing call (not onboarded) still shows nothing secret.
        errors.push(client.status(NEVER).map(|_| String::new()).unwrap_or_else(|e| format!("{e:?}")));
    }
    // A sign-in Azure AD refuses, and a refused configuration that echoes nothing of the secret.
    let e = Client::open_json(&config(&cloud, pfx_auth(&files.write("s.pfx", &stranger.pfx), PASSWORD), extra.clone()).to_string())
        .expect("open")
        .list_devices(None, NEVER)
        .expect_err("unknown certificate");
    errors.push(format!("{e:?}"));
    let refused = json!({ "kind": "clientCertificate", "clientId": APP, "certificateData": inline, "certificatePassword": PASSWORD, "extra": 1 });
    let refused = Client::open_json(&config(&cloud, refused, extra.clone()).to_string()).map(|_| ()).expect_err("unknown key");
    errors.push(format!("{refused:?}"));

    let written = all_text(&logs) + &all_text(&state) + &errors.join("\n");
    assert!(all_text(&logs).contains("auth=clientCertificate"), "the sign-in kind is logged");
    for (what, secret) in [("the PFX password", PASSWORD), ("the PFX", &inline[..64]), ("the key", key_body.as_str())] {
        assert!(!written.contains(secret), "{what} leaked:\n{written}");
    }
}

#[test]
fn onboarding_adds_the_certificate_to_the_app_it_creates_and_renews_it() {
    use std::sync::Arc;
    let cloud = Arc::new(TestCloud::start().expect("cloud"));
    let files = Files::new();
    let first = cert("onboarded runbook");
    let pfx = files.write("first.pfx", &first.pfx);
    let hierarchy = json!({ "siteCode": "PS1", "hierarchyId": "5bc3e7d2-5d6c-4a2f-9f1e-0a2b3c4d5ce7" });
    let admin = Client::open_json(&config(&cloud, json!({ "kind": "deviceCode" }), hierarchy.clone()).to_string()).expect("open");
    let c = cloud.clone();
    admin.set_device_code_prompt(Arc::new(move |p| {
        c.approve_device_code(&p.user_code, "admin@contoso.onmicrosoft.com").expect("approved");
        Ok(())
    }));

    // A wrong password is refused before anything is sent, naming the option.
    let e =
        admin.register(&json!({ "certificate": { "certificateFile": pfx, "certificatePassword": "not-the-password" } }).to_string(), NEVER).expect_err("wrong");
    assert_eq!((e.kind, e.details.as_ref().and_then(|d| d["path"].as_str())), (ErrorKind::InvalidArgument, Some("certificate.certificatePassword")), "{e:?}");

    let result = admin.register(&json!({ "certificate": { "certificateFile": pfx, "certificatePassword": PASSWORD } }).to_string(), NEVER).expect("onboards");
    let created = &result["createdApp"];
    assert_eq!(created["certificateThumbprint"], first.thumbprint.as_str(), "{result}");
    assert!(created.get("clientSecret").is_none(), "no secret when a certificate is given: {result}");
    let app_id = result["appId"].as_str().expect("app id").to_owned();

    // The site signs in with that certificate, as the created app, and reads its onboarding.
    let as_site = |path: &Path| {
        let auth = json!({ "kind": "clientCertificate", "clientId": app_id, "certificateFile": path, "certificatePassword": PASSWORD });
        Client::open_json(&config(&cloud, auth, hierarchy.clone()).to_string()).expect("open").status(NEVER)
    };
    let status = as_site(&pfx).expect("the site signs in with the onboarding's certificate");
    assert_eq!(status["onboarded"], true, "{status}");

    // Registering again with a new certificate adds it (renewal); both sign in until the old one is removed.
    let second = cert("renewed runbook");
    let renewed = files.write("second.pfx", &second.pfx);
    let again = admin.register(&json!({ "certificate": { "certificateFile": renewed, "certificatePassword": PASSWORD } }).to_string(), NEVER).expect("renews");
    assert_eq!(
        (again["alreadyOnboarded"].as_bool(), again["certificate"]["certificateThumbprint"].as_str()),
        (Some(true), Some(second.thumbprint.as_str())),
        "{again}"
    );
    as_site(&renewed).expect("the new certificate signs in");
    as_site(&pfx).expect("the old one still does");
}
