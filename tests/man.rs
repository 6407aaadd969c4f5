//! `duplex man DIR`: a page for duplex and one per subcommand, generated
//! from the same definitions as `--help`, that groff and man render without
//! a single warning. groff and man-db are installed by scripts/test.sh.

mod common;

use std::path::Path;
use std::process::Command;

use common::{WAIT, run_duplex, tempdir};

const PAGES: [&str; 8] = [
    "duplex.1",
    "duplex-serve.1",
    "duplex-connect.1",
    "duplex-bench.1",
    "duplex-cert.1",
    "duplex-config.1",
    "duplex-completions.1",
    "duplex-man.1",
];

/// Renders `page` with groff's man macros and every warning enabled;
/// returns the text and groff's complaints.
fn groff(page: &Path) -> (String, String) {
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-rLL=100n", "-P-cbou"])
        .arg(page)
        .output()
        .expect("groff runs (scripts/test.sh installs groff)");
    assert!(out.status.success(), "groff failed on {}", page.display());
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn man_writes_a_page_for_duplex_and_each_subcommand_that_renders_without_warnings() {
    let dir = tempdir();
    let out = run_duplex(&["man", dir.path().to_str().expect("utf-8 path")], WAIT);
    assert_eq!(out.code(), Some(0), "{out:?}");
    for page in PAGES {
        let path = dir.path().join(page);
        assert!(path.is_file(), "{page} missing: {}", out.stdout_str());
        assert!(
            out.stdout_str().contains(page),
            "{page} not reported: {}",
            out.stdout_str()
        );
        let (text, warnings) = groff(&path);
        assert_eq!(warnings, "", "groff warns about {page}");
        assert!(text.contains("NAME"), "{page}:\n{text}");
    }
    // What the pages say is what `--help` says: the subcommands, the
    // options with their defaults, the global options.
    let (main, _) = groff(&dir.path().join("duplex.1"));
    for sub in ["serve", "connect", "bench", "cert", "config", "completions"] {
        assert!(main.contains(sub), "duplex.1 lacks {sub}:\n{main}");
    }
    let (serve, _) = groff(&dir.path().join("duplex-serve.1"));
    for text in [
        "--max-connections",
        "[default: 10000]",
        "--log-format",
        "--tls-cert",
    ] {
        assert!(
            serve.contains(text),
            "duplex-serve.1 lacks {text}:\n{serve}"
        );
    }
}

#[test]
fn man_l_shows_the_serve_page_without_warnings() {
    let dir = tempdir();
    let out = run_duplex(&["man", dir.path().to_str().expect("utf-8 path")], WAIT);
    assert_eq!(out.code(), Some(0), "{out:?}");
    let shown = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(dir.path().join("duplex-serve.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man runs (scripts/test.sh installs man-db)");
    let stderr = String::from_utf8_lossy(&shown.stderr);
    assert!(shown.status.success(), "man -l failed: {stderr}");
    assert_eq!(stderr, "", "man -l warns");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("duplex-serve"), "{text}");
    assert!(text.contains("--idle-timeout"), "{text}");
}

#[test]
fn man_into_an_unwritable_place_is_one_clear_error() {
    let dir = tempdir();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let out = run_duplex(&["man", file.to_str().expect("utf-8 path")], WAIT);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("a-file"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}
