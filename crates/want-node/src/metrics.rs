//! Prometheus metrics of the node, served as text at `GET /metrics`: the kernel's (`want_…`)
//! and, under each module's prefix, the modules' (`want_<module>_…`).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

/// Every metric the node exports.
pub struct Metrics {
    registry: Registry,
    pub tx_admitted: Counter,
    pub tx_refused: Family<CodeLabel, Counter>,
    pub tx_committed: Counter,
    pub tx_failed: Counter,
    pub blocks_committed: Counter,
    pub chain_height: Gauge,
    pub mempool_size: Gauge,
    pub block_apply_seconds: Histogram,
    pub journal_batch_seconds: Histogram,
    pub ws_clients: Gauge,
    /// Members' messages refused, by reason (forged, replayed, misaddressed, …).
    pub envelopes_refused: Family<CodeLabel, Counter>,
    pub commit_votes_accepted: Counter,
    pub commit_votes_refused: Family<CodeLabel, Counter>,
    pub certified_height: Gauge,
    pub vote_conflicts: Counter,
    pub state_diverged: Gauge,
    pub diverged_height: Gauge,
    pub storage_free_bytes: Gauge,
    pub http_connections_refused: Counter,
    pub http_rate_limited: Counter,
    pub storage_floor_bytes: Gauge,
    pub storage_low: Gauge,
    pub storage_reserve_held: Gauge,
    /// Reads that found every reader thread taken and waited (`kernel/reads.rs`).
    pub reads_waited: Counter,
    /// Reads answered `503 busy` after waiting their bound.
    pub reads_busy: Counter,
    /// Reads running on the read pool now.
    pub reads_running: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("want");
        let m = Metrics {
            registry: Registry::default(),
            tx_admitted: Counter::default(),
            tx_refused: Family::default(),
            tx_committed: Counter::default(),
            tx_failed: Counter::default(),
            blocks_committed: Counter::default(),
            chain_height: Gauge::default(),
            mempool_size: Gauge::default(),
            block_apply_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            journal_batch_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            ws_clients: Gauge::default(),
            envelopes_refused: Family::default(),
            commit_votes_accepted: Counter::default(),
            commit_votes_refused: Family::default(),
            certified_height: Gauge::default(),
            vote_conflicts: Counter::default(),
            state_diverged: Gauge::default(),
            diverged_height: Gauge::default(),
            storage_free_bytes: Gauge::default(),
            http_connections_refused: Counter::default(),
            http_rate_limited: Counter::default(),
            storage_floor_bytes: Gauge::default(),
            storage_low: Gauge::default(),
            storage_reserve_held: Gauge::default(),
            reads_waited: Counter::default(),
            reads_busy: Counter::default(),
            reads_running: Gauge::default(),
        };
        registry.register(
            "tx_admitted",
            "Transactions admitted to the mempool",
            m.tx_admitted.clone(),
        );
        registry.register(
            "tx_refused",
            "Transactions refused at admission, by error code",
            m.tx_refused.clone(),
        );
        registry.register(
            "tx_committed",
            "Transactions committed in blocks",
            m.tx_committed.clone(),
        );
        registry.register(
            "tx_failed",
            "Committed transactions whose call failed",
            m.tx_failed.clone(),
        );
        registry.register(
            "blocks_committed",
            "Blocks committed",
            m.blocks_committed.clone(),
        );
        registry.register(
            "chain_height",
            "Height of the latest committed block",
            m.chain_height.clone(),
        );
        registry.register(
            "mempool_size",
            "Transactions waiting in the mempool",
            m.mempool_size.clone(),
        );
        registry.register(
            "block_apply_seconds",
            "Time to execute and durably commit one block",
            m.block_apply_seconds.clone(),
        );
        registry.register(
            "journal_batch_seconds",
            "Time to durably write one batch of admitted transactions",
            m.journal_batch_seconds.clone(),
        );
        registry.register(
            "cluster_envelopes_refused",
            "Messages from members refused before consensus saw them, by reason",
            m.envelopes_refused.clone(),
        );
        registry.register(
            "ws_clients",
            "Connected event-stream clients",
            m.ws_clients.clone(),
        );
        registry.register(
            "commit_votes_accepted",
            "Commit votes received from members and kept",
            m.commit_votes_accepted.clone(),
        );
        registry.register(
            "commit_votes_refused",
            "Received commit votes refused, by error code",
            m.commit_votes_refused.clone(),
        );
        registry.register(
            "certified_height",
            "Highest block with a commit certificate agreeing with this node",
            m.certified_height.clone(),
        );
        registry.register(
            "cluster_vote_conflicts",
            "Members' commit votes that contradict this node's state (no majority behind them) or the member's own earlier vote for a height (see vote_conflicts in /v1/status)",
            m.vote_conflicts.clone(),
        );
        registry.register(
            "state_diverged",
            "1 when this node's state diverged from the cluster majority (it applies no more blocks)",
            m.state_diverged.clone(),
        );
        registry.register(
            "diverged_height",
            "Height at which this node's state diverged from the majority (0 when it did not)",
            m.diverged_height.clone(),
        );
        registry.register(
            "http_connections_refused",
            "Connections closed at once because http.connections_max were open",
            m.http_connections_refused.clone(),
        );
        registry.register(
            "http_rate_limited",
            "Requests answered 429 rate_limited: their client was over http.client_requests_per_second",
            m.http_rate_limited.clone(),
        );
        registry.register(
            "storage_free_bytes",
            "Free bytes on the data directory's filesystem, last read",
            m.storage_free_bytes.clone(),
        );
        registry.register(
            "storage_floor_bytes",
            "Free-space floor below which new work is refused (storage.free_floor_mib)",
            m.storage_floor_bytes.clone(),
        );
        registry.register(
            "storage_low",
            "1 while free space is below the floor (transactions, blobs and captures are refused with insufficient_storage)",
            m.storage_low.clone(),
        );
        registry.register(
            "storage_reserve_held",
            "1 while consensus's storage reserve file is allocated (0 once released for consensus)",
            m.storage_reserve_held.clone(),
        );
        registry.register(
            "reads_waited",
            "Reads that found every reader thread (http.reads_max) taken and waited for one",
            m.reads_waited.clone(),
        );
        registry.register(
            "reads_busy",
            "Reads answered 503 busy: no reader thread freed up within their wait",
            m.reads_busy.clone(),
        );
        registry.register(
            "reads_running",
            "Reads running on the read pool",
            m.reads_running.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The registry of a module's metrics: their names are prefixed `want_<module>_`.
    pub fn module_registry(&mut self, module: want_types::ModuleId) -> &mut Registry {
        self.registry.sub_registry_with_prefix(module.name())
    }

    pub fn envelope_refused(&self, reason: &str) {
        self.envelopes_refused
            .get_or_create(&CodeLabel {
                code: reason.to_string(),
            })
            .inc();
    }

    pub fn refused(&self, code: &str) {
        self.tx_refused
            .get_or_create(&CodeLabel {
                code: code.to_string(),
            })
            .inc();
    }

    pub fn vote_refused(&self, code: &str) {
        self.commit_votes_refused
            .get_or_create(&CodeLabel {
                code: code.to_string(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("invariant: writing into a String cannot fail");
        out
    }
}
