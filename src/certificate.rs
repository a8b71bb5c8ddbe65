//! Signing in with a client certificate: the app proves who it is with an RFC 7523 client
//! assertion (a JWT signed RS256 by the certificate's private key), as Azure AD expects for
//! certificate credentials. The JWT's header names the certificate by its thumbprint: `x5t`
//! (base64url SHA-1, what Azure AD documents) and `x5t#S256` (base64url SHA-256, what MSAL now
//! sends too); its claims are `aud` (the token endpoint), `iss` = `sub` = the client id, a fresh
//! `jti`, `nbf`/`iat` now and `exp` ten minutes later.
//!
//! The certificate and its key come from a PEM file (certificate and key, or the key in a second
//! file) or a PFX (PKCS#12) file, or the same bytes given inline (`certificateData`, base64).
//! Everything is read and checked when the client opens, so a missing file, a wrong password, a
//! key that is not RSA, a key that does not belong to the certificate, or an expired certificate
//! is said at once, with what to do. The key stays in memory only (ring's `RsaKeyPair`); the PFX
//! password and the key never reach a log line, an error or a state file.

use std::path::Path;

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::json;
use sha2::Digest;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::config::AuthConfig;
use crate::error::{Error, ErrorKind, Result};

/// RFC 7523's client assertion type.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long an assertion is valid (MSAL: 10 minutes).
pub const ASSERTION_LIFETIME_SECONDS: i64 = 600;

/// Where the certificate comes from (the `auth` keys of kind `clientCertificate`).
pub struct Source<'a> {
    pub certificate_file: Option<&'a Path>,
    pub certificate_data: Option<&'a str>,
    pub private_key_file: Option<&'a Path>,
    pub password: Option<&'a str>,
}

impl<'a> Source<'a> {
    /// The source of an `auth` of kind `clientCertificate`; None for the other kinds.
    pub fn of(auth: &'a AuthConfig) -> Option<Source<'a>> {
        match auth {
            AuthConfig::ClientCertificate { certificate_file, certificate_data, private_key_file, certificate_password, .. } => Some(Source {
                certificate_file: certificate_file.as_deref(),
                certificate_data: certificate_data.as_deref(),
                private_key_file: private_key_file.as_deref(),
                password: certificate_password.as_deref(),
            }),
            _ => None,
        }
    }
}

/// A certificate with its RSA private key, ready to sign client assertions.
pub struct ClientCertificate {
    key: RsaKeyPair,
    /// The certificate, DER.
    der: Vec<u8>,
    sha1: [u8; 20],
    sha256: [u8; 32],
    subject: String,
    not_before: i64,
    not_after: i64,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ClientCertificate").field("subject", &self.subject).field("thumbprint", &self.thumbprint()).finish_non_exhaustive()
    }
}

fn invalid(key: &str, what: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidConfig, format!("configuration key `{key}`: {}", what.into())).with_details(json!({ "path": key }))
}

const CONVERT_HINT: &str =
    "give a PFX file (with its password in `certificatePassword`) or a PEM file holding the certificate and its unencrypted RSA private key";

