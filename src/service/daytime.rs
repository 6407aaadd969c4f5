//! `daytime`: the current time, as a greeting and in answer to every request
//! (RFC 867, extended so that a session can ask again).
//!
//! Try it: `duplex serve daytime tcp://127.0.0.1:7013` then `nc 127.0.0.1 7013`.

use std::io::Write;

use jiff::{Timestamp, tz::TimeZone};

use super::session::{Flow, LineService, OneReply, Session};

/// How the time is written.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DaytimeFormat {
    /// `2026-11-25T15:10:03+00:00`
    #[default]
    Rfc3339,
    /// `Wed, 25 Nov 2026 15:10:03 +0000`
    Rfc2822,
    /// Seconds since the Unix epoch.
    Unix,
    /// Milliseconds since the Unix epoch.
    UnixMs,
}

#[derive(Debug, Clone)]
pub struct Daytime {
    pub format: DaytimeFormat,
    /// Use UTC instead of the local time zone.
    pub utc: bool,
    /// Send the greeting and close (strict RFC 867).
    pub once: bool,
    /// Resolved once at start: looking up the system zone per request would
    /// read files on the hot path.
    zone: TimeZone,
}

impl Daytime {
    pub fn new(format: DaytimeFormat, utc: bool, once: bool) -> Daytime {
        let zone = if utc {
            TimeZone::UTC
        } else {
            TimeZone::system()
        };
        Daytime {
            format,
            utc,
            once,
            zone,
        }
    }

    /// Writes the current time in the configured format.
    pub fn render(&self, out: &mut Vec<u8>) {
        let now = Timestamp::now();
        // Writing into a Vec cannot fail; the results are ignored for that reason.
        let _ = match self.format {
            DaytimeFormat::Unix => write!(out, "{}", now.as_second()),
            DaytimeFormat::UnixMs => write!(out, "{}", now.as_millisecond()),
            DaytimeFormat::Rfc3339 => {
                let z = now.to_zoned_datetime(self.zone.clone());
                write!(out, "{}", z.strftime("%Y-%m-%dT%H:%M:%S%:z"))
            }
            DaytimeFormat::Rfc2822 => {
                let z = now.to_zoned_datetime(self.zone.clone());
                write!(out, "{}", z.strftime("%a, %d %b %Y %H:%M:%S %z"))
            }
        };
    }
}

impl LineService for Daytime {
    fn name(&self) -> &'static str {
        "daytime"
    }

    fn session(&self, _ordinal: u64) -> Box<dyn Session> {
        Box::new(DaytimeSession {
            service: self.clone(),
            reply: OneReply::default(),
        })
    }
}

struct DaytimeSession {
    service: Daytime,
    reply: OneReply,
}

impl Session for DaytimeSession {
    fn open(&mut self) -> Flow {
        self.reply.queue();
        if self.service.once {
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    fn request(&mut self, _request: &[u8]) {
        self.reply.queue();
    }

    fn next_reply(&mut self, out: &mut Vec<u8>) -> bool {
        let service = &self.service;
        self.reply.pull(out, |out| service.render(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::session::testing::ask;

    fn one(format: DaytimeFormat) -> String {
        let d = Daytime::new(format, true, false);
        let mut s = d.session(0);
        let replies = ask(s.as_mut(), "");
        assert_eq!(replies.len(), 1);
        replies[0].clone()
    }

    #[test]
    fn rfc3339_parses_back() {
        let t = one(DaytimeFormat::Rfc3339);
        assert!(t.ends_with("+00:00"), "{t}");
        let parsed: Timestamp = t.parse().expect("rfc3339");
        assert!((Timestamp::now().as_second() - parsed.as_second()).abs() < 5);
    }

    #[test]
    fn rfc2822_parses_back() {
        let t = one(DaytimeFormat::Rfc2822);
        let parsed = jiff::fmt::rfc2822::parse(&t).expect("rfc2822");
        assert!((Timestamp::now().as_second() - parsed.timestamp().as_second()).abs() < 5);
    }

    #[test]
    fn unix_and_unix_ms() {
        let s: i64 = one(DaytimeFormat::Unix).parse().expect("seconds");
        let ms: i64 = one(DaytimeFormat::UnixMs).parse().expect("millis");
        assert!((ms / 1000 - s).abs() < 5);
    }

    #[test]
    fn once_greets_then_closes() {
        let d = Daytime::new(DaytimeFormat::Unix, true, true);
        let mut s = d.session(0);
        assert_eq!(s.open(), Flow::Close);
        assert_eq!(crate::service::session::testing::drain(s.as_mut()).len(), 1);
    }
}
