//! The cloud's data: tenants, users, apps, onboarded hierarchies, their devices and notifications,
//! and how it survives a restart (a snapshot plus a journal of the mutations since, each fsynced
//! before the request that made it is answered).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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
    /// Certificate credentials (Graph `keyCredentials`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_credentials: Vec<crate::certificates::KeyCredential>,
    /// Application permissions granted (app roles), e.g. DeviceManagementManagedDevices.Read.All.
    #[serde(default)]
    pub granted_roles: Vec<String>,
    #[serde(default)]
    pub public_client: bool,
    /// Delegated Graph permissions consented for the app (its `.default` sign-ins get them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consented_scopes: Vec<String>,
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
    /// A new id at every onboarding (also after an offboarding): a site's state made under
    /// another epoch knows nothing of what the cloud holds now.
    #[serde(default)]
    pub epoch: String,
    /// Completed full syncs of this epoch (0: none yet); each one's sweep made the device list.
    #[serde(default)]
    pub generation: u64,
    /// Devices the gateway holds for the hierarchy; filled in when the record is shown.
    #[serde(default)]
    pub device_count: u64,
    /// Devices removed in the last 24 hours without the override (the deletion budget's use);
    /// filled in when the record is shown.
    #[serde(default, rename = "removedLast24Hours")]
    pub removed_last_24_hours: u64,
    /// The site instance the hierarchy's uploads are bound to (the first to upload, or the last
    /// to take over): uploads from any other are refused.
    #[serde(default)]
    pub uploader: Option<Uploader>,
    /// Takeovers, newest last (at most 10): who moved the uploads from whom, and when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub takeovers: Vec<Value>,
}

/// The site instance that uploads a hierarchy.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Uploader {
    pub site_instance_id: String,
    pub machine_name: String,
    pub since_date_time: String,
    pub last_upload_date_time: String,
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
    /// When the state last changed (Graph's deviceActionResults.lastUpdatedDateTime).
    #[serde(default)]
    pub last_updated_date_time: String,
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

/// The batches applied of one upload run (idempotent replays).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedSync {
    pub sync_id: String,
    pub sequences: BTreeSet<u64>,
    /// Devices each applied batch removed (its answer, given again to a replay).
    #[serde(default)]
    pub removed: BTreeMap<u64, u64>,
    /// Devices the hierarchy had when the run's first batch came: what its removals are measured against.
    #[serde(default)]
    pub devices_at_start: u64,
}

/// Devices removed from a hierarchy by one batch (a delta's deletions or a full sync's sweep).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    pub sync_id: String,
    pub kind: String,
    /// `sweep` (a full sync's final batch) or `deletions`.
    pub how: String,
    pub date_time: String,
    pub time_ms: i64,
    pub count: u64,
    /// Allowed beyond the deletion guard (`allowMassDeletion`): not counted against the budget.
    pub forced: bool,
    /// Put back by `/_admin` (the devices of this removal still kept were restored then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_date_time: Option<String>,
}

/// A device removed from a hierarchy, kept [`REMOVALS_KEPT_MS`] so that uploading it again (or a
/// restore through `/_admin`) brings it back with its id and its action history.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tombstone {
    pub device: Device,
    pub sync_id: String,
    pub removed_date_time: String,
    pub time_ms: i64,
}

/// How long removals are remembered (the admin page's recent removals; the 24-hour budget).
pub const REMOVALS_KEPT_MS: i64 = 30 * 24 * 3600 * 1000;
/// The window of the deletion budget.
pub const BUDGET_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// A full sync in progress: the SMSIDs its batches mentioned, swept against at its final batch.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FullSyncProgress {
    pub sync_id: String,
    pub mentioned: HashSet<String>,
    /// Devices the hierarchy had when the run's first batch came: what its sweep is measured against.
    #[serde(default)]
    pub devices_at_start: u64,
}

/// A refresh token's grant, stored under the SHA-256 of the token (never the token itself).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshGrant {
    pub user_id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub expires_ms: i64,
}

