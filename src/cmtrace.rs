//! CMTrace logs: the line format Configuration Manager's own components write, so that CMTrace,
//! OneTrace and Support Center open the library's logs next to the site's.
//!
//! ```text
//! <![LOG[Uploaded 5000 devices]LOG]!><time="14:03:22.123-60" date="11-23-2026" component="TenantAttach" context="" type="1" thread="4242" file="sync.rs:88">
//! ```
//!
//! * `time` is local time, then the bias as ConfigMgr writes it: minutes *west* of UTC, signed
//!   (`+000` at UTC, `-60` in Central Europe in winter, `+480` in Seattle), so that local time +
//!   bias = UTC.
//! * `type` is 1 information, 2 warning, 3 error; `thread` the OS thread id; `file` the source
//!   location that logged.
//! * Entries end with CRLF, as ConfigMgr writes them (CMTrace accepts LF too, but Windows tools
//!   such as Notepad and `Select-String` users expect CRLF from ConfigMgr logs).
//! * Rollover: when appending would take the log past `max_bytes`, `X.log` is renamed `X.lo_`
//!   (replacing the previous `X.lo_`) and a new `X.log` starts, as ConfigMgr does.
//! * Several threads and several processes may append to one log: each entry is one `write` in
//!   append mode under an advisory lock on `X.log.lock` (a separate file, because the log itself is
//!   renamed at rollover and a lock on it would follow it to `.lo_`).
//! * Every message goes through [`crate::redact::scrub`] first; CMTrace markup inside a message
//!   (`]LOG]!>` ending the message early, `<![LOG[` starting a fake entry) is neutralised.
//! * Logging never fails the caller: a log that cannot be written is skipped (and reported once on
//!   stderr when `TENANT_ATTACH_DEBUG` is set).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// ConfigMgr's default log size before rollover (`MaxLogSize` 2.5 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 2_621_440;

const MESSAGE_START: &str = "<![LOG[";
const MESSAGE_END: &str = "]LOG]!>";

/// CMTrace's `type` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info = 1,
    Warning = 2,
    Error = 3,
}

/// An open CMTrace log. Cheap to clone; `Send + Sync`; every clone appends to the same file.
#[derive(Clone, Debug)]
pub struct Logger {
    shared: Arc<Shared>,
    component: Arc<str>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    rolled_path: PathBuf,
    max_bytes: u64,
    /// Kept open for the life of the logger; `flock` locks belong to the open file, so threads of
    /// this process take `in_process` first and then the file lock.
    lock_file: File,
    in_process: Mutex<()>,
    reported_failure: AtomicBool,
}

impl Logger {
    /// Opens (creating the folder and the file when missing) `dir/file_name` for appending entries
    /// of `component`. `max_bytes` of 0 means the default, 2,621,440 bytes.
    pub fn open(dir: &Path, file_name: &str, component: &str, max_bytes: u64) -> Result<Logger> {
        let io_error = |what: &str, e: &io::Error| Error::io(&format!("cannot {what} the log `{}`", dir.join(file_name).display()), e);
        std::fs::create_dir_all(dir).map_err(|e| io_error("create the folder of", &e))?;
        let path = dir.join(file_name);
        let lock_file =
            OpenOptions::new().create(true).append(true).open(dir.join(format!("{file_name}.lock"))).map_err(|e| io_error("create the lock file of", &e))?;
        OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io_error("open", &e))?;
        Ok(Logger {
            shared: Arc::new(Shared {
                rolled_path: path.with_extension("lo_"),
                path,
                max_bytes: if max_bytes == 0 { DEFAULT_MAX_BYTES } else { max_bytes },
                lock_file,
                in_process: Mutex::new(()),
                reported_failure: AtomicBool::new(false),
            }),
            component: Arc::from(component),
        })
    }

    /// The same log, entries written under another component name.
    pub fn with_component(&self, component: &str) -> Logger {
        Logger { shared: Arc::clone(&self.shared), component: Arc::from(component) }
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    #[track_caller]
    pub fn info(&self, message: impl AsRef<str>) {
        self.write(Severity::Info, message.as_ref(), Location::caller());
    }

    #[track_caller]
    pub fn warning(&self, message: impl AsRef<str>) {
        self.write(Severity::Warning, message.as_ref(), Location::caller());
    }

    #[track_caller]
    pub fn error(&self, message: impl AsRef<str>) {
        self.write(Severity::Error, message.as_ref(), Location::caller());
    }

    #[track_caller]
    pub fn log(&self, severity: Severity, message: impl AsRef<str>) {
        self.write(severity, message.as_ref(), Location::caller());
    }

    fn write(&self, severity: Severity, message: &str, at: &Location<'_>) {
        let file = Path::new(at.file()).file_name().and_then(|f| f.to_str()).unwrap_or("");
        let line = format_entry(&chrono::Local::now(), &self.component, severity, os_thread_id(), &format!("{file}:{}", at.line()), message);
        if let Err(e) = self.append(line.as_bytes()) {
            if std::env::var_os("TENANT_ATTACH_DEBUG").is_some() && !self.shared.reported_failure.swap(true, Ordering::Relaxed) {
                eprintln!("tenant-attach: cannot write the log {}: {e}", self.shared.path.display());
            }
        }
    }

    fn append(&self, entry: &[u8]) -> io::Result<()> {
        let s = &*self.shared;
        let _thread_guard = s.in_process.lock().unwrap_or_else(|e| e.into_inner());
        s.lock_file.lock()?;
        let result = (|| {
            let size = std::fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0);
            if size > 0 && size + entry.len() as u64 > s.max_bytes {
                std::fs::rename(&s.path, &s.rolled_path)?;
            }
            // One write call per entry in append mode: never interleaved with another writer's.
            OpenOptions::new().create(true).append(true).open(&s.path)?.write_all(entry)
        })();
        let _ = s.lock_file.unlock();
        result
    }
}

