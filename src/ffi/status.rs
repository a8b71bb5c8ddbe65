//! `ta_status`: the result of every fallible export, and the one mapping from `ErrorKind` to it.
//!
//! The numbers are part of the ABI: C# and PowerShell hard-code them, so values are append-only
//! (docs/CONVENTIONS.md). A new `ErrorKind` needs a new status at the end.
//!
//! In C, `ta_status` is a fixed-width `int32_t` with named constants rather than an enum, whose
//! width is implementation-defined (and which a newer library's new value would make invalid in an
//! older caller's switch). Rust code uses [`Status`].

use std::ffi::{c_char, c_int};

use crate::error::ErrorKind;

/// Result of every fallible function: `TA_STATUS_OK` (0) is success; on any other value,
/// `ta_last_error_json()` on the same thread explains what went wrong. New values may be added at
/// the end in a minor version: treat an unknown value as a failure (`ta_status_name` names it
/// `TA_STATUS_UNKNOWN`).
#[allow(non_camel_case_types)]
pub type ta_status = i32;

/// Success.
pub const TA_STATUS_OK: ta_status = 0;
/// A NULL or otherwise unusable argument.
pub const TA_STATUS_INVALID_ARGUMENT: ta_status = 1;
/// A string argument is not UTF-8.
pub const TA_STATUS_INVALID_UTF8: ta_status = 2;
/// A JSON argument is malformed or has the wrong shape.
pub const TA_STATUS_INVALID_JSON: ta_status = 3;
/// The configuration is invalid.
pub const TA_STATUS_INVALID_CONFIG: ta_status = 4;
/// A cloud other than AzurePublicCloud.
pub const TA_STATUS_UNSUPPORTED_CLOUD: ta_status = 5;
/// An action the service does not run.
pub const TA_STATUS_UNSUPPORTED_ACTION: ta_status = 6;
/// The hierarchy is not onboarded.
pub const TA_STATUS_NOT_ONBOARDED: ta_status = 7;
/// The sign-in failed.
pub const TA_STATUS_AUTH_FAILED: ta_status = 8;
/// Signed in, but not allowed.
pub const TA_STATUS_FORBIDDEN: ta_status = 9;
/// The service does not know the object.
pub const TA_STATUS_NOT_FOUND: ta_status = 10;
/// The service refused a conflicting change.
pub const TA_STATUS_CONFLICT: ta_status = 11;
/// The service throttled the call beyond its retries.
pub const TA_STATUS_THROTTLED: ta_status = 12;
/// The service could not be reached.
pub const TA_STATUS_NETWORK: ta_status = 13;
/// The TLS handshake or certificate check failed.
pub const TA_STATUS_TLS: ta_status = 14;
/// The service did not answer in time.
pub const TA_STATUS_TIMEOUT: ta_status = 15;
/// The service failed.
pub const TA_STATUS_SERVER: ta_status = 16;
/// Another process uses the sync state.
pub const TA_STATUS_STATE_LOCKED: ta_status = 17;
/// The sync state cannot be used (written by a newer version).
pub const TA_STATUS_STATE_CORRUPT: ta_status = 18;
/// The call was cancelled through its ta_cancel.
pub const TA_STATUS_CANCELLED: ta_status = 19;
/// A local file or folder failed.
pub const TA_STATUS_IO: ta_status = 20;
/// A credential, device code or secret expired.
pub const TA_STATUS_EXPIRED: ta_status = 21;
/// A bug in the library.
pub const TA_STATUS_INTERNAL: ta_status = 22;
/// A Rust panic was caught at the boundary; the process is unaffected.
pub const TA_STATUS_PANIC: ta_status = 23;
/// An upload stopped by the deletion guard (empty or wholly ineligible input, more removals than
/// allowed in 24 hours, decided by the library before sending anything or by the gateway before
/// removing anything; or a missing state folder while the cloud holds an earlier upload); the
/// details say how many and how to allow it.
pub const TA_STATUS_DELETION_REFUSED: ta_status = 24;
/// A call on a client from inside one of that client's own callbacks (device code, progress),
/// which would deadlock or corrupt the running call; return from the callback first (docs/FFI.md,
/// "Callbacks").
pub const TA_STATUS_CALLBACK_REENTRY: ta_status = 25;

