//! What ferry counts as it happens: API request durations (by API and
//! status class) and lifecycle-event durations (from the driver's
//! commits). Served with what is read at scrape time by `metrics_api`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds (seconds) of the duration histograms' buckets.
const BUCKETS: [f64; 16] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// What is counted as it happens.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (api, status class) → request durations.
    api: Mutex<BTreeMap<(&'static str, &'static str), Histogram>>,
    /// (lifecycle event, status) → event durations.
    lifecycle: Mutex<BTreeMap<(String, &'static str), Histogram>>,
}

impl Metrics {
    pub fn observe_lifecycle_event(&self, event: &str, status: &'static str, seconds: f64) {
        self.lifecycle.lock().unwrap().entry((event.to_string(), status)).or_default().observe(seconds);
    }

    pub fn observe_request(&self, api: &'static str, class: &'static str, seconds: f64) {
        self.api.lock().unwrap().entry((api, class)).or_default().observe(seconds);
    }

    /// The counted histograms, in Prometheus's text format.
    pub fn render(&self, out: &mut String) {
        out.push_str("# HELP ferry_lifecycle_event_duration_seconds Lifecycle events by name and outcome.\n");
        out.push_str("# TYPE ferry_lifecycle_event_duration_seconds histogram\n");
        for ((event, status), h) in self.lifecycle.lock().unwrap().iter() {
            let labels = format!("event=\"{}\",status=\"{status}\"", label(event));
            h.render(out, "ferry_lifecycle_event_duration_seconds", &labels);
        }
        out.push_str("# HELP ferry_api_request_duration_seconds API requests by API and status class.\n");
        out.push_str("# TYPE ferry_api_request_duration_seconds histogram\n");
        for ((api, class), h) in self.api.lock().unwrap().iter() {
            h.render(out, "ferry_api_request_duration_seconds", &format!("api=\"{api}\",code=\"{class}\""));
        }
    }
}

/// Escapes a label value.
pub fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c"), "a\\\"b\\\\c");
    }

    #[test]
    fn histograms_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.003);
        h.observe(0.7);
        h.observe(5000.0);
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"3600\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 3\n"), "{out}");
    }
}