impl ClientCertificate {
    /// Reads and checks the certificate and key of `source` (see the module comment). Errors are
    /// `InvalidConfig` naming the key to fix, or `Expired` for a certificate out of its validity.
    pub fn load(source: &Source<'_>) -> Result<ClientCertificate> {
        let (bytes, key_name, shown) = match (source.certificate_file, source.certificate_data) {
            (Some(_), Some(_)) => {
                return Err(invalid("auth.certificateData", "give either `certificateFile` or `certificateData`, not both"));
            }
            (None, None) => {
                return Err(invalid("auth.certificateFile", format!("a certificate is required for kind `clientCertificate`: {CONVERT_HINT}")));
            }
            (Some(file), None) => {
                let bytes = std::fs::read(file).map_err(|e| {
                    invalid(
                        "auth.certificateFile",
                        format!("`{}` cannot be read ({e}); give the path of the app's certificate (a .pfx, or a .pem with its key)", file.display()),
                    )
                })?;
                (bytes, "auth.certificateFile", format!("`{}`", file.display()))
            }
            (None, Some(data)) => {
                let text = data.trim();
                let bytes = if text.starts_with("-----BEGIN") {
                    text.as_bytes().to_vec()
                } else {
                    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                    base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| {
                        invalid("auth.certificateData", "the value is neither base64 (of a PFX file) nor PEM text; give the PFX's bytes in base64")
                    })?
                };
                (bytes, "auth.certificateData", "the certificate data".to_owned())
            }
        };
        let certificate = if is_pem(&bytes) {
            let key_pem = match source.private_key_file {
                Some(file) => Some(std::fs::read(file).map_err(|e| {
                    invalid("auth.privateKeyFile", format!("`{}` cannot be read ({e}); give the PEM file of the certificate's private key", file.display()))
                })?),
                None => None,
            };
            from_pem(&bytes, key_pem.as_deref(), key_name, &shown)?
        } else {
            if source.private_key_file.is_some() {
                return Err(invalid("auth.privateKeyFile", "a PFX file holds its own key; leave `privateKeyFile` out (it is for PEM certificates)"));
            }
            from_pfx(&bytes, source.password, key_name, &shown)?
        };
        certificate.check_validity(chrono::Utc::now().timestamp())?;
        Ok(certificate)
    }

    /// The SHA-1 thumbprint in upper-case hex, as Windows and the Azure portal show it.
    pub fn thumbprint(&self) -> String {
        hex::encode_upper(self.sha1)
    }

    /// The SHA-256 thumbprint in upper-case hex.
    pub fn thumbprint_sha256(&self) -> String {
        hex::encode_upper(self.sha256)
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The certificate's end of validity, seconds since 1970.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// The certificate (DER): what Graph's `keyCredentials[].key` takes, base64.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    fn describe(&self) -> String {
        format!("certificate {} ({})", self.thumbprint(), self.subject)
    }

    /// `Expired` when `now` is outside the certificate's validity.
    pub fn check_validity(&self, now: i64) -> Result<()> {
        let date = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default();
        if now > self.not_after {
            return Err(Error::new(
                ErrorKind::Expired,
                format!(
                    "the {} expired on {}; create a new certificate, add it to the app registration (Certificates & secrets, or Register-TenantAttach -Certificate) and configure it here",
                    self.describe(),
                    date(self.not_after)
                ),
            )
            .with_details(json!({ "path": "auth.certificateFile", "thumbprint": self.thumbprint(), "notAfter": date(self.not_after) })));
        }
        if now < self.not_before {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("the {} is not valid before {}; check this machine's clock, or wait until then", self.describe(), date(self.not_before)),
            )
            .with_details(json!({ "path": "auth.certificateFile", "thumbprint": self.thumbprint(), "notBefore": date(self.not_before) })));
        }
        Ok(())
    }

    /// A client assertion for `client_id` addressed to `audience` (the token endpoint URL).
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<String> {
        self.assertion_at(client_id, audience, chrono::Utc::now().timestamp())
    }

    /// [`ClientCertificate::assertion`] as if it were `now` (tests of expired assertions).
    pub fn assertion_at(&self, client_id: &str, audience: &str, now: i64) -> Result<String> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let header = json!({ "alg": "RS256", "typ": "JWT", "x5t": b64(&self.sha1), "x5t#S256": b64(&self.sha256) });
        let claims = json!({
            "aud": audience, "iss": client_id, "sub": client_id, "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now, "iat": now, "exp": now + ASSERTION_LIFETIME_SECONDS,
        });
        let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
            .map_err(|_| Error::internal("signing the client assertion failed"))?;
        Ok(format!("{signing_input}.{}", b64(&signature)))
    }

    /// The form of a client credentials token request signed by this certificate.
    pub fn token_form(&self, client_id: &str, token_url: &str, scope: &str) -> Result<Vec<(&'static str, String)>> {
        // A client that stays open for long may outlive its certificate: say so before Azure AD does.
        self.check_validity(chrono::Utc::now().timestamp())?;
        // Not registered with redact: it is a JWT, which redact hides by its shape, and a new
        // one every sign-in would grow the registry for as long as the process lives.
        let assertion = self.assertion(client_id, token_url)?;
        Ok(vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client_id.to_owned()),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE.to_owned()),
            ("client_assertion", assertion),
            ("scope", scope.to_owned()),
        ])
    }
}

