//! `tenant-attach-cloud --listen 127.0.0.1:0 --data-dir DIR [--seed FILE] [--http] [--cert F --key F] [--ready-file F]
//! [--device-code-interval SECONDS] [--ingestion-delay-ms MS]`

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use tenant_attach_cloud::{Cloud, CloudOptions};

/// A local stand-in for the Microsoft cloud side of ConfigMgr tenant attach.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free one. Loopback is strongly advised.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Folder for the state, keys and certificates (kept across restarts).
    #[arg(long)]
    data_dir: PathBuf,
    /// Seed file: tenants, users, roles, discovery flags and apps (see cloud/README.md).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    http: bool,
    /// Serve this certificate chain (PEM) instead of the generated one (needs --key).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Written once listening: {"url": "...", "caFile": "...", "pid": N}.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Seconds between device code polls the token service asks clients for (Azure AD: 5).
    #[arg(long, default_value_t = tenant_attach_cloud::DEFAULT_DEVICE_CODE_INTERVAL_SECONDS, value_parser = clap::value_parser!(u64).range(1..=60))]
    device_code_interval: u64,
    /// Milliseconds before uploaded devices appear in Graph (Microsoft documents 5 to 10 minutes;
    /// default 300000, 5 minutes). Tests and demos give 0.
    #[arg(long, default_value_t = tenant_attach_cloud::DEFAULT_INGESTION_DELAY_MS)]
    ingestion_delay_ms: u64,
}

fn main() {
    let args = Args::parse();
    // Warnings by default; RUST_LOG=tower_http=debug adds a line per request.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let options = CloudOptions {
        listen: args.listen,
        data_dir: args.data_dir,
        seed: args.seed,
        http: args.http,
        cert: args.cert.zip(args.key),
        device_code_interval_seconds: args.device_code_interval,
        ingestion_delay_ms: args.ingestion_delay_ms,
    };
    if !args.listen.ip().is_loopback() {
        eprintln!("warning: listening on {} — /_admin (seeding, sign-in approval, faults) has no authentication; keep this on loopback", args.listen);
    }
    let ready_file = args.ready_file;
    let result = Cloud::run(options, |url, ca| {
        println!("tenant-attach-cloud listening on {url}");
        if let Some(ca) = ca {
            println!("trust this CA certificate: {}", ca.display());
        }
        if let Some(path) = &ready_file {
            let ready = serde_json::json!({ "url": url, "caFile": ca, "pid": std::process::id() });
            let temp = path.with_extension("tmp");
            if std::fs::write(&temp, ready.to_string()).and_then(|_| std::fs::rename(&temp, path)).is_err() {
                eprintln!("cannot write the ready file {}", path.display());
            }
        }
    });
    if let Err(e) = result {
        eprintln!("tenant-attach-cloud: {e}");
        std::process::exit(1);
    }
}
