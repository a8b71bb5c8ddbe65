//! tenant-attach: drive Configuration Manager *tenant attach* (onboarding a hierarchy to the Microsoft
//! Endpoint Manager cloud, uploading its devices, running device actions) from Rust, C, C# and
//! PowerShell.
//!
//! The core modules are plain Rust and know nothing of C; `ffi` is the thin C ABI shell over them.
//! (`cbindgen:ignore` keeps the core's public constants out of the C header: only `ffi` is C API.)

/// cbindgen:ignore
pub mod actions;
/// cbindgen:ignore
pub mod auth;
/// cbindgen:ignore
pub mod certificate;
/// cbindgen:ignore
pub mod client;
/// cbindgen:ignore
pub mod cmtrace;
/// cbindgen:ignore
pub mod config;
/// cbindgen:ignore
pub mod error;
/// cbindgen:ignore
pub mod filter;
/// cbindgen:ignore
pub mod http;
/// cbindgen:ignore
pub mod inventory;
/// cbindgen:ignore
pub mod json;
/// cbindgen:ignore
pub mod onboarding;
/// cbindgen:ignore
pub mod redact;
/// cbindgen:ignore
pub mod schema;
/// cbindgen:ignore
pub mod services;
/// cbindgen:ignore
pub mod sync;

pub mod ffi;

pub use client::Client;
pub use config::Config;
pub use error::{Error, ErrorKind, Result};