/// One CMTrace entry, CRLF-terminated, the message scrubbed of secrets and of CMTrace markup.
pub fn format_entry<Tz: chrono::TimeZone>(now: &chrono::DateTime<Tz>, component: &str, severity: Severity, thread: u64, file: &str, message: &str) -> String
where
    Tz::Offset: std::fmt::Display,
{
    use chrono::Offset;
    let message = crate::redact::scrub(message);
    let message = message.replace(MESSAGE_END, "]LOG]!&gt;").replace(MESSAGE_START, "&lt;![LOG[");
    let bias = -now.offset().fix().local_minus_utc() / 60;
    let sign = if bias < 0 { '-' } else { '+' };
    let bias = bias.unsigned_abs();
    let bias = if bias == 0 { "000".to_owned() } else { bias.to_string() };
    format!(
        "{MESSAGE_START}{message}{MESSAGE_END}<time=\"{}{sign}{bias}\" date=\"{}\" component=\"{}\" context=\"\" type=\"{}\" thread=\"{thread}\" file=\"{}\">\r\n",
        now.format("%H:%M:%S%.3f"),
        now.format("%m-%d-%Y"),
        attribute(component),
        severity as u8,
        attribute(file),
    )
}

/// Attribute values cannot hold a quote or end the tag.
fn attribute(value: &str) -> String {
    value.replace('"', "'").replace(['>', '\r', '\n'], " ")
}

/// One parsed entry of a CMTrace log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub message: String,
    /// `HH:mm:ss.fff` followed by the signed bias, as written.
    pub time: String,
    /// `MM-dd-yyyy`.
    pub date: String,
    pub component: String,
    pub context: String,
    /// 1 information, 2 warning, 3 error.
    pub severity: u8,
    pub thread: u64,
    pub file: String,
}

/// Parses one entry (`<![LOG[…]LOG]!><…>`, the trailing line end optional); `None` when the text
/// does not follow the CMTrace grammar, including a bad time, date or type.
pub fn parse_line(line: &str) -> Option<Entry> {
    let (entry, rest) = parse_entry(line.trim_end_matches(['\r', '\n']))?;
    rest.is_empty().then_some(entry)
}

/// Every entry of a log, multi-line messages included. Text outside entries is an error: a log
/// that does not follow the grammar is what tests must catch.
pub fn read_entries(path: &Path) -> io::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)?;
    let mut rest = text.as_str();
    let mut entries = Vec::new();
    while !rest.is_empty() {
        let (entry, after) = parse_entry(rest).ok_or_else(|| {
            let shown: String = rest.chars().take(120).collect();
            io::Error::new(io::ErrorKind::InvalidData, format!("not a CMTrace entry at: {shown}"))
        })?;
        entries.push(entry);
        rest = after.strip_prefix("\r\n").or_else(|| after.strip_prefix('\n')).unwrap_or(after);
    }
    Ok(entries)
}

/// Parses one entry at the start of `text`; returns it and the text after its closing `>`.
fn parse_entry(text: &str) -> Option<(Entry, &str)> {
    let body = text.strip_prefix(MESSAGE_START)?;
    let end = body.find(MESSAGE_END)?;
    let message = body[..end].to_owned();
    let mut rest = body[end + MESSAGE_END.len()..].strip_prefix('<')?;
    let mut attributes = std::collections::HashMap::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if let Some(after) = rest.strip_prefix('>') {
            rest = after;
            break;
        }
        let eq = rest.find("=\"")?;
        let name = &rest[..eq];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        let value_start = &rest[eq + 2..];
        let close = value_start.find('"')?;
        attributes.insert(name, &value_start[..close]);
        rest = &value_start[close + 1..];
    }
    let time = attributes.get("time")?.to_string();
    let date = attributes.get("date")?.to_string();
    if !valid_time(&time) || !valid_date(&date) {
        return None;
    }
    let severity: u8 = attributes.get("type")?.parse().ok().filter(|t| (1..=3).contains(t))?;
    let entry = Entry {
        message,
        time,
        date,
        component: attributes.get("component")?.to_string(),
        context: attributes.get("context")?.to_string(),
        severity,
        thread: attributes.get("thread")?.parse().ok()?,
        file: attributes.get("file")?.to_string(),
    };
    Some((entry, rest))
}

