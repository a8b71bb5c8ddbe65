//! The operations of a `ta_client`: onboarding, status, upload, devices, actions and the
//! notification worker. Results are UTF-8 JSON written to `*out_json` (release with
//! `ta_string_free`); inputs are UTF-8 JSON; an optional string argument may be NULL; every long
//! call takes an optional `const ta_cancel *` and checks it between steps.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::cancel::ta_cancel;
use super::client::ta_client;
use super::handle::{CancelUse, ClientCall};
use super::progress::{ta_progress_fn, Progress};
use super::strings::into_c_string;
use super::{boundary, c_str, json_arg, out_ptr, ta_status};
use crate::error::{Error, ErrorKind, Result};

/// Receives the device code sign-in's instructions as JSON
/// (`{"verificationUri","userCode","message","expiresIn"}`), on the thread whose call needs the
/// sign-in, while that call waits for the person. `prompt_json` lives until the callback returns.
/// Only called on the thread of a call on this client, inside that call, with no lock held; it may
/// call `ta_cancel_set` and calls on other clients, not calls on this client (docs/FFI.md,
/// "Callbacks"). It must return normally: a C++ exception, SEH exception or `longjmp` out of it ends
/// the process (declared `C-unwind`, so that is a defined abort rather than undefined behaviour; a
/// Rust panic in it fails the call).
#[allow(non_camel_case_types)]
pub type ta_device_code_fn = Option<unsafe extern "C-unwind" fn(user: *mut c_void, prompt_json: *const c_char)>;

/// A C callback and its user pointer; the caller promised it may be called from the threads that
/// use the client (docs/FFI.md), which is what makes sending it between threads sound.
struct DeviceCodeCallback {
    callback: unsafe extern "C-unwind" fn(*mut c_void, *const c_char),
    user: *mut c_void,
    /// The client it belongs to: it runs only on a thread with a call on that client running.
    client: usize,
}
// SAFETY: documented contract of ta_client_set_device_code_callback: the callback and `user` may be
// used from any thread that calls into the client.
unsafe impl Send for DeviceCodeCallback {}
// SAFETY: as above; the callback is only invoked, never mutated.
unsafe impl Sync for DeviceCodeCallback {}

impl DeviceCodeCallback {
    fn show(&self, prompt: &crate::auth::DeviceCodePrompt) -> Result<()> {
        if !super::handle::in_call_on_this_thread(self.client as *const ta_client) {
            // A library thread of a call (trigger_action's second $batch sender) found the sign-in
            // over: the callback must not run where the caller does not expect it.
            return Err(Error::new(
                ErrorKind::AuthFailed,
                "the sign-in had to be renewed on a worker thread of the call, where the device code callback is not called; \
                 run the call again (it signs in on your thread first)",
            ));
        }
        // SAFETY: a call on this client runs on this thread (checked above), so it is entered and
        // its memory stays until that call returns.
        if unsafe { &*(self.client as *const ta_client) }.lifetime().is_freed() {
            return Err(Error::new(ErrorKind::Cancelled, "the client was freed while it was signing in; the sign-in was abandoned"));
        }
        let json = serde_json::to_string(prompt).map_err(|e| Error::internal(e.to_string()))?;
        let text = std::ffi::CString::new(json).map_err(|_| Error::internal("the device code prompt contained a NUL character"))?;
        // SAFETY: the caller's callback, with its own user pointer, on a thread running a call on its
        // client, as documented. C-unwind: a Rust panic out of it is caught here (a foreign exception
        // aborts the process, as documented).
        let shown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (self.callback)(self.user, text.as_ptr()) }));
        shown.map_err(|_| super::callback_unwound("device code"))
    }
}

/// Optional string argument: NULL → None.
///
/// # Safety
/// As [`c_str`].
unsafe fn opt_str<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: not NULL, and valid for the call as the caller guarantees.
    unsafe { c_str(ptr, name) }.map(Some)
}

