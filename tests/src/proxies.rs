//! The download server behind a real proxy (Debian's nginx or Caddy) running a config shipped in
//! `deploy/`, set up the way docs/proxies.md tells operators to: the proxy on its own loopback
//! port, the download server trusting the one address the proxy connects from (127.0.0.1).

use crate::DownloadServer;
use download_server::Config;
use reqwest::header::HeaderMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use test_support::{CaddyServer, NginxServer, Template};

/// The address the proxies connect to the download server from: the one it trusts.
pub const PROXY_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// An address no trust list names; a client connecting from it is anybody on the internet.
pub const UNTRUSTED_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// The hand-off prefix of deploy/nginx/handoff.conf.
pub const ACCEL_PREFIX: &str = "/_dl/";

/// The shipped setups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// deploy/nginx/handoff.conf: the download server answers `X-Accel-Redirect`.
    NginxHandoff,
    /// deploy/nginx/auth_request.conf: nginx asks `/v1/authorize` first.
    NginxAuthRequest,
    /// deploy/caddy/Caddyfile: Caddy's `forward_auth` asks `/v1/authorize` first.
    CaddyForwardAuth,
}

enum Proxy {
    Nginx(NginxServer),
    Caddy(CaddyServer),
}

/// A download server and the proxy in front of it.
pub struct Behind {
    pub setup: Setup,
    pub server: DownloadServer,
    proxy: Proxy,
    /// The proxy's address: where clients go.
    pub address: std::net::SocketAddr,
    /// `http://` + the address.
    pub base: String,
}

impl Behind {
    pub async fn start(setup: Setup) -> Self {
        Self::start_with(setup, |_| {}).await
    }

    /// A download server configured for `setup` (trusting 127.0.0.1; hand-off on for nginx
    /// hand-off), adjusted by `tweak`, behind the proxy running the shipped config.
    pub async fn start_with(setup: Setup, tweak: impl FnOnce(&mut Config)) -> Self {
        let server = DownloadServer::spawn_with(|config| {
            trust_the_proxy(config);
            if setup == Setup::NginxHandoff {
                config.accel_redirect = Some(ACCEL_PREFIX.into());
            }
            tweak(config);
        })
        .await;
        Self::in_front_of(setup, server).await
    }

    /// The shipped config for `setup` in front of `server`, whose store is its folder.
    pub async fn in_front_of(setup: Setup, server: DownloadServer) -> Self {
        let upstream = server.address.to_string();
        let files = server.files.files();
        let files = files.to_str().expect("UTF-8 temp path");
        let proxy = match setup {
            Setup::NginxHandoff => Proxy::Nginx(
                NginxServer::start(
                    Template::shipped("nginx/handoff.conf")
                        .fill("DL_UPSTREAM", &upstream)
                        .fill("FILES", files)
                        // No S3 store here: nothing listens there, and nothing is sent there.
                        .fill("S3_ENDPOINT", "127.0.0.1:9")
                        .fill("S3_HOST", "127.0.0.1:9"),
                )
                .await,
            ),
            Setup::NginxAuthRequest => Proxy::Nginx(
                NginxServer::start(
                    Template::shipped("nginx/auth_request.conf")
                        .fill("DL_UPSTREAM", &upstream)
                        .fill("FILES", files),
                )
                .await,
            ),
            Setup::CaddyForwardAuth => Proxy::Caddy(
                CaddyServer::start(
                    Template::shipped("caddy/Caddyfile")
                        .fill("DL_UPSTREAM", &upstream)
                        .fill("FILES", files),
                )
                .await,
            ),
        };
        let address = match &proxy {
            Proxy::Nginx(nginx) => nginx.address,
            Proxy::Caddy(caddy) => caddy.address,
        };
        Behind {
            setup,
            server,
            proxy,
            address,
            base: format!("http://{address}"),
        }
    }

    /// The download URL of `token` at the proxy.
    pub fn url(&self, token: &str) -> String {
        format!("{}/d/{token}", self.base)
    }

    /// `base` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, token: &str) -> reqwest::Response {
        self.get_with(token, &[]).await
    }

    /// A GET of `token`'s download URL with extra request headers.
    pub async fn get_with(&self, token: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        send(self.server.client.get(self.url(token)), headers).await
    }

    pub async fn head(&self, token: &str) -> reqwest::Response {
        send(self.server.client.head(self.url(token)), &[]).await
    }

    /// The proxy's access log so far (one line, or one JSON object, per request).
    pub fn access_log(&self) -> String {
        match &self.proxy {
            Proxy::Nginx(nginx) => nginx.access_log(),
            Proxy::Caddy(caddy) => caddy.access_log(),
        }
    }

    /// What the proxy logged about itself (for failure messages).
    pub fn proxy_log(&self) -> String {
        match &self.proxy {
            Proxy::Nginx(nginx) => nginx.error_log(),
            Proxy::Caddy(caddy) => caddy.log(),
        }
    }

    /// Waits (bounded) until the proxy has logged `requests` requests. nginx writes a request's
    /// line after its `post_action` is answered, so from then on the download server knows what
    /// nginx sent.
    pub async fn wait_for_logged(&self, requests: usize) {
        let what = format!("the proxy logs {requests} requests");
        crate::eventually(Duration::from_secs(10), &what, || async {
            let logged = self.access_log().lines().count();
            if logged >= requests {
                Ok(())
            } else {
                Err(format!("{logged} so far:\n{}", self.access_log()))
            }
        })
        .await;
    }
}

/// `config` trusts exactly the address the proxies connect from.
pub fn trust_the_proxy(config: &mut Config) {
    config.trusted_proxies = vec![PROXY_ADDRESS.to_string().parse().unwrap()];
}

/// A client (redirects off) whose connections come from `UNTRUSTED_ADDRESS`.
pub fn untrusted_client() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(UNTRUSTED_ADDRESS)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// No `X-Accel-*` and no `X-Dl-*` header: what the download server tells a proxy never reaches
/// a client.
pub fn assert_nothing_for_the_proxy(headers: &HeaderMap) {
    let leaked: Vec<_> = headers
        .keys()
        .map(reqwest::header::HeaderName::as_str)
        .filter(|name| name.starts_with("x-accel-") || name.starts_with("x-dl-"))
        .collect();
    assert!(
        leaked.is_empty(),
        "{leaked:?} reached the client: {headers:?}"
    );
}

async fn send(request: reqwest::RequestBuilder, headers: &[(&str, &str)]) -> reqwest::Response {
    let request = headers.iter().fold(request, |request, (name, value)| {
        request.header(*name, *value)
    });
    request.send().await.expect("request completes")
}

/// Sends `GET <path>` exactly as written (no client normalises its dots or escapes) to
/// `address` and returns the whole response, head and body, as text.
pub async fn raw_get(address: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the server answers within 10 s")
        .expect("the exchange completes")
}

/// The status code of a raw response from `raw_get`.
pub fn raw_status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}
