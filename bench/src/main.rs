//! Hierarchy-scale benchmarks: `cargo run --release -p tenant-attach-bench -- [--devices N] [--runs R] [--seed S]`.
//!
//! Generates a deterministic inventory as NDJSON (non-ASCII names, clients and non-clients, a mix of
//! collections), starts tenant-attach-cloud as a separate process on loopback (this binary in
//! `--cloud` mode), onboards a hierarchy through the library, then runs each scenario several
//! times, each run in a child process of its own (so that its peak memory, VmHWM, is its own) that
//! drives the real library through its public API, and prints one table of medians and spreads.
//! docs/BENCHMARKS.md has the figures and how to reproduce them.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};
use tenant_attach::sync::state::StateStore;
use tenant_attach::sync::{self, Hooks, Options, Scope, Target, Uploader};
use tenant_attach::Client;

const HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-0a1b2c3d4e5f";
/// A small hierarchy of its own for the trigger-to-receive latency (no backlog of other actions).
const LATENCY_HIERARCHY: &str = "5f0c1a6e-2d3b-4c5d-8e9f-00000000a7e1";
const TENANT: &str = "c0ffee00-0000-4000-8000-000000000001";
const SITE_APP: &str = "e0000000-0000-4000-8000-00000000be9c";
const SITE_SECRET: &str = "bench~site.secret.0001";

struct Args {
    /// Keep the generated inventory here (default: a temporary folder removed at the end).
    keep: Option<PathBuf>,
    devices: usize,
    runs: usize,
    seed: u64,
    /// Run only the scenarios whose name contains this text (`--only "no change"`, `--only actions`).
    only: Option<String>,
}

impl Args {
    fn wants(&self, scenario: &str) -> bool {
        self.only.as_deref().is_none_or(|only| scenario.contains(only))
    }
}

