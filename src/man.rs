//! `duplex man DIR`: man pages generated from the same clap definitions as
//! `--help` (clap_mangen), `duplex.1` and one page per subcommand
//! (`duplex-serve.1`, …), as `git` and `cargo` ship theirs.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Writes the pages of `command` into `dir` (created if needed) and returns
/// their paths.
pub fn write_pages(command: &clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut command = command.clone();
    // Subcommands get their full names (`duplex-serve`) and inherit the
    // version, as the pages of the subcommands need them.
    command.build();
    let mut written = Vec::new();
    write_page(&command, dir, &mut written)?;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        write_page(sub, dir, &mut written)?;
    }
    Ok(written)
}

fn write_page(
    command: &clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let man = clap_mangen::Man::new(command.clone());
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)
        .with_context(|| format!("cannot render {}", path.display()))?;
    let page = ascii_roff(&String::from_utf8_lossy(&page));
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    Ok(())
}

/// roff input is ASCII: any other character of the help text (`×`, `…`,
/// `µ`) is written as groff's `\[uXXXX]` escape, which renders as itself.
fn ascii_roff(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for c in page.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", c as u32));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn non_ascii_characters_become_groff_escapes() {
        assert_eq!(
            super::ascii_roff("R×c, 5 µs…"),
            "R\\[u00D7]c, 5 \\[u00B5]s\\[u2026]"
        );
    }
}
