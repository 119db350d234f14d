//! Documents: how a ferry-core value becomes a row's `doc` column and back.
//!
//! Every stored resource is its serde JSON document plus a per-row
//! `schema_version`. A ferry that changes a type's shape in a way serde
//! cannot absorb (`#[serde(default)]` covers added optional fields) bumps
//! that type's [`Document::VERSION`] and teaches [`Document::upgrade`] the
//! step from the previous version; rows are upgraded as they are read and
//! rewritten at the new version on their next write. A row from a *newer*
//! ferry is refused rather than misread.

use ferry_core::config::DeploymentConfig;
use ferry_core::deployment::Deployment;
use ferry_core::notices::Notice;
use ferry_core::resources::{
    AccessKey, Alarm, Application, AuditEntry, Delivery, DeploymentGroup, Instance, Revision, TargetGroup,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Result, StoreError};

pub(crate) trait Document: Serialize + DeserializeOwned {
    /// For messages.
    const KIND: &'static str;
    /// The shape this ferry writes.
    const VERSION: i64 = 1;

    /// Turns a document of version `from` into one of version `from + 1`.
    fn upgrade(from: i64, _doc: Value) -> Result<Value, String> {
        Err(format!("no upgrade from version {from}"))
    }
}

impl Document for ferry_core::build::BuildProject {
    const KIND: &'static str = "build project";
}
impl Document for ferry_core::build::Build {
    const KIND: &'static str = "build";
}
impl Document for Application {
    const KIND: &'static str = "application";
}
impl Document for DeploymentGroup {
    const KIND: &'static str = "deployment group";
}
impl Document for DeploymentConfig {
    const KIND: &'static str = "deployment config";
}
impl Document for Instance {
    const KIND: &'static str = "instance";
}
impl Document for Revision {
    const KIND: &'static str = "revision";
}
impl Document for TargetGroup {
    const KIND: &'static str = "target group";
}
impl Document for AccessKey {
    const KIND: &'static str = "access key";
}
impl Document for Deployment {
    const KIND: &'static str = "deployment";
}
impl Document for Notice {
    const KIND: &'static str = "event";
}
impl Document for Delivery {
    const KIND: &'static str = "delivery";
}
impl Document for Alarm {
    const KIND: &'static str = "alarm";
}
impl Document for ferry_core::scaling::ScalingGroup {
    const KIND: &'static str = "scaling group";
}
impl Document for AuditEntry {
    const KIND: &'static str = "audit entry";
}

pub(crate) fn encode<T: Document>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding a {}: {e}", T::KIND)))
}

/// Reads a row's document written at `version`.
pub(crate) fn decode<T: Document>(version: i64, text: &str) -> Result<T> {
    let corrupt = |e: String| StoreError::Backend(format!("stored {} (version {version}): {e}", T::KIND));
    if version == T::VERSION {
        return serde_json::from_str(text).map_err(|e| corrupt(e.to_string()));
    }
    if version > T::VERSION || version < 1 {
        return Err(corrupt(format!("this ferry reads versions 1 to {}", T::VERSION)));
    }
    let mut doc: Value = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    for from in version..T::VERSION {
        doc = T::upgrade(from, doc).map_err(corrupt)?;
    }
    serde_json::from_value(doc).map_err(|e| corrupt(e.to_string()))
}

/// A row's `(schema_version, doc)` pair, as selected by every read.
pub(crate) type Row = (i64, String);

pub(crate) fn decode_row<T: Document>((version, text): Row) -> Result<T> {
    decode(version, &text)
}

pub(crate) fn decode_rows<T: Document>(rows: Vec<Row>) -> Result<Vec<T>> {
    rows.into_iter().map(decode_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Shape {
        full_name: String,
    }

    impl Document for Shape {
        const KIND: &'static str = "shape";
        const VERSION: i64 = 3;

        fn upgrade(from: i64, mut doc: Value) -> Result<Value, String> {
            match from {
                1 => {
                    doc["name"] = Value::String(doc["name"].as_str().ok_or("no name")?.to_uppercase());
                    Ok(doc)
                }
                2 => Ok(serde_json::json!({ "full_name": doc["name"] })),
                _ => Err(format!("no upgrade from version {from}")),
            }
        }
    }

    #[test]
    fn old_documents_are_upgraded_step_by_step_and_newer_ones_refused() {
        let v1 = r#"{"name":"web"}"#;
        assert_eq!(decode::<Shape>(1, v1).unwrap(), Shape { full_name: "WEB".into() });
        assert_eq!(decode::<Shape>(2, v1).unwrap(), Shape { full_name: "web".into() });
        assert_eq!(decode::<Shape>(3, r#"{"full_name":"x"}"#).unwrap(), Shape { full_name: "x".into() });
        let err = decode::<Shape>(4, r#"{"full_name":"x"}"#).unwrap_err();
        assert!(matches!(&err, StoreError::Backend(m) if m.contains("versions 1 to 3")), "{err}");
        assert!(matches!(decode::<Shape>(3, "{"), Err(StoreError::Backend(_))));
    }
}
