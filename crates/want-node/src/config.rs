//! Node configuration and genesis: the embedded development defaults and their bounds.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use want_state::modules::commerce::genesis::CommerceGenesis;
use want_state::modules::credit::genesis::{CreditGenesis, GenesisModel};
use want_state::trace::{GenesisOrg, GenesisOrgKey, TraceGenesis};
use want_types::amount::TOTAL_SUPPLY;
use want_types::{Activations, Address, Amount, Block, BlockHeader, ChainParams, Hash32};

/// Chain id of development chains ("WANT" in ASCII).
pub const DEV_CHAIN_ID: u64 = 0x5741_4E54;
/// Fixed genesis time of development chains (2026-01-01T00:00:00Z), so that every dev chain has
/// the same genesis hash.
pub const DEV_GENESIS_TIME_MS: u64 = 1_767_225_600_000;
/// Seed of the development account's private key. The key is public: never hold value with it.
pub const DEV_KEY_SEED: &[u8] =
    b"WANT chain development account - publicly known key, never use for real value";
/// Default HTTP address of `want dev`.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8545";

/// Minimum fee of development chains: 0.001 WANT.
pub const DEV_MIN_FEE: Amount = 1_000;
/// Proof-of-work difficulty of development chains, in leading zero bits (~2^18 hashes ≈ 0.1 s).
pub const DEV_POW_DIFFICULTY_BITS: u32 = 18;
/// Transfer fee: 1 % into the incentive pool (whitepaper §5.1).
pub const TRANSFER_FEE_BPS: u32 = 100;

/// Defaults and bounds of the node's tunables.
pub const BLOCK_INTERVAL_MS_DEFAULT: u64 = 50;
/// Lowest `block_interval_ms` accepted (1 ms, was 10 ms). With `empty_blocks = true` a cluster
/// then makes blocks as fast as its Raft round and block commit allow, which `want bench
/// cluster` needs to put a follower tens of thousands of blocks behind in minutes (at 10 ms the
/// ceiling was 100 blocks/s, ~17 min for 100,000 blocks). Validation still refuses 0: the
/// producer's ticker needs a non-zero period.
pub const BLOCK_INTERVAL_MS_MIN: u64 = 1;
pub const BLOCK_TXS_MAX_DEFAULT: usize = 10_000;
/// Most transactions in a block a cluster member proposes, whatever `block_txs_max` says: every
/// follower checks each transaction's signature before it acknowledges the block, within the
/// leader's append timeout (the Raft heartbeat, 100 ms; ~15–22k signatures/s per core, three
/// members sharing the cores in a local cluster). A bigger block times out at the leader again
/// and again, and a follower that cannot ack for longer than its election timeout calls an
/// election under load. At the 50 ms block interval this still allows 20,000 tps.
pub const CLUSTER_BLOCK_TXS_MAX: usize = 1_000;
pub const BLOCK_TXS_MAX_LIMIT: usize = 100_000;
pub const MEMPOOL_TXS_MAX_DEFAULT: usize = 200_000;
/// A transaction's nonce must be below the account's next nonce, counting its pending
/// transactions, plus this: at most 15 nonces may be missing before it (clients sending
/// consecutive nonces concurrently may deliver them out of order). Gapped transactions leave
/// the mempool quickly (`kernel::mempool::GAPPED_TX_TTL_MS`).
pub const MEMPOOL_NONCE_WINDOW_DEFAULT: u64 = 16;
/// Most pending transactions one account may have in the mempool.
pub const MEMPOOL_SENDER_TXS_MAX_DEFAULT: usize = 256;
/// A transaction may not expire later than this after admission (24 h).
pub const TX_EXPIRY_AHEAD_MAX_MS: u64 = 24 * 3_600 * 1_000;
/// How long `?wait=commit` waits for the block before answering `commit_timeout`.
pub const COMMIT_WAIT_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// Most transactions written to the mempool journal in one storage transaction.
pub const JOURNAL_BATCH_MAX: usize = 4_096;
/// Most transactions in one `POST /v1/transactions/batch`.
pub const SUBMIT_BATCH_MAX: usize = 5_000;

/// Everything a node needs to run, besides its genesis.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub http_addr: SocketAddr,
    #[serde(default = "d_block_interval")]
    pub block_interval_ms: u64,
    #[serde(default = "d_block_txs")]
    pub block_txs_max: usize,
    #[serde(default = "d_mempool")]
    pub mempool_txs_max: usize,
    /// A nonce must be below the account's next nonce (counting its pending transactions) plus
    /// this; 1 admits no gap.
    #[serde(default = "d_window")]
    pub mempool_nonce_window: u64,
    /// Most pending transactions of one account.
    #[serde(default = "d_sender_txs")]
    pub mempool_sender_txs_max: usize,
    #[serde(default = "d_wait")]
    pub commit_wait_timeout_ms: u64,
    /// Produce a block every interval even when there is nothing to include.
    #[serde(default)]
    pub empty_blocks: bool,
    /// Membership in a multi-node cluster; `None` runs a single-member chain (`want dev`).
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
    /// Raft takes a snapshot (and purges its log behind it) every this many blocks.
    #[serde(default = "d_snapshot")]
    pub snapshot_every_blocks: u64,
    /// Lets `POST /v1/admin/faults` inject network faults (fault tests only; never in
    /// production).
    #[serde(default)]
    pub fault_injection: bool,
    /// The key `POST /v1/epcis/capture` signs captured events with; without it the endpoint
    /// refuses (capture with `want trace capture --keystore` instead).
    #[serde(default)]
    pub capture: Option<CaptureConfig>,
    /// The free-space floor and consensus's storage reserve (`[storage]`).
    #[serde(default)]
    pub storage: StorageConfig,
    /// The blob upload quotas (`[blobs]`).
    #[serde(default)]
    pub blobs: BlobLimits,
    /// The HTTP server's limits (`[http]`).
    #[serde(default)]
    pub http: HttpLimits,
}

