//! Accounts and sessions: password hashing, the sessions table behind an opaque cookie, the
//! `CurrentUser` extractor, and login throttling.

pub mod accounts;
pub mod current_user;
pub mod password;
pub mod session;
pub mod throttle;

pub use current_user::{CurrentUser, FormUser, PageUser};
