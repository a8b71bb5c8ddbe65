//! Device actions: the three tenant attach supports, their names on every side (admin center, Graph,
//! ConfigMgr client notification, BGB template), and the site's checks on a received action.
//!
//! The mapping is one table ([`ACTIONS`]) so that it is easy to correct: only the first row's
//! TemplateID (`RequestMachinePolicy`, BGB 1) appears in Microsoft's documented logs; the other two
//! follow the order of ConfigMgr's client-notification list (DESIGN §1).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    SyncMachinePolicy,
    SyncUserPolicy,
    AppEvaluationCycle,
}

/// One row of the mapping table.
#[derive(Debug)]
pub struct ActionInfo {
    pub action: Action,
    /// As PowerShell users write it (`-Action SyncMachinePolicy`).
    pub friendly: &'static str,
    /// The admin center's button.
    pub label: &'static str,
    /// Graph's `configurationManagerAction.action` value.
    pub graph: &'static str,
    /// `Invoke-CMClientAction -ActionType` / the client notification.
    pub notification: &'static str,
    /// The BGB TemplateID name, as CMGatewayNotificationWorker.log writes it.
    pub template_id: &'static str,
    /// The BGB TemplateID number.
    pub template_number: u32,
    /// How `Invoke-CMClientAction` runs it on the device: the parameter and its value
    /// (`-NotificationType RequestMachinePolicyNow`, `-ActionType ClientNotificationAppDeplEvalNow`).
    pub invoke_parameter: &'static str,
    pub invoke_value: &'static str,
}

pub const ACTIONS: [ActionInfo; 3] = [
    ActionInfo {
        action: Action::SyncMachinePolicy,
        friendly: "SyncMachinePolicy",
        label: "Sync machine policy",
        graph: "refreshMachinePolicy",
        notification: "ClientNotificationRequestMachinePolicyNow",
        template_id: "RequestMachinePolicy",
        template_number: 1,
        invoke_parameter: "NotificationType",
        invoke_value: "RequestMachinePolicyNow",
    },
    ActionInfo {
        action: Action::SyncUserPolicy,
        friendly: "SyncUserPolicy",
        label: "Sync user policy",
        graph: "refreshUserPolicy",
        notification: "ClientNotificationRequestUsersPolicyNow",
        template_id: "RequestUsersPolicy",
        template_number: 2,
        invoke_parameter: "NotificationType",
        invoke_value: "RequestUsersPolicyNow",
    },
    ActionInfo {
        action: Action::AppEvaluationCycle,
        friendly: "AppEvaluationCycle",
        label: "App evaluation cycle",
        graph: "appEvaluation",
        notification: "ClientNotificationAppDeplEvalNow",
        template_id: "AppDeplEvalNow",
        template_number: 6,
        invoke_parameter: "ActionType",
        invoke_value: "ClientNotificationAppDeplEvalNow",
    },
];

/// Graph's other `configurationManagerActionType` values: real, but not tenant attach actions.
const OTHER_GRAPH_ACTIONS: [&str; 4] = ["wakeUpClient", "quickScan", "fullScan", "windowsDefenderUpdateSignatures"];

impl Action {
    pub fn info(self) -> &'static ActionInfo {
        // ACTIONS has one row per variant, in declaration order.
        &ACTIONS[self as usize]
    }

    /// Accepts the friendly name, the Graph name or the admin center's label, ignoring case and
    /// spaces; anything else is `UnsupportedAction` naming the three supported actions.
    pub fn parse(name: &str) -> Result<Action> {
        let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace() && *c != '-' && *c != '_').collect::<String>().to_lowercase();
        let wanted = squash(name);
        if let Some(row) = ACTIONS.iter().find(|row| [row.friendly, row.graph, row.label].iter().any(|n| squash(n) == wanted)) {
            return Ok(row.action);
        }
        let supported = ACTIONS.iter().map(|r| format!("{} ({})", r.friendly, r.graph)).collect::<Vec<_>>().join(", ");
        let what = if OTHER_GRAPH_ACTIONS.iter().any(|a| squash(a) == wanted) {
            format!("`{name}` is a Microsoft Graph action that tenant attach does not offer for ConfigMgr devices")
        } else {
            format!("`{name}` is not a device action")
        };
        Err(Error::new(ErrorKind::UnsupportedAction, format!("{what}; the supported actions are {supported}"))
            .with_details(serde_json::json!({ "action": name, "supported": ACTIONS.iter().map(|r| r.friendly).collect::<Vec<_>>() })))
    }
}

/// A user as the site's discoveries know them (the caller supplies the site's discovered users,
/// from `Get-CMUser` / `SMS_R_User`). Matched to the user who started an action by Azure AD object
/// id, else user principal name, else on-premises SID, as ConfigMgr's discovery records carry them.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiscoveredUser {
    /// The user's Azure AD object id (the `oid` the cloud names as `initiatedBy.aadUserId`).
    #[serde(default)]
    pub aad_user_id: Option<String>,
    /// The user principal name, `ada@contoso.com`.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// The on-premises security identifier (`SID` of SMS_R_User; Azure AD's onPremisesSecurityIdentifier).
    #[serde(default)]
    pub sid: Option<String>,
    /// Found by Active Directory user discovery.
    #[serde(rename = "adDiscovered")]
    pub ad_discovered: bool,
    /// Found by Azure Active Directory user discovery.
    #[serde(rename = "azureAdDiscovered")]
    pub azure_ad_discovered: bool,
}

