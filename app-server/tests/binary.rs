//! The real `app-server` binary: configured from the environment, `user add` from stdin, stops
//! on SIGTERM, and never writes a password, cookie secret or token to its logs, even at debug.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
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

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_serves_stops_on_sigterm_and_logs_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        user_add(dir.path(), "alice", "alice-secret-pw")
            .status
            .success()
    );

    let mut child = app_server(dir.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = String::new();
    let address = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs its address");
        log.push_str(&line);
        log.push('\n');
        if line.contains("app server listening") {
            let at = line.find("address=").unwrap() + "address=".len();
            break line[at..].split_whitespace().next().unwrap().to_owned();
        }
    };
    let base = format!("http://{address}");
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

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..150 {
        if let Some(code) = child.try_wait().unwrap() {
            exited = Some(code);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(code) = exited else {
        let _ = child.kill();
        panic!("the server did not stop on SIGTERM");
    };
    assert!(code.success(), "{code:?}");
    reader.join().unwrap();
    log.extend(lines_rx.try_iter().map(|l| l + "\n"));

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
