//! nc's spelling of `-q SECS` for `duplex connect`, which clap alone cannot
//! parse: the arguments are rewritten before clap sees them.

use crate::options::parse_duration;

/// nc's `-q SECS` after `connect`: `-q` followed by a duration becomes
/// `--quit-after`, while `-q` before anything that is not a duration stays
/// the global `--quiet`. clap cannot give one short flag two meanings, so
/// the arguments are rewritten before parsing.
pub fn nc_style_args<I>(args: I) -> Vec<std::ffi::OsString>
where
    I: IntoIterator<Item = std::ffi::OsString>,
{
    let mut out: Vec<std::ffi::OsString> = args.into_iter().collect();
    let mut in_connect = false;
    let mut i = 1;
    while i < out.len() {
        let arg = out[i].to_str().unwrap_or("");
        if !in_connect {
            match arg {
                // The one top-level option that takes a separate value.
                "--log-format" => i += 1,
                "connect" => in_connect = true,
                a if !a.starts_with('-') => return out,
                _ => {}
            }
        } else if arg == "--" {
            break;
        } else if arg == "-q"
            && out
                .get(i + 1)
                .and_then(|v| v.to_str())
                .is_some_and(|v| parse_duration(v).is_ok())
        {
            out[i] = "--quit-after".into();
            i += 1;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nc_style(args: &[&str]) -> Vec<String> {
        nc_style_args(args.iter().map(std::ffi::OsString::from))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn connect_takes_nc_style_dash_q_with_a_duration() {
        assert_eq!(
            nc_style(&["duplex", "connect", "-q", "1", "tcp://h:1"]),
            ["duplex", "connect", "--quit-after", "1", "tcp://h:1"]
        );
        assert_eq!(
            nc_style(&[
                "duplex",
                "-v",
                "--log-format",
                "json",
                "connect",
                "tcp://h:1",
                "-q",
                "0"
            ]),
            [
                "duplex",
                "-v",
                "--log-format",
                "json",
                "connect",
                "tcp://h:1",
                "--quit-after",
                "0"
            ]
        );
        // -q without a duration is --quiet, and other subcommands keep it.
        for args in [
            &["duplex", "connect", "-q", "tcp://h:1"][..],
            &["duplex", "-q", "connect", "tcp://h:1"],
            &["duplex", "serve", "echo", "tcp://:1", "-q", "1"],
            &["duplex", "connect", "tcp://h:1", "--", "-q", "1"],
        ] {
            assert_eq!(nc_style(args), args);
        }
    }
}
