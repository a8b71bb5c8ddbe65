//! Device records as ConfigMgr administrators have them: the objects `Get-CMDevice` emits, as a JSON
//! array (`Get-CMDevice | ConvertTo-Json`) or, for large hierarchies, NDJSON streamed from disk.
//!
//! Property names are matched case-insensitively and unknown ones are ignored (Get-CMDevice emits
//! about a hundred). A record that cannot be uploaded (no SMSID, a wrong type) is skipped with its
//! reason; input that is not records at all (not an array, invalid UTF-8) is an error.
//! docs/SYNC.md lists the accepted names.

use std::fmt;
use std::io::BufRead;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// The fields uploaded for a device: DevicePost's device object (docs/GATEWAY.md). Their serialized
/// form is also what the sync state hashes, so field order and names are part of the state format.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub sms_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<u64>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aad_tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aad_device_id: Option<String>,
    #[serde(rename = "deviceOS", skip_serializing_if = "Option::is_none")]
    pub device_os: Option<String>,
    #[serde(rename = "deviceOSBuild", skip_serializing_if = "Option::is_none")]
    pub device_os_build: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aad_primary_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domain_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_code: Option<String>,
}

/// A record read from the input, before eligibility is decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub device: Device,
    /// `IsClient` (`Client` in SMS_R_System): only ConfigMgr clients are uploaded.
    pub is_client: bool,
    /// `IsObsolete`: a record ConfigMgr replaced by a newer one for the same device; never uploaded.
    pub is_obsolete: bool,
    /// `CollectionIDs`: the collections the device is a member of (used for a collection scope).
    pub collection_ids: Vec<String>,
    /// Read for diagnostics only: devices are keyed by SMSID, never by certificate, so a
    /// distribution point sharing its PKI certificate with its client agent is an ordinary device.
    pub certificate_thumbprint: Option<String>,
    pub is_distribution_point: bool,
}

/// A record that was skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// 0-based position in the array, or 1-based line number in NDJSON (see `line`).
    pub index: u64,
    /// The 1-based line number in an NDJSON file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The record's name, when it has one (an over-long one by its start only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The record's SMSID, when it has a usable one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_id: Option<String>,
    /// Why it was not uploaded.
    pub reason: String,
}

/// Longest accepted values, in characters. Far beyond anything ConfigMgr holds (a device name is
/// at most 255 characters as an FQDN, an SMSID under 60), they stop a damaged or hostile record
/// from filling the upload, the sync state and the report.
pub const MAX_NAME_CHARS: usize = 1024;
pub const MAX_SMS_ID_CHARS: usize = 256;
pub const MAX_TEXT_CHARS: usize = 4096;

/// The reason for a value over its limit: its length, never its text.
fn too_long(what: &str, value: &str, max: usize) -> String {
    format!("{what} is {} characters long; at most {max} are accepted", value.chars().count())
}

/// A value as a report shows it: an over-long one by its start only.
fn shown(value: &str) -> String {
    if value.len() <= MAX_NAME_CHARS {
        return value.to_owned();
    }
    let mut short: String = value.chars().take(64).collect();
    short.push('…');
    short
}

/// One item of the input: a usable record or the reason it is skipped.
pub type Item = std::result::Result<Record, Skipped>;

/// Parses a JSON array of device objects (a single object is taken as an array of one, as
/// `ConvertTo-Json` writes a one-element pipeline).
pub fn parse_json(text: &str) -> Result<Vec<Item>> {
    let trimmed = text.trim_start_matches('\u{feff}');
    let mut de = serde_json::Deserializer::from_str(trimmed);
    let raws = de.deserialize_any(TopLevel).map_err(|e| json_error(&e, "the device list"))?;
    de.end().map_err(|e| json_error(&e, "the device list"))?;
    Ok(raws.into_iter().enumerate().map(|(i, raw)| raw.into_record(i as u64, None)).collect())
}

/// Streams NDJSON (one device object per line; blank lines ignored). A line that is not a JSON
/// object is skipped with its line number; invalid UTF-8 or a read failure ends the stream with an
/// error, since the rest of the file cannot be trusted.
pub struct NdjsonReader<R> {
    input: R,
    /// A line that crossed the end of the input's buffer, put together here.
    line: Vec<u8>,
    /// Bytes of the input's buffer handed out by the last `next_raw`, consumed by the next one.
    pending: usize,
    line_number: u64,
    index: u64,
    /// The input ended in the middle of a line (no line end after its last bytes).
    unterminated: bool,
}