fn is_pem(bytes: &[u8]) -> bool {
    let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let trimmed = start.iter().position(|b| !b.is_ascii_whitespace()).map_or(&[][..], |i| &start[i..]);
    trimmed.starts_with(b"-----BEGIN") || (trimmed.is_ascii() && contains(trimmed, b"-----BEGIN "))
}

fn is_pem_encrypted(bytes: &[u8]) -> bool {
    contains(bytes, b"ENCRYPTED PRIVATE KEY") || contains(bytes, b"Proc-Type: 4,ENCRYPTED")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The private key types this module can tell apart in a PKCS#8 key (by its algorithm OID).
fn pkcs8_algorithm(der: &[u8]) -> &'static str {
    let head = &der[..der.len().min(40)];
    if contains(head, &[0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]) {
        "RSA"
    } else if contains(head, &[0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]) {
        "EC (ECDSA)"
    } else if contains(head, &[0x06, 0x03, 0x2B, 0x65, 0x70]) {
        "Ed25519"
    } else {
        "unknown"
    }
}

fn not_rsa(key_name: &str, what: &str) -> Error {
    invalid(
        key_name,
        format!(
            "the certificate's key is {what}, not RSA; Azure AD signs in apps with RSA certificates only (RS256): create an RSA certificate (2048 bits or more), e.g. New-SelfSignedCertificate -KeyAlgorithm RSA -KeyLength 2048"
        ),
    )
}

fn rsa_key_pkcs8(der: &[u8], key_name: &str) -> Result<RsaKeyPair> {
    match pkcs8_algorithm(der) {
        "RSA" => RsaKeyPair::from_pkcs8(der).map_err(|e| invalid(key_name, format!("the RSA private key cannot be used ({e}); it must be 2048 to 8192 bits"))),
        other if other != "unknown" => Err(not_rsa(key_name, other)),
        _ => Err(invalid(key_name, format!("the private key is not one this library can read; {CONVERT_HINT}"))),
    }
}

fn from_pem(cert_pem: &[u8], key_pem: Option<&[u8]>, key_name: &str, shown: &str) -> Result<ClientCertificate> {
    if is_pem_encrypted(cert_pem) || key_pem.is_some_and(is_pem_encrypted) {
        return Err(invalid(
            key_name,
            "the PEM private key is encrypted, which this library does not read; give a PFX file with its password instead (openssl pkcs12 -export -in cert.pem -inkey key.pem -out cert.pfx)",
        ));
    }
    let mut certs = Vec::new();
    let mut keys = Vec::new();
    for source in [Some(cert_pem), key_pem].into_iter().flatten() {
        for item in rustls_pemfile::read_all(&mut &source[..]) {
            let item = item.map_err(|_| invalid(key_name, format!("{shown} is not a valid PEM file; {CONVERT_HINT}")))?;
            match item {
                rustls_pemfile::Item::X509Certificate(der) => certs.push(der.as_ref().to_vec()),
                rustls_pemfile::Item::Pkcs8Key(k) => keys.push(rsa_key_pkcs8(k.secret_pkcs8_der(), key_name)?),
                rustls_pemfile::Item::Pkcs1Key(k) => keys.push(
                    RsaKeyPair::from_der(k.secret_pkcs1_der())
                        .map_err(|e| invalid(key_name, format!("the RSA private key cannot be used ({e}); it must be 2048 to 8192 bits")))?,
                ),
                rustls_pemfile::Item::Sec1Key(_) => return Err(not_rsa(key_name, "EC (ECDSA)")),
                _ => {}
            }
        }
    }
    if certs.is_empty() {
        return Err(invalid(key_name, format!("{shown} holds no certificate (-----BEGIN CERTIFICATE-----); {CONVERT_HINT}")));
    }
    let key_key = if key_pem.is_some() { "auth.privateKeyFile" } else { key_name };
    let key = match keys.len() {
        0 => {
            return Err(invalid(
                key_key,
                format!("{shown} holds no private key: put the key (-----BEGIN PRIVATE KEY-----) in the same file, give its file as `privateKeyFile`, or use a PFX file"),
            ))
        }
        1 => keys.pop().expect("one key"),
        _ => return Err(invalid(key_key, "more than one private key was found; give exactly one")),
    };
    pair(key, &certs, key_name)
}

