//! The `ferry` binary: parses the command line and hands off to one module
//! per subcommand. Keep this file thin.

mod client;
mod cmd;
mod settings;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cmd::parse(std::env::args_os().collect()) {
        Ok(cli) => cmd::run(cli),
        Err(code) => code,
    }
}