/// Where the line `next_raw` hands out lies.
enum Span {
    /// In the input's buffer.
    Buffer,
    /// In `line`.
    Own,
}

impl<R: BufRead> NdjsonReader<R> {
    pub fn new(input: R) -> Self {
        NdjsonReader { input, line: Vec::with_capacity(1024), pending: 0, line_number: 0, index: 0, unterminated: false }
    }

    /// Whether the input ended in the middle of a line: an export cut short (a full disk, a
    /// copy interrupted), whose last record may be cut too and whose later records are missing.
    pub fn unterminated(&self) -> bool {
        self.unterminated
    }

    /// The next non-blank line as bytes (not yet checked to be UTF-8: a caller that recognises
    /// the bytes need not), without its line end, with its record index and 1-based line number.
    /// A line wholly inside the input's buffer is handed out from there, without a copy.
    pub fn next_raw(&mut self) -> Option<Result<(&[u8], u64, u64)>> {
        let span = loop {
            self.input.consume(std::mem::take(&mut self.pending));
            let span = match self.input.fill_buf() {
                Ok([]) => return None,
                Ok(buf) => match memchr::memchr(b'\n', buf) {
                    Some(end) => {
                        self.pending = end + 1;
                        let (start, stop) = trimmed(&buf[..end]);
                        (Span::Buffer, start, stop)
                    }
                    None => {
                        self.line.clear();
                        if let Err(e) = self.input.read_until(b'\n', &mut self.line) {
                            return Some(Err(Error::io("cannot read the device file", &e)));
                        }
                        let (start, stop) = trimmed(&self.line);
                        self.unterminated = start < stop && self.line.last() != Some(&b'\n');
                        (Span::Own, start, stop)
                    }
                },
                Err(e) => return Some(Err(Error::io("cannot read the device file", &e))),
            };
            self.line_number += 1;
            if span.1 < span.2 {
                break span;
            }
        };
        self.index += 1;
        let (index, line_number) = (self.index - 1, self.line_number);
        match span {
            // The same buffer as above: nothing was consumed since.
            (Span::Buffer, start, stop) => match self.input.fill_buf() {
                Ok(buf) if stop <= buf.len() => Some(Ok((&buf[start..stop], index, line_number))),
                Ok(_) => Some(Err(Error::internal("the device file's reader lost its buffer (a bug, please report it)"))),
                Err(e) => Some(Err(Error::io("cannot read the device file", &e))),
            },
            (Span::Own, start, stop) => Some(Ok((&self.line[start..stop], index, line_number))),
        }
    }
}

/// The bounds of a line without a UTF-8 BOM, surrounding whitespace and its line end.
fn trimmed(line: &[u8]) -> (usize, usize) {
    let mut start = if line.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let mut end = line.len();
    while start < end && line[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && line[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    (start, end)
}

/// A raw NDJSON line as text; invalid UTF-8 is an error for the whole input.
pub fn line_text(bytes: &[u8], line: u64) -> Result<&str> {
    std::str::from_utf8(bytes)
        .map_err(|_| Error::new(ErrorKind::InvalidUtf8, format!("line {line} of the device file is not valid UTF-8; save the file as UTF-8")))
}

/// The start of the reason of a line skipped for not being JSON at all.
pub const NOT_JSON: &str = "not a JSON object";

/// Parses one NDJSON line into an item.
pub fn parse_line(text: &str, index: u64, line: u64) -> Item {
    match serde_json::from_str::<RawDevice>(text) {
        Ok(raw) => raw.into_record(index, Some(line)),
        Err(e) => Err(Skipped { index, line: Some(line), name: None, sms_id: None, reason: format!("{NOT_JSON}: {e}") }),
    }
}

impl<R: BufRead> Iterator for NdjsonReader<R> {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_raw()?.and_then(|(bytes, index, line)| Ok(parse_line(line_text(bytes, line)?, index, line))))
    }
}

/// The first bytes of the line `Get-TenantAttachInventory` ends its NDJSON files with:
/// `{"@tenantAttachTrailer":{"records":N}}`, the count of the records before it. Not a record.
pub const TRAILER_PREFIX: &[u8] = b"{\"@tenantAttachTrailer\":";

