//! The `duplex` binary: parse, run, map errors to exit codes.
//!
//! Exit codes: 0 success, 1 runtime error (one line on stderr), 2 usage error
//! (clap's message), 3 a `bench --fail-if` threshold breached, 130 a second
//! interrupt during shutdown, or `connect` ended by Ctrl-C.

use std::io::Write;

use clap::{CommandFactory, Parser};
use duplex::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    duplex::logging::init(&cli.log);
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("duplex: {e:#}");
            1
        }
    };
    let _ = std::io::stdout().flush();
    // Exit explicitly: a blocking stdin read (in `connect`) must not keep the
    // process alive after the work is done.
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Cert { out, hosts } => {
            let files = duplex::tls::write_self_signed(&out, &hosts)?;
            println!("wrote {} and {}", files.cert.display(), files.key.display());
            Ok(0)
        }
        Command::Config => {
            print!("{}", duplex::config::DEFAULT_CONFIG);
            Ok(0)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "duplex", &mut std::io::stdout());
            Ok(0)
        }
        Command::Serve(args) => {
            let plan = match duplex::config::plan_from_args(&args) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("duplex: {e:#}");
                    return Ok(2);
                }
            };
            runtime()?.block_on(duplex::server::run(plan))?;
            Ok(0)
        }
        Command::Connect(args) => {
            let rt = runtime()?;
            let result = rt.block_on(duplex::client::run(args));
            // Dropping the runtime would wait for the blocking stdin read
            // (which may never end) when the server closed first.
            rt.shutdown_background();
            Ok(result?.exit_code())
        }
        Command::Bench(args) => {
            let settings = match duplex::bench::Settings::from_args(&args) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(2);
                }
            };
            let verdict = runtime()?.block_on(duplex::bench::run(settings))?;
            Ok(verdict.code())
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
