//! Subcommands of `ferry`.

mod local;
// `ferry build local` (the build runner without a server) and, in
// `builds`, build projects and builds on the server.
mod build;
mod build_webhook;
mod builds;
// Running ferry itself.
mod agent;
mod fleet;
mod install;
mod proxy;
mod server;
// --config, --check-config, print-config and install around `server` and `agent`.
mod scaling_group;
mod service;
mod services;
// Operator commands (clients of the server's native API).
mod alarm;
mod app;
mod audit;
mod config;
mod deploy;
mod events;
mod get;
mod group;
mod instances;
mod keys;
mod lb;
mod logs;
pub(crate) mod output;
mod pipeline;
mod push;
mod secret;
mod stop;
mod task_definition;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use service::parse;

/// ferry: self-hosted deployments for any fleet of Linux servers.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Deploy a bundle on this machine without a server, to develop and test appspecs
    /// (the counterpart of AWS's codedeploy-local).
    Local(local::LocalArgs),
    /// Builds: projects and builds on the server (`ferry build project create`,
    /// `start`, `logs`, `artifacts`…); `ferry build local` runs a buildspec on
    /// this machine without a server (the counterpart of CodeBuild's local agent).
    Build(build::BuildArgs),
    /// Run the ferry server (the control plane).
    Server(service::ServerCommand),
    /// Run the ferry agent on this host: enrol once, then carry out deployments.
    Agent(service::AgentCommand),
    /// Run the built-in load balancer as its own process, so that traffic
    /// survives restarts of the server (which drives it with --proxy-socket).
    Proxy(proxy::ProxyArgs),
    /// A local fleet of isolated hosts running agents, for demos and trials (needs root).
    Fleet(fleet::FleetArgs),
    /// Create and list applications.
    App(app::AppArgs),
    /// Create and list deployment configs.
    Config(config::ConfigArgs),
    /// Create and list deployment groups (the instances a deployment targets, by tag).
    Group(group::GroupArgs),
    /// Bundle a revision directory, check its appspec, and upload it; prints the revision id.
    Push(push::PushArgs),
    /// Start a deployment of a revision to a group (--wait to follow it to its end).
    Deploy(deploy::DeployArgs),
    /// Show a deployment: status, instances and their lifecycle events.
    Get(get::GetArgs),
    /// List deployments, newest first.
    List(get::ListArgs),
    /// Stop a deployment in progress.
    Stop(stop::StopArgs),
    /// Continue a blue/green deployment waiting in the Ready state (or
    /// terminate its original instances now, with --termination).
    Continue(stop::ContinueArgs),
    /// List the instances the server knows, with their agents' state.
    Instances(instances::InstancesArgs),
    /// Show the hook output a deployment's instances reported.
    Logs(logs::LogsArgs),
    /// Create, list and revoke access keys (admin only).
    Keys(keys::KeysArgs),
    /// Load balancers' target groups that deployments move traffic in.
    Lb(lb::LbArgs),
    /// Alarms (PromQL expressions) that stop deployments when they fire.
    Alarm(alarm::AlarmArgs),
    /// The event stream: every state change of deployments and instances.
    Events(events::EventsArgs),
    /// Trigger webhook deliveries and how they went.
    Deliveries(events::DeliveriesArgs),
    /// The audit log: who changed what, when, from where, with what result (admin only).
    Audit(audit::AuditArgs),
    /// Secrets builds read (sealed at rest; values never shown again) (admin only).
    Secret(secret::SecretArgs),
    /// Pipelines as CodePipeline declares them (create, update, show, list, delete).
    Pipeline(pipeline::PipelineArgs),
    /// ECS task definitions for container services (register, describe, list, deregister).
    TaskDefinition(task_definition::TaskDefinitionArgs),
    /// Container services: tasks of a task definition kept running on matching hosts.
    Service(services::ServiceArgs),
    /// Scaling groups: hosts ferry launches and terminates to keep a desired capacity.
    ScalingGroup(scaling_group::ScalingGroupArgs),
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Local(args) => local::run(args),
        Command::Build(args) => build::run(args),
        Command::Server(args) => service::run_server(args),
        Command::Agent(args) => service::run_agent(args),
        Command::Proxy(args) => proxy::run(args),
        Command::Fleet(args) => fleet::run(args),
        Command::Config(args) => config::run(args),
        Command::App(args) => app::run(args),
        Command::Group(args) => group::run(args),
        Command::Push(args) => push::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Get(args) => get::run_get(args),
        Command::List(args) => get::run_list(args),
        Command::Stop(args) => stop::run(args),
        Command::Continue(args) => stop::run_continue(args),
        Command::Instances(args) => instances::run(args),
        Command::Logs(args) => logs::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Lb(args) => lb::run(args),
        Command::Alarm(args) => alarm::run(args),
        Command::Events(args) => events::run(args),
        Command::Deliveries(args) => events::run_deliveries(args),
        Command::Audit(args) => audit::run(args),
        Command::Secret(args) => secret::run(args),
        Command::Pipeline(args) => pipeline::run(args),
        Command::TaskDefinition(args) => task_definition::run(args),
        Command::Service(args) => services::run(args),
        Command::ScalingGroup(args) => scaling_group::run(args),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("cannot listen for SIGTERM");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Logs to stderr, human-readable or JSON (`FERRY_LOG_FORMAT=json`), filtered by `RUST_LOG` (default info).
pub(crate) fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("FERRY_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