/// The statuses as a Rust enum (the `TA_STATUS_*` constants are the ABI).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok = TA_STATUS_OK,
    InvalidArgument = TA_STATUS_INVALID_ARGUMENT,
    InvalidUtf8 = TA_STATUS_INVALID_UTF8,
    InvalidJson = TA_STATUS_INVALID_JSON,
    InvalidConfig = TA_STATUS_INVALID_CONFIG,
    UnsupportedCloud = TA_STATUS_UNSUPPORTED_CLOUD,
    UnsupportedAction = TA_STATUS_UNSUPPORTED_ACTION,
    NotOnboarded = TA_STATUS_NOT_ONBOARDED,
    AuthFailed = TA_STATUS_AUTH_FAILED,
    Forbidden = TA_STATUS_FORBIDDEN,
    NotFound = TA_STATUS_NOT_FOUND,
    Conflict = TA_STATUS_CONFLICT,
    Throttled = TA_STATUS_THROTTLED,
    Network = TA_STATUS_NETWORK,
    Tls = TA_STATUS_TLS,
    Timeout = TA_STATUS_TIMEOUT,
    Server = TA_STATUS_SERVER,
    StateLocked = TA_STATUS_STATE_LOCKED,
    StateCorrupt = TA_STATUS_STATE_CORRUPT,
    Cancelled = TA_STATUS_CANCELLED,
    Io = TA_STATUS_IO,
    Expired = TA_STATUS_EXPIRED,
    Internal = TA_STATUS_INTERNAL,
    Panic = TA_STATUS_PANIC,
    DeletionRefused = TA_STATUS_DELETION_REFUSED,
    CallbackReentry = TA_STATUS_CALLBACK_REENTRY,
}

impl Status {
    /// Every status, in numeric order (index == value).
    pub const ALL: [Status; 26] = [
        Status::Ok,
        Status::InvalidArgument,
        Status::InvalidUtf8,
        Status::InvalidJson,
        Status::InvalidConfig,
        Status::UnsupportedCloud,
        Status::UnsupportedAction,
        Status::NotOnboarded,
        Status::AuthFailed,
        Status::Forbidden,
        Status::NotFound,
        Status::Conflict,
        Status::Throttled,
        Status::Network,
        Status::Tls,
        Status::Timeout,
        Status::Server,
        Status::StateLocked,
        Status::StateCorrupt,
        Status::Cancelled,
        Status::Io,
        Status::Expired,
        Status::Internal,
        Status::Panic,
        Status::DeletionRefused,
        Status::CallbackReentry,
    ];

    /// The status for a raw value a C caller passed, `None` when it is not one (a newer caller?).
    pub fn from_raw(value: c_int) -> Option<Status> {
        usize::try_from(value).ok().and_then(|i| Self::ALL.get(i)).copied()
    }

    /// The value returned to C.
    pub fn code(self) -> ta_status {
        self as ta_status
    }
    /// The C name, `TA_STATUS_INVALID_JSON`.
    pub fn name(self) -> &'static str {
        self.name_c().to_str().unwrap_or("TA_STATUS_UNKNOWN")
    }

    /// The C name as a static NUL-terminated string (what `ta_status_name` returns).
    pub(crate) fn name_c(self) -> &'static std::ffi::CStr {
        match self {
            Status::Ok => c"TA_STATUS_OK",
            Status::InvalidArgument => c"TA_STATUS_INVALID_ARGUMENT",
            Status::InvalidUtf8 => c"TA_STATUS_INVALID_UTF8",
            Status::InvalidJson => c"TA_STATUS_INVALID_JSON",
            Status::InvalidConfig => c"TA_STATUS_INVALID_CONFIG",
            Status::UnsupportedCloud => c"TA_STATUS_UNSUPPORTED_CLOUD",
            Status::UnsupportedAction => c"TA_STATUS_UNSUPPORTED_ACTION",
            Status::NotOnboarded => c"TA_STATUS_NOT_ONBOARDED",
            Status::AuthFailed => c"TA_STATUS_AUTH_FAILED",
            Status::Forbidden => c"TA_STATUS_FORBIDDEN",
            Status::NotFound => c"TA_STATUS_NOT_FOUND",
            Status::Conflict => c"TA_STATUS_CONFLICT",
            Status::Throttled => c"TA_STATUS_THROTTLED",
            Status::Network => c"TA_STATUS_NETWORK",
            Status::Tls => c"TA_STATUS_TLS",
            Status::Timeout => c"TA_STATUS_TIMEOUT",
            Status::Server => c"TA_STATUS_SERVER",
            Status::StateLocked => c"TA_STATUS_STATE_LOCKED",
            Status::StateCorrupt => c"TA_STATUS_STATE_CORRUPT",
            Status::Cancelled => c"TA_STATUS_CANCELLED",
            Status::Io => c"TA_STATUS_IO",
            Status::Expired => c"TA_STATUS_EXPIRED",
            Status::Internal => c"TA_STATUS_INTERNAL",
            Status::Panic => c"TA_STATUS_PANIC",
            Status::DeletionRefused => c"TA_STATUS_DELETION_REFUSED",
            Status::CallbackReentry => c"TA_STATUS_CALLBACK_REENTRY",
        }
    }
}

