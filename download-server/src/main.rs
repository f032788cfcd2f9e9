//! `download-server`: parse the config, start logging, build, serve until SIGTERM/SIGINT.

use clap::Parser;
use download_server::{Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    server_kit::telemetry::init();
    let config = Config::parse();
    let application = Application::build(config).await?;
    application.run_until_stopped().await?;
    Ok(())
}
