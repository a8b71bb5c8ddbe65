//! Uploaded devices as Graph's `managedDevice`: the projection, `$filter` as Intune applies it
//! (filters on properties it does not support are ignored; `or` and `ne` as reported), and keyset
//! paging with an opaque `$skiptoken`.
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

    /// A filterable Graph property's value; None when the device has none (or the property is
    /// not one Intune filters on: such filters are ignored before they get here).
    fn property(&self, d: &'a Device, name: &str) -> Option<&str> {
        match name {
            "id" => Some(&d.managed_device_id),
            "deviceName" => self.name.as_deref(),
            "managementAgent" => Some(MANAGEMENT_AGENT),
            "operatingSystem" => Some(self.operating_system()),
            "osVersion" => self.device_os_build.as_deref(),
            "azureADDeviceId" => self.aad_device_id.as_deref(),
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

/// The properties the stand-in's Intune filters on (Microsoft documents the set only per property,
/// in the metadata; cloud/README.md). Filters on any other property are ignored, as Intune's are.
/// `userId` is left out: filtering on it is reported to return every device.
pub const FILTERABLE: [&str; 12] = [
    "id",
    "deviceName",
    "managementAgent",
    "operatingSystem",
    "osVersion",
    "azureADDeviceId",
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

/// A comparison operator of `$filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A `$filter` expression as written (OData syntax: comparisons, `startswith`/`contains`/... calls,
/// `and`, `or`, `not`, parentheses). What Intune makes of it is [`Filter::interpret`]'s business.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `property op value`; the value is the literal's text (a quoted string unquoted).
    Cmp(String, Op, String),
    /// `function(property,value)`, the function's name in lower case.
    Call(String, String, String),
}

/// A `$filter` as the managed devices collection applies it.
#[derive(Debug)]
pub enum Filter {
    /// Every device (no filter, or one Intune ignores).
    All,
    Only(Expr),
}

/// Functions Intune applies (on the properties it filters on).
const FUNCTIONS: [&str; 2] = ["startswith", "contains"];

impl Filter {
    /// Reads `$filter` as Intune's managed devices collection does: a malformed expression is a
    /// 400 (the text says why); a well-formed one that names a property Intune does not filter on,
    /// or uses what it does not support (`not`, another function), is ignored: every device comes
    /// back. Of `a or b` only `a` is applied, and `ne` is applied as `eq` (both as reported of
    /// Intune; cloud/README.md has the sources).
    pub fn parse(text: &str) -> Result<Filter, String> {
        let expr = parse_expr(text)?;
        Ok(interpret(&expr).map_or(Filter::All, Filter::Only))
    }

    /// A filter the stand-in itself builds (the admin page's search).
    pub fn starts_with(property: &str, prefix: &str) -> Filter {
        Filter::Only(Expr::Call("startswith".into(), property.into(), prefix.into()))
    }

    fn matches(&self, d: &Device) -> bool {
        match self {
            Filter::All => true,
            Filter::Only(e) => eval(e, &Uploaded::of(d), d),
        }
    }
}

fn interpret(e: &Expr) -> Option<Expr> {
    Some(match e {
        Expr::And(a, b) => Expr::And(Box::new(interpret(a)?), Box::new(interpret(b)?)),
        // "Combinations of those filtered properties must use 'and', not 'or'": the first operand
        // is what gets applied.
        Expr::Or(a, _) => interpret(a)?,
        Expr::Not(_) => return None,
        Expr::Cmp(p, op, v) => {
            if !FILTERABLE.contains(&p.as_str()) {
                return None;
            }
            Expr::Cmp(p.clone(), if *op == Op::Ne { Op::Eq } else { *op }, v.clone())
        }
        Expr::Call(f, p, v) => {
            if !FUNCTIONS.contains(&f.as_str()) || !FILTERABLE.contains(&p.as_str()) {
                return None;
            }
            Expr::Call(f.clone(), p.clone(), v.clone())
        }
    })
}

/// Graph compares strings without regard to case.
fn eval(e: &Expr, r: &Uploaded<'_>, d: &Device) -> bool {
    match e {
        Expr::And(a, b) => eval(a, r, d) && eval(b, r, d),
        Expr::Or(a, b) => eval(a, r, d) || eval(b, r, d),
        Expr::Not(a) => !eval(a, r, d),
        Expr::Cmp(p, op, v) => {
            let Some(x) = r.property(d, p) else { return *op == Op::Ne };
            let ord = x.to_lowercase().cmp(&v.to_lowercase());
            match op {
                Op::Eq => ord.is_eq(),
                Op::Ne => ord.is_ne(),
                Op::Gt => ord.is_gt(),
                Op::Ge => ord.is_ge(),
                Op::Lt => ord.is_lt(),
                Op::Le => ord.is_le(),
            }
        }
        Expr::Call(f, p, v) => r.property(d, p).is_some_and(|x| {
            let (x, v) = (x.to_lowercase(), v.to_lowercase());
            match f.as_str() {
                "startswith" => x.starts_with(&v),
                "contains" => x.contains(&v),
                "endswith" => x.ends_with(&v),
                _ => false,
            }
        }),
    }
}

#[derive(Debug, PartialEq)]
enum Tok {
    Open,
    Close,
    Comma,
    Str(String),
    Word(String),
}

fn tokens(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' => {
                chars.next();
                out.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    _ => Tok::Comma,
                });
            }
            '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            s.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => s.push(c),
                        None => return Err("Invalid filter: a string literal is not closed (')".into()),
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | ',' | '\'') {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

/// Parses OData `$filter` syntax; the error names what could not be read.
pub fn parse_expr(text: &str) -> Result<Expr, String> {
    let toks = tokens(text)?;
    let mut p = Parser { toks, at: 0, text };
    let e = p.or()?;
    if p.at != p.toks.len() {
        return Err(p.error("unexpected text after the expression"));
    }
    Ok(e)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn error(&self, why: &str) -> String {
        format!("Invalid filter clause '{}': {why}.", self.text)
    }

    fn keyword(&mut self, k: &str) -> bool {
        if matches!(self.toks.get(self.at), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k)) {
            self.at += 1;
            return true;
        }
        false
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.keyword("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while self.keyword("and") {
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).map(|t| match t {
            Tok::Open => Tok::Open,
            Tok::Close => Tok::Close,
            Tok::Comma => Tok::Comma,
            Tok::Str(s) => Tok::Str(s.clone()),
            Tok::Word(w) => Tok::Word(w.clone()),
        });
        self.at += 1;
        t
    }

    fn value(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Str(s)) | Some(Tok::Word(s)) => Ok(s),
            _ => Err(self.error("expected a value")),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err(self.error("expected ')'")),
                }
            }
            Some(Tok::Word(name)) if self.toks.get(self.at) == Some(&Tok::Open) => {
                self.at += 1;
                let property = match self.next() {
                    Some(Tok::Word(p)) => p,
                    _ => return Err(self.error(&format!("{name}() takes a property first"))),
                };
                if self.next() != Some(Tok::Comma) {
                    return Err(self.error(&format!("{name}() takes two arguments")));
                }
                let value = self.value()?;
                if self.next() != Some(Tok::Close) {
                    return Err(self.error(&format!("{name}() takes two arguments")));
                }
                Ok(Expr::Call(name.to_ascii_lowercase(), property, value))
            }
            Some(Tok::Word(property)) => {
                let op = match self.next() {
                    Some(Tok::Word(o)) => match o.to_ascii_lowercase().as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        other => return Err(self.error(&format!("'{other}' is not a comparison operator"))),
                    },
                    _ => return Err(self.error(&format!("expected an operator after '{property}'"))),
                };
                Ok(Expr::Cmp(property, op, self.value()?))
            }
            _ => Err(self.error("expected a property, a function or '('")),
        }
    }
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
pub fn page<'a>(data: &'a Data, tenant: &str, filter: &Filter, after: Option<&Cursor>, top: usize, now_ms: i64) -> (Vec<&'a Device>, Option<Cursor>) {
    let mut out: Vec<&Device> = Vec::new();
    let mut last: Option<(&str, &str)> = None;
    for o in data.onboardings.values().filter(|o| o.tenant_id == tenant) {
        let Some(table) = data.devices.get(&o.hierarchy_id) else { continue };
        let start = match after {
            Some(c) if c.hierarchy.as_str() > o.hierarchy_id.as_str() => continue,
            Some(c) if c.hierarchy == o.hierarchy_id => Bound::Excluded(c.sms_id.as_str()),
            _ => Bound::Unbounded,
        };
        for (sms_id, d) in candidates(table, filter, start) {
            if d.visible_after_ms > now_ms || !filter.matches(d) {
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
fn candidates<'a>(table: &'a BTreeMap<String, Device>, filter: &Filter, start: Bound<&str>) -> Box<dyn Iterator<Item = (&'a String, &'a Device)> + 'a> {
    fn sms_id_term(e: &Expr) -> Option<String> {
        match e {
            Expr::Cmp(f, Op::Eq, v) if f == "configurationManagerClientInformation/clientIdentifier" => Some(v.clone()),
            Expr::And(a, b) => sms_id_term(a).or_else(|| sms_id_term(b)),
            _ => None,
        }
    }
    let by_id = match filter {
        Filter::Only(e) => sms_id_term(e),
        Filter::All => None,
    };
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
