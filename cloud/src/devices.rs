//! Uploaded devices as Graph's `managedDevice`: the projection, `$filter` (`eq`, `startswith`,
//! `and`), and keyset paging with an opaque `$skiptoken`.
//!
//! Devices are stored as the JSON text the site uploaded; a listing reads each one into a
//! borrowed view of the few fields Graph shows, never into a JSON tree, so that filtering 175,000
//! devices stays cheap.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Bound;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::model::{Data, Device, Notification};

/// The uploaded fields Graph shows (DevicePost names).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Uploaded<'a> {
    #[serde(borrow, default)]
    pub sms_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "deviceOS")]
    pub device_os: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "deviceOSBuild")]
    pub device_os_build: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub aad_device_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub aad_primary_user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub manufacturer: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub serial_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub client_version: Option<Cow<'a, str>>,
}

impl<'a> Uploaded<'a> {
    pub fn of(d: &'a Device) -> Uploaded<'a> {
        // The record was checked to be a JSON object with an smsId when it was uploaded.
        serde_json::from_str(d.record.get()).unwrap_or_default()
    }

    /// Graph's `operatingSystem` from ConfigMgr's `DeviceOS` ("Microsoft Windows NT Workstation 10.0").
    pub fn operating_system(&self) -> &str {
        match self.device_os.as_deref() {
            Some(os) if os.contains("Windows") => "Windows",
            Some("") | None => "Unknown",
            Some(os) => os,
        }
    }

    /// A filterable Graph property's value; None when the device has none. Unknown properties
    /// are refused when the filter is parsed.
    fn property(&self, d: &'a Device, name: &str) -> Option<&str> {
        match name {
            "id" => Some(&d.managed_device_id),
            "deviceName" => self.name.as_deref(),
            "managementAgent" => Some(MANAGEMENT_AGENT),
            "operatingSystem" => Some(self.operating_system()),
            "osVersion" => self.device_os_build.as_deref(),
            "azureADDeviceId" => self.aad_device_id.as_deref(),
            "userId" => self.aad_primary_user_id.as_deref(),
            "model" => self.model.as_deref(),
            "manufacturer" => self.manufacturer.as_deref(),
            "serialNumber" => self.serial_number.as_deref(),
            "lastSyncDateTime" => Some(&d.last_sync_date_time),
            "configurationManagerClientInformation/clientIdentifier" => self.sms_id.as_deref(),
            "configurationManagerClientInformation/clientVersion" => self.client_version.as_deref(),
            _ => None,
        }
    }
}

pub const MANAGEMENT_AGENT: &str = "configurationManagerClient";

const FILTERABLE: [&str; 13] = [
    "id",
    "deviceName",
    "managementAgent",
    "operatingSystem",
    "osVersion",
    "azureADDeviceId",
    "userId",
    "model",
    "manufacturer",
    "serialNumber",
    "lastSyncDateTime",
    "configurationManagerClientInformation/clientIdentifier",
    "configurationManagerClientInformation/clientVersion",
];

/// A device as Graph's managedDevice, with its action history.
pub fn managed_device(d: &Device, actions: &[&Notification]) -> Value {
    let r = Uploaded::of(d);
    json!({
        "id": d.managed_device_id,
        "deviceName": r.name,
        "managementAgent": MANAGEMENT_AGENT,
        "managedDeviceOwnerType": "company",
        "operatingSystem": r.operating_system(),
        "osVersion": r.device_os_build,
        "azureADDeviceId": r.aad_device_id,
        "model": r.model,
        "manufacturer": r.manufacturer,
        "serialNumber": r.serial_number,
        "userId": r.aad_primary_user_id,
        "lastSyncDateTime": d.last_sync_date_time,
        "configurationManagerClientInformation": { "clientIdentifier": r.sms_id, "isBlocked": false, "clientVersion": r.client_version },
        "deviceActionResults": actions.iter().map(|n| action_result(n)).collect::<Vec<_>>(),
    })
}

/// Graph's deviceActionResult for a queued action (`errorMessage` only when it failed).
fn action_result(n: &Notification) -> Value {
    let state = match n.state.as_str() {
        "pending" => "pending",
        "delivered" => "active",
        "succeeded" => "done",
        _ => "failed",
    };
    let updated = if n.last_updated_date_time.is_empty() { &n.created_date_time } else { &n.last_updated_date_time };
    let mut v = json!({ "actionName": n.action, "actionState": state, "startDateTime": n.created_date_time, "lastUpdatedDateTime": updated });
    if let Some(reason) = n.reason.as_ref().filter(|_| state == "failed") {
        v["errorMessage"] = json!(reason);
    }
    v
}

/// One `$filter` term.
#[derive(Debug)]
pub enum Term {
    Eq(String, String),
    StartsWith(String, String),
}

/// Parses `a eq 'x' and startswith(b,'y')`; names the clause it cannot read.
pub fn parse_filter(filter: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    for raw in split_and(filter) {
        let t = raw.trim();
        let quoted = |s: &str| -> Result<String, String> {
            let s = s.trim();
            s.strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .map(|s| s.replace("''", "'"))
                .ok_or_else(|| format!("Invalid filter clause '{t}': expected a quoted string value."))
        };
        let term = if let Some(args) = t.strip_prefix("startswith(").and_then(|a| a.strip_suffix(')')) {
            let (field, value) = args.split_once(',').ok_or_else(|| format!("Invalid filter clause '{t}'."))?;
            Term::StartsWith(field.trim().to_owned(), quoted(value)?)
        } else if let Some((field, value)) = t.split_once(" eq ") {
            Term::Eq(field.trim().to_owned(), quoted(value)?)
        } else {
            return Err(format!("Invalid filter clause '{t}'. Supported: property eq 'value', startswith(property,'value'), joined by 'and'."));
        };
        let (Term::Eq(field, _) | Term::StartsWith(field, _)) = &term;
        if !FILTERABLE.contains(&field.as_str()) {
            return Err(format!("Could not find a property named '{field}' on type 'microsoft.graph.managedDevice'."));
        }
        terms.push(term);
    }
    Ok(terms)
}

/// Splits on ` and ` outside quotes.
fn split_and(filter: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut in_quote = false;
    let chars: Vec<char> = filter.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\'' {
            in_quote = !in_quote;
        }
        if !in_quote && chars[i..].iter().take(5).collect::<String>().eq_ignore_ascii_case(" and ") {
            parts.push(String::new());
            i += 5;
            continue;
        }
        if let Some(last) = parts.last_mut() {
            last.push(chars[i]);
        }
        i += 1;
    }
    parts
}