fn parse_args() -> Args {
    let mut args = Args { keep: None, devices: 175_000, runs: 5, seed: 42, only: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = |it: &mut dyn Iterator<Item = String>| it.next().and_then(|v| v.parse::<u64>().ok());
        match flag.as_str() {
            "--devices" => args.devices = value(&mut it).unwrap_or_else(|| usage()) as usize,
            "--runs" => args.runs = value(&mut it).unwrap_or_else(|| usage()).max(1) as usize,
            "--seed" => args.seed = value(&mut it).unwrap_or_else(|| usage()),
            "--keep" => args.keep = Some(it.next().map(PathBuf::from).unwrap_or_else(|| usage())),
            "--only" => args.only = Some(it.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    args
}

fn usage() -> ! {
    eprintln!("usage: tenant-attach-bench [--devices N (175000)] [--runs R (5)] [--seed S (42)] [--keep DIR] [--only TEXT]");
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

/// One device; `changed` changes the client version of the devices picked for a delta.
fn device_line(i: usize, rng: &mut Rng, changed: bool) -> Value {
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
}

/// The Get-CMDevice properties of a device, tab-separated, for the PowerShell scenarios (which build
/// Get-CMDevice-shaped objects from them before their clock starts).
fn cm_device_tsv(d: &Value) -> String {
    let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
    [
        s("Name"),
        d["ResourceID"].to_string(),
        s("SMSID"),
        if d["IsClient"] == true { "1".into() } else { "0".into() },
        s("DeviceOS"),
        s("DeviceOSBuild"),
        s("ClientVersion"),
        s("SiteCode"),
        s("Domain"),
        s("SerialNumber"),
        s("AADDeviceID"),
        s("AADTenantID"),
    ]
    .join("\t")
}

/// Writes the base inventory, the same inventory with 1% of the clients changed, and the base
/// inventory's Get-CMDevice properties for the PowerShell scenarios (`cmdevices.tsv`).
fn generate(dir: &Path, devices: usize, seed: u64) -> std::io::Result<(PathBuf, PathBuf)> {
    let base = dir.join("inventory.ndjson");
    let delta = dir.join("inventory-1pct.ndjson");
    let mut a = BufWriter::new(std::fs::File::create(&base)?);
    let mut b = BufWriter::new(std::fs::File::create(&delta)?);
    let mut t = BufWriter::new(std::fs::File::create(dir.join("cmdevices.tsv"))?);
    for i in 0..devices {
        // The same random stream for both files, so only the chosen devices differ.
        let mut r1 = Rng(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut r2 = Rng(r1.0);
        let device = device_line(i, &mut r1, false);
        writeln!(a, "{device}")?;
        writeln!(t, "{}", cm_device_tsv(&device))?;
        writeln!(b, "{}", device_line(i, &mut r2, i % 100 == 0))?;
    }
    a.flush()?;
    b.flush()?;
    t.flush()?;
    Ok((base, delta))
}

/// Counts bytes; the engine-only scenarios measure the client side alone.
struct Counting {
    bytes: u64,
}

impl Uploader for Counting {
    fn post(&mut self, body: &[u8], _: u64, _: usize) -> tenant_attach::Result<tenant_attach::sync::Ack> {
        self.bytes += body.len() as u64;
        Ok(tenant_attach::sync::Ack::default())
    }
}

/// Where the cloud is, for children (environment variables set by the parent).
struct CloudEnv {
    url: String,
    ca: String,
}

fn cloud_env() -> CloudEnv {
    CloudEnv { url: std::env::var("TA_BENCH_URL").unwrap_or_default(), ca: std::env::var("TA_BENCH_CA").unwrap_or_default() }
}

fn client(env: &CloudEnv, hierarchy: &str, state: &Path, auth: Value) -> tenant_attach::Result<Client> {
    let config = json!({ "tenantId": TENANT, "siteCode": "PS1", "hierarchyId": hierarchy,
        "endpoints": { "authority": env.url, "graph": env.url, "gateway": env.url }, "trustedCaFile": env.ca,
        "stateDir": state, "auth": auth });
    Client::open_json(&config.to_string())
}

fn site_auth() -> Value {
    json!({ "kind": "clientSecret", "clientId": SITE_APP, "clientSecret": SITE_SECRET })
}

fn operator_auth() -> Value {
    json!({ "kind": "clientSecret", "clientId": tenant_attach_cloud::CONTOSO_AUTOMATION_APP, "clientSecret": tenant_attach_cloud::CONTOSO_AUTOMATION_SECRET })
}

/// One measured run inside a child process; prints `RESULT ms bytes records peak_kb [extra]`.
fn child(args: &[String]) -> tenant_attach::Result<()> {
    let never = || false;
    let started = Instant::now();
    match args[0].as_str() {
        "engine" => {
            let (input, state) = (Path::new(&args[1]), Path::new(&args[2]));
            let mut store = StateStore::open(state, HIERARCHY)?;
            let mut input = BufReader::with_capacity(1 << 20, std::fs::File::open(input).map_err(|e| tenant_attach::Error::io("input", &e))?);
            let target = Target { hierarchy_id: HIERARCHY.into(), tenant_id: Some(TENANT.into()), scope: Scope::All, scope_version: 1, cloud: None };
            let mut uploader = Counting { bytes: 0 };
            let mut progress = |_: u64, _: u64| {};
            let mut hooks = Hooks { progress: &mut progress, cancelled: &never, logger: None };
            let report = sync::run(&mut store, sync::Input::Ndjson(&mut input), 0, &target, &Options::default(), &mut uploader, &mut hooks)?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            println!("RESULT {ms:.1} {} {} {}", uploader.bytes, report.uploaded + report.deleted, peak_kb());
        }
        "sync" => {
            let (input, state) = (Path::new(&args[1]), Path::new(&args[2]));
            let site = client(&cloud_env(), HIERARCHY, state, site_auth())?;
            let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(input).map_err(|e| tenant_attach::Error::io("input", &e))?);
            // A fresh state folder is a new server's first upload of a hierarchy the cloud already
            // holds: it takes the uploads over (the gateway binds them to one site instance).
            let options = Options { take_over: !state.join(HIERARCHY).exists(), ..Options::default() };
            let report = site.sync_devices(sync::Input::Ndjson(&mut reader), 0, options, &mut |_, _| {}, &never)?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            println!("RESULT {ms:.1} {} {} {}", report.bytes, report.uploaded + report.deleted, peak_kb());
        }
        "actions-batch" | "actions-single" => {
            let ids: Vec<String> = std::fs::read_to_string(&args[1]).map_err(|e| tenant_attach::Error::io("ids", &e))?.lines().map(str::to_owned).collect();
            let operator = client(&cloud_env(), HIERARCHY, &std::env::temp_dir(), operator_auth())?;
            let services = operator.services()?;
            // Sign in before the clock starts: both variants share it.
            services.auth.token(&services.transport, tenant_attach::config::GRAPH_RESOURCE, &never)?;
            let started = Instant::now();
            let accepted = if args[0] == "actions-batch" {
                operator.trigger_action(&ids, "SyncMachinePolicy", &never)?.iter().filter(|r| r["result"] == "accepted").count()
            } else {
                // As a plain script would: one Graph call per device.
                let body = json!({ "configurationManagerAction": { "action": "refreshMachinePolicy" } });
                let mut ok = 0;
                for id in &ids {
                    services.graph(
                        "POST",
                        &format!("/beta/deviceManagement/managedDevices/{id}/triggerConfigurationManagerAction"),
                        Some(&body),
                        "trigger",
                        &never,
                    )?;
                    ok += 1;
                }
                ok
            };
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            println!("RESULT {ms:.1} 0 {accepted} {}", peak_kb());
        }
        "latency" => {
            let count: usize = args[1].parse().unwrap_or(1000);
            let env = cloud_env();
            let state = std::env::temp_dir().join(format!("ta-bench-latency-{}", std::process::id()));
            let site = std::sync::Arc::new(client(&env, LATENCY_HIERARCHY, &state, site_auth())?);
            let operator = client(&env, LATENCY_HIERARCHY, &state, operator_auth())?;
            let services = operator.services()?;
            services.auth.token(&services.transport, tenant_attach::config::GRAPH_RESOURCE, &never)?;
            site.services()?.auth.token(&site.services()?.transport, tenant_attach::config::GATEWAY_RESOURCE, &never)?;
            let id = tenant_attach_cloud::server::managed_device_id(TENANT, LATENCY_HIERARCHY, "GUID:LATENCY-1");
            let users = json!([{ "aadUserId": "none", "adDiscovered": true, "azureAdDiscovered": true }]).to_string();
            // Leftovers of earlier runs are drained first, so every arrival belongs to this run.
            while !site.receive_notifications(&users, 0, &never)?.is_empty() {}
            // Arrival times, in order; the receiver is a second thread long-polling as a site does.
            let arrivals = std::sync::Arc::new((std::sync::Mutex::new(Vec::<Instant>::new()), std::sync::Condvar::new()));
            let receiver = {
                let (site, arrivals, users) = (site.clone(), arrivals.clone(), users.clone());
                std::thread::spawn(move || loop {
                    let got = match site.receive_notifications(&users, 30, &|| false) {
                        Ok(d) => d.len(),
                        Err(e) => {
                            eprintln!("receive failed: {}", e.message);
                            return;
                        }
                    };
                    let now = Instant::now();
                    let (lock, ready) = &*arrivals;
                    let mut list = lock.lock().unwrap_or_else(|e| e.into_inner());
                    list.extend(std::iter::repeat_n(now, got));
                    ready.notify_all();
                    if list.len() >= count {
                        return;
                    }
                })
            };
            let body = json!({ "configurationManagerAction": { "action": "refreshMachinePolicy" } });
            let mut latencies = Vec::with_capacity(count);
            for i in 0..count {
                let sent = Instant::now();
                services.graph(
                    "POST",
                    &format!("/beta/deviceManagement/managedDevices/{id}/triggerConfigurationManagerAction"),
                    Some(&body),
                    "trigger",
                    &never,
                )?;
                let (lock, ready) = &*arrivals;
                let mut list = lock.lock().unwrap_or_else(|e| e.into_inner());
                while list.len() <= i {
                    let (next, timeout) = ready.wait_timeout(list, std::time::Duration::from_secs(30)).unwrap_or_else(|e| e.into_inner());
                    list = next;
                    if timeout.timed_out() {
                        return Err(tenant_attach::Error::internal("an action did not arrive within 30 s"));
                    }
                }
                latencies.push(list[i].saturating_duration_since(sent).as_secs_f64() * 1000.0);
            }
            let _ = receiver.join();
            latencies.sort_by(|a, b| a.total_cmp(b));
            let p50 = latencies[latencies.len() / 2];
            let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
            println!("RESULT {p50:.2} 0 {count} {} {p99:.2}", peak_kb());
        }
        other => return Err(tenant_attach::Error::invalid_argument(format!("unknown child scenario {other}"))),
    }
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
    extra: f64,
}

fn run_child(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Sample {
    let exe = std::env::current_exe().expect("own path");
    let mut cmd = Command::new(exe);
    cmd.arg("--child").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("spawn a run");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("RESULT ")).unwrap_or_else(|| {
        eprintln!("{:?} failed:\n{text}\n{}", args, String::from_utf8_lossy(&out.stderr));
        std::process::exit(1)
    });
    let f: Vec<&str> = line.split_whitespace().collect();
    Sample {
        ms: f[1].parse().unwrap_or(0.0),
        bytes: f[2].parse().unwrap_or(0),
        records: f[3].parse().unwrap_or(0),
        peak_kb: f[4].parse().unwrap_or(0),
        extra: f.get(5).and_then(|x| x.parse().ok()).unwrap_or(0.0),
    }
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

/// Starts the cloud as a separate process (this binary in --cloud mode); returns it with its URL and CA.
fn start_cloud(dir: &Path) -> (std::process::Child, String, String) {
    let seed = dir.join("seed.json");
    let seed_json = json!({ "apps": [{ "appId": SITE_APP, "tenantId": TENANT, "displayName": "Bench site", "secret": SITE_SECRET }] });
    std::fs::write(&seed, seed_json.to_string()).expect("seed");
    let ready = dir.join("cloud.ready");
    let child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--cloud")
        .arg(dir.join("cloud"))
        .arg(&seed)
        .arg(&ready)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the cloud");
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the cloud did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&ready).expect("ready")).expect("ready JSON");
    (child, v["url"].as_str().unwrap_or_default().to_owned(), v["caFile"].as_str().unwrap_or_default().to_owned())
}

fn cloud_main(args: &[String]) {
    // No ingestion delay (Microsoft's is 5 to 10 minutes): the bench measures the software.
    let mut options = tenant_attach_cloud::CloudOptions::new(&args[0]).fast();
    options.seed = Some(PathBuf::from(&args[1]));
    let ready = PathBuf::from(&args[2]);
    let result = tenant_attach_cloud::Cloud::run(options, |url, ca| {
        let v = json!({ "url": url, "caFile": ca, "pid": std::process::id() });
        let temp = ready.with_extension("tmp");
        let _ = std::fs::write(&temp, v.to_string()).and_then(|_| std::fs::rename(&temp, &ready));
    });
    if let Err(e) = result {
        eprintln!("cloud: {e}");
        std::process::exit(1);
    }
}

struct Row {
    name: &'static str,
    samples: Vec<Sample>,
    units: f64,
    target: &'static str,
}

fn print_row(row: &Row) {
    let mut ms: Vec<f64> = row.samples.iter().map(|s| s.ms).collect();
    let (min, max) = ms.iter().fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let med = median(&mut ms);
    let mut peaks: Vec<f64> = row.samples.iter().map(|s| s.peak_kb as f64 / 1024.0).collect();
    println!(
        "{:<40} {:>4} {:>10.1} {:>17} {:>11.0} {:>12} {:>8} {:>8.1}  {}",
        row.name,
        row.samples.len(),
        med,
        format!("{min:.1}-{max:.1}"),
        row.units / (med / 1000.0),
        row.samples[0].bytes,
        row.samples[0].records,
        median(&mut peaks),
        row.target
    );
}

/// Reads the NDJSON file and hashes each line with xxh3, as the engine's line cache does; the time
/// in milliseconds.
fn no_change_floor(path: &Path) -> f64 {
    use std::io::BufRead;
    let started = Instant::now();
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(path).expect("inventory"));
    let mut line = Vec::with_capacity(1024);
    let mut sum = 0u64;
    while reader.read_until(b'\n', &mut line).expect("read") > 0 {
        sum = sum.wrapping_add(xxhash_rust::xxh3::xxh3_64(&line));
        line.clear();
    }
    std::hint::black_box(sum);
    started.elapsed().as_secs_f64() * 1000.0
}

const POWERSHELL_SCENARIOS: [&str; 5] = [
    "powershell: full sync, Get-CMDevice objects",
    "powershell: no change, Get-CMDevice objects",
    "powershell: Get-TenantAttachInventory -Path",
    "powershell: Get-TenantAttachDevice, every device",
    "powershell: 10,000 actions, Invoke-TenantAttachDeviceAction",
];

/// pwsh and the release build of the native library, or why the PowerShell scenarios cannot run.
fn powershell_host() -> Result<(String, PathBuf), String> {
    let pwsh = std::env::var("TA_BENCH_PWSH").unwrap_or_else(|_| "pwsh".into());
    let version = Command::new(&pwsh)
        .args(["-NoProfile", "-NonInteractive", "-Command", "$PSVersionTable.PSVersion.ToString()"])
        .output()
        .map_err(|e| format!("{pwsh} cannot be started ({e}); install PowerShell 7 (scripts/install-deps.sh) or set TA_BENCH_PWSH"))?;
    if !version.status.success() {
        return Err(format!("{pwsh} failed: {}", String::from_utf8_lossy(&version.stderr).trim()));
    }
    let file = if cfg!(windows) {
        "tenant_attach.dll"
    } else if cfg!(target_os = "macos") {
        "libtenant_attach.dylib"
    } else {
        "libtenant_attach.so"
    };
    let library = std::env::current_exe().ok().and_then(|e| e.parent().map(|p| p.join(file))).unwrap_or_default();
    if !library.is_file() {
        return Err(format!("the native library is not at {} (build it: cargo build --release -p tenant-attach)", library.display()));
    }
    println!("PowerShell {} ({pwsh}), library {}", String::from_utf8_lossy(&version.stdout).trim(), library.display());
    Ok((pwsh, library))
}

/// One pwsh process running a scenario of bench/powershell/Measure-TenantAttach.ps1 several times:
/// one sample per run, each with the process's peak working set.
fn run_pwsh(host: &(String, PathBuf), env: &[(&str, &str)], scenario: &str, extra: &[(&str, String)]) -> Result<Vec<Sample>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("powershell").join("Measure-TenantAttach.ps1");
    let mut cmd = Command::new(&host.0);
    cmd.args(["-NoProfile", "-NonInteractive", "-File"]).arg(&script).args(["-Scenario", scenario]);
    for (k, v) in extra {
        cmd.arg(format!("-{k}")).arg(v);
    }
    cmd.env("TENANT_ATTACH_LIBRARY", &host.1);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("cannot start {}: {e}", host.0))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let peak_kb = text.lines().find_map(|l| l.strip_prefix("PEAK ")).and_then(|v| v.trim().parse().ok());
    // The working set with the input objects built (before the first run), kept as `extra` (MB).
    let objects_mb = text.lines().find_map(|l| l.strip_prefix("OBJECTS ")).and_then(|v| v.trim().parse::<f64>().ok()).map_or(0.0, |kb| kb / 1024.0);
    let samples: Vec<Sample> = text
        .lines()
        .filter_map(|l| l.strip_prefix("RUN "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Sample {
                ms: f.first().and_then(|v| v.parse().ok()).unwrap_or(0.0),
                bytes: 0,
                records: f.get(1).and_then(|v| v.parse().ok()).unwrap_or(0),
                peak_kb: peak_kb.unwrap_or(0),
                extra: objects_mb,
            }
        })
        .collect();
    if !out.status.success() || samples.is_empty() || peak_kb.is_none() {
        return Err(format!("PowerShell scenario {scenario} failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(samples)
}

/// The PowerShell rows, and the scenarios that failed (each with its output); Err when none can run.
fn powershell_scenarios(args: &Args, work: &Path, inventory: &Path, env: &[(&str, &str)]) -> Result<(Vec<Row>, Vec<String>), String> {
    let host = powershell_host()?;
    let devices = inventory.join("cmdevices.tsv").display().to_string();
    let common = |app: &str, secret: &str| {
        vec![
            ("Devices", devices.clone()),
            ("Work", work.display().to_string()),
            ("HierarchyId", HIERARCHY.to_owned()),
            ("TenantId", TENANT.to_owned()),
            ("AppId", app.to_owned()),
            ("AppSecret", secret.to_owned()),
            ("Runs", args.runs.to_string()),
        ]
    };
    let site = common(SITE_APP, SITE_SECRET);
    let operator = common(tenant_attach_cloud::CONTOSO_AUTOMATION_APP, tenant_attach_cloud::CONTOSO_AUTOMATION_SECRET);
    let states = |prefix: &str, from: Option<&Path>| -> String {
        (0..args.runs)
            .map(|run| {
                let state = work.join(format!("{prefix}-{run}"));
                match from {
                    Some(from) => copy_dir(from, &state),
                    None => {
                        let _ = std::fs::remove_dir_all(&state);
                    }
                }
                state.display().to_string()
            })
            .collect::<Vec<_>>()
            .join("|")
    };
    // `more` replaces what `base` sets (pwsh refuses a parameter given twice).
    let with = |base: &[(&'static str, String)], more: &[(&'static str, String)]| {
        base.iter().filter(|(k, _)| more.iter().all(|(m, _)| m != k)).chain(more).cloned().collect::<Vec<_>>()
    };
    let n = args.devices as f64;
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    let mut keep = |name: &'static str, units: f64, target: &'static str, samples: Result<Vec<Sample>, String>| match samples {
        Ok(samples) => rows.push(Row { name, samples, units, target }),
        Err(why) => failed.push(format!("FAILED: {name}: {why}")),
    };
    let [full, unchanged, inventory_name, list, actions] = POWERSHELL_SCENARIOS;
    if args.wants(full) {
        keep(full, n, "<= 5 s, peak <= 1 GB", run_pwsh(&host, env, "sync", &with(&site, &[("State", states("ps-full", None))])));
    }
    if args.wants(unchanged) {
        // Made now (a new server taking the uploads over), so that the copies are the cloud's
        // uploader and made its generation.
        let synced = work.join("ps-synced");
        let _ = std::fs::remove_dir_all(&synced);
        let prepared = run_pwsh(&host, env, "sync", &with(&site, &[("State", synced.display().to_string()), ("Runs", "1".into())]));
        let samples = prepared.and_then(|_| run_pwsh(&host, env, "sync", &with(&site, &[("State", states("ps-unchanged", Some(&synced)))])));
        keep(unchanged, n, "<= 3 s, no records", samples);
    }
    if args.wants(inventory_name) {
        keep(inventory_name, n, "-", run_pwsh(&host, env, "inventory", &site));
    }
    if args.wants(list) {
        keep(list, n, "-", run_pwsh(&host, env, "list", &operator));
    }
    if args.wants(actions) {
        let count = 10_000usize.min(args.devices / 2);
        keep(actions, count as f64, "-", run_pwsh(&host, env, "actions", &with(&operator, &[("Actions", count.to_string())])));
    }
    Ok((rows, failed))
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    match argv.get(1).map(String::as_str) {
        Some("--child") => {
            if let Err(e) = child(&argv[2..]) {
                eprintln!("{}: {}", e.kind.as_str(), e.message);
                std::process::exit(1);
            }
            return;
        }
        Some("--cloud") => return cloud_main(&argv[2..]),
        _ => {}
    }
    let args = parse_args();
    let work = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    let inventory_dir = args.keep.clone().unwrap_or_else(|| work.path().to_path_buf());
    std::fs::create_dir_all(&inventory_dir).expect("inventory folder");
    let (base, delta) = generate(&inventory_dir, args.devices, args.seed).expect("generate the inventory");
    let size = std::fs::metadata(&base).map(|m| m.len()).unwrap_or(0);
    println!("inventory: {} devices, {:.1} MB NDJSON, seed {}, generated in {:.1} s", args.devices, size as f64 / 1e6, args.seed, t.elapsed().as_secs_f64());
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_default();
    println!("machine: {} cores, {machine}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));

    // The cloud, a separate process, and the hierarchies onboarded through the library.
    let (mut cloud, url, ca) = start_cloud(work.path());
    let env = [("TA_BENCH_URL", url.as_str()), ("TA_BENCH_CA", ca.as_str())];
    let cloud_env = CloudEnv { url: url.clone(), ca: ca.clone() };
    let import = json!({ "import": { "clientId": SITE_APP, "clientSecret": SITE_SECRET, "secretExpiry": "2030-01-01T00:00:00Z", "appIdUri": format!("api://{TENANT}/ConfigMgrService") } }).to_string();
    for h in [HIERARCHY, LATENCY_HIERARCHY] {
        let site = client(&cloud_env, h, &work.path().join("onboarding"), site_auth()).expect("client");
        site.register(&import, &|| false).expect("onboarded");
    }
    let latency_site = client(&cloud_env, LATENCY_HIERARCHY, &work.path().join("latency-state"), site_auth()).expect("client");
    let one = tenant_attach::inventory::parse_json(r#"[{"Name":"LATENCY-1","SMSID":"GUID:LATENCY-1","IsClient":true}]"#).expect("parse");
    latency_site.sync_devices(sync::Input::Items(&mut one.into_iter().map(Ok)), 1, Options::default(), &mut |_, _| {}, &|| false).expect("latency device");

    let os = |p: &Path| p.as_os_str().to_owned();
    let synced_engine = work.path().join("engine-synced");
    run_child(&[std::ffi::OsStr::new("engine"), &os(&base), &os(&synced_engine)], &env);
    // The synced state of the delta and no-change runs is made after the full syncs (each a new
    // server taking the uploads over), so that it is the cloud's uploader and made its generation.
    let synced = work.path().join("cloud-synced");
    let mut synced_made = false;

    let devices = args.devices as f64;
    let mut rows = Vec::new();
    for (name, kind, input, start, target) in [
        ("full sync, end to end", "sync", &base, None, "< 3 s"),
        ("delta 1% changed, end to end", "sync", &delta, Some(&synced), "< 0.5 s"),
        ("no change, end to end", "sync", &base, Some(&synced), "< 0.4 s, no records"),
        ("full sync, engine only (no network)", "engine", &base, None, "-"),
        ("no change, engine only", "engine", &base, Some(&synced_engine), "-"),
    ] {
        if !args.wants(name) {
            continue;
        }
        let mut samples = Vec::new();
        if kind == "sync" && start.is_some() && !synced_made {
            run_child(&[std::ffi::OsStr::new("sync"), &os(&base), &os(&synced)], &env);
            synced_made = true;
        }
        for run in 0..args.runs {
            let state = work.path().join(format!("state-{kind}-{run}"));
            match start {
                Some(from) => copy_dir(from, &state),
                None => {
                    let _ = std::fs::remove_dir_all(&state);
                }
            }
            // A full sync end to end is the hierarchy's first upload: onboarded afresh (an empty
            // cloud) before each run, untimed. (Into a cloud that holds the devices already, a
            // new server's full sync waits for its input to prove that nothing would be swept.)
            if kind == "sync" && start.is_none() {
                let onboarding = client(&cloud_env, HIERARCHY, &work.path().join("onboarding"), site_auth()).expect("client");
                onboarding.unregister(&|| false).expect("offboarded");
                onboarding.register(&import, &|| false).expect("onboarded again");
            }
            samples.push(run_child(&[std::ffi::OsStr::new(kind), &os(input), &os(&state)], &env));
        }
        rows.push(Row { name, samples, units: devices, target });
    }

    // Actions: 10,000 devices (the first eligible ones), through $batch and one call per device.
    let mut ratio = None;
    if args.wants("10,000 actions") {
        let actions = 10_000usize.min(args.devices / 2);
        let lister = client(&cloud_env, HIERARCHY, &work.path().join("lister"), operator_auth()).expect("client");
        let ids: Vec<String> =
            lister.list_devices(None, &|| false).expect("list").iter().take(actions).filter_map(|d| d["id"].as_str().map(str::to_owned)).collect();
        let ids_file = work.path().join("ids.txt");
        std::fs::write(&ids_file, ids.join("\n")).expect("ids");
        let mut batch = Vec::new();
        let mut single = Vec::new();
        for _ in 0..args.runs {
            batch.push(run_child(&[std::ffi::OsStr::new("actions-batch"), &os(&ids_file)], &env));
            single.push(run_child(&[std::ffi::OsStr::new("actions-single"), &os(&ids_file)], &env));
        }
        let mut b: Vec<f64> = batch.iter().map(|s| s.ms).collect();
        let mut s1: Vec<f64> = single.iter().map(|s| s.ms).collect();
        ratio = Some(median(&mut s1) / median(&mut b));
        rows.push(Row { name: "10,000 actions through $batch", samples: batch, units: actions as f64, target: "< 2 s, >= 5x one-per-device" });
        rows.push(Row { name: "10,000 actions, one call per device", samples: single, units: actions as f64, target: "(baseline)" });
    }

    let mut latency = Vec::new();
    for _ in 0..if args.wants("trigger-to-receive latency") { args.runs.min(3) } else { 0 } {
        latency.push(run_child(&[std::ffi::OsStr::new("latency"), std::ffi::OsStr::new("1000")], &env));
    }
    // PowerShell: the module as administrators use it, in pwsh, against the same cloud.
    let powershell =
        if POWERSHELL_SCENARIOS.iter().any(|n| args.wants(n)) { Some(powershell_scenarios(&args, work.path(), &inventory_dir, &env)) } else { None };
    let _ = cloud.kill();
    let _ = cloud.wait();

    println!(
        "\n{:<40} {:>4} {:>10} {:>17} {:>11} {:>12} {:>8} {:>8}  target",
        "scenario", "runs", "median ms", "min-max ms", "per second", "bytes sent", "records", "peak MB"
    );
    for row in &rows {
        print_row(row);
    }
    match &powershell {
        Some(Ok((ps_rows, failed))) => {
            ps_rows.iter().for_each(print_row);
            for row in ps_rows.iter().filter(|r| r.samples[0].extra > 0.0) {
                println!("  {}: pwsh held {:.1} MB with its input objects built, before the first run", row.name, row.samples[0].extra);
            }
            failed.iter().for_each(|f| println!("{f}"));
        }
        Some(Err(why)) => println!("SKIPPED: the PowerShell scenarios ({}) did not run: {why}", POWERSHELL_SCENARIOS.join("; ")),
        None => {}
    }
    if args.wants("no change") {
        // The floor of a no-change run: reading the NDJSON and hashing each line (xxh3, as the
        // engine does), nothing else.
        let mut floor: Vec<f64> = (0..args.runs).map(|_| no_change_floor(&base)).collect();
        let floor = median(&mut floor);
        println!("no-change floor (read {:.1} MB of NDJSON, xxh3 of each line): {floor:.1} ms (median of {})", size as f64 / 1e6, args.runs);
        let ps_rows = powershell.iter().flat_map(|p| p.iter().flat_map(|(rows, _)| rows.iter()));
        for row in rows.iter().chain(ps_rows).filter(|r| r.name.contains("no change")) {
            let mut ms: Vec<f64> = row.samples.iter().map(|s| s.ms).collect();
            println!("  {}: {:.1}x the floor", row.name, median(&mut ms) / floor);
        }
    }
    if let Some(ratio) = ratio {
        println!("$batch is {ratio:.1}x faster than one call per device (medians)");
    }
    if latency.is_empty() {
        return;
    }
    let mut p50: Vec<f64> = latency.iter().map(|s| s.ms).collect();
    let mut p99: Vec<f64> = latency.iter().map(|s| s.extra).collect();
    println!(
        "trigger-to-receive latency over 1,000 actions ({} runs): p50 {:.1} ms, p99 {:.1} ms (medians of runs; target p50 < 50 ms)",
        latency.len(),
        median(&mut p50),
        median(&mut p99)
    );
}
