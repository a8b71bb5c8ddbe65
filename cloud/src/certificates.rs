//! Certificate credentials of apps, as Azure AD keeps and checks them: Graph `keyCredentials`
//! (an X.509 certificate, type `AsymmetricX509Cert`, usage `Verify`), and the RFC 7523 client
//! assertion an app signs with the certificate's key to sign in (`client_assertion_type`
//! `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`). A wrong, unknown, expired or
//! misaddressed assertion gets Azure AD's answer: AADSTS700027 (signature: the key was not found,
//! the signature does not match, the key is expired), AADSTS700024 (the assertion is outside its
//! valid time range), AADSTS700023 (audience), AADSTS700021 (`client_id` differs from the
//! assertion's issuer).
//!
//! Also a test helper: [`generate`] makes a self-signed RSA certificate with its key as PEM and
//! PFX (`POST /_admin/certificates`), so tests in every language get one at runtime.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Digest;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::aad::aad_error;

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Azure AD's documentation of certificate credentials, which its assertion errors point to.
const CERT_CREDENTIALS_DOC: &str = "https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials";
/// Clock skew Azure AD tolerates on an assertion's `nbf`/`exp`.
const SKEW_SECONDS: i64 = 300;

/// A certificate credential of an app (Graph `keyCredential`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    pub key_id: String,
    #[serde(default)]
    pub display_name: String,
    /// `AsymmetricX509Cert`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `Verify`.
    pub usage: String,
    /// The certificate, DER in base64 (public; Graph does not return it on reads).
    pub key: String,
    /// SHA-1 thumbprint (upper-case hex): what `x5t` names.
    pub thumbprint: String,
    /// SHA-256 thumbprint (upper-case hex): what `x5t#S256` names.
    pub thumbprint_sha256: String,
    pub start_date_time: String,
    pub end_date_time: String,
}

impl KeyCredential {
    /// As Graph shows it: `customKeyIdentifier` is the thumbprint, `key` is never returned.
    pub fn to_graph(&self) -> Value {
        let thumb = hex::decode(&self.thumbprint).unwrap_or_default();
        json!({
            "customKeyIdentifier": base64::engine::general_purpose::STANDARD.encode(thumb), "displayName": self.display_name,
            "endDateTime": self.end_date_time, "key": Value::Null, "keyId": self.key_id, "startDateTime": self.start_date_time,
            "type": self.kind, "usage": self.usage,
        })
    }
}

/// What a certificate says about itself.
pub struct Parsed {
    pub sha1: [u8; 20],
    pub sha256: [u8; 32],
    pub subject: String,
    pub not_before: i64,
    pub not_after: i64,
    /// The RSA public key (PKCS#1 DER), for verifying signatures.
    pub rsa_public: Vec<u8>,
}

pub fn parse(der: &[u8]) -> Result<Parsed, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| "the key is not an X.509 certificate".to_owned())?;
    let spki = cert.public_key();
    if !matches!(spki.parsed(), Ok(PublicKey::RSA(_))) {
        return Err("the certificate's key is not RSA".to_owned());
    }
    Ok(Parsed {
        sha1: sha1::Sha1::digest(der).into(),
        sha256: sha2::Sha256::digest(der).into(),
        subject: cert.subject().to_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        rsa_public: spki.subject_public_key.data.to_vec(),
    })
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A key credential for the certificate `der`. The dates default to the certificate's validity;
/// as Azure AD, an end date after the certificate's own is refused.
pub fn key_credential(der: &[u8], display_name: &str, start: Option<&str>, end: Option<&str>) -> Result<KeyCredential, String> {
    let p = parse(der)?;
    let date = |text: Option<&str>, default: i64| -> Result<i64, String> {
        match text {
            None => Ok(default),
            Some(t) => chrono::DateTime::parse_from_rfc3339(t).map(|d| d.timestamp()).map_err(|_| format!("'{t}' is not a date such as 2027-06-30T00:00:00Z")),
        }
    };
    let (start, end) = (date(start, p.not_before)?, date(end, p.not_after)?);
    if end > p.not_after {
        return Err(format!("Key credential end date is invalid: it is after the certificate's own end of validity ({}).", iso(p.not_after)));
    }
    Ok(KeyCredential {
        key_id: uuid::Uuid::new_v4().to_string(),
        display_name: if display_name.is_empty() { p.subject.clone() } else { display_name.to_owned() },
        kind: "AsymmetricX509Cert".into(),
        usage: "Verify".into(),
        key: base64::engine::general_purpose::STANDARD.encode(der),
        thumbprint: hex::encode_upper(p.sha1),
        thumbprint_sha256: hex::encode_upper(p.sha256),
        start_date_time: iso(start),
        end_date_time: iso(end),
    })
}