/// Who started the action, as the gateway says.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Initiator {
    #[serde(default)]
    pub aad_user_id: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub on_premises_security_identifier: Option<String>,
}

/// Which user discoveries must have found the user who starts an action: both Azure AD user
/// discovery and AD user discovery (ConfigMgr 2002, tenant attach's first release: the default), or
/// either of them (ConfigMgr 2103 and later).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DiscoveryRule {
    /// Found by both Azure AD user discovery and AD user discovery (ConfigMgr 2002).
    #[default]
    Both,
    /// Found by either of them (ConfigMgr 2103 and later).
    Either,
}

impl DiscoveredUser {
    fn is(&self, who: &Initiator) -> bool {
        let same = |a: &Option<String>, b: &Option<String>| match (a.as_deref().map(str::trim), b.as_deref().map(str::trim)) {
            (Some(a), Some(b)) => !a.is_empty() && a.eq_ignore_ascii_case(b),
            _ => false,
        };
        same(&self.aad_user_id, &who.aad_user_id)
            || same(&self.user_principal_name, &who.user_principal_name)
            || same(&self.sid, &who.on_premises_security_identifier)
    }
}

/// A notification as the gateway delivers it (docs/GATEWAY.md). Every member is optional here so
/// that a malformed one is refused by [`validate`] with a reason, not lost in deserialisation.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub notification_id: Option<String>,
    pub hierarchy_id: Option<String>,
    pub tenant_id: Option<String>,
    pub managed_device_id: Option<String>,
    pub sms_id: Option<String>,
    pub device_name: Option<String>,
    pub action: Option<String>,
    pub initiated_by: Option<Initiator>,
    pub created_date_time: Option<String>,
    #[serde(default)]
    pub delivery_count: u32,
}

/// What the site decided about one notification (`decision` says which).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", tag = "decision")]
pub enum Decision {
    /// Hand this to the ConfigMgr client.
    #[serde(rename_all = "camelCase")]
    Authorized {
        /// The gateway's id of the notification: report its outcome with `ta_client_complete_notification`.
        notification_id: String,
        /// The Intune managed device id.
        managed_device_id: Option<String>,
        /// The device's SMSID: resolve it to a ResourceID for `Invoke-CMClientAction -DeviceId`.
        sms_id: String,
        device_name: Option<String>,
        /// `SyncMachinePolicy`, `SyncUserPolicy` or `AppEvaluationCycle`.
        action: &'static str,
        /// Graph's name of the action: `refreshMachinePolicy`, `refreshUserPolicy` or `appEvaluation`.
        graph_action: &'static str,
        /// The ConfigMgr client notification, `ClientNotificationRequestMachinePolicyNow`.
        notification_type: &'static str,
        /// The BGB template's name, `RequestMachinePolicy`.
        template_id: &'static str,
        /// The BGB template's number (`TemplateID: 1`).
        template_number: u32,
        /// `Invoke-CMClientAction`'s arguments besides `-DeviceId`, to splat:
        /// `{"NotificationType":"RequestMachinePolicyNow"}` or `{"ActionType":"ClientNotificationAppDeplEvalNow"}`.
        #[serde(rename = "invokeCMClientAction")]
        invoke_cm_client_action: std::collections::BTreeMap<&'static str, &'static str>,
        /// A new GUID for the ConfigMgr client's task; pass it back when completing.
        task_guid: String,
        tenant_id: String,
        /// Azure AD object id of the user who started the action.
        aad_user_id: String,
        user_principal_name: Option<String>,
    },
    /// Reported back to the cloud as failed with `reason`.
    #[serde(rename_all = "camelCase")]
    Refused {
        /// Null when the notification had no readable id (it cannot be reported back).
        notification_id: Option<String>,
        /// Why, as logged in CMGatewayNotificationWorker.log.
        reason: String,
        /// The user who started it is not allowed to (not discovered, wrong tenant...), as
        /// opposed to a malformed notification.
        unauthorized: bool,
    },
}

/// The outcome of one device of `ta_client_trigger_action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ActionOutcome {
    /// Graph accepted the action (204).
    Accepted,
    /// No managed device has this id (404).
    NotFound,
    /// The signed-in account may not act on this device (403).
    Forbidden,
    /// Still throttled (429) after every retry.
    Throttled,
    /// Any other answer, or none.
    Failed,
}

/// One device's result of `ta_client_trigger_action`, in the order the devices were given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    pub managed_device_id: String,
    /// The action as PowerShell names it, `SyncMachinePolicy`.
    pub action: &'static str,
    pub result: ActionOutcome,
    /// The HTTP status of the device's `$batch` step (absent when the batch had no answer for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u64>,
    /// The service's message; null when it gave none.
    pub message: Option<String>,
    /// How many times the action was sent (throttled steps are sent again); absent as `httpStatus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
}

