//! The cloud's data: tenants, users, apps, onboarded hierarchies, their devices and notifications,
//! and how it survives a restart (a snapshot plus a journal of the mutations since, each fsynced
//! before the request that made it is answered).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub domains: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub user_principal_name: String,
    #[serde(default)]
    pub display_name: String,
    /// Directory role template ids (Global Administrator = 62e90394-69f5-4237-9190-012177145e10).
    #[serde(default)]
    pub directory_roles: Vec<String>,
    /// Intune permissions, as the Intune role editor names them ("Remote tasks/Initiate Configuration Manager action").
    #[serde(default)]
    pub intune_permissions: Vec<String>,
    /// Discovery flags the site's discovered-user list is built from in tests.
    #[serde(default)]
    pub discovered_by_ad: bool,
    #[serde(default)]
    pub discovered_by_azure_ad: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub key_id: String,
    pub display_name: String,
    pub hint: String,
    /// SHA-256 of the secret text; the text itself is never stored.
    pub sha256: String,
    pub end_date_time: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    /// The application object's id.
    pub id: String,
    /// The client id.
    pub app_id: String,
    pub tenant_id: String,
    pub display_name: String,
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
    /// Application permissions granted (app roles), e.g. DeviceManagementManagedDevices.Read.All.
    #[serde(default)]
    pub granted_roles: Vec<String>,
    #[serde(default)]
    pub public_client: bool,
    #[serde(default)]
    pub created_date_time: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    pub app_id: String,
    pub tenant_id: String,
    pub display_name: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Onboarding {
    pub hierarchy_id: String,
    pub tenant_id: String,
    pub site_code: String,
    pub app_id: String,
    pub app_id_uri: String,
    pub upload_scope: Value,
    pub co_management_auto_enroll: bool,
    pub scope_version: u64,
    pub onboarded_date_time: String,
    pub last_modified_date_time: String,
    pub last_sync: Option<Value>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceActionResult {
    pub notification_id: String,
    pub action_name: String,
    /// pending, delivered, succeeded, failed (Graph's actionState values are pending/active/done/failed).
    pub action_state: String,
    pub start_date_time: String,
    pub last_updated_date_time: String,
    #[serde(default)]
    pub error_message: Option<String>,
    pub initiated_by: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub managed_device_id: String,
    /// The uploaded device object (DevicePost), as sent: kept as JSON text, parsed only when shown
    /// (175,000 parsed trees would cost the upload's time and the cloud's memory).
    pub record: Box<serde_json::value::RawValue>,
    pub last_sync_date_time: String,
    /// When it becomes visible in Graph (ingestion delay).
    #[serde(default)]
    pub visible_after_ms: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub notification_id: String,
    pub hierarchy_id: String,
    pub tenant_id: String,
    pub managed_device_id: String,
    pub sms_id: String,
    pub device_name: String,
    pub action: String,
    pub initiated_by: Value,
    pub created_date_time: String,
    pub delivery_count: u32,
    /// pending, delivered, succeeded, failed.
    pub state: String,
    #[serde(default)]
    pub lease_until_ms: i64,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub task_guid: Option<String>,
}

impl Device {
    /// The uploaded fields, parsed.
    pub fn fields(&self) -> Value {
        serde_json::from_str(self.record.get()).unwrap_or(Value::Null)
    }
}

/// Everything that survives a restart.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Data {
    pub tenants: BTreeMap<String, Tenant>,
    pub users: BTreeMap<String, User>,
    pub apps: BTreeMap<String, App>,
    pub service_principals: BTreeMap<String, ServicePrincipal>,
    pub onboardings: BTreeMap<String, Onboarding>,
    /// hierarchy id → SMSID → device.
    pub devices: HashMap<String, BTreeMap<String, Device>>,
    /// hierarchy id → "syncId/sequence" of applied batches.
    pub applied_batches: HashMap<String, HashSet<String>>,
    /// syncId → SMSIDs mentioned so far (full syncs, until their final batch).
    pub full_sync_mentions: HashMap<String, HashSet<String>>,
    pub notifications: BTreeMap<String, Notification>,
    /// managed device id → (hierarchy id, SMSID); rebuilt on load.
    #[serde(skip)]
    pub device_index: HashMap<String, (String, String)>,
}

impl Data {
    pub fn rebuild_index(&mut self) {
        self.device_index.clear();
        for (hierarchy, table) in &self.devices {
            for (sms_id, d) in table {
                self.device_index.insert(d.managed_device_id.clone(), (hierarchy.clone(), sms_id.clone()));
            }
        }
    }
}

/// The journal: one JSON line per mutation, replayed on start over the snapshot.
pub struct Persistence {
    dir: PathBuf,
    journal: File,
    journal_bytes: u64,
}

const SNAPSHOT: &str = "cloud-state.json";
const JOURNAL: &str = "cloud-journal.ndjson";
/// Beyond this the journal is folded into a new snapshot at the next opportunity.
const COMPACT_BYTES: u64 = 512 * 1024 * 1024;

impl Persistence {
    /// Loads the snapshot and replays the journal through `apply`.
    pub fn open(dir: &Path, mut apply: impl FnMut(&mut Data, &Value)) -> std::io::Result<(Persistence, Data)> {
        std::fs::create_dir_all(dir)?;
        let mut data: Data = match std::fs::read(dir.join(SNAPSHOT)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{SNAPSHOT}: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Data::default(),
            Err(e) => return Err(e),
        };
        if let Ok(file) = File::open(dir.join(JOURNAL)) {
            for line in BufReader::new(file).lines() {
                let line = line?;
                // A torn last line (killed while appending) was never acknowledged: skip it.
                if let Ok(mutation) = serde_json::from_str::<Value>(&line) {
                    apply(&mut data, &mutation);
                }
            }
        }
        let journal = OpenOptions::new().create(true).append(true).open(dir.join(JOURNAL))?;
        let journal_bytes = journal.metadata()?.len();
        Ok((Persistence { dir: dir.to_path_buf(), journal, journal_bytes }, data))
    }

    /// Appends a mutation; durable at once when `sync`, else at the next [`Persistence::sync`]
    /// (group commit: a `$batch` syncs once for its steps, before it answers).
    pub fn record(&mut self, mutation: &Value, sync: bool) -> std::io::Result<()> {
        self.record_bytes(serde_json::to_vec(mutation)?, sync)
    }

    /// Appends a mutation given as JSON bytes (one line, no newline inside).
    pub fn record_bytes(&mut self, mut line: Vec<u8>, sync: bool) -> std::io::Result<()> {
        line.push(b'\n');
        self.journal.write_all(&line)?;
        if sync {
            self.journal.sync_data()?;
        }
        self.journal_bytes += line.len() as u64;
        Ok(())
    }

    pub fn sync(&mut self) -> std::io::Result<()> {
        self.journal.sync_data()
    }

    pub fn wants_compaction(&self) -> bool {
        self.journal_bytes > COMPACT_BYTES
    }

    /// Writes a snapshot atomically and empties the journal.
    pub fn compact(&mut self, data: &Data) -> std::io::Result<()> {
        let temp = self.dir.join(format!("{SNAPSHOT}.tmp"));
        {
            let mut out = std::io::BufWriter::new(File::create(&temp)?);
            serde_json::to_writer(&mut out, data)?;
            out.flush()?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        std::fs::rename(&temp, self.dir.join(SNAPSHOT))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        self.journal.set_len(0)?;
        self.journal.sync_all()?;
        self.journal_bytes = 0;
        Ok(())
    }
}