/// Whether an NDJSON line (trimmed) is the trailer.
pub fn is_trailer(line: &[u8]) -> bool {
    line.starts_with(TRAILER_PREFIX)
}

/// Checks that an NDJSON device file is whole before anything is sent, and counts its records
/// (the trailer excepted): its last line ends with a line end and is a whole JSON object, and
/// where it ends with a trailer, the trailer's count is the file's. An export cut short would
/// otherwise upload as a smaller fleet.
pub fn check_ndjson_file(path: &std::path::Path) -> Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let shown = path.display();
    let io = |e: std::io::Error| Error::io(&format!("cannot read the device file {shown}"), &e);
    let file = std::fs::File::open(path).map_err(io)?;
    let (records, unterminated) = scan_ndjson(std::io::BufReader::with_capacity(1 << 20, &file)).map_err(io)?;
    if records == 0 {
        return Ok(0);
    }
    let cut = |what: String| {
        Err(Error::new(
            ErrorKind::InvalidJson,
            format!(
                "the device file {shown} is incomplete: {what}. It looks cut short (a full disk, an interrupted copy or export), so its missing \
                 devices would be removed from the cloud; nothing was sent. Export the devices again (Get-TenantAttachInventory) and upload the new file"
            ),
        ))
    };
    if unterminated {
        return cut(format!("its last line (record {records}) has no line end"));
    }
    // The last line, from the file's end (a record is far shorter than this).
    const TAIL: u64 = 1 << 16;
    let mut file = file;
    let len = file.metadata().map_err(io)?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL))).map_err(io)?;
    let mut tail = Vec::with_capacity(TAIL as usize);
    file.read_to_end(&mut tail).map_err(io)?;
    let end = tail.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    let Some(start) = tail[..end].iter().rposition(|b| *b == b'\n').map(|i| i + 1).or((len <= TAIL).then_some(0)) else {
        return Ok(records); // a last line longer than the tail: read (and judged) as the upload reads it
    };
    let (from, to) = trimmed(&tail[start..end]);
    let last = &tail[start..end][from..to];
    if is_trailer(last) {
        #[derive(serde::Deserialize)]
        struct Trailer {
            #[serde(rename = "@tenantAttachTrailer")]
            trailer: Count,
        }
        #[derive(serde::Deserialize)]
        struct Count {
            records: u64,
        }
        let Ok(Trailer { trailer }) = serde_json::from_slice::<Trailer>(last) else {
            return cut("its trailer line is damaged".to_owned());
        };
        let found = records - 1;
        if trailer.records != found {
            return cut(format!("its trailer says it holds {} records, but {found} were found", trailer.records));
        }
        return Ok(found);
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(last).is_err() {
        return cut(format!("its last line (record {records}) is not a whole JSON object"));
    }
    Ok(records)
}

/// Counts the records of NDJSON text cheaply (non-blank lines), for progress totals: the input's
/// buffer is scanned for line ends in place (a line's first non-blank byte settles it, usually its
/// first), without copying lines out.
pub fn count_ndjson_records<R: BufRead>(input: R) -> std::io::Result<u64> {
    scan_ndjson(input).map(|(count, _)| count)
}

/// The count of records (non-blank lines), and whether the last one has no line end.
fn scan_ndjson<R: BufRead>(mut input: R) -> std::io::Result<(u64, bool)> {
    let mut count = 0;
    // Whether the line in progress (begun in an earlier buffer) has a non-blank byte yet.
    let mut filled = false;
    loop {
        let buf = match input.fill_buf() {
            Ok([]) => break,
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', buf) {
            if filled || buf[start..end].iter().any(|b| !b.is_ascii_whitespace()) {
                count += 1;
            }
            filled = false;
            start = end + 1;
        }
        filled |= buf[start..].iter().any(|b| !b.is_ascii_whitespace());
        let used = buf.len();
        input.consume(used);
    }
    Ok((count + u64::from(filled), filled))
}

fn json_error(e: &serde_json::Error, what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidJson,
        format!("{what} is not valid JSON: {e}; give a JSON array of device objects (Get-CMDevice | ConvertTo-Json) or NDJSON, one object per line"),
    )
}

/// The top level: an array of devices, or one device object.
struct TopLevel;