impl From<ErrorKind> for Status {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidArgument => Status::InvalidArgument,
            ErrorKind::InvalidUtf8 => Status::InvalidUtf8,
            ErrorKind::InvalidJson => Status::InvalidJson,
            ErrorKind::InvalidConfig => Status::InvalidConfig,
            ErrorKind::UnsupportedCloud => Status::UnsupportedCloud,
            ErrorKind::UnsupportedAction => Status::UnsupportedAction,
            ErrorKind::NotOnboarded => Status::NotOnboarded,
            ErrorKind::AuthFailed => Status::AuthFailed,
            ErrorKind::Forbidden => Status::Forbidden,
            ErrorKind::NotFound => Status::NotFound,
            ErrorKind::Conflict => Status::Conflict,
            ErrorKind::Throttled => Status::Throttled,
            ErrorKind::Network => Status::Network,
            ErrorKind::Tls => Status::Tls,
            ErrorKind::Timeout => Status::Timeout,
            ErrorKind::Server => Status::Server,
            ErrorKind::StateLocked => Status::StateLocked,
            ErrorKind::StateCorrupt => Status::StateCorrupt,
            ErrorKind::Cancelled => Status::Cancelled,
            ErrorKind::Io => Status::Io,
            ErrorKind::Expired => Status::Expired,
            ErrorKind::Internal => Status::Internal,
            ErrorKind::Panic => Status::Panic,
            ErrorKind::DeletionRefused => Status::DeletionRefused,
            ErrorKind::CallbackReentry => Status::CallbackReentry,
        }
    }
}

/// The name of a status, `"TA_STATUS_INVALID_JSON"`; `"TA_STATUS_UNKNOWN"` for a value this
/// library does not know.
///
/// Takes an `int` rather than `ta_status` so that any value a caller passes (for instance one added
/// in a newer version) is safe. The returned string is static: never free it.
#[no_mangle]
pub extern "C" fn ta_status_name(status: c_int) -> *const c_char {
    match Status::from_raw(status) {
        Some(status) => status.name_c().as_ptr(),
        None => c"TA_STATUS_UNKNOWN".as_ptr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_documented_abi_numbers() {
        for (i, status) in Status::ALL.iter().enumerate() {
            assert_eq!(*status as usize, i, "{status:?}");
        }
        assert_eq!(Status::Panic as i32, 23);
        assert_eq!(TA_STATUS_INVALID_CONFIG, 4);
        assert_eq!(TA_STATUS_CALLBACK_REENTRY, 25);
    }

    #[test]
    fn every_kind_has_its_own_status() {
        let kinds = [
            ErrorKind::InvalidArgument,
            ErrorKind::InvalidUtf8,
            ErrorKind::InvalidJson,
            ErrorKind::InvalidConfig,
            ErrorKind::UnsupportedCloud,
            ErrorKind::UnsupportedAction,
            ErrorKind::NotOnboarded,
            ErrorKind::AuthFailed,
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::Throttled,
            ErrorKind::Network,
            ErrorKind::Tls,
            ErrorKind::Timeout,
            ErrorKind::Server,
            ErrorKind::StateLocked,
            ErrorKind::StateCorrupt,
            ErrorKind::Cancelled,
            ErrorKind::Io,
            ErrorKind::Expired,
            ErrorKind::Internal,
            ErrorKind::Panic,
            ErrorKind::DeletionRefused,
            ErrorKind::CallbackReentry,
        ];
        let statuses: std::collections::HashSet<Status> = kinds.iter().map(|k| Status::from(*k)).collect();
        assert_eq!(statuses.len(), kinds.len());
        // The snake_case kind and the C name agree: invalid_json <-> TA_STATUS_INVALID_JSON.
        for kind in kinds {
            let status = Status::from(kind);
            assert_eq!(status.name(), format!("TA_STATUS_{}", kind.as_str().to_uppercase()));
        }
    }

    #[test]
    fn unknown_values_have_a_name_too() {
        // SAFETY: ta_status_name returns a static NUL-terminated string.
        let name = |v| unsafe { std::ffi::CStr::from_ptr(ta_status_name(v)) }.to_str().map(str::to_owned);
        assert_eq!(name(0).as_deref(), Ok("TA_STATUS_OK"));
        assert_eq!(name(23).as_deref(), Ok("TA_STATUS_PANIC"));
        assert_eq!(name(24).as_deref(), Ok("TA_STATUS_DELETION_REFUSED"));
        assert_eq!(name(25).as_deref(), Ok("TA_STATUS_CALLBACK_REENTRY"));
        assert_eq!(name(26).as_deref(), Ok("TA_STATUS_UNKNOWN"));
        assert_eq!(name(-1).as_deref(), Ok("TA_STATUS_UNKNOWN"));
    }
}
