//! The `ferry` binary: parses the command line and hands off to one module
//! per subcommand. Keep this file thin.

mod client;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    cmd::run(cli)
}
