//! `ferry audit`: the audit log of mutating calls (admin only).
//!
//! `--json` prints `Vec<ferry_proto::api::AuditEntry>`.

use std::process::ExitCode;

use clap::Args;
use ferry_proto::api;

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, query};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only calls signed with this access key.
    #[arg(long, value_name = "ID")]
    key: Option<String>,
    /// Only calls this recent (e.g. 1h, 30m, 7d… any DURATION).
    #[arg(long, value_name = "DURATION", value_parser = output::parse_duration_ms)]
    since: Option<u64>,
    /// Only refused or failed calls.
    #[arg(long)]
    refused: bool,
    /// At most this many (the newest).
    #[arg(long, default_value_t = 200)]
    limit: u32,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Widest cell of the table, in characters.
const MAX_CELL: usize = 200;

pub fn run(args: AuditArgs) -> ExitCode {
    output::finish(audit(args))
}

fn audit(args: AuditArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let since = args.since.map(|ms| output::now_millis().saturating_sub(ms).to_string());
    let limit = args.limit.to_string();
    let q = query(&[
        ("key", args.key.as_deref()),
        ("since", since.as_deref()),
        ("refused", args.refused.then_some("true")),
        ("limit", Some(&limit)),
    ]);
    let entries: Vec<api::AuditEntry> = client.get("/api/v1/audit", &q)?;
    if args.json {
        output::print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    table(&entries).print();
    Ok(ExitCode::SUCCESS)
}

/// The human view: one row per entry, every cell escaped and cut.
fn table(entries: &[api::AuditEntry]) -> Table {
    let mut t = Table::new(&["TIME", "KEY", "ROLE", "FROM", "API", "ACTION", "TARGET", "RESULT"]);
    for e in entries {
        let result = match &e.error {
            Some(code) => format!("{} {code}", e.status),
            None => e.status.to_string(),
        };
        // Entries written before the server bounded them may hold megabytes.
        let cut = |text: String| output::truncate(&output::clean_line(&text), MAX_CELL);
        t.row(vec![
            output::utc(e.time),
            cut(output::or_dash(e.key_id.as_deref())),
            output::or_dash(e.role.as_deref()),
            cut(e.source.clone()),
            cut(e.api.clone()),
            cut(e.action.clone()),
            cut(output::or_dash(e.target.as_deref())),
            cut(result),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_shown_escaped_and_cut() {
        let entry = api::AuditEntry {
            seq: 1,
            time: 0,
            key_id: Some(format!("\u{1b}[2J{}", "K".repeat(1_000_000))),
            role: None,
            source: "10.0.0.1".into(),
            api: "console".into(),
            action: "console sign-in".into(),
            target: None,
            status: 401,
            error: Some("Error".into()),
        };
        let lines = table(&[entry]).lines();
        assert!(lines[1].len() < 400, "{} bytes", lines[1].len());
        assert!(lines[1].contains(r"\u{1b}[2JKKK") && lines[1].contains('…'), "{}", lines[1]);
        assert!(!lines[1].contains('\u{1b}'));
    }
}
