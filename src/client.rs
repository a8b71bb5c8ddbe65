//! The core client: a validated configuration and the client log, shared by every operation.
//!
//! `Client` is `Send + Sync` and all its methods take `&self`, so one client may serve many threads
//! at once (the C handle `ta_client` relies on this).

use std::path::Path;

use crate::cmtrace::Logger;
use crate::config::{AuthConfig, Config};
use crate::error::{Error, ErrorKind, Result};
use crate::redact;
use crate::services::Services;

/// The client log, named as ConfigMgr names the component's log.
pub const CLIENT_LOG: &str = "TenantAttach.log";
const CLIENT_COMPONENT: &str = "TenantAttach";

pub struct Client {
    config: Config,
    logger: Option<Logger>,
    /// Graph and gateway access, made on first use (a client that only validates a configuration
    /// or plans an upload never signs in).
    services: std::sync::Mutex<Option<std::sync::Arc<Services>>>,
    /// Instructions for the device code flow; applied when the services are made.
    prompt: std::sync::Mutex<Option<std::sync::Arc<crate::auth::PromptFn>>>,
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
            redact::register_secret(&secret);
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
                Some(Logger::open(dir, CLIENT_LOG, CLIENT_COMPONENT, config.log_max_bytes)?)
            }
            None => None,
        };
        let client = Client { config, logger, services: Default::default(), prompt: Default::default() };
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
            Some(AuthConfig::ClientCertificate { .. }) => "clientCertificate",
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
        logger.info(format!("Effective configuration: {}", self.config_json_redacted()));
    }
}

fn create_dir(key: &str, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(&format!("cannot create the folder `{}` given as `{key}`", dir.display()), &e).with_details(serde_json::json!({ "path": key })))
}

