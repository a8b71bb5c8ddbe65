//! The version the library reports, the header's macros and Cargo.toml agree.

use std::ffi::CStr;
use std::path::Path;

use tenant_attach::ffi::ta_version;

/// `version = "x.y.z"` of the [package] table, read from Cargo.toml itself (not from what Cargo
/// passed to the build, which is what the other two sides are made from).
fn cargo_toml_version() -> String {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).expect("read Cargo.toml");
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("version") {
                let value = value.trim_start().strip_prefix('=').expect("version = ...").trim();
                return value.trim_matches('"').to_owned();
            }
        }
    }
    panic!("no version in Cargo.toml's [package]");
}

fn header_define(header: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    header.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap_or_else(|| panic!("include/tenant_attach.h has no {name}")).trim().to_owned()
}

#[test]
fn version_macros_ta_version_and_cargo_toml_agree() {
    let cargo = cargo_toml_version();
    let header = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/tenant_attach.h")).expect("read header");

    // SAFETY: ta_version returns a static NUL-terminated string.
    let reported = unsafe { CStr::from_ptr(ta_version()) }.to_str().expect("UTF-8").to_owned();
    assert_eq!(reported, cargo, "ta_version() vs Cargo.toml");

    assert_eq!(header_define(&header, "TA_VERSION"), format!("\"{cargo}\""), "TA_VERSION vs Cargo.toml");
    let parts: Vec<&str> = cargo.split(['.', '-', '+']).take(3).collect();
    assert_eq!(header_define(&header, "TA_VERSION_MAJOR"), parts[0]);
    assert_eq!(header_define(&header, "TA_VERSION_MINOR"), parts[1]);
    assert_eq!(header_define(&header, "TA_VERSION_PATCH"), parts[2]);
}
