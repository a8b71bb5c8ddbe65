//! Opening a client: folders created, the client log written, and a secret in the configuration never
//! reaching the log, an error or the effective configuration.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use serde_json::{json, Value};
use tenant_attach::client::{Client, CLIENT_LOG};
use tenant_attach::ffi::{
    boundary, ta_client_config_json, ta_client_free, ta_client_open, ta_last_error_json, ta_status, ta_string_free, TA_STATUS_INVALID_JSON, TA_STATUS_IO,
    TA_STATUS_OK, TA_STATUS_PANIC,
};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "0d6f1b1e-8f3c-4c3a-9d0e-1a2b3c4d5e6f";

fn open(json: &str) -> (ta_status, *mut tenant_attach::ffi::ta_client) {
    let text = CString::new(json).expect("no NUL");
    let mut client = ptr::null_mut();
    // SAFETY: a valid string and out location.
    let status = unsafe { ta_client_open(text.as_ptr(), &mut client) };
    (status, client)
}

fn take_c_string(raw: *mut c_char) -> String {
    assert!(!raw.is_null());
    // SAFETY: a NUL-terminated string from the library, freed once right after.
    let text = unsafe { CStr::from_ptr(raw) }.to_string_lossy().into_owned();
    // SAFETY: from the library, not freed before.
    unsafe { ta_string_free(raw) };
    text
}

fn last_error_text() -> String {
    take_c_string(ta_last_error_json())
}

#[test]
fn opening_creates_the_folders_and_logs_the_client_with_its_configuration() {
    let root = tempfile::tempdir().expect("tempdir");
    let log_dir = root.path().join("logs/nested");
    let state_dir = root.path().join("state/nested");
    let config = json!({ "tenantId": TENANT, "siteCode": "PS1", "logDir": log_dir, "stateDir": state_dir });
    let client = Client::open_json(&config.to_string()).expect("opens");
    assert!(state_dir.is_dir(), "stateDir created");
    let log = std::fs::read_to_string(log_dir.join(CLIENT_LOG)).expect("TenantAttach.log written");
    assert!(log.contains(&format!("Client opened: cloud=AzurePublicCloud, tenant={TENANT}, site=PS1")), "{log}");
    assert!(log.contains("Effective configuration: {"), "{log}");
    assert_eq!(client.logger().map(|l| l.path().to_path_buf()), Some(log_dir.join(CLIENT_LOG)));
}

#[test]
fn a_log_folder_that_cannot_be_created_is_an_io_error_naming_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let file = root.path().join("a-file");
    std::fs::write(&file, "not a folder").expect("write");
    let (status, client) = open(&json!({ "logDir": file.join("logs") }).to_string());
    assert_eq!(status, TA_STATUS_IO);
    assert!(client.is_null());
    let err: Value = serde_json::from_str(&last_error_text()).expect("JSON");
    assert!(err["message"].as_str().is_some_and(|m| m.contains("a-file") && m.contains("logDir")), "{err}");
}

#[test]
fn a_secret_in_the_configuration_never_appears_in_the_log_or_any_error() {
    const SECRET: &str = "Zq8~s3cr3t.Value_4f9d2b7e";
    const PROXY_PASSWORD: &str = "pr0xy-Pa55w0rd-77a1";
    let root = tempfile::tempdir().expect("tempdir");
    let base = json!({
        "tenantId": TENANT,
        "siteCode": "PS1",
        "logDir": root.path(),
        "proxy": format!("http://svc-proxy:{PROXY_PASSWORD}@proxy.contoso.com:8080"),
        "auth": { "kind": "clientSecret", "clientId": CLIENT_ID, "clientSecret": SECRET }
    });

    // A client that opens: the log and the effective configuration show neither secret.
    let (status, client) = open(&base.to_string());
    assert_eq!(status, TA_STATUS_OK);
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: a live handle and a valid out location.
    assert_eq!(unsafe { ta_client_config_json(client, &mut out) }, TA_STATUS_OK);
    let shown = take_c_string(out);
    assert!(shown.contains("\"clientSecret\":\"***\""), "{shown}");
    // SAFETY: a live handle, freed once.
    unsafe { ta_client_free(client) };

    // Configurations that are refused, several of them echoing a value the person typed.
    let mut refused = Vec::new();
    let mut variant = |edit: &dyn Fn(&mut Value)| {
        let mut config = base.clone();
        edit(&mut config);
        let (status, client) = open(&config.to_string());
        assert_ne!(status, TA_STATUS_OK, "{config}");
        assert!(client.is_null());
        refused.push(last_error_text());
    };
    variant(&|c| c["siteCode"] = json!(SECRET)); // the secret pasted in the wrong key
    variant(&|c| c["hierarchyId"] = json!(SECRET));
    variant(&|c| c["timeouts"] = json!({ "connectMs": SECRET })); // serde echoes wrong-typed strings
    variant(&|c| c["auth"]["clientId"] = json!(SECRET));
    variant(&|c| c["auth"]["extra"] = json!(SECRET));
    variant(&|c| c["endpoints"] = json!({ "graph": format!("http://graph.contoso.com/{SECRET}") }));
    variant(&|c| c["proxy"] = json!(format!("ftp://u:{PROXY_PASSWORD}@proxy.contoso.com:21")));
    variant(&|c| c["cloud"] = json!(SECRET));
    // Malformed JSON around the secret.
    let (status, _) = open(&format!("{{\"auth\":{{\"kind\":\"clientSecret\",\"clientSecret\":\"{SECRET}\"}}"));
    assert_eq!(status, TA_STATUS_INVALID_JSON);
    refused.push(last_error_text());
    // Even a panic message carrying it.
    assert_eq!(boundary(|| -> tenant_attach::Result<()> { panic!("failed with {SECRET}") }), TA_STATUS_PANIC);
    refused.push(last_error_text());

    let log = std::fs::read_to_string(root.path().join(CLIENT_LOG)).expect("log written");
    assert!(log.contains("Client opened:"), "{log}");
    for (what, text) in std::iter::once(("log", &log)).chain(std::iter::once(("config json", &shown))).chain(refused.iter().map(|e| ("error", e))) {
        assert!(!text.contains(SECRET), "client secret in {what}: {text}");
        assert!(!text.contains(PROXY_PASSWORD), "proxy password in {what}: {text}");
    }
    // The refusals still say what is wrong.
    assert!(refused[0].contains("siteCode") && refused[0].contains("***"), "{}", refused[0]);
    assert!(refused[2].contains("timeouts.connectMs"), "{}", refused[2]);
}
