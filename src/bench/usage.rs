//! The one error `duplex bench`'s settings can have: a combination of
//! options that cannot work. `main` alone turns it into exit status 2.

/// A combination of options that cannot work; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn usage<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}