fn from_pfx(bytes: &[u8], password: Option<&str>, key_name: &str, shown: &str) -> Result<ClientCertificate> {
    use p12_keystore::error::Error as P12;
    let store = p12_keystore::KeyStore::from_pkcs12(bytes, password.unwrap_or(""), p12_keystore::Pkcs12ImportPolicy::Strict).map_err(|e| match e {
        P12::MacError(_) | P12::UnpadError if password.is_none_or(str::is_empty) => invalid(
            "auth.certificatePassword",
            format!("{shown} is protected by a password; give it as `certificatePassword` (Connect-TenantAttach -CertificatePassword)"),
        ),
        P12::MacError(_) | P12::UnpadError => {
            invalid("auth.certificatePassword", format!("the password does not open {shown}; give the password the PFX file was exported with"))
        }
        P12::DerError(_) | P12::InvalidVersion | P12::InvalidData | P12::InvalidLength => {
            invalid(key_name, format!("{shown} is neither a PFX (PKCS#12) nor a PEM file; {CONVERT_HINT}"))
        }
        other => invalid(key_name, format!("{shown} cannot be read as a PFX file ({other}); {CONVERT_HINT}")),
    })?;
    let Some((_, chain)) = store.private_key_chain() else {
        return Err(invalid(key_name, format!("{shown} holds no private key (it was exported without it); export the certificate with its private key")));
    };
    let key = rsa_key_pkcs8(chain.key().as_der(), key_name)?;
    let certs: Vec<Vec<u8>> = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
    pair(key, &certs, key_name)
}

/// The certificate among `certs` that belongs to `key` (the leaf; the others are its chain).
fn pair(key: RsaKeyPair, certs: &[Vec<u8>], key_name: &str) -> Result<ClientCertificate> {
    let mut first_error = None;
    for der in certs {
        let (_, cert) = X509Certificate::from_der(der).map_err(|_| invalid(key_name, "a certificate in the file cannot be read (not X.509 DER)"))?;
        let spki = cert.public_key();
        match spki.parsed() {
            Ok(PublicKey::RSA(_)) => {}
            Ok(_) => {
                first_error.get_or_insert_with(|| not_rsa(key_name, "not RSA"));
                continue;
            }
            Err(_) => continue,
        }
        if spki.subject_public_key.data.as_ref() != key.public().as_ref() {
            first_error.get_or_insert_with(|| {
                invalid(
                    key_name,
                    format!(
                        "the private key does not belong to the certificate {} ({}); give the key that was created with this certificate (a PFX exported with its private key holds both)",
                        hex::encode_upper(sha1::Sha1::digest(der)),
                        cert.subject()
                    ),
                )
            });
            continue;
        }
        return Ok(ClientCertificate {
            sha1: sha1::Sha1::digest(der).into(),
            sha256: sha2::Sha256::digest(der).into(),
            subject: cert.subject().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            key,
            der: der.clone(),
        });
    }
    Err(first_error.unwrap_or_else(|| invalid(key_name, format!("no RSA certificate was found; {CONVERT_HINT}"))))
}

/// Checks the certificate settings of `auth` (used by configuration validation).
pub fn check(auth: &AuthConfig) -> Result<()> {
    if let Some(source) = Source::of(auth) {
        ClientCertificate::load(&source)?;
    }
    Ok(())
}

