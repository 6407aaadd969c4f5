//! `duplex bench`: a load generator for echo servers.

use crate::cli::BenchArgs;

pub async fn run(args: BenchArgs) -> anyhow::Result<bool> {
    anyhow::bail!("bench of {} is not implemented yet", args.url)
}
