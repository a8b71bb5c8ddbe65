//! `tenant-attach-cloud`: a local stand-in for the Microsoft cloud side of ConfigMgr tenant attach
//! (Azure AD token service, a Microsoft Graph subset, the ConfigMgr gateway and the admin center
//! page), the way Azurite stands in for Azure Storage. See cloud/README.md.
//!
//! In-process use (blocking, for the synchronous library's tests):
//! ```no_run
//! let cloud = tenant_attach_cloud::TestCloud::start().expect("cloud starts");
//! println!("{} trusts {}", cloud.url(), cloud.ca_file().display());
//! ```

// Handlers return `Result<_, Response>`: the error is the answer, as axum intends.
#![allow(clippy::result_large_err)]

pub mod aad;
pub mod admin;
pub mod certificates;
pub mod devices;
pub mod faults;
pub mod gateway;
pub mod graph;
pub mod model;
pub mod seed;
pub mod server;
pub mod tls;
pub mod token;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

pub use seed::*;

/// How to start the cloud.
#[derive(Clone, Debug)]
pub struct CloudOptions {
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// State, keys and certificates; survives restarts.
    pub data_dir: PathBuf,
    /// A seed file applied at start (in addition to the default seed when the data dir is new).
    pub seed: Option<PathBuf>,
    /// Plain HTTP instead of HTTPS (MSAL refuses it; the library accepts it on loopback).
    pub http: bool,
    /// Certificate chain and key (PEM) to serve instead of the generated ones.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// Seconds between device code polls the token service asks for (`interval`). Azure AD's is
    /// 5 ([`DEFAULT_DEVICE_CODE_INTERVAL_SECONDS`]); tests and the demo choose 1.
    pub device_code_interval_seconds: u64,
    /// How long uploaded devices take to appear in Graph. Microsoft documents 5 to 10 minutes
    /// ([`DEFAULT_INGESTION_DELAY_MS`] is 5); tests, the demo and the benchmarks choose 0.
    pub ingestion_delay_ms: u64,
}

/// Azure AD's device code poll interval (seconds), the cloud's default.
pub const DEFAULT_DEVICE_CODE_INTERVAL_SECONDS: u64 = 5;
/// The cloud's default ingestion delay: 5 minutes, the low end of the "additional 5 to 10 minutes"
/// Microsoft documents before uploaded changes appear in the admin center.
pub const DEFAULT_INGESTION_DELAY_MS: u64 = 5 * 60 * 1000;

impl CloudOptions {
    /// Microsoft's timings: a 5-second device code interval and a 5-minute ingestion delay.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        CloudOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            seed: None,
            http: false,
            cert: None,
            device_code_interval_seconds: DEFAULT_DEVICE_CODE_INTERVAL_SECONDS,
            ingestion_delay_ms: DEFAULT_INGESTION_DELAY_MS,
        }
    }

    /// The timings tests, the demo and the benchmarks choose: devices visible at once, device
    /// codes polled every second.
    pub fn fast(mut self) -> Self {
        self.device_code_interval_seconds = 1;
        self.ingestion_delay_ms = 0;
        self
    }
}

/// A running cloud. Dropping it shuts it down.
pub struct CloudHandle {
    url: String,
    ca_file: Option<PathBuf>,
    data_dir: PathBuf,
    state: server::AppState,
    shutdown: Option<axum_server::Handle>,
    runtime: Option<tokio::runtime::Runtime>,
    server: Option<tokio::task::JoinHandle<()>>,
    _temp: Option<TempDir>,
}

/// A folder removed when dropped (the test cloud's data dir).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Cloud;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

impl Cloud {
    /// Starts the cloud on its own runtime (a background thread); returns once it listens.
    pub fn start(options: CloudOptions) -> Result<CloudHandle, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().thread_name("tenant-attach-cloud").build()?;
        let (state, listener, tls, ca_file) = prepare(&options)?;
        let url = state.base_url.clone();
        let handle = axum_server::Handle::new();
        let app = router(state.clone());
        let server_handle = handle.clone();
        let task = runtime.spawn(async move {
            if let Err(e) = serve(listener, tls, server_handle, app).await {
                eprintln!("tenant-attach-cloud: server stopped: {e}");
            }
        });
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let waiter = handle.clone();
        runtime.spawn(async move {
            waiter.listening().await;
            let _ = tx.send(());
        });
        rx.recv_timeout(std::time::Duration::from_secs(30)).map_err(|_| "the server did not start listening")?;
        Ok(CloudHandle { url, ca_file, data_dir: options.data_dir, state, shutdown: Some(handle), runtime: Some(runtime), server: Some(task), _temp: None })
    }

    /// Runs the cloud on the current thread until it is stopped (the binary).
    pub fn run(options: CloudOptions, on_listening: impl FnOnce(&str, Option<&Path>)) -> Result<(), Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let (state, listener, tls, ca_file) = prepare(&options)?;
        on_listening(&state.base_url, ca_file.as_deref());
        let app = router(state);
        runtime.block_on(async move {
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                stopper.graceful_shutdown(Some(std::time::Duration::from_secs(2)));
            });
            serve(listener, tls, handle, app).await
        })?;
        Ok(())
    }
}

