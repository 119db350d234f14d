//! Text to model. (Being written.)
use crate::{AppSpec, AppSpecError, ServerAppSpec};

/// Parses any appspec (YAML or JSON), detecting the platform from its keys.
pub fn parse(file: &str, text: &str) -> Result<AppSpec, AppSpecError> {
    let _ = (file, text);
    Err(AppSpecError { file: file.into(), key: String::new(), message: "not yet implemented".into() })
}

/// Parses a Server-platform appspec for a Linux host.
pub fn parse_server(file: &str, text: &str) -> Result<ServerAppSpec, AppSpecError> {
    match parse(file, text)? {
        AppSpec::Server(s) => Ok(s),
        _ => Err(AppSpecError { file: file.into(), key: "Resources".into(), message: "expected a Server-platform appspec".into() }),
    }
}
