//! `AppServer`: a real app server and a real download server on 127.0.0.1:0 sharing one fresh
//! temp data dir (SQLite file, signing key, JWKS, files folder), plus `AppClient`s: each its own
//! cookie jar ("a device"), redirects off, one method per endpoint.

use crate::download::{DownloadServer, ServerFiles};
use app_server::{Application, Config};
use reqwest::{Response, multipart};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// The app server's defaults as the tests run it: loopback port 0, two workers, and nothing
/// read from the environment.
pub fn test_config(data_dir: &std::path::Path, download_base: &str) -> Config {
    let mut config = Config::defaults(data_dir, download_base.parse().unwrap());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.workers = Some(2);
    config
}

pub struct AppServer {
    pub address: SocketAddr,
    pub base: String,
    pub config: Config,
    pub download: DownloadServer,
    /// The first device; `device()` makes more.
    pub api: AppClient,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl AppServer {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts both servers after `tweak` has adjusted the app server's config.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        crate::init_test_logging();
        let files = ServerFiles::new();
        let mut config = test_config(files.dir.path(), "http://127.0.0.1:1");
        config.issuer = "https://app.test".into();
        config.audience = "download".into();
        tweak(&mut config);
        // The app's key must be in the JWKS before the download server loads it.
        app_server::publish_keys(&config).expect("the key and the JWKS are written");
        let mut dl_config = files.config();
        dl_config.issuer = config.issuer.clone();
        dl_config.audience = config.audience.clone();
        let download = DownloadServer::start(files, dl_config).await;
        config.download_base = download.base.parse().unwrap();
        // History on: the app server follows its own download server's event feed.
        config
            .download_events
            .get_or_insert_with(|| format!("{}/v1/events", download.base).parse().unwrap());
        Self::start(config, download).await
    }

    async fn start(config: Config, download: DownloadServer) -> Self {
        let app = Application::build(config.clone())
            .await
            .expect("app server builds");
        let address = app.address();
        let base = format!("http://{address}");
        let handle = app.handle();
        let task = tokio::spawn(app.run_until(std::future::pending()));
        AppServer {
            address,
            api: AppClient::new(&base),
            base,
            config,
            download,
            handle,
            task,
        }
    }

    /// Stops the app server and starts it again on the same data dir, config and port 0
    /// (a new address); the first device keeps its cookie jar.
    pub async fn restart(self) -> Self {
        self.restart_with(|_| {}).await
    }

    /// Like `restart`, after `tweak` has adjusted the config (e.g. a new signing key).
    pub async fn restart_with(self, tweak: impl FnOnce(&mut Config)) -> Self {
        self.handle.stop(true).await;
        let _ = self.task.await;
        let jar = self.api;
        let mut config = self.config;
        tweak(&mut config);
        let mut restarted = Self::start(config, self.download).await;
        restarted.api = AppClient {
            base: restarted.base.clone(),
            ..jar
        };
        restarted
    }

    /// Stops the app server, runs `meanwhile` while it is down, then starts it again on the same
    /// data dir, config and address (the download servers' revocation feed points there).
    pub async fn down_while<F: std::future::Future>(self, meanwhile: F) -> (Self, F::Output) {
        self.handle.stop(true).await;
        let _ = self.task.await;
        let output = meanwhile.await;
        let jar = self.api;
        let mut config = self.config;
        config.listen = self.address;
        let mut restarted = Self::start(config, self.download).await;
        restarted.api = AppClient {
            base: restarted.base.clone(),
            ..jar
        };
        (restarted, output)
    }

    /// Another device: a fresh cookie jar.
    pub fn device(&self) -> AppClient {
        AppClient::new(&self.base)
    }

    /// A device signed in as a new account `name` (password `"{name}-password"`).
    pub async fn signed_in(&self, name: &str) -> AppClient {
        let device = self.device();
        let password = format!("{name}-password");
        assert_eq!(device.signup(name, &password).await.status(), 201);
        assert_eq!(device.login(name, &password).await.status(), 200);
        device
    }

    /// `GET /api/me` from a fresh client presenting `secret` as its session cookie (a stolen or
    /// remembered cookie, replayed).
    pub async fn me_with_cookie(&self, secret: &str) -> Response {
        self.device()
            .client
            .get(self.api.url("/api/me"))
            .header("cookie", format!("session={secret}"))
            .send()
            .await
            .unwrap()
    }

