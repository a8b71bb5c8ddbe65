//! Handles in use: the calls running on each `ta_client` and `ta_cancel`, so that a free from
//! inside a callback (or while another thread's call still runs) is deferred until the last call
//! returns instead of pulling the memory out from under it, and so that a call on a client from
//! inside one of that client's own callbacks is refused (`TA_STATUS_CALLBACK_REENTRY`) instead of
//! deadlocking on the sign-in or corrupting the running call.
//!
//! A handle's [`Lifetime`] counts the calls using it; `ta_*_free` marks it freed, and whoever
//! brings the count to zero with the mark set releases the memory (the free itself, or the last
//! call to return). This cannot make a call that *starts* after the free safe: that stays the
//! caller's contract (docs/FFI.md, "Who owns every pointer").

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::cancel::ta_cancel;
use super::client::ta_client;
use crate::error::{Error, ErrorKind, Result};

const FREED: usize = 1;
const CALL: usize = 2;

/// In-use count and freed mark of one handle.
#[derive(Default)]
pub struct Lifetime(AtomicUsize);

impl Lifetime {
    /// A call starts using the handle; `false` when it was already freed (the call must not use it;
    /// it must still [`leave`](Self::leave)).
    fn enter(&self) -> bool {
        self.0.fetch_add(CALL, Ordering::AcqRel) & FREED == 0
    }

    /// A call stops using the handle: `true` when the handle was freed meanwhile and this was the
    /// last call, so the memory must be released now.
    fn leave(&self) -> bool {
        self.0.fetch_sub(CALL, Ordering::AcqRel) == CALL | FREED
    }

    /// `ta_*_free`: `true` when no call uses the handle, so the memory must be released now;
    /// otherwise the last call to return releases it. A second free of a handle whose release is
    /// pending is harmless.
    pub fn free(&self) -> bool {
        self.0.fetch_or(FREED, Ordering::AcqRel) == 0
    }

    /// Whether `ta_*_free` was called (its release pending until the last call returns).
    pub fn is_freed(&self) -> bool {
        self.0.load(Ordering::Acquire) & FREED != 0
    }
}

thread_local! {
    /// The clients with a call running on this thread (their callbacks run here, inside that call).
    static ACTIVE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Whether a call on `client` is running on this thread: only then may its callbacks run here.
pub fn in_call_on_this_thread(client: *const ta_client) -> bool {
    ACTIVE.try_with(|a| a.borrow().contains(&(client as usize))).unwrap_or(false)
}

/// A client for the duration of one export: entered on creation, left (and released if it was
/// freed meanwhile, by the last call) on drop.
pub struct ClientCall {
    ptr: *mut ta_client,
}

impl ClientCall {
    /// # Safety
    /// `ptr` is NULL or a live handle from `ta_client_open` (freed handles whose release is pending
    /// count as live).
    pub unsafe fn enter(ptr: *const ta_client, name: &str) -> Result<ClientCall> {
        if ptr.is_null() {
            return Err(Error::invalid_argument(format!("`{name}` is NULL; pass a handle from ta_client_open")));
        }
        if in_call_on_this_thread(ptr) {
            return Err(Error::new(
                ErrorKind::CallbackReentry,
                "a call on this client was made from inside one of its own callbacks (device code or progress), where it would deadlock; \
                 return from the callback first and make the call after the running one returns (to stop the running call, use ta_cancel_set)",
            ));
        }
        let call = ClientCall { ptr: ptr as *mut ta_client };
        // SAFETY: live, as the caller guarantees.
        if !unsafe { &*ptr }.lifetime().enter() {
            drop(call);
            return Err(Error::invalid_argument(format!("`{name}` was freed with ta_client_free; open a new client")));
        }
        let _ = ACTIVE.try_with(|a| a.borrow_mut().push(ptr as usize));
        Ok(call)
    }

    pub fn client(&self) -> &ta_client {
        // SAFETY: entered, so not released before this call leaves.
        unsafe { &*self.ptr }
    }

    pub fn as_ptr(&self) -> *const ta_client {
        self.ptr
    }
}

impl Drop for ClientCall {
    fn drop(&mut self) {
        let _ = ACTIVE.try_with(|a| {
            let mut active = a.borrow_mut();
            if let Some(i) = active.iter().rposition(|p| *p == self.ptr as usize) {
                active.remove(i);
            }
        });
        // SAFETY: entered, so still allocated; released here only when freed and last.
        if unsafe { &*self.ptr }.lifetime().leave() {
            // SAFETY: freed by the caller and no call uses it any more: released exactly once.
            drop(unsafe { Box::from_raw(self.ptr) });
        }
    }
}

/// A cancel flag for the duration of one call (NULL: none).
pub struct CancelUse {
    ptr: *mut ta_cancel,
}

impl CancelUse {
    /// # Safety
    /// `ptr` is NULL or a live handle from `ta_cancel_new`.
    pub unsafe fn enter(ptr: *const ta_cancel) -> CancelUse {
        // SAFETY: NULL or live, as the caller guarantees. A cancel freed while calls still used it
        // reads as set: the caller is done with that call.
        if let Some(cancel) = unsafe { ptr.as_ref() } {
            cancel.lifetime().enter();
        }
        CancelUse { ptr: ptr as *mut ta_cancel }
    }

    /// Whether the caller asked to stop (also when it freed the flag meanwhile).
    pub fn is_set(&self) -> bool {
        // SAFETY: entered, so not released before this use ends.
        unsafe { self.ptr.as_ref() }.is_some_and(ta_cancel::is_set_or_freed)
    }
}

impl Drop for CancelUse {
    fn drop(&mut self) {
        // SAFETY: entered, so still allocated; released here only when freed and last.
        if unsafe { self.ptr.as_ref() }.is_some_and(|c| c.lifetime().leave()) {
            // SAFETY: freed by the caller and no call uses it any more: released exactly once.
            drop(unsafe { Box::from_raw(self.ptr) });
        }
    }
}
