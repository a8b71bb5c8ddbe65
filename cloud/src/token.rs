//! Signed tokens as Azure AD issues them: RS256 JWTs with a `kid` published in the JWKS. Access
//! tokens are v1.0 (`ver` 1.0, `iss` `https://sts.windows.net/{tid}/`, `appid`), delegated (`scp`,
//! `wids`, `upn`) or application (`roles`, `idtyp: app`); id tokens are v2.0.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

pub struct Issuer {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwks: Value,
    /// Tokens already verified (signature checks are the costliest part of a request): token →
    /// claims. Expiry and audience are still checked on every use; bounded in size.
    verified: std::sync::Mutex<std::collections::HashMap<String, Value>>,
}

const VERIFIED_CACHE: usize = 1024;

/// Token lifetime (Azure AD's default is 60-90 minutes).
pub const LIFETIME_SECONDS: i64 = 3600;

impl Issuer {
    pub fn new(key: &rsa::RsaPrivateKey) -> std::io::Result<Issuer> {
        use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
        let err = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
        let pem = key.to_pkcs1_pem(LineEnding::LF).map_err(|e| err(&e))?;
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| err(&e))?;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let n = b64.encode(key.n().to_bytes_be());
        let e = b64.encode(key.e().to_bytes_be());
        let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(|e| err(&e))?;
        use sha2::Digest;
        let kid = b64.encode(&sha2::Sha256::digest(n.as_bytes())[..20]);
        let jwks = json!({ "keys": [{ "kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": n, "e": e, "alg": "RS256" }] });
        Ok(Issuer { kid, encoding, decoding, jwks, verified: Default::default() })
    }

    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Signs `claims`, adding `iat`, `nbf`, `exp`, and `ver` 2.0 unless the claims name their version
    /// (access tokens are 1.0, as Azure AD issues Graph's; id tokens 2.0).
    pub fn issue(&self, mut claims: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        claims["iat"] = json!(now);
        claims["nbf"] = json!(now);
        if claims.get("exp").is_none() {
            claims["exp"] = json!(now + LIFETIME_SECONDS);
        }
        if claims.get("ver").is_none() {
            claims["ver"] = json!("2.0");
        }
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        // Signing a JSON object with a valid key cannot fail.
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_default()
    }

    /// Checks signature, expiry and audience; returns the claims or why the token is refused.
    pub fn verify(&self, token: &str, audience: &str) -> Result<Value, String> {
        let cached = self.verified.lock().unwrap_or_else(|e| e.into_inner()).get(token).cloned();
        if let Some(claims) = cached {
            let fresh = claims["exp"].as_i64().is_some_and(|exp| exp + 30 > chrono::Utc::now().timestamp());
            let aud = claims["aud"].as_str().unwrap_or("");
            if fresh && (aud == audience || aud == audience.trim_end_matches('/')) {
                return Ok(claims);
            }
        }
        let claims = self.verify_signature(token, audience)?;
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= VERIFIED_CACHE {
            cache.clear();
        }
        cache.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    fn verify_signature(&self, token: &str, audience: &str) -> Result<Value, String> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[audience, audience.trim_end_matches('/')]);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "aud"]);
        match jsonwebtoken::decode::<Value>(token, &self.decoding, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the access token has expired".to_owned(),
                jsonwebtoken::errors::ErrorKind::InvalidAudience => format!("the access token is not for this resource (audience must be {audience})"),
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "the access token's signature is invalid".to_owned(),
                _ => format!("the access token is invalid ({e})"),
            }),
        }
    }
}
