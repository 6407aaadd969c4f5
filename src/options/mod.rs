//! One definition of every option of `duplex serve` and `duplex bridge`:
//! each struct here is a group of flags (clap) and a table of the
//! configuration file (serde) at once, so that `--max-line` and `max_line`,
//! their meaning and their type cannot drift apart.
//!
//! A field that is `None` (or empty) was not given there. Values are laid
//! over each other by one function per struct ([`LimitOptions::apply`]:
//! the file's over the defaults, the flags' over the file's), and every
//! default lives where the setting it belongs to is defined:
//! [`Limits::default`](crate::server::Limits::default),
//! [`RandomConfig::default`](crate::service::RandomConfig::default) and
//! [`DaytimeFormat::default`](crate::service::DaytimeFormat::default).
//! [`defaults`] reads them from there for the help text and for
//! `duplex config`.
//!
//! One child module per group, each the flags under one help heading and
//! one table of the file: `limits`, `websocket`, `listener`, `bridge`,
//! `tls`, `counter`. `parse` holds the value parsers they all share and
//! `defaults` the list of defaults; the groups are used through the names
//! re-exported here.

mod bridge;
mod counter;
mod defaults;
mod limits;
mod listener;
mod parse;
mod tls;
mod websocket;

pub use bridge::{BridgeOptions, MAX_BUFFER_SIZE};
pub use counter::{CounterOptions, parse_store_url};
pub use defaults::defaults;
pub use limits::LimitOptions;
pub use listener::{ListenerOptions, ServiceName};
pub use parse::{parse_cidr, parse_duration, parse_endpoint};
pub use tls::TlsOptions;
pub use websocket::{Switch, WebSocketOptions};
