//! The main job, end to end: `cargo run --example demo`.
//!
//! Opens a client (state and CMTrace logs in a fresh folder), reads the site's devices as
//! `Get-CMDevice | ConvertTo-Json` writes them (examples/data/devices.json, or a file given as the
//! first argument, JSON array or NDJSON), and plans the upload: which devices are eligible, what is
//! skipped and why, how the run is cut into DevicePost batches. This step is a dry run: the upload
//! to the local cloud, onboarding and device actions join this demo as those parts land.

use std::path::PathBuf;

use tenant_attach::inventory;
use tenant_attach::sync::state::StateStore;
use tenant_attach::sync::{self, Hooks, Options, Scope, Target, Uploader};
use tenant_attach::{Client, Result};

const HIERARCHY_ID: &str = "5f0c1a6e-2d3b-4c5d-8e9f-0a1b2c3d4e5f";

/// A dry run never sends; this is here to prove it.
struct NothingSent;

impl Uploader for NothingSent {
    fn post(&mut self, _: &[u8], _: u64, _: usize) -> Result<()> {
        Err(tenant_attach::Error::internal("a dry run must not send anything"))
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("demo failed: {} ({})", e.message, e.kind.as_str());
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let input = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/devices.json"));
    let work = std::env::temp_dir().join(format!("tenant-attach-demo-{}", std::process::id()));
    let config = serde_json::json!({
        "siteCode": "PS1",
        "hierarchyId": HIERARCHY_ID,
        "stateDir": work.join("state"),
        "logDir": work.join("logs"),
    });
    let client = Client::open_json(&config.to_string())?;
    println!("tenant-attach {} — site PS1, hierarchy {HIERARCHY_ID}", env!("CARGO_PKG_VERSION"));
    println!("work folder: {}", work.display());

    let text = std::fs::read_to_string(&input).map_err(|e| tenant_attach::Error::io(&format!("cannot read {}", input.display()), &e))?;
    let items: Vec<inventory::Item> = if text.trim_start().starts_with('[') {
        inventory::parse_json(&text)?
    } else {
        inventory::NdjsonReader::new(text.as_bytes()).collect::<Result<_>>()?
    };
    let total = items.len() as u64;
    println!("read {total} device records from {}", input.display());

    let state_dir = client.config().state_dir.clone().unwrap_or_else(|| work.join("state"));
    let mut store = StateStore::open(&state_dir, HIERARCHY_ID)?;
    let target = Target { hierarchy_id: HIERARCHY_ID.into(), tenant_id: None, scope: Scope::All, scope_version: 1 };
    let options = Options { dry_run: true, max_records: 10, ..Options::default() };
    let upload_log = client.logger().map(|l| l.with_component("CMGatewaySyncUploadWorker"));
    let mut progress = |done: u64, all: u64| println!("  progress {done}/{all}");
    let mut hooks = Hooks { progress: &mut progress, cancelled: &|| false, logger: upload_log.as_ref() };
    let report = sync::run(&mut store, sync::Input::Items(&mut items.into_iter().map(Ok)), total, &target, &options, &mut NothingSent, &mut hooks)?;

    println!("\nupload plan ({} sync, dry run):", report.kind);
    println!(
        "  {} considered, {} eligible, {} not clients or out of scope, {} skipped, {} to upload in {} batches ({} bytes)",
        report.considered, report.eligible, report.ineligible, report.skipped_count, report.uploaded, report.batches, report.bytes
    );
    for s in &report.skipped {
        println!("  skipped #{}: {}", s.index, s.reason);
    }
    println!("\nreport JSON:\n{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    if let Some(log) = client.logger() {
        println!("\nCMTrace log: {}", log.path().display());
    }
    Ok(())
}
