//! `ferry server` and `ferry agent` as services: `--config FILE`,
//! `--check-config`, `print-config` and `install`, wrapped around the
//! commands' own arguments (`server::ServerArgs`, `agent::AgentArgs`), every
//! flag of which is a config key (see [`crate::settings`]).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Subcommand};

use super::{Cli, agent, install, server};
use crate::settings::{self, ParseError};

/// The config file arguments of a service.
#[derive(Debug, Args)]
pub struct ConfigFile {
    /// Read settings from this TOML file: keys are the long flag names (the
    /// `print-config` subcommand prints them all); flags and environment
    /// variables win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the settings (the --config file, with flags and environment) and
    /// exit without starting anything: prints `ok`, or every problem and exits 1.
    #[arg(long, requires = "config")]
    check_config: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ServerCommand {
    #[command(subcommand)]
    action: Option<ServerAction>,
    #[command(flatten)]
    args: server::ServerArgs,
    #[command(flatten)]
    file: ConfigFile,
}

#[derive(Debug, Subcommand)]
enum ServerAction {
    /// Print a config file documenting every setting, its environment variable
    /// and its default (the reference shipped as dist/ferry.toml).
    PrintConfig,
    /// Install the server as a systemd service: writes /etc/ferry/ferry.toml
    /// and /etc/systemd/system/ferry-server.service, then enables and starts it.
    Install(install::ServerInstallArgs),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AgentCommand {
    #[command(subcommand)]
    action: Option<AgentAction>,
    /// Absent with a subcommand (clap cannot build `--server` then).
    #[command(flatten)]
    args: Option<agent::AgentArgs>,
    #[command(flatten)]
    file: ConfigFile,
}

#[derive(Debug, Subcommand)]
enum AgentAction {
    /// Print a config file documenting every setting, its environment variable
    /// and its default (the reference shipped as dist/agent.toml).
    PrintConfig,
    /// Install the agent as a systemd service (the counterpart of `aws deploy
    /// install`): writes /etc/ferry/agent.toml and
    /// /etc/systemd/system/ferry-agent.service, enrols with the server, then
    /// enables and starts the agent.
    Install(install::AgentInstallArgs),
}

pub fn run_server(command: ServerCommand) -> ExitCode {
    match command.action {
        Some(ServerAction::PrintConfig) => print_config("server"),
        Some(ServerAction::Install(args)) => install::server(args),
        None if command.file.check_config => checked(&command.file),
        None => server::run(command.args),
    }
}

pub fn run_agent(command: AgentCommand) -> ExitCode {
    match command.action {
        Some(AgentAction::PrintConfig) => print_config("agent"),
        Some(AgentAction::Install(args)) => install::agent(args),
        None if command.file.check_config => checked(&command.file),
        None => agent::run(command.args.expect("the agent's arguments without a subcommand")),
    }
}

fn checked(file: &ConfigFile) -> ExitCode {
    println!("{}: ok", file.config.as_deref().unwrap_or(std::path::Path::new("-")).display());
    ExitCode::SUCCESS
}

fn print_config(name: &str) -> ExitCode {
    print!("{}", reference(name));
    ExitCode::SUCCESS
}

/// The documented config file of the service `name` (`server`, `agent`).
pub fn reference(name: &str) -> String {
    settings::reference(&service(name), &BTreeMap::new())
}

/// The subcommand `name` of `ferry`, as parsed (environment variables included).
pub fn service(name: &str) -> clap::Command {
    let command = Cli::command().find_subcommand(name).unwrap_or_else(|| panic!("no subcommand {name}")).clone();
    settings::with_env(command)
}

/// The subcommands that take a config file ([`ConfigFile`]; `ferry deploy
/// --config` names a deployment config).
fn services(command: &clap::Command) -> Vec<String> {
    command
        .get_subcommands()
        .filter(|s| s.get_arguments().any(|a| a.get_id() == settings::CHECK_ARG))
        .map(|s| s.get_name().to_string())
        .collect()
}

/// Parses the command line. For `ferry server|agent --config FILE …` the
/// file is read and checked first: its problems are reported all together
/// (and nothing starts), its values become the settings' defaults.
pub fn parse(argv: Vec<OsString>) -> Result<Cli, ExitCode> {
    let mut command = Cli::command();
    let services = services(&command);
    for name in &services {
        command = command.mut_subcommand(name, settings::with_env);
    }
    let Some((name, path, checking)) = config_request(&command, &services, &argv) else {
        return Ok(from_matches(command.get_matches_from(argv)));
    };
    let sub = command.find_subcommand(&name).expect("a service").clone();
    let loaded = settings::load(&sub, &path);
    let mut problems = loaded.problem_lines();
    let matches = match settings::parse(&command, Some(&name), &loaded, &argv) {
        Ok(matches) => Some(matches),
        Err(ParseError::Plain(e)) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => e.exit(),
        Err(ParseError::Plain(e)) if problems.is_empty() && !checking => e.exit(),
        Err(ParseError::Plain(e)) => {
            let mut message = format!("ferry {name}: {}", settings::clap_message(&e));
            if e.kind() == ErrorKind::MissingRequiredArgument {
                message.push_str(&format!(
                    " (set it in {}, in its environment variable or with the flag)",
                    path.display()
                ));
            }
            problems.push(message);
            None
        }
        Err(ParseError::WithFile(e)) => {
            problems.push(format!(
                "ferry {name}: {} (the settings in {} count as their flags)",
                settings::clap_message(&e),
                path.display()
            ));
            None
        }
    };
    for note in &loaded.notes {
        eprintln!("ferry {name}: note: {note}");
    }
    match matches {
        Some(matches) if problems.is_empty() => Ok(from_matches(matches)),
        _ => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            let count = problems.len();
            let s = if count == 1 { "" } else { "s" };
            let what = format!(
                "ferry {name}: {count} problem{s} in the settings ({} with flags and environment)",
                path.display()
            );
            if checking {
                eprintln!("{what}");
                Err(ExitCode::from(1))
            } else {
                eprintln!("{what}; not starting");
                Err(ExitCode::from(2))
            }
        }
    }
}

fn from_matches(matches: clap::ArgMatches) -> Cli {
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut Cli::command()).exit())
}

