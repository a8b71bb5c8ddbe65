//! `ta_progress_fn`: the progress callback long calls take, and its Rust side.

use std::ffi::c_void;

/// Progress of a long call: `done` of `total` units (devices, actions...). Called on the thread that
/// made the call, never after the call returned. `user` is the pointer given with the callback,
/// passed through untouched. The callback must return normally (no C++ exception or longjmp out of it).
#[allow(non_camel_case_types)]
pub type ta_progress_fn = Option<unsafe extern "C" fn(user: *mut c_void, done: u64, total: u64)>;

/// A C progress callback with its user pointer, for the core's long calls (`report(done, total)`).
///
/// Not `Send`: the callback runs on the calling thread only, as documented.
pub struct Progress {
    callback: ta_progress_fn,
    user: *mut c_void,
}

impl Progress {
    /// # Safety
    /// `callback`, when not NULL, is safe to call with `user` on this thread for the duration of the
    /// export that received them.
    pub unsafe fn new(callback: ta_progress_fn, user: *mut c_void) -> Progress {
        Progress { callback, user }
    }

    pub fn report(&self, done: u64, total: u64) {
        if let Some(callback) = self.callback {
            // SAFETY: the export's caller supplied a callable function for `user` (see `new`).
            // An unwinding callback aborts the process (extern "C"), it cannot corrupt Rust state.
            unsafe { callback(self.user, done, total) }
        }
    }

    /// As a closure, for core functions taking `&dyn Fn(u64, u64)`.
    pub fn as_fn(&self) -> impl Fn(u64, u64) + '_ {
        move |done, total| self.report(done, total)
    }
}
