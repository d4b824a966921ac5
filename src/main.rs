//! The `tenant-catalog` binary: parse the command line and hand over to the library.

use clap::Parser;
use std::process::ExitCode;
use tenant_catalog::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, naming what is wrong and how to fix it; never a backtrace.
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
