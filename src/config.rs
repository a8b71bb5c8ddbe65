//! Client configuration: the JSON given to `ta_client_open`.
//!
//! Keys are camelCase, as in Microsoft's own JSON. Unknown keys are rejected by name so that a typo
//! (`tenantID`, `logdir`) is never silently ignored. See docs/CONFIGURATION.md for every key.
//!
//! [`Config::from_json`] is the one way in: it parses, registers the secrets it finds with
//! `redact` before anything can echo them, and validates (see `config/validate.rs`).

mod parse;
mod proxy;
mod validate;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use validate::is_loopback;

/// The only cloud tenant attach supports.
pub const SUPPORTED_CLOUD: &str = "AzurePublicCloud";

/// Default CMTrace log size before rollover to `.lo_` (ConfigMgr's own default).
pub const DEFAULT_LOG_MAX_BYTES: u64 = 2_621_440;

/// Default upload cadence (ConfigMgr's CMGatewaySyncUploadWorker runs every 15 minutes).
pub const DEFAULT_SYNC_INTERVAL_MINUTES: u32 = 15;

/// Resource (audience) identifiers. These are fixed names, independent of the host that serves them,
/// exactly as real Azure AD resource ids are: a token for Graph has `aud` = `GRAPH_RESOURCE` whether
/// Graph is `graph.microsoft.com` or the local stand-in on 127.0.0.1.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
pub const GATEWAY_RESOURCE: &str = "https://gateway.configmgr.manage.microsoft.com";

/// Default endpoints: the real Microsoft hosts.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH: &str = "https://graph.microsoft.com";
pub const DEFAULT_GATEWAY: &str = "https://gateway.configmgr.manage.microsoft.com";
pub const DEFAULT_GATEWAY_US: &str = "https://us.gateway.configmgr.manage.microsoft.com";
pub const DEFAULT_GATEWAY_EU: &str = "https://eu.gateway.configmgr.manage.microsoft.com";
pub const DEFAULT_AKA: &str = "https://aka.ms/configmgrgateway";

/// What a configuration shows in place of a secret (`ta_client_config_json`, logs).
pub const REDACTED: &str = "***";

/// The client configuration: `ta_client_open`'s input, and (defaults filled in, every secret shown
/// as `***`) `ta_client_config_json`'s output. Keys are described in docs/CONFIGURATION.md.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Must be `AzurePublicCloud` (the default). Anything else is `UnsupportedCloud`.
    #[serde(default = "default_cloud")]
    pub cloud: String,
    /// Azure AD tenant: a GUID or a verified domain (`contoso.onmicrosoft.com`).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// ConfigMgr site code of the top-level site, three alphanumeric characters (`PS1`).
    #[serde(default)]
    pub site_code: Option<String>,
    /// ConfigMgr hierarchy id (a GUID).
    #[serde(default)]
    pub hierarchy_id: Option<String>,
    #[serde(default)]
    pub endpoints: Endpoints,
    /// HTTP(S) proxy URL, `http://proxy.contoso.com:8080`.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Extra trusted CA certificate(s), PEM file, added to the public web roots (never replacing
    /// certificate checks): the local cloud's CA, or an enterprise TLS-inspecting proxy's CA.
    #[serde(default)]
    pub trusted_ca_file: Option<PathBuf>,
    /// Folder for the sync state (created if missing).
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Folder for the CMTrace logs (created if missing). No logs are written when absent.
    #[serde(default)]
    pub log_dir: Option<PathBuf>,
    /// Size of a CMTrace log before it rolls over to `.lo_`.
    #[serde(default = "default_log_max_bytes")]
    pub log_max_bytes: u64,
    /// Upload cadence, for the next run time (ConfigMgr uploads every 15 minutes).
    #[serde(default = "default_sync_interval")]
    pub sync_interval_minutes: u32,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Which user discoveries must have found the user who starts a device action: `both` (Azure AD
    /// and AD user discovery, ConfigMgr 2002's rule, the default) or `either` (ConfigMgr 2103 and later).
    #[serde(default)]
    pub user_discovery: crate::actions::DiscoveryRule,
    /// How the library signs in. Absent: operations that need a token fail with a clear error.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
}

