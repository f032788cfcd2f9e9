//! Builds the server: opens the key set, replay store and object store, binds the listener
//! (port 0 allowed) and returns a handle that knows its real address.

use crate::config::Config;
use crate::jwks::KeyStore;
use crate::metrics::Metrics;
use crate::pending_reports::PendingReports;
use crate::redeem::EdgeKeys;
use crate::replay::ReplayStore;
use crate::sendfile::SendfileIo;
use crate::serve::{self, DownloadState};
use crate::{access_log, authorize, handoff, health, redeem, store, verify::Verifier};
use actix_service::{ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::{AppConfig, Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, web};
use anyhow::Context;
use server_kit::trusted_proxies::TrustedProxies;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

pub struct Application {
    address: SocketAddr,
    server: Server,
    state: web::Data<DownloadState>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let keys = KeyStore::load(&config.jwks)
            .await
            .context("loading the JWKS")?;
        keys.spawn_refresher(Duration::from_secs(config.jwks_refresh.max(1)));
        let verifier = Verifier::new(
            keys,
            &config.issuer,
            &config.audience,
            config.max_token_lifetime,
            config.leeway,
        );
        let replay = Arc::new(
            ReplayStore::open(&config.replay_options()).context("opening the replay store")?,
        );
        replay.spawn_maintenance();
        let replay_for_history = Arc::clone(&replay);
        let store = store::open(&config.store)
            .with_context(|| format!("opening the object store {}", config.store))?;
        if let Some(prefix) = &config.accel_redirect {
            anyhow::ensure!(
                prefix.starts_with('/') && prefix.ends_with('/'),
                "--accel-redirect must be a location prefix such as /_dl/"
            );
            anyhow::ensure!(
                store.kind() != store::StoreKind::Memory,
                "--accel-redirect needs a folder or S3 store: a proxy cannot read memory:///"
            );
        }
        let revocations = match config.revocation_options() {
            Some(options) => Some(crate::revocation::Revocations::start(options).await?),
            None => None,
        };
        let edge_keys = config
            .edge_keys
            .as_deref()
            .map(EdgeKeys::load)
            .transpose()?;
        let state = web::Data::new(DownloadState {
            verifier,
            replay,
            store,
            metrics: Arc::new(Metrics::new()),
            read_chunk: config.read_chunk,
            sendfile: config.sendfile.is_on(),
            grant_max_age: i64::from(config.grant_max_age),
            trusted_proxies: TrustedProxies::new(config.trusted_proxies.clone()),
            accel_redirect: config.accel_redirect.clone(),
            edge_keys,
            presign_ttl: Duration::from_secs(u64::from(config.presign_ttl.max(1))),
            pending_reports: PendingReports::new(Duration::from_secs(u64::from(config.grant_idle))),
            history: Arc::new(crate::history::History::for_store(&replay_for_history)),
            revocations,
        });

        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("binding {}", config.listen))?;
        let address = listener.local_addr()?;
        let app_state = state.clone();
        let verify_batch = usize::from(config.verify_batch);
        let stall_timeout = Duration::from_secs(config.send_timeout.max(1));
        let header_timeout = Duration::from_secs(config.header_timeout);
        // actix-web's `HttpServer`, assembled by hand (as its `listen` does) to serve the App on
        // `SendfileIo` connections instead of plain TCP streams.
        let mut builder = actix_server::Server::build()
            .disable_signals()
            .shutdown_timeout(config.shutdown_grace)
            // As before: it applies to sockets the builder binds, not to our pre-bound listener.
            .backlog(4096);
        if let Some(workers) = config.workers {
            builder = builder.workers(workers.max(1));
        }
        let graceful = builder.graceful_shutdown_signal();
        let builder = builder.listen("download-server", listener, move || {
            // Runs on each worker thread: its requests' signatures are checked in batches there.
            crate::verify::enable_batching_on_this_thread(
                verify_batch,
                Arc::clone(&app_state.metrics),
            );
            let app = App::new()
                .app_data(app_state.clone())
                .wrap(from_fn(access_log::access_log))
                // `/d/{token}[/{filename}]`, routed by `serve::route` without actix's pattern
                // regex (profiled: it cost more than the signature check on 300-byte tokens).
                .service(web::scope("/d").default_service(web::to(serve::route)))
                .route("/v1/authorize", web::get().to(authorize::authorize))
                .route("/v1/authorize", web::head().to(authorize::authorize))
                .route("/v1/handoff/report", web::post().to(handoff::report))
                .route("/v1/events", web::get().to(crate::history::events))
                .service(
                    web::resource("/v1/redeem")
                        .app_data(web::PayloadConfig::new(16 * 1024))
                        .route(web::post().to(redeem::redeem)),
                )
                .route("/.well-known/jwks.json", web::get().to(health::jwks))
                .route("/healthz", web::get().to(health::healthz))
                .route("/readyz", web::get().to(health::readyz))
                .route("/metrics", web::get().to(health::metrics))
                .default_service(web::to(not_found));
            let app = actix_service::IntoServiceFactory::into_factory(app)
                .map_err(|error: actix_web::Error| error.error_response());
            let graceful = graceful.clone();
            let http = actix_http::HttpService::build()
                .graceful_shutdown_signal(move || {
                    let graceful = graceful.clone();
                    async move { graceful.notified().await }
                })
                .keep_alive(Duration::from_secs(30))
                .client_request_timeout(header_timeout)
                .client_disconnect_timeout(Duration::from_secs(2))
                .local_addr(address)
                .on_connect_ext(move |io: &SendfileIo, data| {
                    tune_connection(io.tcp(), stall_timeout);
                    data.insert(io.slot());
                })
                // What actix-web's server gives an App: plain HTTP, this listener's address.
                // (`AppConfig::new` is crate-private; this is the constructor actix-test uses.)
                .h1(map_config(app, move |()| {
                    AppConfig::__priv_test_new(false, address.to_string(), address)
                }));
            fn_service(|tcp: tokio::net::TcpStream| async move {
                let peer = tcp.peer_addr().ok();
                Ok::<_, actix_http::error::DispatchError>((SendfileIo::new(tcp), peer))
            })
            .and_then(http)
        })?;
        tracing::info!(
            %address,
            replay = state.replay.kind(),
            issuer = %config.issuer,
            audience = %config.audience,
            trusted_proxies = config.trusted_proxies.len(),
            handoff = config.accel_redirect.is_some(),
            redeem = state.edge_keys.is_some(),
            revocation = state.revocations.is_some(),
            "download server listening"
        );
        Ok(Application {
            address,
            server: builder.run(),
            state,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn state(&self) -> web::Data<DownloadState> {
        self.state.clone()
    }

    /// A handle to stop the server from elsewhere (`stop(true)` waits for downloads in flight).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Runs until SIGTERM or SIGINT, then stops accepting and lets downloads in flight finish
    /// within the grace period.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(server_kit::shutdown::signal()).await
    }

    /// Runs until `shutdown` completes, then stops gracefully (tests and embedding).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        server_kit::shutdown::run_until(
            self.server,
            shutdown,
            "shutting down: no new connections, finishing downloads in flight",
        )
        .await
    }
}

