//! Accounts and sessions: password hashing (bounded in flight), the sessions table behind an
//! opaque cookie, the `CurrentUser` and `ClientInfo` extractors, login throttling, and the login
//! flow itself.

pub mod accounts;
pub mod client_info;
pub mod extract;
pub mod hash_limit;
pub mod login;
pub mod password;
pub mod session;
pub mod throttle;

pub use client_info::ClientInfo;
pub use extract::CurrentUser;
