//! Checks of every configuration value, each failing with a message that says what is expected.

use std::net::IpAddr;
use std::path::Path;

use url::{Host, Url};

use super::proxy::{self, PROXY_SCHEMES};
use super::{AuthConfig, Config, SUPPORTED_CLOUD};
use crate::error::{Error, ErrorKind, Result};

pub(super) fn validate(config: &Config) -> Result<()> {
    // The cloud first: asking for Azure Government deserves that answer, not a complaint about
    // some other key.
    check_cloud(&config.cloud)?;
    if let Some(tenant) = &config.tenant_id {
        check_tenant(tenant)?;
    }
    if let Some(site) = &config.site_code {
        check_site_code(site)?;
    }
    if let Some(hierarchy) = &config.hierarchy_id {
        if !is_guid(hierarchy) {
            return Err(invalid("hierarchyId", format!("`{hierarchy}` is not a GUID; use the hierarchy ID shown in the ConfigMgr console (Hierarchy Settings), e.g. 5bc3e7d2-5d6c-4a2f-9f1e-0a2b3c4d5e6f")));
        }
    }
    for (key, url) in config.endpoints.all() {
        check_endpoint(key, url)?;
    }
    if let Some(proxy) = &config.proxy {
        check_proxy(proxy)?;
    }
    if let Some(file) = &config.trusted_ca_file {
        check_ca_file(file)?;
    }
    for (key, dir) in [("stateDir", &config.state_dir), ("logDir", &config.log_dir)] {
        if dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return Err(invalid(key, "the value is empty; give a folder path or leave the key out".to_owned()));
        }
    }
    check_numbers(config)?;
    if let Some(auth) = &config.auth {
        check_auth(auth)?;
    }
    Ok(())
}

/// Whether `url`'s host is this machine: 127.0.0.0/8, ::1 or `localhost`. Only such hosts may be
/// reached over plain `http://`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn invalid(key: &str, what: String) -> Error {
    Error::new(ErrorKind::InvalidConfig, format!("configuration key `{key}`: {what}")).with_details(serde_json::json!({ "path": key }))
}

fn check_cloud(cloud: &str) -> Result<()> {
    if cloud == SUPPORTED_CLOUD {
        return Ok(());
    }
    let government = if cloud.to_ascii_lowercase().contains("gov") { " Azure Government (GCC High, DoD) is not supported by tenant attach." } else { "" };
    Err(Error::new(
        ErrorKind::UnsupportedCloud,
        format!("cloud `{cloud}` is not supported: tenant attach works only with `{SUPPORTED_CLOUD}`.{government} Set \"cloud\" to \"{SUPPORTED_CLOUD}\" or leave it out."),
    )
    .with_details(serde_json::json!({ "path": "cloud", "supported": [SUPPORTED_CLOUD] })))
}

fn check_tenant(tenant: &str) -> Result<()> {
    if is_guid(tenant) || is_domain(tenant) {
        return Ok(());
    }
    Err(invalid(
        "tenantId",
        format!("`{tenant}` is neither a GUID nor a domain name; use the Azure AD tenant ID (a GUID) or a verified domain such as contoso.onmicrosoft.com"),
    ))
}

fn check_site_code(site: &str) -> Result<()> {
    if site.len() == 3 && site.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(());
    }
    Err(invalid("siteCode", format!("`{site}` is not a site code; use the three letters or digits of the top-level site, e.g. PS1")))
}

/// A GUID in its usual 8-4-4-4-12 form.
fn is_guid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

/// A DNS name with at least two labels and an alphabetic top-level label (`contoso.onmicrosoft.com`).
fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    let label_ok =
        |l: &&str| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !l.starts_with('-') && !l.ends_with('-');
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

fn check_endpoint(key: &str, raw: &str) -> Result<()> {
    let url = Url::parse(raw).map_err(|e| invalid(key, format!("`{raw}` is not an absolute URL ({e}); e.g. https://graph.microsoft.com")))?;
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: the URL holds credentials.
        return Err(invalid(key, "the URL contains credentials; endpoints take none (sign-in is configured under `auth`)".to_owned()));
    }
    if url.host().is_none() {
        return Err(invalid(key, format!("`{raw}` has no host")));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(invalid(
            key,
            format!(
                "`{raw}` uses plain http:// to a host that is not this machine; use https:// (plain http is allowed only for 127.0.0.0/8, ::1 and localhost)"
            ),
        )),
        other => Err(invalid(key, format!("`{raw}` has scheme `{other}`; use https://"))),
    }
}

