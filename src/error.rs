//! The one error type of the core. Every failure carries a kind (which becomes a `ta_status` at the
//! C boundary), a message a person can act on, and, where a service answered, its HTTP status,
//! request id and service error code (an AADSTS code, a Graph error code).

use std::fmt;

use serde::Serialize;

/// What went wrong, coarse enough for a caller to branch on. Each kind maps to exactly one
/// `ta_status` value (see `ffi::status`), so adding a kind means adding a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A NULL pointer, an empty or out-of-range value, a malformed identifier.
    InvalidArgument,
    /// A string argument is not valid UTF-8.
    InvalidUtf8,
    /// A JSON argument does not parse, or has the wrong shape.
    InvalidJson,
    /// The configuration parsed but is not acceptable (unknown key, wrong type, insecure endpoint...).
    InvalidConfig,
    /// A cloud other than `AzurePublicCloud`.
    UnsupportedCloud,
    /// A device action other than the three tenant attach supports.
    UnsupportedAction,
    /// The hierarchy is not onboarded (or not onboarded to this tenant).
    NotOnboarded,
    /// Sign-in failed: wrong secret, unknown client, declined device code...
    AuthFailed,
    /// Signed in, but lacking a role or permission.
    Forbidden,
    NotFound,
    /// The request conflicts with the current state (e.g. hierarchy attached to another tenant).
    Conflict,
    /// The service kept answering 429 until the retry budget ran out.
    Throttled,
    /// Connection refused, DNS failure, connection dropped, proxy failure.
    Network,
    /// TLS handshake or certificate validation failed.
    Tls,
    /// An answer did not arrive in time (after retries).
    Timeout,
    /// The service answered 5xx (after retries) or with something unintelligible.
    Server,
    /// Another process holds the sync state lock.
    StateLocked,
    /// The sync state file is damaged.
    StateCorrupt,
    /// The caller cancelled the operation.
    Cancelled,
    /// Local file-system failure (log or state folder).
    Io,
    /// A credential, device code or secret has expired.
    Expired,
    /// A Rust panic was caught at the C boundary.
    Panic,
    /// A bug: an invariant of the library itself was broken.
    Internal,
    /// An upload stopped by the deletion guard before sending anything: its input was empty or held
    /// no eligible device, or it would delete more devices than allowed (the details say how many).
    DeletionRefused,
    /// A call on a client from inside one of that client's own callbacks.
    CallbackReentry,
}

impl ErrorKind {
    /// Stable snake_case name, as used in the error JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::InvalidUtf8 => "invalid_utf8",
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::UnsupportedCloud => "unsupported_cloud",
            ErrorKind::UnsupportedAction => "unsupported_action",
            ErrorKind::NotOnboarded => "not_onboarded",
            ErrorKind::AuthFailed => "auth_failed",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Network => "network",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Server => "server",
            ErrorKind::DeletionRefused => "deletion_refused",
            ErrorKind::CallbackReentry => "callback_reentry",
            ErrorKind::StateLocked => "state_locked",
            ErrorKind::StateCorrupt => "state_corrupt",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Io => "io",
            ErrorKind::Expired => "expired",
            ErrorKind::Panic => "panic",
            ErrorKind::Internal => "internal",
        }
    }
}

/// A failure with everything a person needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Error {
    pub kind: ErrorKind,
    /// One or two sentences: what failed and what to do about it. Never contains a secret.
    pub message: String,
    /// HTTP status of the service answer that caused this, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// `request-id` (Graph, gateway) or `x-ms-request-id` (Azure AD) of that answer, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Service error code: `AADSTS7000215`, Graph's `Forbidden`, the gateway's codes...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Structured extras (the offending config key, the endpoint that failed, the tenant holding a
    /// hierarchy...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), http_status: None, request_id: None, code: None, details: None }
    }

    pub fn with_http(mut self, status: u16, request_id: Option<String>) -> Self {
        self.http_status = Some(status);
        self.request_id = request_id;
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn invalid_config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidConfig, message)
    }

    pub fn io(context: &str, err: &std::io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("{context}: {err}"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        if let Some(status) = self.http_status {
            write!(f, " (HTTP {status}")?;
            if let Some(id) = &self.request_id {
                write!(f, ", request id {id}")?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
