//! The files of a state folder (`DeviceSync.state`, `DeviceSync.journal`, `DeviceSync.lines`), as
//! opening the store reads them: any bytes in any of them give a store (the damaged file set aside,
//! a warning, an empty state) or an error, never a panic, an abort or a huge allocation (libFuzzer's
//! -rss_limit_mb and -malloc_limit_mb catch those).
//!
//! The first byte picks the file; the rest is its content. The other files are absent, or, when
//! the first byte's high bit is set, hold a small valid state first, so that the damaged file is
//! read beside good ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenant_attach::sync::state::{LastSync, StateStore};

const HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-0a1b2c3d4e5f";
const FILES: [&str; 3] = ["DeviceSync.state", "DeviceSync.journal", "DeviceSync.lines"];

fn root() -> std::path::PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() { std::path::PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    base.join(format!("tenant-attach-fuzz-state-{}", std::process::id()))
}

fn good_state(root: &std::path::Path) {
    let mut store = StateStore::open(root, HIERARCHY).expect("a fresh store opens");
    store.begin("s1", "full", Some("tenant"), &serde_json::json!({ "kind": "all" }), 1).expect("begin");
    store.commit_batch("s1", 1, vec![("GUID:1".into(), 1), ("GUID:2".into(), 2)], vec![]).expect("batch");
    let last =
        LastSync { sync_id: "s1".into(), kind: "full".into(), completed_date_time: "2026-01-01T00:00:00Z".into(), uploaded: 2, deleted: 0, device_count: 2 };
    store.finish("s1", last, true).expect("finish");
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, content)) = data.split_first() else { return };
    let root = root();
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join(HIERARCHY)).expect("scratch folder");
    if pick & 0x80 != 0 {
        good_state(&root);
    }
    std::fs::write(root.join(HIERARCHY).join(FILES[(pick & 0x7f) as usize % FILES.len()]), content).expect("write the damaged file");
    if let Ok(store) = StateStore::open(&root, HIERARCHY) {
        // What status reads, and what an upload reads: neither may panic.
        let _ = (store.state().devices.len(), store.warnings().len());
        drop(store);
    }
    if let Ok(store) = StateStore::open_without_line_cache(&root, HIERARCHY) {
        let _ = store.state().last_sync.as_ref().map(|l| l.device_count);
    }
    let _ = std::fs::remove_dir_all(&root);
});
