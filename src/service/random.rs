//! `random`: uniform, unbiased 64-bit random integers.
//!
//! Requests (after trimming):
//!
//! | request    | replies                                   |
//! |------------|-------------------------------------------|
//! | (empty)    | one integer in the server range           |
//! | `N`        | N integers in the server range            |
//! | `LO HI`    | one integer in `[LO, HI]`                 |
//! | `N LO HI`  | N integers in `[LO, HI]`                  |
//!
//! Sampling uses [`rand::distr::Uniform`], whose `sample` is Lemire's
//! widening-multiply method with rejection: exact, with no modulo bias, and
//! correct for the whole `i64` range (`i64::MIN ..= i64::MAX` is handled as
//! the full 2^64 range without overflow).
//!
//! Without `--seed` every session gets its own ChaCha12 generator seeded from
//! the operating system (through the thread generator, itself OS-seeded). With
//! `--seed S` a session's generator is seeded from `S` and the session's
//! ordinal, so the first client of a fresh server always receives the same
//! numbers.

use std::io::Write;

use rand::SeedableRng;
use rand::distr::{Distribution, Uniform};
use rand_chacha::ChaCha12Rng;

use super::session::{LineService, Session};

/// Settings of the random service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomConfig {
    pub min: i64,
    pub max: i64,
    pub max_count: u64,
    /// Pick from these instead of a range (only the empty and `N` forms).
    pub choices: Vec<String>,
    pub seed: Option<u64>,
}

impl Default for RandomConfig {
    fn default() -> Self {
        RandomConfig {
            min: 1,
            max: 1000,
            max_count: 100_000,
            choices: Vec::new(),
            seed: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Random {
    config: std::sync::Arc<RandomConfig>,
    range: Uniform<i64>,
}

impl Random {
    /// Checks the settings: the range must not be empty, `max_count` must be
    /// at least 1.
    pub fn new(config: RandomConfig) -> Result<Random, String> {
        let range = Uniform::new_inclusive(config.min, config.max)
            .map_err(|_| format!("--min {} is greater than --max {}", config.min, config.max))?;
        if config.max_count == 0 {
            return Err("--max-count must be at least 1".to_string());
        }
        if config.choices.iter().any(|c| c.contains(['\n', '\r'])) {
            return Err("a choice cannot contain a line break".to_string());
        }
        Ok(Random {
            config: std::sync::Arc::new(config),
            range,
        })
    }
}

impl LineService for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn session(&self, ordinal: u64) -> Box<dyn Session> {
        let rng = match self.config.seed {
            Some(seed) => {
                let mut bytes = [0u8; 32];
                bytes[..8].copy_from_slice(&seed.to_le_bytes());
                bytes[8..16].copy_from_slice(&ordinal.to_le_bytes());
                ChaCha12Rng::from_seed(bytes)
            }
            None => ChaCha12Rng::from_rng(&mut rand::rng()),
        };
        Box::new(RandomSession {
            service: self.clone(),
            rng,
            pending: Pending::Nothing,
        })
    }
}

enum Pending {
    Nothing,
    Error(String),
    Numbers { left: u64, range: Uniform<i64> },
    Choices { left: u64 },
}

struct RandomSession {
    service: Random,
    rng: ChaCha12Rng,
    pending: Pending,
}

impl RandomSession {
    /// Parses a request into what to send, or the text of an `ERR` reply.
    fn parse(&self, request: &[u8]) -> Result<Pending, String> {
        let cfg = &self.service.config;
        let Ok(text) = std::str::from_utf8(request) else {
            return Err("ERR request is not valid UTF-8 text".to_string());
        };
        // At most three numbers: parsed into a fixed array, so a request
        // allocates nothing unless it is an error.
        let mut numbers = [0i64; 3];
        let mut len = 0;
        for w in text.split_ascii_whitespace() {
            if len == numbers.len() {
                return Err(usage(cfg));
            }
            numbers[len] = w.parse::<i64>().map_err(|_| {
                format!(
                    "ERR '{}' is not a whole number (64-bit); {}",
                    clip(w),
                    usage_tail(cfg)
                )
            })?;
            len += 1;
        }
        let ints = &numbers[..len];
        let (count, bounds) = match ints {
            [] => (1, None),
            [n] => (*n, None),
            [lo, hi] => (1, Some((*lo, *hi))),
            [n, lo, hi] => (*n, Some((*lo, *hi))),
            _ => return Err(usage(cfg)),
        };
        if count < 1 {
            return Err(format!("ERR count {count} must be at least 1"));
        }
        let count = count as u64;
        if count > cfg.max_count {
            return Err(format!(
                "ERR count {count} is over the limit {}",
                cfg.max_count
            ));
        }
        if !cfg.choices.is_empty() {
            if bounds.is_some() {
                return Err(
                    "ERR this server picks from a list: send nothing, or a count N".to_string(),
                );
            }
            return Ok(Pending::Choices { left: count });
        }
        let range = match bounds {
            None => self.service.range,
            Some((lo, hi)) => Uniform::new_inclusive(lo, hi)
                .map_err(|_| format!("ERR LO {lo} is greater than HI {hi}"))?,
        };
        Ok(Pending::Numbers { left: count, range })
    }
}

fn clip(w: &str) -> String {
    if w.chars().count() > 24 {
        format!("{}…", w.chars().take(24).collect::<String>())
    } else {
        w.to_string()
    }
}

fn usage_tail(cfg: &RandomConfig) -> &'static str {
    if cfg.choices.is_empty() {
        "send nothing, N, LO HI or N LO HI"
    } else {
        "send nothing, or a count N"
    }
}

fn usage(cfg: &RandomConfig) -> String {
    format!("ERR too many words; {}", usage_tail(cfg))
}

impl Session for RandomSession {
    fn request(&mut self, request: &[u8]) {
        self.pending = match self.parse(request) {
            Ok(p) => p,
            Err(e) => Pending::Error(e),
        };
    }