/// The gateway's answer to `ta_client_complete_notification` (docs/GATEWAY.md, `NotificationResult`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub notification_id: String,
    /// The outcome kept: `succeeded` or `failed` (the first one reported, when completed twice).
    pub status: String,
    /// It had been completed before (completing twice is harmless).
    pub duplicate: bool,
}

/// A managed device as Microsoft Graph (beta) describes it, as `ta_client_list_devices` returns
/// them unchanged: the members tenant attach relies on. Graph has many more.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDevice {
    /// The managed device id (a GUID): what `ta_client_trigger_action` takes.
    pub id: String,
    pub device_name: String,
    /// `configurationManagerClient` for a device uploaded by tenant attach.
    pub management_agent: Option<String>,
    pub operating_system: Option<String>,
    pub os_version: Option<String>,
    pub azure_ad_device_id: Option<String>,
    pub serial_number: Option<String>,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    /// The ConfigMgr client's details.
    pub configuration_manager_client_information: Option<ConfigurationManagerClientInformation>,
}

/// Graph's `configurationManagerClientInformation`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationManagerClientInformation {
    /// The device's SMSID.
    pub client_identifier: Option<String>,
    pub client_version: Option<String>,
    pub is_blocked: Option<bool>,
}

/// Reads one notification as the gateway delivered it. A notification that is not an object, or
/// has a member of the wrong type, is an error with the reason, together with what could be read of
/// it (its `notificationId` when that is a string), so that it can still be reported back as failed
/// instead of being redelivered for ever.
pub fn parse_notification(raw: &serde_json::Value) -> std::result::Result<Notification, (Notification, String)> {
    match serde_path_to_error::deserialize::<_, Notification>(raw) {
        Ok(n) => Ok(n),
        Err(e) => {
            let id = raw.get("notificationId").and_then(|v| v.as_str()).map(str::to_owned);
            let path = e.path().to_string();
            let why = if raw.is_object() {
                format!("the notification is malformed at {path}: {}", e.inner())
            } else {
                "the notification is not a JSON object".to_owned()
            };
            Err((Notification { notification_id: id, ..Notification::default() }, why))
        }
    }
}

/// The site's checks, in the order CMGatewayNotificationWorker.log shows them, each step logged
/// through `log` (the caller's CMTrace logger). `hierarchy_id` is this site's hierarchy.
pub fn validate(n: &Notification, hierarchy_id: &str, users: &[DiscoveredUser], rule: DiscoveryRule, log: &dyn Fn(Severity, String)) -> Decision {
    log(Severity::Info, "Received new notification. Validating basic notification details...".into());
    let refuse = |reason: String, unauthorized: bool| {
        log(Severity::Error, format!("Notification {} refused: {reason}", n.notification_id.as_deref().unwrap_or("(no id)")));
        Decision::Refused { notification_id: n.notification_id.clone(), reason, unauthorized }
    };
    let notification_id = match n.notification_id.as_deref().filter(|id| uuid::Uuid::parse_str(id).is_ok()) {
        Some(id) => id.to_owned(),
        None => return refuse("the notification has no valid notificationId".into(), false),
    };
    if !n.hierarchy_id.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(hierarchy_id)) {
        return refuse(format!("the notification is for hierarchy {}, not this one ({hierarchy_id})", n.hierarchy_id.as_deref().unwrap_or("(none)")), false);
    }
    let Some(tenant_id) = n.tenant_id.clone().filter(|t| !t.is_empty()) else {
        return refuse("the notification names no tenant".into(), false);
    };
    let Some(sms_id) = n.sms_id.clone().filter(|s| !s.trim().is_empty()) else {
        return refuse("the notification names no target device (smsId)".into(), false);
    };

    log(Severity::Info, "Validating device action message content...".into());
    let action = match n.action.as_deref().map(Action::parse) {
        Some(Ok(action)) => action.info(),
        Some(Err(e)) => return refuse(e.message, false),
        None => return refuse("the notification names no action".into(), false),
    };
    let initiator = n.initiated_by.clone().unwrap_or(Initiator { aad_user_id: None, user_principal_name: None, on_premises_security_identifier: None });
    // Trimmed as users are matched (DiscoveredUser::is): the decision and the log name the id that
    // matched, never `both ` with the padding the notification carried (found by fuzzing).
    let Some(aad_user_id) = initiator.aad_user_id.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned) else {
        return refuse("the notification does not say which user started it".into(), false);
    };

    let user = users.iter().find(|u| u.is(&initiator));
    let missing = match (user, rule) {
        (None, _) => Some("the user was not found by Azure AD user discovery or AD user discovery".to_owned()),
        (Some(u), _) if !u.ad_discovered && !u.azure_ad_discovered => {
            Some("the user was found by neither AD user discovery nor Azure AD user discovery".into())
        }
        (Some(_), DiscoveryRule::Either) => None,
        (Some(u), DiscoveryRule::Both) if !u.ad_discovered => {
            Some("the user was not found by AD user discovery (found by Azure AD user discovery only)".into())
        }
        (Some(u), DiscoveryRule::Both) if !u.azure_ad_discovered => {
            Some("the user was not found by Azure AD user discovery (found by AD user discovery only)".into())
        }
        (Some(_), DiscoveryRule::Both) => None,
    };
    let who = format!("TemplateID: {} TenantId: {tenant_id} AADUserID: {aad_user_id}", action.template_id);
    if let Some(why) = missing {
        log(Severity::Warning, format!("Unauthorized to perform client action. {who}"));
        let needed = match rule {
            DiscoveryRule::Both => "by both Active Directory user discovery and Azure Active Directory user discovery",
            DiscoveryRule::Either => "by Active Directory user discovery or Azure Active Directory user discovery",
        };
        let reason = format!("Unauthorized to perform client action: {why}. The user must be a synced identity discovered {needed}.");
        return Decision::Refused { notification_id: Some(notification_id), reason, unauthorized: true };
    }
    log(Severity::Info, format!("Authorized to perform client action. {who}"));
    let task_guid = uuid::Uuid::new_v4().to_string().to_uppercase();
    log(Severity::Info, format!("Forwarded BGB remote task. TemplateID: {} TaskGuid: {task_guid} TaskParam: TargetDeviceIDs: 1", action.template_number));
    Decision::Authorized {
        notification_id,
        managed_device_id: n.managed_device_id.clone(),
        sms_id,
        device_name: n.device_name.clone(),
        action: action.friendly,
        graph_action: action.graph,
        notification_type: action.notification,
        template_id: action.template_id,
        template_number: action.template_number,
        invoke_cm_client_action: std::collections::BTreeMap::from([(action.invoke_parameter, action.invoke_value)]),
        task_guid,
        tenant_id,
        aad_user_id,
        user_principal_name: initiator.user_principal_name.or_else(|| user.and_then(|u| u.user_principal_name.clone())),
    }
}

