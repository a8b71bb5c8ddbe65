//! `ta_cancel`: a cancel flag a caller sets (from any thread) to stop a long call.
//!
//! Long calls take a `const ta_cancel *` (may be NULL) and check it between steps (before each HTTP
//! attempt, during retry back-off, between upload batches), then fail with `TA_STATUS_CANCELLED`.
//! The core sees it as a plain `&AtomicBool` (see [`cancel_flag`]).

use std::sync::atomic::{AtomicBool, Ordering};

use super::guard;
use super::handle::Lifetime;

/// A cancel flag. May be shared by any number of threads and calls at once; it starts unset and
/// stays set once set. Create with `ta_cancel_new`, release with `ta_cancel_free`: after every call
/// that uses it has returned, or from a callback of a running call (it then reads as set).
#[allow(non_camel_case_types)]
pub struct ta_cancel {
    flag: AtomicBool,
    lifetime: Lifetime,
}

impl ta_cancel {
    pub(super) fn lifetime(&self) -> &Lifetime {
        &self.lifetime
    }

    /// Set, or freed by its owner while a call still used it (the owner is done with that call).
    pub(super) fn is_set_or_freed(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || self.lifetime.is_freed()
    }
}

/// The flag of an optional cancel argument, for the exports that only set or read it.
///
/// # Safety
/// `cancel` is NULL or a live handle from `ta_cancel_new` for the duration of the call.
unsafe fn cancel_flag<'a>(cancel: *const ta_cancel) -> Option<&'a AtomicBool> {
    // SAFETY: NULL or live, as the caller guarantees.
    unsafe { cancel.as_ref() }.map(|c| &c.flag)
}

/// A new, unset cancel flag. Never NULL. Release with `ta_cancel_free`.
#[no_mangle]
pub extern "C" fn ta_cancel_new() -> *mut ta_cancel {
    guard(std::ptr::null_mut(), || Box::into_raw(Box::new(ta_cancel { flag: AtomicBool::new(false), lifetime: Lifetime::default() })))
}

/// Asks every call using `cancel` to stop as soon as it can. Safe from any thread, any number of
/// times, also while calls run. NULL is ignored.
///
/// # Safety
/// `cancel` is NULL or a live handle from `ta_cancel_new`.
#[no_mangle]
pub unsafe extern "C" fn ta_cancel_set(cancel: *const ta_cancel) {
    guard((), || {
        // SAFETY: NULL or a live handle from ta_cancel_new, as documented.
        if let Some(flag) = unsafe { cancel_flag(cancel) } {
            flag.store(true, Ordering::SeqCst);
        }
    })
}

/// Whether `ta_cancel_set` was called on `cancel` (0 or 1). NULL gives 0.
///
/// # Safety
/// `cancel` is NULL or a live handle from `ta_cancel_new`.
#[no_mangle]
pub unsafe extern "C" fn ta_cancel_is_set(cancel: *const ta_cancel) -> u8 {
    guard(0, || {
        // SAFETY: NULL or a live handle from ta_cancel_new, as documented.
        unsafe { cancel_flag(cancel) }.is_some_and(|flag| flag.load(Ordering::SeqCst)) as u8
    })
}

/// Releases a cancel flag. NULL is fine. When a call still uses it (a free from inside a callback,
/// or while another thread's call runs), that call sees it as set and the release waits until the
/// last such call returns.
///
/// # Safety
/// `cancel` is NULL or a handle from `ta_cancel_new` that was not freed before; no call may start
/// with it afterwards.
#[no_mangle]
pub unsafe extern "C" fn ta_cancel_free(cancel: *mut ta_cancel) {
    if cancel.is_null() {
        return;
    }
    guard((), || {
        // SAFETY: a live pointer from ta_cancel_new (Box::into_raw), freed once, as documented;
        // released here only when no call uses it (otherwise by the last one, handle.rs).
        if unsafe { &*cancel }.lifetime.free() {
            // SAFETY: as above.
            drop(unsafe { Box::from_raw(cancel) });
        }
    })
}
