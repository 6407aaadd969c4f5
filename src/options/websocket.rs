//! WebSocket compression (`[websocket]`): whether permessage-deflate is
//! agreed to, and how much memory each side may spend on it. Kept apart
//! from the limits because it is a choice of trade-off, not a bound.

use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::websocket::Policy;
use crate::websocket::deflate::WINDOW_BITS;

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

/// WebSocket permessage-deflate (RFC 7692): the compression flags of
/// `duplex serve` and the `[websocket]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketOptions {
    /// Agree to permessage-deflate when a client offers it (browsers always
    /// do), or never [default: on].
    #[arg(long, value_enum, help_heading = "WebSocket")]
    pub compression: Option<Switch>,
    /// Let compressing sides keep their context from message to message:
    /// better compression of small messages, about 320 KiB more memory per
    /// connection (without it no deflate state outlives a message).
    #[arg(long, help_heading = "WebSocket")]
    #[serde(default)]
    pub compression_context: bool,
    /// Largest LZ77 window either side may use, in bits (9 to 15): a
    /// smaller window caps what a client with context takeover keeps
    /// (2^bits bytes) and compresses less.
    #[arg(long, value_name = "BITS", value_parser = window_bits, help_heading = "WebSocket")]
    pub compression_window_bits: Option<u8>,
}

impl WebSocketOptions {
    /// `base` with what is given here put in: the file's over the defaults,
    /// then the flags' over the file's. `None` is compression off.
    pub fn apply(&self, base: Option<Policy>) -> anyhow::Result<Option<Policy>> {
        // Destructured so that a new option cannot be forgotten here.
        let WebSocketOptions {
            compression,
            compression_context,
            compression_window_bits,
        } = self;
        if let Some(bits) = compression_window_bits {
            window_bits(&bits.to_string()).map_err(anyhow::Error::msg)?;
        }
        let on = match compression {
            Some(Switch::On) => true,
            Some(Switch::Off) => false,
            None => base.is_some(),
        };
        if !on {
            return Ok(None);
        }
        let mut policy = base.unwrap_or_default();
        policy.context_takeover |= *compression_context;
        if let Some(bits) = compression_window_bits {
            policy.window_bits = *bits;
        }
        Ok(Some(policy))
    }
}

/// A window size in bits that deflate can use.
fn window_bits(s: &str) -> Result<u8, String> {
    s.trim()
        .parse::<u8>()
        .ok()
        .filter(|b| WINDOW_BITS.contains(b))
        .ok_or_else(|| {
            format!(
                "'{s}' is not a window size: give bits from {} to {}",
                WINDOW_BITS.start(),
                WINDOW_BITS.end()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_flags_over_file_over_defaults() {
        let file = WebSocketOptions {
            compression_window_bits: Some(10),
            ..WebSocketOptions::default()
        };
        let from_file = file.apply(Some(Policy::default())).expect("file");
        assert_eq!(from_file.map(|p| p.window_bits), Some(10));
        let off = WebSocketOptions {
            compression: Some(Switch::Off),
            ..WebSocketOptions::default()
        };
        assert_eq!(off.apply(from_file).expect("flags"), None);
        let context = WebSocketOptions {
            compression_context: true,
            ..WebSocketOptions::default()
        };
        let both = context.apply(from_file).expect("flags").expect("on");
        assert!(both.context_takeover);
        assert_eq!(both.window_bits, 10);
        let bad = WebSocketOptions {
            compression_window_bits: Some(8),
            ..WebSocketOptions::default()
        };
        assert!(bad.apply(None).is_err());
    }
}
