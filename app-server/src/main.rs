//! `app-server`: parses the command line, starts logging, then serves or runs a command.

use app_server::Application;
use app_server::cli::{Cli, Command, UserAction, add_user, disable_user, enable_user};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    server_kit::telemetry::init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::User {
            action: UserAction::Add { name, .. },
        }) => {
            let (id, name) = add_user(&cli.config, &name, std::io::stdin().lock()).await?;
            println!("created user {name} ({id})");
        }
        Some(Command::User {
            action: UserAction::Disable { name },
        }) => {
            let id = disable_user(&cli.config, &name).await?;
            println!("disabled user {name} ({id}): signed out, links revoked");
        }
        Some(Command::User {
            action: UserAction::Enable { name },
        }) => {
            enable_user(&cli.config, &name).await?;
            println!("enabled user {name}");
        }
        None => {
            Application::build(cli.config)
                .await?
                .run_until_stopped()
                .await?;
        }
    }
    Ok(())
}