/// `HH:mm:ss.fff` then `+` or `-` and the bias in minutes.
fn valid_time(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    b.len() >= 14
        && digits(0..2)
        && b[2] == b':'
        && digits(3..5)
        && b[5] == b':'
        && digits(6..8)
        && b[8] == b'.'
        && digits(9..12)
        && matches!(b[12], b'+' | b'-')
        && digits(13..b.len())
}

/// `MM-dd-yyyy`.
fn valid_date(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 10 && b.iter().enumerate().all(|(i, c)| if i == 2 || i == 5 { *c == b'-' } else { c.is_ascii_digit() })
}

/// The OS thread id, as CMTrace shows it (and as a debugger or Process Monitor shows it).
fn os_thread_id() -> u64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() as u64 }
    }
    #[cfg(windows)]
    {
        extern "system" {
            fn GetCurrentThreadId() -> u32;
        }
        // SAFETY: GetCurrentThreadId has no preconditions.
        unsafe { GetCurrentThreadId() as u64 }
    }
    #[cfg(target_os = "macos")]
    {
        let mut id: u64 = 0;
        // SAFETY: a null thread means the calling thread; `id` is a valid out pointer.
        unsafe { libc::pthread_threadid_np(0, &mut id) };
        id
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(offset_seconds: i32) -> chrono::DateTime<chrono::FixedOffset> {
        chrono::FixedOffset::east_opt(offset_seconds)
            .and_then(|tz| tz.with_ymd_and_hms(2026, 11, 3, 14, 3, 22).single())
            .map(|t| t + chrono::Duration::milliseconds(7))
            .expect("valid test time")
    }

    #[test]
    fn entry_follows_the_cmtrace_grammar_exactly() {
        let line = format_entry(&at(3600), "TenantAttach", Severity::Warning, 4242, "sync.rs:88", "Ladda upp enheter åäö");
        assert_eq!(
            line,
            "<![LOG[Ladda upp enheter åäö]LOG]!><time=\"14:03:22.007-60\" date=\"11-03-2026\" component=\"TenantAttach\" \
             context=\"\" type=\"2\" thread=\"4242\" file=\"sync.rs:88\">\r\n"
        );
        let entry = parse_line(&line).expect("parses");
        assert_eq!(entry.message, "Ladda upp enheter åäö");
        assert_eq!((entry.severity, entry.thread, entry.time.as_str()), (2, 4242, "14:03:22.007-60"));
    }

    #[test]
    fn bias_is_minutes_west_of_utc() {
        let line = |secs| parse_line(&format_entry(&at(secs), "c", Severity::Info, 1, "", "m")).map(|e| e.time);
        assert_eq!(line(0).as_deref(), Some("14:03:22.007+000"));
        assert_eq!(line(-8 * 3600).as_deref(), Some("14:03:22.007+480"));
        assert_eq!(line(5 * 3600 + 1800).as_deref(), Some("14:03:22.007-330"));
    }

    #[test]
    fn markup_in_messages_cannot_end_or_forge_an_entry() {
        let evil = "pc]LOG]!><time=\"00:00:00.000+000\" date=\"01-01-2000\" component=\"x\" context=\"\" type=\"3\" thread=\"1\" file=\"\">\r\n<![LOG[forged";
        let line = format_entry(&at(0), "c\"omp", Severity::Info, 1, "a>b", evil);
        let entry = parse_line(&line).expect("still one valid entry");
        assert!(entry.message.starts_with("pc]LOG]!&gt;"));
        assert!(!entry.message.contains("<![LOG["));
        assert_eq!(entry.severity, 1);
    }

    #[test]
    fn parser_rejects_what_is_not_cmtrace() {
        assert!(parse_line("plain text").is_none());
        let good = format_entry(&at(0), "c", Severity::Error, 1, "f", "m");
        assert!(parse_line(&good.replace("type=\"3\"", "type=\"7\"")).is_none());
        assert!(parse_line(&good.replace("11-03-2026", "2026-11-03")).is_none());
        assert!(parse_line(&good.replace("14:03:22.007", "14:03:22")).is_none());
    }
}