pub use crate::cmtrace::Severity;

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-0a1b2c3d4e5f";

    fn notification(action: &str, user: &str) -> Notification {
        Notification {
            notification_id: Some("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9".into()),
            hierarchy_id: Some(HIERARCHY.into()),
            tenant_id: Some("c0ffee00-0000-4000-8000-000000000001".into()),
            managed_device_id: Some("md-1".into()),
            sms_id: Some("GUID:1".into()),
            device_name: Some("PC-ÅÄÖ-01".into()),
            action: Some(action.into()),
            initiated_by: Some(Initiator {
                aad_user_id: Some(user.into()),
                user_principal_name: Some(format!("{user}@contoso.onmicrosoft.com")),
                on_premises_security_identifier: Some(format!("S-1-5-21-1-2-3-{}", user.len())),
            }),
            created_date_time: None,
            delivery_count: 1,
        }
    }

    fn users() -> Vec<DiscoveredUser> {
        let u = |id: &str, ad, aad| DiscoveredUser { aad_user_id: Some(id.into()), ad_discovered: ad, azure_ad_discovered: aad, ..Default::default() };
        vec![u("both", true, true), u("ad-only", true, false), u("aad-only", false, true)]
    }

    fn run(n: &Notification) -> (Decision, Vec<String>) {
        let lines = RefCell::new(Vec::new());
        let decision = validate(n, HIERARCHY, &users(), DiscoveryRule::Both, &|_, line| lines.borrow_mut().push(line));
        (decision, lines.into_inner())
    }

    #[test]
    fn a_wrong_typed_notification_keeps_its_id_so_it_can_be_reported() {
        let id = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";
        let (n, why) = parse_notification(&serde_json::json!({"notificationId": id, "smsId": 42})).unwrap_err();
        assert_eq!(n.notification_id.as_deref(), Some(id));
        assert!(why.contains("smsId"), "{why}");
        let (n, why) = parse_notification(&serde_json::json!({"notificationId": 7})).unwrap_err();
        assert_eq!(n.notification_id, None);
        assert!(why.contains("notificationId"), "{why}");
        let (_, why) = parse_notification(&serde_json::json!([1, 2])).unwrap_err();
        assert_eq!(why, "the notification is not a JSON object");
        let good = serde_json::to_value(notification("SyncMachinePolicy", "both")).unwrap();
        assert_eq!(parse_notification(&good).unwrap(), notification("SyncMachinePolicy", "both"));
    }

    #[test]
    fn every_name_of_each_action_is_accepted() {
        for row in &ACTIONS {
            for name in [row.friendly, row.graph, row.label, &row.friendly.to_uppercase()] {
                assert_eq!(Action::parse(name).expect(name), row.action);
            }
            assert_eq!(row.action.info().friendly, row.friendly);
        }
    }

    #[test]
    fn other_actions_are_refused_naming_the_three() {
        for name in ["wakeUpClient", "quickScan", "Reboot", ""] {
            let e = Action::parse(name).expect_err(name);
            assert_eq!(e.kind, ErrorKind::UnsupportedAction);
            for row in &ACTIONS {
                assert!(e.message.contains(row.friendly) && e.message.contains(row.graph), "{}", e.message);
            }
        }
        assert!(Action::parse("quickScan").unwrap_err().message.contains("Microsoft Graph action"));
    }

    #[test]
    fn a_user_discovered_by_both_is_authorized_with_the_documented_lines() {
        let (decision, lines) = run(&notification("refreshMachinePolicy", "both"));
        let Decision::Authorized { template_id, template_number, notification_type, task_guid, invoke_cm_client_action, .. } = decision else {
            panic!("refused: {decision:?}")
        };
        assert_eq!((template_id, template_number, notification_type), ("RequestMachinePolicy", 1, "ClientNotificationRequestMachinePolicyNow"));
        assert_eq!(serde_json::to_value(invoke_cm_client_action).unwrap(), serde_json::json!({ "NotificationType": "RequestMachinePolicyNow" }));
        assert_eq!(lines[0], "Received new notification. Validating basic notification details...");
        assert_eq!(lines[1], "Validating device action message content...");
        assert_eq!(
            lines[2],
            "Authorized to perform client action. TemplateID: RequestMachinePolicy TenantId: c0ffee00-0000-4000-8000-000000000001 AADUserID: both"
        );
        assert_eq!(lines[3], format!("Forwarded BGB remote task. TemplateID: 1 TaskGuid: {task_guid} TaskParam: TargetDeviceIDs: 1"));
    }

    #[test]
    fn users_missing_a_discovery_are_refused_with_the_reason() {
        for (user, phrase) in [("ad-only", "not found by Azure AD user discovery"), ("aad-only", "not found by AD user discovery"), ("nobody", "not found")] {
            let (decision, lines) = run(&notification("appEvaluation", user));
            match decision {
                Decision::Refused { reason, unauthorized, .. } => {
                    assert!(unauthorized && reason.contains(phrase), "{user}: {reason}");
                }
                other => panic!("{user} authorized: {other:?}"),
            }
            assert!(lines[2].starts_with("Unauthorized to perform client action. TemplateID: AppDeplEvalNow"), "{lines:?}");
        }
    }

    #[test]
    fn invoke_cm_client_action_gets_the_documented_arguments_for_each_action() {
        let args = |action: &str| {
            let lines = RefCell::new(Vec::new());
            match validate(&notification(action, "both"), HIERARCHY, &users(), DiscoveryRule::Both, &|_, l| lines.borrow_mut().push(l)) {
                Decision::Authorized { invoke_cm_client_action, .. } => serde_json::to_value(invoke_cm_client_action).unwrap(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(args("SyncMachinePolicy"), serde_json::json!({ "NotificationType": "RequestMachinePolicyNow" }));
        assert_eq!(args("SyncUserPolicy"), serde_json::json!({ "NotificationType": "RequestUsersPolicyNow" }));
        assert_eq!(args("AppEvaluationCycle"), serde_json::json!({ "ActionType": "ClientNotificationAppDeplEvalNow" }));
    }

    #[test]
    fn users_are_matched_by_object_id_upn_or_sid_and_the_rule_decides_one_discovery_or_both() {
        let decide = |users: &[DiscoveredUser], rule| {
            let lines = RefCell::new(Vec::new());
            validate(&notification("SyncUserPolicy", "ad-only"), HIERARCHY, users, rule, &|_, l| lines.borrow_mut().push(l))
        };
        let by_upn = DiscoveredUser { user_principal_name: Some("AD-ONLY@contoso.onmicrosoft.com".into()), ad_discovered: true, ..Default::default() };
        let by_sid = DiscoveredUser { sid: Some("S-1-5-21-1-2-3-7".into()), ad_discovered: true, ..Default::default() };
        let nobody = DiscoveredUser { sid: Some("S-1-5-21-9".into()), ad_discovered: true, azure_ad_discovered: true, ..Default::default() };
        for user in [&by_upn, &by_sid] {
            assert!(matches!(decide(std::slice::from_ref(user), DiscoveryRule::Either), Decision::Authorized { .. }), "{user:?}");
            match decide(std::slice::from_ref(user), DiscoveryRule::Both) {
                Decision::Refused { reason, unauthorized: true, .. } => assert!(reason.contains("by both"), "{reason}"),
                other => panic!("{other:?}"),
            }
        }
        match decide(std::slice::from_ref(&nobody), DiscoveryRule::Either) {
            Decision::Refused { reason, unauthorized: true, .. } => {
                assert!(reason.contains("not found") && reason.contains(" or Azure Active Directory"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// Found 12 minutes into a 30-minute run of the `notification` fuzz target: `"aadUserId":
    /// "both "` matched the discovered user `both` (ids are compared trimmed), and the action was
    /// authorized in the name of `both `, an id no discovery holds.
    #[test]
    fn an_action_is_authorized_in_the_name_of_the_discovered_user_never_of_the_padding_around_it() {
        for padded in ["both ", " both", "\tBOTH\n"] {
            let (decision, lines) = run(&notification("SyncMachinePolicy", padded));
            let Decision::Authorized { aad_user_id, .. } = decision else { panic!("{padded:?}: {decision:?}") };
            assert_eq!(aad_user_id, padded.trim(), "{padded:?}");
            assert!(lines.iter().any(|l| l.ends_with(&format!("AADUserID: {}", padded.trim()))), "{lines:?}");
        }
        let (decision, _) = run(&notification("SyncMachinePolicy", "   "));
        assert!(matches!(decision, Decision::Refused { unauthorized: false, ref reason, .. } if reason.contains("which user")), "{decision:?}");
    }

    #[test]
    fn malformed_notifications_are_refused_not_dropped() {
        let mut wrong_hierarchy = notification("refreshUserPolicy", "both");
        wrong_hierarchy.hierarchy_id = Some("someone-else".into());
        let mut no_id = notification("refreshUserPolicy", "both");
        no_id.notification_id = Some("not-a-guid".into());
        let bad_action = notification("fullScan", "both");
        let mut no_user = notification("refreshUserPolicy", "both");
        no_user.initiated_by = None;
        for n in [wrong_hierarchy, no_id, bad_action, no_user] {
            assert!(matches!(run(&n).0, Decision::Refused { unauthorized: false, .. }), "{n:?}");
        }
    }
}

/// How many `$batch` requests are in flight at once: the client prepares and reads one while the
/// service runs the other (Graph accepts concurrent batches; throttling answers 429 per step).
const BATCHES_IN_FLIGHT: usize = 2;

/// One `$batch` answer: its JSON when it carries step answers, whatever its status (Graph answers
/// 200; its throttling guidance once documented a 424 for a batch with throttled steps), else the
/// service's error.
fn batch_answer(res: crate::http::Response, what: &str) -> Result<serde_json::Value> {
    let body: serde_json::Value = serde_json::from_slice(&res.body).unwrap_or(serde_json::Value::Null);
    if body["responses"].is_array() {
        return Ok(body);
    }
    Err(crate::http::service_error(&res, what))
}

/// A step answer's header, its name matched without regard to case (Graph writes `Retry-After`).
fn step_header<'a>(step: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    step["headers"].as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
}

/// Admin side: triggers `action` on managed devices through Graph, 20 per `$batch` (Graph's
/// limit), two batches in flight; throttled steps are sent again after their Retry-After (whole or
/// decimal seconds, any header case), also when the batch itself answers 424. One result per
/// device, in the order given: `accepted`, `notFound`, `forbidden` or `failed`, with the
/// service's message. The caller's `cancelled` is only ever called on the calling thread (a
/// PowerShell or C# callback may not be callable from another one).
pub fn trigger(
    services: &crate::services::Services,
    device_ids: &[String],
    action: Action,
    cancelled: &dyn Fn() -> bool,
    log: Option<&crate::cmtrace::Logger>,
) -> Result<Vec<serde_json::Value>> {
    use serde_json::{json, Value};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let info = action.info();
    // Signed in on the calling thread first: a device code prompt (a host's callback) is shown there.
    services.auth.token(&services.transport, crate::config::GRAPH_RESOURCE, cancelled)?;
    let mut results: Vec<Option<ActionResult>> = vec![None; device_ids.len()];
    let mut pending: Vec<usize> = (0..device_ids.len()).collect();
    let mut round = 0;
    while !pending.is_empty() {
        round += 1;
        let chunks: Vec<&[usize]> = pending.chunks(20).collect();
        let next = AtomicUsize::new(0);
        // Set by the calling thread when `cancelled()` says so, or by any sender on an error.
        let stop = AtomicBool::new(false);
        let failure: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        let answers: std::sync::Mutex<Vec<Value>> = std::sync::Mutex::new(Vec::with_capacity(chunks.len()));
        let send = |chunk: &[usize], cancelled: &dyn Fn() -> bool| -> Result<Value> {
            let requests: Vec<Value> = chunk
                .iter()
                .map(|&i| {
                    json!({ "id": i.to_string(), "method": "POST",
                    "url": format!("/deviceManagement/managedDevices/{}/triggerConfigurationManagerAction", device_ids[i]),
                    "headers": { "Content-Type": "application/json" },
                    "body": { "configurationManagerAction": { "action": info.graph } } })
                })
                .collect();
            let url = format!("{}/beta/$batch", services.graph);
            let what = "triggering device actions";
            let res = services.call(crate::config::GRAPH_RESOURCE, "POST", &url, Some(&json!({ "requests": requests })), false, what, cancelled)?;
            batch_answer(res, what)
        };
        // Takes the next chunk and sends it, until none is left or the run stops.
        let sender = |cancelled: &dyn Fn() -> bool| {
            while !stop.load(Ordering::SeqCst) {
                let Some(chunk) = chunks.get(next.fetch_add(1, Ordering::SeqCst)) else { return };
                match send(chunk, cancelled) {
                    Ok(answer) => answers.lock().unwrap_or_else(|e| e.into_inner()).push(answer),
                    Err(e) => {
                        stop.store(true, Ordering::SeqCst);
                        failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                    }
                }
            }
        };
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..BATCHES_IN_FLIGHT.min(chunks.len())).map(|_| scope.spawn(|| sender(&|| stop.load(Ordering::SeqCst)))).collect();
            // The calling thread sends too, and is the one that asks `cancelled()`.
            let own = || {
                if !stop.load(Ordering::SeqCst) && cancelled() {
                    stop.store(true, Ordering::SeqCst);
                    failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| {
                        Error::new(ErrorKind::Cancelled, "triggering the action was cancelled; devices already answered keep their action")
                    });
                }
                stop.load(Ordering::SeqCst)
            };
            sender(&own);
            for helper in helpers {
                if helper.join().is_err() {
                    stop.store(true, Ordering::SeqCst);
                    failure
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert_with(|| Error::internal("a batch sender failed unexpectedly (a bug, please report it)"));
                }
            }
        });
        if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        let mut throttled = Vec::new();
        let mut wait = std::time::Duration::ZERO;
        for answer in answers.into_inner().unwrap_or_else(|e| e.into_inner()) {
            // Answers come in any order: each is matched to its device by its id.
            for step in answer["responses"].as_array().into_iter().flatten() {
                let Some(i) = step["id"].as_str().and_then(|s| s.parse::<usize>().ok()).filter(|i| *i < device_ids.len()) else { continue };
                if results[i].is_some() || throttled.contains(&i) {
                    continue;
                }
                let status = step["status"].as_u64().unwrap_or(0);
                let message = crate::http::graph_message(step["body"]["error"]["message"].as_str().unwrap_or(""));
                let outcome = match status {
                    200..=299 => ActionOutcome::Accepted,
                    404 => ActionOutcome::NotFound,
                    403 => ActionOutcome::Forbidden,
                    429 if round < 6 => {
                        let after = step_header(step, "retry-after").and_then(crate::http::parse_retry_after).unwrap_or(std::time::Duration::from_secs(1));
                        wait = wait.max(after);
                        throttled.push(i);
                        continue;
                    }
                    429 => ActionOutcome::Throttled,
                    _ => ActionOutcome::Failed,
                };
                results[i] = Some(ActionResult {
                    managed_device_id: device_ids[i].clone(),
                    action: info.friendly,
                    result: outcome,
                    http_status: Some(status),
                    message: (!message.is_empty()).then(|| crate::redact::scrub(&message).into_owned()),
                    attempts: Some(round),
                });
            }
        }
        throttled.sort_unstable();
        if !throttled.is_empty() {
            if let Some(l) = log {
                l.warning(format!("{} device actions were throttled; sending them again in {:.1} s", throttled.len(), wait.as_secs_f64()));
            }
            let end = std::time::Instant::now() + wait.min(std::time::Duration::from_secs(60));
            while std::time::Instant::now() < end {
                if cancelled() {
                    return Err(Error::new(ErrorKind::Cancelled, "triggering the action was cancelled"));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        pending = throttled;
    }
    let out: Vec<ActionResult> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| ActionResult {
                managed_device_id: device_ids[i].clone(),
                action: info.friendly,
                result: ActionOutcome::Failed,
                http_status: None,
                message: Some("no answer for this device in the batch".to_owned()),
                attempts: None,
            })
        })
        .collect();
    if let Some(l) = log {
        let accepted = out.iter().filter(|r| r.result == ActionOutcome::Accepted).count();
        l.info(format!("Triggered {} ({}) on {} devices: {accepted} accepted", info.friendly, info.graph, out.len()));
    }
    out.iter().map(|r| serde_json::to_value(r).map_err(|e| Error::internal(e.to_string()))).collect()
}

/// The devices as the admin center sees them (every page of Graph's managedDevices), optionally
/// filtered with a Graph `$filter`.
///
/// Every device a filtered listing returns is checked against the filter: Intune ignores a filter
/// on a property it does not support and answers with every device, and a script that acts on
/// that answer would act on the whole fleet. When any returned device does not match, nothing is
/// returned: the call fails (`InvalidArgument`, code `FilterNotApplied`) naming how many devices
/// did not match, with examples. A filter the library cannot evaluate, or one with `or` (which
/// Intune does not support: it is reported to apply the first part only, and a device missing
/// from an answer cannot be noticed), is refused before anything is sent.
pub fn list_devices(services: &crate::services::Services, filter: Option<&str>, cancelled: &dyn Fn() -> bool) -> Result<Vec<serde_json::Value>> {
    let check = filter.map(crate::filter::Filter::parse).transpose()?;
    if let Some(f) = check.as_ref().filter(|f| f.uses_or()) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the filter `{}` joins parts with `or`, which Intune's managed devices do not support (Microsoft Graph documents that combinations \
                 must use `and`; the service is reported to apply only the first part, and a device missing from its answer cannot be noticed): \
                 list each part on its own",
                f.text()
            ),
        )
        .with_code("FilterNotSupported")
        .with_details(serde_json::json!({ "filter": f.text() })));
    }
    let mut url = url::Url::parse(&format!("{}/beta/deviceManagement/managedDevices", services.graph))
        .map_err(|e| Error::invalid_config(format!("endpoints.graph: {e}")))?;
    url.query_pairs_mut().append_pair("$top", "1000");
    if let Some(f) = filter {
        url.query_pairs_mut().append_pair("$filter", f);
    }
    let mut next = Some(url.to_string());
    let mut out = Vec::new();
    while let Some(page_url) = next {
        let page = services.graph("GET", &page_url, None, "listing devices", cancelled)?;
        out.extend(page["value"].as_array().cloned().unwrap_or_default());
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    if let Some(check) = check {
        refuse_unfiltered(&check, &out)?;
    }
    Ok(out)
}

