//! The committed header compiles cleanly as C11 and as C++ with every warning an error, with and
//! without the test hooks, and an ignored ta_status is a compile error under -Werror (TA_MUST_USE).

use std::path::{Path, PathBuf};
use std::process::Command;

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include")
}

/// Compiles `source` to an object file (not `-fsyntax-only`: GCC reports ignored results only when it
/// generates code); returns the compiler's complaint on failure.
fn compile(compiler: &str, std: &str, extra: &[&str], source: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ext = if compiler == "g++" { "cpp" } else { "c" };
    let file = dir.path().join(format!("probe.{ext}"));
    std::fs::write(&file, source).map_err(|e| e.to_string())?;
    let output = Command::new(compiler)
        .args([std, "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", "-o"])
        .arg(dir.path().join("probe.o"))
        .arg("-I")
        .arg(include_dir())
        .args(extra)
        .arg(&file)
        .output()
        .map_err(|e| format!("cannot run {compiler} (install gcc and g++): {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

const USES_EVERYTHING: &str = r#"
#include "tenant_attach.h"
static void on_progress(void *user, uint64_t done, uint64_t total) { (void)user; (void)done; (void)total; }
int main(void) {
    ta_client *client = 0;
    char *json = 0;
    ta_progress_fn progress = on_progress;
    ta_cancel *cancel = ta_cancel_new();
    ta_status status = ta_client_open("{}", &client);
    if (status == TA_STATUS_OK && ta_client_config_json(client, &json) == TA_STATUS_OK) ta_string_free(json);
    ta_cancel_set(cancel);
    ta_cancel_free(cancel);
    ta_client_free(client);
    ta_string_free(ta_last_error_json());
    (void)progress;
    return (ta_status_name(status) != 0 && ta_version() != 0 && TA_VERSION_MAJOR >= 0) ? 0 : 1;
}
"#;

#[test]
fn header_compiles_as_c11_and_cpp_with_warnings_as_errors() {
    for (compiler, std) in [("gcc", "-std=c11"), ("g++", "-std=c++17"), ("g++", "-std=c++11")] {
        for hooks in [&[][..], &["-DTA_TEST_HOOKS"][..]] {
            if let Err(complaint) = compile(compiler, std, hooks, USES_EVERYTHING) {
                panic!("{compiler} {std} {hooks:?} rejects code using tenant_attach.h:\n{complaint}");
            }
        }
    }
}

#[test]
fn test_hooks_are_declared_only_on_request() {
    let calls_hook = "#include \"tenant_attach.h\"\nint main(void) { return ta_test_panic() == TA_STATUS_PANIC ? 0 : 1; }\n";
    assert!(compile("gcc", "-std=c11", &["-DTA_TEST_HOOKS"], calls_hook).is_ok());
    assert!(compile("gcc", "-std=c11", &[], calls_hook).is_err(), "ta_test_panic visible without TA_TEST_HOOKS");
}

#[test]
fn ignoring_a_status_is_a_warning() {
    let ignores = "#include \"tenant_attach.h\"\nint main(void) { ta_client *c = 0; ta_client_open(\"{}\", &c); ta_client_free(c); return 0; }\n";
    let complaint = compile("gcc", "-std=c11", &[], ignores).expect_err("an ignored ta_status compiles silently");
    assert!(complaint.contains("unused-result") || complaint.contains("warn_unused_result"), "{complaint}");
    let complaint = compile("g++", "-std=c++17", &[], ignores).expect_err("an ignored ta_status compiles silently in C++");
    assert!(complaint.contains("unused-result") || complaint.contains("nodiscard"), "{complaint}");
}
