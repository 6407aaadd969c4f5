//! The `duplex` binary: parse, run, map errors to exit codes. The signals
//! that stop a server are handled here too, not in the library.
//!
//! Exit codes: 0 success, 1 runtime error (one line on stderr), 2 usage error
//! (clap's message, or a bad configuration), 3 a `bench --fail-if` threshold
//! breached, 130 a second interrupt during shutdown, or `connect` ended by
//! Ctrl-C.

use std::io::Write;
use std::time::Duration;

use clap::FromArgMatches;
use duplex::cli::{Cli, Command};
use tokio::signal::unix::{SignalKind, signal};

/// jemalloc rather than the system's malloc: glibc keeps the memory a burst
/// of connections freed (hyper's buffers of each HTTP handshake) as holes
/// between the sessions that stay, so an idle server's RSS reflects the
/// burst's peak; jemalloc, as configured in `.cargo/config.toml`, gives it
/// back within a second. RSS per idle WebSocket connection at 10,000: about
/// 4 KiB instead of 6–8 (BENCHMARKS.md, "Memory per idle connection").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = Cli::from_arg_matches(
        &duplex::cli::command().get_matches_from(duplex::cli::nc_style_args(std::env::args_os())),
    )
    .unwrap_or_else(|e| e.exit());
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
            print!("{}", duplex::config::default_config());
            Ok(0)
        }
        Command::Completions { shell } => {
            let mut command = duplex::cli::command();
            clap_complete::generate(shell, &mut command, "duplex", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { dir } => {
            for page in duplex::man::write_pages(&duplex::cli::command(), &dir)? {
                println!("wrote {}", page.display());
            }
            Ok(0)
        }
        Command::Serve(args) => serve(duplex::config::from_args(&args)),
        Command::Bridge(args) => serve(duplex::config::from_bridge_args(&args)),
        Command::Connect(args) => {
            let rt = runtime()?;
            let result = rt.block_on(duplex::client::run(*args));
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

/// Runs a server (`serve`, `bridge`) until a signal; bad settings are a
/// usage error.
fn serve(settings: anyhow::Result<duplex::config::Settings>) -> anyhow::Result<i32> {
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("duplex: {e:#}");
            return Ok(2);
        }
    };
    let timeout = settings.limits.shutdown_timeout;
    let plan = settings.build()?;
    let rt = runtime()?;
    let result = rt.block_on(async {
        let shutdown = on_signals(timeout)?;
        duplex::server::run(plan, shutdown).await
    });
    // The graceful part is over (`--shutdown-timeout` included): what is
    // left are the sessions it gave up on. Dropping the runtime would wait
    // for a worker still busy with one of them (filling the send buffer of
    // a client that reads nothing, say); bound that wait instead.
    rt.shutdown_timeout(RUNTIME_TEARDOWN);
    result?;
    Ok(0)
}

/// How long the runtime may take to drop the sessions left after a
/// shutdown, before the process exits anyway.
const RUNTIME_TEARDOWN: Duration = Duration::from_millis(250);

/// The server's shutdown future: completes at the first SIGINT or SIGTERM;
/// a second one exits at once with status 130.
///
/// Call it before anything is bound, so that a signal arriving right after
/// the `listening` line is handled gracefully instead of killing the
/// process.
fn on_signals(shutdown_timeout: Duration) -> std::io::Result<impl Future<Output = ()>> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let (first, shutdown) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut next = async || {
            tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            }
        };
        let sig = next().await;
        tracing::info!(
            "{sig}: shutting down (at most {shutdown_timeout:?}; a second signal exits at once)"
        );
        let _ = first.send(());
        let sig = next().await;
        eprintln!("duplex: {sig} again: exiting at once");
        std::process::exit(130);
    });
    Ok(async move {
        let _ = shutdown.await;
    })
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
