//! Helpers for the cloud's tests: an HTTPS client trusting the cloud's CA, tokens by the real flows.
#![allow(dead_code)]

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};
use tenant_attach_cloud::CloudHandle;

pub const GRAPH: &str = "https://graph.microsoft.com/.default";
pub const GATEWAY: &str = "https://gateway.configmgr.manage.microsoft.com/.default";

pub fn client(cloud: &CloudHandle) -> Client {
    let pem = std::fs::read(cloud.ca_file()).expect("CA file");
    let ca = reqwest::Certificate::from_pem(&pem).expect("CA parses");
    Client::builder().add_root_certificate(ca).timeout(std::time::Duration::from_secs(60)).build().expect("client")
}

pub fn json(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// An app token by client credentials.
pub fn app_token(cloud: &CloudHandle, tenant: &str, client_id: &str, secret: &str, scope: &str) -> (u16, Value) {
    json(
        client(cloud)
            .post(format!("{}/{tenant}/oauth2/v2.0/token", cloud.url()))
            .form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret), ("scope", scope)])
            .send()
            .expect("token request"),
    )
}

pub fn bearer(token: &(u16, Value)) -> String {
    assert_eq!(token.0, 200, "token: {}", token.1);
    format!("Bearer {}", token.1["access_token"].as_str().expect("access_token"))
}

/// A user's tokens by the device code flow, approved as `user`.
pub fn user_tokens(cloud: &CloudHandle, tenant: &str, user: &str, scope: &str) -> Value {
    let c = client(cloud);
    let (status, code) = json(
        c.post(format!("{}/{tenant}/oauth2/v2.0/devicecode", cloud.url()))
            .form(&[("client_id", tenant_attach_cloud::GRAPH_POWERSHELL_CLIENT), ("scope", &format!("{scope} openid offline_access"))])
            .send()
            .expect("devicecode"),
    );
    assert_eq!(status, 200, "{code}");
    cloud.approve_device_code(code["user_code"].as_str().expect("user_code"), user).expect("approve");
    let (status, token) = json(
        c.post(format!("{}/{tenant}/oauth2/v2.0/token", cloud.url()))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", tenant_attach_cloud::GRAPH_POWERSHELL_CLIENT),
                ("device_code", code["device_code"].as_str().expect("device_code")),
            ])
            .send()
            .expect("token"),
    );
    assert_eq!(status, 200, "{token}");
    token
}

pub fn user_bearer(cloud: &CloudHandle, tenant: &str, user: &str, scope: &str) -> String {
    format!("Bearer {}", user_tokens(cloud, tenant, user, scope)["access_token"].as_str().expect("access_token"))
}

/// Creates an app + secret + service principal as the tenant's admin and onboards `hierarchy`;
/// returns (app id, secret).
pub fn onboard(cloud: &CloudHandle, tenant: &str, admin: &str, hierarchy: &str) -> (String, String) {
    let c = client(cloud);
    let graph = user_bearer(cloud, tenant, admin, GRAPH);
    let (s, app) = json(
        c.post(format!("{}/v1.0/applications", cloud.url()))
            .header("Authorization", &graph)
            .json(&json!({ "displayName": format!("ConfigMgr {hierarchy}"), "identifierUris": [format!("api://{tenant}/ConfigMgrService-{hierarchy}")] }))
            .send()
            .expect("create app"),
    );
    assert_eq!(s, 201, "{app}");
    let (s, pw) = json(
        c.post(format!("{}/v1.0/applications/{}/addPassword", cloud.url(), app["id"].as_str().unwrap()))
            .header("Authorization", &graph)
            .json(&json!({ "passwordCredential": { "displayName": "ConfigMgr" } }))
            .send()
            .expect("addPassword"),
    );
    assert_eq!(s, 200, "{pw}");
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let gateway = user_bearer(cloud, tenant, admin, GATEWAY);
    let (s, rec) = json(
        c.post(format!("{}/api/gateway/AccountOnboardingInfo", cloud.url()))
            .header("Authorization", &gateway)
            .json(&json!({ "hierarchyId": hierarchy, "siteCode": "PS1", "tenantId": tenant, "appId": app_id, "appIdUri": format!("api://{tenant}/ConfigMgrService-{hierarchy}") }))
            .send()
            .expect("onboard"),
    );
    assert_eq!(s, 201, "{rec}");
    (app_id, pw["secretText"].as_str().unwrap().to_owned())
}

pub fn device(i: usize, name: &str) -> Value {
    json!({ "smsId": format!("GUID:{i:08}"), "name": name, "deviceOS": "Microsoft Windows NT Workstation 10.0", "deviceOSBuild": "10.0.22631.1", "clientVersion": "5.00.9128.1000" })
}

pub fn post_batch(cloud: &CloudHandle, site: &str, body: Value) -> (u16, Value) {
    json(client(cloud).post(format!("{}/api/gateway/DevicePost", cloud.url())).header("Authorization", site).json(&body).send().expect("DevicePost"))
}