fn check_proxy(raw: &str) -> Result<()> {
    // Never echo the proxy URL itself: it may carry a password.
    let url = Url::parse(raw).map_err(|e| invalid("proxy", format!("the value is not a URL ({e}); e.g. http://proxy.contoso.com:8080")))?;
    if !PROXY_SCHEMES.contains(&url.scheme()) {
        return Err(invalid(
            "proxy",
            format!(
                "the proxy URL has scheme `{}`; use http:// (an HTTP proxy; HTTPS traffic is tunnelled through it and stays encrypted end to end) or socks5://",
                url.scheme()
            ),
        ));
    }
    // Only the form that url::Url, ureq (the transport) and redaction all read alike
    // (config/proxy.rs): anything else could hide one password and send another.
    proxy::parse(raw).map(|_| ()).map_err(|what| invalid("proxy", what))
}

fn check_ca_file(file: &Path) -> Result<()> {
    let shown = file.display();
    let bytes = std::fs::read(file)
        .map_err(|e| invalid("trustedCaFile", format!("`{shown}` cannot be read ({e}); give the path of a PEM file with the CA certificate")))?;
    let mut count = 0usize;
    for item in rustls_pemfile::certs(&mut bytes.as_slice()) {
        item.map_err(|e| invalid("trustedCaFile", format!("`{shown}` is not a valid PEM file ({e})")))?;
        count += 1;
    }
    if count == 0 {
        return Err(invalid(
            "trustedCaFile",
            format!("`{shown}` contains no PEM certificate (-----BEGIN CERTIFICATE-----); give the CA certificate in PEM form"),
        ));
    }
    Ok(())
}

fn check_numbers(config: &Config) -> Result<()> {
    let t = &config.timeouts;
    let positive = [
        ("timeouts.connectMs", t.connect_ms),
        ("timeouts.requestMs", t.request_ms),
        ("timeouts.retryBudgetMs", t.retry_budget_ms),
        ("timeouts.maxAttempts", u64::from(t.max_attempts)),
        ("syncIntervalMinutes", u64::from(config.sync_interval_minutes)),
    ];
    for (key, value) in positive {
        if value == 0 {
            return Err(invalid(key, "the value is 0; it must be at least 1 (leave the key out for the default)".to_owned()));
        }
    }
    // Below a few lines' worth every entry would roll the log over.
    const MIN_LOG_BYTES: u64 = 4096;
    if config.log_max_bytes < MIN_LOG_BYTES {
        return Err(invalid("logMaxBytes", format!("the value is {}; it must be at least {MIN_LOG_BYTES} (default 2621440)", config.log_max_bytes)));
    }
    Ok(())
}

fn check_auth(auth: &AuthConfig) -> Result<()> {
    match auth {
        AuthConfig::ClientSecret { client_id, client_secret } => {
            check_client_id("auth.clientId", client_id)?;
            if client_secret.trim().is_empty() {
                return Err(invalid("auth.clientSecret", "the value is empty; give the secret of the app registration (Certificates & secrets)".to_owned()));
            }
        }
        AuthConfig::DeviceCode { client_id } => {
            if let Some(id) = client_id {
                check_client_id("auth.clientId", id)?;
            }
        }
        AuthConfig::AccessToken { access_token } => {
            if access_token.trim().is_empty() {
                return Err(invalid("auth.accessToken", "the value is empty; give an access token, or use another auth kind".to_owned()));
            }
        }
        AuthConfig::ClientCertificate { client_id, .. } => {
            check_client_id("auth.clientId", client_id)?;
            // Reads the certificate and its key now, so that a bad file is said when the client opens.
            crate::certificate::check(auth)?;
        }
    }
    Ok(())
}

fn check_client_id(key: &str, id: &str) -> Result<()> {
    if is_guid(id) {
        return Ok(());
    }
    Err(invalid(key, format!("`{id}` is not a GUID; use the Application (client) ID of the app registration")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in ["http://127.0.0.1:8080", "http://127.3.4.5", "http://[::1]:1", "http://localhost:9", "http://LOCALHOST"] {
            assert!(is_loopback(&Url::parse(ok).unwrap()), "{ok}");
        }
        for not in ["http://128.0.0.1", "http://localhost.contoso.com", "http://[::2]", "http://10.0.0.1", "http://0.0.0.0"] {
            assert!(!is_loopback(&Url::parse(not).unwrap()), "{not}");
        }
    }

    #[test]
    fn domains_and_guids() {
        assert!(is_domain("contoso.onmicrosoft.com"));
        assert!(is_domain("contoso.com"));
        assert!(!is_domain("contoso"));
        assert!(!is_domain("-bad.com"));
        assert!(!is_domain("contoso.c0m"));
        assert!(!is_domain("con toso.com"));
        assert!(is_guid("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        assert!(!is_guid("72f988bf86f141af91ab2d7cd011db47"));
        assert!(!is_guid("not-a-guid"));
    }
}
