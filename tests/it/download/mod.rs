//! The download server (Server B) against contract v1.

mod happy_path;
