//! CodePipeline's ARNs: `arn:aws:codepipeline:<region>:<account>:` then the
//! pipeline's name, `actiontype:<owner>/<category>/<provider>/<version>` or
//! `webhook:<name>`. Built with ferry's region and account ([`Arns`]); any
//! region and account are accepted on input (the model wants a 12-digit
//! account, which its pattern checks).

use super::validate::invalid_arn;
use super::wire::ActionTypeId;
use crate::AwsResult;
use crate::arn::Arns;

/// A CodePipeline resource named by an ARN (the tagging operations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Pipeline(String),
    ActionType { owner: String, category: String, provider: String, version: String },
    Webhook(String),
}

impl Arns {
    fn codepipeline(&self, resource: &str) -> String {
        format!("arn:aws:codepipeline:{}:{}:{resource}", self.region, self.account)
    }

    pub fn pipeline(&self, name: &str) -> String {
        self.codepipeline(name)
    }

    /// A (custom) action type's ARN, by its id.
    pub fn action_type(&self, id: &ActionTypeId) -> String {
        let part = |v: &Option<String>| v.clone().unwrap_or_default();
        self.codepipeline(&format!(
            "actiontype:{}/{}/{}/{}",
            part(&id.owner),
            part(&id.category),
            part(&id.provider),
            part(&id.version)
        ))
    }

    pub fn pipeline_webhook(&self, name: &str) -> String {
        self.codepipeline(&format!("webhook:{name}"))
    }
}

/// What a CodePipeline ARN names, or `InvalidArnException`.
pub fn parse_resource(arn: &str) -> AwsResult<Resource> {
    let invalid = || invalid_arn(format!("The ARN {arn:?} is not the ARN of a pipeline, action type or webhook"));
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") || parts[2] != "codepipeline" {
        return Err(invalid());
    }
    let resource = parts[5];
    let name_ok = |n: &str| is_name(n);
    if let Some(rest) = resource.strip_prefix("actiontype:") {
        let fields: Vec<&str> = rest.split('/').collect();
        return match fields.as_slice() {
            [owner, category, provider, version]
                if [owner, category, provider, version].iter().all(|f| !f.is_empty()) =>
            {
                Ok(Resource::ActionType {
                    owner: owner.to_string(),
                    category: category.to_string(),
                    provider: provider.to_string(),
                    version: version.to_string(),
                })
            }
            _ => Err(invalid()),
        };
    }
    if let Some(name) = resource.strip_prefix("webhook:") {
        return if name_ok(name) { Ok(Resource::Webhook(name.to_string())) } else { Err(invalid()) };
    }
    if name_ok(resource) { Ok(Resource::Pipeline(resource.to_string())) } else { Err(invalid()) }
}

/// The pipeline named by a pipeline ARN, if `arn` is one.
pub fn pipeline_name(arn: &str) -> Option<String> {
    match parse_resource(arn) {
        Ok(Resource::Pipeline(name)) => Some(name),
        _ => None,
    }
}

/// Pipeline, stage and action names: 1–100 of `[A-Za-z0-9.@\-_]`.
pub fn is_name(name: &str) -> bool {
    (1..=100).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || ".@-_".contains(c))
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
        assert_eq!(a.pipeline("web"), "arn:aws:codepipeline:us-east-1:000000000000:web");
        assert_eq!(parse_resource(&a.pipeline("web.v2@x")).unwrap(), Resource::Pipeline("web.v2@x".into()));
        assert_eq!(pipeline_name(&a.pipeline("web")).as_deref(), Some("web"));
        let id = ActionTypeId {
            category: Some("Build".into()),
            owner: Some("Custom".into()),
            provider: Some("Make".into()),
            version: Some("1".into()),
        };
        let arn = a.action_type(&id);
        assert_eq!(arn, "arn:aws:codepipeline:us-east-1:000000000000:actiontype:Custom/Build/Make/1");
        assert_eq!(
            parse_resource(&arn).unwrap(),
            Resource::ActionType {
                owner: "Custom".into(),
                category: "Build".into(),
                provider: "Make".into(),
                version: "1".into()
            }
        );
        assert_eq!(pipeline_name(&arn), None);
        assert_eq!(parse_resource(&a.pipeline_webhook("hook")).unwrap(), Resource::Webhook("hook".into()));
        // Another region, partition and account are fine.
        assert_eq!(pipeline_name("arn:aws-cn:codepipeline:cn-north-1:123456789012:p").as_deref(), Some("p"));
    }

    #[test]
    fn other_arns_are_invalid_arn() {
        for bad in [
            "arn:aws:codebuild:r:000000000000:project/web",
            "arn:aws:codepipeline:r:000000000000:",
            "arn:aws:codepipeline:r:000000000000:a/b",
            "arn:aws:codepipeline:r:000000000000:actiontype:Custom/Build/Make",
            "arn:aws:codepipeline:r:000000000000:actiontype:Custom/Build//1",
            "arn:aws:codepipeline:r:000000000000:webhook:",
            "arn:aws:codepipeline:r:000000000000:webhook:a:b",
            "web",
        ] {
            assert_eq!(parse_resource(bad).unwrap_err().code, "InvalidArnException", "{bad}");
        }
        assert!(!is_name(&"x".repeat(101)));
        assert!(is_name(&"x".repeat(100)));
    }
}