impl<'de> Visitor<'de> for TopLevel {
    type Value = Vec<RawDevice>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of device objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(raw) = seq.next_element::<RawDevice>()? {
            out.push(raw);
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Self::Value, A::Error> {
        Ok(vec![RawDeviceVisitor.visit_map(map)?])
    }
}

/// The recognised properties of one record, values not yet checked. Anything that is not an object
/// becomes a record with `not_object` set (skipped with a reason) rather than failing the array.
#[derive(Default)]
struct RawDevice {
    not_object: Option<&'static str>,
    /// One slot per [`Field`]; a repeated property overwrites (the last wins, as in ConvertFrom-Json).
    slots: [Option<Value>; FIELD_COUNT],
}

const FIELD_COUNT: usize = 21;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    Name,
    ResourceId,
    SmsId,
    IsClient,
    DeviceOs,
    DeviceOsBuild,
    ClientVersion,
    SiteCode,
    AadDeviceId,
    AadTenantId,
    AadPrimaryUserId,
    Model,
    Manufacturer,
    SerialNumber,
    Domain,
    DomainNames,
    Sku,
    CollectionIds,
    IsDistributionPoint,
    CertificateThumbprint,
    IsObsolete,
}

/// Accepted property names (compared ignoring ASCII case) and the field each fills.
const NAMES: &[(&str, Field)] = &[
    ("Name", Field::Name),
    ("ResourceID", Field::ResourceId),
    ("SMSID", Field::SmsId),
    ("IsClient", Field::IsClient),
    ("DeviceOS", Field::DeviceOs),
    ("DeviceOSBuild", Field::DeviceOsBuild),
    ("ClientVersion", Field::ClientVersion),
    ("SiteCode", Field::SiteCode),
    ("AADDeviceID", Field::AadDeviceId),
    ("AADTenantID", Field::AadTenantId),
    ("AADPrimaryUserID", Field::AadPrimaryUserId),
    ("Model", Field::Model),
    ("Manufacturer", Field::Manufacturer),
    ("SerialNumber", Field::SerialNumber),
    ("Domain", Field::Domain),
    ("DomainNames", Field::DomainNames),
    ("SKU", Field::Sku),
    ("CollectionIDs", Field::CollectionIds),
    ("IsDistributionPoint", Field::IsDistributionPoint),
    ("CertificateThumbprint", Field::CertificateThumbprint),
    ("IsObsolete", Field::IsObsolete),
    // SMS_R_System (Get-CMDevice -Resource, WMI) spells two of them differently.
    ("SMSUniqueIdentifier", Field::SmsId),
    ("Client", Field::IsClient),
];

impl<'de> Deserialize<'de> for RawDevice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(RawDeviceVisitor)
    }
}

struct RawDeviceVisitor;

impl RawDeviceVisitor {
    fn not_object<E>(what: &'static str) -> std::result::Result<RawDevice, E> {
        Ok(RawDevice { not_object: Some(what), ..RawDevice::default() })
    }
}