/// Fails when the service returned devices that do not match `filter` (it did not apply it).
pub fn refuse_unfiltered(filter: &crate::filter::Filter, devices: &[serde_json::Value]) -> Result<()> {
    let wrong: Vec<&serde_json::Value> = devices.iter().filter(|d| !filter.matches(d)).collect();
    if wrong.is_empty() {
        return Ok(());
    }
    let examples: Vec<serde_json::Value> = wrong.iter().take(5).map(|d| serde_json::json!({ "id": d["id"], "deviceName": d["deviceName"] })).collect();
    let names: Vec<&str> = wrong.iter().take(3).map(|d| d["deviceName"].as_str().or(d["id"].as_str()).unwrap_or("?")).collect();
    Err(Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "the service did not apply the filter `{}`: {} of the {} devices it returned do not match it (for example {}), so no device is returned and              none can be acted on. Intune ignores a filter on a property it does not support and answers with every device (and is reported to apply              only the first part of an `or`, and `ne` as `eq`); filter on a property it supports, such as deviceName or operatingSystem, joined by `and`",
            filter.text(),
            wrong.len(),
            devices.len(),
            names.join(", ")
        ),
    )
    .with_code("FilterNotApplied")
    .with_details(serde_json::json!({ "filter": filter.text(), "returned": devices.len(), "notMatching": wrong.len(), "examples": examples })))
}

