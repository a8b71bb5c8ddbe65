//! HTTPS material kept in the data dir: a private CA (whose certificate clients are told to trust),
//! a server certificate for localhost/127.0.0.1 it signed, and the RSA key that signs tokens.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

pub struct TlsFiles {
    pub ca_file: PathBuf,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// The CA and server certificate of `dir`, created on first start.
pub fn ensure(dir: &Path) -> std::io::Result<TlsFiles> {
    let ca_file = dir.join("ca.pem");
    let cert_file = dir.join("server.pem");
    let key_file = dir.join("server.key");
    if !(ca_file.is_file() && cert_file.is_file() && key_file.is_file()) {
        // Midnight UTC, `days` from today.
        let time_from_now = |days: i64| {
            use chrono::Datelike;
            let date = (chrono::Utc::now() + chrono::Duration::days(days)).date_naive();
            rcgen::date_time_ymd(date.year(), date.month() as u8, date.day() as u8)
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(io)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "tenant-attach-cloud local CA");
        name.push(DnType::OrganizationName, "tenant-attach (local stand-in, not Microsoft)");
        ca_params.distinguished_name = name;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let yesterday = time_from_now(-1);
        ca_params.not_before = yesterday;
        ca_params.not_after = time_from_now(3650);
        let ca_key = KeyPair::generate().map_err(io)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(io)?;

        let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).map_err(io)?;
        let mut leaf_name = DistinguishedName::new();
        leaf_name.push(DnType::CommonName, "localhost");
        leaf.distinguished_name = leaf_name;
        // What strict verifiers (OpenSSL's X509_STRICT, Python 3.13's default) ask of a leaf.
        leaf.use_authority_key_identifier_extension = true;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.not_before = yesterday;
        leaf.not_after = time_from_now(3000);
        let leaf_key = KeyPair::generate().map_err(io)?;
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).map_err(io)?;

        write_private(&key_file, leaf_key.serialize_pem().as_bytes())?;
        std::fs::write(&cert_file, format!("{}{}", leaf_cert.pem(), ca_cert.pem()))?;
        std::fs::write(&ca_file, ca_cert.pem())?;
    }
    Ok(TlsFiles { ca_file, cert_pem: std::fs::read(&cert_file)?, key_pem: std::fs::read(&key_file)? })
}

/// The RSA key that signs tokens (PKCS#8 PEM), created on first start.
pub fn signing_key(dir: &Path) -> std::io::Result<rsa::RsaPrivateKey> {
    use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
    let path = dir.join("token-signing.key");
    if let Ok(pem) = std::fs::read_to_string(&path) {
        return rsa::RsaPrivateKey::from_pkcs8_pem(&pem).map_err(io);
    }
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(io)?;
    let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(io)?;
    write_private(&path, pem.as_bytes())?;
    Ok(key)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&temp, path)
}
