//! The command line: usage errors, help, version, configuration files and the
//! built-in default configuration (docs/behaviour.md, "Endpoints" and
//! "Serving").

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const SHORT: Duration = Duration::from_secs(10);

#[test]
fn malformed_url_is_a_usage_error_that_shows_an_example() {
    let cases = [
        ("tcp://127.0.0.1", "has no port"),
        ("bogus://x:1", "unknown scheme"),
        ("127.0.0.1:7007", "needs a scheme"),
        ("tcp://[::1:80", "lacks its ']'"),
        ("tcp://127.0.0.1:99999", "0 to 65535"),
        ("udp://:abc", "not a number"),
        ("tcp://::1:80", "brackets"),
        ("unix://", "needs a socket path"),
        ("tcp://bad_host!:1", "not a valid host"),
    ];
    for (url, what) in cases {
        for args in [vec!["serve", "echo", url], vec!["connect", url]] {
            let out = run_duplex(&args, SHORT);
            assert_eq!(
                out.code(),
                Some(2),
                "{args:?} should be a usage error: {out:?}"
            );
            assert!(
                out.stderr.contains(what),
                "{args:?}: message should say '{what}': {}",
                out.stderr
            );
            assert!(
                out.stderr.contains("for example") && out.stderr.contains("://127.0.0.1:")
                    || out.stderr.contains("for example unix:///")
                    || out.stderr.contains("for example tcp://[::1]:"),
                "{args:?}: message should show a valid example: {}",
                out.stderr
            );
            assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        }
    }
}

#[test]
fn malformed_url_in_a_config_file_is_reported_with_its_position() {
    let dir = tempdir();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[[listener]]\nservice = \"echo\"\nurls = [\"tcp://127.0.0.1\"]\n",
    )
    .expect("write");
    let out = run_duplex(
        &["serve", "--config", file.to_str().expect("utf-8 path")],
        SHORT,
    );
    assert_ne!(out.code(), Some(0), "{out:?}");
    assert!(out.stderr.contains("line 3"), "{}", out.stderr);
    assert!(
        out.stderr.contains("has no port") && out.stderr.contains("for example"),
        "{}",
        out.stderr
    );
}

#[test]
fn version_prints_the_name_and_version() {
    let out = run_duplex(&["--version"], SHORT);
    assert_eq!(out.code(), Some(0));
    assert_eq!(
        out.stdout_str().trim(),
        format!("duplex {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_has_an_example_for_every_subcommand() {
    for (sub, example) in [
        ("serve", "duplex serve echo tcp://"),
        ("connect", "duplex connect tcp://"),
        ("config", "duplex config"),
        ("bench", "duplex bench tcp://"),
    ] {
        let out = run_duplex(&[sub, "--help"], SHORT);
        assert_eq!(out.code(), Some(0), "{sub} --help: {out:?}");
        let text = out.stdout_str();
        assert!(
            text.contains("Example"),
            "{sub} --help has no examples:\n{text}"
        );
        assert!(
            text.contains(example),
            "{sub} --help lacks '{example}':\n{text}"
        );
    }
    let out = run_duplex(&["--help"], SHORT);
    assert_eq!(out.code(), Some(0));
    let text = out.stdout_str();
    for sub in ["serve", "connect", "config"] {
        assert!(text.contains(sub), "--help does not list {sub}:\n{text}");
    }
    assert!(
        text.contains("Example") && text.contains("duplex serve"),
        "--help has no examples:\n{text}"
    );
}

#[test]
fn unknown_service_and_missing_url_are_usage_errors() {
    let out = run_duplex(&["serve", "teapot", "tcp://127.0.0.1:0"], SHORT);
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains("echo") && out.stderr.contains("daytime"),
        "lists the services: {}",
        out.stderr
    );
    let out = run_duplex(&["serve", "echo"], SHORT);
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("URL"), "{}", out.stderr);
}

