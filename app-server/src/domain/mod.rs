//! Parse-don't-validate types for what people type in: user names, passwords, file names.

mod file_name;
mod password;
mod username;

pub use file_name::FileName;
pub use password::Password;
pub use username::Username;
