//! permessage-deflate negotiation (RFC 7692 §5, §7.1), for both sides:
//! which of a client's offers the server takes and what it answers, what
//! duplex's client offers, and whether a server's answer may be accepted.
//!
//! duplex negotiates here rather than in the WebSocket crate because the
//! crate's own negotiation takes only one offer of a list, answers window
//! parameters a client did not offer (which RFC 7692 forbids) and accepts
//! any answer as a client. The string agreed here is what the crate is told
//! to run with.

use std::fmt;

/// The extension token.
const NAME: &str = "permessage-deflate";

/// The LZ77 window sizes (in bits) the deflate implementation can use:
/// zlib deflates a requested 8 with 9, so 8 is never agreed to.
pub const WINDOW_BITS: std::ops::RangeInclusive<u8> = 9..=15;

/// What the server agrees to when a client offers permessage-deflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Let either side keep its compression context from one message to
    /// the next (when the client does not ask otherwise). Off, the server
    /// imposes `server_no_context_takeover` and `client_no_context_takeover`:
    /// no deflate state outlives a message, so an idle connection holds
    /// none (the state is lent from a pool per message).
    pub context_takeover: bool,
    /// The largest window either direction may use, 9–15.
    pub window_bits: u8,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            context_takeover: false,
            window_bits: 15,
        }
    }
}

/// The parameters of one permessage-deflate offer or answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: Option<u8>,
    /// `Some(None)`: named without a value, which only an offer may do
    /// ("the client can use any window the server asks for").
    pub client_max_window_bits: Option<Option<u8>>,
}

impl fmt::Display for Params {
    /// The header form: `permessage-deflate; server_no_context_takeover; …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NAME)?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if let Some(b) = self.server_max_window_bits {
            write!(f, "; server_max_window_bits={b}")?;
        }
        match self.client_max_window_bits {
            Some(Some(b)) => write!(f, "; client_max_window_bits={b}"),
            Some(None) => f.write_str("; client_max_window_bits"),
            None => Ok(()),
        }
    }
}

/// Why an offer or answer cannot be taken.
type Invalid = String;

impl Params {
    /// Parses one element of a `Sec-WebSocket-Extensions` list: `None` when
    /// it names another extension, an error when it is permessage-deflate
    /// with a parameter that is unknown, repeated, missing its value or out
    /// of range (RFC 7692 §7.1).
    fn parse(element: &str) -> Option<Result<Params, Invalid>> {
        let mut parts = split_outside_quotes(element, ';')
            .into_iter()
            .map(str::trim);
        if !parts.next()?.eq_ignore_ascii_case(NAME) {
            return None;
        }
        Some(parts.try_fold(Params::default(), |mut p, part| {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (part, None),
            };
            let lower = name.to_ascii_lowercase();
            let repeated = || format!("{lower} is given twice");
            let no_value = |set: &mut bool| match (value, *set) {
                (Some(_), _) => Err(format!("{lower} takes no value")),
                (None, true) => Err(repeated()),
                (None, false) => {
                    *set = true;
                    Ok(())
                }
            };
            match lower.as_str() {
                "server_no_context_takeover" => no_value(&mut p.server_no_context_takeover)?,
                "client_no_context_takeover" => no_value(&mut p.client_no_context_takeover)?,
                "server_max_window_bits" if p.server_max_window_bits.is_some() => {
                    return Err(repeated());
                }
                "server_max_window_bits" => {
                    let v = value.ok_or_else(|| format!("{lower} needs a value"))?;
                    p.server_max_window_bits = Some(window(&lower, v)?);
                }
                "client_max_window_bits" if p.client_max_window_bits.is_some() => {
                    return Err(repeated());
                }
                "client_max_window_bits" => {
                    p.client_max_window_bits = Some(value.map(|v| window(&lower, v)).transpose()?);
                }
                _ => return Err(format!("unknown parameter {name}")),
            }
            Ok(p)
        }))
    }
}

/// A window size as RFC 7692 allows it: 8–15, digits only.
fn window(name: &str, v: &str) -> Result<u8, Invalid> {
    v.parse::<u8>()
        .ok()
        .filter(|b| (8..=15).contains(b) && v.bytes().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| format!("{name}={v} is not a window size (8 to 15)"))
}

/// Splits at `sep` except inside a quoted string.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The elements of every `Sec-WebSocket-Extensions` header line, in order.
fn elements<'a>(headers: impl Iterator<Item = &'a str>) -> impl Iterator<Item = &'a str> {
    headers
        .flat_map(|h| split_outside_quotes(h, ','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
}

/// The server's answer to a client's offers: the first permessage-deflate
/// offer it can honour under `policy`, or `None` to answer without the
/// extension. `headers` are the values of every `Sec-WebSocket-Extensions`
/// line of the request.
pub fn agree<'a>(headers: impl Iterator<Item = &'a str>, policy: &Policy) -> Option<Params> {
    elements(headers).find_map(|e| answer(Params::parse(e)?.ok()?, policy))
}

/// The answer to one valid offer, or `None` to decline it.
fn answer(offer: Params, policy: &Policy) -> Option<Params> {
    let ours = policy
        .window_bits
        .clamp(*WINDOW_BITS.start(), *WINDOW_BITS.end());
    let server_max_window_bits = match offer.server_max_window_bits {
        // The client asks for a window deflate cannot make.
        Some(b) if b < *WINDOW_BITS.start() => return None,
        Some(b) => Some(b.min(ours)),
        None => (ours < 15).then_some(ours),
    };
    // Only answered when offered (RFC 7692 §7.1.2.2), and then never more
    // than offered; the inflater uses what is answered (15 when absent).
    let client_max_window_bits = offer
        .client_max_window_bits
        .and_then(|offered| Some(offered.unwrap_or(15).min(ours)).filter(|&b| b < 15))
        .map(Some);
    Some(Params {
        server_no_context_takeover: offer.server_no_context_takeover || !policy.context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover || !policy.context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    })
}

