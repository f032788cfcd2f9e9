//! `NginxServer`: Debian's real `nginx` running a site config shipped in `deploy/nginx/`, on a
//! free loopback port in a temp prefix, inside a main config that moves every path Debian
//! compiles in (`/run/nginx.pid`, `/var/log/nginx`, `/var/lib/nginx/*`) into the prefix.
//! Checked with `nginx -t` first; stopped by its pid on drop.

use crate::deploy::Template;
use crate::procs::{ChildGuard, free_port, run_bounded, running_as_root, wait_until_accepting};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// How long nginx gets to start answering, and to exit on SIGTERM.
const START: Duration = Duration::from_secs(10);
const STOP: Duration = Duration::from_secs(5);

pub struct NginxServer {
    pub address: SocketAddr,
    /// `http://` + the address.
    pub base: String,
    prefix: TempDir,
    child: Option<ChildGuard>,
}

impl NginxServer {
    /// Fills the site's `@@LISTEN@@` (a free port on 127.0.0.1) and `@@ACCESS_LOG@@` (a file in
    /// the prefix), checks the whole config with `nginx -t`, starts nginx in the foreground and
    /// waits (bounded) until it accepts connections.
    pub async fn start(site: Template) -> Self {
        let prefix = tempfile::tempdir().expect("temp dir");
        let address: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut site = site.fill("LISTEN", address.to_string());
        if site.uses("ACCESS_LOG") {
            site = site.fill("ACCESS_LOG", path_str(&prefix.path().join("access.log")));
        }
        std::fs::write(prefix.path().join("site.conf"), site.render()).unwrap();
        std::fs::create_dir_all(prefix.path().join("tmp")).unwrap();
        std::fs::write(prefix.path().join("nginx.conf"), main_config(prefix.path())).unwrap();

        let mut check = tokio::process::Command::from(nginx(prefix.path()));
        let test = run_bounded(check.arg("-t"), START).await;
        assert!(
            test.status.success(),
            "nginx -t refuses {}:\n{}",
            site.name(),
            String::from_utf8_lossy(&test.stderr)
        );

        let log = std::fs::File::create(prefix.path().join("stderr.log")).unwrap();
        let child = nginx(prefix.path())
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nginx runs (scripts/test installs it)");
        let mut child = ChildGuard(child);
        let log = || errors_in(prefix.path());
        wait_until_accepting(&mut child, address, START, "nginx", log).await;
        NginxServer {
            address,
            base: format!("http://{address}"),
            prefix,
            child: Some(child),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The site's access log (`@@ACCESS_LOG@@`) so far, one line per request.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.prefix.path().join("access.log")).unwrap_or_default()
    }

    /// nginx's stderr and error log so far (for failure messages).
    pub fn error_log(&self) -> String {
        errors_in(self.prefix.path())
    }

    /// The site config as nginx runs it (placeholders filled).
    pub fn site_config(&self) -> PathBuf {
        self.prefix.path().join("site.conf")
    }
}

impl Drop for NginxServer {
    /// Fast shutdown (SIGTERM to the master, which stops its workers), bounded; the guard kills
    /// whatever is left.
    fn drop(&mut self) {
        if let Some(mut guard) = self.child.take() {
            guard.stop_with("TERM", STOP);
        }
    }
}

/// `nginx` with the prefix, the main config and the error log on stderr before the config's
/// own `error_log` takes over (Debian compiles in `/var/log/nginx/error.log`).
fn nginx(prefix: &Path) -> Command {
    // Debian installs it in /usr/sbin, which is not on every user's PATH.
    let binary = Path::new("/usr/sbin/nginx");
    let mut command = Command::new(if binary.exists() {
        binary
    } else {
        Path::new("nginx")
    });
    command
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .args(["-e", "stderr"]);
    command
}

fn errors_in(prefix: &Path) -> String {
    ["stderr.log", "error.log"]
        .iter()
        .map(|name| std::fs::read_to_string(prefix.join(name)).unwrap_or_default())
        .collect()
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("temp paths are UTF-8").to_owned()
}

/// The test's stand-in for Debian's `/etc/nginx/nginx.conf`: the site goes where `conf.d/*.conf`
/// would, inside `http {}`.
fn main_config(prefix: &Path) -> String {
    let p = path_str(prefix);
    // Workers run as `nobody` when the master is root; the test's temp dirs are 0700.
    let user = if running_as_root() { "user root;" } else { "" };
    format!(
        "# Written by test-support/src/nginx.rs; the site config is a shipped file from deploy/nginx/.
{user}
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log info;
events {{
    worker_connections 512;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {p}/other-access.log;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    include {p}/site.conf;
}}
"
    )
}
