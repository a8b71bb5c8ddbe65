//! The gateway's notifications, as the site's notification worker reads them: any JSON gives an
//! authorized action or a refusal with a reason, never a panic. Only a well-formed action of one
//! of the three kinds, started by a user both discoveries found, is authorized; and no text in a
//! notification can break a CMTrace log line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenant_attach::actions::{self, Decision, DiscoveredUser};
use tenant_attach::cmtrace::{self, Severity};

const HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-0a1b2c3d4e5f";

fn users() -> Vec<DiscoveredUser> {
    let user = |id: &str, ad, aad| DiscoveredUser { aad_user_id: Some(id.into()), ad_discovered: ad, azure_ad_discovered: aad, ..Default::default() };
    vec![user("both", true, true), user("ad-only", true, false), user("aad-only", false, true)]
}

fn log(severity: Severity, message: String) {
    let now = chrono::Utc::now();
    let line = cmtrace::format_entry(&now, "CMGatewayNotificationWorker", severity, 1, "fuzz", &message);
    let entry = cmtrace::parse_line(&line).unwrap_or_else(|| panic!("a log line CMTrace cannot read: {line:?}"));
    assert_eq!(entry.component, "CMGatewayNotificationWorker");
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let users = users();
    let raws = match &value {
        serde_json::Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    for raw in raws {
        let decision = match actions::parse_notification(raw) {
            Ok(n) => actions::validate(&n, HIERARCHY, &users, actions::DiscoveryRule::Both, &log),
            Err((_, reason)) => {
                assert!(!reason.is_empty());
                continue;
            }
        };
        match decision {
            Decision::Authorized { notification_id, aad_user_id, template_id, .. } => {
                assert!(uuid::Uuid::parse_str(&notification_id).is_ok(), "authorized without a valid id: {notification_id:?}");
                assert!(aad_user_id.eq_ignore_ascii_case("both"), "authorized for {aad_user_id:?}");
                assert!(actions::ACTIONS.iter().any(|a| a.template_id == template_id), "unknown TemplateID {template_id}");
            }
            Decision::Refused { reason, .. } => assert!(!reason.is_empty()),
        }
    }
});
