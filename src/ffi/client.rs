//! `ta_client_*`: open, inspect and free the client handle.

use std::ffi::c_char;

use super::handle::ClientCall;
use super::strings::into_c_string;
use super::{boundary, c_str, guard, out_ptr, ta_status};
use crate::client::Client;

/// An open client: a validated configuration and its logs. Opaque to C.
///
/// Thread safety: one `ta_client` may be used by any number of threads at once. `ta_client_free`
/// from one of its callbacks, or while another thread's call is known to be running on it, is
/// deferred until those calls return; it must not race a call that may not have started yet.
#[allow(non_camel_case_types)]
pub struct ta_client {
    core: Client,
    lifetime: super::handle::Lifetime,
}

/// Opens a client from configuration JSON (UTF-8; keys in docs/CONFIGURATION.md).
///
/// On success writes a new handle to `*out_client` (release it with `ta_client_free`); on failure
/// leaves `*out_client` untouched and returns TA_STATUS_INVALID_ARGUMENT (NULL argument),
/// TA_STATUS_INVALID_UTF8, TA_STATUS_INVALID_JSON (line/column in the error),
/// TA_STATUS_INVALID_CONFIG (the key path in the error), TA_STATUS_UNSUPPORTED_CLOUD or TA_STATUS_IO
/// (log or state folder cannot be created).
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out_client` is NULL or points to writable
/// storage for a `ta_client *`. Both only for the duration of the call.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_open(config_json: *const c_char, out_client: *mut *mut ta_client) -> ta_status {
    boundary(|| {
        // SAFETY: the caller passes NULL or a NUL-terminated string valid for the call.
        let json = unsafe { c_str(config_json, "config_json") }?;
        // SAFETY: the caller passes NULL or the address of a `ta_client *` variable.
        let out = unsafe { out_ptr(out_client, "out_client") }?;
        let core = Client::open_json(json)?;
        out.write(Box::into_raw(Box::new(ta_client { core, lifetime: Default::default() })));
        Ok(())
    })
}

/// Writes the effective configuration as JSON to `*out_json`: defaults filled in, every secret
/// (client secret, access token, proxy password) shown as "***". Release it with `ta_string_free`.
///
/// # Safety
/// `client` is NULL or a live handle from `ta_client_open`; `out_json` is NULL or points to writable
/// storage for a `char *`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_config_json(client: *const ta_client, out_json: *mut *mut c_char) -> ta_status {
    boundary(|| {
        // SAFETY: the caller passes NULL or a live handle from ta_client_open.
        let call = unsafe { ClientCall::enter(client, "client") }?;
        // SAFETY: the caller passes NULL or the address of a `char *` variable.
        let out = unsafe { out_ptr(out_json, "out_json") }?;
        out.write(into_c_string(call.client().core.config_json_redacted())?);
        Ok(())
    })
}

/// Closes a client and releases it. NULL is fine. When a call still uses it (a free from inside one
/// of its callbacks, or while another thread's call is known to be running), the release waits
/// until the last such call returns; those calls stop at their next check as if cancelled, and their
/// device code callback is no longer called. A free must not race a call that may not have started.
///
/// # Safety
/// `client` is NULL or a handle from `ta_client_open` that was not freed before; no call may start
/// with it after this returns (except from a callback of a call still running on it).
#[no_mangle]
pub unsafe extern "C" fn ta_client_free(client: *mut ta_client) {
    if client.is_null() {
        return;
    }
    guard((), || {
        // SAFETY: a live pointer from ta_client_open (Box::into_raw), freed once, as documented;
        // released here only when no call uses it (otherwise by the last one, handle.rs).
        if unsafe { &*client }.lifetime.free() {
            // SAFETY: as above.
            drop(unsafe { Box::from_raw(client) });
        }
    })
}

impl ta_client {
    /// The core client behind a handle, for the other `ta_*` modules.
    pub fn core(&self) -> &Client {
        &self.core
    }

    pub(crate) fn lifetime(&self) -> &super::handle::Lifetime {
        &self.lifetime
    }
}