/// Serves `app` on `listener`, over TLS when `tls` is given. Every accepted connection gets
/// TCP_NODELAY: without it a response written in two segments (a TLS handshake flight, a small
/// answer after its headers) waits for the peer's delayed ACK, 40 ms on Linux, as real Azure
/// front ends never make a client wait.
async fn serve(
    listener: std::net::TcpListener,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    handle: axum_server::Handle,
    app: axum::Router,
) -> std::io::Result<()> {
    use axum_server::accept::NoDelayAcceptor;
    let service = app.into_make_service();
    let server = axum_server::from_tcp(listener).handle(handle);
    match tls {
        Some(config) => server.acceptor(axum_server::tls_rustls::RustlsAcceptor::new(config).acceptor(NoDelayAcceptor)).serve(service).await,
        None => server.acceptor(NoDelayAcceptor).serve(service).await,
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

type Prepared = (server::AppState, std::net::TcpListener, Option<axum_server::tls_rustls::RustlsConfig>, Option<PathBuf>);

/// Loads the data dir (seeding a new one), binds the port, builds TLS.
fn prepare(options: &CloudOptions) -> Result<Prepared, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&options.data_dir)?;
    let listener = std::net::TcpListener::bind(options.listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let base_url = format!("{}://{}", if options.http { "http" } else { "https" }, addr);

    let (tls, ca_file) = if options.http {
        (None, None)
    } else {
        let (cert, key, ca) = match &options.cert {
            Some((c, k)) => (std::fs::read(c)?, std::fs::read(k)?, None),
            None => {
                let files = tls::ensure(&options.data_dir)?;
                (files.cert_pem, files.key_pem, Some(files.ca_file))
            }
        };
        let config = tokio::runtime::Builder::new_current_thread().build()?.block_on(axum_server::tls_rustls::RustlsConfig::from_pem(cert, key))?;
        (Some(config), ca)
    };

    let key = tls::signing_key(&options.data_dir)?;
    let issuer = token::Issuer::new(&key)?;
    let is_new = !options.data_dir.join("cloud-state.json").exists() && !options.data_dir.join("cloud-journal.ndjson").exists();
    let (mut persistence, mut data) = model::Persistence::open(&options.data_dir, server::apply_line)?;
    data.rebuild_index();
    if persistence.wants_compaction_at_start() {
        persistence.compact(&data)?;
    }
    let state = Arc::new(server::Shared {
        inner: std::sync::Mutex::new(server::Inner {
            data,
            persistence: Some(persistence),
            device_codes: Default::default(),
            faults: Default::default(),
            ingestion_delay_ms: options.ingestion_delay_ms,
            device_code_interval_seconds: options.device_code_interval_seconds,
            auto_approve: Default::default(),
        }),
        issuer,
        base_url,
        counters: Default::default(),
        notify: tokio::sync::Notify::new(),
        graph_router: std::sync::OnceLock::new(),
    });
    if is_new {
        admin::apply_seed(&state, seed::default_seed()).map_err(|_| "cannot store the default seed")?;
    }
    if let Some(path) = &options.seed {
        let text = std::fs::read_to_string(path)?;
        let seed: seed::Seed = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        seed.check().map_err(|e| format!("{}: {e}", path.display()))?;
        admin::apply_seed(&state, seed).map_err(|_| "cannot store the seed")?;
    }
    Ok((state, listener, tls, ca_file))
}

/// All routes, with request ids and fault injection.
pub fn router(state: server::AppState) -> axum::Router {
    let graph = graph::routes().with_state(state.clone());
    let _ = state.graph_router.set(graph.clone().layer(axum::middleware::from_fn(server::error_bodies)).layer(axum::middleware::from_fn(server::request_ids)));
    axum::Router::new()
        .merge(aad::routes().with_state(state.clone()))
        .merge(graph)
        .merge(gateway::routes().with_state(state.clone()))
        .merge(admin::routes().with_state(state.clone()))
        // Innermost first: error bodies fixed before a fault may cut them, ids around everything.
        .layer(axum::middleware::from_fn(server::error_bodies))
        .layer(axum::middleware::from_fn_with_state(state.clone(), faults::inject))
        .layer(axum::middleware::from_fn(server::request_ids))
        // Method, path, status and time of each request at RUST_LOG=tower_http=debug (no headers
        // or bodies: they carry tokens and secrets).
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

impl CloudHandle {
    /// `https://127.0.0.1:PORT` (or `http://` when started with `http`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA certificate (PEM) clients must trust; None for plain HTTP or a given certificate.
    pub fn ca_file(&self) -> &Path {
        self.ca_file.as_deref().unwrap_or(Path::new(""))
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Approves a pending device-code sign-in as `user` (UPN or id).
    pub fn approve_device_code(&self, user_code: &str, user: &str) -> Result<(), String> {
        aad::decide_device_code(&self.state, user_code, Some(user), false)
    }

    pub fn decline_device_code(&self, user_code: &str) -> Result<(), String> {
        aad::decide_device_code(&self.state, user_code, None, true)
    }

    /// Makes a pending device code expire now (the next poll gets `expired_token`).
    pub fn expire_device_code(&self, user_code: &str) -> Result<(), String> {
        aad::expire_device_code(&self.state, user_code)
    }

    /// Sets one fault rule, replacing any others (`mode: None` switches faults off).
    pub fn set_faults(&self, faults: server::Faults) {
        self.set_fault_rules(vec![faults]);
    }

    /// Sets several fault rules at once (first match wins; empty switches faults off).
    pub fn set_fault_rules(&self, rules: Vec<server::Faults>) {
        self.state.lock().faults = rules.into_iter().filter(|r| r.mode.is_some()).collect();
    }

    /// Counters of requests and injected faults: `{"requests","throttled","errors","dropped","reset","slowed"}`.
    pub fn counters(&self) -> Value {
        self.state.counters.to_json()
    }

    pub fn set_ingestion_delay_ms(&self, ms: u64) {
        self.state.lock().ingestion_delay_ms = ms;
    }

    /// The device code poll interval (seconds) the token service advertises from now on.
    pub fn set_device_code_interval_seconds(&self, seconds: u64) {
        self.state.lock().device_code_interval_seconds = seconds;
    }

    /// Seeds tenants, users and apps.
    pub fn seed(&self, seed: seed::Seed) -> Result<(), String> {
        admin::apply_seed(&self.state, seed).map_err(|_| "cannot store the seed".to_owned())
    }

    /// A token the cloud signs, for tests that need one without a sign-in (claims as given plus
    /// iat/nbf/exp/ver).
    pub fn issue_token(&self, claims: Value) -> String {
        self.state.issuer.issue(claims)
    }

    /// The SMSIDs the cloud holds for a hierarchy.
    pub fn device_ids(&self, hierarchy_id: &str) -> Vec<String> {
        self.state.lock().data.devices.get(hierarchy_id).map(|t| t.keys().cloned().collect()).unwrap_or_default()
    }

    /// Puts back the devices one removal (by its sync id) took, as `/_admin/removals/restore` does.
    pub fn restore_removal(&self, hierarchy_id: &str, sync_id: &str) -> Result<u64, String> {
        admin::restore(&self.state, hierarchy_id, sync_id)
    }

    /// The notifications (device actions) the cloud holds, as JSON.
    pub fn notifications(&self) -> Vec<Value> {
        self.state.lock().data.notifications.values().filter_map(|n| serde_json::to_value(n).ok()).collect()
    }

    /// Stops the server and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(h) = self.shutdown.take() {
            h.shutdown();
        }
        if let (Some(task), Some(rt)) = (self.server.take(), self.runtime.as_ref()) {
            let _ = rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(5), task).await });
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
        }
    }
}

impl Drop for CloudHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A cloud for a test: HTTPS on a free loopback port, a fresh data dir removed afterwards, the
/// default seed, and the test timings chosen explicitly ([`CloudOptions::fast`]: no ingestion
/// delay, a 1-second device code interval) instead of Microsoft's.
pub struct TestCloud;

impl TestCloud {
    #[allow(clippy::new_ret_no_self)]
    pub fn start() -> Result<CloudHandle, Error> {
        let dir = std::env::temp_dir().join(format!("tenant-attach-cloud-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        let mut handle = Cloud::start(CloudOptions::new(&dir).fast())?;
        handle._temp = Some(TempDir(dir));
        Ok(handle)
    }
}
