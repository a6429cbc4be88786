//! What the panel counts for Prometheus: requests by route and status with their latency, authentication failures by
//! cause, gate decisions by feature and outcome, and (read when scraped) the configuration's generation and state and
//! the faulted plugins. A leaf: the router, authentication and the operations record into it.

use compact_str::CompactString;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label value held inline up to 24 bytes, so counting a request under its route or feature allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Label(CompactString);

impl Label {
    /// `prefix` followed by `rest`, e.g. a route pattern's prefix and a function's name.
    pub fn joined(prefix: &str, rest: &str) -> Label {
        let mut s = CompactString::with_capacity(prefix.len() + rest.len());
        s.push_str(prefix);
        s.push_str(rest);
        Label(s)
    }
}

impl From<&str> for Label {
    fn from(s: &str) -> Label {
        Label(CompactString::new(s))
    }
}

impl EncodeLabelValue for Label {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.0.as_str().encode(encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Label,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginErrorLabels {
    feature: String,
    /// `error` (the plugin's `handle` returned `Err`), `panic` or `contract` (both fault the plugin).
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    feature: Label,
    outcome: &'static str,
}

/// State read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scrape {
    pub generation: u64,
    pub config_error: bool,
    pub plugins_faulted: u64,
    pub plugins_failed: u64,
}

/// The panel's metrics; cheap to record into from any thread.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    /// One counter per cause of [`CAUSES`], made when the registry is, so counting a failure is one atomic add.
    auth_failures: [Counter; CAUSES.len()],
    decisions: Family<DecisionLabels, Counter>,
    plugin_calls_refused: Family<RouteLabels, Counter>,
    plugin_calls_inline: Counter,
    plugin_call_errors: Family<PluginErrorLabels, Counter>,
    generation: Gauge,
    config_error: Gauge,
    plugins_faulted: Gauge,
    plugins_failed: Gauge,
    cluster_waiting: Family<ServerLabels, Gauge>,
    cluster_lag: Family<ServerLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    cluster_refused: Family<ServerLabels, Gauge>,
}

/// One Configuration Cluster member as scraped: its URL, changes waiting, lag and whether its credential is refused.
#[derive(Debug, Clone)]
pub struct ClusterMember {
    pub server: String,
    pub waiting: u64,
    pub lag_seconds: f64,
    pub credential_refused: bool,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("tweakgate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            latency.clone(),
        );
        let auth_failures = Family::<CauseLabels, Counter>::default();
        registry.register(
            "auth_failures",
            "Failed authentications by cause",
            auth_failures.clone(),
        );
        let auth_failures = CAUSES.map(|cause| auth_failures.get_or_create(&CauseLabels { cause }).clone());
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "gate_decisions",
            "Gate decisions for requests, by feature and outcome (visible, or the first reason code)",
            decisions.clone(),
        );
        let plugin_calls_refused = Family::<RouteLabels, Counter>::default();
        registry.register(
            "plugin_calls_refused",
            "Plugin calls answered 503 by the host (the plugin's slots all busy, or past its time budget), by feature",
            plugin_calls_refused.clone(),
        );
        let plugin_calls_inline = Counter::default();
        registry.register(
            "plugin_calls_inline",
            "Plugin calls made on the request's own worker (the fast lane of plugins whose calls keep within \
             FAST_CALL) instead of on a blocking thread",
            plugin_calls_inline.clone(),
        );
        let plugin_call_errors = Family::<PluginErrorLabels, Counter>::default();
        registry.register(
            "plugin_call_errors",
            "Plugin calls that failed in the plugin, by feature and kind: error (handle returned Err), panic, \
             contract or worker (an isolated plugin's worker process crashed, aborted or missed its deadline; all \
             three fault the plugin)",
            plugin_call_errors.clone(),
        );
        let generation = Gauge::default();
        registry.register(
            "config_generation",
            "Snapshots compiled since start",
            generation.clone(),
        );
        let config_error = Gauge::default();
        registry.register(
            "config_error",
            "1 while the configuration on disk does not load (the last good one stays in force)",
            config_error.clone(),
        );
        let plugins_faulted = Gauge::default();
        registry.register(
            "plugins_faulted",
            "Plugins isolated after a fault",
            plugins_faulted.clone(),
        );
        let plugins_failed = Gauge::default();
        registry.register(
            "plugins_failed",
            "Configured plugins that did not load",
            plugins_failed.clone(),
        );
        let cluster_waiting = Family::<ServerLabels, Gauge>::default();
        registry.register(
            "cluster_changes_waiting",
            "Tweak Settings changes waiting for a Configuration Cluster member",
            cluster_waiting.clone(),
        );
        let cluster_lag = Family::<ServerLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "cluster_lag_seconds",
            "Age of the oldest change waiting for a Configuration Cluster member (0 when in step)",
            cluster_lag.clone(),
        );
        let cluster_refused = Family::<ServerLabels, Gauge>::default();
        registry.register(
            "cluster_credential_refused",
            "1 while a Configuration Cluster member refuses the credential the master holds for it",
            cluster_refused.clone(),
        );
        Metrics {
            cluster_waiting,
            cluster_lag,
            cluster_refused,
            registry,
            requests,
            latency,
            auth_failures,
            decisions,
            plugin_calls_refused,
            plugin_calls_inline,
            plugin_call_errors,
            generation,
            config_error,
            plugins_faulted,
            plugins_failed,
        }
    }
}

/// The causes failed authentications are counted under, in [`cause_of`]'s order.
const CAUSES: [&str; 7] = [
    "token_expired",
    "token_address",
    "accesshash_disabled",
    "password",
    "unknown_user",
    "wrong_secret",
    "malformed",
];