/// Endpoint overrides. Absent: the real Microsoft hosts.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Endpoints {
    /// Azure AD authority host, default `https://login.microsoftonline.com`.
    #[serde(default)]
    pub authority: Option<String>,
    /// Microsoft Graph, default `https://graph.microsoft.com`.
    #[serde(default)]
    pub graph: Option<String>,
    /// ConfigMgr gateway, default `https://gateway.configmgr.manage.microsoft.com`.
    #[serde(default)]
    pub gateway: Option<String>,
    /// The US regional gateway, checked by the endpoint test.
    #[serde(default)]
    pub gateway_us: Option<String>,
    /// The EU regional gateway, checked by the endpoint test.
    #[serde(default)]
    pub gateway_eu: Option<String>,
    /// `https://aka.ms/configmgrgateway`.
    #[serde(default)]
    pub aka: Option<String>,
}

/// Network timeouts and the retry budget.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Timeouts {
    /// TCP + TLS connect timeout.
    #[serde(default = "default_connect_ms")]
    pub connect_ms: u64,
    /// Whole-request timeout (one attempt).
    #[serde(default = "default_request_ms")]
    pub request_ms: u64,
    /// Upper bound on the time spent retrying one logical call (429/5xx/connection faults).
    #[serde(default = "default_retry_budget_ms")]
    pub retry_budget_ms: u64,
    /// Maximum attempts for one logical call.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: default_connect_ms(),
            request_ms: default_request_ms(),
            retry_budget_ms: default_retry_budget_ms(),
            max_attempts: default_max_attempts(),
        }
    }
}

/// Sign-in method.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum AuthConfig {
    /// Client credentials with a client secret (runbooks, services).
    #[serde(rename_all = "camelCase")]
    ClientSecret { client_id: String, client_secret: String },
    /// Device code flow for a person (the admin signing in to onboard).
    #[serde(rename_all = "camelCase")]
    DeviceCode {
        /// Public client id; default: a well-known Microsoft public client.
        #[serde(default)]
        client_id: Option<String>,
    },
    /// A token the caller already has.
    #[serde(rename_all = "camelCase")]
    AccessToken { access_token: String },
    /// Client credentials with a certificate: an RFC 7523 client assertion signed by its key
    /// (see `certificate.rs`). The certificate comes from `certificate_file` or, inline,
    /// `certificate_data`.
    #[serde(rename_all = "camelCase")]
    ClientCertificate {
        client_id: String,
        /// A PFX (PKCS#12) file, or a PEM file with the certificate (and its key, unless `private_key_file`).
        #[serde(default)]
        certificate_file: Option<PathBuf>,
        /// The same bytes inline: a PFX in base64, or PEM text. A secret (it holds the key).
        #[serde(default)]
        certificate_data: Option<String>,
        /// The private key of a PEM certificate, when not in `certificate_file`.
        #[serde(default)]
        private_key_file: Option<PathBuf>,
        /// The PFX password. A secret.
        #[serde(default)]
        certificate_password: Option<String>,
    },
}

fn default_cloud() -> String {
    SUPPORTED_CLOUD.to_string()
}
fn default_log_max_bytes() -> u64 {
    DEFAULT_LOG_MAX_BYTES
}
fn default_sync_interval() -> u32 {
    DEFAULT_SYNC_INTERVAL_MINUTES
}
fn default_connect_ms() -> u64 {
    10_000
}
fn default_request_ms() -> u64 {
    60_000
}
fn default_retry_budget_ms() -> u64 {
    120_000
}
fn default_max_attempts() -> u32 {
    6
}

