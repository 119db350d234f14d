//! The model's rules for request members, with CodeDeploy's exception
//! names. botocore checks only required members and lengths on the client
//! side; other clients check nothing, so the server checks everything.

use crate::{AwsError, AwsResult};

/// Resources named by CodeDeploy's name rule (1–100 of `[A-Za-z0-9+=,.@_-]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    Application,
    DeploymentGroup,
    DeploymentConfig,
    Instance,
}

impl Name {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Name::Application => ("Application", "application name"),
            Name::DeploymentGroup => ("DeploymentGroup", "deployment group name"),
            Name::DeploymentConfig => ("DeploymentConfig", "deployment configuration name"),
            Name::Instance => ("Instance", "instance name"),
        }
    }

    /// `<Kind>NameRequiredException`.
    pub fn required_error(self) -> AwsError {
        let (kind, words) = self.words();
        AwsError::new(format!("{kind}NameRequiredException"), format!("The {words} is required but was not specified."))
    }

    /// `Invalid<Kind>NameException`, saying what is wrong.
    pub fn invalid_error(self, name: &str, why: &str) -> AwsError {
        let (kind, words) = self.words();
        AwsError::new(format!("Invalid{kind}NameException"), format!("The {words} {name:?} is invalid: {why}."))
    }

    /// The name, checked: present, 1–100 characters, allowed characters only.
    pub fn check(self, value: Option<&str>) -> AwsResult<&str> {
        let name = value.filter(|v| !v.is_empty()).ok_or_else(|| self.required_error())?;
        if name.chars().count() > 100 {
            return Err(self.invalid_error(name, "names are at most 100 characters"));
        }
        if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))) {
            return Err(self.invalid_error(name, &format!("{c:?} is not allowed (letters, digits and +=,.@_- are)")));
        }
        if ferry_core::ids::is_dot_name(name) {
            return Err(
                self.invalid_error(name, "\".\" and \"..\" cannot be names (URLs and paths could not reach them)")
            );
        }
        if self == Name::Instance && name.starts_with("i-") {
            return Err(self.invalid_error(name, "on-premises instance names must not start with \"i-\""));
        }
        Ok(name)
    }

    /// Checks a list of names: present, not empty, each valid, at most `limit`.
    pub fn check_list(self, values: Option<&[String]>, limit: usize) -> AwsResult<Vec<String>> {
        let values = values.filter(|v| !v.is_empty()).ok_or_else(|| self.required_error())?;
        batch_limit(values.len(), limit)?;
        values.iter().map(|v| self.check(Some(v)).map(str::to_string)).collect()
    }
}

/// `BatchLimitExceededException` beyond `limit` items.
pub fn batch_limit(count: usize, limit: usize) -> AwsResult<()> {
    if count > limit {
        return Err(AwsError::new(
            "BatchLimitExceededException",
            format!(
                "The maximum number of names or IDs allowed for this request ({limit}) was exceeded (got {count})."
            ),
        ));
    }
    Ok(())
}

/// A deployment id, present and of the form `d-XXXXXXXXX`.
pub fn deployment_id(value: Option<&str>) -> AwsResult<&str> {
    let id = value.filter(|v| !v.is_empty()).ok_or_else(|| {
        AwsError::new("DeploymentIdRequiredException", "At least one deployment ID must be specified.")
    })?;
    if !ferry_core::ids::is_deployment_id(id) {
        return Err(invalid_deployment_id(id));
    }
    Ok(id)
}

pub fn invalid_deployment_id(id: &str) -> AwsError {
    AwsError::new(
        "InvalidDeploymentIdException",
        format!(
            "The deployment ID {id:?} is not in a valid format (d- followed by nine upper-case letters or digits)."
        ),
    )
}

/// A description of at most 256 characters.
pub fn description(value: Option<&str>) -> AwsResult<Option<String>> {
    match value {
        Some(d) if d.chars().count() > 256 => Err(AwsError::new(
            "DescriptionTooLongException",
            format!("The description is too long: at most 256 characters (got {}).", d.chars().count()),
        )),
        Some(d) => Ok(Some(d.to_string())),
        None => Ok(None),
    }
}

/// A string member that must be one of `allowed`.
pub fn one_of<'a>(value: &'a str, allowed: &[&str], exception: &'static str, what: &str) -> AwsResult<&'a str> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(AwsError::new(exception, format!("{what} {value:?} is not valid: expected one of {}.", allowed.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_codedeploys_rule() {
        assert_eq!(Name::Application.check(Some("my-app_1.0@x")).unwrap(), "my-app_1.0@x");
        assert_eq!(Name::Application.check(None).unwrap_err().code, "ApplicationNameRequiredException");
        assert_eq!(Name::Application.check(Some("")).unwrap_err().code, "ApplicationNameRequiredException");
        assert_eq!(Name::DeploymentGroup.check(Some("a b")).unwrap_err().code, "InvalidDeploymentGroupNameException");
        assert_eq!(
            Name::DeploymentConfig.check(Some(&"x".repeat(101))).unwrap_err().code,
            "InvalidDeploymentConfigNameException"
        );
        assert_eq!(Name::Instance.check(Some("i-123")).unwrap_err().code, "InvalidInstanceNameException");
        let many: Vec<String> = (0..101).map(|i| format!("a{i}")).collect();
        assert_eq!(Name::Application.check_list(Some(&many), 100).unwrap_err().code, "BatchLimitExceededException");
    }

    #[test]
    fn deployment_ids_and_descriptions() {
        assert!(deployment_id(Some("d-ABCDEFGH1")).is_ok());
        assert_eq!(deployment_id(None).unwrap_err().code, "DeploymentIdRequiredException");
        assert_eq!(deployment_id(Some("d-nope")).unwrap_err().code, "InvalidDeploymentIdException");
        assert_eq!(description(Some(&"x".repeat(257))).unwrap_err().code, "DescriptionTooLongException");
        assert_eq!(
            one_of("x", &["a", "b"], "InvalidSortByException", "sortBy").unwrap_err().code,
            "InvalidSortByException"
        );
    }
}