/// Upload runs remembered per hierarchy for idempotency; a replay of an older run's batch is
/// applied again (harmless: upserts carry the record as sent).
pub const REMEMBERED_SYNCS: usize = 32;
/// Completed actions kept per device (its history in Graph and on the admin page).
pub const ACTION_HISTORY: usize = 25;

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
    /// hierarchy id → the recent upload runs and their applied sequences, newest last.
    #[serde(default)]
    pub applied_syncs: HashMap<String, Vec<AppliedSync>>,
    /// hierarchy id → the full sync in progress (one at a time; a new one replaces it).
    #[serde(default)]
    pub full_syncs: HashMap<String, FullSyncProgress>,
    pub notifications: BTreeMap<String, Notification>,
    /// hierarchy id → its removals of the last 30 days, oldest first.
    #[serde(default)]
    pub removals: HashMap<String, Vec<Removal>>,
    /// hierarchy id → SMSID → a device removed in the last 30 days.
    #[serde(default)]
    pub tombstones: HashMap<String, BTreeMap<String, Tombstone>>,
    /// SHA-256 of a refresh token → its grant.
    #[serde(default)]
    pub refresh_grants: HashMap<String, RefreshGrant>,
    /// managed device id → (hierarchy id, SMSID); rebuilt on load.
    #[serde(skip)]
    pub device_index: HashMap<String, (String, String)>,
    /// managed device id → its notification ids, oldest first; rebuilt on load.
    #[serde(skip)]
    pub device_notifications: HashMap<String, Vec<String>>,
}

impl Data {
    pub fn rebuild_index(&mut self) {
        self.device_index.clear();
        for (hierarchy, table) in &self.devices {
            for (sms_id, d) in table {
                self.device_index.insert(d.managed_device_id.clone(), (hierarchy.clone(), sms_id.clone()));
            }
        }
        self.device_notifications.clear();
        let mut by_time: Vec<&Notification> = self.notifications.values().collect();
        by_time.sort_by(|a, b| a.created_date_time.cmp(&b.created_date_time));
        for n in by_time {
            self.device_notifications.entry(n.managed_device_id.clone()).or_default().push(n.notification_id.clone());
        }
    }

    /// Was batch `sequence` of run `sync_id` applied to `hierarchy` already?
    pub fn batch_applied(&self, hierarchy: &str, sync_id: &str, sequence: u64) -> bool {
        self.applied_syncs.get(hierarchy).is_some_and(|runs| runs.iter().any(|r| r.sync_id == sync_id && r.sequences.contains(&sequence)))
    }

    /// Marks a batch applied; false when it was already.
    pub fn mark_batch_applied(&mut self, hierarchy: &str, sync_id: &str, sequence: u64) -> bool {
        let runs = self.applied_syncs.entry(hierarchy.to_owned()).or_default();
        if let Some(run) = runs.iter_mut().find(|r| r.sync_id == sync_id) {
            return run.sequences.insert(sequence);
        }
        let devices_at_start = self.devices.get(hierarchy).map_or(0, |t| t.len() as u64);
        let runs = self.applied_syncs.entry(hierarchy.to_owned()).or_default();
        runs.push(AppliedSync { sync_id: sync_id.to_owned(), sequences: BTreeSet::from([sequence]), removed: BTreeMap::new(), devices_at_start });
        if runs.len() > REMEMBERED_SYNCS {
            runs.remove(0);
        }
        true
    }

    /// How many devices batch `sequence` of run `sync_id` removed when it was applied.
    pub fn removed_by(&self, hierarchy: &str, sync_id: &str, sequence: u64) -> u64 {
        let runs = self.applied_syncs.get(hierarchy);
        runs.and_then(|r| r.iter().find(|r| r.sync_id == sync_id)).and_then(|r| r.removed.get(&sequence).copied()).unwrap_or(0)
    }

    /// Devices removed from `hierarchy` without the override since `since_ms`.
    pub fn removed_since(&self, hierarchy: &str, since_ms: i64) -> u64 {
        let counted = |r: &&Removal| !r.forced && r.restored_date_time.is_none() && r.time_ms >= since_ms;
        self.removals.get(hierarchy).into_iter().flatten().filter(counted).map(|r| r.count).sum()
    }

    /// The onboarding record as the gateway shows it: with the hierarchy's device count and the
    /// deletion budget used.
    pub fn shown(&self, o: &Onboarding, now_ms: i64) -> Onboarding {
        let mut shown = o.clone();
        shown.device_count = self.devices.get(&o.hierarchy_id).map_or(0, |t| t.len() as u64);
        shown.removed_last_24_hours = self.removed_since(&o.hierarchy_id, now_ms - BUDGET_WINDOW_MS);
        shown
    }

