//! The C ABI exercised through its extern functions with raw pointers, as a C caller would.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;

use serde_json::{json, Value};
use tenant_attach::ffi::status::*;
use tenant_attach::ffi::{
    boundary, ta_cancel_free, ta_cancel_is_set, ta_cancel_new, ta_cancel_set, ta_client, ta_client_config_json, ta_client_free, ta_client_open,
    ta_last_error_json, ta_status, ta_status_name, ta_string_free, Progress,
};
use tenant_attach::Error;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

fn config(extra: Value) -> String {
    let mut base = json!({ "tenantId": TENANT, "siteCode": "PS1" });
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    base.to_string()
}

/// Calls ta_client_open with raw bytes (NUL appended); returns the status and the handle.
fn open_bytes(bytes: &[u8]) -> (ta_status, *mut ta_client) {
    let text = CString::new(bytes).expect("no NUL inside");
    let mut client = ptr::null_mut();
    // SAFETY: a valid NUL-terminated string and a valid out location.
    let status = unsafe { ta_client_open(text.as_ptr(), &mut client) };
    (status, client)
}

fn open(json: &str) -> (ta_status, *mut ta_client) {
    open_bytes(json.as_bytes())
}

/// The thread's last error JSON, parsed (None when there is none); frees the C string.
fn last_error() -> Option<Value> {
    let raw = ta_last_error_json();
    if raw.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string from the library, freed once right after.
    let text = unsafe { CStr::from_ptr(raw) }.to_str().expect("UTF-8").to_owned();
    // SAFETY: returned by ta_last_error_json, not freed before.
    unsafe { ta_string_free(raw) };
    Some(serde_json::from_str(&text).expect("last error is JSON"))
}

fn config_json(client: *const ta_client) -> String {
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: a live client and a valid out location.
    let status = unsafe { ta_client_config_json(client, &mut out) };
    assert_eq!(status, TA_STATUS_OK);
    // SAFETY: a NUL-terminated string from the library, freed once right after.
    let text = unsafe { CStr::from_ptr(out) }.to_str().expect("UTF-8").to_owned();
    // SAFETY: returned by ta_client_config_json, not freed before.
    unsafe { ta_string_free(out) };
    text
}

#[test]
fn bad_arguments_give_distinct_statuses_each_explained() {
    let mut statuses = Vec::new();

    // NULL config.
    let mut client = ptr::null_mut();
    // SAFETY: NULL is an allowed input; the out location is valid.
    let status = unsafe { ta_client_open(ptr::null(), &mut client) };
    assert_eq!(status, TA_STATUS_INVALID_ARGUMENT);
    let err = last_error().expect("error recorded");
    assert_eq!(err["status"], "TA_STATUS_INVALID_ARGUMENT");
    assert_eq!(err["code"], 1);
    assert!(err["message"].as_str().is_some_and(|m| m.contains("config_json")), "{err}");
    statuses.push(status);

    // Invalid UTF-8.
    let (status, client) = open_bytes(b"{\"siteCode\":\"P\xff1\"}");
    assert_eq!(status, TA_STATUS_INVALID_UTF8);
    assert!(client.is_null());
    let err = last_error().expect("error recorded");
    assert_eq!(err["kind"], "invalid_utf8");
    assert_eq!(err["details"]["offset"], 14);
    statuses.push(status);

    // Malformed JSON.
    let (status, _) = open("{\"siteCode\": \"PS1\",}");
    assert_eq!(status, TA_STATUS_INVALID_JSON);
    let err = last_error().expect("error recorded");
    assert_eq!(err["status"], "TA_STATUS_INVALID_JSON");
    assert!(err["message"].as_str().is_some_and(|m| m.contains("line 1 column")), "{err}");
    statuses.push(status);

    // Unknown key.
    let (status, _) = open(&config(json!({ "logdir": "/tmp/x" })));
    assert_eq!(status, TA_STATUS_INVALID_CONFIG);
    let err = last_error().expect("error recorded");
    assert!(err["message"].as_str().is_some_and(|m| m.contains("`logdir`") && m.contains("`logDir`")), "{err}");
    assert_eq!(err["details"]["unknownKey"], "logdir");
    statuses.push(status);

    // Azure Government.
    let (status, _) = open(&config(json!({ "cloud": "AzureUSGovernment" })));
    assert_eq!(status, TA_STATUS_UNSUPPORTED_CLOUD);
    let err = last_error().expect("error recorded");
    assert_eq!(err["code"], 5);
    assert!(err["message"].as_str().is_some_and(|m| m.contains("AzurePublicCloud") && m.contains("Azure Government")), "{err}");
    statuses.push(status);

    let distinct: std::collections::HashSet<_> = statuses.iter().collect();
    assert_eq!(distinct.len(), statuses.len(), "{statuses:?}");
}