/// Operations against the cloud.
impl Client {
    /// Graph and gateway access (signing in lazily, on the first call that needs a token).
    pub fn services(&self) -> Result<std::sync::Arc<Services>> {
        let mut slot = self.services.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let services = Services::new(&self.config, self.logger.as_ref().map(|l| l.with_component("TenantAttach-Auth")))?;
        if let Some(prompt) = self.prompt.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            services.auth.set_prompt(prompt);
        }
        let services = std::sync::Arc::new(services);
        *slot = Some(services.clone());
        Ok(services)
    }

    /// Where the device code flow's instructions go (a C callback, a PowerShell host...).
    pub fn set_device_code_prompt(&self, prompt: std::sync::Arc<crate::auth::PromptFn>) {
        *self.prompt.lock().unwrap_or_else(|e| e.into_inner()) = Some(prompt.clone());
        if let Some(s) = self.services.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            s.auth.set_prompt(prompt);
        }
    }

    fn onboarding_log(&self) -> impl Fn(&str) + '_ {
        let log = self.logger.as_ref().map(|l| l.with_component("TenantAttach-Onboarding"));
        move |line: &str| {
            if let Some(l) = &log {
                l.info(line);
            }
        }
    }

    pub fn hierarchy_id(&self) -> Result<&str> {
        self.config.hierarchy_id.as_deref().ok_or_else(|| Error::invalid_config("`hierarchyId` is required in the configuration"))
    }

    /// Register-TenantAttach: onboard the hierarchy (create or import the app).
    pub fn register(&self, options_json: &str, cancelled: &dyn Fn() -> bool) -> Result<serde_json::Value> {
        let options: crate::onboarding::RegisterOptions = parse_options(options_json, "register options")?;
        let services = self.services()?;
        crate::onboarding::register(&self.config, &services, options, &self.onboarding_log(), cancelled)
    }

    /// Get-TenantAttachStatus: the gateway's onboarding and the local last sync.
    pub fn status(&self, cancelled: &dyn Fn() -> bool) -> Result<serde_json::Value> {
        let hierarchy = self.hierarchy_id()?;
        let services = self.services()?;
        let onboarding = crate::onboarding::get(&services, hierarchy, cancelled)?;
        let local = self.config.state_dir.as_ref().and_then(|dir| {
            let store = crate::sync::state::StateStore::open_without_line_cache(dir, hierarchy).ok()?;
            let s = store.state();
            Some(LocalSync { last_sync: s.last_sync.clone(), devices: s.devices.len() as u64, full_sync_pending: s.full_sync_in_progress.is_some() })
        });
        let next = local
            .as_ref()
            .and_then(|l| l.last_sync.as_ref())
            .and_then(|l| chrono::DateTime::parse_from_rfc3339(&l.completed_date_time).ok())
            .map(|t| (t + chrono::Duration::minutes(self.config.sync_interval_minutes.into())).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let status = Status { onboarded: onboarding.is_some(), onboarding, local, next_run_time: next };
        serde_json::to_value(status).map_err(|e| Error::internal(e.to_string()))
    }

    /// Set-TenantAttachUploadScope and the co-management flag.
    pub fn set_upload_settings(&self, settings_json: &str, cancelled: &dyn Fn() -> bool) -> Result<serde_json::Value> {
        let v: crate::onboarding::UploadSettings = parse_options(settings_json, "upload settings")?;
        let scope = match &v.upload_scope {
            Some(s) => Some(crate::onboarding::parse_scope(Some(s))?),
            None => None,
        };
        let co = v.co_management_auto_enroll;
        let services = self.services()?;
        let record = crate::onboarding::patch(&services, self.hierarchy_id()?, scope.as_ref(), co, cancelled)?;
        self.onboarding_log()(&format!(
            "Upload settings updated: scope {}, co-management auto-enroll {}",
            record["uploadScope"], record["coManagementAutoEnroll"]
        ));
        Ok(record)
    }

    /// Unregister-TenantAttach: offboard and forget the local sync state.
    pub fn unregister(&self, cancelled: &dyn Fn() -> bool) -> Result<()> {
        let hierarchy = self.hierarchy_id()?;
        let services = self.services()?;
        crate::onboarding::unregister(&services, hierarchy, cancelled)?;
        if let Some(dir) = &self.config.state_dir {
            crate::sync::state::StateStore::open_without_line_cache(dir, hierarchy)?.reset()?;
        }
        self.onboarding_log()(&format!("Hierarchy {hierarchy} offboarded; local sync state cleared"));
        Ok(())
    }

    /// Sync-TenantAttachDevice: upload devices (full first, then deltas) to the onboarded hierarchy.
    pub fn sync_devices(
        &self,
        input: crate::sync::Input<'_>,
        total: u64,
        mut options: crate::sync::Options,
        progress: &mut dyn FnMut(u64, u64),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<crate::sync::Report> {
        let hierarchy = self.hierarchy_id()?;
        let state_dir = self
            .config
            .state_dir
            .as_ref()
            .ok_or_else(|| Error::invalid_config("`stateDir` is required to upload: it keeps what the cloud has acknowledged"))?;
        // A dry run compares with what this state folder last uploaded, without signing in (no
        // device code prompt for -WhatIf): the scope and tenant of its last finished run.
        if options.dry_run {
            let mut store = crate::sync::state::StateStore::open(state_dir, hierarchy)?;
            let last = store.state().last_sync.is_some() && store.state().full_sync_in_progress.is_none();
            if last {
                if let Ok(scope) = crate::sync::Scope::from_gateway(&store.state().scope) {
                    let target = crate::sync::Target {
                        hierarchy_id: hierarchy.to_owned(),
                        tenant_id: store.state().tenant_id.clone(),
                        scope,
                        scope_version: store.state().scope_version,
                        cloud: None,
                    };
                    options.interval_minutes = self.config.sync_interval_minutes;
                    let mut uploader = crate::sync::DryRunUploader;
                    let mut hooks = crate::sync::Hooks { progress, cancelled, logger: None };
                    let report = crate::sync::run(&mut store, input, total, &target, &options, &mut uploader, &mut hooks)?;
                    return Ok(report);
                }
            }
        }
        let services = self.services()?;
        let exists = crate::sync::state::StateStore::exists(state_dir, hierarchy);
        // The sign-in and the onboarding read wait on the network; the state (175,000 snapshot lines
        // at hierarchy scale) is read meanwhile on another thread. The onboarding's answer decides
        // first: a hierarchy that is not onboarded is reported as such even if the state is locked.
        // A state that is not there is made only once the cloud has said it may be (below).
        let (onboarding, store) = std::thread::scope(|scope| {
            let store = exists.then(|| scope.spawn(|| crate::sync::state::StateStore::open(state_dir, hierarchy)));
            let onboarding = crate::onboarding::get(&services, hierarchy, cancelled);
            let store =
                store.map(|s| s.join().unwrap_or_else(|_| Err(Error::internal("reading the sync state failed unexpectedly (a bug, please report it)"))));
            (onboarding, store)
        });
        let onboarding = onboarding?.ok_or_else(|| crate::services::not_onboarded(hierarchy))?;
        let cloud = crate::sync::CloudView::from_onboarding(&onboarding);
        let mut store = match store {
            Some(store) => store?,
            None => {
                let earlier = |c: &&crate::sync::CloudView| c.generation > 0 || c.devices > 0;
                let allowed = options.guard.allow || options.take_over || options.mode == crate::sync::Mode::Partial;
                if let Some(c) = cloud.as_ref().filter(earlier).filter(|_| !allowed) {
                    return Err(missing_state(&state_dir.join(hierarchy), hierarchy, c, &onboarding));
                }
                crate::sync::state::StateStore::open(state_dir, hierarchy)?
            }
        };
        let target = crate::sync::Target {
            hierarchy_id: hierarchy.to_owned(),
            tenant_id: onboarding["tenantId"].as_str().map(str::to_owned),
            scope: crate::sync::Scope::from_gateway(&onboarding["uploadScope"])?,
            scope_version: onboarding["scopeVersion"].as_u64().unwrap_or(1),
            cloud,
        };
        options.interval_minutes = self.config.sync_interval_minutes;
        let log = self.log_file("CMGatewaySyncUploadWorker");
        check_uploader(&onboarding, hierarchy, store.instance_id(), options.take_over, log.as_ref())?;
        let mut uploader = crate::sync::GatewayUploader { services: &services, hierarchy, cancelled };
        let mut hooks = crate::sync::Hooks { progress, cancelled, logger: log.as_ref() };
        crate::sync::run(&mut store, input, total, &target, &options, &mut uploader, &mut hooks)
    }

    /// A CMTrace log of its own in logDir, as ConfigMgr's workers have (`CMGatewaySyncUploadWorker.log`).
    pub fn log_file(&self, component: &str) -> Option<Logger> {
        let dir = self.config.log_dir.as_ref()?;
        Logger::open(dir, &format!("{component}.log"), component, self.config.log_max_bytes).ok()
    }

    /// Get-TenantAttachDevice: the devices as the admin center sees them.
    pub fn list_devices(&self, filter: Option<&str>, cancelled: &dyn Fn() -> bool) -> Result<Vec<serde_json::Value>> {
        crate::actions::list_devices(&*self.services()?, filter, cancelled)
    }

    /// Invoke-TenantAttachDeviceAction: the action on each device, 20 per Graph `$batch`.
    pub fn trigger_action(&self, device_ids: &[String], action: &str, cancelled: &dyn Fn() -> bool) -> Result<Vec<serde_json::Value>> {
        let action = crate::actions::Action::parse(action)?;
        if device_ids.is_empty() {
            return Ok(Vec::new());
        }
        crate::actions::trigger(&*self.services()?, device_ids, action, cancelled, self.logger.as_ref())
    }

    /// Invoke-TenantAttachDeviceAction -Filter: the action on the devices a filtered listing
    /// returns, each checked against the filter first; when the service did not apply the filter
    /// (it returned devices that do not match), nothing is triggered and the call fails
    /// (`InvalidArgument`, code `FilterNotApplied`).
    pub fn trigger_action_filtered(&self, filter: &str, action: &str, cancelled: &dyn Fn() -> bool) -> Result<Vec<serde_json::Value>> {
        let action = crate::actions::Action::parse(action)?;
        crate::actions::trigger_filtered(&*self.services()?, filter, action, cancelled, self.logger.as_ref())
    }

    /// Receive-TenantAttachNotification: the site's notification worker.
    pub fn receive_notifications(
        &self,
        discovered_users_json: &str,
        timeout_seconds: u64,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<crate::actions::Decision>> {
        let users: Vec<crate::actions::DiscoveredUser> = serde_json::from_str(discovered_users_json).map_err(|e| {
            Error::new(
                crate::error::ErrorKind::InvalidJson,
                format!(
                    "the discovered users must be a JSON array of {{\"aadUserId\",\"userPrincipalName\",\"sid\",\"adDiscovered\",\"azureAdDiscovered\"}}: {e}"
                ),
            )
        })?;
        crate::json::refuse_duplicate_keys(discovered_users_json, crate::error::ErrorKind::InvalidJson, "the discovered users")?;
        let log = self.log_file("CMGatewayNotificationWorker");
        let sink = |severity: crate::cmtrace::Severity, line: String| {
            if let Some(l) = &log {
                l.log(severity, line);
            }
        };
        crate::actions::receive(&*self.services()?, self.hierarchy_id()?, &users, self.config.user_discovery, timeout_seconds, cancelled, &sink)
    }

    /// Complete-TenantAttachNotification.
    pub fn complete_notification(
        &self,
        notification_id: &str,
        succeeded: bool,
        reason: Option<&str>,
        task_guid: Option<&str>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<serde_json::Value> {
        crate::actions::complete(&*self.services()?, self.hierarchy_id()?, notification_id, succeeded, reason, task_guid, cancelled)
    }

    /// Test-TenantAttachEndpoint.
    pub fn test_endpoints(&self) -> Result<serde_json::Value> {
        let transport = crate::http::Transport::new(&self.config, None)?;
        let checks = crate::onboarding::test_endpoints(&self.config, &transport);
        serde_json::to_value(checks).map_err(|e| Error::internal(e.to_string()))
    }
}

/// Result of `ta_client_status` (`Get-TenantAttachStatus`).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The gateway knows the hierarchy as onboarded to this tenant.
    pub onboarded: bool,
    /// The gateway's onboarding record; null when not onboarded.
    #[schemars(with = "Option<crate::onboarding::OnboardingRecord>")]
    pub onboarding: Option<serde_json::Value>,
    /// What the local sync state (`stateDir`) knows; null without a state folder or before any upload.
    pub local: Option<LocalSync>,
    /// RFC 3339: the last completed upload plus `syncIntervalMinutes`; null before the first upload.
    pub next_run_time: Option<String>,
}

/// One site instance uploads a hierarchy (the gateway binds it): another is refused before
/// anything is read or sent, naming the holder, unless it takes over (a server migration), which
/// is logged here as the gateway records it there.
fn check_uploader(onboarding: &serde_json::Value, hierarchy: &str, instance: &str, take_over: bool, log: Option<&Logger>) -> Result<()> {
    let holder = &onboarding["uploader"];
    let Some(holder_id) = holder["siteInstanceId"].as_str().filter(|h| *h != instance) else { return Ok(()) };
    let machine = holder["machineName"].as_str().unwrap_or("an unknown machine");
    let last = holder["lastUploadDateTime"].as_str().unwrap_or("unknown");
    if take_over {
        if let Some(log) = log {
            log.warning(format!(
                "Taking over the uploads of hierarchy {hierarchy} from {machine} (site instance {holder_id}, last upload {last}) for this site instance {instance}"
            ));
        }
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Conflict,
        format!(
            "hierarchy {hierarchy} is uploaded by another site instance: {machine} (site instance {holder_id}), last upload {last}; nothing was \
             sent. One server uploads a hierarchy. If this server replaces that one (a migration, a site recovery), run again taking over \
             (takeOver in the options; -TakeOver in PowerShell) and stop the uploads on {machine}; if {machine} still uploads, stop this one. \
             (This instance is {instance}; a server rebuilt under the same name without its state folder is another instance: take over.)"
        ),
    )
    .with_details(serde_json::json!({ "uploader": holder, "siteInstanceId": instance, "reason": "uploaderConflict" })))
}

/// The refusal of a run whose sync state is not where it is expected while the cloud already holds
/// an earlier upload of the hierarchy: a state made afresh from this input could sweep devices the
/// input lacks (a new server, a site recovery without the folder, a mistyped state directory).
fn missing_state(dir: &Path, hierarchy: &str, cloud: &crate::sync::CloudView, onboarding: &serde_json::Value) -> Error {
    let when = onboarding["lastSync"]["completedDateTime"].as_str().map(|t| format!(", last on {t}")).unwrap_or_default();
    let holder = &onboarding["uploader"];
    let by = holder["machineName"]
        .as_str()
        .map(|m| format!(" by {m} (last upload {})", holder["lastUploadDateTime"].as_str().unwrap_or("unknown")))
        .unwrap_or_default();
    Error::new(
        ErrorKind::DeletionRefused,
        format!(
            "the sync state of hierarchy {hierarchy} was expected in {} but is not there, while the cloud already holds {} of its devices from earlier \
             uploads{by} ({} full syncs{when}); nothing was sent and no state was made. If the state folder moved, give its place (stateDir; \
             -StateDirectory in PowerShell). If this server starts afresh or replaces the one that uploads (a new server, a site recovery), run \
             again taking over (takeOver in the options; -TakeOver in PowerShell): the run is a full sync, and the cloud still refuses to remove \
             more devices than the deletion guard allows",
            dir.display(),
            cloud.devices,
            cloud.generation
        ),
    )
    .with_details(
        serde_json::json!({ "stateDir": dir, "devicesKnown": cloud.devices, "generation": cloud.generation, "uploader": holder, "reason": "stateMissing" }),
    )
}

/// The local sync state, as `local` in the status.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalSync {
    /// The last completed upload run; null before the first.
    pub last_sync: Option<crate::sync::state::LastSync>,
    /// Devices the cloud has acknowledged.
    pub devices: u64,
    /// A full sync started and has not finished: the next run resumes it.
    pub full_sync_pending: bool,
}

/// Options JSON of an operation: empty means defaults; unknown keys are refused by name.
pub fn parse_options<T: serde::de::DeserializeOwned + Default>(json: &str, what: &str) -> Result<T> {
    if json.trim().is_empty() {
        return Ok(T::default());
    }
    crate::json::expect_object(json, &format!("the {what}"))?;
    let options = serde_json::from_str(json).map_err(|e| Error::new(crate::error::ErrorKind::InvalidJson, format!("the {what} are not valid: {e}")))?;
    crate::json::refuse_duplicate_keys(json, crate::error::ErrorKind::InvalidJson, &format!("the {what}"))?;
    Ok(options)
}
