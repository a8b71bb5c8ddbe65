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
    /// `IsClient`: only ConfigMgr clients are uploaded.
    pub is_client: bool,
    /// `CollectionIDs`: the collections the device is a member of (used for a collection scope).
    pub collection_ids: Vec<String>,
    /// Read for diagnostics only: devices are keyed by SMSID, never by certificate, so a
    /// distribution point sharing its PKI certificate with its client agent is an ordinary device.
    pub certificate_thumbprint: Option<String>,
    pub is_distribution_point: bool,
}

/// A record that was skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// 0-based position in the array, or 1-based line number in NDJSON (see `line`).
    pub index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_id: Option<String>,
    pub reason: String,
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
    line: String,
    line_number: u64,
    index: u64,
}

impl<R: BufRead> NdjsonReader<R> {
    pub fn new(input: R) -> Self {
        NdjsonReader { input, line: String::new(), line_number: 0, index: 0 }
    }
}

impl<R: BufRead> Iterator for NdjsonReader<R> {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.line.clear();
            match self.input.read_line(&mut self.line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Some(Err(Error::new(
                        ErrorKind::InvalidUtf8,
                        format!("line {} of the device file is not valid UTF-8; save the file as UTF-8", self.line_number + 1),
                    )))
                }
                Err(e) => return Some(Err(Error::io("cannot read the device file", &e))),
            }
            self.line_number += 1;
            let text = self.line.trim_start_matches('\u{feff}').trim();
            if text.is_empty() {
                continue;
            }
            let index = self.index;
            self.index += 1;
            let line = Some(self.line_number);
            let item = match serde_json::from_str::<RawDevice>(text) {
                Ok(raw) => raw.into_record(index, line),
                Err(e) => Err(Skipped {
                    index,
                    line,
                    name: None,
                    sms_id: None,
                    reason: format!("not a JSON object: {e}"),
                }),
            };
            return Some(Ok(item));
        }
    }
}

/// Counts the records of NDJSON text cheaply (non-blank lines), for progress totals.
pub fn count_ndjson_records<R: BufRead>(mut input: R) -> std::io::Result<u64> {
    let mut count = 0;
    let mut buf = Vec::new();
    while input.read_until(b'\n', &mut buf)? > 0 {
        if buf.iter().any(|b| !b.is_ascii_whitespace()) {
            count += 1;
        }
        buf.clear();
    }
    Ok(count)
}

fn json_error(e: &serde_json::Error, what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidJson,
        format!(
            "{what} is not valid JSON: {e}; give a JSON array of device objects (Get-CMDevice | ConvertTo-Json) or NDJSON, one object per line"
        ),
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
    fields: Vec<(Field, Value)>,
}

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
];

impl<'de> Deserialize<'de> for RawDevice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(RawDeviceVisitor)
    }
}

struct RawDeviceVisitor;

impl RawDeviceVisitor {
    fn not_object<E>(what: &'static str) -> std::result::Result<RawDevice, E> {
        Ok(RawDevice { not_object: Some(what), fields: Vec::new() })
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
                Some((_, field)) => {
                    let value: Value = map.next_value()?;
                    raw.fields.push((*field, value));
                }
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
        // The last occurrence wins, as in PowerShell's ConvertFrom-Json.
        self.fields.iter().rev().find(|(f, _)| *f == field).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    fn into_record(self, index: u64, line: Option<u64>) -> Item {
        let name = self.get(Field::Name).and_then(Value::as_str).map(str::to_owned);
        let sms_id = self.get(Field::SmsId).and_then(Value::as_str).map(str::to_owned);
        let skip = |reason: String| Skipped { index, line, name: name.clone(), sms_id: sms_id.clone(), reason };
        if let Some(what) = self.not_object {
            return Err(skip(format!("the record is {what}, not a device object")));
        }
        self.build().map_err(skip)
    }

    fn build(&self) -> std::result::Result<Record, String> {
        let sms_id = match self.get(Field::SmsId) {
            Some(Value::String(s)) if s.chars().any(char::is_control) => return Err("SMSID holds control characters".into()),
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(Value::String(_)) | None => return Err("SMSID is missing: devices are identified by their SMSID (GUID:...)".into()),
            Some(other) => return Err(format!("SMSID must be a string, not {}", type_name(other))),
        };
        let name = match self.get(Field::Name) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None => return Err("Name is missing".into()),
            Some(other) => return Err(format!("Name must be a string, not {}", type_name(other))),
        };
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
        let mut domain_names = self.strings(Field::DomainNames, "DomainNames")?;
        if domain_names.is_empty() {
            domain_names.extend(self.text(Field::Domain, "Domain")?);
        }
        let device = Device {
            sms_id,
            resource_id,
            name,
            aad_tenant_id: self.text(Field::AadTenantId, "AADTenantID")?,
            aad_device_id: self.text(Field::AadDeviceId, "AADDeviceID")?,
            device_os: self.text(Field::DeviceOs, "DeviceOS")?,
            device_os_build: self.text(Field::DeviceOsBuild, "DeviceOSBuild")?,
            aad_primary_user_id: self.text(Field::AadPrimaryUserId, "AADPrimaryUserID")?,
            model: self.text(Field::Model, "Model")?,
            manufacturer: self.text(Field::Manufacturer, "Manufacturer")?,
            serial_number: self.text(Field::SerialNumber, "SerialNumber")?,
            domain_names,
            sku: self.text(Field::Sku, "SKU")?,
            client_version: self.text(Field::ClientVersion, "ClientVersion")?,
            site_code: self.text(Field::SiteCode, "SiteCode")?,
        };
        Ok(Record {
            device,
            is_client,
            collection_ids: self.strings(Field::CollectionIds, "CollectionIDs")?,
            certificate_thumbprint: self.text(Field::CertificateThumbprint, "CertificateThumbprint")?,
            is_distribution_point: match self.get(Field::IsDistributionPoint) {
                Some(v) => flag(v).ok_or_else(|| format!("IsDistributionPoint must be true/false, not {v}"))?,
                None => false,
            },
        })
    }

    /// A text property; numbers are accepted as text (`SKU: 4`, a numeric build), empty is absent.
    fn text(&self, field: Field, name: &str) -> std::result::Result<Option<String>, String> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(format!("{name} must be text, not {}", type_name(other))),
        }
    }

    /// A list of text (a single string is a list of one, as PowerShell unrolls one-element arrays).
    fn strings(&self, field: Field, name: &str) -> std::result::Result<Vec<String>, String> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("{name} must hold text, not {}", type_name(v))))
                .collect(),
            Some(other) => Err(format!("{name} must be a list of text, not {}", type_name(other))),
        }
    }
}

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
    fn input_that_is_not_a_device_list_is_an_error() {
        assert_eq!(parse_json("\"devices\"").map(|_| ()).unwrap_err().kind, ErrorKind::InvalidJson);
        assert_eq!(parse_json("[{\"Name\":").map(|_| ()).unwrap_err().kind, ErrorKind::InvalidJson);
        assert_eq!(parse_json("{\"Name\":\"x\",\"SMSID\":\"GUID:1\",\"IsClient\":true}").expect("one object").len(), 1);
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
