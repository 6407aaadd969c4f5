//! Value parsers for the bench options: a bad value is a usage error (exit 2)
//! that says what is allowed.

use std::time::Duration;

/// Largest `-s`: 16 MiB.
pub const MAX_SIZE: usize = 16 << 20;
/// Largest `--pipeline`.
pub const MAX_PIPELINE: usize = 4096;
/// Largest batch (`-s` × `--pipeline`) one connection may keep in flight.
pub const MAX_BATCH: usize = 64 << 20;
/// Largest UDP payload over IPv4.
pub const MAX_UDP_SIZE: usize = 65_507;

/// A count from 1 to `max`.
pub fn count(max: usize) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=max as u64)
}

/// A duration greater than zero.
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = crate::cli::parse_duration(s)?;
    if d.is_zero() {
        Err(format!(
            "'{s}' must be longer than zero (for example 500ms, 3s, 5m)"
        ))
    } else {
        Ok(d)
    }
}

/// Largest `--rate`: one message per microsecond.
pub const MAX_RATE: f64 = 1e6;

/// A message rate: a number of messages per second above zero.
pub fn positive_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= MAX_RATE => Ok(r),
        _ => Err(format!(
            "'{s}' is not a rate: give messages per second, above 0 and at most {MAX_RATE:.0}"
        )),
    }
}

/// Stops with a usage error (exit 2) for a combination clap cannot check.
pub fn usage_error(msg: &str) -> ! {
    clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{msg}\n")).exit()
}