    /// `(rows, distinct event ids)` in the app server's `download_events` table.
    pub async fn download_event_rows(&self) -> (i64, i64) {
        download_event_rows(&self.config.database_url()).await
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    /// Fetches a download URL with a plain client (no cookies), as a browser would after the 303.
    pub async fn fetch(&self, url: &str) -> Response {
        self.download
            .client
            .get(url)
            .send()
            .await
            .expect("download server answers")
    }
}

#[derive(Clone)]
pub struct AppClient {
    pub base: String,
    pub client: reqwest::Client,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl AppClient {
    pub fn new(base: &str) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        AppClient {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_provider(jar.clone())
                .user_agent("integration-tests")
                .build()
                .unwrap(),
            jar,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_json(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// A POST with one extra header (such as `Origin` or `Sec-Fetch-Site`) and no body.
    pub async fn post_with_header(&self, path: &str, name: &str, value: &str) -> Response {
        self.client
            .post(self.url(path))
            .header(name, value)
            .send()
            .await
            .unwrap()
    }

    /// An HTML form post, as a browser without JavaScript sends it.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token in the files page's forms (this device must be signed in).
    pub async fn csrf_token(&self) -> String {
        form_field(&self.get("/").await.text().await.unwrap(), "csrf")
    }

    pub async fn signup(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/api/signup",
            json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/api/login",
            json!({"username": username, "password": password}),
        )
        .await
    }

    /// Logs in with an `X-Forwarded-For` header, as a reverse proxy in front would send it.
    pub async fn login_forwarded_for(
        &self,
        forwarded_for: &str,
        username: &str,
        password: &str,
    ) -> Response {
        self.client
            .post(self.url("/api/login"))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// The `ip` recorded on this device's current session.
    pub async fn current_session_ip(&self) -> String {
        let sessions: Vec<Value> = self.sessions().await.json().await.unwrap();
        let current = sessions
            .iter()
            .find(|s| s["current"] == true)
            .expect("a current session");
        current["ip"].as_str().unwrap().to_owned()
    }

    pub async fn logout(&self) -> Response {
        self.client
            .post(self.url("/api/logout"))
            .send()
            .await
            .unwrap()
    }

    pub async fn me(&self) -> Response {
        self.get("/api/me").await
    }

    pub async fn change_password(&self, current: &str, new: &str) -> Response {
        self.post_json(
            "/api/password",
            json!({"current_password": current, "new_password": new}),
        )
        .await
    }

    pub async fn files(&self) -> Response {
        self.get("/api/files").await
    }

    /// How many files `GET /api/files` lists.
    pub async fn file_count(&self) -> usize {
        let response = self.files().await;
        assert_eq!(response.status(), 200);
        response.json::<Vec<Value>>().await.unwrap().len()
    }

    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> Response {
        let part = multipart::Part::bytes(bytes).file_name(name.to_owned());
        let form = multipart::Form::new().part("file", part);
        self.client
            .post(self.url("/api/files"))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// The files page's upload form: its `csrf` field first, then the file, as a browser sends it.
    pub async fn upload_form(&self, csrf: &str, name: &str, bytes: &[u8]) -> Response {
        let part = multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned());
        let form = multipart::Form::new()
            .text("csrf", csrf.to_owned())
            .part("file", part);
        self.client
            .post(self.url("/files"))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Uploads and returns the new file's id.
    pub async fn upload_ok(&self, name: &str, bytes: &[u8]) -> String {
        let response = self.upload(name, bytes.to_vec()).await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn delete_file(&self, id: &str) -> Response {
        self.client
            .delete(self.url(&format!("/api/files/{id}")))
            .send()
            .await
            .unwrap()
    }

    pub async fn link(&self, id: &str) -> Response {
        self.client
            .post(self.url(&format!("/api/files/{id}/link")))
            .send()
            .await
            .unwrap()
    }

    /// A fresh download URL for one of this user's files.
    pub async fn link_ok(&self, id: &str) -> String {
        let response = self.link(id).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["url"].as_str().unwrap().to_owned()
    }

    pub async fn sessions(&self) -> Response {
        self.get("/api/sessions").await
    }

    pub async fn revoke_session(&self, id: &str) -> Response {
        self.client
            .delete(self.url(&format!("/api/sessions/{id}")))
            .send()
            .await
            .unwrap()
    }

    pub async fn revoke_others(&self) -> Response {
        self.client
            .post(self.url("/api/sessions/revoke-others"))
            .send()
            .await
            .unwrap()
    }

    pub async fn jwks(&self) -> Response {
        self.get("/.well-known/jwks.json").await
    }

    /// `GET /.well-known/dl-revocations?{query}` (the signed revocation state).
    pub async fn revocations(&self, query: &str) -> Response {
        self.get(&format!("/.well-known/dl-revocations?{query}"))
            .await
    }

    pub async fn revocation_jwks(&self) -> Response {
        self.get("/.well-known/dl-revocations/jwks.json").await
    }

    /// `GET /api/files/{id}/links`: the file's links that may still be in use.
    pub async fn file_links(&self, id: &str) -> Response {
        self.get(&format!("/api/files/{id}/links")).await
    }

    /// `GET /api/files/{id}/downloads`: the file's download history.
    pub async fn file_downloads(&self, id: &str) -> Response {
        self.get(&format!("/api/files/{id}/downloads")).await
    }

    /// The file's download history once `done` holds for it, polling for at most 10 s (the
    /// puller has to fetch the download server's events first).
    pub async fn file_downloads_once(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let response = self.file_downloads(id).await;
            assert_eq!(response.status(), 200);
            let history: Value = response.json().await.unwrap();
            if done(&history) {
                return history;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the history did not catch up within 10 s: {history}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn revoke_link(&self, jti: &str) -> Response {
        self.client
            .post(self.url(&format!("/api/links/{jti}/revoke")))
            .send()
            .await
            .unwrap()
    }

    /// The session cookie this device holds for the app server, if any.
    pub fn session_cookie(&self) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let header = self.jar.cookies(&self.base.parse().unwrap())?;
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|c| c.strip_prefix("session=").map(str::to_owned))
    }
}

/// `(rows, distinct event ids)` in the `download_events` table of the database at `url`.
pub async fn download_event_rows(url: &str) -> (i64, i64) {
    const COUNT: &str = "SELECT COUNT(*), COUNT(DISTINCT id) FROM download_events";
    match app_server::db::open(url).await.expect("the database opens") {
        app_server::db::Pool::Sqlite(p) => sqlx::query_as(COUNT).fetch_one(&p).await.unwrap(),
        app_server::db::Pool::Postgres(p) => sqlx::query_as(COUNT).fetch_one(&p).await.unwrap(),
    }
}

/// The `value` of the form field `name` in an HTML page.
pub fn form_field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field"))
        + marker.len();
    page[at..].split('"').next().unwrap().to_owned()
}

/// A redirect's `Location`.
pub fn location(response: &Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}
