//! HTTPS material kept in the data dir: a private CA (whose certificate clients are told to trust),
//! a server certificate for localhost/127.0.0.1 it signed, and the RSA key that signs tokens.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose};

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
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(io)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "tenant-attach-cloud local CA");
        name.push(DnType::OrganizationName, "tenant-attach (local stand-in, not Microsoft)");
        ca_params.distinguished_name = name;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let ca_key = KeyPair::generate().map_err(io)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(io)?;

        let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).map_err(io)?;
        let mut leaf_name = DistinguishedName::new();
        leaf_name.push(DnType::CommonName, "localhost");
        leaf.distinguished_name = leaf_name;
        leaf.not_after = rcgen::date_time_ymd(2035, 1, 1);
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