/// Unsent bytes a connection may queue in the kernel (TCP_NOTSENT_LOWAT). A grant counts what
/// this server handed to the socket; without a bound the kernel takes megabytes ahead of the
/// network (loopback: the whole rest of a 16 MiB file), and a connection cut off then looks as if
/// it had delivered them, so its resume would be charged for all of them. Bytes already on the
/// wire are what a drop really loses; this keeps the rest small without capping the window.
const NOTSENT_LOWAT: u32 = 128 * 1024;

/// Per connection: actix has a timeout for the request head but none for a client that stops
/// reading the body; the kernel's TCP_USER_TIMEOUT bounds how long sent data may stay
/// unacknowledged (zero-window stalls included), so a stalled download cannot hold a connection
/// and its file forever. And `NOTSENT_LOWAT`, and TCP_NODELAY (as nginx's default): the last
/// short segment of a body must not wait for the client's ACK (measured: one 1 MiB download
/// through sendfile took 1.0 ms with Nagle, 0.5 ms without).
fn tune_connection(tcp: &tokio::net::TcpStream, timeout: Duration) {
    #[cfg(target_os = "linux")]
    {
        let socket = socket2::SockRef::from(tcp);
        if let Err(error) = socket.set_tcp_user_timeout(Some(timeout)) {
            tracing::debug!(%error, "could not set TCP_USER_TIMEOUT");
        }
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        if let Err(error) = socket.set_tcp_notsent_lowat(NOTSENT_LOWAT) {
            tracing::debug!(%error, "could not set TCP_NOTSENT_LOWAT");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (tcp, timeout);
}

async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    crate::problem::DownloadError::NoSuchRoute.respond(crate::negotiate::prefers_html(&req))
}
