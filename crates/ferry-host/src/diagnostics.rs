//! The outcome record of one lifecycle event, in CodeDeploy's terms.

use serde::{Deserialize, Serialize};

/// CodeDeploy's script error codes (the numbers are the agent's wire values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    Succeeded = 0,
    ScriptMissing = 1,
    ScriptNotExecutable = 2,
    ScriptTimedOut = 3,
    ScriptFailed = 4,
    UnknownError = 5,
    OutputsLeftOpen = 6,
    FailedAfterRestart = 7,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::ScriptMissing => "ScriptMissing",
            Self::ScriptNotExecutable => "ScriptNotExecutable",
            Self::ScriptTimedOut => "ScriptTimedOut",
            Self::ScriptFailed => "ScriptFailed",
            Self::UnknownError => "UnknownError",
            Self::OutputsLeftOpen => "OutputsLeftOpen",
            Self::FailedAfterRestart => "FailedAfterRestart",
        }
    }

    pub fn number(self) -> u8 {
        self as u8
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// At most this many characters of script output are kept in [`Diagnostics::log`].
pub const LOG_TAIL_LIMIT: usize = 2048;

/// The diagnostics of one lifecycle event: what CodeDeploy's agent sends in
/// `PutHostCommandComplete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics {
    pub error_code: ErrorCode,
    /// The script's `location` as written in the appspec; empty when no script is to blame.
    pub script_name: String,
    pub message: String,
    /// Tail of the event's script output, at most [`LOG_TAIL_LIMIT`] characters.
    pub log: String,
}

impl Diagnostics {
    /// A success record with the given output tail.
    pub fn success(log: String) -> Self {
        Self { error_code: ErrorCode::Succeeded, script_name: String::new(), message: "Succeeded: ".into(), log }
    }

    /// An `UnknownError` for failures that are not a script's fault.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self {
            error_code: ErrorCode::UnknownError,
            script_name: String::new(),
            message: message.into(),
            log: String::new(),
        }
    }

    /// The record sent after an agent restart for the event it was running.
    pub fn failed_after_restart() -> Self {
        Self {
            error_code: ErrorCode::FailedAfterRestart,
            script_name: String::new(),
            message: "Failed: Failing in-progress lifecycle event after an agent restart.".into(),
            log: String::new(),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.error_code == ErrorCode::Succeeded
    }
}
