//! Seed data: the default tenants, users and apps (fixed ids, for tests and the demo), and the seed
//! file format (`--seed FILE`, `POST /_admin/seed`), documented in cloud/README.md.

use serde::Deserialize;

use crate::model::{App, Data, Secret, Tenant, User};

pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
/// The Intune permission the admin center needs to run a ConfigMgr action.
pub const INITIATE_CONFIGMGR_ACTION: &str = "Remote tasks/Initiate Configuration Manager action";
/// The Intune permission to read managed devices.
pub const READ_MANAGED_DEVICES: &str = "Managed devices/Read";

pub const CONTOSO_TENANT: &str = "c0ffee00-0000-4000-8000-000000000001";
pub const CONTOSO_DOMAIN: &str = "contoso.onmicrosoft.com";
pub const FABRIKAM_TENANT: &str = "fab00000-0000-4000-8000-000000000002";
pub const FABRIKAM_DOMAIN: &str = "fabrikam.onmicrosoft.com";

/// admin@contoso: Global Administrator.
pub const CONTOSO_ADMIN: &str = "a0000000-0000-4000-8000-000000000001";
/// helpdesk@contoso: holds Initiate Configuration Manager action; discovered by AD and Azure AD.
pub const CONTOSO_HELPDESK: &str = "a0000000-0000-4000-8000-000000000002";
/// adonly@contoso: holds the permission; discovered by AD user discovery only.
pub const CONTOSO_AD_ONLY: &str = "a0000000-0000-4000-8000-000000000003";
/// aadonly@contoso: holds the permission; discovered by Azure AD user discovery only.
pub const CONTOSO_AAD_ONLY: &str = "a0000000-0000-4000-8000-000000000004";
/// reader@contoso: discovered by both, without the permission.
pub const CONTOSO_READER: &str = "a0000000-0000-4000-8000-000000000005";
/// admin@fabrikam: Global Administrator of the second tenant.
pub const FABRIKAM_ADMIN: &str = "b0000000-0000-4000-8000-000000000001";

/// A confidential app of Contoso for app-only Graph calls (automation runbooks, benchmarks):
/// granted DeviceManagementManagedDevices.Read.All and .PrivilegedOperations.All.
pub const CONTOSO_AUTOMATION_APP: &str = "e0000000-0000-4000-8000-000000000001";
/// Its secret. A local stand-in's test credential, documented in cloud/README.md.
pub const CONTOSO_AUTOMATION_SECRET: &str = "local~automation.secret.0001";
/// The same kind of app in Fabrikam, for isolation tests.
pub const FABRIKAM_AUTOMATION_APP: &str = "e0000000-0000-4000-8000-000000000002";
pub const FABRIKAM_AUTOMATION_SECRET: &str = "local~automation.secret.0002";

/// Well-known public clients accepted for the device code flow in every tenant.
pub const GRAPH_POWERSHELL_CLIENT: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
pub const AZURE_CLI_CLIENT: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// Graph permissions the tenants' administrators consented for Microsoft Graph PowerShell (what a
/// `.default` sign-in with it gets): onboarding (applications) and the Intune device scopes.
pub const GRAPH_POWERSHELL_CONSENT: [&str; 4] =
    ["User.Read", "Application.ReadWrite.All", "DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.PrivilegedOperations.All"];
/// Azure CLI's Graph permissions (Microsoft preauthorizes directory scopes for it, no Intune scope).
pub const AZURE_CLI_CONSENT: [&str; 3] = ["User.Read", "Application.ReadWrite.All", "Directory.AccessAsUser.All"];

/// Intune's device permissions (Graph scopes and application roles).
pub const MANAGED_DEVICES_READ: &str = "DeviceManagementManagedDevices.Read.All";
pub const MANAGED_DEVICES_READ_WRITE: &str = "DeviceManagementManagedDevices.ReadWrite.All";
pub const MANAGED_DEVICES_PRIVILEGED: &str = "DeviceManagementManagedDevices.PrivilegedOperations.All";

/// The seed file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub apps: Vec<SeedApp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedApp {
    pub app_id: String,
    pub tenant_id: String,
    pub display_name: String,
    /// Plain text in the seed file; only its hash is kept.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub granted_roles: Vec<String>,
    #[serde(default)]
    pub public_client: bool,
    /// Delegated Graph permissions consented for the app (what its `.default` sign-ins get);
    /// default `["User.Read"]`, a new registration's.
    #[serde(default)]
    pub consented_scopes: Vec<String>,
    /// Certificates the app signs in with (its `keyCredentials`).
    #[serde(default)]
    pub certificates: Vec<SeedCertificate>,
}

/// A certificate credential in the seed: the certificate as PEM (never a key), and optionally
/// the credential's dates (default: the certificate's validity).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedCertificate {
    pub pem: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
}

impl SeedCertificate {
    pub fn key_credential(&self) -> Result<crate::certificates::KeyCredential, String> {
        let der = crate::certificates::pem_to_der(&self.pem)?;
        crate::certificates::key_credential(&der, &self.display_name, self.start_date_time.as_deref(), self.end_date_time.as_deref())
    }
}

pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

impl Seed {
    /// Checks what [`Seed::apply`] cannot take (a certificate that is not one).
    pub fn check(&self) -> Result<(), String> {
        for a in &self.apps {
            for c in &a.certificates {
                c.key_credential().map_err(|e| format!("app {}: certificate: {e}", a.app_id))?;
            }
        }
        Ok(())
    }

    /// Adds (or replaces, by id) the seed's objects. Certificates that are not valid are
    /// skipped ([`Seed::check`] says why).
    pub fn apply(self, data: &mut Data) {
        for t in self.tenants {
            data.tenants.insert(t.id.clone(), t);
        }
        for u in self.users {
            data.users.insert(u.id.clone(), u);
        }
        for a in self.apps {
            let secrets = a
                .secret
                .iter()
                .map(|s| Secret {
                    key_id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, a.app_id.as_bytes()).to_string(),
                    display_name: "seed".into(),
                    hint: s.chars().take(3).collect(),
                    sha256: sha256_hex(s),
                    end_date_time: "2099-12-31T00:00:00Z".into(),
                })
                .collect();
            let app = App {
                id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, a.app_id.as_bytes()).to_string(),
                app_id: a.app_id.clone(),
                tenant_id: a.tenant_id,
                display_name: a.display_name,
                identifier_uris: Vec::new(),
                secrets,
                key_credentials: a.certificates.iter().filter_map(|c| c.key_credential().ok()).collect(),
                granted_roles: a.granted_roles,
                public_client: a.public_client,
                consented_scopes: a.consented_scopes,
                created_date_time: "2026-01-01T00:00:00Z".into(),
            };
            data.apps.insert(app.app_id.clone(), app);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn user(id: &str, tenant: &str, upn: &str, name: &str, roles: &[&str], perms: &[&str], ad: bool, aad: bool) -> User {
    User {
        id: id.into(),
        tenant_id: tenant.into(),
        user_principal_name: upn.into(),
        display_name: name.into(),
        directory_roles: roles.iter().map(|r| r.to_string()).collect(),
        intune_permissions: perms.iter().map(|p| p.to_string()).collect(),
        discovered_by_ad: ad,
        discovered_by_azure_ad: aad,
    }
}

/// The default seed: Contoso with its five users and an automation app, and Fabrikam.
pub fn default_seed() -> Seed {
    let act = [INITIATE_CONFIGMGR_ACTION, READ_MANAGED_DEVICES];
    let app_roles = || vec!["DeviceManagementManagedDevices.Read.All".to_owned(), "DeviceManagementManagedDevices.PrivilegedOperations.All".to_owned()];
    Seed {
        tenants: vec![
            Tenant { id: CONTOSO_TENANT.into(), display_name: "Contoso".into(), domains: vec![CONTOSO_DOMAIN.into()] },
            Tenant { id: FABRIKAM_TENANT.into(), display_name: "Fabrikam".into(), domains: vec![FABRIKAM_DOMAIN.into()] },
        ],
        users: vec![
            user(CONTOSO_ADMIN, CONTOSO_TENANT, "admin@contoso.onmicrosoft.com", "Contoso Admin", &[GLOBAL_ADMINISTRATOR], &act, true, true),
            user(CONTOSO_HELPDESK, CONTOSO_TENANT, "helpdesk@contoso.onmicrosoft.com", "Helpdesk Operator", &[], &act, true, true),
            user(CONTOSO_AD_ONLY, CONTOSO_TENANT, "adonly@contoso.onmicrosoft.com", "AD-only Operator", &[], &act, true, false),
            user(CONTOSO_AAD_ONLY, CONTOSO_TENANT, "aadonly@contoso.onmicrosoft.com", "Cloud-only Operator", &[], &act, false, true),
            user(CONTOSO_READER, CONTOSO_TENANT, "reader@contoso.onmicrosoft.com", "Read-only User", &[], &[READ_MANAGED_DEVICES], true, true),
            user(FABRIKAM_ADMIN, FABRIKAM_TENANT, "admin@fabrikam.onmicrosoft.com", "Fabrikam Admin", &[GLOBAL_ADMINISTRATOR], &act, true, true),
        ],
        apps: vec![
            SeedApp {
                app_id: CONTOSO_AUTOMATION_APP.into(),
                tenant_id: CONTOSO_TENANT.into(),
                display_name: "Contoso Automation".into(),
                secret: Some(CONTOSO_AUTOMATION_SECRET.into()),
                granted_roles: app_roles(),
                public_client: false,
                consented_scopes: Vec::new(),
                certificates: Vec::new(),
            },
            SeedApp {
                app_id: FABRIKAM_AUTOMATION_APP.into(),
                tenant_id: FABRIKAM_TENANT.into(),
                display_name: "Fabrikam Automation".into(),
                secret: Some(FABRIKAM_AUTOMATION_SECRET.into()),
                granted_roles: app_roles(),
                public_client: false,
                consented_scopes: Vec::new(),
                certificates: Vec::new(),
            },
        ],
    }
}