/// Default most open HTTP connections.
pub const HTTP_CONNECTIONS_MAX_DEFAULT: usize = 1_024;
/// Default time a client has to send a request's headers, in milliseconds (slowloris).
pub const HTTP_HEADER_READ_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Default time one request may take, body and answer included, in milliseconds (longer than
/// `commit_wait_timeout_ms`; WebSocket streams run after their upgrade and are not bounded).
pub const HTTP_REQUEST_TIMEOUT_MS_DEFAULT: u64 = 120_000;
/// Default most concurrent `/v1/events` streams.
pub const WS_CLIENTS_MAX_DEFAULT: usize = 256;

/// Default requests per second one client (an IPv4 address, or an IPv6 /64) may send on
/// average.
pub const HTTP_CLIENT_REQUESTS_PER_SECOND_DEFAULT: u32 = 50;
/// Default requests one client may send at once above its average rate.
pub const HTTP_CLIENT_BURST_DEFAULT: u32 = 200;
/// Default most connections one client (an IPv4 address, or an IPv6 /64) holds open on the
/// public API at once (a browser opens 6; a shop's tills behind one NAT address a few each).
pub const HTTP_CLIENT_CONNECTIONS_MAX_DEFAULT: usize = 64;
/// Default most `/v1/events` streams one client holds open at once.
pub const HTTP_CLIENT_STREAMS_MAX_DEFAULT: usize = 16;
/// Default most connections one address holds open on the member listener (a member keeps a
/// few: Raft, votes, catch-up, blobs).
pub const MEMBER_CLIENT_CONNECTIONS_MAX_DEFAULT: usize = 16;

/// The `[http]` section: connection, time, stream and per-client rate limits of the HTTP server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLimits {
    #[serde(default = "d_conns")]
    pub connections_max: usize,
    #[serde(default = "d_header_timeout")]
    pub header_read_timeout_ms: u64,
    #[serde(default = "d_request_timeout")]
    pub request_timeout_ms: u64,
    #[serde(default = "d_ws")]
    pub ws_clients_max: usize,
    /// Average requests per second one client may send (`429 rate_limited` beyond its burst);
    /// 0 turns the per-client limit off.
    #[serde(default = "d_client_rps")]
    pub client_requests_per_second: u32,
    /// Requests one client may send at once above its average rate.
    #[serde(default = "d_client_burst")]
    pub client_burst: u32,
    /// Whether clients on this machine (loopback addresses) are rate-limited too. Off by
    /// default: the operator's own tools and a local reverse proxy are not throttled (behind a
    /// proxy on the same machine, limit clients at the proxy or turn this on).
    #[serde(default)]
    pub rate_limit_loopback: bool,
    /// Threads of the read pool, which serves every read that scans, walks or decodes stored
    /// data, apart from block execution (default: the machine's cores; 1 to
    /// [`crate::kernel::reads::READS_MAX_LIMIT`]). A read waiting longer than
    /// [`crate::kernel::reads::READ_WAIT_MS`] for one is answered `503 busy`.
    #[serde(default = "crate::kernel::reads::reads_max_default")]
    pub reads_max: usize,
    /// Most connections one client holds open at once (more are closed at once, counted in
    /// `want_http_connections_refused_total`); 0: no per-client cap. Loopback clients are not
    /// counted unless `rate_limit_loopback`.
    #[serde(default = "d_client_conns")]
    pub client_connections_max: usize,
    /// Most `/v1/events` streams one client holds open at once (`503 too_many_streams`
    /// beyond); 0: no per-client cap. Loopback clients are not counted unless
    /// `rate_limit_loopback`.
    #[serde(default = "d_client_streams")]
    pub client_streams_max: usize,
    /// The URL the public reaches this node's API at (`https://trace.example.com`), the base of
    /// printed tags' URLs and QR codes. Unset: a valid `Host` header of the request (at most
    /// [`HOST_BYTES_MAX`] bytes), else `http://` and `http_addr`. Set it on any node behind a
    /// reverse proxy or cache: the client then cannot choose what the tags point to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

/// Longest host name with its port (`Host` header, the authority of `http.public_url`), in
/// bytes (DNS names are at most 253).
pub const HOST_BYTES_MAX: usize = 255;
/// Longest `http.public_url`, in bytes.
pub const PUBLIC_URL_BYTES_MAX: usize = 512;
/// Longest label of a DNS name, in bytes.
const DNS_LABEL_BYTES_MAX: usize = 63;

/// Whether `host` is a syntactically valid `host[:port]` of at most [`HOST_BYTES_MAX`] bytes: a
/// DNS name (letters, digits and hyphens, in labels of 1 to 63 bytes), an IPv4 address or a
/// bracketed IPv6 address, then optionally `:` and a port (1 to 65535).
pub fn valid_host(host: &str) -> bool {
    if host.is_empty() || host.len() > HOST_BYTES_MAX {
        return false;
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    let name_ok = name.is_none_or(|n| {
        n.parse::<std::net::Ipv4Addr>().is_ok()
            || (!n.is_empty()
                && n.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= DNS_LABEL_BYTES_MAX
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }))
    });
    port_ok && name_ok
}

/// Checks `http.public_url`: `http://` or `https://`, a valid host (see [`valid_host`]), then
/// optionally a path of printable ASCII without spaces, quotes or angle brackets; at most
/// [`PUBLIC_URL_BYTES_MAX`] bytes.
fn check_public_url(url: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "http.public_url = {url:?} {why}; give the URL the public reaches this node at, e.g. \"https://trace.example.com\""
        ))
    };
    if url.len() > PUBLIC_URL_BYTES_MAX {
        return bad(&format!("is longer than {PUBLIC_URL_BYTES_MAX} bytes"));
    }
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return bad("does not start with http:// or https://");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if !valid_host(authority) {
        return bad("has no valid host[:port]");
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"\"'<>\\`".contains(&b))
    {
        return bad("has a path with spaces, quotes or other characters a URL may not hold");
    }
    Ok(())
}

fn d_client_conns() -> usize {
    HTTP_CLIENT_CONNECTIONS_MAX_DEFAULT
}
fn d_client_streams() -> usize {
    HTTP_CLIENT_STREAMS_MAX_DEFAULT
}

fn d_client_rps() -> u32 {
    HTTP_CLIENT_REQUESTS_PER_SECOND_DEFAULT
}
fn d_client_burst() -> u32 {
    HTTP_CLIENT_BURST_DEFAULT
}

