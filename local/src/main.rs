//! `cargo run --release -p local`: the whole system on embedded defaults in one data dir
//! (SQLite, signing key + JWKS, a files folder, an in-memory replay store): the app server and
//! the download server in one process, a demo account, and Ctrl-C stops both.

use anyhow::Context;
use clap::Parser;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(about = "Run the download-token system locally on embedded defaults")]
struct Args {
    /// Where the database, keys and files live.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// App server address (the pages people open).
    #[arg(long, env = "APP_LISTEN", default_value = "127.0.0.1:8080")]
    app_listen: SocketAddr,
    /// Download server address.
    #[arg(long, env = "DL_LISTEN", default_value = "127.0.0.1:8081")]
    download_listen: SocketAddr,
}

const DEMO_USER: &str = "demo";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    server_kit::telemetry::init();
    let args = Args::parse();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;
    let issuer = format!("http://{}", args.app_listen);

    let mut app_config = app_server::Config::defaults(&data_dir, "http://127.0.0.1:8081".parse()?);
    app_config.listen = args.app_listen;
    app_config.issuer = issuer.clone();
    // The key and the JWKS must exist before the download server reads them.
    app_server::publish_keys(&app_config)?;
    let demo_password = ensure_demo_account(&app_config).await?;

    let files = data_dir.join("files");
    let mut dl_config = download_server::Config::defaults(
        files.to_string_lossy(),
        app_config.jwks_out_path().to_string_lossy(),
    );
    dl_config.listen = args.download_listen;
    dl_config.shutdown_grace = 10;
    dl_config.issuer = issuer;
    // Links can be taken back: the download server follows the app server's revocations.
    dl_config.revocations =
        Some(format!("http://{}/.well-known/dl-revocations", args.app_listen).parse()?);
    let download = download_server::Application::build(dl_config).await?;
    app_config.download_base = format!("http://{}", download.address()).parse()?;
    let app = app_server::Application::build(app_config).await?;

    println!(
        "\n  Open {url}\n  Sign in as \"{DEMO_USER}\" with password \"{demo_password}\"\n  \
         (downloads come from http://{dl}; everything is kept in {dir})\n  Ctrl-C stops both servers.\n",
        url = app.public_url(),
        dl = download.address(),
        dir = data_dir.display(),
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        server_kit::shutdown::signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let (app_result, dl_result) = tokio::join!(
        app.run_until(stopped(stop_rx.clone())),
        download.run_until(stopped(stop_rx)),
    );
    app_result?;
    dl_result?;
    println!("Both servers stopped.");
    Ok(())
}

/// Creates the demo account when the database has no account yet; its password is kept in the
/// data dir (mode 0600) so every run can print it.
async fn ensure_demo_account(config: &app_server::Config) -> anyhow::Result<String> {
    let password_file = config.data_dir.join("demo-password.txt");
    match app_server::cli::create_first_account(config, DEMO_USER).await? {
        Some(password) => {
            write_private(&password_file, &password)?;
            Ok(password)
        }
        None => Ok(std::fs::read_to_string(&password_file).map_or_else(
            |_| "(set on an earlier run; see demo-password.txt)".into(),
            |p| p.trim().to_owned(),
        )),
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(file, "{text}")?;
    Ok(())
}