/// Triggers `action` on the devices a filtered listing returns, each checked against the filter
/// first ([`list_devices`]): when the service did not apply the filter, nothing is triggered.
pub fn trigger_filtered(
    services: &crate::services::Services,
    filter: &str,
    action: Action,
    cancelled: &dyn Fn() -> bool,
    log: Option<&crate::cmtrace::Logger>,
) -> Result<Vec<serde_json::Value>> {
    let devices = list_devices(services, Some(filter), cancelled).inspect_err(|e| {
        if let (Some(l), Some("FilterNotApplied")) = (log, e.code.as_deref()) {
            l.error(format!("No device action sent: {}", e.message));
        }
    })?;
    let ids: Vec<String> = devices.iter().filter_map(|d| d["id"].as_str().map(str::to_owned)).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    trigger(services, &ids, action, cancelled, log)
}

/// Site side: waits (long-poll) for actions, checks each one, reports the refused ones back to
/// the cloud as failed (the caller need not), and returns every decision.
pub fn receive(
    services: &crate::services::Services,
    hierarchy: &str,
    users: &[DiscoveredUser],
    rule: DiscoveryRule,
    timeout_seconds: u64,
    cancelled: &dyn Fn() -> bool,
    log: &dyn Fn(Severity, String),
) -> Result<Vec<Decision>> {
    let timeout_seconds = timeout_seconds.min(60);
    let url = format!("{}/api/gateway/Notification?hierarchyId={hierarchy}&timeoutSeconds={timeout_seconds}&max=100", services.gateway);
    let token = services.auth.token(&services.transport, crate::config::GATEWAY_RESOURCE, cancelled)?;
    let mut req = crate::http::Request::get(&url, "receiving device actions").bearer(&token);
    req.timeout = Some(std::time::Duration::from_secs(timeout_seconds + 30));
    let res = services.transport.send(&req, cancelled)?;
    if res.status == 404 {
        return Err(crate::services::not_onboarded(hierarchy));
    }
    if res.status == 401 {
        return Err(crate::services::site_refused(&res, hierarchy, "receiving device actions"));
    }
    let body = crate::services::expect_ok(res, "receiving device actions")?;
    let mut decisions = Vec::new();
    for raw in body["notifications"].as_array().into_iter().flatten() {
        let decision = match parse_notification(raw) {
            Ok(n) => validate(&n, hierarchy, users, rule, log),
            Err((n, why)) => {
                log(Severity::Info, "Received new notification. Validating basic notification details...".into());
                log(Severity::Error, format!("Notification {} refused: {why}", n.notification_id.as_deref().unwrap_or("(no id)")));
                Decision::Refused { notification_id: n.notification_id, reason: why, unauthorized: false }
            }
        };
        if let Decision::Refused { notification_id: Some(id), reason, .. } = &decision {
            complete(services, hierarchy, id, false, Some(reason), None, cancelled)?;
        }
        decisions.push(decision);
    }
    Ok(decisions)
}

/// Reports an action's outcome; completing twice is harmless (`duplicate: true`).
pub fn complete(
    services: &crate::services::Services,
    hierarchy: &str,
    notification_id: &str,
    succeeded: bool,
    reason: Option<&str>,
    task_guid: Option<&str>,
    cancelled: &dyn Fn() -> bool,
) -> Result<serde_json::Value> {
    let body = serde_json::json!({ "hierarchyId": hierarchy, "notificationId": notification_id, "status": if succeeded { "succeeded" } else { "failed" },
        "reason": reason, "taskGuid": task_guid });
    let res = services.gateway("POST", "/api/gateway/NotificationResult", Some(&body), true, "reporting an action's outcome", cancelled)?;
    if res.status == 401 {
        return Err(crate::services::site_refused(&res, hierarchy, "reporting an action's outcome"));
    }
    let answer = crate::services::expect_ok(res, "reporting an action's outcome")?;
    let completion: Completion = serde_json::from_value(answer).map_err(|e| {
        Error::new(ErrorKind::Server, format!("the gateway's answer to reporting an action's outcome is not understood ({e}); is the gateway endpoint right?"))
    })?;
    serde_json::to_value(completion).map_err(|e| Error::internal(e.to_string()))
}
