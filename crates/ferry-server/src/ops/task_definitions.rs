//! Task definitions (issue #15): registered from ECS's JSON
//! (`ferry_ecs::parse`, every rule of ECS's), numbered per family, read,
//! listed and deregistered as ECS does (a deregistered revision stays
//! readable, INACTIVE). The secrets a container names must exist in
//! ferry's secret store when it is registered: a typo is refused now, not
//! when a task fails to start.

use ferry_ecs::TaskDefinition;
use ferry_store::StoreError;

use super::{OpError, secrets};
use crate::AppState;

/// One revision of a family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub definition: TaskDefinition,
    pub revision: u32,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    pub register_time: u64,
}

impl Registered {
    /// `family:revision`, as ECS names a revision.
    pub fn name(&self) -> String {
        format!("{}:{}", self.definition.family, self.revision)
    }
}

fn stored(t: ferry_store::StoredTaskDefinition) -> Result<Registered, OpError> {
    let definition = serde_json::from_str(&t.doc)
        .map_err(|e| OpError::Internal(format!("the stored task definition {}:{}: {e}", t.family, t.revision)))?;
    Ok(Registered { definition, revision: t.revision, status: t.status, register_time: t.register_time })
}

/// `FAMILY` or `FAMILY:REVISION`.
pub fn split(name: &str) -> Result<(&str, Option<u32>), OpError> {
    match name.rsplit_once(':') {
        None => Ok((name, None)),
        Some((family, revision)) => revision
            .parse::<u32>()
            .ok()
            .filter(|r| *r > 0)
            .map(|r| (family, Some(r)))
            .ok_or_else(|| OpError::Invalid(format!("{name:?}: a revision is a number from 1 (FAMILY:REVISION)"))),
    }
}

/// Registers the task definition `text` (`file` names it in errors) as its
/// family's next revision.
pub async fn register(state: &AppState, file: &str, text: &str) -> Result<Registered, OpError> {
    let definition = ferry_ecs::parse(file, text).map_err(|e| OpError::Invalid(e.to_string()))?;
    for c in &definition.container_definitions {
        for s in &c.secrets {
            let name = s.ferry_secret();
            if let Err(e) = secrets::resolve(state, name).await {
                return Err(match e {
                    OpError::Invalid(_) => OpError::Invalid(format!(
                        "{file}: container {} reads {} from the secret {name:?}, which does not exist \
                         (`ferry secret put {name}` makes it)",
                        c.name, s.name
                    )),
                    e => e,
                });
            }
        }
    }
    let doc = serde_json::to_string(&definition).map_err(|e| OpError::Internal(e.to_string()))?;
    let revision = state.store.register_task_definition(&definition.family, |_| doc, state.driver.now()).await?;
    tracing::info!(family = %definition.family, revision, "task definition registered");
    get(state, &format!("{}:{revision}", definition.family)).await
}

/// `FAMILY` (its newest ACTIVE revision) or `FAMILY:REVISION`.
pub async fn get(state: &AppState, name: &str) -> Result<Registered, OpError> {
    let (family, revision) = split(name)?;
    match state.store.get_task_definition(family, revision).await {
        Ok(t) => stored(t),
        Err(StoreError::NotFound) => Err(OpError::TaskDefinitionNotFound(match revision {
            Some(_) => name.to_string(),
            None => format!("{name} (or it has no ACTIVE revision)"),
        })),
        Err(e) => Err(e.into()),
    }
}

/// One family's revisions (newest first), or each family's newest.
pub async fn list(state: &AppState, family: Option<&str>) -> Result<Vec<Registered>, OpError> {
    state.store.list_task_definitions(family).await?.into_iter().map(stored).collect()
}

/// Marks `FAMILY:REVISION` INACTIVE.
pub async fn deregister(state: &AppState, name: &str) -> Result<Registered, OpError> {
    let (family, Some(revision)) = split(name)? else {
        return Err(OpError::Invalid(format!("{name:?}: name the revision to deregister (FAMILY:REVISION)")));
    };
    match state.store.deregister_task_definition(family, revision).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(OpError::TaskDefinitionNotFound(name.to_string())),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(%family, revision, "task definition deregistered");
    get(state, name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: &str = r#"{"family": "web", "containerDefinitions": [
        {"name": "web", "image": "localhost/web:1", "portMappings": [{"containerPort": 8080}],
         "secrets": [{"name": "TOKEN", "valueFrom": "web-token"}]}]}"#;

    #[tokio::test]
    async fn revisions_are_registered_read_and_deregistered() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = AppState::for_tests(dir.path()).await;
        state.store = state.store.clone().with_secrets_key(ferry_store::SecretsKey::generate().unwrap().0);
        let missing = register(&state, "taskdef.json", WEB).await.unwrap_err();
        assert!(missing.to_string().contains("the secret \"web-token\", which does not exist"), "{missing}");
        secrets::put(&state, "web-token", "s3cret", "").await.unwrap();
        let first = register(&state, "taskdef.json", WEB).await.unwrap();
        assert_eq!((first.name(), first.status.as_str()), ("web:1".to_string(), "ACTIVE"));
        let second = register(&state, "taskdef.json", &WEB.replace("web:1", "web:2")).await.unwrap();
        assert_eq!(second.name(), "web:2");
        assert_eq!(get(&state, "web").await.unwrap().definition.container_definitions[0].image, "localhost/web:2");
        assert_eq!(deregister(&state, "web:2").await.unwrap().status, "INACTIVE");
        assert_eq!(get(&state, "web").await.unwrap().revision, 1, "the newest ACTIVE revision");
        assert!(deregister(&state, "web").await.is_err(), "a revision must be named");
        assert!(get(&state, "web:x").await.unwrap_err().to_string().contains("FAMILY:REVISION"));
        let bad = register(&state, "taskdef.json", r#"{"family": "web"}"#).await.unwrap_err();
        assert!(bad.to_string().starts_with("taskdef.json: containerDefinitions"), "{bad}");
        assert_eq!(list(&state, Some("web")).await.unwrap().len(), 2);
    }
}
