//! Fault injection for tests of retries and idempotency: 429 with `Retry-After`, 5xx, answers cut
//! off after or instead of handling the request, slow answers; each at a rate, optionally only
//! under a path prefix, switched on and off from `/_admin/faults`, with counters of what was
//! injected.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::server::{graph_error, AppState};

/// One fault rule.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// `throttle` (429 with Retry-After), `error` (503, or `status`), `drop` (handled, then the
    /// connection breaks in the middle of the answer), `reset` (not handled; the connection breaks
    /// instead of an answer), `slow` (answer delayed by `slowMs`); None: off.
    #[serde(default)]
    pub mode: Option<String>,
    /// Probability 0..1 that a request gets the fault.
    #[serde(default)]
    pub rate: f64,
    /// Only requests (or, for `target: batchStep`, steps) whose path starts with this.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// `Retry-After` of a throttled answer, in seconds; a fraction (0.5) is sent as a decimal, as
    /// Graph sometimes does.
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: f64,
    #[serde(default)]
    pub slow_ms: u64,
    /// Answer status for `error` mode (default 503).
    #[serde(default)]
    pub status: Option<u16>,
    /// `request` (default): whole HTTP requests. `batchStep`: the steps of a Graph `$batch`, each
    /// drawn on its own (modes `throttle` and `error` only), the batch itself answered normally.
    #[serde(default)]
    pub target: Option<String>,
    /// With `target: batchStep`: the status of the batch itself when this rule hit one of its
    /// steps (e.g. 424, as Graph's throttling guidance once documented), its body unchanged.
    #[serde(default)]
    pub batch_status: Option<u16>,
    /// At most this many faults from this rule; then it is spent (deterministic tests).
    #[serde(default)]
    pub limit: Option<u64>,
    /// Faults this rule has injected (shared by the copies of the rule).
    #[serde(skip)]
    pub injected: std::sync::Arc<AtomicU64>,
}

pub const MODES: [&str; 5] = ["throttle", "error", "drop", "reset", "slow"];
pub const TARGETS: [&str; 2] = ["request", "batchStep"];

fn default_retry_after() -> f64 {
    1.0
}

/// A `Retry-After` value: whole seconds as an integer, a fraction as a decimal ("0.5").
pub fn retry_after_text(seconds: f64) -> String {
    if seconds.fract() == 0.0 {
        format!("{}", seconds as u64)
    } else {
        format!("{seconds}")
    }
}

impl Faults {
    /// Why the rule is not usable, if it is not.
    pub fn check(&self) -> Result<(), String> {
        if let Some(mode) = self.mode.as_deref().filter(|m| !MODES.contains(m)) {
            return Err(format!("unknown fault mode '{mode}': use one of {}, or null", MODES.join(", ")));
        }
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(format!("rate {} is not between 0 and 1", self.rate));
        }
        if let Some(status) = self.status.filter(|s| !(400..=599).contains(s)) {
            return Err(format!("status {status} is not an error status (400-599)"));
        }
        if !(self.retry_after_seconds.is_finite() && (0.0..=3600.0).contains(&self.retry_after_seconds)) {
            return Err(format!("retryAfterSeconds {} is not between 0 and 3600", self.retry_after_seconds));
        }
        match self.target.as_deref() {
            None | Some("request") => {
                if self.batch_status.is_some() {
                    return Err("batchStatus needs target \"batchStep\"".into());
                }
            }
            Some("batchStep") => {
                if let Some(mode) = self.mode.as_deref().filter(|m| !matches!(*m, "throttle" | "error")) {
                    return Err(format!("mode '{mode}' cannot target batch steps: use throttle or error"));
                }
                if let Some(status) = self.batch_status.filter(|s| !(200..=599).contains(s)) {
                    return Err(format!("batchStatus {status} is not an HTTP status"));
                }
            }
            Some(other) => return Err(format!("unknown target '{other}': use one of {}", TARGETS.join(", "))),
        }
        Ok(())
    }

    /// Takes one fault from the rule's limit; false when the rule is spent.
    fn take(&self) -> bool {
        match self.limit {
            None => {
                self.injected.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(max) => self.injected.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < max).then_some(n + 1)).is_ok(),
        }
    }

    pub fn targets_steps(&self) -> bool {
        self.target.as_deref() == Some("batchStep")
    }

    fn applies_to(&self, path: &str) -> bool {
        self.mode.is_some() && !self.targets_steps() && self.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
    }

    /// Does this step rule hit a `$batch` step at `path` (drawn against `rate`)?
    pub fn hits_step(&self, path: &str) -> bool {
        self.mode.is_some()
            && self.targets_steps()
            && self.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
            && rand::random::<f64>() < self.rate
            && self.take()
    }
}

