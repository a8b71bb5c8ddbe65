//! `ta_status`: the result of every fallible export, and the one mapping from `ErrorKind` to it.
//!
//! The numbers are part of the ABI: C# and PowerShell hard-code them, so values are append-only
//! (docs/CONVENTIONS.md). A new `ErrorKind` needs a new status at the end.

use std::ffi::{c_char, c_int};

use crate::error::ErrorKind;

/// Result of every fallible function. `TA_STATUS_OK` (0) is success; on any other value,
/// `ta_last_error_json()` on the same thread explains what went wrong.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ta_status {
    Ok = 0,
    InvalidArgument = 1,
    InvalidUtf8 = 2,
    InvalidJson = 3,
    InvalidConfig = 4,
    UnsupportedCloud = 5,
    UnsupportedAction = 6,
    NotOnboarded = 7,
    AuthFailed = 8,
    Forbidden = 9,
    NotFound = 10,
    Conflict = 11,
    Throttled = 12,
    Network = 13,
    Tls = 14,
    Timeout = 15,
    Server = 16,
    StateLocked = 17,
    StateCorrupt = 18,
    Cancelled = 19,
    Io = 20,
    Expired = 21,
    Internal = 22,
    Panic = 23,
    /// An upload stopped before sending anything by the deletion guard (empty or wholly ineligible
    /// input, or more deletions than allowed); the error's details say how many and how to allow it.
    DeletionRefused = 24,
}

impl ta_status {
    /// Every status, in numeric order (index == value).
    pub const ALL: [ta_status; 25] = [
        ta_status::Ok,
        ta_status::InvalidArgument,
        ta_status::InvalidUtf8,
        ta_status::InvalidJson,
        ta_status::InvalidConfig,
        ta_status::UnsupportedCloud,
        ta_status::UnsupportedAction,
        ta_status::NotOnboarded,
        ta_status::AuthFailed,
        ta_status::Forbidden,
        ta_status::NotFound,
        ta_status::Conflict,
        ta_status::Throttled,
        ta_status::Network,
        ta_status::Tls,
        ta_status::Timeout,
        ta_status::Server,
        ta_status::StateLocked,
        ta_status::StateCorrupt,
        ta_status::Cancelled,
        ta_status::Io,
        ta_status::Expired,
        ta_status::Internal,
        ta_status::Panic,
        ta_status::DeletionRefused,
    ];

    /// The status for a raw value a C caller passed, `None` when it is not one (a newer caller?).
    pub fn from_raw(value: c_int) -> Option<ta_status> {
        usize::try_from(value).ok().and_then(|i| Self::ALL.get(i)).copied()
    }

    /// The C name, `TA_STATUS_INVALID_JSON`.
    pub fn name(self) -> &'static str {
        self.name_c().to_str().unwrap_or("TA_STATUS_UNKNOWN")
    }

    /// The C name as a static NUL-terminated string (what `ta_status_name` returns).
    pub(crate) fn name_c(self) -> &'static std::ffi::CStr {
        match self {
            ta_status::Ok => c"TA_STATUS_OK",
            ta_status::InvalidArgument => c"TA_STATUS_INVALID_ARGUMENT",
            ta_status::InvalidUtf8 => c"TA_STATUS_INVALID_UTF8",
            ta_status::InvalidJson => c"TA_STATUS_INVALID_JSON",
            ta_status::InvalidConfig => c"TA_STATUS_INVALID_CONFIG",
            ta_status::UnsupportedCloud => c"TA_STATUS_UNSUPPORTED_CLOUD",
            ta_status::UnsupportedAction => c"TA_STATUS_UNSUPPORTED_ACTION",
            ta_status::NotOnboarded => c"TA_STATUS_NOT_ONBOARDED",
            ta_status::AuthFailed => c"TA_STATUS_AUTH_FAILED",
            ta_status::Forbidden => c"TA_STATUS_FORBIDDEN",
            ta_status::NotFound => c"TA_STATUS_NOT_FOUND",
            ta_status::Conflict => c"TA_STATUS_CONFLICT",
            ta_status::Throttled => c"TA_STATUS_THROTTLED",
            ta_status::Network => c"TA_STATUS_NETWORK",
            ta_status::Tls => c"TA_STATUS_TLS",
            ta_status::Timeout => c"TA_STATUS_TIMEOUT",
            ta_status::Server => c"TA_STATUS_SERVER",
            ta_status::StateLocked => c"TA_STATUS_STATE_LOCKED",
            ta_status::StateCorrupt => c"TA_STATUS_STATE_CORRUPT",
            ta_status::Cancelled => c"TA_STATUS_CANCELLED",
            ta_status::Io => c"TA_STATUS_IO",
            ta_status::Expired => c"TA_STATUS_EXPIRED",
            ta_status::Internal => c"TA_STATUS_INTERNAL",
            ta_status::Panic => c"TA_STATUS_PANIC",
            ta_status::DeletionRefused => c"TA_STATUS_DELETION_REFUSED",
        }
    }
}

impl From<ErrorKind> for ta_status {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidArgument => ta_status::InvalidArgument,
            ErrorKind::InvalidUtf8 => ta_status::InvalidUtf8,
            ErrorKind::InvalidJson => ta_status::InvalidJson,
            ErrorKind::InvalidConfig => ta_status::InvalidConfig,
            ErrorKind::UnsupportedCloud => ta_status::UnsupportedCloud,
            ErrorKind::UnsupportedAction => ta_status::UnsupportedAction,
            ErrorKind::NotOnboarded => ta_status::NotOnboarded,
            ErrorKind::AuthFailed => ta_status::AuthFailed,
            ErrorKind::Forbidden => ta_status::Forbidden,
            ErrorKind::NotFound => ta_status::NotFound,
            ErrorKind::Conflict => ta_status::Conflict,
            ErrorKind::Throttled => ta_status::Throttled,
            ErrorKind::Network => ta_status::Network,
            ErrorKind::Tls => ta_status::Tls,
            ErrorKind::Timeout => ta_status::Timeout,
            ErrorKind::Server => ta_status::Server,
            ErrorKind::StateLocked => ta_status::StateLocked,
            ErrorKind::StateCorrupt => ta_status::StateCorrupt,
            ErrorKind::Cancelled => ta_status::Cancelled,
            ErrorKind::Io => ta_status::Io,
            ErrorKind::Expired => ta_status::Expired,
            ErrorKind::Internal => ta_status::Internal,
            ErrorKind::Panic => ta_status::Panic,
            ErrorKind::DeletionRefused => ta_status::DeletionRefused,
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
    match ta_status::from_raw(status) {
        Some(status) => status.name_c().as_ptr(),
        None => c"TA_STATUS_UNKNOWN".as_ptr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_documented_abi_numbers() {
        for (i, status) in ta_status::ALL.iter().enumerate() {
            assert_eq!(*status as usize, i, "{status:?}");
        }
        assert_eq!(ta_status::Panic as i32, 23);
        assert_eq!(ta_status::InvalidConfig as i32, 4);
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
        ];
        let statuses: std::collections::HashSet<ta_status> = kinds.iter().map(|k| ta_status::from(*k)).collect();
        assert_eq!(statuses.len(), kinds.len());
        // The snake_case kind and the C name agree: invalid_json <-> TA_STATUS_INVALID_JSON.
        for kind in kinds {
            let status = ta_status::from(kind);
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
        assert_eq!(name(25).as_deref(), Ok("TA_STATUS_UNKNOWN"));
        assert_eq!(name(-1).as_deref(), Ok("TA_STATUS_UNKNOWN"));
    }
}
