//! What every handler can reach: the database, the store, the key ring and the settings.

use crate::auth::session::SessionPolicy;
use crate::auth::throttle::LoginThrottle;
use crate::client::TrustedProxies;
use crate::db::Pool;
use crate::keys::KeyRing;
use crate::storage::Store;
use url::Url;

pub struct AppState {
    pub pool: Pool,
    pub store: Store,
    pub keys: KeyRing,
    pub sessions: SessionPolicy,
    pub throttle: LoginThrottle,
    /// `scheme://host[:port]` of this server as people reach it.
    pub public_origin: String,
    pub download_base: Url,
    pub allow_signup: bool,
    pub max_upload: u64,
    pub trusted_proxies: TrustedProxies,
}
