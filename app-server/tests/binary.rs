//! The real `app-server` binary: configured from the environment, `user add` from stdin, stops
//! on SIGTERM, never writes a password, cookie secret or token to its logs, even at debug, and
//! keeps its memory bounded under a flood of logins.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

fn app_server(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_app-server"));
    command
        .env_clear()
        .env("APP_LISTEN", "127.0.0.1:0")
        .env("APP_DATA_DIR", data_dir)
        .env("APP_DOWNLOAD_BASE", "http://127.0.0.1:9")
        .env("APP_ALLOW_SIGNUP", "false")
        .env("RUST_LOG", "debug");
    command
}

/// Runs `app-server user add NAME --password-stdin` with `password` on stdin.
fn user_add(data_dir: &std::path::Path, name: &str, password: &str) -> std::process::Output {
    let mut child = app_server(data_dir)
        .args(["user", "add", name, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn user_add_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let output = user_add(dir.path(), "Carol", "carol-password");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created user carol"));
    let again = user_add(dir.path(), "carol", "carol-password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("taken"));
    assert!(!String::from_utf8_lossy(&again.stderr).contains("carol-password"));
}

/// `POST /api/{endpoint}` (signup or login) with a user name and password.
async fn post_credentials(
    client: &reqwest::Client,
    base: &str,
    endpoint: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/api/{endpoint}"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

/// A started `app-server` whose stderr is read line by line on a thread.
struct Running {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// Everything read from stderr so far.
    log: String,
    base: String,
}

impl Running {
    fn start(mut command: Command) -> Self {
        let mut child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines_tx, lines) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let mut log = String::new();
        let address = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(30))
                .expect("the server logs its address");
            log.push_str(&line);
            log.push('\n');
            if line.contains("app server listening") {
                let at = line.find("address=").unwrap() + "address=".len();
                break line[at..].split_whitespace().next().unwrap().to_owned();
            }
        };
        Running {
            child,
            lines,
            reader: Some(reader),
            log,
            base: format!("http://{address}"),
        }
    }

    /// Sends SIGTERM, waits (bounded) for a clean exit and returns the whole log.
    fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut exited = None;
        for _ in 0..150 {
            if let Some(code) = self.child.try_wait().unwrap() {
                exited = Some(code);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let Some(code) = exited else {
            let _ = self.child.kill();
            panic!("the server did not stop on SIGTERM");
        };
        assert!(code.success(), "{code:?}");
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let rest: String = self.lines.try_iter().map(|l| l + "\n").collect();
        std::mem::take(&mut self.log) + &rest
    }
}

/// A test that fails half-way leaves no server behind.
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_serves_stops_on_sigterm_and_logs_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        user_add(dir.path(), "alice", "alice-secret-pw")
            .status
            .success()
    );

    let server = Running::start(app_server(dir.path()));
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signup = post_credentials(&client, &base, "signup", "mallory", "mallory-password").await;
    assert_eq!(signup.status(), 403, "APP_ALLOW_SIGNUP=false is honoured");
    let wrong = post_credentials(&client, &base, "login", "alice", "a-wrong-guess").await;
    assert_eq!(wrong.status(), 401);
    let login = post_credentials(&client, &base, "login", "alice", "alice-secret-pw").await;
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    let secret = cookie
        .trim_start_matches("session=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt"),
    );
    let file: serde_json::Value = client
        .post(format!("{base}/api/files"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link: serde_json::Value = client
        .post(format!(
            "{base}/api/files/{}/link",
            file["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = link["url"].as_str().unwrap();
    let token = url
        .split("/d/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();

    let log = server.stop();

    assert!(
        log.contains("minted a download link"),
        "the log is the debug-level log:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "a log that is not a terminal has no colour codes:\n{log}"
    );
    for (what, secret) in [
        ("password", "alice-secret-pw"),
        ("wrong password", "a-wrong-guess"),
        ("cookie secret", secret.as_str()),
        ("token", token.as_str()),
        ("token signature", token.rsplit('.').next().unwrap()),
    ] {
        assert!(!log.contains(secret), "the log holds the {what}:\n{log}");
    }
}

#[test]
fn help_and_start_up_errors_never_show_the_database_password() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "db-secret-pw";
    let help = app_server(dir.path())
        .env(
            "APP_DATABASE",
            format!("postgres://app:{secret}@127.0.0.1:9/app"),
        )
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("APP_DATABASE"), "{help}");
    assert!(!help.contains(secret), "{help}");

    let refused = app_server(dir.path())
        .env(
            "APP_DATABASE",
            format!("mysql://app:{secret}@127.0.0.1:9/app"),
        )
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("sqlite://") && stderr.contains("postgres://"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret), "{stderr}");
}

/// The peak resident memory (`VmHWM`) of process `pid`, in MiB; `None` once it has exited.
fn peak_rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024)
}