/// The DER of the first certificate in PEM text (the seed's form).
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>, String> {
    let body: String =
        pem.lines().skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----")).skip(1).take_while(|l| !l.starts_with("-----END CERTIFICATE-----")).collect();
    if body.is_empty() {
        return Err("no -----BEGIN CERTIFICATE----- block".into());
    }
    base64::engine::general_purpose::STANDARD.decode(body.trim()).map_err(|e| format!("the certificate block is not base64 ({e})"))
}

/// The claims of an assertion, read without verifying it (to learn who claims to sign in).
pub fn unverified_claims(assertion: &str) -> Option<Value> {
    let payload = assertion.split('.').nth(1)?;
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?).ok()
}

fn invalid_client(code: u32, description: &str) -> Response {
    aad_error(StatusCode::UNAUTHORIZED, "invalid_client", code, description)
}

fn b64url_hex(value: Option<&str>) -> Option<String> {
    value.and_then(|v| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).ok()).map(hex::encode_upper)
}

/// Checks the client assertion of a token request for `client_id`, whose certificates are
/// `keys`. `audiences`: the token endpoint URLs (and issuer) it may be addressed to.
pub fn verify_assertion(
    form: &std::collections::HashMap<String, String>,
    client_id: &str,
    keys: &[KeyCredential],
    audiences: &[String],
) -> Result<(), Response> {
    let assertion_type = form.get("client_assertion_type").map(String::as_str).unwrap_or("");
    if assertion_type != CLIENT_ASSERTION_TYPE {
        return Err(aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            &format!("Invalid client_assertion_type '{assertion_type}': expected '{CLIENT_ASSERTION_TYPE}'."),
        ));
    }
    let assertion = form.get("client_assertion").map(String::as_str).unwrap_or("");
    let (Ok(header), Some(claims)) = (jsonwebtoken::decode_header(assertion), unverified_claims(assertion)) else {
        return Err(aad_error(StatusCode::BAD_REQUEST, "invalid_request", 50027, "JWT token is invalid or malformed."));
    };
    let issuer = claims["iss"].as_str().unwrap_or_default();
    if !issuer.eq_ignore_ascii_case(client_id) || !claims["sub"].as_str().unwrap_or_default().eq_ignore_ascii_case(client_id) {
        return Err(invalid_client(
            700021,
            &format!("Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at {CERT_CREDENTIALS_DOC} ."),
        ));
    }
    let x5t = b64url_hex(header.x5t.as_deref());
    let x5t_s256 = b64url_hex(header.x5t_s256.as_deref());
    let used = x5t.clone().or(x5t_s256.clone()).unwrap_or_default();
    let key = keys.iter().find(|k| x5t_s256.as_deref() == Some(k.thumbprint_sha256.as_str()) || x5t.as_deref() == Some(k.thumbprint.as_str()));
    let Some(key) = key else {
        return Err(invalid_client(700027, &format!(
            "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{used}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments#app-registration-and-token-service-root-endpoints.]"
        )));
    };
    let found = format!("Found key 'Start={}, End={}'", key.start_date_time, key.end_date_time);
    let der = base64::engine::general_purpose::STANDARD.decode(&key.key).unwrap_or_default();
    let parsed =
        parse(&der).map_err(|e| aad_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 90100, &format!("A stored key credential is unusable: {e}")))?;
    let algorithm = header.alg;
    use jsonwebtoken::Algorithm::*;
    if !matches!(algorithm, RS256 | RS384 | RS512 | PS256 | PS384 | PS512) {
        return Err(invalid_client(
            700027,
            &format!("Client assertion failed signature validation. [Reason - The signing algorithm '{algorithm:?}' is not supported for certificate credentials., Thumbprint of key used by client: '{used}']"),
        ));
    }
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    if jsonwebtoken::decode::<Value>(assertion, &jsonwebtoken::DecodingKey::from_rsa_der(&parsed.rsa_public), &validation).is_err() {
        return Err(invalid_client(700027, &format!(
            "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '{used}', {found}]"
        )));
    }
    let now = chrono::Utc::now();
    let in_force = |text: &str, after: bool| chrono::DateTime::parse_from_rfc3339(text).is_ok_and(|d| if after { d <= now } else { d >= now });
    if !in_force(&key.start_date_time, true) || !in_force(&key.end_date_time, false) {
        return Err(invalid_client(
            700027,
            &format!(
                "Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '{used}', {found}]"
            ),
        ));
    }
    let aud: Vec<&str> = match &claims["aud"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let matches_aud = |a: &str| audiences.iter().any(|x| x.trim_end_matches('/').eq_ignore_ascii_case(a.trim_end_matches('/')));
    if !aud.iter().any(|a| matches_aud(a)) {
        return Err(invalid_client(
            700023,
            &format!("Client assertion audience claim does not match Realm issuer. Review the documentation at {CERT_CREDENTIALS_DOC} ."),
        ));
    }
    // Seconds since 1970; MSAL.NET writes them as strings ("1764570000"), others as numbers.
    let time = |k: &str| claims[k].as_i64().or_else(|| claims[k].as_f64().map(|f| f as i64)).or_else(|| claims[k].as_str().and_then(|s| s.parse().ok()));
    let (nbf, exp) = (time("nbf").or(time("iat")), time("exp"));
    let t = now.timestamp();
    if exp.is_none_or(|e| e + SKEW_SECONDS < t) || nbf.is_some_and(|n| n - SKEW_SECONDS > t) {
        let show = |v: Option<i64>| {
            v.and_then(|s| chrono::DateTime::from_timestamp(s, 0)).map(|d| d.format("%Y-%m-%dT%H:%M:%S.0000000Z").to_string()).unwrap_or_default()
        };
        return Err(invalid_client(
            700024,
            &format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at {CERT_CREDENTIALS_DOC} .",
                now.format("%Y-%m-%dT%H:%M:%S.0000000Z"),
                show(nbf),
                show(exp)
            ),
        ));
    }
    Ok(())
}