/// What duplex's client offers: what browsers offer (any client window
/// the server asks for), and the promise not to keep its own compression
/// context, so that a client's memory stays bounded however many
/// connections it holds.
pub fn offer() -> Params {
    Params {
        client_no_context_takeover: true,
        client_max_window_bits: Some(None),
        ..Params::default()
    }
}

/// Checks a server's `Sec-WebSocket-Extensions` answer to [`offer`]
/// (`offered`: whether it was made). `Ok(None)`: no extension agreed.
/// The parameters returned are what the client runs with: the answer, and
/// the client's own promise of no context takeover.
pub fn accept<'a>(
    headers: impl Iterator<Item = &'a str>,
    offered: bool,
) -> Result<Option<Params>, Invalid> {
    let mut all = elements(headers);
    let Some(first) = all.next() else {
        return Ok(None);
    };
    if let Some(extra) = all.next() {
        return Err(format!("the server agreed to a second extension: {extra}"));
    }
    let answer = match Params::parse(first) {
        None => {
            return Err(format!(
                "the server agreed to an extension not offered: {first}"
            ));
        }
        Some(_) if !offered => {
            return Err(format!(
                "the server agreed to {NAME}, which was not offered: {first}"
            ));
        }
        Some(Err(why)) => return Err(format!("invalid {NAME} answer ({first}): {why}")),
        Some(Ok(p)) => p,
    };
    if answer.client_max_window_bits == Some(None) {
        return Err(format!(
            "invalid {NAME} answer ({first}): client_max_window_bits needs a value"
        ));
    }
    Ok(Some(Params {
        client_no_context_takeover: true,
        ..answer
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreed(offers: &[&str], policy: Policy) -> Option<String> {
        agree(offers.iter().copied(), &policy).map(|p| p.to_string())
    }

    const DEFAULT: Policy = Policy {
        context_takeover: false,
        window_bits: 15,
    };
    const TAKEOVER: Policy = Policy {
        context_takeover: true,
        window_bits: 15,
    };

    #[test]
    fn a_bare_offer_gets_no_context_takeover_both_ways_by_default() {
        assert_eq!(
            agreed(&["permessage-deflate"], DEFAULT).as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        assert_eq!(
            agreed(&["permessage-deflate"], TAKEOVER).as_deref(),
            Some("permessage-deflate")
        );
    }

    #[test]
    fn the_browser_offer_is_answered_without_client_window_bits_at_15() {
        // What Chromium and Python websockets offer.
        let browser = "permessage-deflate; client_max_window_bits";
        assert_eq!(
            agreed(&[browser], TAKEOVER).as_deref(),
            Some("permessage-deflate")
        );
        let small = Policy {
            window_bits: 10,
            ..TAKEOVER
        };
        assert_eq!(
            agreed(&[browser], small).as_deref(),
            Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=10")
        );
    }

    #[test]
    fn client_window_bits_are_answered_only_when_offered() {
        let small = Policy {
            window_bits: 12,
            ..TAKEOVER
        };
        assert_eq!(
            agreed(&["permessage-deflate"], small).as_deref(),
            Some("permessage-deflate; server_max_window_bits=12")
        );
    }

    #[test]
    fn window_bits_are_the_smaller_of_offered_and_ours() {
        assert_eq!(
            agreed(
                &["permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"],
                TAKEOVER
            )
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=12")
        );
    }

    #[test]
    fn the_first_acceptable_offer_of_a_list_wins() {
        let offers = [
            "x-webkit-deflate-frame",
            "permessage-deflate; bogus=1, permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; client_no_context_takeover",
        ];
        assert_eq!(
            agreed(&offers, TAKEOVER).as_deref(),
            Some("permessage-deflate; client_no_context_takeover")
        );
    }

    #[test]
    fn invalid_offers_are_declined() {
        for offer in [
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=0x9",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; unknown",
            "x-webkit-deflate-frame",
            "",
        ] {
            assert_eq!(agreed(&[offer], DEFAULT), None, "{offer}");
        }
    }

    #[test]
    fn quoted_values_and_commas_inside_quotes() {
        assert_eq!(
            agreed(
                &["foo; a=\"x, permessage-deflate\", permessage-deflate; server_max_window_bits=\"12\""],
                TAKEOVER
            )
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=12")
        );
    }

    #[test]
    fn client_accepts_valid_answers_and_keeps_its_promise() {
        let got = accept(
            ["permessage-deflate; server_no_context_takeover; client_max_window_bits=10"]
                .into_iter(),
            true,
        )
        .expect("valid")
        .expect("agreed");
        assert_eq!(
            got.to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=10"
        );
        assert_eq!(accept(std::iter::empty(), true), Ok(None));
        assert_eq!(
            offer().to_string(),
            "permessage-deflate; client_no_context_takeover; client_max_window_bits"
        );
    }

    #[test]
    fn client_refuses_answers_it_must_fail() {
        for (answer, offered) in [
            ("permessage-deflate", false),
            ("x-other", true),
            ("permessage-deflate, permessage-deflate", true),
            ("permessage-deflate; client_max_window_bits", true),
            ("permessage-deflate; server_max_window_bits=20", true),
            ("permessage-deflate; mystery", true),
        ] {
            assert!(
                accept([answer].into_iter(), offered).is_err(),
                "{answer} (offered: {offered})"
            );
        }
    }
}
