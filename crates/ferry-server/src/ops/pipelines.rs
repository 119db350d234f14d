//! Pipelines (issue #14, CodePipeline's job): declarations parsed and
//! checked by `ferry_pipeline` (CodePipeline's structure rules and the
//! providers ferry runs), stored with every version they had. Executions
//! (`ferry_pipeline::execution`) are not run yet: the next step of #14.

use ferry_pipeline::PipelineDeclaration;
use ferry_store::StoreError;

use super::OpError;
use crate::AppState;

/// A pipeline at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// With `version` set.
    pub declaration: PipelineDeclaration,
    pub create_time: u64,
    pub update_time: u64,
}

/// A declaration from JSON (as `aws codepipeline get-pipeline` prints it,
/// with or without its `pipeline` wrapper) or YAML; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<PipelineDeclaration, OpError> {
    ferry_pipeline::parse(file, text).map_err(|e| OpError::Invalid(e.to_string()))
}

/// Checks a declaration built from a wire shape (CodePipeline's API).
pub fn check(declaration: &PipelineDeclaration) -> Result<(), OpError> {
    ferry_pipeline::check::check_named("pipeline", declaration).map_err(|e| OpError::Invalid(e.to_string()))
}

fn stored(p: ferry_store::StoredPipeline) -> Result<Pipeline, OpError> {
    let mut declaration: PipelineDeclaration = serde_json::from_str(&p.doc)
        .map_err(|e| OpError::Internal(format!("the stored declaration of pipeline {}: {e}", p.name)))?;
    declaration.version = Some(p.version);
    Ok(Pipeline { declaration, create_time: p.create_time, update_time: p.update_time })
}

fn doc(declaration: &PipelineDeclaration, version: u32) -> String {
    let mut d = declaration.clone();
    d.version = Some(version);
    d.to_json().to_string()
}

/// Creates a pipeline at version 1.
pub async fn create(state: &AppState, declaration: PipelineDeclaration) -> Result<Pipeline, OpError> {
    check(&declaration)?;
    let name = declaration.name.clone();
    state.store.create_pipeline(&name, &doc(&declaration, 1), state.driver.now()).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => OpError::PipelineExists(name.clone()),
        e => e.into(),
    })?;
    tracing::info!(pipeline = %name, "pipeline created");
    get(state, &name, None).await
}

/// Stores `declaration` as its pipeline's next version.
pub async fn update(state: &AppState, declaration: PipelineDeclaration) -> Result<Pipeline, OpError> {
    check(&declaration)?;
    let name = declaration.name.clone();
    let version =
        state.store.update_pipeline(&name, |version| doc(&declaration, version), state.driver.now()).await.map_err(
            |e| match e {
                StoreError::NotFound => OpError::PipelineNotFound(name.clone()),
                e => e.into(),
            },
        )?;
    tracing::info!(pipeline = %name, version, "pipeline updated");
    get(state, &name, None).await
}

/// A pipeline at `version` (`None`: its current one).
pub async fn get(state: &AppState, name: &str, version: Option<u32>) -> Result<Pipeline, OpError> {
    match state.store.get_pipeline(name, version).await {
        Ok(p) => stored(p),
        Err(StoreError::NotFound) => Err(OpError::PipelineNotFound(match version {
            Some(v) => format!("{name} (version {v})"),
            None => name.to_string(),
        })),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(state: &AppState) -> Result<Vec<Pipeline>, OpError> {
    state.store.list_pipelines().await?.into_iter().map(stored).collect()
}

pub async fn delete(state: &AppState, name: &str) -> Result<(), OpError> {
    match state.store.delete_pipeline(name).await {
        Ok(()) => {
            // What is kept beside the declaration goes with it.
            state.store.put_setting(&tags_setting(name), "[]").await?;
            state.store.put_setting(&format!("pipeline_notify/{name}"), "[]").await?;
            tracing::info!(pipeline = %name, "pipeline deleted");
            Ok(())
        }
        Err(StoreError::NotFound) => Err(OpError::PipelineNotFound(name.to_string())),
        Err(e) => Err(e.into()),
    }
}

fn tags_setting(name: &str) -> String {
    format!("pipeline_tags/{name}")
}

/// A pipeline's tags (CodePipeline's TagResource), in the order they were
/// first set.
pub async fn tags(state: &AppState, name: &str) -> Result<Vec<(String, String)>, OpError> {
    get(state, name, None).await?;
    Ok(match state.store.get_setting(&tags_setting(name)).await? {
        Some(text) => serde_json::from_str(&text).unwrap_or_default(),
        None => Vec::new(),
    })
}

/// Sets (adds or replaces by key) and removes tags; returns them all.
pub async fn change_tags(
    state: &AppState,
    name: &str,
    set: Vec<(String, String)>,
    remove: &[String],
) -> Result<Vec<(String, String)>, OpError> {
    let _held = state.driver.exclusive().await;
    let mut all = tags(state, name).await?;
    all.retain(|(k, _)| !remove.contains(k));
    for (key, value) in set {
        match all.iter_mut().find(|(k, _)| *k == key) {
            Some(existing) => existing.1 = value,
            None => all.push((key, value)),
        }
    }
    let text = serde_json::to_string(&all).map_err(|e| OpError::Internal(e.to_string()))?;
    state.store.put_setting(&tags_setting(name), &text).await?;
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPELINE: &str = r#"
name: shop
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: "1"}
        configuration: {FullRepositoryId: "https://git.example/shop.git", BranchName: main}
        outputArtifacts: [{name: src}]
  - name: Build
    actions:
      - name: Compile
        actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: "1"}
        configuration: {ProjectName: shop-build}
        inputArtifacts: [{name: src}]
"#;

    #[tokio::test]
    async fn pipelines_are_created_versioned_listed_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::for_tests(dir.path()).await;
        let declaration = parse("pipeline.yml", PIPELINE).unwrap();
        let created = create(&state, declaration.clone()).await.unwrap();
        assert_eq!(created.declaration.version, Some(1));
        assert!(matches!(create(&state, declaration.clone()).await, Err(OpError::PipelineExists(_))));

        let mut changed = declaration.clone();
        changed.stages[1].actions[0].configuration.insert("ProjectName".into(), "shop-build-2".into());
        assert_eq!(update(&state, changed).await.unwrap().declaration.version, Some(2));
        let first = get(&state, "shop", Some(1)).await.unwrap();
        assert_eq!(first.declaration.stages[1].actions[0].configuration["ProjectName"], "shop-build");
        let current = get(&state, "shop", None).await.unwrap();
        assert_eq!(current.declaration.stages[1].actions[0].configuration["ProjectName"], "shop-build-2");
        assert_eq!(list(&state).await.unwrap().len(), 1);

        let bad = parse("pipeline.yml", &PIPELINE.replace("outputArtifacts: [{name: src}]", "")).unwrap_err();
        assert!(bad.to_string().contains("pipeline.yml"), "{bad}");
        let mut renamed = declaration.clone();
        renamed.name = "nope".into();
        assert!(matches!(update(&state, renamed).await, Err(OpError::PipelineNotFound(_))));
        delete(&state, "shop").await.unwrap();
        assert!(matches!(get(&state, "shop", None).await, Err(OpError::PipelineNotFound(_))));
        assert!(matches!(delete(&state, "shop").await, Err(OpError::PipelineNotFound(_))));
    }
}