/// Logins for unknown users, each from its own loopback address, so the per-IP throttle lets
/// every one through to the password check (the unknown user's dummy hash costs what a real one
/// does).
const FLOOD: usize = 600;
/// `--password-hashes` for this test, so the bound below does not depend on the core count.
const HASHES: u64 = 4;
/// Each Argon2id hash needs 19 MiB, kept per slot: `HASHES` slots are 76 MiB. The idle process
/// is about 13 MiB and 600 connections add a few; 64 MiB of margin on top. (Measured: 93 MiB.
/// Without the bound the flood passes 4 GiB; with the bound but memory allocated per hash,
/// glibc's per-thread arenas kept it at 850 MiB.)
const PEAK_RSS_BOUND_MIB: u64 = HASHES * 19 + 64;

#[tokio::test(flavor = "multi_thread")]
async fn a_login_flood_stays_within_its_memory_bound_and_a_real_user_still_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        user_add(dir.path(), "alice", "alice-secret-pw")
            .status
            .success()
    );
    let mut command = app_server(dir.path());
    command
        .env("APP_PASSWORD_HASHES", HASHES.to_string())
        .env("RUST_LOG", "info");
    let server = Running::start(command);
    let pid = server.child.id();
    let idle = peak_rss_mib(pid).expect("the server runs");

    // Unbounded, this flood takes gigabytes: a watchdog kills the server long before it can
    // take the machine, and remembers the highest peak it saw.
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut highest = 0;
            while !done.load(Ordering::Relaxed) {
                let Some(peak) = peak_rss_mib(pid) else { break };
                highest = highest.max(peak);
                if peak > 4 * PEAK_RSS_BOUND_MIB {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            highest
        })
    };

    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            let address = std::net::Ipv4Addr::new(127, 0, 1 + (i / 200) as u8, 1 + (i % 200) as u8);
            let client = reqwest::Client::builder()
                .local_address(std::net::IpAddr::V4(address))
                .build()
                .unwrap();
            let url = format!("{}/api/login", server.base);
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .json(&serde_json::json!({"username": format!("nobody{i}"), "password": "a-wrong-guess"}))
                    .send()
                    .await?;
                let retry_after = response.headers().get("retry-after").cloned();
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await?;
                Ok::<_, reqwest::Error>((status, retry_after, body))
            })
        })
        .collect();

    // Alice signs in while the flood runs; a 503 tells her to come back, a bounded number of times.
    let alice = reqwest::Client::new();
    let mut alice_answers = Vec::new();
    for _ in 0..30 {
        let Ok(response) = alice
            .post(format!("{}/api/login", server.base))
            .json(&serde_json::json!({"username": "alice", "password": "alice-secret-pw"}))
            .send()
            .await
        else {
            break;
        };
        let status = response.status().as_u16();
        alice_answers.push(status);
        if status != 503 {
            break;
        }
        let wait: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }

    let answers = futures_util::future::join_all(flood).await;
    done.store(true, Ordering::Relaxed);
    let highest = watchdog.join().unwrap();
    let peak = peak_rss_mib(pid).unwrap_or(0).max(highest);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for answer in &answers {
        if let Ok(Ok((status, _, _))) = answer {
            *statuses.entry(*status).or_default() += 1;
        }
    }
    eprintln!(
        "peak RSS {peak} MiB (idle {idle} MiB); flood answers {statuses:?}; alice {alice_answers:?}"
    );
    assert!(
        peak < PEAK_RSS_BOUND_MIB,
        "peak RSS {peak} MiB, bound {PEAK_RSS_BOUND_MIB} MiB (idle {idle} MiB)"
    );
    assert_eq!(
        alice_answers.last(),
        Some(&200),
        "alice could not sign in during the flood"
    );
    for answer in answers {
        let (status, retry_after, body) = answer.unwrap().expect("the server answers every login");
        match status {
            401 => {}
            503 => {
                assert_eq!(body["error"], "busy", "{body}");
                assert!(retry_after.is_some(), "a 503 says when to come back");
            }
            other => panic!("a flood login answered {other}: {body}"),
        }
    }
    assert!(
        statuses.get(&401).copied().unwrap_or(0) >= HASHES as usize,
        "too few passwords were checked: {statuses:?}"
    );
    assert!(
        statuses.contains_key(&503),
        "the flood never filled the queue: {statuses:?}"
    );
    server.stop();
}
