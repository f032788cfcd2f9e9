//! Builds the server: opens the database (migrating it), the object store, the key ring and the
//! revocation key, starts the revocation poller, the history puller (with `--download-events`)
//! and the sweeper, binds the listener (port 0 allowed) and returns a handle that knows its real
//! address.

use crate::auth::hash_limit::HashLimit;
use crate::auth::session::SessionPolicy;
use crate::auth::throttle::LoginThrottle;
use crate::config::Config;
use crate::keys::KeyRing;
use crate::revocation::{self, Retention, Revocations};
use crate::state::AppState;
use crate::{access_log, csrf, db, history, routes, security_headers, storage};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use server_kit::trusted_proxies::TrustedProxies;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// Creates the signing key when missing and writes the JWKS with it first, as
/// `Application::build` does: a download server started before the app server can then read
/// the key set.
pub fn publish_keys(config: &Config) -> anyhow::Result<()> {
    KeyRing::load(&config.keys()).map(drop)
}

/// Feed requests held at once; beyond, a request is answered at once (it polls again).
const MAX_LONG_POLLS: usize = 1024;

/// How long a request may wait in `--password-queue` before it is answered 503.
const PASSWORD_QUEUE_WAIT: Duration = Duration::from_secs(5);

pub struct Application {
    address: SocketAddr,
    public_url: url::Url,
    server: Server,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        if config.download_base.cannot_be_a_base() {
            anyhow::bail!("--download-base must be an http(s) URL");
        }
        let pool = db::open(&config.database_url()).await?;
        let store = storage::open(&config.store_spec())
            .with_context(|| format!("opening the object store {}", config.store_spec()))?;
        let keys = KeyRing::load(&config.keys())?;
        let revocation_key =
            revocation::key::load(&config.revocation_key_path(), keys.minter.key().kid())?;
        let retention = config.retention();

        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("binding {}", config.listen))?;
        let address = listener.local_addr()?;
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => format!("http://{address}").parse()?,
        };
        let https = public_url.scheme() == "https";
        let download_origin = config.download_base.origin().ascii_serialization();
        let public_origin: Arc<str> = public_url.origin().ascii_serialization().into();
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            store,
            keys,
            revocations: Revocations {
                jwks: revocation_key.public_jwks(),
                key: revocation_key,
                issuer: config.issuer.clone(),
                retention,
                changes: Default::default(),
                long_polls: tokio::sync::Semaphore::new(MAX_LONG_POLLS),
            },
            sessions: SessionPolicy::new(https, config.session_idle, config.session_max),
            hashes: HashLimit::new(
                config.password_hash_slots(),
                config.password_queue,
                PASSWORD_QUEUE_WAIT,
            ),
            throttle: LoginThrottle::new(
                pool.clone(),
                config.login_attempts,
                Duration::from_secs(config.login_lockout),
            ),
            download_base: config.download_base.clone(),
            allow_signup: config.allow_signup,
            max_upload: config.max_upload,
            trusted_proxies: TrustedProxies::new(config.trusted_proxies.clone()),
        });
        spawn_sweeper(pool, retention);
        revocation::notify::spawn_poller(std::sync::Arc::downgrade(&state.clone().into_inner()));
        if let Some(source) = &config.download_events {
            history::puller::spawn(
                std::sync::Arc::downgrade(&state.clone().into_inner()),
                source.clone(),
            );
        }

        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(from_fn({
                    let origin = public_origin.clone();
                    move |req, next| csrf::refuse_cross_site(origin.clone(), req, next)
                }))
                .wrap(security_headers::middleware(&download_origin))
                .wrap(from_fn(access_log::access_log))
                .configure(routes::configure)
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(10)
        .client_request_timeout(Duration::from_secs(10));
        if let Some(workers) = config.workers {
            server = server.workers(workers.max(1));
        }
        tracing::info!(%address, public_url = %public_url, download_base = %config.download_base, "app server listening");
        Ok(Application {
            address,
            public_url,
            server: server.run(),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The URL people use (the configured `--public-url`, else `http://<address>`).
    pub fn public_url(&self) -> &url::Url {
        &self.public_url
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Runs until SIGTERM or SIGINT.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(server_kit::shutdown::signal()).await
    }

    /// Runs until `shutdown` completes, then stops gracefully (tests and embedding).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        server_kit::shutdown::run_until(self.server, shutdown, "app server shutting down").await
    }
}

/// Expired sessions are refused on read anyway and ended throttle windows restart on their next
/// attempt, and revocation records and links past their retention are left out of every answer;
/// this only keeps the tables small (the throttle's grows with every name and network tried).
/// Download events are kept 90 days (`history::KEEP_SECS`), then deleted. Each app server sweeps; on a shared database the deletes simply overlap.
fn spawn_sweeper(pool: db::Pool, retention: Retention) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            let now = shared::time::now_secs();
            if let Err(error) = db::sessions::delete_expired(&pool, now).await {
                tracing::warn!(%error, "could not sweep expired sessions");
            }
            if let Err(error) = db::throttle::delete_ended(&pool, now).await {
                tracing::warn!(%error, "could not sweep ended login throttle windows");
            }
            if let Err(error) = db::revocations::delete_ended(&pool, now).await {
                tracing::warn!(%error, "could not sweep ended revocation records");
            }
            if let Err(error) = db::links::delete_ended(&pool, now - retention.retain).await {
                tracing::warn!(%error, "could not sweep ended links");
            }
            if let Err(error) = db::history::delete_older(&pool, now - history::KEEP_SECS).await {
                tracing::warn!(%error, "could not sweep old download events");
            }
        }
    });
}