#[test]
fn option_of_another_service_is_an_error() {
    let out = run_duplex(&["serve", "echo", "tcp://127.0.0.1:0", "--min", "3"], SHORT);
    assert_ne!(out.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.contains("--min") && out.stderr.contains("random"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.is_empty(),
        "nothing may be bound: {}",
        out.stdout_str()
    );
}

#[test]
fn invalid_config_file_is_rejected_with_line_and_column() {
    let dir = tempdir();
    let cases = [
        ("[[listener]\n", "line 1, column"),
        (
            "[[listener]]\nservice = \"echo\"\nurls = [\"tcp://127.0.0.1:0\"]\nbogus = 1\n",
            "line 4, column 1",
        ),
        (
            "[[listener]]\nservice = \"teapot\"\nurls = [\"tcp://127.0.0.1:0\"]\n",
            "line 2, column",
        ),
        (
            "[limits]\nmax_line = \"many\"\n[[listener]]\nservice = \"echo\"\nurls = [\"tcp://127.0.0.1:0\"]\n",
            "line 2, column",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).expect("write config");
        let out = run_duplex(
            &["serve", "--config", file.to_str().expect("utf-8 path")],
            SHORT,
        );
        assert_ne!(out.code(), Some(0), "{text:?} accepted: {out:?}");
        assert!(
            out.stderr.contains(want),
            "{text:?}: error should contain '{want}': {}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{text:?}: nothing may be bound");
    }
}

#[test]
fn missing_config_file_is_one_clear_error() {
    let out = run_duplex(&["serve", "--config", "/nonexistent/duplex.toml"], SHORT);
    assert_ne!(out.code(), Some(0));
    assert!(
        out.stderr.contains("/nonexistent/duplex.toml"),
        "{}",
        out.stderr
    );
    assert_eq!(nonempty_lines(&out.stderr).len(), 1, "{}", out.stderr);
}

/// The text of `duplex config`.
fn default_config() -> String {
    let out = run_duplex(&["config"], SHORT);
    assert_eq!(out.code(), Some(0));
    out.stdout_str()
}

/// How many URLs the listeners of a configuration name (one `listening`
/// line each).
fn url_count(config: &str) -> usize {
    let v: toml::Value = toml::from_str(config).expect("duplex config prints TOML");
    let listeners = v
        .get("listener")
        .and_then(|l| l.as_array())
        .expect("[[listener]] tables");
    listeners
        .iter()
        .map(|l| {
            l.get("urls")
                .and_then(|u| u.as_array())
                .map_or(0, |u| u.len())
        })
        .sum()
}

/// `text` with every `127.0.0.1:PORT` turned into `127.0.0.1:0` and every
/// Unix socket moved into `dir`, so that it can run next to anything else.
fn relocated(text: &str, dir: &std::path::Path) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(i + "127.0.0.1:".len());
        out.push_str(head);
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(if digits > 0 { "0" } else { "" });
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out.replace("unix:///tmp/", &format!("unix://{}/", dir.display()))
}

#[test]
fn config_prints_toml_that_serve_config_accepts() {
    let dir = tempdir();
    let text = default_config();
    for service in ["echo", "daytime", "random", "counter"] {
        assert!(
            text.contains(&format!("service = \"{service}\"")),
            "{service} missing:\n{text}"
        );
    }
    let edited = relocated(&text, dir.path());
    assert_ne!(
        edited, text,
        "the default configuration should name ports 7007-7015 and /tmp sockets"
    );
    let file = dir.path().join("duplex.toml");
    std::fs::write(&file, &edited).expect("write config");
    let server = Server::start(
        &["serve", "--config", file.to_str().expect("utf-8 path")],
        url_count(&text),
    );
    for service in ["echo", "daytime", "random", "counter"] {
        for scheme in ["tcp", "udp", "unix"] {
            assert!(
                server
                    .listening
                    .iter()
                    .any(|(s, u)| s == service && u.starts_with(scheme)),
                "no {service} on {scheme}: {:?}",
                server.listening
            );
        }
    }
    for (service, url) in &server.listening {
        assert!(
            !url.ends_with(":0"),
            "{service} {url}: port 0 must be resolved"
        );
        assert!(
            url.contains("://127.0.0.1:") || url.starts_with("unix://"),
            "{url}"
        );
    }
    // The services answer.
    let random = server
        .listening
        .iter()
        .position(|(s, u)| s == "random" && u.starts_with("tcp"))
        .expect("random tcp");
    assert_eq!(Conn::to(server.url(random)).ask("7 7"), "7");
    let echo = server
        .listening
        .iter()
        .position(|(s, u)| s == "echo" && u.starts_with("unix"))
        .expect("echo unix");
    let mut c = Conn::to(server.url(echo));
    assert_eq!(c.ask("hello"), "hello");
}

