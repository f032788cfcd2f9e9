//! Test harness for the programs tests start beside the servers (Redis, PostgreSQL, openssl,
//! chromedriver, the server binaries): free loopback ports, child processes killed on drop, a
//! throwaway CA, and bounded polling. Depends on no server, so the servers' own tests and
//! benches can use it as well as `integration-tests`.

pub mod eventually;
pub mod openssl;
pub mod postgres;
pub mod procs;
pub mod redis;
pub mod tls;

pub use eventually::{eventually, eventually_blocking};
pub use postgres::PostgresServer;
pub use procs::{ChildGuard, free_port};
pub use redis::RedisServer;
