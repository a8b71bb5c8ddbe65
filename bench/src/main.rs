//! Hierarchy-scale benchmarks: `cargo run --release -p tenant-attach-bench -- [--devices N] [--runs R] [--seed S]`.
//!
//! Generates a deterministic inventory as NDJSON (non-ASCII names, clients and non-clients, a mix of
//! collections), then runs each scenario several times, each run in a child process of its own so
//! that its peak memory (VmHWM) is its own, and prints one table of medians and spreads.
//! docs/BENCHMARKS.md has the figures and how to reproduce them.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tenant_attach::sync::state::StateStore;
use tenant_attach::sync::{self, Hooks, Options, Scope, Target, Uploader};

const HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-0a1b2c3d4e5f";

struct Args {
    /// Keep the generated inventory here (default: a temporary folder removed at the end).
    keep: Option<PathBuf>,
    devices: usize,
    runs: usize,
    seed: u64,
}

fn parse_args() -> Args {
    let mut args = Args { keep: None, devices: 175_000, runs: 5, seed: 42 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = |it: &mut dyn Iterator<Item = String>| it.next().and_then(|v| v.parse::<u64>().ok());
        match flag.as_str() {
            "--devices" => args.devices = value(&mut it).unwrap_or_else(|| usage()) as usize,
            "--runs" => args.runs = value(&mut it).unwrap_or_else(|| usage()).max(1) as usize,
            "--seed" => args.seed = value(&mut it).unwrap_or_else(|| usage()),
            "--keep" => args.keep = Some(it.next().map(PathBuf::from).unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    args
}

fn usage() -> ! {
    eprintln!("usage: tenant-attach-bench [--devices N (175000)] [--runs R (5)] [--seed S (42)] [--keep DIR]");
    std::process::exit(2)
}

/// A deterministic generator (xorshift64*), so every machine benchmarks the same inventory.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PLACES: [&str; 8] = ["Göteborg", "Malmö", "Åre", "Västerås", "Köln", "Zürich", "São-Paulo", "Montréal"];
const MODELS: [(&str, &str); 4] =
    [("Latitude 7440", "Dell Inc."), ("EliteBook 840 G10", "HP"), ("ThinkPad T14 Gen 4", "LENOVO"), ("Surface Laptop 5", "Microsoft Corporation")];

/// One device line; `version` changes the client version of the devices picked for a delta.
fn device_line(i: usize, rng: &mut Rng, changed: bool) -> String {
    let place = PLACES[(i / 1000) % PLACES.len()];
    let (model, maker) = MODELS[i % MODELS.len()];
    let is_client = rng.below(100) >= 3; // 3% non-clients
    let collection = format!("PS1000{:02}", rng.below(20));
    let version = if changed { "5.00.9132.1011" } else { "5.00.9128.1007" };
    serde_json::json!({
        "Name": format!("PC-{place}-{i:06}"),
        "ResourceID": 16_777_216 + i,
        "SMSID": format!("GUID:{:08X}-{:04X}-4{:03X}-8{:03X}-{:012X}", i, rng.below(0xFFFF), rng.below(0xFFF), rng.below(0xFFF), rng.next() & 0xFFFF_FFFF_FFFF),
        "IsClient": is_client,
        "DeviceOS": if i.is_multiple_of(10) { "Microsoft Windows NT Server 10.0" } else { "Microsoft Windows NT Workstation 10.0" },
        "DeviceOSBuild": "10.0.22631.4460",
        "ClientVersion": version,
        "SiteCode": "PS1",
        "Domain": "CONTOSO",
        "AADTenantID": "c0ffee00-0000-4000-8000-000000000001",
        "AADDeviceID": format!("{:08x}-0000-4000-8000-{:012x}", i, rng.next() & 0xFFFF_FFFF_FFFF),
        "Model": model,
        "Manufacturer": maker,
        "SerialNumber": format!("SN{:010}", rng.below(10_000_000_000)),
        "CollectionIDs": ["SMS00001", collection],
        "ClientActiveStatus": 1,
        "LastHardwareScan": "2026-11-21T22:14:07Z",
    })
    .to_string()
}

/// Writes the base inventory and the same inventory with 1% of the clients changed.
fn generate(dir: &Path, devices: usize, seed: u64) -> std::io::Result<(PathBuf, PathBuf)> {
    let base = dir.join("inventory.ndjson");
    let delta = dir.join("inventory-1pct.ndjson");
    let mut a = BufWriter::new(std::fs::File::create(&base)?);
    let mut b = BufWriter::new(std::fs::File::create(&delta)?);
    for i in 0..devices {
        // The same random stream for both files, so only the chosen devices differ.
        let mut r1 = Rng(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut r2 = Rng(r1.0);
        writeln!(a, "{}", device_line(i, &mut r1, false))?;
        writeln!(b, "{}", device_line(i, &mut r2, i % 100 == 0))?;
    }
    a.flush()?;
    b.flush()?;
    Ok((base, delta))
}

/// Counts bytes; the engine-only scenarios measure the client side alone.
struct Counting {
    bytes: u64,
}

impl Uploader for Counting {
    fn post(&mut self, body: &[u8], _: u64, _: usize) -> tenant_attach::Result<()> {
        self.bytes += body.len() as u64;
        Ok(())
    }
}

/// One run inside a child process: prints `RESULT ms bytes records peak_kb`.
fn child(_scenario: &str, input: &Path, state: &Path) -> tenant_attach::Result<()> {
    let started = Instant::now();
    let mut store = StateStore::open(state, HIERARCHY)?;
    let mut input = BufReader::with_capacity(1 << 20, std::fs::File::open(input).map_err(|e| tenant_attach::Error::io("input", &e))?);
    let target = Target { hierarchy_id: HIERARCHY.into(), tenant_id: Some("c0ffee00-0000-4000-8000-000000000001".into()), scope: Scope::All, scope_version: 1 };
    let mut uploader = Counting { bytes: 0 };
    let mut progress = |_: u64, _: u64| {};
    let mut hooks = Hooks { progress: &mut progress, cancelled: &|| false, logger: None };
    let report = sync::run(&mut store, sync::Input::Ndjson(&mut input), 0, &target, &Options::default(), &mut uploader, &mut hooks)?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    println!("RESULT {ms:.1} {} {} {}", uploader.bytes, report.uploaded + report.deleted, peak_kb());
    Ok(())
}

fn peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

struct Sample {
    ms: f64,
    bytes: u64,
    records: u64,
    peak_kb: u64,
}

fn run_child(scenario: &str, input: &Path, state: &Path) -> Sample {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe).args(["--child", scenario]).arg(input).arg(state).output().expect("spawn a run");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("RESULT ")).unwrap_or_else(|| {
        eprintln!("{scenario} failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1)
    });
    let f: Vec<&str> = line.split_whitespace().collect();
    Sample { ms: f[1].parse().unwrap_or(0.0), bytes: f[2].parse().unwrap_or(0), records: f[3].parse().unwrap_or(0), peak_kb: f[4].parse().unwrap_or(0) }
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).expect("state copy");
    for entry in std::fs::read_dir(from).expect("state dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else if entry.file_name() != "DeviceSync.lock" {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--child") {
        if let Err(e) = child(&argv[2], Path::new(&argv[3]), Path::new(&argv[4])) {
            eprintln!("{}: {}", e.kind.as_str(), e.message);
            std::process::exit(1);
        }
        return;
    }
    let args = parse_args();
    let work = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    let inventory_dir = args.keep.clone().unwrap_or_else(|| work.path().to_path_buf());
    std::fs::create_dir_all(&inventory_dir).expect("inventory folder");
    let (base, delta) = generate(&inventory_dir, args.devices, args.seed).expect("generate the inventory");
    let size = std::fs::metadata(&base).map(|m| m.len()).unwrap_or(0);
    println!(
        "inventory: {} devices, {:.1} MB NDJSON, seed {}, generated in {:.1} s",
        args.devices,
        size as f64 / 1e6,
        args.seed,
        t.elapsed().as_secs_f64()
    );

    // The state after a full sync, the starting point of the delta scenarios.
    let synced = work.path().join("state-synced");
    run_child("prepare", &base, &synced);

    let scenarios: [(&str, &Path, Option<&Path>, &str); 3] = [
        ("full sync (engine, no network)", &base, None, "< 3 s end to end"),
        ("delta 1% (engine, no network)", &delta, Some(&synced), "< 0.5 s end to end"),
        ("no change (engine, no network)", &base, Some(&synced), "< 0.4 s, no records"),
    ];
    println!(
        "\n{:<34} {:>5} {:>10} {:>17} {:>12} {:>12} {:>9} {:>10}  target",
        "scenario", "runs", "median ms", "min-max ms", "devices/s", "bytes sent", "records", "peak MB"
    );
    for (name, input, start, target) in scenarios {
        let mut samples = Vec::new();
        for run in 0..args.runs {
            let state = work.path().join(format!("state-run-{run}"));
            match start {
                Some(from) => copy_dir(from, &state),
                None => {
                    let _ = std::fs::remove_dir_all(&state);
                }
            }
            samples.push(run_child(name, input, &state));
        }
        let mut ms: Vec<f64> = samples.iter().map(|s| s.ms).collect();
        let (min, max) = ms.iter().fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        let med = median(&mut ms);
        let mut peaks: Vec<f64> = samples.iter().map(|s| s.peak_kb as f64 / 1024.0).collect();
        println!(
            "{:<34} {:>5} {:>10.1} {:>17} {:>12.0} {:>12} {:>9} {:>10.1}  {}",
            name,
            samples.len(),
            med,
            format!("{min:.1}-{max:.1}"),
            args.devices as f64 / (med / 1000.0),
            samples[0].bytes,
            samples[0].records,
            median(&mut peaks),
            target
        );
    }
}