impl Config {
    /// Parses and validates the configuration JSON given to `ta_client_open`.
    ///
    /// Errors: malformed JSON → `InvalidJson` (with line and column); a wrong type or an unknown key →
    /// `InvalidConfig` naming the key path (and, for an unknown key, the accepted ones); a cloud other
    /// than `AzurePublicCloud` → `UnsupportedCloud`; a value that is not acceptable → `InvalidConfig`
    /// saying what is expected. Secrets in the text are registered with `redact` first, so no error
    /// or log line can show them.
    pub fn from_json(text: &str) -> crate::Result<Config> {
        let config = parse::parse(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value (see docs/CONFIGURATION.md). `from_json` calls this; call it again after
    /// changing a `Config` built in Rust.
    pub fn validate(&self) -> crate::Result<()> {
        validate::validate(self)
    }

    /// Every secret this configuration holds (client secret, access token, certificate data and
    /// password, proxy password: every reading of it, as the transport sends it and percent-decoded).
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = Vec::new();
        match &self.auth {
            Some(AuthConfig::ClientSecret { client_secret, .. }) => secrets.push(client_secret.clone()),
            Some(AuthConfig::AccessToken { access_token }) => secrets.push(access_token.clone()),
            Some(AuthConfig::ClientCertificate { certificate_data, certificate_password, .. }) => {
                secrets.extend(certificate_data.iter().chain(certificate_password).filter(|s| !s.is_empty()).cloned());
            }
            Some(AuthConfig::DeviceCode { .. }) | None => {}
        }
        secrets.extend(self.proxy.as_deref().map(proxy::passwords).unwrap_or_default());
        secrets
    }

    /// The effective configuration (defaults filled in) as JSON, every secret replaced by `"***"`.
    pub fn to_redacted_json(&self) -> serde_json::Value {
        let mut shown = self.clone();
        match &mut shown.auth {
            Some(AuthConfig::ClientSecret { client_secret, .. }) => *client_secret = REDACTED.to_owned(),
            Some(AuthConfig::AccessToken { access_token }) => *access_token = REDACTED.to_owned(),
            Some(AuthConfig::ClientCertificate { certificate_data, certificate_password, .. }) => {
                for secret in [certificate_data, certificate_password].into_iter().flatten() {
                    *secret = REDACTED.to_owned();
                }
            }
            Some(AuthConfig::DeviceCode { .. }) | None => {}
        }
        shown.proxy = shown.proxy.as_deref().map(|raw| proxy::redact(raw, REDACTED));
        let effective = &self.endpoints;
        shown.endpoints = Endpoints {
            authority: Some(effective.authority_url().to_owned()),
            graph: Some(effective.graph_url().to_owned()),
            gateway: Some(effective.gateway_url().to_owned()),
            gateway_us: Some(effective.gateway_us_url().to_owned()),
            gateway_eu: Some(effective.gateway_eu_url().to_owned()),
            aka: Some(effective.aka_url().to_owned()),
        };
        // A struct of strings, numbers and paths always serialises; Null would only hide a bug.
        serde_json::to_value(&shown).unwrap_or(serde_json::Value::Null)
    }
}

impl Endpoints {
    pub fn authority_url(&self) -> &str {
        self.authority.as_deref().unwrap_or(DEFAULT_AUTHORITY)
    }
    pub fn graph_url(&self) -> &str {
        self.graph.as_deref().unwrap_or(DEFAULT_GRAPH)
    }
    pub fn gateway_url(&self) -> &str {
        self.gateway.as_deref().unwrap_or(DEFAULT_GATEWAY)
    }
    pub fn gateway_us_url(&self) -> &str {
        self.gateway_us.as_deref().unwrap_or(DEFAULT_GATEWAY_US)
    }
    pub fn gateway_eu_url(&self) -> &str {
        self.gateway_eu.as_deref().unwrap_or(DEFAULT_GATEWAY_EU)
    }
    pub fn aka_url(&self) -> &str {
        self.aka.as_deref().unwrap_or(DEFAULT_AKA)
    }

    /// `(config key, effective URL)` of every endpoint, for validation and the endpoint check.
    pub fn all(&self) -> [(&'static str, &str); 6] {
        [
            ("endpoints.authority", self.authority_url()),
            ("endpoints.graph", self.graph_url()),
            ("endpoints.gateway", self.gateway_url()),
            ("endpoints.gatewayUs", self.gateway_us_url()),
            ("endpoints.gatewayEu", self.gateway_eu_url()),
            ("endpoints.aka", self.aka_url()),
        ]
    }
}