fn d_conns() -> usize {
    HTTP_CONNECTIONS_MAX_DEFAULT
}
fn d_header_timeout() -> u64 {
    HTTP_HEADER_READ_TIMEOUT_MS_DEFAULT
}
fn d_request_timeout() -> u64 {
    HTTP_REQUEST_TIMEOUT_MS_DEFAULT
}
fn d_ws() -> usize {
    WS_CLIENTS_MAX_DEFAULT
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connections_max: HTTP_CONNECTIONS_MAX_DEFAULT,
            header_read_timeout_ms: HTTP_HEADER_READ_TIMEOUT_MS_DEFAULT,
            request_timeout_ms: HTTP_REQUEST_TIMEOUT_MS_DEFAULT,
            ws_clients_max: WS_CLIENTS_MAX_DEFAULT,
            client_requests_per_second: HTTP_CLIENT_REQUESTS_PER_SECOND_DEFAULT,
            client_burst: HTTP_CLIENT_BURST_DEFAULT,
            rate_limit_loopback: false,
            reads_max: crate::kernel::reads::reads_max_default(),
            client_connections_max: HTTP_CLIENT_CONNECTIONS_MAX_DEFAULT,
            client_streams_max: HTTP_CLIENT_STREAMS_MAX_DEFAULT,
            public_url: None,
        }
    }
}

/// Default most pending bytes per account, in MiB.
pub const BLOB_ACCOUNT_PENDING_MIB_DEFAULT: u64 = 64;
/// Default most pending blobs per account.
pub const BLOB_ACCOUNT_PENDING_BLOBS_DEFAULT: usize = 4_096;
/// Default most pending bytes on the node, all accounts together, in MiB.
pub const BLOB_NODE_PENDING_MIB_DEFAULT: u64 = 1_024;
/// Default most pending blobs on the node, all accounts together.
pub const BLOB_NODE_PENDING_BLOBS_DEFAULT: usize = 262_144;
/// The `[blobs]` section of a node's configuration: the upload quotas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobLimits {
    #[serde(default = "d_account_mib")]
    pub account_pending_mib: u64,
    #[serde(default = "d_account_blobs")]
    pub account_pending_blobs: usize,
    #[serde(default = "d_node_mib")]
    pub node_pending_mib: u64,
    #[serde(default = "d_node_blobs")]
    pub node_pending_blobs: usize,
}

fn d_account_mib() -> u64 {
    BLOB_ACCOUNT_PENDING_MIB_DEFAULT
}
fn d_account_blobs() -> usize {
    BLOB_ACCOUNT_PENDING_BLOBS_DEFAULT
}
fn d_node_mib() -> u64 {
    BLOB_NODE_PENDING_MIB_DEFAULT
}
fn d_node_blobs() -> usize {
    BLOB_NODE_PENDING_BLOBS_DEFAULT
}

impl Default for BlobLimits {
    fn default() -> Self {
        BlobLimits {
            account_pending_mib: BLOB_ACCOUNT_PENDING_MIB_DEFAULT,
            account_pending_blobs: BLOB_ACCOUNT_PENDING_BLOBS_DEFAULT,
            node_pending_mib: BLOB_NODE_PENDING_MIB_DEFAULT,
            node_pending_blobs: BLOB_NODE_PENDING_BLOBS_DEFAULT,
        }
    }
}

/// The `[storage]` section: below `free_floor_mib` free on the data directory's filesystem the
/// node refuses new work with `507 insufficient_storage`; `reserve_mib` is kept allocated for
/// consensus and released when the disk is nearly full (see `kernel/disk.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default = "d_floor")]
    pub free_floor_mib: u64,
    #[serde(default = "d_reserve")]
    pub reserve_mib: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            free_floor_mib: crate::kernel::disk::STORAGE_FREE_FLOOR_MIB_DEFAULT,
            reserve_mib: crate::kernel::disk::STORAGE_RESERVE_MIB_DEFAULT,
        }
    }
}

fn d_floor() -> u64 {
    crate::kernel::disk::STORAGE_FREE_FLOOR_MIB_DEFAULT
}
fn d_reserve() -> u64 {
    crate::kernel::disk::STORAGE_RESERVE_MIB_DEFAULT
}

/// The `[capture]` section of a node's configuration: the department key the node signs
/// captured events with, and its organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// The organisation the key belongs to.
    pub org: String,
    /// File holding the key's secp256k1 private key as 64 hex digits (mode 0600).
    pub key_file: PathBuf,
    /// File holding the token clients must send as `Authorization: Bearer <token>` (at least
    /// `CAPTURE_TOKEN_CHARS_MIN` characters; mode 0600). Without it anyone who reaches the API
    /// may capture, that is have the node sign records with its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Publish places that are not GS1 locations (a `geo:` read point, an address URI) in the
    /// records' public fields. Off by default: such a place may be a consumer's home; GLNs are
    /// always published.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publish_non_gs1_places: bool,
    /// Let captured `receiving` events that name an order (`urn:want:commerce:order:<id>`)
    /// confirm its delivery, signed by the capture key: whoever may capture then releases the
    /// escrow of shipped orders delivered to this organisation. Off by default; on a node whose
    /// capture needs a token (`token_file`) only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm_orders: bool,
}

/// Default most open connections of the member listener (members keep a few each).
pub const MEMBER_CONNECTIONS_MAX_DEFAULT: usize = 64;

/// This node's place in a multi-node cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's Raft id: its entry in the genesis `members` (or the id it was added with).
    pub node_id: u64,
    /// The URL other members use to reach this node: its member listener when `member_addr` is
    /// set (e.g. `http://10.0.0.5:9545`), else its HTTP API (e.g. `http://10.0.0.5:8545`).
    pub advertise_url: String,
    /// Members to contact besides those of the genesis (a node added after genesis lists the
    /// current members here so that it can verify their messages before it has the membership).
    #[serde(default)]
    pub peers: Vec<GenesisMember>,
    /// The member listener: when set, members' traffic (Raft RPCs, votes, catch-up, blob
    /// repair) is served on this address alone, with its own connection limit, and the public
    /// API refuses `POST /v1/cluster/rpc` and `POST /v1/cluster/votes` (`member_listener_only`).
    /// Unset: one listener (`http_addr`) serves everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_addr: Option<SocketAddr>,
    /// Most open connections of the member listener.
    #[serde(default = "d_member_conns")]
    pub member_connections_max: usize,
    /// Most connections one address (an IPv4 address, or an IPv6 /64) holds open on the
    /// member listener, so that one stranger cannot take every member's slot; 0: no cap.
    #[serde(default = "d_member_client_conns")]
    pub member_client_connections_max: usize,
}

fn d_member_conns() -> usize {
    MEMBER_CONNECTIONS_MAX_DEFAULT
}
fn d_member_client_conns() -> usize {
    MEMBER_CLIENT_CONNECTIONS_MAX_DEFAULT
}

