//! The real `download-server` binary, configured from the environment as operators run it,
//! against the real programs it talks to (Redis, Redis over TLS, an S3-compatible server). One
//! test binary with a module per concern, so the suite links once.

mod lifecycle;
mod redis_eviction;
mod rediss;
mod s3;
mod support;
