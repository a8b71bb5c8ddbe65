//! The redaction guard: every string that leaves the library for a person (log lines, error
//! messages, `ta_last_error_json`, the effective configuration) goes through [`scrub`].
//!
//! Two layers, because one missed registration must not leak a secret:
//! 1. a process-wide registry of the secrets this process was given (client secrets, proxy
//!    passwords, access tokens, refresh tokens), each also in the forms it takes inside JSON text
//!    and inside URL-encoded form bodies;
//! 2. shape-based scrubbing of what is a secret whatever it is: JWTs (`eyJ…` in three base64url
//!    segments), the value after `Bearer `, and `client_secret=`, `refresh_token=`, `password=`,
//!    `access_token=` form fields.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this are not registered: masking every occurrence of a two- or
/// three-character string would shred log lines and error messages (every `abc` in a device name)
/// while such a short "secret" protects nothing anyway. Real secrets (Azure AD client secrets are 40
/// characters, tokens are kilobytes) are far longer.
pub const MIN_SECRET_LEN: usize = 6;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a secret for the lifetime of the process; thread-safe and idempotent.
pub fn register_secret(secret: &str) {
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let mut forms = vec![secret.to_owned()];
    // Inside JSON text (`"clientSecret":"a\"b"`) and inside a form body (`client_secret=a%2Bb`).
    if let Ok(json) = serde_json::to_string(secret) {
        if let Some(inner) = json.strip_prefix('"').and_then(|j| j.strip_suffix('"')) {
            forms.push(inner.to_owned());
        }
    }
    forms.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    // A poisoned lock only means another thread panicked while holding it: the list is still valid.
    let mut list = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if form.chars().count() >= MIN_SECRET_LEN && !list.contains(&form) {
            list.push(form);
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    list.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret, JWT, bearer token and secret form field replaced by `***`.
/// Borrows when there was nothing to hide (the common case costs no allocation).
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let list = SECRETS.read().unwrap_or_else(|e| e.into_inner());
        for secret in list.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
    }
    if let Some(masked) = mask_shapes(&out) {
        out = Cow::Owned(masked);
    }
    out
}

/// Field names whose value is a secret in a form body or query string.
const SECRET_FIELDS: [&str; 6] = ["client_secret=", "refresh_token=", "access_token=", "password=", "client_assertion=", "device_code="];

/// Masks secrets recognised by their shape; `None` when there were none (no allocation).
fn mask_shapes(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = jwt_at(bytes, i) {
            spans.push((i, end));
            i = end;
            continue;
        }
        if let Some(start) = after_prefix_ci(bytes, i, b"bearer ") {
            let end = token_end(bytes, start);
            if end > start {
                spans.push((start, end));
                i = end;
                continue;
            }
        }
        if i == 0 || !is_field_char(bytes[i - 1]) {
            if let Some(start) = SECRET_FIELDS.iter().find_map(|f| after_prefix_ci(bytes, i, f.as_bytes())) {
                let end = token_end(bytes, start);
                if end > start {
                    spans.push((start, end));
                    i = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in spans {
        out.push_str(&text[last..start]);
        out.push_str(MASK);
        last = end;
    }
    out.push_str(&text[last..]);
    Some(out)
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_field_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A JWT starting at `i` (`eyJ` + base64url `.` base64url `.` base64url): returns its end.
fn jwt_at(bytes: &[u8], i: usize) -> Option<usize> {
    if !bytes[i..].starts_with(b"eyJ") || (i > 0 && is_b64url(bytes[i - 1])) {
        return None;
    }
    let mut j = i;
    for segment in 0..3 {
        let start = j;
        while j < bytes.len() && is_b64url(bytes[j]) {
            j += 1;
        }
        // The signature segment may be empty (alg "none"); the others may not.
        if j == start && segment < 2 {
            return None;
        }
        if segment < 2 {
            if j >= bytes.len() || bytes[j] != b'.' {
                return None;
            }
            j += 1;
        }
    }
    Some(j)
}

/// When `bytes[i..]` starts with `prefix` (ASCII case-insensitive), the index after it.
fn after_prefix_ci(bytes: &[u8], i: usize, prefix: &[u8]) -> Option<usize> {
    let end = i + prefix.len();
    (end <= bytes.len() && bytes[i..end].eq_ignore_ascii_case(prefix)).then_some(end)
}

/// The end of a token value: up to whitespace, `&`, a quote, or a JSON/markup delimiter.
fn token_end(bytes: &[u8], start: usize) -> usize {
    let mut j = start;
    while j < bytes.len() && !matches!(bytes[j], b' ' | b'\t' | b'\r' | b'\n' | b'&' | b'"' | b'\'' | b',' | b'}' | b']' | b'<' | b'>') {
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secret_is_masked_wherever_it_appears() {
        register_secret("Xq8~unit.test.secret.0001");
        let s = scrub("POST failed: body client_id=1&x=Xq8~unit.test.secret.0001tail and again Xq8~unit.test.secret.0001");
        assert!(!s.contains("Xq8~unit.test.secret.0001"), "{s}");
        assert_eq!(s.matches(MASK).count(), 2, "{s}");
    }

    #[test]
    fn json_escaped_and_form_encoded_forms_are_masked() {
        register_secret("quo\"te+pl/us=1234");
        let json = serde_json::json!({ "clientSecret": "quo\"te+pl/us=1234" }).to_string();
        assert!(!scrub(&json).contains("te+pl"), "{}", scrub(&json));
        let form: String = url::form_urlencoded::byte_serialize("quo\"te+pl/us=1234".as_bytes()).collect();
        assert!(!scrub(&format!("x={form}")).contains(&form));
    }

    #[test]
    fn short_strings_are_not_registered() {
        register_secret("abc");
        assert_eq!(scrub("abc abc"), "abc abc");
    }

    #[test]
    fn jwts_bearer_tokens_and_secret_fields_are_masked_unregistered() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        assert_eq!(scrub(&format!("token {jwt} end")), "token *** end");
        assert_eq!(scrub("Authorization: Bearer abc.def-ghi"), "Authorization: Bearer ***");
        assert_eq!(scrub("grant_type=client_credentials&client_secret=s3cr3t&scope=x"), "grant_type=client_credentials&client_secret=***&scope=x");
        assert_eq!(scrub("refresh_token=0.AAA-bbb"), "refresh_token=***");
        // Not a field boundary: `my_password=` is not `password=`.
        assert_eq!(scrub("my_password=x1"), "my_password=x1");
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(scrub("Uploaded 5000 devices (batch 3 of 35)"), Cow::Borrowed(_)));
        assert!(matches!(scrub("Ladda upp enheter åäö"), Cow::Borrowed(_)));
    }
}