impl<'de> Visitor<'de> for RawDeviceVisitor {
    type Value = RawDevice;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a device object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RawDevice, A::Error> {
        let mut raw = RawDevice::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(&key)) {
                Some((_, field)) => raw.slots[*field as usize] = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<RawDevice, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Self::not_object("an array")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<RawDevice, E> {
        Self::not_object("a string")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<RawDevice, E> {
        Self::not_object("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<RawDevice, E> {
        Self::not_object("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<RawDevice, E> {
        Self::not_object("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<RawDevice, E> {
        Self::not_object("a number")
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<RawDevice, E> {
        Self::not_object("null")
    }
}

impl RawDevice {
    fn get(&self, field: Field) -> Option<&Value> {
        self.slots[field as usize].as_ref().filter(|v| !v.is_null())
    }

    /// Moves a value out: the record's strings become the device's without a copy.
    fn take(&mut self, field: Field) -> Option<Value> {
        self.slots[field as usize].take().filter(|v| !v.is_null())
    }

    fn into_record(mut self, index: u64, line: Option<u64>) -> Item {
        let mut skipped = Skipped { index, line, name: None, sms_id: None, reason: String::new() };
        let name = self.take(Field::Name);
        let sms_id = self.take(Field::SmsId);
        skipped.name = name.as_ref().and_then(Value::as_str).map(shown).filter(|_| self.not_object.is_none());
        if let Some(what) = self.not_object {
            skipped.reason = format!("the record is {what}, not a device object");
            return Err(skipped);
        }
        let sms_id = match sms_id {
            Some(Value::String(s)) if s.len() > MAX_SMS_ID_CHARS && s.chars().count() > MAX_SMS_ID_CHARS => {
                return Err(Skipped { reason: too_long("SMSID", &s, MAX_SMS_ID_CHARS), ..skipped });
            }
            Some(Value::String(s)) if s.chars().any(char::is_control) => Err("SMSID holds control characters".to_owned()),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(sms_key(if s.trim().len() == s.len() { s } else { s.trim().to_owned() })),
            Some(Value::String(_)) | None => Err("SMSID is missing: devices are identified by their SMSID (GUID:...)".to_owned()),
            Some(other) => Err(format!("SMSID must be a string, not {}", type_name(&other))),
        };
        let name = match name {
            Some(Value::String(s)) if s.len() > MAX_NAME_CHARS && s.chars().count() > MAX_NAME_CHARS => Err(too_long("Name", &s, MAX_NAME_CHARS)),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(Value::String(_)) | None => Err("Name is missing".to_owned()),
            Some(other) => Err(format!("Name must be a string, not {}", type_name(&other))),
        };
        match (sms_id, name) {
            (Ok(sms_id), Ok(name)) => {
                self.build(sms_id, name).map_err(|(reason, sms_id, name)| Skipped { sms_id: Some(sms_id), name: Some(name), reason, ..skipped })
            }
            (sms_id, name) => {
                skipped.sms_id = sms_id.as_ref().ok().cloned();
                skipped.reason = sms_id.err().or(name.err()).unwrap_or_default();
                Err(skipped)
            }
        }
    }

    /// The record, or the reason it cannot be uploaded (with its SMSID and name, for the report).
    fn build(mut self, sms_id: String, name: String) -> std::result::Result<Record, (String, String, String)> {
        match self.fields() {
            Ok((is_client, resource_id, domain_names)) => {
                let mut text = |f: Field| self.text(f);
                let device = Device {
                    sms_id,
                    resource_id,
                    name,
                    aad_tenant_id: text(Field::AadTenantId),
                    aad_device_id: text(Field::AadDeviceId),
                    device_os: text(Field::DeviceOs),
                    device_os_build: text(Field::DeviceOsBuild),
                    aad_primary_user_id: text(Field::AadPrimaryUserId),
                    model: text(Field::Model),
                    manufacturer: text(Field::Manufacturer),
                    serial_number: text(Field::SerialNumber),
                    domain_names,
                    sku: text(Field::Sku),
                    client_version: text(Field::ClientVersion),
                    site_code: text(Field::SiteCode),
                };
                Ok(Record {
                    device,
                    is_client,
                    is_obsolete: self.get(Field::IsObsolete).and_then(flag).unwrap_or(false),
                    collection_ids: self.strings(Field::CollectionIds),
                    certificate_thumbprint: self.text(Field::CertificateThumbprint),
                    is_distribution_point: self.get(Field::IsDistributionPoint).and_then(flag).unwrap_or(false),
                })
            }
            Err(reason) => Err((reason, sms_id, name)),
        }
    }

    /// Checks every property's type (nothing taken yet), returning the non-text ones.
    fn fields(&self) -> std::result::Result<(bool, Option<u64>, Vec<String>), String> {
        for (field, name) in TEXT_FIELDS {
            match self.get(field) {
                Some(Value::String(s)) if s.len() > MAX_TEXT_CHARS && s.chars().count() > MAX_TEXT_CHARS => {
                    return Err(too_long(name, s, MAX_TEXT_CHARS));
                }
                Some(Value::String(_) | Value::Number(_)) | None => {}
                Some(v) => return Err(format!("{name} must be text, not {}", type_name(v))),
            }
        }
        for (field, name) in [(Field::CollectionIds, "CollectionIDs"), (Field::DomainNames, "DomainNames")] {
            match self.get(field) {
                None | Some(Value::String(_)) => {}
                Some(Value::Array(items)) => {
                    if let Some(bad) = items.iter().find(|v| !v.is_string()) {
                        return Err(format!("{name} must hold text, not {}", type_name(bad)));
                    }
                }
                Some(other) => return Err(format!("{name} must be a list of text, not {}", type_name(other))),
            }
        }
        if let Some(v) = self.get(Field::IsDistributionPoint) {
            flag(v).ok_or_else(|| format!("IsDistributionPoint must be true/false, not {v}"))?;
        }
        if let Some(v) = self.get(Field::IsObsolete) {
            flag(v).ok_or_else(|| format!("IsObsolete must be true/false or 1/0, not {v}"))?;
        }
        let is_client = match self.get(Field::IsClient) {
            Some(v) => flag(v).ok_or_else(|| format!("IsClient must be true/false or 1/0, not {v}"))?,
            None => return Err("IsClient is missing: only ConfigMgr clients (IsClient = true) are uploaded".into()),
        };
        let resource_id = match self.get(Field::ResourceId) {
            None => None,
            Some(Value::Number(n)) => Some(n.as_u64().ok_or_else(|| format!("ResourceID must be a positive whole number, not {n}"))?),
            Some(Value::String(s)) => Some(s.trim().parse().map_err(|_| format!("ResourceID must be a number, not \"{s}\""))?),
            Some(other) => return Err(format!("ResourceID must be a number, not {}", type_name(other))),
        };
        let mut domain_names = self.peek_strings(Field::DomainNames);
        if domain_names.is_empty() {
            domain_names.extend(self.get(Field::Domain).and_then(Value::as_str).filter(|d| !d.is_empty()).map(str::to_owned));
        }
        Ok((is_client, resource_id, domain_names))
    }

    /// A text property, moved out; numbers are accepted as text (`SKU: 4`), empty is absent.
    /// Types were checked by `fields`.
    fn text(&mut self, field: Field) -> Option<String> {
        match self.take(field) {
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    /// A list of text (a single string is a list of one, as PowerShell unrolls one-element arrays).
    fn strings(&mut self, field: Field) -> Vec<String> {
        match self.take(field) {
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn peek_strings(&self, field: Field) -> Vec<String> {
        match self.get(field) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    }
}

/// Properties uploaded as text.
const TEXT_FIELDS: [(Field, &str); 13] = [
    (Field::AadTenantId, "AADTenantID"),
    (Field::AadDeviceId, "AADDeviceID"),
    (Field::DeviceOs, "DeviceOS"),
    (Field::DeviceOsBuild, "DeviceOSBuild"),
    (Field::AadPrimaryUserId, "AADPrimaryUserID"),
    (Field::Model, "Model"),
    (Field::Manufacturer, "Manufacturer"),
    (Field::SerialNumber, "SerialNumber"),
    (Field::Sku, "SKU"),
    (Field::ClientVersion, "ClientVersion"),
    (Field::SiteCode, "SiteCode"),
    (Field::Domain, "Domain"),
    (Field::CertificateThumbprint, "CertificateThumbprint"),
];

/// PowerShell and WMI write booleans as true/false, 1/0 or "True"/"Yes".
fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One SMSID whatever its letter case (ConfigMgr writes `GUID:` and upper-case hex digits; a
/// hand-made export may not): the upper-case form, in the state, the batches and the cloud.
pub fn sms_key(sms_id: String) -> String {
    if sms_id.bytes().any(|b| b.is_ascii_lowercase()) {
        sms_id.to_ascii_uppercase()
    } else {
        sms_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_cmdevice_objects_are_read_case_insensitively_and_extra_properties_ignored() {
        let items = parse_json(
            r#"[{"Name":"PC-ÅÄÖ-01","ResourceID":16777220,"SMSID":"GUID:1","IsClient":1,"deviceos":"Microsoft Windows NT Workstation 10.0",
                "DeviceOSBuild":"10.0.19045.3803","Domain":"CONTOSO","SKU":4,"ClientActiveStatus":1,"LastActiveTime":"/Date(1700000000000)/",
                "CollectionIDs":"SMS00001"}]"#,
        )
        .expect("parses");
        let record = items[0].as_ref().expect("usable");
        assert_eq!(record.device.name, "PC-ÅÄÖ-01");
        assert_eq!(record.device.resource_id, Some(16777220));
        assert_eq!(record.device.device_os.as_deref(), Some("Microsoft Windows NT Workstation 10.0"));
        assert_eq!(record.device.domain_names, ["CONTOSO"]);
        assert_eq!(record.device.sku.as_deref(), Some("4"));
        assert_eq!(record.collection_ids, ["SMS00001"]);
        assert!(record.is_client);
    }

    #[test]
    fn bad_records_are_skipped_with_their_reason_and_the_rest_kept() {
        let items = parse_json(
            r#"[{"Name":"A","IsClient":true},{"Name":"B","SMSID":7,"IsClient":true},{"Name":"C","SMSID":"GUID:C","IsClient":"maybe"},
                42,{"Name":"D","SMSID":"GUID:D","IsClient":true}]"#,
        )
        .expect("parses");
        let reasons: Vec<String> = items.iter().filter_map(|i| i.as_ref().err()).map(|s| format!("{}:{}", s.index, s.reason)).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].starts_with("0:SMSID is missing"));
        assert!(reasons[1].starts_with("1:SMSID must be a string"));
        assert!(reasons[2].starts_with("2:IsClient must be"));
        assert!(reasons[3].starts_with("3:the record is a number"));
        assert!(items[4].is_ok());
    }

    #[test]
    fn over_long_values_are_skipped_by_their_length_and_shown_by_their_start() {
        let long = |n: usize| "Ä".repeat(n);
        let text = serde_json::json!([
            {"Name": long(MAX_NAME_CHARS), "SMSID": "GUID:1", "IsClient": true, "Model": long(MAX_TEXT_CHARS)},
            {"Name": long(MAX_NAME_CHARS + 1), "SMSID": "GUID:2", "IsClient": true},
            {"Name": "PC", "SMSID": format!("GUID:{}", long(MAX_SMS_ID_CHARS)), "IsClient": true},
            {"Name": "PC", "SMSID": "GUID:4", "IsClient": true, "Model": long(MAX_TEXT_CHARS + 1)},
        ])
        .to_string();
        let items = parse_json(&text).expect("parses");
        assert!(items[0].is_ok(), "values at their limit are accepted");
        let skipped: Vec<&Skipped> = items[1..].iter().map(|i| i.as_ref().expect_err("over the limit")).collect();
        assert_eq!(skipped[0].reason, "Name is 1025 characters long; at most 1024 are accepted");
        assert_eq!(skipped[0].name.as_deref().map(|n| n.chars().count()), Some(65), "the name is shown by its start");
        assert_eq!(skipped[1].reason, "SMSID is 261 characters long; at most 256 are accepted");
        assert_eq!(skipped[2].reason, "Model is 4097 characters long; at most 4096 are accepted");
    }

    #[test]
    fn input_that_is_not_a_device_list_is_an_error() {
        assert_eq!(parse_json("\"devices\"").map(|_| ()).unwrap_err().kind, ErrorKind::InvalidJson);
        assert_eq!(parse_json("[{\"Name\":").map(|_| ()).unwrap_err().kind, ErrorKind::InvalidJson);
        assert_eq!(parse_json("{\"Name\":\"x\",\"SMSID\":\"GUID:1\",\"IsClient\":true}").expect("one object").len(), 1);
    }

    #[test]
    fn ndjson_records_are_counted_across_buffer_ends_and_blank_lines_are_not() {
        let text = "{\"a\":1}\n\n   \n  {\"b\":2}\r\n\t\n{\"c\":3}";
        for capacity in [1, 2, 3, 5, 8, 64] {
            let reader = std::io::BufReader::with_capacity(capacity, text.as_bytes());
            assert_eq!(count_ndjson_records(reader).expect("counts"), 3, "buffer of {capacity}");
        }
        assert_eq!(count_ndjson_records(&b""[..]).expect("counts"), 0);
        assert_eq!(count_ndjson_records(&b"  \n \n"[..]).expect("counts"), 0);
        // The lines the reader hands out, whatever the buffer: the same three.
        for capacity in [1, 4, 7, 64] {
            let mut reader = NdjsonReader::new(std::io::BufReader::with_capacity(capacity, text.as_bytes()));
            let mut lines = Vec::new();
            while let Some(next) = reader.next_raw() {
                let (bytes, index, line) = next.expect("reads");
                lines.push((String::from_utf8(bytes.to_vec()).expect("utf-8"), index, line));
            }
            let want = [("{\"a\":1}".to_owned(), 0, 1), ("{\"b\":2}".to_owned(), 1, 4), ("{\"c\":3}".to_owned(), 2, 6)];
            assert_eq!(lines, want, "buffer of {capacity}");
        }
    }

    #[test]
    fn ndjson_streams_lines_and_reports_line_numbers() {
        let text = "{\"Name\":\"A\",\"SMSID\":\"GUID:A\",\"IsClient\":true}\n\n{not json}\n{\"Name\":\"B\",\"SMSID\":\"GUID:B\",\"IsClient\":false}\n";
        let items: Vec<Item> = NdjsonReader::new(text.as_bytes()).collect::<Result<_>>().expect("reads");
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].as_ref().unwrap_err().line, Some(3));
        assert!(!items[2].as_ref().expect("ok").is_client);
        assert_eq!(count_ndjson_records(text.as_bytes()).expect("counts"), 3);
        let bad = b"{\"Name\":\"A\"}\n\xff\xfe\n";
        let err = NdjsonReader::new(&bad[..]).find_map(|r| r.err()).expect("utf-8 error");
        assert_eq!(err.kind, ErrorKind::InvalidUtf8);
    }
}

/// The device records `ta_client_sync_devices` takes: a JSON array of objects shaped like
/// `Get-CMDevice`'s (a single object is taken as an array of one), or, in a file given to
/// `ta_client_sync_devices_file`, one such object per line (NDJSON). Its JSON Schema is built from
/// the parser's own table of accepted names ([`NAMES`]) and the values each one takes.
pub struct DeviceRecords;

impl Field {
    /// The JSON values a property accepts, and what it means: what the parser checks.
    fn schema(self) -> Value {
        use serde_json::json;
        let text = |what: &str| json!({ "type": ["string", "number", "null"], "description": what });
        let flag = |what: &str| {
            json!({ "description": what, "anyOf": [
                { "type": "boolean" }, { "enum": [0, 1] },
                { "type": "string", "pattern": "^\\s*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo]|0|1)\\s*$" },
                { "type": "null" } ] })
        };
        let texts = |what: &str| json!({ "description": what, "anyOf": [ { "type": "string" }, { "type": "array", "items": { "type": "string" } }, { "type": "null" } ] });
        match self {
            Field::Name => json!({ "type": ["string", "null"], "description": "The device's name (required to upload)." }),
            Field::SmsId => json!({ "type": ["string", "null"], "description": "The SMSID (`GUID:...`) devices are identified by (required to upload)." }),
            Field::ResourceId => json!({ "description": "ConfigMgr's ResourceID.", "anyOf": [
                { "type": "integer", "minimum": 0 }, { "type": "string", "pattern": "^\\s*[0-9]+\\s*$" }, { "type": "null" } ] }),
            Field::IsClient => flag("A ConfigMgr client (required to upload: only clients are uploaded)."),
            Field::IsObsolete => flag("Replaced by a newer record for the same device: never uploaded."),
            Field::IsDistributionPoint => flag("The device is a distribution point (reported only: devices are keyed by SMSID)."),
            Field::CollectionIds => texts("The collections the device is a member of (for a collection upload scope)."),
            Field::DomainNames => texts("The device's domain names (else `Domain`)."),
            Field::AadTenantId
            | Field::AadDeviceId
            | Field::DeviceOs
            | Field::DeviceOsBuild
            | Field::AadPrimaryUserId
            | Field::Model
            | Field::Manufacturer
            | Field::SerialNumber
            | Field::Sku
            | Field::ClientVersion
            | Field::SiteCode
            | Field::Domain
            | Field::CertificateThumbprint => text("Uploaded as text."),
        }
    }
}

impl schemars::JsonSchema for DeviceRecords {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DeviceRecords".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let properties: serde_json::Map<String, Value> = NAMES.iter().map(|(name, field)| ((*name).to_owned(), field.schema())).collect();
        let record = serde_json::json!({
            "type": "object",
            "description": "A device as Get-CMDevice (or SMS_R_System) describes it. Property names are matched without regard \
                to case and every other property is ignored; a record without a usable SMSID, Name or IsClient, or with a value \
                of the wrong type, is skipped with its reason in the report.",
            "properties": properties,
        });
        let schema = serde_json::json!({
            "description": "A JSON array of device records (a single record is taken as an array of one).",
            "anyOf": [ { "type": "array", "items": record }, record ],
        });
        schemars::Schema::try_from(schema).unwrap_or_default()
    }
}