#[derive(Default, Debug)]
pub struct Counters {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub errors: AtomicU64,
    pub dropped: AtomicU64,
    pub reset: AtomicU64,
    pub slowed: AtomicU64,
    /// `$batch` steps run, and those a step rule throttled or failed.
    pub batch_steps: AtomicU64,
    pub steps_throttled: AtomicU64,
    pub step_errors: AtomicU64,
    /// Device actions queued (each accepted `triggerConfigurationManagerAction` or admin page click).
    pub actions_queued: AtomicU64,
}

impl Counters {
    pub fn to_json(&self) -> serde_json::Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({ "requests": get(&self.requests), "throttled": get(&self.throttled), "errors": get(&self.errors),
            "dropped": get(&self.dropped), "reset": get(&self.reset), "slowed": get(&self.slowed),
            "batchSteps": get(&self.batch_steps), "stepsThrottled": get(&self.steps_throttled), "stepErrors": get(&self.step_errors),
            "actionsQueued": get(&self.actions_queued) })
    }
}

/// The middleware: every route but `/_admin` may get a fault.
pub async fn inject(State(state): State<AppState>, req: Request, next: Next) -> Response {
    state.counters.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path();
    if path.starts_with("/_admin") {
        return next.run(req).await;
    }
    let rule = {
        let inner = state.lock();
        inner.faults.iter().find(|f| f.applies_to(path) && rand::random::<f64>() < f.rate && f.take()).cloned()
    };
    let Some(rule) = rule else { return next.run(req).await };
    let count = |c: &AtomicU64| c.fetch_add(1, Ordering::Relaxed);
    match rule.mode.as_deref() {
        Some("throttle") => {
            count(&state.counters.throttled);
            let mut res =
                graph_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Too many requests (injected fault). Retry after the time in Retry-After.", "");
            if let Ok(v) = HeaderValue::from_str(&retry_after_text(rule.retry_after_seconds)) {
                res.headers_mut().insert("Retry-After", v);
            }
            res
        }
        Some("error") => {
            count(&state.counters.errors);
            let status = rule.status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            graph_error(status, "ServiceUnavailable", "The service is temporarily unavailable (injected fault).", "")
        }
        Some("slow") => {
            count(&state.counters.slowed);
            tokio::time::sleep(std::time::Duration::from_millis(rule.slow_ms)).await;
            next.run(req).await
        }
        Some("drop") => {
            // Handled (and journaled), then the answer breaks: the client cannot know it was applied.
            count(&state.counters.dropped);
            let res = next.run(req).await;
            let (mut parts, _) = res.into_parts();
            parts.headers.remove("content-length");
            Response::from_parts(parts, broken_body())
        }
        Some("reset") => {
            // Never handled: the connection breaks instead of an answer.
            count(&state.counters.reset);
            let mut res = Response::new(broken_body());
            *res.status_mut() = StatusCode::OK;
            res
        }
        _ => next.run(req).await,
    }
}

/// A body that fails after its first bytes: hyper then aborts the connection mid-answer.
fn broken_body() -> Body {
    struct Broken(u8);
    impl futures_core::Stream for Broken {
        type Item = Result<&'static [u8], std::io::Error>;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
            self.0 += 1;
            std::task::Poll::Ready(match self.0 {
                1 => Some(Ok(b"{\"partial\":")),
                2 => Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "injected fault"))),
                _ => None,
            })
        }
    }
    Body::from_stream(Broken(0))
}