impl ClusterConfig {
    /// Whether members reach this node over TLS: its advertised URL is `https://` (served on the
    /// member listener, which `validate` then requires).
    pub fn member_tls(&self) -> bool {
        want_consensus::net::is_tls_url(&self.advertise_url)
    }

    /// A member's cluster settings with one listener for everything (no `member_addr`).
    pub fn new(node_id: u64, advertise_url: String) -> ClusterConfig {
        ClusterConfig {
            node_id,
            advertise_url,
            peers: vec![],
            member_addr: None,
            member_connections_max: MEMBER_CONNECTIONS_MAX_DEFAULT,
            member_client_connections_max: MEMBER_CLIENT_CONNECTIONS_MAX_DEFAULT,
        }
    }
}

fn d_block_interval() -> u64 {
    BLOCK_INTERVAL_MS_DEFAULT
}
fn d_block_txs() -> usize {
    BLOCK_TXS_MAX_DEFAULT
}
fn d_mempool() -> usize {
    MEMPOOL_TXS_MAX_DEFAULT
}
fn d_window() -> u64 {
    MEMPOOL_NONCE_WINDOW_DEFAULT
}
fn d_sender_txs() -> usize {
    MEMPOOL_SENDER_TXS_MAX_DEFAULT
}
fn d_snapshot() -> u64 {
    want_consensus::raft::SNAPSHOT_EVERY_ENTRIES_DEFAULT
}
fn d_wait() -> u64 {
    COMMIT_WAIT_TIMEOUT_MS_DEFAULT
}

impl NodeConfig {
    /// Development defaults for a data directory and HTTP address.
    pub fn dev(data_dir: PathBuf, http_addr: SocketAddr) -> NodeConfig {
        NodeConfig {
            data_dir,
            http_addr,
            block_interval_ms: BLOCK_INTERVAL_MS_DEFAULT,
            block_txs_max: BLOCK_TXS_MAX_DEFAULT,
            mempool_txs_max: MEMPOOL_TXS_MAX_DEFAULT,
            mempool_nonce_window: MEMPOOL_NONCE_WINDOW_DEFAULT,
            mempool_sender_txs_max: MEMPOOL_SENDER_TXS_MAX_DEFAULT,
            commit_wait_timeout_ms: COMMIT_WAIT_TIMEOUT_MS_DEFAULT,
            empty_blocks: false,
            cluster: None,
            fault_injection: false,
            snapshot_every_blocks: want_consensus::raft::SNAPSHOT_EVERY_ENTRIES_DEFAULT,
            capture: None,
            storage: StorageConfig::default(),
            blobs: BlobLimits::default(),
            http: HttpLimits::default(),
        }
    }

    /// Checks every tunable against its bounds, naming the field and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        if self.block_interval_ms < BLOCK_INTERVAL_MS_MIN {
            return Err(format!(
                "block_interval_ms = {} is below the minimum {BLOCK_INTERVAL_MS_MIN}",
                self.block_interval_ms
            ));
        }
        if self.block_txs_max == 0 || self.block_txs_max > BLOCK_TXS_MAX_LIMIT {
            return Err(format!(
                "block_txs_max = {} must be between 1 and {BLOCK_TXS_MAX_LIMIT}",
                self.block_txs_max
            ));
        }
        if self.mempool_txs_max == 0 {
            return Err("mempool_txs_max must be at least 1".into());
        }
        if self.snapshot_every_blocks < want_consensus::raft::SNAPSHOT_EVERY_ENTRIES_MIN {
            return Err(format!(
                "snapshot_every_blocks = {} is below the minimum {}",
                self.snapshot_every_blocks,
                want_consensus::raft::SNAPSHOT_EVERY_ENTRIES_MIN
            ));
        }
        if self.mempool_nonce_window == 0 {
            return Err(
                "mempool_nonce_window must be at least 1 (1: no nonce may be skipped)".into(),
            );
        }
        if self.mempool_sender_txs_max == 0 {
            return Err("mempool_sender_txs_max must be at least 1".into());
        }
        if self.http.client_requests_per_second > 0 && self.http.client_burst == 0 {
            return Err(
                "http.client_burst must be at least 1 while http.client_requests_per_second is set (0 turns the per-client limit off)"
                    .into(),
            );
        }
        if self.http.connections_max == 0
            || self.http.header_read_timeout_ms == 0
            || self.http.ws_clients_max == 0
        {
            return Err(
                "http.connections_max, http.header_read_timeout_ms and http.ws_clients_max must be at least 1"
                    .into(),
            );
        }
        if self.http.reads_max == 0 || self.http.reads_max > crate::kernel::reads::READS_MAX_LIMIT {
            return Err(format!(
                "http.reads_max = {} must be between 1 and {}",
                self.http.reads_max,
                crate::kernel::reads::READS_MAX_LIMIT
            ));
        }
        if let Some(url) = &self.http.public_url {
            check_public_url(url)?;
        }
        if self.http.request_timeout_ms <= self.commit_wait_timeout_ms {
            return Err(format!(
                "http.request_timeout_ms = {} must be longer than commit_wait_timeout_ms = {} (a ?wait=commit request waits that long)",
                self.http.request_timeout_ms, self.commit_wait_timeout_ms
            ));
        }
        if self.storage.reserve_mib > crate::kernel::disk::STORAGE_RESERVE_MIB_MAX {
            return Err(format!(
                "storage.reserve_mib = {} is above the maximum {}",
                self.storage.reserve_mib,
                crate::kernel::disk::STORAGE_RESERVE_MIB_MAX
            ));
        }
        if let Some(c) = &self.cluster {
            if c.member_addr == Some(self.http_addr) {
                return Err(format!(
                    "cluster.member_addr = {} is http_addr too; give the member listener its own port (or leave member_addr out to serve members on http_addr)",
                    self.http_addr
                ));
            }
            if c.member_tls() && c.member_addr.is_none() {
                return Err(format!(
                    "cluster.advertise_url = {:?} is https://, but members' TLS is served on the member listener only and cluster.member_addr is not set; set cluster.member_addr (e.g. \"0.0.0.0:9545\") and advertise its port, or advertise an http:// URL",
                    c.advertise_url
                ));
            }
            if c.member_connections_max == 0 {
                return Err("cluster.member_connections_max must be at least 1".into());
            }
        }
        if let Some(c) = &self.capture {
            if c.token_file.is_none() && !self.http_addr.ip().is_loopback() {
                return Err(format!(
                    "capture: without capture.token_file anyone who reaches http_addr {} could have this node sign records with organisation {:?}'s key; set capture.token_file (a file holding a long random token, e.g. `openssl rand -hex 32 > capture-token && chmod 600 capture-token`) or listen on a loopback address only",
                    self.http_addr, c.org
                ));
            }
        }
        Ok(())
    }
}