#[test]
fn outputs_are_written_only_on_success() {
    let sentinel = 0x5a5a_usize as *mut ta_client;
    let mut client = sentinel;
    let text = CString::new("{\"cloud\":\"AzureUSGovernment\"}").expect("CString");
    // SAFETY: valid string and out location.
    let status = unsafe { ta_client_open(text.as_ptr(), &mut client) };
    assert_eq!(status, TA_STATUS_UNSUPPORTED_CLOUD);
    assert_eq!(client, sentinel, "out_client written on failure");

    // NULL out pointer: refused before any work.
    let text = CString::new(config(json!({}))).expect("CString");
    // SAFETY: NULL out pointer is an allowed input.
    let status = unsafe { ta_client_open(text.as_ptr(), ptr::null_mut()) };
    assert_eq!(status, TA_STATUS_INVALID_ARGUMENT);
    assert!(last_error().is_some_and(|e| e["message"].as_str().is_some_and(|m| m.contains("out_client"))));

    // NULL handle to config_json.
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: NULL handle is an allowed input.
    assert_eq!(unsafe { ta_client_config_json(ptr::null(), &mut out) }, TA_STATUS_INVALID_ARGUMENT);
    assert!(out.is_null());
}

#[test]
fn success_clears_the_last_error_and_reading_does_not() {
    let (status, _) = open("nope");
    assert_eq!(status, TA_STATUS_INVALID_JSON);
    assert!(last_error().is_some());
    assert!(last_error().is_some(), "reading the error cleared it");
    let (status, client) = open(&config(json!({})));
    assert_eq!(status, TA_STATUS_OK);
    assert!(last_error().is_none(), "a successful call leaves no error behind");
    // SAFETY: a live handle, freed once.
    unsafe { ta_client_free(client) };
}

#[test]
fn the_last_error_belongs_to_its_thread() {
    let (status, _) = open("nope");
    assert_eq!(status, TA_STATUS_INVALID_JSON);
    let other = std::thread::spawn(|| last_error().is_none()).join().expect("thread");
    assert!(other, "another thread sees this thread's error");
    assert!(last_error().is_some());
}

#[test]
fn a_panic_becomes_a_status_and_the_process_lives_on() {
    let status = boundary(|| -> tenant_attach::Result<()> { panic!("boom in the core") });
    assert_eq!(status, TA_STATUS_PANIC);
    let err = last_error().expect("error recorded");
    assert_eq!(err["status"], "TA_STATUS_PANIC");
    assert_eq!(err["code"], 23);
    assert!(err["message"].as_str().is_some_and(|m| m.contains("boom in the core") && m.contains("bug")), "{err}");
    // Still fully working afterwards.
    let (status, client) = open(&config(json!({})));
    assert_eq!(status, TA_STATUS_OK);
    // SAFETY: a live handle, freed once.
    unsafe { ta_client_free(client) };
}

#[cfg(feature = "test-hooks")]
#[test]
fn the_test_hook_panics_inside_the_boundary() {
    assert_eq!(tenant_attach::ffi::ta_test_panic(), TA_STATUS_PANIC);
    assert_eq!(last_error().expect("error")["kind"], "panic");
    assert_eq!(open(&config(json!({}))).0, TA_STATUS_OK);
}

#[test]
fn errors_returned_by_the_core_keep_their_details() {
    let status = boundary(|| Err(Error::new(tenant_attach::ErrorKind::Forbidden, "no role").with_http(403, Some("req-1".into())).with_code("Forbidden")));
    assert_eq!(status, TA_STATUS_FORBIDDEN);
    let err = last_error().expect("error");
    assert_eq!(
        err,
        json!({"status":"TA_STATUS_FORBIDDEN","code":9,"kind":"forbidden","message":"no role","httpStatus":403,"requestId":"req-1","serviceCode":"Forbidden"})
    );
}

