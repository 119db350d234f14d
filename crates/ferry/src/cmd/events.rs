//! `ferry events`: the event stream (every state change), and `ferry
//! deliveries`: trigger webhooks and how their delivery went.
//!
//! `ferry events --json` prints one `ferry_proto::api::Event` per line;
//! `ferry deliveries --json` prints `Vec<ferry_proto::api::Delivery>`.

use std::process::ExitCode;

use clap::Args;
use ferry_proto::api;

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, query};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this deployment's events (with --follow: until it is over).
    #[arg(long, value_name = "ID")]
    deployment: Option<String>,
    /// Keep following new events (server-sent events) instead of stopping.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Events after this sequence number [default: from the first].
    #[arg(long, value_name = "SEQ")]
    after: Option<u64>,
    /// One JSON document (`ferry_proto::api::Event`) per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    #[arg(long, value_name = "ID")]
    deployment: Option<String>,
    /// Pending, Delivered or Failed.
    #[arg(long, value_parser = ["Pending", "Delivered", "Failed"])]
    state: Option<String>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(args: EventsArgs) -> ExitCode {
    output::finish(events(args))
}

fn line(e: &api::Event) -> String {
    let subject = e.build_id.as_deref().unwrap_or(&e.deployment_id);
    let mut text = format!("{:>6}  {}  {:<18} {}", e.seq, output::utc(e.time), e.kind, subject);
    if let Some(instance) = &e.instance {
        text.push_str(&format!(" {instance}"));
    }
    if let Some(event) = &e.lifecycle_event {
        text.push_str(&format!(" {event}"));
    }
    text.push_str(&format!(" {}", e.status));
    // A succeeded event's diagnostics say "Succeeded" again: not worth a second word.
    if let Some(message) = e.message.as_deref().filter(|m| !m.eq_ignore_ascii_case(&e.status)) {
        text.push_str(&format!(": {}", output::truncate(message, 160)));
    }
    text
}

fn events(args: EventsArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let after = args.after.map(|a| a.to_string());
    let print = |e: &api::Event| -> Result<(), Error> {
        if args.json {
            println!("{}", serde_json::to_string(e).map_err(|e| Error::Other(e.to_string()))?);
        } else {
            output::say!("{}", line(e));
        }
        Ok(())
    };
    if !args.follow {
        let q = query(&[
            ("after", after.as_deref()),
            ("deployment", args.deployment.as_deref()),
            ("follow", Some("false")),
        ]);
        let list: Vec<api::Event> = client.get("/api/v1/events", &q)?;
        for e in &list {
            print(e)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let q = query(&[("after", after.as_deref()), ("deployment", args.deployment.as_deref())]);
    let mut failure = None;
    client.follow_events("/api/v1/events", &q, |_, data| match serde_json::from_str::<api::Event>(data) {
        Ok(e) => match print(&e) {
            Ok(()) => true,
            Err(err) => {
                failure = Some(err);
                false
            }
        },
        Err(err) => {
            failure = Some(Error::Other(format!("an event this ferry cannot read: {err}")));
            false
        }
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

pub fn run_deliveries(args: DeliveriesArgs) -> ExitCode {
    output::finish((|| {
        let client = Client::connect(&args.server)?;
        let q = query(&[("deployment", args.deployment.as_deref()), ("state", args.state.as_deref())]);
        let list: Vec<api::Delivery> = client.get("/api/v1/deliveries", &q)?;
        if args.json {
            output::print_json(&list)?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut table = Table::new(&["DELIVERY", "DEPLOYMENT", "TRIGGER", "EVENT", "STATE", "ATTEMPTS", "LAST ERROR"]);
        for d in &list {
            table.row(vec![
                d.id.clone(),
                d.deployment_id.clone(),
                d.trigger_name.clone(),
                d.event.clone(),
                d.state.clone(),
                d.attempts.to_string(),
                output::or_dash(d.last_error.as_deref()),
            ]);
        }
        table.print();
        Ok(ExitCode::SUCCESS)
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(status: &str, message: Option<&str>) -> api::Event {
        api::Event {
            seq: 7,
            time: 0,
            kind: "LifecycleEvent".into(),
            deployment_id: "d-ABCDEFGHI".into(),
            application_name: "shop".into(),
            group_name: "web".into(),
            instance: Some("web1".into()),
            lifecycle_event: Some("Install".into()),
            status: status.into(),
            message: message.map(str::to_string),
            build_id: None,
            project: None,
            build_number: None,
        }
    }

    #[test]
    fn a_message_that_repeats_the_status_is_not_printed_twice() {
        let ok = line(&event("Succeeded", Some("Succeeded")));
        assert!(ok.ends_with("web1 Install Succeeded"), "{ok}");
        let failed = line(&event("Failed", Some("Script at specified location: x failed with exit code 1")));
        assert!(
            failed.ends_with("Install Failed: Script at specified location: x failed with exit code 1"),
            "{failed}"
        );
    }
}