/// Runs `body` with the client, the cancel check and the out location, writing its JSON.
///
/// Only the exports below call it, with the pointers their callers vouch for (NULL or valid for
/// the call, `client` live): that contract is what makes the dereferences sound.
fn with_client(
    client: *const ta_client,
    cancel: *const ta_cancel,
    out_json: *mut *mut c_char,
    body: impl FnOnce(&crate::Client, &dyn Fn() -> bool) -> Result<Value>,
) -> ta_status {
    boundary(|| {
        // SAFETY: NULL or a live handle, as documented.
        let call = unsafe { ClientCall::enter(client, "client") }?;
        // SAFETY: NULL or the address of a `char *`.
        let out = unsafe { out_ptr(out_json, "out_json") }?;
        // SAFETY: NULL or a live cancel handle for the call.
        let cancel = unsafe { CancelUse::enter(cancel) };
        // A client freed meanwhile (by one of its callbacks, or by another thread) stops its calls.
        let value = body(call.client().core(), &|| cancel.is_set() || call.client().lifetime().is_freed())?;
        out.write(into_c_string(value.to_string())?);
        Ok(())
    })
}

/// Sets (or, with NULL, removes) the callback that shows a person the device code sign-in's
/// instructions. Without one, they go to the client log and standard error.
///
/// # Safety
/// `client` is NULL or a live handle. `callback`, when not NULL, and `user` must stay callable
/// from any thread that calls into this client until the client is freed or the callback replaced,
/// and, after a replacement, until the calls that were running on the client then have returned (a
/// sign-in already under way may still show its code through the previous callback). Once the
/// client is freed, no call running on it calls the callback again.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_set_device_code_callback(client: *const ta_client, callback: ta_device_code_fn, user: *mut c_void) -> ta_status {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let call = unsafe { ClientCall::enter(client, "client") }?;
        let Some(callback) = callback else {
            call.client().core().set_device_code_prompt(Arc::new(|p| {
                eprintln!("{}", p.message);
                Ok(())
            }));
            return Ok(());
        };
        let cb = DeviceCodeCallback { callback, user, client: call.as_ptr() as usize };
        call.client().core().set_device_code_prompt(Arc::new(move |prompt| cb.show(prompt)));
        Ok(())
    })
}

/// Onboards the hierarchy of the configuration (`Register-TenantAttach`). `options_json` (NULL for
/// defaults): `{"uploadScope":{"kind":"all"|"collection","collectionId":"…"},
/// "coManagementAutoEnroll":false,"appName":"…","import":{"clientId","clientSecret","secretExpiry","appIdUri"}}`.
/// The result names the app, service principal and scope; a created app's secret is in it once
/// (`createdApp.clientSecret`) and never stored by the library. Registering again converges.
///
/// # Safety
/// Pointers NULL or valid for the call; `client` live.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_register(
    client: *const ta_client,
    options_json: *const c_char,
    cancel: *const ta_cancel,
    out_json: *mut *mut c_char,
) -> ta_status {
    with_client(client, cancel, out_json, |c, cancelled| {
        // SAFETY: NULL or valid for the call.
        let options = opt_str(options_json, "options_json")?.unwrap_or("");
        c.register(options, cancelled)
    })
}

/// Onboarding state, upload scope, co-management flag, last sync and next run time.
///
/// # Safety
/// Pointers NULL or valid for the call; `client` live.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_status(client: *const ta_client, cancel: *const ta_cancel, out_json: *mut *mut c_char) -> ta_status {
    with_client(client, cancel, out_json, |c, cancelled| c.status(cancelled))
}

/// Changes the upload scope and/or the co-management flag: `{"uploadScope":{…},"coManagementAutoEnroll":true}`.
/// A scope change makes the next upload a full sync.
///
/// # Safety
/// Pointers NULL or valid for the call; `client` live.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_set_upload_settings(
    client: *const ta_client,
    settings_json: *const c_char,
    cancel: *const ta_cancel,
    out_json: *mut *mut c_char,
) -> ta_status {
    with_client(client, cancel, out_json, |c, cancelled| {
        // SAFETY: NULL or valid for the call.
        let settings = unsafe { c_str(settings_json, "settings_json") }?;
        c.set_upload_settings(settings, cancelled)
    })
}

