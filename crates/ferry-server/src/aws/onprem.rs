//! On-premises instances: every ferry host is one. Registering one by the
//! AWS API names it (with its IAM ARN, kept for the CLI's sake) and tags it;
//! its agent then enrols under that name with the join token. Deregistering
//! revokes the agent's credential.

use ferry_aws::convert;
use ferry_aws::validate::{self, Name};
use ferry_aws::{AwsError, AwsResult, token, wire};
use ferry_core::resources::{Instance, InstanceSelector};
use ferry_store::StoreError;
use serde_json::{Value, json};

use super::resources::with_token;
use super::{Ctx, json, store_error};
use crate::clock::now_millis;

const MAX_INSTANCE_TAGS: usize = 10;

fn not_registered(name: &str) -> AwsError {
    AwsError::new("InstanceNotRegisteredException", format!("The on-premises instance {name} is not registered."))
}

async fn registered(ctx: &Ctx<'_>, name: &str) -> AwsResult<Instance> {
    match ctx.state.store.get_instance(name).await {
        Ok(i) if i.deregister_time.is_none() => Ok(i),
        Ok(_) | Err(StoreError::NotFound) => Err(not_registered(name)),
        Err(e) => Err(store_error(e)),
    }
}

/// `arn:aws:iam::<account>:user/…` or `arn:aws:sts::<account>:assumed-role/…`.
fn check_iam_arn(arn: &str, service: &str, resource: &str, exception: &'static str) -> AwsResult<()> {
    let ok = arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(&format!(":{service}::")))
        .and_then(|(_, rest)| rest.split_once(':'))
        .is_some_and(|(account, rest)| {
            !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) && rest.starts_with(resource)
        });
    if ok { Ok(()) } else { Err(AwsError::new(exception, format!("The ARN {arn:?} is not valid here."))) }
}

pub async fn register(ctx: &Ctx<'_>, input: wire::RegisterOnPremisesInstanceInput) -> AwsResult<Value> {
    let name = Name::Instance.check(input.instance_name.as_deref())?;
    let user = input.iam_user_arn.filter(|a| !a.is_empty());
    let session = input.iam_session_arn.filter(|a| !a.is_empty());
    match (&user, &session) {
        (Some(_), Some(_)) => {
            return Err(AwsError::new(
                "MultipleIamArnsProvidedException",
                "Give either an IAM user ARN or an IAM session ARN, not both.",
            ));
        }
        (None, None) => {
            return Err(AwsError::new("IamArnRequiredException", "An IAM user ARN or an IAM session ARN is required."));
        }
        (Some(arn), None) => check_iam_arn(arn, "iam", "user/", "InvalidIamUserArnException")?,
        (None, Some(arn)) => check_iam_arn(arn, "sts", "assumed-role/", "InvalidIamSessionArnException")?,
    }
    let all = ctx.state.store.list_instances(false).await.map_err(store_error)?;
    for other in all.iter().filter(|i| i.deregister_time.is_none()) {
        if other.name == name {
            return Err(AwsError::new(
                "InstanceNameAlreadyRegisteredException",
                format!("An on-premises instance named {name} is already registered."),
            ));
        }
        if user.is_some() && other.iam_user_arn == user {
            return Err(AwsError::new(
                "IamUserArnAlreadyRegisteredException",
                format!("The IAM user ARN is already registered for instance {}.", other.name),
            ));
        }
        if session.is_some() && other.iam_session_arn == session {
            return Err(AwsError::new(
                "IamSessionArnAlreadyRegisteredException",
                format!("The IAM session ARN is already registered for instance {}.", other.name),
            ));
        }
    }
    let instance = Instance {
        name: name.to_string(),
        tags: Vec::new(),
        register_time: now_millis(),
        deregister_time: None,
        iam_user_arn: user,
        iam_session_arn: session,
        agent_key_id: None,
        agent_version: None,
        address: None,
    };
    ctx.state.store.upsert_instance(&instance).await.map_err(store_error)?;
    ctx.state.driver.joins_wake.notify_one();
    Ok(json!({}))
}

/// Deregistering an unknown instance succeeds, as in CodeDeploy. The
/// instance leaves every group, and its agent's credential is revoked.
pub async fn deregister(ctx: &Ctx<'_>, input: wire::InstanceNameInput) -> AwsResult<Value> {
    let name = Name::Instance.check(input.instance_name.as_deref())?;
    crate::ops::instances::deregister(ctx.state, name, None).await?;
    Ok(json!({}))
}

pub async fn get(ctx: &Ctx<'_>, input: wire::InstanceNameInput) -> AwsResult<Value> {
    let name = Name::Instance.check(input.instance_name.as_deref())?;
    let instance = match ctx.state.store.get_instance(name).await {
        Ok(i) => i,
        Err(StoreError::NotFound) => return Err(not_registered(name)),
        Err(e) => return Err(store_error(e)),
    };
    Ok(json!({ "instanceInfo": json(&convert::instance_info(&instance, &ctx.arns))? }))
}

