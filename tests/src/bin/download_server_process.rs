//! The download server's binary, built in this package so its tests can start it as a process
//! with an environment of its own: an `s3://` store takes its settings from `AWS_*` variables,
//! which a test cannot set in its own process (`set_var` is `unsafe`, forbidden here).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    server_kit::telemetry::init();
    let config = download_server::Config::parse();
    download_server::Application::build(config)
        .await?
        .run_until_stopped()
        .await?;
    Ok(())
}
