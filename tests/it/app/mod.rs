//! The app server (Server A) with a real download server behind it.

mod accounts;
mod browser;
mod files;
mod hardening;
mod history;
mod overload;
mod pages;
mod postgres;
mod proxy;
mod restart;
mod revocation;
mod security;
mod sessions;
mod shared_throttle;