/// The genesis of a chain: parameters, time, the initial allocation of the whole supply, the
/// members, the modules' sections and the activations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub params: ChainParams,
    pub genesis_time_ms: u64,
    /// Must sum to exactly the total supply; nothing is ever minted afterwards.
    pub allocations: Vec<Allocation>,
    /// The initial voting members of a multi-node cluster; empty for a single-member chain (its
    /// only member is whichever node runs it).
    #[serde(default)]
    pub members: Vec<GenesisMember>,
    /// From which height each module and rule applies (absent: from the genesis). Not part of
    /// the genesis hash: an operator adds an activation at a future height to a running chain
    /// (the same on every member), and the node refuses one that would change a past block.
    #[serde(default, skip_serializing_if = "is_default")]
    pub activations: Activations,
    /// Each module's section, by module name (`"trace": {"admin", "orgs"}`).
    #[serde(flatten)]
    pub sections: BTreeMap<String, serde_json::Value>,
}

fn is_default(a: &Activations) -> bool {
    a.0.is_empty()
}

/// Name of the development organisation, which holds every role.
pub const DEV_ORG: &str = "dev";

/// The trace section of the development chain: the development account is the administrator and
/// the one key of an organisation holding every role, so a newcomer can capture at once.
pub fn dev_trace_genesis() -> TraceGenesis {
    let key = dev_private_key();
    TraceGenesis {
        admin: Some(key.address()),
        orgs: vec![GenesisOrg {
            org: DEV_ORG.to_string(),
            name: "Development organisation".to_string(),
            kind: want_types::trace::OrgKind::Brand,
            encryption_key: hex::encode(key.public_key().serialize()),
            keys: vec![GenesisOrgKey {
                address: key.address(),
                department: "development".to_string(),
                roles: want_types::trace::Role::ALL.to_vec(),
            }],
        }],
    }
}

/// How many price reporter keys beside the dev account's the development chain registers.
pub const DEV_REPORTERS: u8 = 3;

/// The development chain's price reporter key `i` (1 to [`DEV_REPORTERS`]): like the dev
/// account's, derived from [`DEV_KEY_SEED`] and publicly known (`want dev` writes them beside
/// its key as `dev-reporter-<i>.hex`).
pub fn dev_reporter_key(i: u8) -> want_crypto::PrivateKey {
    let seed = want_types::hash::sha256(&[DEV_KEY_SEED, b"/price-reporter/", &[i]].concat());
    want_crypto::PrivateKey::from_bytes(&seed.0)
        .expect("invariant: the SHA-256 of a dev seed is a valid secp256k1 key")
}

/// The commerce section of the development chain: the development account is the commerce
/// administrator and a price reporter, with [`DEV_REPORTERS`] more reporters, so an offer priced
/// in another currency can be bought at once (three reports make a rate).
pub fn dev_commerce_genesis() -> CommerceGenesis {
    let mut price_reporters = vec![dev_private_key().address()];
    price_reporters.extend((1..=DEV_REPORTERS).map(|i| dev_reporter_key(i).address()));
    CommerceGenesis {
        admin: Some(dev_private_key().address()),
        price_reporters,
    }
}

/// The default credit model of the development chain: a scorecard trained by `want credit
/// train` on the UCI Statlog German Credit data (`testdata/credit/`, seed 42), published at
/// genesis so that a new user can score at once. A frozen copy, apart from
/// `german-model.json` (which the training test keeps equal to the training's output): the dev
/// chain's genesis must not change when the training does.
pub const DEV_CREDIT_MODEL_JSON: &str =
    include_str!("../../../testdata/credit/dev-genesis-model.json");
/// Its name on the development chain.
pub const DEV_CREDIT_MODEL_NAME: &str = "german-dev";

/// The credit section of the development chain: the development account is the credit
/// administrator and a scorer, and [`DEV_CREDIT_MODEL_JSON`] is published at genesis.
pub fn dev_credit_genesis() -> CreditGenesis {
    let dev = dev_private_key().address();
    CreditGenesis {
        admin: Some(dev),
        scorers: vec![dev],
        models: vec![GenesisModel {
            scorer: dev,
            name: DEV_CREDIT_MODEL_NAME.to_string(),
            model: serde_json::from_str(DEV_CREDIT_MODEL_JSON)
                .expect("invariant: the dev credit model in testdata is JSON"),
        }],
    }
}

/// A voting member named in the genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisMember {
    /// Raft id, unique in the cluster (1, 2, 3, …).
    pub id: u64,
    /// The member's Ed25519 node public key, 64 hex digits.
    pub public_key: String,
    /// The URL of the member's HTTP API, where its Raft RPCs go.
    pub url: String,
}

/// Most members a cluster may have (votes and certificates are sized for it).
pub use want_types::CLUSTER_MEMBERS_MAX;

/// One genesis allocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Allocation {
    pub address: Address,
    #[serde(with = "want_types::amount::dec")]
    pub amount: Amount,
}

/// The development account's private key (publicly known).
pub fn dev_private_key() -> want_crypto::PrivateKey {
    let seed = want_types::hash::sha256(DEV_KEY_SEED);
    want_crypto::PrivateKey::from_bytes(&seed.0)
        .expect("invariant: the SHA-256 of the dev seed is a valid secp256k1 key")
}

impl Genesis {
    /// The genesis members as Raft's membership names them (id → node key and URL).
    pub fn member_nodes(&self) -> BTreeMap<u64, want_consensus::MemberNode> {
        self.members
            .iter()
            .map(|m| {
                (
                    m.id,
                    want_consensus::MemberNode {
                        public_key: m.public_key.clone(),
                        addr: m.url.clone(),
                    },
                )
            })
            .collect()
    }
}