#[test]
fn config_file_limits_apply() {
    let dir = tempdir();
    let file = dir.path().join("duplex.toml");
    std::fs::write(
        &file,
        "[limits]\nmax_line = 8\n[[listener]]\nservice = \"random\"\nurls = [\"tcp://127.0.0.1:0\"]\nmin = 4\nmax = 4\n",
    )
    .expect("write config");
    let server = Server::start(
        &["serve", "--config", file.to_str().expect("utf-8 path")],
        1,
    );
    let mut c = Conn::tcp(server.addr(0));
    assert_eq!(c.ask(""), "4");
    assert!(
        c.ask("1 1 1 1 1 1 1").starts_with("ERR "),
        "max_line = 8 applies"
    );
    // A command-line limit overrides the file.
    let server = Server::start(
        &[
            "serve",
            "--config",
            file.to_str().expect("utf-8 path"),
            "--max-line",
            "100",
        ],
        1,
    );
    let mut c = Conn::tcp(server.addr(0));
    assert_eq!(c.ask("1    4    4"), "4");
}

/// Runs `script` with `sh`, in fresh network and mount namespaces (own
/// loopback, private /tmp) when the machine allows it, so that the default
/// ports and socket paths are free whatever else runs here.
fn run_isolated(script: &str, urls: usize) -> (Output, bool) {
    let probe = Command::new("unshare").args(["-mn", "true"]).status();
    let isolated = matches!(probe, Ok(s) if s.success());
    let mut cmd = if isolated {
        let mut c = Command::new("unshare");
        c.args(["-mn", "sh", "-c"]);
        c.arg(format!(
            // The binary may itself live under /tmp (a checkout there):
            // copy it to a private tmpfs before /tmp is replaced.
            "set -eu\nmount -t tmpfs tmpfs /mnt\ncp \"$BIN\" /mnt/duplex\nBIN=/mnt/duplex\n\
             mount -t tmpfs tmpfs /tmp\nip link set lo up\n{script}"
        ));
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!("set -eu\n{script}"));
        c
    };
    cmd.env("BIN", BIN).env("N", urls.to_string());
    (run(cmd, Duration::from_secs(60)), isolated)
}

#[test]
fn serve_without_arguments_runs_the_default_configuration_on_loopback() {
    let script = r#"
out=$(mktemp -d)
: >"$out/listening"
"$BIN" serve >"$out/listening" 2>"$out/log" &
pid=$!
i=0
while [ "$(wc -l <"$out/listening")" -lt "$N" ]; do
    i=$((i + 1))
    if [ $i -gt 500 ] || ! kill -0 $pid 2>/dev/null; then cat "$out/log" >&2; exit 3; fi
    sleep 0.02
done
cat "$out/listening"
echo "-- echo"
printf 'hello\n' | "$BIN" connect tcp://127.0.0.1:7007
echo "-- daytime"
printf 'STOP\n' | "$BIN" connect unix:///tmp/duplex-daytime.sock
echo "-- random"
printf '2 5 5\n' | "$BIN" connect --wait 300ms udp://127.0.0.1:7014
echo "-- counter"
printf '\n' | "$BIN" connect tcp://127.0.0.1:7015
kill -TERM $pid
wait $pid
echo "-- exit $?"
ls /tmp/duplex-*.sock 2>/dev/null | wc -l
"#;
    let n = url_count(&default_config());
    let (out, isolated) = run_isolated(script, n);
    let text = out.stdout_str();
    assert_eq!(
        out.code(),
        Some(0),
        "isolated: {isolated}; the default ports or /tmp/duplex-*.sock may be in use:\n{text}\n{}",
        out.stderr
    );
    let mut lines = text.lines();
    let listening: Vec<&str> = lines.by_ref().take(n).collect();
    let mut expected = Vec::new();
    for (service, port) in [
        ("echo", 7007),
        ("daytime", 7013),
        ("random", 7014),
        ("counter", 7015),
    ] {
        expected.push(format!("listening {service} tcp://127.0.0.1:{port}"));
        expected.push(format!("listening {service} udp://127.0.0.1:{port}"));
        expected.push(format!(
            "listening {service} unix:///tmp/duplex-{service}.sock"
        ));
    }
    for e in &expected {
        assert!(
            listening.contains(&e.as_str()),
            "{e} missing: {listening:?}"
        );
    }
    for l in &listening {
        let url = l.rsplit(' ').next().unwrap_or_default();
        assert!(
            url.contains("://127.0.0.1:") || url.starts_with("unix:///tmp/"),
            "not loopback-only: {l}"
        );
    }
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest[0..2], ["-- echo", "hello"], "{text}");
    assert_eq!(rest[2], "-- daytime", "{text}");
    assert!(
        rest[3].len() >= 20 && rest[3].contains('T'),
        "a daytime greeting: {text}"
    );
    assert_eq!(rest[4..8], ["-- random", "5", "5", "-- counter"], "{text}");
    assert!(
        rest[8].parse::<u64>().is_ok_and(|n| n >= 3),
        "a client count: {text}"
    );
    assert_eq!(
        rest[9..],
        ["-- exit 0", "0"],
        "clean exit, sockets removed: {text}"
    );
}