/// Offboards the hierarchy and forgets the local sync state.
///
/// # Safety
/// Pointers NULL or valid for the call; `client` live.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_unregister(client: *const ta_client, cancel: *const ta_cancel) -> ta_status {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let call = unsafe { ClientCall::enter(client, "client") }?;
        // SAFETY: NULL or live for the call.
        let cancel = unsafe { CancelUse::enter(cancel) };
        call.client().core().unregister(&|| cancel.is_set() || call.client().lifetime().is_freed())
    })
}

/// Options of `ta_client_sync_devices*` (`Sync-TenantAttachDevice`); NULL or `{}` for the defaults.
#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncOptions {
    /// `auto` (default: full the first time and after a scope change, else a delta), `full` or
    /// `partial` (upload these devices without deleting the ones missing from the input).
    #[serde(default)]
    #[schemars(with = "Option<SyncMode>")]
    mode: Option<String>,
    /// Send nothing: report what a run would upload and delete (`-WhatIf`).
    #[serde(default)]
    dry_run: bool,
    /// Devices per `DevicePost` batch (default 2500).
    #[serde(default)]
    max_records: Option<usize>,
    /// Bytes per `DevicePost` batch (default 4 MiB).
    #[serde(default)]
    max_bytes: Option<usize>,
    /// Collection → the collections limited to or included by it, for records that carry
    /// `CollectionIDs` under a collection upload scope: `{"PS100012":["PS100020"]}`.
    #[serde(default)]
    collection_tree: std::collections::HashMap<String, Vec<String>>,
    /// The SMSIDs of the scope collection's members (Get-CMCollectionMember), for records that do
    /// not carry CollectionIDs.
    #[serde(default)]
    collection_members: Option<Vec<String>>,
    /// Goes ahead although the deletion guard would stop the run.
    #[serde(default)]
    allow_mass_deletion: bool,
    /// The deletion guard stops a run deleting more devices than this (default 500).
    #[serde(default)]
    max_deletions: Option<u64>,
    /// ... or more than this share of the known devices, 0 to 100 (default 10).
    #[serde(default)]
    #[schemars(range(max = 100))]
    max_deletion_percent: Option<u32>,
    /// Moves the hierarchy's uploads to this site instance (a server migration, a site
    /// recovery): the gateway otherwise refuses uploads from any instance but the one uploading
    /// it. Also lets a run start from a missing state folder.
    #[serde(default)]
    take_over: bool,
}

/// `mode` of the sync options.
#[derive(schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Describes `SyncOptions::mode`, read as text so that a wrong one gets a clear error.
enum SyncMode {
    Auto,
    Full,
    Partial,
}

fn sync_options(json: Option<&str>) -> Result<crate::sync::Options> {
    let o: SyncOptions = match json {
        Some(text) if !text.trim().is_empty() => {
            crate::json::expect_object(text, "`options_json`")?;
            json_arg(text, "options_json")?
        }
        _ => SyncOptions::default(),
    };
    let mode = match o.mode.as_deref().unwrap_or("auto") {
        "auto" => crate::sync::Mode::Auto,
        "full" => crate::sync::Mode::Full,
        "partial" => crate::sync::Mode::Partial,
        other => return Err(Error::invalid_argument(format!("options_json.mode `{other}` is not one of auto, full, partial"))),
    };
    let defaults = crate::sync::Options::default();
    Ok(crate::sync::Options {
        mode,
        dry_run: o.dry_run,
        max_records: o.max_records.unwrap_or(defaults.max_records),
        max_bytes: o.max_bytes.unwrap_or(defaults.max_bytes),
        collection_tree: o.collection_tree,
        collection_members: o.collection_members.map(|m| m.into_iter().map(|id| crate::inventory::sms_key(id.trim().to_owned())).collect()),
        guard: crate::sync::Guard {
            allow: o.allow_mass_deletion,
            max_deletions: o.max_deletions.unwrap_or(defaults.guard.max_deletions),
            max_percent: match o.max_deletion_percent {
                Some(p) if p > 100 => return Err(Error::invalid_argument(format!("options_json.maxDeletionPercent {p} is not a percentage (0 to 100)"))),
                Some(p) => p,
                None => defaults.guard.max_percent,
            },
        },
        take_over: o.take_over,
        ..defaults
    })
}

