//! ARNs in CodeDeploy's forms. ferry runs in one "region" and "account" of
//! its own choosing (server settings): they only make the ARNs look as AWS
//! clients expect; any region and account are accepted on input.

use sha2::Digest;

use crate::{AwsError, AwsResult};

/// The region and account ARNs are built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arns {
    pub region: String,
    pub account: String,
}

/// A resource named by an ARN that ferry can tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Application(String),
    DeploymentGroup { application: String, group: String },
    DeploymentConfig(String),
}

impl Arns {
    fn prefix(&self) -> String {
        format!("arn:aws:codedeploy:{}:{}", self.region, self.account)
    }

    pub fn application(&self, name: &str) -> String {
        format!("{}:application:{name}", self.prefix())
    }

    pub fn deployment_group(&self, application: &str, group: &str) -> String {
        format!("{}:deploymentgroup:{application}/{group}", self.prefix())
    }

    pub fn deployment_config(&self, name: &str) -> String {
        format!("{}:deploymentconfig:{name}", self.prefix())
    }

    /// `…:instance/<name>_<10 alphanumerics>`; the suffix is derived from
    /// the name, so the ARN is stable.
    /// An ECS service's ARN from CodeDeploy's target id `cluster:service`.
    pub fn ecs_service(&self, target: &str) -> String {
        let (cluster, service) = target.split_once(':').unwrap_or(("default", target));
        format!("arn:aws:ecs:{}:{}:service/{cluster}/{service}", self.region, self.account)
    }

    pub fn instance(&self, name: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let digest = sha2::Sha256::digest(name.as_bytes());
        let suffix: String =
            digest.iter().take(10).map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
        format!("{}:instance/{name}_{suffix}", self.prefix())
    }
}

/// The instance name in an instance ARN made by [`Arns::instance`], if `arn` is one.
pub fn instance_name(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:codedeploy:")?;
    let (_, resource) = rest.split_once(":instance/")?;
    let (name, suffix) = resource.rsplit_once('_')?;
    (suffix.len() == 10 && suffix.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(name)
}

/// Parses the ARN of a taggable resource.
pub fn parse(arn: Option<&str>) -> AwsResult<Resource> {
    let arn = arn.filter(|a| !a.is_empty()).ok_or_else(|| {
        AwsError::new("ResourceArnRequiredException", "The ARN of a resource is required, but was not found.")
    })?;
    let invalid = || AwsError::new("InvalidArnException", format!("The specified ARN is not in a valid format: {arn}"));
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "codedeploy" {
        return Err(invalid());
    }
    let resource = parts[5];
    let (kind, name) = resource.split_once(':').ok_or_else(invalid)?;
    if name.is_empty() {
        return Err(invalid());
    }
    match kind {
        "application" => Ok(Resource::Application(name.to_string())),
        "deploymentgroup" => {
            let (application, group) = name.split_once('/').ok_or_else(invalid)?;
            if application.is_empty() || group.is_empty() {
                return Err(invalid());
            }
            Ok(Resource::DeploymentGroup { application: application.to_string(), group: group.to_string() })
        }
        "deploymentconfig" => Ok(Resource::DeploymentConfig(name.to_string())),
        _ => Err(AwsError::new(
            "ArnNotSupportedException",
            format!(
                "The specified ARN is not supported: {arn}. Tag applications, deployment groups or deployment configs."
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arns() -> Arns {
        Arns { region: "us-east-1".into(), account: "000000000000".into() }
    }

    #[test]
    fn arns_round_trip() {
        let a = arns();
        assert_eq!(parse(Some(&a.application("shop"))).unwrap(), Resource::Application("shop".into()));
        assert_eq!(
            parse(Some(&a.deployment_group("shop", "web"))).unwrap(),
            Resource::DeploymentGroup { application: "shop".into(), group: "web".into() }
        );
        assert_eq!(
            parse(Some("arn:aws:codedeploy:eu-west-1:123:application:x")).unwrap(),
            Resource::Application("x".into())
        );
        let instance = a.instance("web-1");
        assert!(instance.starts_with("arn:aws:codedeploy:us-east-1:000000000000:instance/web-1_"));
        assert_eq!(instance_name(&instance), Some("web-1"));
        assert_eq!(instance, a.instance("web-1"));
    }

    #[test]
    fn bad_arns_get_aws_errors() {
        assert_eq!(parse(None).unwrap_err().code, "ResourceArnRequiredException");
        assert_eq!(parse(Some("nope")).unwrap_err().code, "InvalidArnException");
        assert_eq!(parse(Some("arn:aws:s3:::bucket")).unwrap_err().code, "InvalidArnException");
        assert_eq!(
            parse(Some("arn:aws:codedeploy:r:a:deploymentgroup:noslash")).unwrap_err().code,
            "InvalidArnException"
        );
        assert_eq!(
            parse(Some("arn:aws:codedeploy:r:a:instance/x_1234567890")).unwrap_err().code,
            "InvalidArnException"
        );
        assert_eq!(parse(Some("arn:aws:codedeploy:r:a:deployment:d-1")).unwrap_err().code, "ArnNotSupportedException");
    }
}
