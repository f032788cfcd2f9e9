//! `CaddyServer`: Debian's real `caddy` (2.6) running a Caddyfile shipped in `deploy/caddy/`, on
//! a free loopback port with its admin endpoint on another, its data and autosaved config in a
//! temp dir instead of `$HOME`. Checked with `caddy validate` first; stopped by its pid on drop.

use crate::deploy::Template;
use crate::procs::{ChildGuard, free_port, run_bounded, wait_until_accepting};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// How long Caddy gets to start answering, and to exit on SIGTERM.
const START: Duration = Duration::from_secs(10);
const STOP: Duration = Duration::from_secs(5);

pub struct CaddyServer {
    pub address: SocketAddr,
    /// `http://` + the address.
    pub base: String,
    dir: TempDir,
    child: Option<ChildGuard>,
}

impl CaddyServer {
    /// Fills the Caddyfile's `@@SITE@@` (plain HTTP on a free port of 127.0.0.1), `@@BIND@@`,
    /// `@@ADMIN@@` (another free port) and `@@ACCESS_LOG@@` (a file in the temp dir), validates
    /// it, starts `caddy run` and waits (bounded) until it accepts connections.
    pub async fn start(caddyfile: Template) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let address: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let access_log = dir.path().join("access.log");
        let caddyfile = caddyfile
            .fill("SITE", format!("http://{address}"))
            .fill("BIND", address.ip().to_string())
            .fill("ADMIN", format!("127.0.0.1:{}", free_port()))
            .fill("ACCESS_LOG", access_log.to_str().expect("UTF-8 temp path"));
        let config = dir.path().join("Caddyfile");
        std::fs::write(&config, caddyfile.render()).unwrap();

        let mut check = tokio::process::Command::from(caddy(dir.path(), "validate"));
        let validated = run_bounded(&mut check, START).await;
        assert!(
            validated.status.success(),
            "caddy validate refuses {}:\n{}",
            caddyfile.name(),
            String::from_utf8_lossy(&validated.stderr)
        );

        let log = std::fs::File::create(dir.path().join("caddy.log")).unwrap();
        let child = caddy(dir.path(), "run")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("caddy runs (scripts/test installs it)");
        let mut child = ChildGuard(child);
        let log_path = dir.path().join("caddy.log");
        let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        wait_until_accepting(&mut child, address, START, "caddy", log).await;
        CaddyServer {
            address,
            base: format!("http://{address}"),
            dir,
            child: Some(child),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The site's access log (`@@ACCESS_LOG@@`, one JSON object per request) so far.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// Caddy's own log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }
}

impl Drop for CaddyServer {
    /// Graceful stop (SIGTERM), bounded; the guard kills whatever is left.
    fn drop(&mut self) {
        if let Some(mut guard) = self.child.take() {
            guard.stop_with("TERM", STOP);
        }
    }
}

/// `caddy <action>` on the Caddyfile in `dir`, with `$HOME` and the XDG folders there: Caddy
/// keeps its data (certificates, locks) and its autosaved config under them.
fn caddy(dir: &Path, action: &str) -> Command {
    let mut command = Command::new("caddy");
    command
        .arg(action)
        .arg("--config")
        .arg(dir.join("Caddyfile"))
        .args(["--adapter", "caddyfile"])
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"));
    command
}
