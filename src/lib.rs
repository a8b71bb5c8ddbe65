//! tenant-attach: drive Configuration Manager *tenant attach* (onboarding a hierarchy to the Microsoft
//! Endpoint Manager cloud, uploading its devices, running device actions) from Rust, C, C# and
//! PowerShell.
//!
//! The core modules are plain Rust and know nothing of C; `ffi` is the thin C ABI shell over them.

pub mod actions;
pub mod auth;
pub mod certificate;
pub mod client;
pub mod cmtrace;
pub mod config;
pub mod error;
pub mod filter;
pub mod http;
pub mod inventory;
pub mod json;
pub mod onboarding;
pub mod redact;
pub mod services;
pub mod sync;

pub mod ffi;

pub use client::Client;
pub use config::Config;
pub use error::{Error, ErrorKind, Result};