impl Genesis {
    /// The development genesis: the whole supply to the development account.
    pub fn dev() -> Genesis {
        Genesis {
            params: ChainParams {
                chain_id: DEV_CHAIN_ID,
                min_fee: DEV_MIN_FEE,
                pow_difficulty_bits: DEV_POW_DIFFICULTY_BITS,
                transfer_fee_bps: TRANSFER_FEE_BPS,
                incentive_pool: Address::system("incentive-pool"),
                base_weight: want_types::params::BASE_WEIGHT_DEFAULT,
                fee_per_kweight: want_types::params::FEE_PER_KWEIGHT_DEFAULT,
                block_weight_max: want_types::params::BLOCK_WEIGHT_MAX_DEFAULT,
            },
            genesis_time_ms: DEV_GENESIS_TIME_MS,
            allocations: vec![Allocation {
                address: dev_private_key().address(),
                amount: TOTAL_SUPPLY,
            }],
            members: vec![],
            activations: Activations::default(),
            sections: [
                (
                    "trace".to_string(),
                    serde_json::to_value(dev_trace_genesis())
                        .expect("invariant: the dev trace section serialises to JSON"),
                ),
                (
                    "commerce".to_string(),
                    serde_json::to_value(dev_commerce_genesis())
                        .expect("invariant: the dev commerce section serialises to JSON"),
                ),
                (
                    "credit".to_string(),
                    serde_json::to_value(dev_credit_genesis())
                        .expect("invariant: the dev credit section serialises to JSON"),
                ),
            ]
            .into_iter()
            .collect(),
        }
    }

    /// The development genesis of the builds before the credit module (2026-12-08):
    /// [`Genesis::dev`] without its credit section. A `want dev` data directory of such a build
    /// is that chain; `want dev` goes on with it (the credit module then applies from its next
    /// block, without scorers or models) rather than refuse it.
    pub fn dev_before_credit() -> Genesis {
        let mut g = Genesis::dev();
        g.sections.remove("credit");
        g
    }

    /// The development genesis of the builds before prices in other currencies: [`Genesis::dev`]
    /// without its commerce and credit sections. A `want dev` data directory of such a build is
    /// that chain; `want dev` goes on with it (without price reporters) rather than refuse it.
    pub fn dev_before_prices() -> Genesis {
        let mut g = Genesis::dev_before_credit();
        g.sections.remove("commerce");
        g
    }

    /// Sets the module section `name` (`genesis.<name>`) from its typed value.
    pub fn set_section<T: Serialize>(&mut self, name: &str, section: &T) {
        self.sections.insert(
            name.to_string(),
            serde_json::to_value(section).expect("invariant: a genesis section serialises to JSON"),
        );
    }

    /// Hash of the whole genesis specification; it is the genesis block's `prev_hash`, so the
    /// genesis hash commits to every parameter and section (not to the activations).
    ///
    /// The parameters, time and allocations as they were always encoded; then, when there are
    /// members or a non-empty section, the members; then each module's section
    /// (`want_state::kernel::genesis::sections_spec_bytes`). So a genesis of an older build
    /// (no members, the trace section alone) keeps its hash.
    pub fn spec_hash(&self) -> Result<Hash32, String> {
        let encode = "invariant: borsh encoding into a Vec cannot fail";
        let mut bytes = self.params.spec_bytes();
        bytes.extend(borsh::to_vec(&(&self.genesis_time_ms, &self.allocations)).expect(encode));
        let sections = want_state::kernel::genesis::sections_spec_bytes(&self.sections)
            .map_err(|e| format!("genesis: {e}"))?;
        if !self.members.is_empty() || !sections.is_empty() {
            bytes.extend(borsh::to_vec(&self.members).expect(encode));
        }
        bytes.extend(sections);
        Ok(want_types::sha256d(&bytes))
    }

