//! Lifecycle events: which run in a deployment, and who runs each.
//!
//! The Server platform's set is fixed (CodeDeploy's, and what the server's
//! appspec check allows), so a lifecycle event is an [`Event`], not a
//! string: a misspelt name is a compile error here and a refused report at
//! the edge (`Event::from_name`). Stored documents keep the names as
//! strings (serde writes the variant names), so the JSON is unchanged.

use serde::{Deserialize, Serialize};

/// A lifecycle event of a Server deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    ApplicationStop,
    DownloadBundle,
    BeforeInstall,
    Install,
    AfterInstall,
    ApplicationStart,
    ValidateService,
    BeforeBlockTraffic,
    BlockTraffic,
    AfterBlockTraffic,
    BeforeAllowTraffic,
    AllowTraffic,
    AfterAllowTraffic,
    /// ECS: the test listener reaches the replacement task set.
    AllowTestTraffic,
    AfterAllowTestTraffic,
}

impl Event {
    /// Every event, in the order an in-place deployment with traffic runs them.
    pub const ALL: [Event; 13] = IN_PLACE_WITH_TRAFFIC;

    pub fn as_str(self) -> &'static str {
        match self {
            Event::ApplicationStop => "ApplicationStop",
            Event::DownloadBundle => "DownloadBundle",
            Event::BeforeInstall => "BeforeInstall",
            Event::Install => "Install",
            Event::AfterInstall => "AfterInstall",
            Event::ApplicationStart => "ApplicationStart",
            Event::ValidateService => "ValidateService",
            Event::BeforeBlockTraffic => "BeforeBlockTraffic",
            Event::BlockTraffic => "BlockTraffic",
            Event::AfterBlockTraffic => "AfterBlockTraffic",
            Event::BeforeAllowTraffic => "BeforeAllowTraffic",
            Event::AllowTraffic => "AllowTraffic",
            Event::AfterAllowTraffic => "AfterAllowTraffic",
            Event::AllowTestTraffic => "AllowTestTraffic",
            Event::AfterAllowTestTraffic => "AfterAllowTestTraffic",
        }
    }

    /// The event of that exact name (as agents and the APIs spell it).
    pub fn from_name(name: &str) -> Option<Event> {
        Event::ALL
            .into_iter()
            .chain([Event::AllowTestTraffic, Event::AfterAllowTestTraffic])
            .find(|e| e.as_str() == name)
    }

    /// Who carries it out: BlockTraffic and AllowTraffic move traffic (the
    /// server); everything else runs on the host (the agent).
    pub fn runner(self) -> Runner {
        match self {
            Event::BlockTraffic | Event::AllowTraffic => Runner::Server,
            _ => Runner::Agent,
        }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Event {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Event {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// Tests name events as strings; an unknown name is a bug in the test.
#[cfg(test)]
impl From<&str> for Event {
    fn from(name: &str) -> Self {
        Event::from_name(name).unwrap_or_else(|| panic!("{name:?} is not a lifecycle event"))
    }
}

/// The events of an in-place deployment without a load balancer.
pub const IN_PLACE: [Event; 7] = [
    Event::ApplicationStop,
    Event::DownloadBundle,
    Event::BeforeInstall,
    Event::Install,
    Event::AfterInstall,
    Event::ApplicationStart,
    Event::ValidateService,
];

/// The events of an in-place deployment with a load balancer.
pub const IN_PLACE_WITH_TRAFFIC: [Event; 13] = [
    Event::BeforeBlockTraffic,
    Event::BlockTraffic,
    Event::AfterBlockTraffic,
    Event::ApplicationStop,
    Event::DownloadBundle,
    Event::BeforeInstall,
    Event::Install,
    Event::AfterInstall,
    Event::ApplicationStart,
    Event::ValidateService,
    Event::BeforeAllowTraffic,
    Event::AllowTraffic,
    Event::AfterAllowTraffic,
];

/// The events of a blue/green deployment's replacement (green) instances.
pub const BLUE_GREEN_GREEN: [Event; 10] = [
    Event::ApplicationStop,
    Event::DownloadBundle,
    Event::BeforeInstall,
    Event::Install,
    Event::AfterInstall,
    Event::ApplicationStart,
    Event::ValidateService,
    Event::BeforeAllowTraffic,
    Event::AllowTraffic,
    Event::AfterAllowTraffic,
];

/// The events of a blue/green deployment's original (blue) instances.
pub const BLUE_GREEN_BLUE: [Event; 3] = [Event::BeforeBlockTraffic, Event::BlockTraffic, Event::AfterBlockTraffic];

/// The events of the instances a blue/green rollback moves traffic back to
/// (already installed).
pub const TRAFFIC_ONLY_GREEN: [Event; 3] = [Event::BeforeAllowTraffic, Event::AllowTraffic, Event::AfterAllowTraffic];

/// The events of an ECS deployment (CodeDeploy's order), all carried out
/// by the server: the hooks call their functions, Install starts the
/// replacement task set, the traffic events move the load balancer.
pub const ECS: [Event; 8] = [
    Event::BeforeInstall,
    Event::Install,
    Event::AfterInstall,
    Event::AllowTestTraffic,
    Event::AfterAllowTestTraffic,
    Event::BeforeAllowTraffic,
    Event::AllowTraffic,
    Event::AfterAllowTraffic,
];

impl Event {
    /// Whether an ECS appspec may name a hook function for it.
    pub fn is_ecs_hook(self) -> bool {
        matches!(
            self,
            Event::BeforeInstall
                | Event::AfterInstall
                | Event::AfterAllowTestTraffic
                | Event::BeforeAllowTraffic
                | Event::AfterAllowTraffic
        )
    }
}

/// Who carries an event out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The agent on the instance (hooks, DownloadBundle, Install).
    Agent,
    /// The server (moving traffic on the load balancer).
    Server,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serialise_as_the_names() {
        for e in Event::ALL {
            assert_eq!(Event::from_name(e.as_str()), Some(e));
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{e}\""));
        }
        assert_eq!(Event::from_name("AfterInstal"), None);
        assert_eq!(Event::AllowTraffic.runner(), Runner::Server);
        assert_eq!(Event::Install.runner(), Runner::Agent);
    }
}

#[cfg(test)]
mod documents {
    use crate::deployment::{Deployment, Target};

    /// Deployments stored by an earlier ferry (event names as strings, and
    /// a `deployment_type` beside `blue_green`) read back unchanged.
    #[test]
    fn documents_written_before_the_enum_read_back() {
        let mut d = Deployment::fixture(&super::IN_PLACE);
        d.targets.push(Target::new("h1", &d.lifecycle_events, 1));
        let mut doc: serde_json::Value = serde_json::to_value(&d).unwrap();
        assert_eq!(doc["lifecycle_events"][0], "ApplicationStop");
        assert_eq!(doc["targets"][0]["events"][1]["name"], "DownloadBundle");
        doc["deployment_type"] = "InPlace".into();
        let read: Deployment = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(read, d);
        doc["lifecycle_events"][0] = "AfterInstal".into();
        assert!(serde_json::from_value::<Deployment>(doc).is_err(), "a name outside the set is not a lifecycle event");
    }
}