/// A self-signed RSA certificate for tests: PEM certificate, PKCS#8 PEM key, PFX (with
/// `password`), thumbprints and dates.
pub struct Generated {
    pub cert_pem: String,
    pub key_pem: String,
    pub pfx: Vec<u8>,
    pub der: Vec<u8>,
    pub thumbprint: String,
}

/// Generates a certificate named `subject`, valid from `not_before` to `not_after` (seconds
/// since 1970), its key RSA 2048.
pub fn generate(subject: &str, not_before: i64, not_after: i64, password: &str) -> Result<Generated, String> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| err(&e))?;
    let pkcs8 = key.to_pkcs8_der().map_err(|e| err(&e))?;
    let key_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| err(&e))?.to_string();
    let key_pair = rcgen::KeyPair::try_from(pkcs8.as_bytes()).map_err(|e| err(&e))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| err(&e))?;
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, subject);
    params.distinguished_name = name;
    let to_offset = |t: i64| time::OffsetDateTime::from_unix_timestamp(t).map_err(|e| err(&e));
    params.not_before = to_offset(not_before)?;
    params.not_after = to_offset(not_after)?;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key_pair).map_err(|e| err(&e))?;
    let der = cert.der().to_vec();
    let p12_cert = p12_keystore::Certificate::from_der(&der).map_err(|e| err(&e))?;
    let p12_key = p12_keystore::PrivateKey::from_der(pkcs8.as_bytes()).map_err(|e| err(&e))?;
    let local_key_id: Vec<u8> = sha1::Sha1::digest(&der).to_vec();
    let chain = p12_keystore::PrivateKeyChain::new(local_key_id, p12_key, [p12_cert]);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(subject, p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    let pfx = store.writer(password).write().map_err(|e| err(&e))?;
    Ok(Generated { cert_pem: cert.pem(), key_pem, pfx, thumbprint: hex::encode_upper(sha1::Sha1::digest(&der)), der })
}