    /// Checks the membership: unique ids, well-formed keys, at most [`CLUSTER_MEMBERS_MAX`].
    pub fn validate_members(&self) -> Result<(), String> {
        if self.members.len() > CLUSTER_MEMBERS_MAX {
            return Err(format!(
                "genesis.members has {} entries; at most {CLUSTER_MEMBERS_MAX} are allowed",
                self.members.len()
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut keys = std::collections::BTreeSet::new();
        for (i, m) in self.members.iter().enumerate() {
            if !ids.insert(m.id) {
                return Err(format!("genesis.members[{i}].id {} is used twice", m.id));
            }
            let key = hex::decode(&m.public_key)
                .ok()
                .filter(|k| k.len() == 32)
                .ok_or_else(|| {
                    format!("genesis.members[{i}].public_key is not 64 hex digits (an Ed25519 public key)")
                })?;
            if !keys.insert(key) {
                return Err(format!("genesis.members[{i}].public_key is used twice"));
            }
            if !(m.url.starts_with("http://") || m.url.starts_with("https://")) {
                return Err(format!(
                    "genesis.members[{i}].url {:?} must start with http:// or https://",
                    m.url
                ));
            }
        }
        Ok(())
    }

    /// Where this genesis names the development key, whose private key is published
    /// ([`DEV_KEY_SEED`]), as paths in the genesis file: the incentive pool
    /// (`params.incentive_pool`), an allocation that funds it (`allocations[0]`), and every
    /// string of a module's section that is its address (either form) or public key (compressed
    /// or not): `trace.admin`, `trace.orgs[0].keys[0].address`, `trace.orgs[0].encryption_key`.
    /// Module-agnostic on purpose: a module's section that grants the key a role is found without
    /// the kernel knowing the section's shape.
    pub fn dev_key_mentions(&self) -> Vec<String> {
        let key = dev_private_key();
        let address = key.address();
        let public_keys = [
            key.public_key_compressed().to_vec(),
            key.public_key_uncompressed().to_vec(),
        ];
        // The dev price reporter keys are published too.
        let reporters: Vec<Address> = (1..=DEV_REPORTERS)
            .map(|i| dev_reporter_key(i).address())
            .collect();
        let names_dev_key = |s: &str| {
            s.parse::<Address>()
                .is_ok_and(|a| a == address || reporters.contains(&a))
                || hex::decode(s.trim().strip_prefix("0x").unwrap_or(s.trim()))
                    .is_ok_and(|bytes| public_keys.contains(&bytes))
        };
        let mut found = Vec::new();
        if self.params.incentive_pool == address {
            found.push("params.incentive_pool".to_string());
        }
        for (i, a) in self.allocations.iter().enumerate() {
            if a.address == address && a.amount > 0 {
                found.push(format!("allocations[{i}]"));
            }
        }
        for (name, section) in &self.sections {
            strings_matching(section, name, &names_dev_key, &mut found);
        }
        found
    }

    /// Builds the genesis state and block.
    pub fn build(&self) -> Result<(Block, want_state::WriteSet, Hash32), String> {
        let allocations: Vec<(Address, Amount)> = self
            .allocations
            .iter()
            .map(|a| (a.address, a.amount))
            .collect();
        let (write_set, state_root) = want_state::genesis_state(&want_state::GenesisInput {
            params: &self.params,
            allocations: &allocations,
            sections: &self.sections,
            activations: &self.activations,
        })
        .map_err(|e| format!("invalid genesis: {e}"))?;
        let block = Block {
            header: BlockHeader {
                chain_id: self.params.chain_id,
                height: 0,
                prev_hash: self.spec_hash()?,
                timestamp_ms: self.genesis_time_ms,
                tx_root: want_crypto::merkle_root(&[]),
                tx_count: 0,
                parent_state_root: state_root,
                proposer: vec![],
            },
            signature: vec![],
            txs: vec![],
        };
        Ok((block, write_set, state_root))
    }
}

/// Appends to `found` the path (`trace.orgs[0].keys[0].address`) of every string in `value`
/// that `matches`. Depth is bounded by the JSON parser's recursion limit.
fn strings_matching(
    value: &serde_json::Value,
    path: &str,
    matches: &dyn Fn(&str) -> bool,
    found: &mut Vec<String>,
) {
    match value {
        serde_json::Value::String(s) if matches(s) => found.push(path.to_string()),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings_matching(item, &format!("{path}[{i}]"), matches, found);
            }
        }
        serde_json::Value::Object(members) => {
            for (k, item) in members {
                strings_matching(item, &format!("{path}.{k}"), matches, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod dev_key_tests {
    use super::*;

    #[test]
    fn the_dev_genesis_names_the_dev_key_as_funded_administrator_and_organisation_key() {
        assert_eq!(
            Genesis::dev().dev_key_mentions(),
            vec![
                "allocations[0]",
                "commerce.admin",
                "commerce.price_reporters[0]",
                "commerce.price_reporters[1]",
                "commerce.price_reporters[2]",
                "commerce.price_reporters[3]",
                "credit.admin",
                "credit.models[0].scorer",
                "credit.scorers[0]",
                "trace.admin",
                "trace.orgs[0].encryption_key",
                "trace.orgs[0].keys[0].address",
            ]
        );
    }

    /// The dev chain's default model is consensus data: its canonical bytes and id are pinned, so
    /// that a change of the scorecard's format or of the frozen file is seen here first.
    #[test]
    fn the_dev_genesis_model_has_a_pinned_id() {
        let model = want_scorecard::Model::from_json(DEV_CREDIT_MODEL_JSON).unwrap();
        let canonical = serde_json::to_string(&model).unwrap();
        let id = want_types::modules::credit::model_id(&dev_private_key().address(), &canonical);
        assert_eq!(
            id.to_hex(),
            "1242bc66dd834927856e174ba194ca56756c32ce4ba0b26ae14b81f68f067d6f"
        );
    }

    #[test]
    fn a_genesis_of_other_keys_does_not_name_the_dev_key() {
        let owner = want_crypto::PrivateKey::generate();
        let mut g = Genesis::dev();
        g.allocations = vec![Allocation {
            address: owner.address(),
            amount: TOTAL_SUPPLY,
        }];
        g.set_section(
            "trace",
            &TraceGenesis {
                admin: Some(owner.address()),
                orgs: vec![],
            },
        );
        g.set_section(
            "commerce",
            &CommerceGenesis {
                admin: Some(owner.address()),
                price_reporters: vec![owner.address()],
            },
        );
        g.set_section(
            "credit",
            &CreditGenesis {
                admin: Some(owner.address()),
                scorers: vec![owner.address()],
                models: vec![],
            },
        );
        assert!(g.dev_key_mentions().is_empty());
    }

    #[test]
    fn the_dev_key_is_found_in_hex_form_as_the_pool_and_a_zero_allocation_is_not_funding() {
        let dev = dev_private_key();
        let mut g = Genesis::dev();
        // Its commerce and credit sections name the dev keys too: see the test above.
        g.sections.remove("commerce");
        g.sections.remove("credit");
        g.params.incentive_pool = dev.address();
        g.allocations.push(Allocation {
            address: dev.address(),
            amount: 0,
        });
        g.sections.insert(
            "trace".into(),
            serde_json::json!({"admin": hex::encode(dev.address().0)}),
        );
        g.sections.insert(
            "example".into(),
            serde_json::json!({"keys": [hex::encode(dev.public_key_uncompressed())]}),
        );
        assert_eq!(
            g.dev_key_mentions(),
            vec![
                "params.incentive_pool",
                "allocations[0]",
                "example.keys[0]",
                "trace.admin",
            ]
        );
    }
}

#[cfg(test)]
mod dev_commerce_tests {
    use super::*;

    #[test]
    fn the_dev_commerce_section_names_the_dev_account_and_three_reporters_all_found_as_dev_keys() {
        let g = Genesis::dev();
        let c = want_state::modules::commerce::genesis::parse(g.sections.get("commerce")).unwrap();
        assert_eq!(c.admin, Some(dev_private_key().address()));
        assert_eq!(c.price_reporters.len(), 1 + usize::from(DEV_REPORTERS));
        let mentions = g.dev_key_mentions();
        for i in 0..=usize::from(DEV_REPORTERS) {
            assert!(
                mentions.contains(&format!("commerce.price_reporters[{i}]")),
                "{mentions:?}"
            );
        }
        assert!(mentions.contains(&"commerce.admin".to_string()));
    }
}

#[cfg(test)]
mod capture_rule_tests {
    use super::*;

    fn with_capture(addr: &str, token: bool) -> NodeConfig {
        let mut cfg = NodeConfig::dev("data".into(), addr.parse().expect("an address"));
        cfg.capture = Some(CaptureConfig {
            org: "acme".into(),
            key_file: "capture.key".into(),
            token_file: token.then(|| "capture-token".into()),
            publish_non_gs1_places: false,
            confirm_orders: false,
        });
        cfg
    }

    #[test]
    fn capture_without_a_token_is_refused_unless_the_api_listens_on_loopback_only() {
        let e = with_capture("0.0.0.0:8545", false).validate().unwrap_err();
        assert!(
            e.contains("capture.token_file") && e.contains("acme"),
            "{e}"
        );
        for addr in ["10.0.0.5:8545", "[::]:8545"] {
            let e = with_capture(addr, false).validate().unwrap_err();
            assert!(
                e.starts_with("capture: without capture.token_file") && e.contains(addr),
                "{addr}: {e}"
            );
        }
        with_capture("127.0.0.1:8545", false).validate().unwrap();
        with_capture("[::1]:8545", false).validate().unwrap();
        with_capture("0.0.0.0:8545", true).validate().unwrap();
    }
}

#[cfg(test)]
mod public_url_tests {
    use super::*;

    #[test]
    fn hosts_are_names_or_addresses_with_an_optional_port_and_bounded() {
        for ok in [
            "localhost",
            "trace.example.com",
            "trace.example.com:8545",
            "10.0.0.5:80",
            "[::1]",
            "[2001:db8::1]:8545",
            "xn--bcher-kva.example",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        let long_label = format!("{}.example", "a".repeat(64));
        let long = format!("{}.example", vec!["a".repeat(60); 5].join("."));
        for bad in [
            "",
            "a b",
            "evil.com/path",
            "evil.com:",
            "evil.com:0",
            "evil.com:65536",
            "evil.com:80:81",
            "-evil.com",
            "evil..com",
            "[::1",
            "[::1]x",
            "[nope]",
            "user@evil.com",
            "<script>",
            long_label.as_str(),
            long.as_str(),
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
        assert!(long.len() > HOST_BYTES_MAX);
    }

    #[test]
    fn a_public_url_must_be_an_http_url_with_a_valid_host() {
        let mut cfg = NodeConfig::dev("data".into(), "127.0.0.1:8545".parse().unwrap());
        for ok in [
            "https://trace.example.com",
            "http://10.0.0.5:8545",
            "https://example.com/want/",
        ] {
            cfg.http.public_url = Some(ok.into());
            cfg.validate().unwrap();
        }
        for bad in [
            "trace.example.com",
            "ftp://trace.example.com",
            "https://",
            "https://evil com",
            "https://example.com/a b",
            "https://example.com/\"><script>",
        ] {
            cfg.http.public_url = Some(bad.into());
            let e = cfg.validate().unwrap_err();
            assert!(e.contains("http.public_url"), "{bad}: {e}");
        }
        cfg.http.public_url = Some(format!(
            "https://example.com/{}",
            "a".repeat(PUBLIC_URL_BYTES_MAX)
        ));
        assert!(cfg.validate().unwrap_err().contains("longer than"));
    }
}

#[cfg(test)]
mod member_tls_tests {
    use super::*;

    #[test]
    fn an_https_member_url_needs_a_member_listener() {
        let mut cfg = NodeConfig::dev("data".into(), "127.0.0.1:8545".parse().unwrap());
        cfg.cluster = Some(ClusterConfig::new(1, "https://10.0.0.5:9545".into()));
        let e = cfg.validate().unwrap_err();
        assert!(
            e.contains("cluster.advertise_url") && e.contains("cluster.member_addr"),
            "{e}"
        );
        if let Some(c) = cfg.cluster.as_mut() {
            c.member_addr = Some("0.0.0.0:9545".parse().unwrap());
        }
        cfg.validate().unwrap();
        assert!(cfg.cluster.as_ref().is_some_and(|c| c.member_tls()));
        // Plain http:// keeps serving members on http_addr.
        cfg.cluster = Some(ClusterConfig::new(1, "http://10.0.0.5:8545".into()));
        cfg.validate().unwrap();
    }
}

#[cfg(test)]
mod parser_tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzz_inputs::{mutated, nasty_char};

    /// Fields `validate` names first in its refusals.
    const CHECKED: [&str; 11] = [
        "block_interval_ms",
        "block_txs_max",
        "mempool_txs_max",
        "snapshot_every_blocks",
        "mempool_nonce_window",
        "mempool_sender_txs_max",
        "http.connections_max,",
        "http.request_timeout_ms",
        "storage.reserve_mib",
        "capture:",
        "commit_wait_timeout_ms",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            prop::collection::vec(nasty_char(), 0..80).prop_map(|v| v.into_iter().collect()),
        ]
    }

    fn valid_config() -> impl Strategy<Value = String> {
        (any::<u16>(), 0u64..2_000, 0usize..20_000, 0u64..100_000).prop_map(
            |(port, interval, txs, timeout)| {
                let mut c = NodeConfig::dev("data".into(), ([0, 0, 0, 0], port).into());
                c.block_interval_ms = interval;
                c.block_txs_max = txs;
                c.http.request_timeout_ms = timeout;
                toml::to_string(&c).unwrap()
            },
        )
    }

    /// A configuration text is a configuration whose check passes or names a field, or a
    /// TOML error.
    fn check_config(s: &str) -> Result<(), TestCaseError> {
        if let Ok(c) = toml::from_str::<NodeConfig>(s) {
            if let Err(e) = c.validate() {
                prop_assert!(CHECKED.iter().any(|f| e.starts_with(f)), "{e}");
            }
            let again: NodeConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
            prop_assert_eq!(format!("{again:?}"), format!("{c:?}"));
        }
        Ok(())
    }

    fn check_genesis(s: &str) -> Result<(), TestCaseError> {
        if let Ok(g) = serde_json::from_str::<Genesis>(s) {
            let _ = g.validate_members();
            let _ = g.spec_hash();
            let _ = g.dev_key_mentions();
            let again: Genesis = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
            prop_assert_eq!(again, g);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_is_a_checked_config_or_refused(s in text()) {
            check_config(&s)?;
            check_config(&format!("data_dir = \"d\"\nhttp_addr = \"127.0.0.1:1\"\n{s}"))?;
        }

        #[test]
        fn mutated_configs_are_checked_configs_or_refused(s in mutated(valid_config())) {
            check_config(&s)?;
        }

        #[test]
        fn written_configs_read_back(s in valid_config()) {
            let c: NodeConfig = toml::from_str(&s).unwrap();
            prop_assert_eq!(toml::to_string(&c).unwrap(), s);
        }

        #[test]
        fn any_text_is_a_genesis_or_refused(s in text()) {
            check_genesis(&s)?;
        }

        #[test]
        fn mutated_geneses_are_geneses_or_refused(
            s in mutated(Just(serde_json::to_string(&Genesis::dev()).unwrap())),
        ) {
            check_genesis(&s)?;
        }
    }

    #[test]
    fn the_dev_genesis_reads_back() {
        let g = Genesis::dev();
        let again: Genesis = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(again, g);
    }
}
