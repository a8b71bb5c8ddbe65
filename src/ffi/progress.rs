//! `ta_progress_fn`: the progress callback long calls take, and its Rust side.

use std::ffi::c_void;

/// Progress of a long call: `done` of `total` units (devices, actions...). Called on the thread that
/// made the call, inside it, never after the call returned, with no lock held. `user` is the pointer
/// given with the callback, passed through untouched. It may call `ta_cancel_set` and calls on
/// other clients, not calls on the client of the running call (docs/FFI.md, "Callbacks"). It must
/// return normally: a C++ exception, SEH exception or `longjmp` out of it ends the process (declared
/// `C-unwind`, so that is a defined abort rather than undefined behaviour; a Rust panic in it fails
/// the call).
#[allow(non_camel_case_types)]
pub type ta_progress_fn = Option<unsafe extern "C-unwind" fn(user: *mut c_void, done: u64, total: u64)>;

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
            // C-unwind: a Rust panic out of it is caught here and ends the call through the boundary
            // (a foreign exception cannot be caught by Rust: the runtime aborts, as documented).
            let reported = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { callback(self.user, done, total) }));
            if reported.is_err() {
                std::panic::resume_unwind(Box::new(super::CallbackUnwound("progress")));
            }
        }
    }

    /// As a closure, for core functions taking `&dyn Fn(u64, u64)`.
    pub fn as_fn(&self) -> impl Fn(u64, u64) + '_ {
        move |done, total| self.report(done, total)
    }
}