/// Uploads devices (`Sync-TenantAttachDevice`): `devices_json` is a JSON array of Get-CMDevice-shaped
/// objects. `options_json` (NULL for defaults): `{"mode":"auto"|"full"|"partial","dryRun":false,
/// "maxRecords":2500,"maxBytes":4194304,"collectionTree":{"PS100012":["PS100020"]},
/// "collectionMembers":["GUID:..."],"allowMassDeletion":false,"maxDeletions":500,"maxDeletionPercent":10,
/// "takeOver":false}`.
/// A run whose input is empty or holds no eligible device, or that would remove more devices than
/// allowed in 24 hours (counted against the larger of the state's and the cloud's device count),
/// returns `TA_STATUS_DELETION_REFUSED` before sending anything; the gateway checks the same limit on
/// its own device list and refuses the batch that would remove them (`details.decidedBy`:
/// `gateway`; nothing is removed). A missing state folder while the cloud holds an earlier upload is
/// `TA_STATUS_DELETION_REFUSED` too (`details.reason`: `stateMissing`; `takeOver` goes ahead), and an
/// upload while another site instance uploads the hierarchy is `TA_STATUS_CONFLICT` (`takeOver`
/// moves it) (docs/SYNC.md, "Deletion guard"). Progress is reported as (records considered, total).
/// The result is the run's report; its `deleted` is what the cloud removed.
///
/// # Safety
/// Pointers NULL or valid for the call; `client` live; `progress` callable with `user` on this thread.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_sync_devices(
    client: *const ta_client,
    devices_json: *const c_char,
    options_json: *const c_char,
    progress: ta_progress_fn,
    user: *mut c_void,
    cancel: *const ta_cancel,
    out_json: *mut *mut c_char,
) -> ta_status {
    // SAFETY: the caller's callback and pointer, used on this thread during the call.
    let progress = unsafe { Progress::new(progress, user) };
    with_client(client, cancel, out_json, |c, cancelled| {
        // SAFETY: NULL or valid for the call.
        let devices = unsafe { c_str(devices_json, "devices_json") }?;
        // SAFETY: NULL or valid for the call.
        let options = sync_options(unsafe { opt_str(options_json, "options_json") }?)?;
        let items = crate::inventory::parse_json(devices)?;
        let total = items.len() as u64;
        let report = c.sync_devices(crate::sync::Input::Items(&mut items.into_iter().map(Ok)), total, options, &mut |d, t| progress.report(d, t), cancelled)?;
        serde_json::to_value(report).map_err(|e| Error::internal(e.to_string()))
    })
}