    /// Stores a notification (new or changed) and keeps each device's history bounded: beyond
    /// [`ACTION_HISTORY`], the oldest finished actions are forgotten (pending ones never are).
    pub fn put_notification(&mut self, n: Notification) {
        let device = n.managed_device_id.clone();
        let id = n.notification_id.clone();
        if self.notifications.insert(id.clone(), n).is_none() {
            let list = self.device_notifications.entry(device).or_default();
            list.push(id);
            while list.len() > ACTION_HISTORY {
                let finished = list.iter().position(|old| self.notifications.get(old).is_none_or(|o| o.state == "succeeded" || o.state == "failed"));
                match finished {
                    Some(i) => {
                        let old = list.remove(i);
                        self.notifications.remove(&old);
                    }
                    None => break,
                }
            }
        }
    }

    /// The actions of a device, oldest first.
    pub fn notifications_of(&self, managed_device_id: &str) -> Vec<&Notification> {
        self.device_notifications.get(managed_device_id).into_iter().flatten().filter_map(|id| self.notifications.get(id)).collect()
    }

    /// Forgets a hierarchy: onboarding, devices, upload progress and actions.
    pub fn remove_hierarchy(&mut self, hierarchy: &str) {
        self.onboardings.remove(hierarchy);
        if let Some(table) = self.devices.remove(hierarchy) {
            for d in table.values() {
                self.device_index.remove(&d.managed_device_id);
                self.device_notifications.remove(&d.managed_device_id);
            }
        }
        self.applied_syncs.remove(hierarchy);
        self.full_syncs.remove(hierarchy);
        self.removals.remove(hierarchy);
        self.tombstones.remove(hierarchy);
        self.notifications.retain(|_, n| n.hierarchy_id != hierarchy);
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
const START_COMPACT_BYTES: u64 = 32 * 1024 * 1024;

impl Persistence {
    /// Loads the snapshot and replays the journal through `apply`.
    pub fn open(dir: &Path, mut apply: impl FnMut(&mut Data, &str) -> bool) -> std::io::Result<(Persistence, Data)> {
        std::fs::create_dir_all(dir)?;
        let mut data: Data = match std::fs::read(dir.join(SNAPSHOT)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{SNAPSHOT}: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Data::default(),
            Err(e) => return Err(e),
        };
        if let Ok(file) = File::open(dir.join(JOURNAL)) {
            for line in BufReader::new(file).lines() {
                let line = line?;
                // A torn last line (killed while appending) was never acknowledged: `apply` skips
                // what does not parse.
                apply(&mut data, &line);
            }
        }
        let journal = OpenOptions::new().create(true).append(true).open(dir.join(JOURNAL))?;
        let journal_bytes = journal.metadata()?.len();
        Ok((Persistence { dir: dir.to_path_buf(), journal, journal_bytes }, data))
    }

    /// Appends a mutation; durable after the next [`Persistence::sync`].
    pub fn record(&mut self, mutation: &Value) -> std::io::Result<()> {
        self.record_bytes(serde_json::to_vec(mutation)?)
    }

    /// Appends a mutation given as JSON bytes (one line, no newline inside).
    pub fn record_bytes(&mut self, mut line: Vec<u8>) -> std::io::Result<()> {
        line.push(b'\n');
        self.journal.write_all(&line)?;
        self.journal_bytes += line.len() as u64;
        Ok(())
    }

    pub fn sync(&mut self) -> std::io::Result<()> {
        self.journal.sync_data()
    }

    pub fn wants_compaction(&self) -> bool {
        self.journal_bytes > COMPACT_BYTES
    }

    /// Worth folding at start, while nothing waits on the lock (replaying is the slow part of a
    /// start; a snapshot loads several times faster than the journal that built it).
    pub fn wants_compaction_at_start(&self) -> bool {
        self.journal_bytes > START_COMPACT_BYTES
    }

    /// Writes a snapshot atomically and empties the journal. Killed between the two, the next
    /// start replays the journal over a snapshot that already holds it: harmless, as every
    /// mutation is idempotent (puts replace, batches are skipped by their (syncId, sequence)).
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn post(sync: &str, sequence: u64, kind: &str, last: bool, ids: &[&str]) -> String {
        let devices: Vec<Value> = ids.iter().map(|id| json!({ "smsId": id, "name": id })).collect();
        json!({ "op": "devicePost", "tenantId": "t", "now": "2026-01-01T00:00:00Z", "visibleAfterMs": 0,
            "body": { "hierarchyId": "h", "syncId": sync, "sequence": sequence, "kind": kind, "final": last, "devices": devices } })
        .to_string()
    }

    fn ids(data: &Data) -> Vec<String> {
        data.devices.get("h").map(|t| t.keys().cloned().collect()).unwrap_or_default()
    }

    #[test]
    fn the_journal_replays_over_a_snapshot_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut p, mut data) = Persistence::open(dir.path(), crate::server::apply_line).expect("open");
        for line in [post("a", 0, "full", false, &["GUID:1", "GUID:2"]), post("a", 1, "full", true, &["GUID:3"])] {
            p.record_bytes(line.clone().into_bytes()).expect("record");
            crate::server::apply_line(&mut data, &line);
        }
        p.compact(&data).expect("compact");
        let delta = post("b", 0, "delta", true, &["GUID:4"]);
        p.record_bytes(delta.into_bytes()).expect("record");
        p.sync().expect("sync");
        // A line cut short by a kill: never acknowledged, so it must not count.
        use std::io::Write;
        let mut journal = OpenOptions::new().append(true).open(dir.path().join(JOURNAL)).expect("journal");
        journal.write_all(br#"{"op":"devicePost","tenantId":"t","body":{"hierarchyId":"h","syncId":"c","seq"#).expect("torn");
        drop((p, journal));
        let (_, mut again) = Persistence::open(dir.path(), crate::server::apply_line).expect("reopen");
        again.rebuild_index();
        assert_eq!(ids(&again), ["GUID:1", "GUID:2", "GUID:3", "GUID:4"]);
        assert_eq!(again.device_index.len(), 4);
        assert!(again.batch_applied("h", "a", 1) && again.batch_applied("h", "b", 0));
    }

    #[test]
    fn a_newer_full_sync_replaces_an_unfinished_one() {
        let mut data = Data::default();
        crate::server::apply_line(&mut data, &post("old", 0, "full", false, &["GUID:1", "GUID:2"]));
        crate::server::apply_line(&mut data, &post("new", 0, "full", false, &["GUID:2"]));
        // The old run's final batch arrives late: it may not sweep with what it no longer knows.
        crate::server::apply_line(&mut data, &post("old", 1, "full", true, &["GUID:3"]));
        assert_eq!(ids(&data), ["GUID:1", "GUID:2", "GUID:3"]);
        crate::server::apply_line(&mut data, &post("new", 1, "full", true, &["GUID:4"]));
        assert_eq!(ids(&data), ["GUID:2", "GUID:4"], "the finished run sweeps what it did not mention");
        assert!(data.full_syncs.is_empty());
    }

    #[test]
    fn remembered_runs_and_action_history_stay_bounded() {
        let mut data = Data::default();
        for run in 0..(REMEMBERED_SYNCS + 5) {
            assert!(data.mark_batch_applied("h", &format!("run-{run}"), 0));
        }
        assert_eq!(data.applied_syncs["h"].len(), REMEMBERED_SYNCS);
        assert!(!data.batch_applied("h", "run-0", 0) && data.batch_applied("h", &format!("run-{}", REMEMBERED_SYNCS + 4), 0));

        let action = |i: usize, state: &str| Notification {
            notification_id: format!("n{i:03}"),
            managed_device_id: "d".into(),
            state: state.into(),
            created_date_time: format!("2026-01-01T00:00:{:02}Z", i % 60),
            ..Notification::default()
        };
        data.put_notification(action(0, "pending"));
        for i in 1..(ACTION_HISTORY + 10) {
            data.put_notification(action(i, "succeeded"));
        }
        let kept = data.notifications_of("d");
        assert_eq!(kept.len(), ACTION_HISTORY);
        assert_eq!(kept[0].notification_id, "n000", "a pending action is never forgotten");
        assert_eq!(data.notifications.len(), ACTION_HISTORY);
    }
}