#[test]
fn frees_accept_null() {
    // SAFETY: NULL is documented as fine for every free.
    unsafe {
        ta_client_free(ptr::null_mut());
        ta_string_free(ptr::null_mut());
        ta_cancel_free(ptr::null_mut());
        ta_cancel_set(ptr::null());
    }
}

#[test]
fn status_names_are_static_strings() {
    // SAFETY: ta_status_name returns static NUL-terminated strings.
    let name = |v| unsafe { CStr::from_ptr(ta_status_name(v)) }.to_str().expect("UTF-8");
    assert_eq!(name(TA_STATUS_INVALID_CONFIG as i32), "TA_STATUS_INVALID_CONFIG");
    assert_eq!(name(1000), "TA_STATUS_UNKNOWN");
}

#[test]
fn a_cancel_flag_can_be_set_from_another_thread() {
    let cancel = ta_cancel_new();
    assert!(!cancel.is_null());
    // SAFETY: live handle.
    assert_eq!(unsafe { ta_cancel_is_set(cancel) }, 0);
    let address = cancel as usize; // raw pointers are not Send; the flag itself is thread-safe
    std::thread::spawn(move || {
        // SAFETY: the handle outlives this thread (joined before the free below).
        unsafe { ta_cancel_set(address as *const _) }
    })
    .join()
    .expect("thread");
    // SAFETY: live handle, then freed once.
    unsafe {
        assert_eq!(ta_cancel_is_set(cancel), 1);
        ta_cancel_free(cancel);
    }
}

#[test]
fn progress_reaches_the_c_callback_with_the_user_pointer() {
    unsafe extern "C-unwind" fn record(user: *mut c_void, done: u64, total: u64) {
        // SAFETY: the test passes a &mut Vec as user.
        let seen = unsafe { &mut *(user as *mut Vec<(u64, u64)>) };
        seen.push((done, total));
    }
    let mut seen: Vec<(u64, u64)> = Vec::new();
    // SAFETY: `record` accepts this user pointer for as long as `progress` lives.
    let progress = unsafe { Progress::new(Some(record), &mut seen as *mut Vec<(u64, u64)> as *mut c_void) };
    progress.report(1, 3);
    (progress.as_fn())(3, 3);
    assert_eq!(seen, vec![(1, 3), (3, 3)]);
    // SAFETY: a NULL callback is allowed and never called.
    unsafe { Progress::new(None, ptr::null_mut()) }.report(1, 1);
}

#[test]
fn one_client_serves_many_threads_at_once() {
    let (status, client) = open(&config(json!({ "auth": { "kind": "clientSecret", "clientId": TENANT, "clientSecret": "threads-secret-0123456789" } })));
    assert_eq!(status, TA_STATUS_OK);
    let address = client as usize;
    let expected = config_json(client);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let expected = expected.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    assert_eq!(config_json(address as *const ta_client), expected);
                    // Other clients opened and freed meanwhile.
                    let (status, other) = open(&config(json!({})));
                    assert_eq!(status, TA_STATUS_OK);
                    // SAFETY: a live handle, freed once.
                    unsafe { ta_client_free(other) };
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no thread failed");
    }
    // SAFETY: a live handle, freed once, after every thread finished.
    unsafe { ta_client_free(client) };
}

#[test]
fn json_arguments_report_line_column_and_path() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Scope {
        collection: String,
    }
    let err = tenant_attach::ffi::json_arg::<Scope>("{\"collection\": 5}", "scope_json").expect_err("wrong type");
    assert_eq!(err.kind, tenant_attach::ErrorKind::InvalidJson);
    assert!(err.message.contains("`scope_json`") && err.message.contains("`collection`"), "{}", err.message);
    let details = err.details.expect("details");
    assert_eq!((details["line"].clone(), details["column"].clone()), (json!(1), json!(16)));
    let err = tenant_attach::ffi::json_arg::<Scope>("{\"collection\": \"x\"} extra", "scope_json").expect_err("trailing");
    assert_eq!(err.kind, tenant_attach::ErrorKind::InvalidJson);
    assert!(tenant_attach::ffi::json_arg::<Scope>("{\"collection\": \"SMS00001\"}", "scope_json").is_ok());
}
