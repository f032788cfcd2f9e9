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

impl ChildGuard {
    /// Whether this process runs as root (CI does): servers that drop privileges then need to be
    /// told whom to run as.
    pub fn running_as_root() -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").expect("/proc/self").uid() == 0
    }

    /// Sends signal `name` and waits (bounded by `grace`) until the child exits; whatever is
    /// left is killed when the guard drops.
    pub fn stop_with(&mut self, name: &str, grace: Duration) {
        let _ = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.0.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether this process runs as root (CI does): servers that drop privileges then need to be
/// told whom to run as, or that they may stay root.
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").expect("/proc/self").uid() == 0
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

/// Waits (up to `timeout`) until `child`, a server called `name`, accepts TCP connections on
/// `address`; if it exits first, fails the test with what `log` then says.
pub async fn wait_until_accepting(
    child: &mut ChildGuard,
    address: std::net::SocketAddr,
    timeout: Duration,
    name: &str,
    log: impl Fn() -> String,
) {
    crate::eventually(timeout, &format!("{name} accepts connections"), || {
        let exited = child.0.try_wait().unwrap();
        assert!(exited.is_none(), "{name} exited: {}", log());
        tokio::net::TcpStream::connect(address)
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
