//! The session-based app server (Server A). Built in its own issue; see the README.
#![forbid(unsafe_code)]