pub async fn batch_get(ctx: &Ctx<'_>, input: wire::BatchGetOnPremisesInstancesInput) -> AwsResult<Value> {
    let names = Name::Instance.check_list(input.instance_names.as_deref(), 25)?;
    let mut out = Vec::new();
    for name in names {
        match ctx.state.store.get_instance(&name).await {
            Ok(i) => out.push(convert::instance_info(&i, &ctx.arns)),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(store_error(e)),
        }
    }
    Ok(json!({ "instanceInfos": json(&out)? }))
}

/// Instances matching ANY tag filter; deregistered ones too unless a
/// registration status is given, as in CodeDeploy.
pub async fn list(ctx: &Ctx<'_>, input: wire::ListOnPremisesInstancesInput) -> AwsResult<Value> {
    let status = match input.registration_status.as_deref() {
        Some(s) => Some(validate::one_of(
            s,
            &["Registered", "Deregistered"],
            "InvalidRegistrationStatusException",
            "The registrationStatus",
        )?),
        None => None,
    };
    let filters =
        convert::parse_tag_filters(input.tag_filters.as_deref().unwrap_or_default(), "InvalidTagFilterException")?;
    let selector = InstanceSelector { tag_filters: filters, tag_set: Vec::new() };
    let names: Vec<String> = ctx
        .state
        .store
        .list_instances(true)
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|i| match status {
            Some("Registered") => i.deregister_time.is_none(),
            Some(_) => i.deregister_time.is_some(),
            None => true,
        })
        .filter(|i| selector.tag_filters.is_empty() || selector.selects(&i.tags))
        .map(|i| i.name)
        .collect();
    let (page, next) = token::page(ctx.op, names, input.next_token.as_deref())?;
    Ok(with_token(json!({ "instanceNames": page }), "nextToken", next))
}

fn tags_input(input: wire::InstanceTagsInput) -> AwsResult<(Vec<ferry_core::resources::Tag>, Vec<String>)> {
    let tags = input
        .tags
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AwsError::new("TagRequiredException", "A tag was not specified."))?;
    if tags.len() > MAX_INSTANCE_TAGS {
        return Err(AwsError::new(
            "TagLimitExceededException",
            format!("At most {MAX_INSTANCE_TAGS} tags can be given for on-premises instances (got {}).", tags.len()),
        ));
    }
    let tags = convert::parse_tags(tags, "InvalidTagException")?;
    let names = input.instance_names.unwrap_or_default();
    if names.len() > 100 {
        return Err(AwsError::new(
            "InstanceLimitExceededException",
            format!("At most 100 instances can be tagged at once (got {}).", names.len()),
        ));
    }
    let names = Name::Instance.check_list(Some(&names), 100)?;
    Ok((tags, names))
}

pub async fn add_tags(ctx: &Ctx<'_>, input: wire::InstanceTagsInput) -> AwsResult<Value> {
    let (tags, names) = tags_input(input)?;
    let mut instances = Vec::new();
    for name in &names {
        instances.push(registered(ctx, name).await?);
    }
    for mut instance in instances {
        for tag in &tags {
            instance.tags.retain(|t| t.key != tag.key);
            instance.tags.push(tag.clone());
        }
        if instance.tags.len() > MAX_INSTANCE_TAGS {
            return Err(AwsError::new(
                "TagLimitExceededException",
                format!("Instance {} would have more than {MAX_INSTANCE_TAGS} tags.", instance.name),
            ));
        }
        instance.tags.sort();
        ctx.state.store.upsert_instance(&instance).await.map_err(store_error)?;
    }
    // Instances may join or leave groups by their tags.
    ctx.state.driver.joins_wake.notify_one();
    Ok(json!({}))
}

/// Removes tags that match key and value.
pub async fn remove_tags(ctx: &Ctx<'_>, input: wire::InstanceTagsInput) -> AwsResult<Value> {
    let (tags, names) = tags_input(input)?;
    let mut instances = Vec::new();
    for name in &names {
        instances.push(registered(ctx, name).await?);
    }
    for mut instance in instances {
        instance.tags.retain(|t| !tags.contains(t));
        ctx.state.store.upsert_instance(&instance).await.map_err(store_error)?;
    }
    ctx.state.driver.joins_wake.notify_one();
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    #[test]
    fn iam_arns_are_checked() {
        let user = |a| super::check_iam_arn(a, "iam", "user/", "InvalidIamUserArnException");
        assert!(user("arn:aws:iam::123456789012:user/AWS/CodeDeploy/web1").is_ok());
        assert!(user("arn:aws:iam::12x:user/u").is_err());
        assert!(user("arn:aws:iam::1:role/r").is_err());
        let session = |a| super::check_iam_arn(a, "sts", "assumed-role/", "InvalidIamSessionArnException");
        assert!(session("arn:aws:sts::123456789012:assumed-role/r/s").is_ok());
        assert_eq!(session("arn:aws:iam::1:user/u").unwrap_err().code, "InvalidIamSessionArnException");
    }
}