/// A fixed cause (an index into [`CAUSES`]) for a failure's free-text reason, so the label set stays small.
fn cause_of(why: &str) -> usize {
    // Lowercased on the stack: failures are counted under a flood of them, so this allocates nothing.
    let mut buf = [0u8; 160];
    let n = why.len().min(buf.len());
    buf[..n].copy_from_slice(&why.as_bytes()[..n]);
    buf[..n].make_ascii_lowercase();
    let why = match std::str::from_utf8(&buf[..n]) {
        Ok(text) => text,
        // Cut inside a character: everything before it.
        Err(e) => std::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or_default(),
    };
    if why.contains("expired") {
        0
    } else if why.contains("allow-list") || why.contains("address outside") {
        1
    } else if why.contains("allow_deprecated_accesshash") {
        2
    } else if why.contains("password") {
        3
    } else if why.contains("unknown user") || why.contains("not a reseller") {
        4
    } else if why.contains("secret") {
        5
    } else {
        6
    }
}

impl Metrics {
    /// One answered request: its route (the router's pattern, never the raw path) and status.
    pub fn request(&self, route: Label, status: u16, seconds: f64) {
        let labels = RequestLabels { route, status };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&RouteLabels { route: labels.route })
            .observe(seconds);
    }

    /// A failed authentication, by the audit log's reason.
    pub fn auth_failure(&self, why: &str) {
        self.auth_failures[cause_of(why)].inc();
    }

    /// A request the gate let through.
    pub fn allowed(&self, feature: &str) {
        self.count_decision(feature, "visible");
    }

    /// A request the gate refused, by the first reason code.
    pub fn refused(&self, feature: &str, decision: &settings::Decision) {
        self.count_decision(
            feature,
            decision.reasons.first().map_or("hidden", settings::Reason::code),
        );
    }

    /// A plugin call the host answered 503 itself: busy or past its budget.
    pub fn plugin_call_refused(&self, feature: &str) {
        self.plugin_calls_refused
            .get_or_create(&RouteLabels { route: feature.into() })
            .inc();
    }

    /// The counter of plugin calls made in the fast lane, for the pools that make them.
    pub fn plugin_calls_inline(&self) -> Counter {
        self.plugin_calls_inline.clone()
    }

    /// A plugin call that failed in the plugin: `kind` is `error`, `panic` or `contract`.
    pub fn plugin_call_error(&self, feature: &str, kind: &str) {
        self.plugin_call_errors
            .get_or_create(&PluginErrorLabels {
                feature: feature.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    fn count_decision(&self, feature: &str, outcome: &'static str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                feature: feature.into(),
                outcome,
            })
            .inc();
    }

    /// The text exposition, with the scrape-time values set first (the cluster's members as they are now).
    pub fn encode_with_cluster(&self, now: Scrape, members: &[ClusterMember]) -> String {
        self.cluster_waiting.clear();
        self.cluster_lag.clear();
        self.cluster_refused.clear();
        for m in members {
            let labels = ServerLabels {
                server: m.server.clone(),
            };
            self.cluster_waiting
                .get_or_create(&labels)
                .set(i64::try_from(m.waiting).unwrap_or(i64::MAX));
            self.cluster_lag.get_or_create(&labels).set(m.lag_seconds);
            self.cluster_refused
                .get_or_create(&labels)
                .set(i64::from(m.credential_refused));
        }
        self.encode(now)
    }

    /// The text exposition, with the scrape-time values set first.
    pub fn encode(&self, now: Scrape) -> String {
        self.generation.set(i64::try_from(now.generation).unwrap_or(i64::MAX));
        self.config_error.set(i64::from(now.config_error));
        self.plugins_faulted
            .set(i64::try_from(now.plugins_faulted).unwrap_or(i64::MAX));
        self.plugins_failed
            .set(i64::try_from(now.plugins_failed).unwrap_or(i64::MAX));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_a_small_fixed_set() {
        let cases = [
            ("API token expired", "token_expired"),
            ("API token used from an address outside its allow-list", "token_address"),
            (
                "access key presented while allow_deprecated_accesshash is Off",
                "accesshash_disabled",
            ),
            ("wrong password or unknown user", "password"),
            ("unknown user or not a reseller", "unknown_user"),
            ("wrong secret", "wrong_secret"),
            ("the header is not valid UTF-8", "malformed"),
        ];
        for (why, cause) in cases {
            assert_eq!(CAUSES[cause_of(why)], cause, "{why}");
        }
    }

    #[test]
    fn the_exposition_names_what_was_recorded() {
        let m = Metrics::default();
        m.request("/json-api/{function}".into(), 200, 0.002);
        m.auth_failure("wrong secret");
        let text = m.encode(Scrape {
            generation: 3,
            ..Scrape::default()
        });
        assert!(
            text.contains("tweakgate_http_requests_total{route=\"/json-api/{function}\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tweakgate_auth_failures_total{cause=\"wrong_secret\"} 1"),
            "{text}"
        );
        assert!(text.contains("tweakgate_config_generation 3"), "{text}");
        let text = m.encode_with_cluster(
            Scrape::default(),
            &[ClusterMember {
                server: "https://m1:2087".into(),
                waiting: 4,
                lag_seconds: 1.5,
                credential_refused: false,
            }],
        );
        assert!(
            text.contains("tweakgate_cluster_changes_waiting{server=\"https://m1:2087\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("tweakgate_cluster_lag_seconds{server=\"https://m1:2087\"} 1.5"),
            "{text}"
        );
        assert!(
            text.contains("tweakgate_http_request_duration_seconds_bucket"),
            "{text}"
        );
    }
}