/// Graph compares strings without regard to case.
fn matches(d: &Device, terms: &[Term]) -> bool {
    if terms.is_empty() {
        return true;
    }
    let r = Uploaded::of(d);
    terms.iter().all(|t| match t {
        Term::Eq(f, v) => r.property(d, f).is_some_and(|x| x.eq_ignore_ascii_case(v)),
        Term::StartsWith(f, v) => r.property(d, f).is_some_and(|x| x.to_lowercase().starts_with(&v.to_lowercase())),
    })
}

/// Where a page starts: after this (hierarchy, SMSID). Opaque to callers.
pub struct Cursor {
    pub hierarchy: String,
    pub sms_id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!([self.hierarchy, self.sms_id]).to_string())
    }

    pub fn decode(token: &str) -> Option<Cursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
        let (hierarchy, sms_id): (String, String) = serde_json::from_slice(&bytes).ok()?;
        Some(Cursor { hierarchy, sms_id })
    }
}

/// One page of a tenant's visible devices matching `terms`, in a stable order (hierarchy, then
/// SMSID), starting after `after`; the cursor of the next page when there is one.
pub fn page<'a>(data: &'a Data, tenant: &str, terms: &[Term], after: Option<&Cursor>, top: usize, now_ms: i64) -> (Vec<&'a Device>, Option<Cursor>) {
    let mut out: Vec<&Device> = Vec::new();
    let mut last: Option<(&str, &str)> = None;
    for o in data.onboardings.values().filter(|o| o.tenant_id == tenant) {
        let Some(table) = data.devices.get(&o.hierarchy_id) else { continue };
        let start = match after {
            Some(c) if c.hierarchy.as_str() > o.hierarchy_id.as_str() => continue,
            Some(c) if c.hierarchy == o.hierarchy_id => Bound::Excluded(c.sms_id.as_str()),
            _ => Bound::Unbounded,
        };
        for (sms_id, d) in candidates(table, terms, start) {
            if d.visible_after_ms > now_ms || !matches(d, terms) {
                continue;
            }
            if out.len() == top {
                // There is more: the next page starts after the last device of this one.
                let next = last.map(|(h, s)| Cursor { hierarchy: h.to_owned(), sms_id: s.to_owned() });
                return (out, next);
            }
            out.push(d);
            last = Some((&o.hierarchy_id, sms_id));
        }
    }
    (out, None)
}

/// The devices of a table a filter can match: one lookup when it names the SMSID exactly.
fn candidates<'a>(table: &'a BTreeMap<String, Device>, terms: &[Term], start: Bound<&str>) -> Box<dyn Iterator<Item = (&'a String, &'a Device)> + 'a> {
    let by_id = terms.iter().find_map(|t| match t {
        Term::Eq(f, v) if f == "configurationManagerClientInformation/clientIdentifier" => Some(v.clone()),
        _ => None,
    });
    if let Some(v) = by_id {
        if let Some((k, d)) = table.get_key_value(v.as_str()) {
            let after_start = match start {
                Bound::Excluded(s) => k.as_str() > s,
                _ => true,
            };
            return Box::new(after_start.then_some((k, d)).into_iter());
        }
        // Not stored with that exact case: fall back to comparing every device.
    }
    Box::new(table.range::<str, _>((start, Bound::Unbounded)))
}

/// Keeps only the `$select`ed properties (and `id`, as Graph does).
pub fn select(device: Value, fields: &[String]) -> Value {
    let Value::Object(mut all) = device else { return device };
    let mut kept = serde_json::Map::new();
    for f in std::iter::once("id").chain(fields.iter().map(String::as_str)) {
        if let Some(v) = all.remove(f) {
            kept.insert(f.to_owned(), v);
        }
    }
    Value::Object(kept)
}