/// `(service, config file, --check-config given)` when the command line runs
/// a service with `--config` (not one of its subcommands).
fn config_request(command: &clap::Command, services: &[String], argv: &[OsString]) -> Option<(String, PathBuf, bool)> {
    let name = argv.get(1)?.to_str()?;
    if !services.iter().any(|s| s == name) {
        return None;
    }
    let sub = command.find_subcommand(name)?;
    let rest = argv.get(2..).unwrap_or_default();
    if rest.first().and_then(|a| a.to_str()).is_some_and(|first| sub.find_subcommand(first).is_some()) {
        return None;
    }
    let mut path = None;
    let mut checking = false;
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            break;
        } else if bytes == b"--config" {
            path = args.next().map(PathBuf::from);
        } else if let Some(value) = bytes.strip_prefix(b"--config=") {
            path = Some(PathBuf::from(std::ffi::OsStr::from_bytes(value)));
        } else if bytes == b"--check-config" {
            checking = true;
        }
    }
    Some((name.to_string(), path?, checking))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shell commands of README.md's `sh` blocks, continuation lines
    /// joined and whole-line comments dropped.
    fn readme_commands() -> Vec<String> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let readme = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut commands = Vec::new();
        let (mut in_block, mut current) = (false, String::new());
        for line in readme.lines() {
            if line.starts_with("```") {
                in_block = line == "```sh";
                continue;
            }
            if !in_block {
                continue;
            }
            // Whole-line comments here; a comment after a command ends
            // it in `words`.
            let line = if line.trim_start().starts_with('#') { "" } else { line };
            match line.trim_end().strip_suffix('\\') {
                Some(start) => current.push_str(start),
                None => {
                    current.push_str(line);
                    if !current.trim().is_empty() {
                        commands.push(std::mem::take(&mut current));
                    }
                    current.clear();
                }
            }
        }
        commands
    }

    /// Splits a command line into words as sh does for the README's
    /// simple commands (single and double quotes, `#` comments, no expansions).
    fn words(command: &str) -> Vec<String> {
        let (mut words, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
        for c in command.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '#') if word.is_empty() && !started => break,
                (None, '\'' | '"') => {
                    quote = Some(c);
                    started = true;
                }
                (None, c) if c.is_whitespace() => {
                    if started || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    started = false;
                }
                (None, c) => word.push(c),
            }
        }
        if started || !word.is_empty() {
            words.push(word);
        }
        words
    }

    /// Every `ferry …` command the README shows is one the CLI accepts, so
    /// its flags cannot drift from the docs (a `ferry config create` example
    /// once lacked a flag the CLI required). Placeholders (`d-XXXXXXXXX`,
    /// `FKIA...`) are values the parser takes as given; `…` stands for
    /// "and more" and is dropped.
    #[test]
    fn every_ferry_command_in_the_readme_parses() {
        let mut cli = Cli::command();
        for name in services(&cli) {
            cli = cli.mut_subcommand(&name, settings::with_env);
        }
        let mut checked = 0;
        for command in readme_commands() {
            let words = words(&command);
            // `VAR=value ferry …`: the command starts at `ferry`.
            let Some(start) = words.iter().position(|w| w == "ferry") else { continue };
            let argv: Vec<&str> = words[start..].iter().map(String::as_str).filter(|w| *w != "…").collect();
            if let Err(e) = cli.clone().try_get_matches_from(&argv) {
                panic!("README: `{command}` does not parse:\n{e}");
            }
            checked += 1;
        }
        assert!(checked >= 40, "only {checked} ferry commands found in README.md");
    }

    fn dist(name: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dist").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The shipped references are what the binary prints: regenerate them with
    /// `cargo run -p ferry -- server print-config > dist/ferry.toml` and
    /// `cargo run -p ferry -- agent print-config > dist/agent.toml`.
    #[test]
    fn the_shipped_references_are_current() {
        for (service, file) in [("server", "ferry.toml"), ("agent", "agent.toml")] {
            assert!(
                dist(file) == reference(service),
                "dist/{file} differs from `ferry {service} print-config`: regenerate it with \
                 `cargo run -p ferry -- {service} print-config > dist/{file}`"
            );
        }
    }

    #[test]
    fn every_flag_is_a_setting_with_an_environment_variable() {
        for name in ["server", "agent"] {
            let command = service(name);
            let text = reference(name);
            let keys: Vec<_> = settings::settings(&command).iter().map(|a| a.get_long().unwrap().to_string()).collect();
            assert!(keys.iter().any(|k| k == "root" || k == "data-dir"), "{keys:?}");
            for key in &keys {
                assert!(text.contains(&format!("\n#{key} = ")), "{name}: {key} missing from the reference");
            }
            assert!(!keys.iter().any(|k| k == "config" || k == "check-config" || k == "enrol-only"), "{keys:?}");
            for arg in settings::settings(&command) {
                assert!(arg.get_env().is_some(), "{name}: --{} has no environment variable", arg.get_long().unwrap());
            }
        }
    }

    #[test]
    fn the_config_file_is_found_on_the_command_line() {
        let command = Cli::command();
        let services = services(&command);
        assert_eq!(services, ["server", "agent"]);
        let argv = |args: &[&str]| args.iter().map(OsString::from).collect::<Vec<_>>();
        let found = |args: &[&str]| config_request(&command, &services, &argv(args));
        assert_eq!(found(&["ferry", "server", "--config", "a.toml"]), Some(("server".into(), "a.toml".into(), false)));
        assert_eq!(
            found(&["ferry", "agent", "--check-config", "--config=b.toml"]),
            Some(("agent".into(), "b.toml".into(), true))
        );
        assert_eq!(found(&["ferry", "server", "install", "--config", "a.toml"]), None);
        assert_eq!(found(&["ferry", "server", "--listen", "x"]), None);
        assert_eq!(found(&["ferry", "local", "--config", "a.toml"]), None);
    }
}
