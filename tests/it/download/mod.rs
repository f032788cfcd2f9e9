//! The download server (Server B) against contract v1.

mod clients;
mod forge;
mod grant_rules;
mod grants;
mod happy_path;
mod keys;
mod object_stores;
mod ranges;
mod redis_replay;
mod rejections;
mod robustness;
mod single_use;
