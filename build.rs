//! Generates the C header `tenant_attach.h` from src/ffi with cbindgen (configured by cbindgen.toml).
//!
//! The header is always written to `$OUT_DIR/tenant_attach.h`; tests/header_drift.rs compares it with
//! the committed `include/tenant_attach.h`. To refresh the committed copy after changing the C API:
//!
//! ```text
//! TA_UPDATE_HEADER=1 cargo build -p tenant-attach
//! ```
//!
//! The version macros (`TA_VERSION`, `TA_VERSION_MAJOR/MINOR/PATCH`) come from Cargo's
//! `CARGO_PKG_VERSION*`, so the header cannot disagree with Cargo.toml (rustls-ffi's hand-typed
//! version macro was wrong for years; this one cannot be).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const HEADER_NAME: &str = "tenant_attach.h";
/// Must equal `TA_ABI_VERSION` in src/ffi/strings.rs (tests/header_drift.rs checks the two agree).
const ABI_MAJOR: u32 = 1;

/// `libtenant_attach.so.1 -> libtenant_attach.so` in the profile folder (target/debug, ...), where
/// the linked library appears; best effort (a read-only target folder only loses the link).
#[cfg(unix)]
fn soname_link() {
    let Some(profile_dir) = env::var_os("OUT_DIR").map(PathBuf::from).and_then(|out| out.ancestors().nth(3).map(Path::to_path_buf)) else { return };
    let link = profile_dir.join(format!("libtenant_attach.so.{ABI_MAJOR}"));
    if fs::symlink_metadata(&link).is_err() {
        let _ = std::os::unix::fs::symlink("libtenant_attach.so", &link);
    }
}

#[cfg(not(unix))]
fn soname_link() {}

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=TA_UPDATE_HEADER");
    // So that `TA_UPDATE_HEADER=1 cargo build` repairs a hand-edited or stale committed header even
    // when nothing in src/ changed.
    println!("cargo:rerun-if-changed=include/{HEADER_NAME}");

    // The SONAME carries the ABI major (src/ffi/strings.rs, TA_ABI_VERSION; docs/FFI.md, "ABI
    // versions"), as Linux libraries do: a program linked with -ltenant_attach records
    // libtenant_attach.so.1 and will not load a library of another ABI. Cargo writes only
    // libtenant_attach.so, so the usual libtenant_attach.so.1 link is made beside it. (The C#
    // interop preloads the library by path and, on .NET, resolves DllImport to that handle itself.)
    if env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtenant_attach.so.{ABI_MAJOR}");
        soname_link();
    }

    let crate_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env_var("OUT_DIR"));

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap_or_else(|e| fail(&format!("cannot read cbindgen.toml: {e}")));
    let version_macros = version_macros();
    config.after_includes = Some(match config.after_includes.take() {
        Some(existing) => format!("{version_macros}{existing}"),
        None => version_macros,
    });

    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .unwrap_or_else(|e| fail(&format!("cbindgen could not generate {HEADER_NAME}: {e}")));

    let generated = out_dir.join(HEADER_NAME);
    bindings.write_to_file(&generated);

    if env::var_os("TA_UPDATE_HEADER").is_some_and(|v| v == "1") {
        let committed = crate_dir.join("include").join(HEADER_NAME);
        copy_header(&generated, &committed);
        println!("cargo:warning=TA_UPDATE_HEADER=1: wrote {}", committed.display());
    }
}

/// `#define TA_VERSION "x.y.z"` and its parts, from the package version Cargo passes to build scripts.
fn version_macros() -> String {
    let full = env_var("CARGO_PKG_VERSION");
    let major = env_var("CARGO_PKG_VERSION_MAJOR");
    let minor = env_var("CARGO_PKG_VERSION_MINOR");
    let patch = env_var("CARGO_PKG_VERSION_PATCH");
    format!(
        "\n/* Version of the library this header was generated from (package version in Cargo.toml). */\n\
         #define TA_VERSION \"{full}\"\n\
         #define TA_VERSION_MAJOR {major}\n\
         #define TA_VERSION_MINOR {minor}\n\
         #define TA_VERSION_PATCH {patch}\n"
    )
}

fn copy_header(from: &Path, to: &Path) {
    let generated = fs::read(from).unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", from.display())));
    if fs::read(to).is_ok_and(|committed| committed == generated) {
        return; // Unchanged: keep its timestamp, so the next build does not rerun this script.
    }
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", dir.display())));
    }
    fs::write(to, generated).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", to.display())));
}

fn env_var(name: &str) -> String {
    env::var(name).unwrap_or_else(|_| fail(&format!("cargo did not set {name}")))
}

fn fail(message: &str) -> ! {
    // A build script reports errors by failing; the message is what the developer sees.
    panic!("build.rs: {message}")
}
