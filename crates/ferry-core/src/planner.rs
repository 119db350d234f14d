//! Minimum-healthy-hosts arithmetic: which instances may start now, and
//! whether the deployment has succeeded or failed.
//!
//! The rules reproduce every case CodeDeploy documents (see
//! `shared/reference/codedeploy-service.md` §4):
//! - `m` is the minimum healthy count for `n` targets;
//! - another instance may start only while `n − failed − in_flight − 1 ≥ m`;
//! - pending instances that can never start (none in flight) fail the
//!   deployment with HEALTH_CONSTRAINTS;
//! - at the end it succeeds when `succeeded ≥ max(m, 1)`.

use crate::deployment::TargetStatus;

/// What the planner decides for a deployment in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Start these targets (indices into the target list, possibly none).
    Continue {
        start: Vec<usize>,
    },
    Succeeded,
    /// Too many failures: HEALTH_CONSTRAINTS.
    HealthConstraints,
}

/// Decides the next step from the targets' statuses, in priority order, and
/// the minimum healthy count `m`.
pub fn plan(statuses: &[TargetStatus], m: u32) -> Verdict {
    let n = statuses.len() as i64;
    let m = i64::from(m);
    let count = |s: TargetStatus| statuses.iter().filter(|t| **t == s).count() as i64;
    let failed = count(TargetStatus::Failed);
    let succeeded = count(TargetStatus::Succeeded);
    let mut in_flight = count(TargetStatus::InProgress);
    let pending: Vec<usize> = statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, TargetStatus::Pending | TargetStatus::Unknown))
        .map(|(i, _)| i)
        .collect();
    let mut start = Vec::new();
    for index in &pending {
        if n - failed - in_flight - 1 < m {
            break;
        }
        start.push(*index);
        in_flight += 1;
    }
    if pending.is_empty() && in_flight == 0 {
        return if succeeded >= m.max(1) { Verdict::Succeeded } else { Verdict::HealthConstraints };
    }
    if start.is_empty() && in_flight == 0 {
        return Verdict::HealthConstraints;
    }
    Verdict::Continue { start }
}

/// Checked when a deployment starts: a minimum that can never be met.
pub fn minimum_is_invalid(n: u32, m: u32, one_at_a_time: bool) -> bool {
    m >= n && !one_at_a_time
}

#[cfg(test)]
mod tests {
    use super::*;
    use TargetStatus::*;

    fn starts(statuses: &[TargetStatus], m: u32) -> usize {
        match plan(statuses, m) {
            Verdict::Continue { start } => start.len(),
            other => panic!("expected Continue, got {other:?}"),
        }
    }

    #[test]
    fn batch_sizes_match_codedeploys_examples() {
        // 9 instances, HOST_COUNT 6: batches of 3.
        assert_eq!(starts(&[Pending; 9], 6), 3);
        // 9 instances, FLEET_PERCENT 40 → m = 4: batches of 5.
        assert_eq!(starts(&[Pending; 9], 4), 5);
        // HalfAtATime on 9: m = 5, four at a time.
        assert_eq!(starts(&[Pending; 9], 5), 4);
        // Minimum 8 of 10: two at a time; 9 of 10: one at a time.
        assert_eq!(starts(&[Pending; 10], 8), 2);
        assert_eq!(starts(&[Pending; 10], 9), 1);
        // AllAtOnce.
        assert_eq!(starts(&[Pending; 10], 0), 10);
    }

    #[test]
    fn one_at_a_time_tolerates_only_a_failure_on_the_last_instance() {
        assert_eq!(plan(&[Failed, Pending, Pending], 2), Verdict::HealthConstraints);
        assert_eq!(plan(&[Succeeded, Succeeded, Failed], 2), Verdict::Succeeded);
        assert_eq!(plan(&[Failed], 0), Verdict::HealthConstraints);
        assert_eq!(plan(&[Succeeded], 0), Verdict::Succeeded);
    }

    #[test]
    fn waits_for_in_flight_instances_before_judging() {
        assert_eq!(plan(&[Failed, InProgress, Pending], 1), Verdict::Continue { start: vec![] });
        assert_eq!(plan(&[Failed, Failed, Pending], 1), Verdict::HealthConstraints);
    }

    #[test]
    fn at_least_one_instance_must_succeed() {
        assert_eq!(plan(&[Failed, Failed], 0), Verdict::HealthConstraints);
        assert_eq!(plan(&[Failed, Succeeded], 0), Verdict::Succeeded);
        // Two failures of 10 with minimum 8: the second on the last instance.
        let mut statuses = [Succeeded; 10];
        statuses[0] = Failed;
        statuses[9] = Failed;
        assert_eq!(plan(&statuses, 8), Verdict::Succeeded);
    }

    #[test]
    fn invalid_minimum() {
        assert!(minimum_is_invalid(10, 10, false));
        assert!(!minimum_is_invalid(10, 9, true));
        assert!(!minimum_is_invalid(1, 0, true));
        assert!(minimum_is_invalid(1, 1, false));
    }
}
