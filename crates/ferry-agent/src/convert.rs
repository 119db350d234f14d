//! Between the wire types of the agent protocol and the host engine's types.

use ferry_appspec::FileExistsBehavior;
use ferry_bundle::BundleType;
use ferry_host::{Creator, DeploymentType, ErrorCode, RevisionSource};
use ferry_proto::agent;

/// The host engine's view of a deployment spec sent by the server. Fails
/// (with a message for the event's diagnostics) on values the agent does
/// not understand.
pub fn to_host_spec(spec: &agent::DeploymentSpec) -> Result<ferry_host::DeploymentSpec, String> {
    let bundle_type = match BundleType::from_name(&spec.revision.bundle_type) {
        Some(BundleType::Directory) | None => {
            return Err(format!(
                "unsupported bundle type {:?} for revision {}: expected zip, tar or tgz",
                spec.revision.bundle_type, spec.revision.id
            ));
        }
        Some(kind) => kind,
    };
    let file_exists_behavior = match spec.file_exists_behavior.as_deref() {
        None | Some("") => None,
        Some(name) => Some(FileExistsBehavior::from_name(name).ok_or_else(|| {
            format!("unsupported file_exists_behavior {name:?}: expected DISALLOW, OVERWRITE or RETAIN")
        })?),
    };
    let revision = match &spec.revision.source {
        agent::RevisionSource::Server => RevisionSource::Server,
        agent::RevisionSource::S3 { bucket, key, version, etag } => RevisionSource::S3 {
            bucket: bucket.clone(),
            key: key.clone(),
            version: version.clone(),
            etag: etag.clone(),
        },
        agent::RevisionSource::GitHub { repository, commit } => {
            RevisionSource::GitHub { repository: repository.clone(), commit: commit.clone() }
        }
    };
    Ok(ferry_host::DeploymentSpec {
        deployment_id: spec.deployment_id.clone(),
        application_name: spec.application_name.clone(),
        deployment_group_name: spec.deployment_group_name.clone(),
        deployment_group_id: spec.deployment_group_id.clone(),
        revision,
        bundle_type,
        appspec_filename: spec.appspec_filename.clone().filter(|name| !name.is_empty()),
        file_exists_behavior,
        creator: if spec.creator == "codeDeployRollback" { Creator::Rollback } else { Creator::User },
        deployment_type: if spec.deployment_type == "BLUE_GREEN" {
            DeploymentType::BlueGreen
        } else {
            DeploymentType::InPlace
        },
        all_possible_events: spec.all_possible_events.clone(),
    })
}

/// The wire form of an event's diagnostics: the error code as CodeDeploy's
/// API spells it (`Success` rather than `Succeeded`).
pub fn to_proto_diagnostics(diagnostics: &ferry_host::Diagnostics) -> agent::Diagnostics {
    let error_code = match diagnostics.error_code {
        ErrorCode::Succeeded => "Success",
        other => other.as_str(),
    };
    agent::Diagnostics {
        error_code: error_code.to_string(),
        script_name: diagnostics.script_name.clone(),
        message: diagnostics.message.clone(),
        log_tail: diagnostics.log.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> agent::DeploymentSpec {
        agent::DeploymentSpec {
            deployment_id: "d-1".into(),
            application_name: "app".into(),
            deployment_group_name: "group".into(),
            deployment_group_id: "g-1".into(),
            revision: agent::Revision {
                id: "r-1".into(),
                bundle_type: "tgz".into(),
                sha256: "00".into(),
                size: 1,
                source: agent::RevisionSource::S3 {
                    bucket: "b".into(),
                    key: "k".into(),
                    version: Some("v".into()),
                    etag: None,
                },
            },
            appspec_filename: Some("custom.yml".into()),
            file_exists_behavior: Some("OVERWRITE".into()),
            creator: "codeDeployRollback".into(),
            deployment_type: "BLUE_GREEN".into(),
            all_possible_events: Some(vec!["Install".into()]),
        }
    }

    #[test]
    fn maps_every_field() {
        let host = to_host_spec(&spec()).unwrap();
        assert_eq!(host.bundle_type, BundleType::Tgz);
        assert_eq!(host.file_exists_behavior, Some(FileExistsBehavior::Overwrite));
        assert_eq!(host.creator, Creator::Rollback);
        assert_eq!(host.deployment_type, DeploymentType::BlueGreen);
        assert_eq!(host.appspec_filename.as_deref(), Some("custom.yml"));
        assert_eq!(
            host.revision,
            RevisionSource::S3 { bucket: "b".into(), key: "k".into(), version: Some("v".into()), etag: None }
        );
        assert_eq!(host.all_possible_events, Some(vec!["Install".to_string()]));

        let mut plain = spec();
        plain.creator = "user".into();
        plain.deployment_type = "IN_PLACE".into();
        plain.file_exists_behavior = None;
        plain.revision.source = agent::RevisionSource::Server;
        let host = to_host_spec(&plain).unwrap();
        assert_eq!((host.creator, host.deployment_type), (Creator::User, DeploymentType::InPlace));
        assert_eq!((host.revision, host.file_exists_behavior), (RevisionSource::Server, None));
    }

    #[test]
    fn rejects_unknown_values() {
        let mut bad = spec();
        bad.revision.bundle_type = "rar".into();
        assert!(to_host_spec(&bad).unwrap_err().contains("rar"));
        let mut bad = spec();
        bad.file_exists_behavior = Some("overwrite".into());
        assert!(to_host_spec(&bad).unwrap_err().contains("overwrite"));
    }

    #[test]
    fn diagnostics_use_the_api_spelling() {
        let ok = to_proto_diagnostics(&ferry_host::Diagnostics::success("out".into()));
        assert_eq!((ok.error_code.as_str(), ok.log_tail.as_str()), ("Success", "out"));
        let restart = to_proto_diagnostics(&ferry_host::Diagnostics::failed_after_restart());
        assert_eq!(restart.error_code, "FailedAfterRestart");
        assert_eq!(restart.message, "Failed: Failing in-progress lifecycle event after an agent restart.");
    }
}
