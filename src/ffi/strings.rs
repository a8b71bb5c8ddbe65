//! Strings crossing the boundary: the library's own (`ta_string_free`) and static ones (`ta_version`);
//! and the versions a caller checks at load time (`ta_version`, `ta_abi_version`).

use std::ffi::{c_char, CString};

use crate::error::{Error, Result};

/// Hands a Rust string to C. The caller owns the result and releases it with `ta_string_free`.
pub(crate) fn into_c_string(s: String) -> Result<*mut c_char> {
    CString::new(s).map(CString::into_raw).map_err(|_| Error::internal("a result string contained a NUL character and cannot be returned to C"))
}

/// Releases a string returned by this library (`ta_last_error_json`, `ta_client_config_json`, ...).
/// NULL is fine.
///
/// # Safety
/// `s` is NULL or a string this library returned that was not freed before (never a string from
/// elsewhere, never `ta_version`'s or `ta_status_name`'s static strings).
#[no_mangle]
pub unsafe extern "C" fn ta_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    super::guard((), || {
        // SAFETY: the caller passes a string this library made with CString::into_raw, once.
        drop(unsafe { CString::from_raw(s) });
    })
}

/// The library version, `"x.y.z"` (the same as the header's `TA_VERSION` when they match).
/// The string is static: never free it.
#[no_mangle]
pub extern "C" fn ta_version() -> *const c_char {
    const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version contains a NUL"),
    };
    VERSION.as_ptr()
}

/// The ABI major version of the header: `ta_abi_version()` of a library a caller may use returns
/// this same number. It changes only when a change would break a program compiled against the
/// previous header (docs/FFI.md, "ABI versions"); the Linux SONAME carries it
/// (`libtenant_attach.so.1`).
pub const TA_ABI_VERSION: u32 = 1;

/// The ABI major version of this library. Check it once at load time:
/// `if (ta_abi_version() != TA_ABI_VERSION)` the library was built for another header, and no
/// other call is safe to make (arguments or results may have changed shape). Never fails.
#[no_mangle]
pub extern "C" fn ta_abi_version() -> u32 {
    TA_ABI_VERSION
}