/// Uploads devices read from a file: NDJSON (one object per line, streamed: for large
/// hierarchies) or a JSON array. Otherwise as `ta_client_sync_devices`.
///
/// # Safety
/// As `ta_client_sync_devices`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_sync_devices_file(
    client: *const ta_client,
    path: *const c_char,
    options_json: *const c_char,
    progress: ta_progress_fn,
    user: *mut c_void,
    cancel: *const ta_cancel,
    out_json: *mut *mut c_char,
) -> ta_status {
    // SAFETY: the caller's callback and pointer, used on this thread during the call.
    let progress = unsafe { Progress::new(progress, user) };
    with_client(client, cancel, out_json, |c, cancelled| {
        // SAFETY: NULL or valid for the call.
        let path = std::path::PathBuf::from(unsafe { c_str(path, "path") }?);
        // SAFETY: NULL or valid for the call.
        let options = sync_options(unsafe { opt_str(options_json, "options_json") }?)?;
        let open = || std::fs::File::open(&path).map_err(|e| Error::io(&format!("cannot open the device file {}", path.display()), &e));
        if path.is_dir() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("`path` {} is a folder; give the path of the device file (a JSON array or NDJSON, one device per line)", path.display()),
            ));
        }
        let mut head = [0u8; 64];
        let n = std::io::Read::read(&mut open()?, &mut head).map_err(|e| Error::io(&format!("cannot read the device file {}", path.display()), &e))?;
        let is_array = head[..n].iter().find(|b| !b.is_ascii_whitespace() && **b != 0xEF && **b != 0xBB && **b != 0xBF) == Some(&b'[');
        let report = if is_array {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&format!("cannot read {} as UTF-8 text", path.display()), &e))?;
            let items = crate::inventory::parse_json(&text)?;
            let total = items.len() as u64;
            c.sync_devices(crate::sync::Input::Items(&mut items.into_iter().map(Ok)), total, options, &mut |d, t| progress.report(d, t), cancelled)?
        } else {
            // The file must be whole before anything is sent (a cut export would upload as a smaller fleet).
            let total = crate::inventory::check_ndjson_file(&path)?;
            let mut reader = std::io::BufReader::with_capacity(1 << 20, open()?);
            c.sync_devices(crate::sync::Input::Ndjson(&mut reader), total, options, &mut |d, t| progress.report(d, t), cancelled)?
        };
        serde_json::to_value(report).map_err(|e| Error::internal(e.to_string()))
    })
}

/// The devices as the admin center sees them (every page), optionally filtered with a Graph
/// `$filter` such as `deviceName eq 'PC-01'` (NULL for all). Every device returned for a filter is
/// checked against it: when the service did not apply it (Intune ignores a filter on a property
/// it does not support and answers with every device), the call fails with
/// TA_STATUS_INVALID_ARGUMENT, error code `FilterNotApplied`, and returns no device. A filter the
/// library cannot evaluate is refused (TA_STATUS_INVALID_ARGUMENT) before anything is sent.
///
/// # Safety
/// Pointers NULL or valid for the call; `client` live.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_list_devices(
    client: *const ta_client,
    filter: *const c_char,
    cancel: *const ta_cancel,
    out_json: *mut *mut c_char,
) -> ta_status {
    with_client(client, cancel, out_json, |c, cancelled| {
        // SAFETY: NULL or valid for the call.
        let filter = unsafe { opt_str(filter, "filter") }?;
        Ok(Value::Array(c.list_devices(filter, cancelled)?))
    })
}

/// Runs `action` (SyncMachinePolicy, SyncUserPolicy, AppEvaluationCycle, or the Graph names
/// refreshMachinePolicy, refreshUserPolicy, appEvaluation) on managed devices, 20 per Graph
/// `$batch`: `device_ids_json` is a JSON array of their ids, or `{"filter":"<$filter>"}` for the
/// devices that filter lists, each checked against the filter first as `ta_client_list_devices`
/// does (when the service did not apply the filter, nothing is triggered and the call fails with
/// TA_STATUS_INVALID_ARGUMENT, code `FilterNotApplied`). Any other action is refused before
/// anything is sent (TA_STATUS_UNSUPPORTED_ACTION). The result has one entry per device:
/// `{"managedDeviceId","action","result":"accepted"|"notFound"|"forbidden"|"throttled"|"failed",
/// "httpStatus","message","attempts"}` (include/schemas/action-results.schema.json).
///
/// # Safety
/// Pointers NULL or valid for the call; `client` live.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_trigger_action(
    client: *const ta_client,
    device_ids_json: *const c_char,
    action: *const c_char,
    cancel: *const ta_cancel,
    out_json: *mut *mut c_char,
) -> ta_status {
    with_client(client, cancel, out_json, |c, cancelled| {
        // SAFETY: NULL or valid for the call.
        let action = unsafe { c_str(action, "action") }?;
        // SAFETY: NULL or valid for the call.
        let text = unsafe { c_str(device_ids_json, "device_ids_json") }?;
        // An object names a filter; anything else must be the array of ids (and says why not).
        let devices = if text.trim_start().starts_with('{') {
            let FilteredDevices { filter } = json_arg(text, "device_ids_json")?;
            Err(filter)
        } else {
            Ok(json_arg::<Vec<String>>(text, "device_ids_json")?)
        };
        crate::actions::Action::parse(action)?;
        Ok(Value::Array(match devices {
            Ok(ids) => c.trigger_action(&ids, action, cancelled)?,
            Err(filter) => c.trigger_action_filtered(&filter, action, cancelled)?,
        }))
    })
}

