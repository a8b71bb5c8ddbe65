//! The CMTrace writer on disk: every line follows the grammar, rollover to `.lo_`, and several threads
//! and several processes appending to one log lose and interleave nothing.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use tenant_attach::cmtrace::{self, Entry, Logger, Severity};

const CHILD_ENV: &str = "TA_CMTRACE_CHILD_DIR";
const CHILD_LINES: usize = 300;

fn entries(path: &Path) -> Vec<Entry> {
    cmtrace::read_entries(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_line_written_parses_with_its_severity_component_thread_and_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Logger::open(&dir.path().join("new/folder"), "TenantAttach.log", "TenantAttach", 0).expect("opens");
    log.info("Ladda upp enheter åäö");
    log.warning("two\r\nlines");
    log.with_component("TenantAttach-Sync").error("failed");
    log.log(Severity::Info, "last");
    let raw = std::fs::read_to_string(log.path()).expect("read");
    assert_eq!(raw.matches("\r\n").count(), 5, "CRLF after each entry (and inside the two-line one)");
    let got = entries(log.path());
    let summary: Vec<(&str, u8, &str)> = got.iter().map(|e| (e.message.as_str(), e.severity, e.component.as_str())).collect();
    assert_eq!(
        summary,
        [("Ladda upp enheter åäö", 1, "TenantAttach"), ("two\r\nlines", 2, "TenantAttach"), ("failed", 3, "TenantAttach-Sync"), ("last", 1, "TenantAttach"),]
    );
    assert!(got[0].file.starts_with("cmtrace.rs:"), "{}", got[0].file);
    assert!(got.iter().all(|e| e.thread > 0 && e.context.is_empty()));
}

#[test]
fn the_log_rolls_over_to_lo_underscore_and_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Logger::open(dir.path(), "TenantAttach.log", "TenantAttach", 4096).expect("opens");
    for i in 0..200 {
        log.info(format!("entry {i:04} padding padding padding"));
    }
    let rolled = dir.path().join("TenantAttach.lo_");
    assert!(rolled.is_file(), "rollover wrote TenantAttach.lo_");
    for file in [log.path(), rolled.as_path()] {
        let size = std::fs::metadata(file).expect("meta").len();
        assert!(size <= 4096, "{} is {size} bytes, above the limit", file.display());
    }
    // The newest entries are in the live log, the ones just before in .lo_, in order, none cut.
    let live = entries(log.path());
    let old = entries(&rolled);
    assert_eq!(live.last().map(|e| e.message.as_str()), Some("entry 0199 padding padding padding"));
    let first_live: usize = live[0].message[6..10].parse().expect("number");
    let last_old: usize = old.last().expect("entries").message[6..10].parse().expect("number");
    assert_eq!(last_old + 1, first_live);
}

fn write_lines(log: &Logger, writer: &str, count: usize) {
    for i in 0..count {
        log.info(format!("{writer} line {i} {}", "x".repeat(i % 97)));
    }
}

fn assert_complete(dir: &Path, writers: &[String], count: usize) {
    let seen: Vec<String> = entries(&dir.join("Shared.log")).into_iter().map(|e| e.message).collect();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), writers.len() * count, "no line lost or duplicated");
    assert_eq!(unique.len(), seen.len());
    for writer in writers {
        for i in 0..count {
            assert!(unique.contains(&format!("{writer} line {i} {}", "x".repeat(i % 97))), "{writer} {i} missing");
        }
    }
}

#[test]
fn eight_threads_appending_lose_and_interleave_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Logger::open(dir.path(), "Shared.log", "TenantAttach", 0).expect("opens");
    let writers: Vec<String> = (0..8).map(|t| format!("thread{t}")).collect();
    std::thread::scope(|s| {
        for w in &writers {
            let log = log.clone();
            s.spawn(move || write_lines(&log, w, 400));
        }
    });
    assert_complete(dir.path(), &writers, 400);
}

/// Not a test of its own: the body of the child processes of the next test.
#[test]
fn child_process_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else { return };
    let log = Logger::open(Path::new(&dir), "Shared.log", "Child", 0).expect("opens");
    write_lines(&log, &format!("process{}", std::process::id()), CHILD_LINES);
}

#[test]
fn three_processes_appending_lose_and_interleave_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..3)
        .map(|_| Command::new(&exe).args(["child_process_writer", "--exact", "--test-threads=1"]).env(CHILD_ENV, dir.path()).spawn().expect("spawn"))
        .collect();
    let mut writers = Vec::new();
    for mut child in children {
        writers.push(format!("process{}", child.id()));
        assert!(child.wait().expect("wait").success());
    }
    assert_complete(dir.path(), &writers, CHILD_LINES);
}

#[test]
fn processes_and_rollover_together_keep_every_entry_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Logger::open(dir.path(), "Small.log", "TenantAttach", 64 * 1024).expect("opens");
    std::thread::scope(|s| {
        for t in 0..4 {
            let log = log.clone();
            s.spawn(move || write_lines(&log, &format!("t{t}"), 500));
        }
    });
    // Each file parses whole: rollover happened between entries, never inside one.
    let live = entries(log.path());
    let old = entries(&dir.path().join("Small.lo_"));
    assert!(!live.is_empty() && !old.is_empty());
}
