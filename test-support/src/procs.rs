//! Helpers for the external programs tests start: a free port, a guard that kills the child on
//! drop, signals, and waiting (bounded) for a port to open.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills and reaps a child process when dropped.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends signal `name` (`TERM`, `STOP`, ...) to `pid`, with the `kill` command.
pub fn signal(name: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

/// Waits (up to `timeout`) until something accepts TCP connections on 127.0.0.1:`port`.
pub async fn wait_for_port(port: u16, timeout: Duration) {
    crate::eventually(timeout, &format!("port {port} opens"), || {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
    })
    .await;
}

/// Runs `command` to its end with no input and its output captured; a run that takes longer
/// than `limit` is killed (by its pid, as the child is dropped) and fails the test.
pub async fn run_bounded(
    command: &mut tokio::process::Command,
    limit: std::time::Duration,
) -> std::process::Output {
    let program = format!("{:?}", command.as_std().get_program());
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs (./scripts/test installs it): {e}"));
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(output) => output.expect("the child's output is read"),
        Err(_) => panic!("{program} did not finish within {limit:?}"),
    }
}
