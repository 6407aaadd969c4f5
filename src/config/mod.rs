//! What to serve: the command line, a TOML file, or the built-in default,
//! checked and merged into [`Settings`] (mistakes here are usage errors),
//! then built into the [`server::Plan`](crate::server::Plan) the server
//! runs (services made, TLS files read).
//!
//! The built-in default is itself a TOML file (`src/default.toml`, printed by
//! `duplex config`), so the default and a user's edited copy go through the
//! same parser and can never drift apart. The values it states are filled in
//! from where each default is defined ([`crate::options::defaults`]).
//!
//! Each step has its module: `file` reads a configuration file, `template`
//! writes the built-in one, `args` lays the flags over either, and
//! `settings` holds the result and builds the plan from it.

mod args;
mod file;
mod settings;
mod template;

pub use args::{from_args, from_bridge_args};
pub use file::{load_file, parse};
pub use settings::Settings;
pub use template::default_config;
