//! The configuration JSON given to `ta_client_open`: any bytes give a configuration or an error
//! with a message, never a panic; an accepted configuration shows no secret in its effective form,
//! and its proxy password, as every reader of the URL takes it (ureq, which the transport uses and
//! which sends it as written; url::Url; both percent-decoded), is hidden and registered as a secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenant_attach::config::{AuthConfig, Config, REDACTED};
use tenant_attach::redact;

/// The password ureq would send for this proxy text, read from its `Debug` form (the fields are
/// private), still escaped as `Debug` escapes a string; independent of the library's own parser.
fn ureq_password(raw: &str) -> Option<String> {
    let debug = format!("{:?}", ureq::Proxy::new(raw).ok()?);
    let start = debug.find("password: Some(\"")? + "password: Some(\"".len();
    let end = debug.rfind("\"), proto:")?;
    (end > start).then(|| debug[start..end].to_owned())
}

/// `s` as `Debug` shows it, without the quotes: comparable with `ureq_password`.
fn escaped(s: &str) -> String {
    let debug = format!("{s:?}");
    debug[1..debug.len() - 1].to_owned()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the C ABI refuses invalid UTF-8 before parsing (tests/ffi.rs)
    };
    match Config::from_json(text) {
        Ok(config) => {
            assert!(config.validate().is_ok(), "an accepted configuration validates again");
            let shown = config.to_redacted_json();
            match &config.auth {
                Some(AuthConfig::ClientSecret { .. }) => assert_eq!(shown["auth"]["clientSecret"], REDACTED),
                Some(AuthConfig::AccessToken { .. }) => assert_eq!(shown["auth"]["accessToken"], REDACTED),
                _ => {}
            }
            let Some(proxy) = config.proxy.as_deref() else { return };
            let shown_proxy = shown["proxy"].as_str().unwrap_or_default();
            // What the transport would take from the shown value is the mask, nothing else.
            assert!(matches!(ureq_password(shown_proxy).as_deref(), None | Some(REDACTED)), "ureq reads a password in the shown proxy");
            let url_shown = url::Url::parse(shown_proxy).ok();
            assert!(matches!(url_shown.as_ref().and_then(|u| u.password()), None | Some(REDACTED)), "url reads a password in the shown proxy");
            let mut readings: Vec<String> = ureq_password(proxy).into_iter().collect();
            readings.extend(url::Url::parse(proxy).ok().and_then(|u| u.password().map(str::to_owned)));
            for reading in readings.clone() {
                readings.push(percent_encoding::percent_decode_str(&reading).decode_utf8_lossy().into_owned());
            }
            for password in readings.iter().filter(|p| p.as_str() != REDACTED) {
                assert!(!escaped(shown_proxy).contains(&format!(":{password}@")), "the proxy password is shown");
                assert!(!shown_proxy.contains(&format!(":{password}@")), "the proxy password is shown");
                if password.chars().count() >= redact::MIN_SECRET_LEN {
                    assert!(!redact::scrub(password).contains(password.as_str()), "the proxy password is not registered as a secret");
                }
            }
        }
        Err(e) => assert!(!e.message.trim().is_empty(), "an error without a message for {text:?}"),
    }
});
