//! The thread's last error, and `ta_last_error_json`.
//!
//! Thread-local, like `errno`: a failing call on one thread never hides or overwrites another
//! thread's error. Each status-returning export clears it at entry.

use std::cell::RefCell;
use std::ffi::c_char;

use serde::Serialize;

use super::status::{ta_status, Status};
use super::strings::into_c_string;
use crate::error::Error;
use crate::redact;

thread_local! {
    static LAST_ERROR: RefCell<Option<Error>> = const { RefCell::new(None) };
}

// `try_with`: during thread teardown (a call from a C thread-exit destructor) the slot may be gone;
// the call still works, it just has no last error to keep.

pub(super) fn clear() {
    let _ = LAST_ERROR.try_with(|slot| slot.borrow_mut().take());
}

/// Keeps `err` for `ta_last_error_json`, scrubbed of every registered secret first so that nothing a
/// caller can read back holds one.
pub(super) fn store(err: Error) {
    let kind = err.kind;
    // This runs outside the boundary's catch_unwind: a panic here must not reach C either.
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scrubbed(err)))
        .unwrap_or_else(|_| Error::new(kind, "the call failed, and its error message could not be prepared (a bug, please report it)"));
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = Some(err));
}

/// Longest message kept whole; a longer one (a huge value echoed back) keeps its start and its end,
/// where the advice usually is. Scrubbing comes first so that no secret is cut in two and missed.
const MESSAGE_HEAD: usize = 2000;
const MESSAGE_TAIL: usize = 500;
/// Longest string kept whole inside `details`.
const DETAIL_CHARS: usize = 1000;

fn scrubbed(mut err: Error) -> Error {
    err.message = crate::json::shorten_middle(&redact::scrub(&err.message), MESSAGE_HEAD, MESSAGE_TAIL).into_owned();
    err.request_id = err.request_id.map(|s| crate::json::shorten(&redact::scrub(&s), DETAIL_CHARS).into_owned());
    err.code = err.code.map(|s| crate::json::shorten(&redact::scrub(&s), DETAIL_CHARS).into_owned());
    err.details = err.details.and_then(|d| {
        let text = serde_json::to_string(&d).ok()?;
        let mut details = serde_json::from_str(&redact::scrub(&text)).ok()?;
        shorten_strings(&mut details);
        Some(details)
    });
    err
}

fn shorten_strings(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(short) = crate::json::shorten(s, DETAIL_CHARS) {
                *s = short;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(shorten_strings),
        serde_json::Value::Object(map) => map.values_mut().for_each(shorten_strings),
        _ => {}
    }
}

/// The last error of the calling thread (`ta_last_error_json`; docs/FFI.md, "Error model"); absent
/// members are omitted.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorJson<'a> {
    /// The `ta_status` name, `TA_STATUS_INVALID_CONFIG`.
    status: &'static str,
    /// The `ta_status` number.
    code: i32,
    /// The library's snake_case error kind, `invalid_config`.
    kind: &'static str,
    /// One or two sentences a person can act on (secrets shown as `***`).
    message: &'a str,
    /// The HTTP status of the service's answer, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    http_status: Option<u16>,
    /// The service's `request-id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    /// The service's error code (an AADSTS code, a Graph error code) or the library's
    /// (`FilterNotApplied`, `FilterNotSupported`).
    #[serde(skip_serializing_if = "Option::is_none")]
    service_code: Option<&'a str>,
    /// Specific to the error: the configuration key path, a JSON error's line and column...
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Value>,
}

/// The JSON of an error, as `ta_last_error_json` returns it.
pub(crate) fn to_json(err: &Error) -> String {
    let status = Status::from(err.kind);
    // Serialising plain strings and numbers cannot fail; the fallback keeps the contract anyway.
    serde_json::to_string(&error_json(err)).unwrap_or_else(|_| format!("{{\"status\":\"{}\",\"code\":{}}}", status.name(), status as i32))
}

/// The documented shape of `err`, borrowing from it.
fn error_json(err: &Error) -> ErrorJson<'_> {
    let status = Status::from(err.kind);
    ErrorJson {
        status: status.name(),
        code: status as i32,
        kind: err.kind.as_str(),
        message: &err.message,
        http_status: err.http_status,
        request_id: err.request_id.as_deref(),
        service_code: err.code.as_deref(),
        details: err.details.as_ref(),
    }
}

/// The last error on this thread as JSON, or NULL when the last status-returning call on this thread
/// succeeded (or none was made).
///
/// `{"status":"TA_STATUS_INVALID_CONFIG","code":4,"kind":"invalid_config","message":"...",
///   "httpStatus":403,"requestId":"...","serviceCode":"AADSTS7000215","details":{...}}`
/// (absent members omitted). The string is owned by the caller: release it with `ta_string_free`.
/// Reading it does not clear it.
#[no_mangle]
pub extern "C" fn ta_last_error_json() -> *mut c_char {
    super::guard(std::ptr::null_mut(), || {
        LAST_ERROR
            .try_with(|slot| match slot.borrow().as_ref() {
                Some(err) => into_c_string(to_json(err)).unwrap_or(std::ptr::null_mut()),
                None => std::ptr::null_mut(),
            })
            .unwrap_or(std::ptr::null_mut())
    })
}

/// The last error's value on this thread as `ta_status`: TA_STATUS_OK when the last status-returning
/// call on this thread succeeded (or none was made). Never fails.
#[no_mangle]
pub extern "C" fn ta_last_error_status() -> ta_status {
    super::guard(Status::Internal.code(), || {
        LAST_ERROR.try_with(|slot| slot.borrow().as_ref().map_or(Status::Ok.code(), |err| Status::from(err.kind).code())).unwrap_or(Status::Ok.code())
    })
}

/// The last error's message on this thread (what failed and what to do), or NULL when there is no
/// last error. Owned by the caller: release it with `ta_string_free`.
#[no_mangle]
pub extern "C" fn ta_last_error_message() -> *mut c_char {
    last_error_member(c"message")
}

/// One member of the last error on this thread, as text: `"message"`, `"kind"`, `"status"`,
/// `"requestId"`, `"serviceCode"` as their strings; `"code"` and `"httpStatus"` as decimal numbers;
/// `"details"` as JSON. NULL when there is no last error, the error has no such member, or `name`
/// is NULL or not one of these. Owned by the caller: release it with `ta_string_free`. For callers
/// that need a member or two without a JSON reader (the C# interop).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string valid for the call.
#[no_mangle]
pub unsafe extern "C" fn ta_last_error_member(name: *const c_char) -> *mut c_char {
    if name.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: not NULL, NUL-terminated and valid for the call, as the caller guarantees.
    last_error_member(unsafe { std::ffi::CStr::from_ptr(name) })
}

fn last_error_member(name: &std::ffi::CStr) -> *mut c_char {
    super::guard(std::ptr::null_mut(), || {
        let Ok(name) = name.to_str() else { return std::ptr::null_mut() };
        LAST_ERROR
            .try_with(|slot| {
                let slot = slot.borrow();
                let Some(err) = slot.as_ref() else { return std::ptr::null_mut() };
                let value = serde_json::to_value(error_json(err)).unwrap_or_default();
                match value.get(name) {
                    Some(serde_json::Value::String(text)) if name != "details" => into_c_string(text.clone()).unwrap_or(std::ptr::null_mut()),
                    Some(serde_json::Value::Null) | None => std::ptr::null_mut(),
                    Some(other) => into_c_string(other.to_string()).unwrap_or(std::ptr::null_mut()),
                }
            })
            .unwrap_or(std::ptr::null_mut())
    })
}