#[test]
fn default_configuration_and_duplex_config_are_the_same() {
    let script = r#"
out=$(mktemp -d)
"$BIN" config >"$out/duplex.toml"
for args in "" "--config $out/duplex.toml"; do
    : >"$out/listening"
    "$BIN" serve $args >"$out/listening" 2>"$out/log" &
    pid=$!
    i=0
    while [ "$(wc -l <"$out/listening")" -lt "$N" ]; do
        i=$((i + 1))
        if [ $i -gt 500 ] || ! kill -0 $pid 2>/dev/null; then cat "$out/log" >&2; exit 3; fi
        sleep 0.02
    done
    kill -TERM $pid
    wait $pid
    cat "$out/listening"
done
"#;
    let n = url_count(&default_config());
    let (out, isolated) = run_isolated(script, n);
    assert_eq!(out.code(), Some(0), "isolated: {isolated}: {out:?}");
    let text = out.stdout_str();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 * n, "{text}");
    lines[..n].sort_unstable();
    lines[n..].sort_unstable();
    assert_eq!(
        lines[..n],
        lines[n..],
        "duplex serve and duplex serve --config <(duplex config) differ"
    );
}

/// Runs a server with `log_args`, makes one connection, stops it with
/// SIGTERM and returns (stdout lines after the listening lines, stderr).
fn logged_run(log_args: &[&str]) -> (Vec<String>, String) {
    let mut args = vec!["serve", "echo", "tcp://127.0.0.1:0"];
    args.extend_from_slice(log_args);
    let mut s = Server::start(&args, 1);
    assert_eq!(Conn::tcp(s.addr(0)).ask("x"), "x");
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(WAIT).and_then(|st| st.code()), Some(0));
    let mut more = Vec::new();
    while let Some(l) = s.next_stdout_line(Duration::from_millis(100)) {
        more.push(l);
    }
    (more, s.stderr())
}

#[test]
fn logs_go_to_stderr_and_stdout_has_only_the_listening_lines() {
    let (more, stderr) = logged_run(&["-vv"]);
    assert!(more.is_empty(), "stdout after the listening line: {more:?}");
    assert!(!stderr.trim().is_empty(), "-vv logs nothing");
    let (more, stderr) = logged_run(&["-q"]);
    assert!(more.is_empty(), "{more:?}");
    assert_eq!(stderr.trim(), "", "-q logs more than errors");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let (_, stderr) = logged_run(&["-v", "--log-format", "json"]);
    let lines = nonempty_lines(&stderr);
    assert!(!lines.is_empty());
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"));
        assert!(v.is_object(), "{l}");
    }
}
