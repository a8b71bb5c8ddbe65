//! The committed C header must be exactly what build.rs generates from the current source.

use std::path::Path;

/// What build.rs wrote for this build.
const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/tenant_attach.h"));

#[test]
fn committed_header_matches_the_generated_one() {
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/tenant_attach.h");
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    if committed != GENERATED {
        let first_difference = committed
            .lines()
            .zip(GENERATED.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| committed.lines().count().min(GENERATED.lines().count()) + 1);
        panic!(
            "include/tenant_attach.h is out of date with src/ffi (first difference at line {first_difference}).\n\
             Regenerate it with:\n\n    TA_UPDATE_HEADER=1 cargo build -p tenant-attach\n\n\
             and commit the result."
        );
    }
}

#[test]
fn header_declares_the_whole_documented_surface() {
    for declaration in [
        "typedef struct ta_client ta_client;",
        "typedef struct ta_cancel ta_cancel;",
        "typedef void (*ta_progress_fn)(void *user, uint64_t done, uint64_t total);",
        "typedef int32_t ta_status;",
        "TA_MUST_USE ta_status ta_client_open(const char *config_json, struct ta_client **out_client);",
        "TA_MUST_USE ta_status ta_client_config_json(const struct ta_client *client, char **out_json);",
        "uint32_t ta_abi_version(void);",
        "#define TA_ABI_VERSION 1",
        "void ta_client_free(struct ta_client *client);",
        "char *ta_last_error_json(void);",
        "void ta_string_free(char *s);",
        "const char *ta_version(void);",
        "const char *ta_status_name(int status);",
        "struct ta_cancel *ta_cancel_new(void);",
        "void ta_cancel_set(const struct ta_cancel *cancel);",
        "void ta_cancel_free(struct ta_cancel *cancel);",
        "#define TA_STATUS_OK 0",
        "#define TA_STATUS_INVALID_CONFIG 4",
        "#define TA_STATUS_PANIC 23",
        "#define TA_STATUS_CALLBACK_REENTRY 25",
    ] {
        assert!(GENERATED.contains(declaration), "the header lacks `{declaration}`");
    }
    // Test-only exports exist only for callers that ask for them.
    let hook = GENERATED.find("ta_test_panic(void)").expect("ta_test_panic declared");
    let guard = GENERATED[..hook].rfind("#if defined(TA_TEST_HOOKS)").expect("ta_test_panic under TA_TEST_HOOKS");
    assert!(!GENERATED[guard..hook].contains("#endif"), "ta_test_panic is outside its #if");
}

#[test]
fn the_soname_carries_the_abi_major() {
    let build = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("build.rs")).expect("build.rs");
    assert!(
        build.contains(&format!("const ABI_MAJOR: u32 = {};", tenant_attach::ffi::TA_ABI_VERSION)),
        "build.rs's ABI_MAJOR (the SONAME's number) must equal TA_ABI_VERSION"
    );
}
