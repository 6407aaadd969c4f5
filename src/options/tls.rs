//! The certificate and key of TLS listeners (`[tls]`): one pair for the
//! whole process, shared by every `tls://` and `wss://` listener, so it is
//! a group of its own rather than an option of each listener.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::parse::required;

/// The certificate and key of `tls://` and `wss://` listeners:
/// `--tls-cert`/`--tls-key` and the `[tls]` table (where both are needed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsOptions {
    /// TLS certificate chain (PEM) for tls:// and wss:// listeners.
    #[arg(long, value_name = "FILE", requires = "tls_key", help_heading = "TLS")]
    #[serde(rename = "cert", deserialize_with = "required")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for tls:// and wss:// listeners.
    #[arg(long, value_name = "FILE", requires = "tls_cert", help_heading = "TLS")]
    #[serde(rename = "key", deserialize_with = "required")]
    pub tls_key: Option<PathBuf>,
}
