//! `ferry logs`: the hook output tails a deployment's instances reported.

use std::process::ExitCode;

use clap::Args;
use ferry_proto::api::DeploymentView;

use super::deploy::{self, deployment_path};
use super::output;
use crate::client::{Client, Error, ServerArgs};

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The deployment's id (d-…).
    deployment_id: String,
    /// Only this instance.
    #[arg(long, value_name = "NAME")]
    instance: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(args: LogsArgs) -> ExitCode {
    output::finish(logs(args))
}

fn logs(args: LogsArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let view: DeploymentView = client.get(&deployment_path(&args.deployment_id), "")?;
    let lines = render(&view, args.instance.as_deref())?;
    if lines.is_empty() {
        eprintln!("no hook output recorded for {}", view.id);
    }
    for line in lines {
        output::say!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// For each instance (or the one named), each event that failed or has a
/// log tail: its name, status and error code, then script, message and the
/// tail, indented.
fn render(view: &DeploymentView, instance: Option<&str>) -> Result<Vec<String>, Error> {
    if let Some(name) = instance
        && !view.instances.iter().any(|t| t.instance == name)
    {
        let known: Vec<&str> = view.instances.iter().map(|t| t.instance.as_str()).collect();
        return Err(Error::Setup(format!(
            "deployment {} has no instance {name} (it has: {})",
            view.id,
            if known.is_empty() { "none".into() } else { known.join(", ") }
        )));
    }
    let mut lines = Vec::new();
    for target in view.instances.iter().filter(|t| instance.is_none_or(|name| t.instance == name)) {
        let mut section = Vec::new();
        for event in &target.events {
            let failed = event.status == "Failed";
            let has_tail = event.diagnostics.as_ref().is_some_and(|d| !d.log_tail.trim().is_empty());
            if !failed && !has_tail {
                continue;
            }
            let mut title = format!("{} {}", event.name, event.status);
            if let Some(d) =
                event.diagnostics.as_ref().filter(|d| !d.error_code.is_empty() && d.error_code != "Success")
            {
                title.push_str(&format!(" ({})", d.error_code));
            }
            if let Some(ms) = deploy::event_elapsed(event, output::now_millis()) {
                title.push_str(&format!(" in {}", output::duration(ms)));
            }
            section.push(format!("  {title}"));
            if let Some(d) = &event.diagnostics {
                section.extend(deploy::diagnostics(d, "    "));
            }
        }
        if !section.is_empty() {
            if !lines.is_empty() {
                lines.push(String::new());
            }
            lines.push(format!("== {} ({}) ==", target.instance, target.status));
            lines.extend(section);
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::super::deploy::tests::{FAILED, IN_PROGRESS, view};
    use super::*;

    #[test]
    fn shows_failed_events_and_tails() {
        let mut v = view(FAILED);
        v.instances[0].events[2].diagnostics = Some(ferry_proto::agent::Diagnostics {
            error_code: "Success".into(),
            script_name: "check.sh".into(),
            message: "Succeeded".into(),
            log_tail: "[stdout]ok\n".into(),
        });
        assert_eq!(
            render(&v, None).unwrap(),
            vec![
                "== web-1 (Succeeded) ==",
                "  ValidateService Succeeded in 100 ms",
                "    script: check.sh",
                "    message: Succeeded",
                "    log tail:",
                "      [stdout]ok",
                "",
                "== web-2 (Failed) ==",
                "  ApplicationStart Failed (ScriptFailed) in 2.0 s",
                "    script: scripts/start.sh",
                "    message: Script at specified location: scripts/start.sh failed with exit code 3",
                "    log tail:",
                "      [stdout]starting",
                "      [stderr]port 80 in use",
            ]
        );
        assert_eq!(render(&v, Some("web-2")).unwrap()[0], "== web-2 (Failed) ==");
        assert_eq!(render(&v, Some("web-2")).unwrap().len(), 7);
    }

    #[test]
    fn nothing_to_show_and_unknown_instances() {
        let v = view(IN_PROGRESS);
        assert!(render(&v, None).unwrap().is_empty());
        let e = render(&v, Some("web-9")).unwrap_err();
        assert_eq!(e.to_string(), "deployment d-ABC123 has no instance web-9 (it has: web-1, web-2, web-3)");
    }
}
