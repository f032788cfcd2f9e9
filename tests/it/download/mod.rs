//! The download server (Server B) against contract v1.

mod clients;
mod edge;
mod forge;
mod forwarding;
mod grant_rules;
mod grants;
mod happy_path;
mod history;
mod keys;
mod object_stores;
mod ranges;
mod redeem;
mod redis_replay;
mod rejections;
mod robustness;
mod sendfile;
mod signatures;
mod single_use;
