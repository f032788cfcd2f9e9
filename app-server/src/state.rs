//! What every handler can reach: the database, the store, the key rings and the settings.

use crate::auth::hash_limit::HashLimit;
use crate::auth::session::SessionPolicy;
use crate::auth::throttle::LoginThrottle;
use crate::db::Pool;
use crate::keys::KeyRing;
use crate::revocation::Revocations;
use crate::storage::Store;
use server_kit::trusted_proxies::TrustedProxies;
use url::Url;

pub struct AppState {
    pub pool: Pool,
    pub store: Store,
    pub keys: KeyRing,
    /// The revocation key, the feed's settings and its long-poll wake-ups.
    pub revocations: Revocations,
    pub sessions: SessionPolicy,
    pub throttle: LoginThrottle,
    /// Every password check and hash runs under one of its slots.
    pub hashes: HashLimit,
    pub download_base: Url,
    pub allow_signup: bool,
    pub max_upload: u64,
    pub trusted_proxies: TrustedProxies,
}