/// The certificate to add to the app onboarding creates (`ta_client_register`'s `certificate`
/// option, `Register-TenantAttach -CertificatePath`): the same keys as `auth` of kind
/// `clientCertificate`. The key is read too, so that only a certificate the site can sign in with
/// is registered.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateOption {
    /// A PFX (PKCS#12) or PEM file holding the certificate (and its key, unless `privateKeyFile`).
    #[serde(default)]
    pub certificate_file: Option<std::path::PathBuf>,
    /// The same as base64 (a PFX) or PEM text, instead of a file.
    #[serde(default)]
    pub certificate_data: Option<String>,
    /// The PFX's password (a secret: never logged or stored).
    #[serde(default)]
    pub certificate_password: Option<String>,
    /// A PEM file holding the RSA private key, when the certificate file has none.
    #[serde(default)]
    pub private_key_file: Option<std::path::PathBuf>,
}

impl CertificateOption {
    pub fn load(&self) -> Result<ClientCertificate> {
        for secret in [&self.certificate_password, &self.certificate_data].into_iter().flatten() {
            crate::redact::register_secret(secret);
        }
        ClientCertificate::load(&Source {
            certificate_file: self.certificate_file.as_deref(),
            certificate_data: self.certificate_data.as_deref(),
            private_key_file: self.private_key_file.as_deref(),
            password: self.certificate_password.as_deref(),
        })
        .map_err(|mut e| {
            // The same checks as for `auth`, about the onboarding option.
            e.message = e.message.replace("configuration key `auth.", "option `certificate.");
            if let Some(d) = e.details.as_mut() {
                if let Some(path) = d["path"].as_str().map(|p| p.replace("auth.", "certificate.")) {
                    d["path"] = json!(path);
                }
            }
            e.kind = if e.kind == ErrorKind::InvalidConfig { ErrorKind::InvalidArgument } else { e.kind };
            e
        })
    }
}

/// Adds `certificate` to the certificates of the app whose object id is `object_id`, as Graph
/// takes it (`PATCH /applications/{id}` with the whole `keyCredentials` collection: the existing
/// ones by `keyId`, the new one with its `key`); nothing when the app has it already. The result:
/// `{"certificateThumbprint","certificateKeyId","certificateExpiry"}`.
pub fn add_to_app(
    services: &crate::services::Services,
    object_id: &str,
    certificate: &ClientCertificate,
    cancelled: crate::http::Cancelled<'_>,
) -> Result<serde_json::Value> {
    let path = format!("/v1.0/applications/{object_id}");
    let app = services.graph("GET", &path, None, "reading the app's certificates", cancelled)?;
    let thumbprint = base64::engine::general_purpose::STANDARD.encode(certificate.sha1);
    let existing: Vec<&serde_json::Value> = app["keyCredentials"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    let expiry = chrono::DateTime::from_timestamp(certificate.not_after, 0).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default();
    if let Some(found) = existing.iter().find(|k| k["customKeyIdentifier"].as_str() == Some(thumbprint.as_str())) {
        return Ok(json!({ "certificateThumbprint": certificate.thumbprint(), "certificateKeyId": found["keyId"], "certificateExpiry": expiry }));
    }
    let key_id = uuid::Uuid::new_v4().to_string();
    let mut keys: Vec<serde_json::Value> = existing.iter().map(|k| json!({ "keyId": k["keyId"] })).collect();
    keys.push(json!({
        "keyId": key_id, "type": "AsymmetricX509Cert", "usage": "Verify", "displayName": format!("CN={}", certificate.subject.trim_start_matches("CN=")),
        "key": base64::engine::general_purpose::STANDARD.encode(&certificate.der),
    }));
    services.graph("PATCH", &path, Some(&json!({ "keyCredentials": keys })), "adding the certificate to the app", cancelled)?;
    Ok(json!({ "certificateThumbprint": certificate.thumbprint(), "certificateKeyId": key_id, "certificateExpiry": expiry }))
}
