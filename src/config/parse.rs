//! From JSON text to a `Config`, with errors that name the line/column or the key path, and with the
//! secrets registered for redaction before any error message could echo them.

use serde_json::Value;

use super::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::redact;

/// Keys that look like an attempt to switch certificate checks off. No such option exists; the error
/// says what to do instead.
const INSECURE_HINTS: [&str; 6] = ["insecure", "skipcert", "skiptls", "noverify", "acceptinvalid", "disablecert"];

pub(super) fn parse(text: &str) -> Result<Config> {
    // Two steps: syntax first (line/column are what help there), then shape (the key path helps).
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Error::new(ErrorKind::InvalidJson, format!("the configuration is not valid JSON: {e}"))
            .with_details(serde_json::json!({ "line": e.line(), "column": e.column() }))
    })?;
    if !value.is_object() {
        // serde would read a struct from an array by position; a configuration is keyed.
        return Err(Error::new(ErrorKind::InvalidConfig, "the configuration must be a JSON object, e.g. {\"tenantId\": \"...\", \"siteCode\": \"PS1\"}")
            .with_details(serde_json::json!({ "path": "." })));
    }
    register_secrets(&value);
    crate::json::refuse_duplicate_keys(text, ErrorKind::InvalidConfig, "the configuration")?;
    serde_path_to_error::deserialize(value).map_err(shape_error)
}

/// Registers every secret-bearing value before typed parsing, so even a config that is refused
/// (wrong type elsewhere, unknown key) cannot leak its secret through an error message.
fn register_secrets(value: &Value) {
    if let Some(auth) = value.get("auth") {
        for key in ["clientSecret", "accessToken", "certificatePassword", "certificateData"] {
            if let Some(secret) = auth.get(key).and_then(Value::as_str) {
                redact::register_secret(secret);
            }
        }
    }
    // Every reading of the proxy's password (the transport's, url::Url's, raw and percent-decoded):
    // a URL that is refused later may still be quoted by some error before.
    for password in value.get("proxy").and_then(Value::as_str).map(super::proxy::passwords).unwrap_or_default() {
        redact::register_secret(&password);
    }
}

fn shape_error(err: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = err.path().to_string();
    let inner = err.into_inner().to_string();
    let Some((key, expected)) = unknown_field(&inner) else {
        let message = if path == "." { format!("configuration: {inner}") } else { format!("configuration key `{path}`: {inner}") };
        return Error::new(ErrorKind::InvalidConfig, message).with_details(serde_json::json!({ "path": path }));
    };
    // The path ends at the unknown key for plain objects, at its parent inside `auth` (serde
    // buffers internally tagged enums); name the full key either way.
    let full_key = if path == key || path.ends_with(&format!(".{key}")) {
        path
    } else if path == "." {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    };
    let mut message = format!("unknown configuration key `{full_key}`: {expected}");
    let squashed: String = key.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    if INSECURE_HINTS.iter().any(|hint| squashed.contains(hint)) {
        message.push_str(
            ". Certificate checks cannot be switched off; to trust a private CA (the local cloud, a TLS-inspecting proxy) set `trustedCaFile` to its PEM file",
        );
    }
    Error::new(ErrorKind::InvalidConfig, message).with_details(serde_json::json!({ "path": full_key, "unknownKey": key }))
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" into the key and the "expected" part.
fn unknown_field(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, expected) = rest.split_once('`')?;
    Some((key, expected.trim_start_matches([',', ' '])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_read_from_serde_message() {
        assert_eq!(unknown_field("unknown field `tenantID`, expected one of `cloud`"), Some(("tenantID", "expected one of `cloud`")));
        assert_eq!(unknown_field("unknown field `x`, there are no fields"), Some(("x", "there are no fields")));
        assert_eq!(unknown_field("invalid type: string"), None);
    }
}
