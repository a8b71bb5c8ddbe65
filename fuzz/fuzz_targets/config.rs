//! The configuration JSON given to `ta_client_open`: any bytes give a configuration or an error
//! with a message, never a panic; an accepted configuration shows no secret in its effective form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenant_attach::config::{AuthConfig, Config, REDACTED};

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
            if let Some(password) = config.proxy.as_deref().and_then(|p| url::Url::parse(p).ok()).and_then(|u| u.password().map(str::to_owned)) {
                assert!(!shown["proxy"].as_str().unwrap_or_default().contains(&format!(":{password}@")), "the proxy password is shown");
            }
        }
        Err(e) => assert!(!e.message.trim().is_empty(), "an error without a message for {text:?}"),
    }
});