/// `ta_client_trigger_action`'s devices given as the filter that lists them.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilteredDevices {
    /// A Graph `$filter` on managed devices, `deviceName eq 'PC-01'` (`and` only, no `or`).
    filter: String,
}

/// The site's notification worker: waits up to `timeout_seconds` (at most 60) for device actions,
/// checks each one (basic details, message content, the initiating user discovered by both AD and
/// Azure AD user discovery, from `discovered_users_json`: `[{"aadUserId","userPrincipalName",
/// "adDiscovered","azureAdDiscovered"}]`), reports refused ones back as failed, and returns every
/// decision (`"decision":"authorized"|"refused"`): authorized ones carry the device, the client
/// notification type, the TemplateID and a task GUID for the ConfigMgr client
/// (include/schemas/decisions.schema.json).
///
/// # Safety
/// Pointers NULL or valid for the call; `client` live.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_receive_notifications(
    client: *const ta_client,
    discovered_users_json: *const c_char,
    timeout_seconds: u32,
    cancel: *const ta_cancel,
    out_json: *mut *mut c_char,
) -> ta_status {
    with_client(client, cancel, out_json, |c, cancelled| {
        // SAFETY: NULL or valid for the call.
        let users = unsafe { c_str(discovered_users_json, "discovered_users_json") }?;
        let decisions = c.receive_notifications(users, timeout_seconds.into(), cancelled)?;
        serde_json::to_value(decisions).map_err(|e| Error::internal(e.to_string()))
    })
}

/// Reports an action's outcome (`succeeded` non-zero, or failed with `reason`); `task_guid` and
/// `reason` may be NULL. Completing twice is harmless.
///
/// # Safety
/// Pointers NULL or valid for the call; `client` live.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_complete_notification(
    client: *const ta_client,
    notification_id: *const c_char,
    succeeded: i32,
    reason: *const c_char,
    task_guid: *const c_char,
    cancel: *const ta_cancel,
    out_json: *mut *mut c_char,
) -> ta_status {
    with_client(client, cancel, out_json, |c, cancelled| {
        // SAFETY: NULL or valid for the call.
        let id = unsafe { c_str(notification_id, "notification_id") }?;
        // SAFETY: NULL or valid for the call.
        let reason = unsafe { opt_str(reason, "reason") }?;
        // SAFETY: NULL or valid for the call.
        let task = unsafe { opt_str(task_guid, "task_guid") }?;
        c.complete_notification(id, succeeded != 0, reason, task, cancelled)
    })
}

/// Reachability of each internet endpoint (the gateway and its regions, aka.ms, the token service,
/// Graph, or their overrides): `[{"name","url","reachable","httpStatus"|"error","elapsedMs"}]`.
///
/// # Safety
/// Pointers NULL or valid for the call; `client` live.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_client_test_endpoints(client: *const ta_client, out_json: *mut *mut c_char) -> ta_status {
    with_client(client, std::ptr::null(), out_json, |c, _| c.test_endpoints())
}

/// The JSON Schema of `ta_last_error_json`'s object (include/schemas/last-error.schema.json).
pub fn last_error_schema() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<super::error::ErrorJson<'static>>()
}