    fn next_reply(&mut self, out: &mut Vec<u8>) -> bool {
        match &mut self.pending {
            Pending::Nothing => false,
            Pending::Error(e) => {
                out.extend_from_slice(e.as_bytes());
                self.pending = Pending::Nothing;
                true
            }
            Pending::Numbers { left, range } => {
                let n = range.sample(&mut self.rng);
                let _ = write!(out, "{n}");
                *left -= 1;
                if *left == 0 {
                    self.pending = Pending::Nothing;
                }
                true
            }
            Pending::Choices { left } => {
                let choices = &self.service.config.choices;
                let i = rand::RngExt::random_range(&mut self.rng, 0..choices.len());
                out.extend_from_slice(choices[i].as_bytes());
                *left -= 1;
                if *left == 0 {
                    self.pending = Pending::Nothing;
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::session::testing::ask;

    fn service(cfg: RandomConfig) -> Random {
        Random::new(cfg).expect("valid config")
    }

    fn ints(replies: &[String]) -> Vec<i64> {
        replies
            .iter()
            .map(|r| r.parse().unwrap_or_else(|_| panic!("not an int: {r}")))
            .collect()
    }

    #[test]
    fn empty_request_gives_one_in_server_range() {
        let r = service(RandomConfig::default());
        let mut s = r.session(0);
        for _ in 0..1000 {
            let v = ints(&ask(s.as_mut(), ""));
            assert_eq!(v.len(), 1);
            assert!((1..=1000).contains(&v[0]));
        }
    }

    #[test]
    fn count_and_bounds() {
        let r = service(RandomConfig::default());
        let mut s = r.session(0);
        assert_eq!(ints(&ask(s.as_mut(), "5")).len(), 5);
        let v = ints(&ask(s.as_mut(), "  -3 3 "));
        assert!(v.len() == 1 && (-3..=3).contains(&v[0]));
        let v = ints(&ask(s.as_mut(), "200 7 7"));
        assert_eq!(v, vec![7; 200]);
    }

    #[test]
    fn full_i64_range_does_not_overflow() {
        let r = service(RandomConfig::default());
        let mut s = r.session(0);
        let req = format!("1000 {} {}", i64::MIN, i64::MAX);
        let v = ints(&ask(s.as_mut(), &req));
        assert_eq!(v.len(), 1000);
        assert!(v.iter().any(|&x| x < 0) && v.iter().any(|&x| x > 0));
        let req = format!("3 {} {}", i64::MAX, i64::MAX);
        assert_eq!(ints(&ask(s.as_mut(), &req)), vec![i64::MAX; 3]);
        let req = format!("3 {} {}", i64::MIN, i64::MIN);
        assert_eq!(ints(&ask(s.as_mut(), &req)), vec![i64::MIN; 3]);
    }

    #[test]
    fn bad_requests_get_err_lines() {
        let r = service(RandomConfig::default());
        let mut s = r.session(0);
        for (req, want) in [
            ("9 3", "ERR LO 9 is greater than HI 3"),
            ("5000000", "ERR count 5000000 is over the limit 100000"),
            ("0", "ERR count 0 must be at least 1"),
            ("-4", "ERR count -4 must be at least 1"),
            ("abc", "ERR 'abc' is not a whole number"),
            ("1 2 3 4", "ERR too many words"),
            (
                "99999999999999999999",
                "ERR '99999999999999999999' is not a whole number",
            ),
        ] {
            let replies = ask(s.as_mut(), req);
            assert_eq!(replies.len(), 1, "{req}");
            assert!(replies[0].starts_with(want), "{req}: {}", replies[0]);
        }
    }

    #[test]
    fn choices() {
        let cfg = RandomConfig {
            choices: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        let r = service(cfg);
        let mut s = r.session(0);
        let v = ask(s.as_mut(), "100");
        assert_eq!(v.len(), 100);
        assert!(v.iter().all(|x| x == "a" || x == "b"));
        assert!(v.iter().any(|x| x == "a") && v.iter().any(|x| x == "b"));
        assert!(ask(s.as_mut(), "1 5")[0].starts_with("ERR this server picks from a list"));
    }

    #[test]
    fn seed_is_reproducible_per_ordinal() {
        let cfg = RandomConfig {
            seed: Some(42),
            ..Default::default()
        };
        let a = service(cfg.clone());
        let b = service(cfg);
        let first = ask(a.session(0).as_mut(), "50");
        assert_eq!(first, ask(b.session(0).as_mut(), "50"));
        assert_ne!(first, ask(b.session(1).as_mut(), "50"));
    }

    #[test]
    fn unseeded_sessions_differ() {
        let r = service(RandomConfig::default());
        let req = format!("20 {} {}", i64::MIN, i64::MAX);
        assert_ne!(
            ask(r.session(0).as_mut(), &req),
            ask(r.session(0).as_mut(), &req)
        );
    }

    #[test]
    fn roughly_uniform_over_small_range() {
        let r = service(RandomConfig {
            seed: Some(7),
            ..Default::default()
        });
        let mut s = r.session(0);
        let v = ints(&ask(s.as_mut(), "60000 1 6"));
        let mut counts = [0u32; 6];
        for x in v {
            counts[(x - 1) as usize] += 1;
        }
        // Expected 10000 each; a chi-square with 5 degrees of freedom above
        // 20.5 has probability 0.001 for a fair generator (and this is seeded).
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - 10000.0).powi(2) / 10000.0)
            .sum();
        assert!(chi2 < 20.5, "{counts:?} chi2={chi2}");
    }

    #[test]
    fn invalid_config_is_rejected() {
        assert!(
            Random::new(RandomConfig {
                min: 5,
                max: 1,
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            Random::new(RandomConfig {
                max_count: 0,
                ..Default::default()
            })
            .is_err()
        );
    }
}
