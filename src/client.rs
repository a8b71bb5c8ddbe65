//! The core client: a validated configuration and the client log, shared by every operation.
//!
//! `Client` is `Send + Sync` and all its methods take `&self`, so one client may serve many threads
//! at once (the C handle `ta_client` relies on this).

use std::path::Path;

use crate::config::{AuthConfig, Config};
use crate::cmtrace::Logger;
use crate::redact;
use crate::error::{Error, Result};

/// The client log, named as ConfigMgr names the component's log.
pub const CLIENT_LOG: &str = "TenantAttach.log";
const CLIENT_COMPONENT: &str = "TenantAttach";

pub struct Client {
    config: Config,
    logger: Option<Logger>,
}

// A `ta_client` may be used from several threads at once: this fails to compile if a field ever
// stops being Send + Sync.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
};

impl Client {
    /// Opens a client from configuration JSON (see docs/CONFIGURATION.md).
    pub fn open_json(config_json: &str) -> Result<Client> {
        // from_json registered the secrets and validated.
        Client::start(Config::from_json(config_json)?)
    }

    /// Opens a client: registers the configuration's secrets for redaction, creates the state and
    /// log folders when missing, opens `TenantAttach.log` (when `logDir` is set) and logs the
    /// effective configuration with its secrets hidden.
    pub fn open(config: Config) -> Result<Client> {
        // Before anything else can print them: a Config built in Rust never went through from_json.
        for secret in config.secrets() {
            redact::register_secret(secret);
        }
        config.validate()?;
        Client::start(config)
    }

    /// Opens a client from a configuration whose secrets are registered and that is validated.
    fn start(config: Config) -> Result<Client> {
        if let Some(dir) = &config.state_dir {
            create_dir("stateDir", dir)?;
        }
        let logger = match &config.log_dir {
            Some(dir) => {
                create_dir("logDir", dir)?;
                Some(Logger::open(
                    dir,
                    CLIENT_LOG,
                    CLIENT_COMPONENT,
                    config.log_max_bytes,
                )?)
            }
            None => None,
        };
        let client = Client { config, logger };
        client.log_opened();
        Ok(client)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The effective configuration as JSON, secrets replaced by `"***"`.
    pub fn config_json_redacted(&self) -> String {
        let json = self.config.to_redacted_json().to_string();
        redact::scrub(&json).into_owned()
    }

    /// The client log (`TenantAttach.log`), when `logDir` is configured.
    pub fn logger(&self) -> Option<&Logger> {
        self.logger.as_ref()
    }

    fn log_opened(&self) {
        let Some(logger) = &self.logger else { return };
        let c = &self.config;
        let auth = match &c.auth {
            Some(AuthConfig::ClientSecret { .. }) => "clientSecret",
            Some(AuthConfig::DeviceCode { .. }) => "deviceCode",
            Some(AuthConfig::AccessToken { .. }) => "accessToken",
            None => "none",
        };
        logger.info(format!(
            "Client opened: cloud={}, tenant={}, site={}, hierarchy={}, auth={}, library={}",
            c.cloud,
            c.tenant_id.as_deref().unwrap_or("(not set)"),
            c.site_code.as_deref().unwrap_or("(not set)"),
            c.hierarchy_id.as_deref().unwrap_or("(not set)"),
            auth,
            env!("CARGO_PKG_VERSION"),
        ));
        logger.info(format!(
            "Effective configuration: {}",
            self.config_json_redacted()
        ));
    }
}

fn create_dir(key: &str, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::io(
            &format!(
                "cannot create the folder `{}` given as `{key}`",
                dir.display()
            ),
            &e,
        )
        .with_details(serde_json::json!({ "path": key }))
    })
}