/// Test hook: checks `json` against the committed schema `schema_name` (a file of include/schemas/
/// without `.schema.json`, e.g. `sync-report`). TA_STATUS_OK when it conforms; otherwise
/// TA_STATUS_INVALID_JSON with every violation (`details.errors`: `[{"path","message"}]`) in the
/// last error, or TA_STATUS_INVALID_ARGUMENT for an unknown schema name. Lets the C, C# and
/// PowerShell tests validate real outputs. Only in builds with the `test-hooks` feature.
///
/// # Safety
/// Both arguments NULL or NUL-terminated strings valid for the call.
#[cfg(feature = "test-hooks")]
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ta_test_validate_json(schema_name: *const c_char, json: *const c_char) -> ta_status {
    boundary(|| {
        // SAFETY: NULL or valid for the call.
        let name = unsafe { c_str(schema_name, "schema_name") }?;
        // SAFETY: NULL or valid for the call.
        let text = unsafe { c_str(json, "json") }?;
        let schema = crate::schema::schema(name).ok_or_else(|| {
            let known: Vec<&str> = crate::schema::SHAPES.iter().map(|s| s.name).collect();
            Error::invalid_argument(format!("no schema `{name}`; the schemas are {}", known.join(", ")))
        })?;
        let instance: Value = json_arg(text, "json")?;
        let validator = jsonschema::validator_for(schema.as_value()).map_err(|e| Error::internal(format!("the schema `{name}` does not compile: {e}")))?;
        let errors: Vec<Value> =
            validator.iter_errors(&instance).map(|e| serde_json::json!({ "path": e.instance_path().to_string(), "message": e.to_string() })).collect();
        if errors.is_empty() {
            return Ok(());
        }
        let first = errors[0]["message"].as_str().unwrap_or_default().to_owned();
        let at = errors[0]["path"].as_str().unwrap_or_default().to_owned();
        Err(Error::new(ErrorKind::InvalidJson, format!("the JSON does not match the schema `{name}` ({} errors); first, at `{at}`: {first}", errors.len()))
            .with_details(serde_json::json!({ "schema": name, "errors": errors })))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SHOWN: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C-unwind" fn count(_: *mut c_void, _: *const c_char) {
        SHOWN.fetch_add(1, Ordering::SeqCst);
    }

    /// A Rust callback that panics (a C++ exception would abort the process: Rust cannot catch it).
    unsafe extern "C-unwind" fn throws(_: *mut c_void, _: *const c_char) {
        panic!("a Rust callback's panic");
    }

    fn prompt() -> crate::auth::DeviceCodePrompt {
        crate::auth::DeviceCodePrompt {
            verification_uri: "https://microsoft.com/devicelogin".into(),
            user_code: "ABC".into(),
            message: "m".into(),
            expires_in: 900,
        }
    }

    /// trigger_action's worker thread renewing the sign-in: the callback must not run there.
    #[test]
    fn the_device_code_callback_runs_only_on_a_thread_in_a_call_on_its_client() {
        let cb = DeviceCodeCallback { callback: count, user: std::ptr::null_mut(), client: 0x1000 };
        let err = std::thread::scope(|s| s.spawn(|| cb.show(&prompt())).join().expect("thread")).expect_err("refused off the calling thread");
        assert_eq!(err.kind, ErrorKind::AuthFailed);
        assert!(err.message.contains("worker thread"), "{}", err.message);
        assert_eq!(SHOWN.load(Ordering::SeqCst), 0, "the callback did not run");
    }

    #[test]
    fn a_rust_callback_that_panics_fails_the_call() {
        let config = r#"{"siteCode":"PS1"}"#;
        let mut handle: *mut ta_client = std::ptr::null_mut();
        // SAFETY: valid strings and out-pointer; the handle is freed below.
        assert_eq!(unsafe { super::super::ta_client_open(c"{\"siteCode\":\"PS1\"}".as_ptr(), &mut handle) }, 0, "{config}");
        // SAFETY: a live handle, entered as an export does.
        let call = unsafe { ClientCall::enter(handle, "client") }.expect("enter");
        let cb = DeviceCodeCallback { callback: throws, user: std::ptr::null_mut(), client: handle as usize };
        let err = cb.show(&prompt()).expect_err("an unwinding callback is an error");
        assert!(err.message.contains("did not return normally"), "{}", err.message);
        drop(call);
        // SAFETY: live, freed once.
        unsafe { super::super::ta_client_free(handle) };
    }
}
