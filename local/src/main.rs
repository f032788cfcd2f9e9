//! `cargo run --release -p local`: the whole system on embedded defaults, in one data dir
//! (signing key + JWKS, a files folder, an in-memory replay store). Ctrl-C stops everything.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use shared::{PublicJwks, SigningKey};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Run the download-token system locally on embedded defaults")]
struct Args {
    /// Where keys and files live.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Download server address.
    #[arg(long, env = "DL_LISTEN", default_value = "127.0.0.1:8081")]
    download_listen: std::net::SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    download_server::startup::init_tracing();
    let args = Args::parse();
    let files = args.data_dir.join("files");
    std::fs::create_dir_all(&files).with_context(|| format!("creating {}", files.display()))?;
    let key_path = args.data_dir.join("signing-key.pem");
    let jwks_path = args.data_dir.join("jwks.json");
    let (key, created) = SigningKey::load_or_generate(&key_path)?;
    if created || !jwks_path.exists() {
        PublicJwks {
            keys: vec![key.public_jwk()],
        }
        .write_atomically(&jwks_path)?;
    }

    let mut config =
        download_server::Config::for_tests(files.to_string_lossy(), jwks_path.to_string_lossy());
    config.listen = args.download_listen;
    config.workers = None;
    config.shutdown_grace = 10;
    let download = download_server::Application::build(config).await?;
    let address = download.address();

    println!(
        "\nDownload server: http://{address}  (files in {files}, kid {kid})\n\
         Put a file there and mint a single-use link for it:\n\n  \
         echo hello > {files}/hello.txt\n  \
         cargo run -q -p shared --bin dl-token -- mint --key {key} --obj hello.txt --base http://{address}\n\n\
         Fetch it with curl -O (the second fetch answers 410). Ctrl-C stops.\n",
        files = files.display(),
        key = key_path.display(),
        kid = key.kid(),
    );
    download.run_until_stopped().await?;
    Ok(())
}
