//! The C ABI: a thin shell over the core. Every export converts its arguments with the helpers here,
//! runs inside [`boundary`] (or [`guard`] for the few that return no status), calls the core and
//! converts the result. No business logic lives under `ffi/`.
//!
//! Ownership and threading of every pointer are documented in docs/FFI.md.

pub mod cancel;
mod client;
mod error;
pub mod handle;
mod operations;
mod progress;
pub mod status;
mod strings;

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};

pub use cancel::{ta_cancel, ta_cancel_free, ta_cancel_is_set, ta_cancel_new, ta_cancel_set};
pub use client::{ta_client, ta_client_config_json, ta_client_free, ta_client_open};
pub use error::{ta_last_error_json, ta_last_error_member, ta_last_error_message, ta_last_error_status};
pub use operations::*;
pub use progress::{ta_progress_fn, Progress};
pub use status::*;
pub use strings::{ta_abi_version, ta_string_free, ta_version, TA_ABI_VERSION};

/// Runs the body of an export that returns `ta_status`: clears this thread's last error, catches any
/// panic (→ `TA_STATUS_PANIC`, never an abort of the host), and on failure stores the error (its
/// message scrubbed of secrets) for `ta_last_error_json`.
pub fn boundary<F>(body: F) -> ta_status
where
    F: FnOnce() -> Result<()>,
{
    error::clear();
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| Err(panic_error(&*payload)));
    match outcome {
        Ok(()) => {
            // A callback may have made a failing call on this thread meanwhile: a success leaves
            // no error behind (docs/FFI.md: NULL after a success).
            error::clear();
            Status::Ok.code()
        }
        Err(err) => {
            let status = Status::from(err.kind);
            error::store(err);
            status.code()
        }
    }
}

/// Runs the body of an export that has no status to return (frees, `ta_version`...): a panic gives
/// `fallback` instead of unwinding into C. Leaves the last error alone, so that a caller may free
/// things between a failing call and reading `ta_last_error_json`.
pub fn guard<T, F>(fallback: T, body: F) -> T
where
    F: FnOnce() -> T,
{
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// The panic payload that carries a callback's Rust panic out to the boundary: not a bug of the
/// library. (A foreign exception, such as C++'s, cannot be caught by Rust: the process aborts.)
pub(crate) struct CallbackUnwound(pub &'static str);

/// The error of a call whose `which` callback unwound instead of returning.
pub(crate) fn callback_unwound(which: &str) -> Error {
    Error::new(
        ErrorKind::Internal,
        format!("the {which} callback did not return normally (it panicked), so the call stopped; catch everything inside callbacks"),
    )
}

fn panic_error(payload: &(dyn std::any::Any + Send)) -> Error {
    if let Some(CallbackUnwound(which)) = payload.downcast_ref::<CallbackUnwound>() {
        return callback_unwound(which);
    }
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_owned());
    Error::new(
        ErrorKind::Panic,
        format!("internal error in tenant-attach (a bug, please report it): {what}. The process is unaffected; the call did nothing further."),
    )
}

/// A borrowed C string argument as `&str`.
///
/// NULL → `InvalidArgument` naming the parameter; invalid UTF-8 → `InvalidUtf8` with the byte offset.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and unchanged for `'a`
/// (the duration of the call).
pub unsafe fn c_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("`{name}` is NULL; pass a NUL-terminated UTF-8 string")));
    }
    // SAFETY: non-NULL and NUL-terminated for the call, as the caller guarantees.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|e| {
        Error::new(ErrorKind::InvalidUtf8, format!("`{name}` is not valid UTF-8 (first bad byte at offset {}); pass strings as UTF-8", e.valid_up_to()))
            .with_details(serde_json::json!({ "argument": name, "offset": e.valid_up_to() }))
    })
}

/// A JSON argument parsed into `T`: bad syntax or a wrong shape → `InvalidJson` naming the argument,
/// the line and column, and the JSON path of the offending value.
pub fn json_arg<T: DeserializeOwned>(text: &str, name: &str) -> Result<T> {
    let error = |path: String, inner: serde_json::Error| {
        Error::new(ErrorKind::InvalidJson, format!("`{name}` at `{path}`: {inner}"))
            .with_details(serde_json::json!({ "argument": name, "path": path, "line": inner.line(), "column": inner.column() }))
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| error(e.path().to_string(), e.into_inner()))?;
    // Trailing text after the value ("{}x") is malformed JSON too.
    de.end().map_err(|e| error(".".to_owned(), e))?;
    crate::json::refuse_duplicate_keys(text, ErrorKind::InvalidJson, &format!("`{name}`"))?;
    Ok(value)
}

/// An out-parameter, checked for NULL up front so that a call fails before doing any work, and
/// written only once everything succeeded (outputs are written only on success).
pub struct Out<'a, T> {
    ptr: std::ptr::NonNull<T>,
    _call: std::marker::PhantomData<&'a mut T>,
}

impl<T> Out<'_, T> {
    pub fn write(self, value: T) {
        // SAFETY: `out_ptr`'s caller guaranteed the location is valid for writes; `write` does not
        // read (or drop) whatever the caller left there.
        unsafe { self.ptr.as_ptr().write(value) }
    }
}

/// An out-parameter argument. NULL → `InvalidArgument` naming the parameter.
///
/// # Safety
/// `ptr` is NULL or valid for writing a `T` for `'a` (the duration of the call).
pub unsafe fn out_ptr<'a, T>(ptr: *mut T, name: &str) -> Result<Out<'a, T>> {
    std::ptr::NonNull::new(ptr)
        .map(|ptr| Out { ptr, _call: std::marker::PhantomData })
        .ok_or_else(|| Error::invalid_argument(format!("`{name}` is NULL; pass the address of a variable to receive the result")))
}

/// Test hook: panics inside the boundary, to prove a Rust panic becomes `TA_STATUS_PANIC` and the
/// host process lives on. Only in builds with the `test-hooks` feature.
#[cfg(feature = "test-hooks")]
#[no_mangle]
#[must_use]
pub extern "C" fn ta_test_panic() -> ta_status {
    boundary(|| panic!("deliberate panic from ta_test_panic"))
}
