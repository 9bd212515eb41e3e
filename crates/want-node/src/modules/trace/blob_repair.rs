//! Blob upkeep. Replication: a blob a member accepts is copied to the other members in the
//! background ([`TraceNode::replicate_blobs`]). Repair: a member that lacks the sealed blob of a record (or KYC document) the chain
//! references — because it was down or unreachable when the capturing member pushed its copy —
//! fetches it from the other members.
//!
//! Which blobs are wanted: at start, every CID the state references (`trace/cid/`,
//! `trace/kycdoc/`) that is not in the local store; afterwards, those of each committed block's
//! successful anchor and KYC transactions. A wanted blob is first asked for after
//! [`BLOB_REPAIR_FIRST_DELAY_MS`] (the capturing member's push usually lands first), then with
//! doubling delays up to [`BLOB_REPAIR_RETRY_MAX_MS`], until some member serves bytes that hash
//! to the CID. Members ask each other through `GET /v1/cluster/blobs/{cid}`, signed with their
//! node key for the chain and the member asked ([`member_read_digest`]); blobs are ciphertext, and only members are served this
//! way (readers go through `GET /v1/blobs/{cid}` and its access checks).
//!
//! Collection: every node deletes, hourly, the blobs older than [`ORPHAN_BLOB_AGE_MS`] that no
//! record or KYC document references ([`collect_orphans`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use want_state::trace::query;
use want_types::trace::TraceCall;
use want_types::{sha256d, Call, Hash32, TxStatus};

use super::access::BLOB_READ_WINDOW_MS;
use super::blobs::{BlobStore, BLOB_BYTES_MAX};
use super::TraceNode;
use crate::kernel::node::{now_ms, Node, Shared};

/// Age after which a stored blob that no record or KYC document references is deleted, in
/// milliseconds: longer than any transaction signed before its upload may wait to reference it
/// (expiry at most 24 h ahead), and a blob stored again is young again.
pub const ORPHAN_BLOB_AGE_MS: u64 = 48 * 60 * 60 * 1000;
/// How often the orphan collector runs, in milliseconds (first one minute after start).
pub const ORPHAN_GC_INTERVAL_MS: u64 = 60 * 60 * 1000;

/// Domain tag of the digest a member signs to fetch a blob from another member (v2: bound to
/// the chain, the addressed member, the method and the path).
pub const BLOB_MEMBER_READ_TAG: &[u8] = b"WANT-BLOB-MEMBER-READ-v2";
/// How long after a blob is found wanted it is first asked for, in milliseconds.
pub const BLOB_REPAIR_FIRST_DELAY_MS: u64 = 2_000;
/// Longest wait between two attempts at one blob, in milliseconds.
pub const BLOB_REPAIR_RETRY_MAX_MS: u64 = 300_000;
/// Most blobs wanted at once (more are found again by the next start's scan).
pub const BLOB_REPAIR_WANTED_MAX: usize = 100_000;
/// Most blobs asked for per round.
pub const BLOB_REPAIR_ROUND_MAX: usize = 64;
/// Longest pause between rounds, in milliseconds.
pub const BLOB_REPAIR_TICK_MS: u64 = 1_000;
/// Timeout of one fetch from a member, in milliseconds.
pub const BLOB_REPAIR_HTTP_TIMEOUT_MS: u64 = 30_000;

/// Header naming the asking member's node public key (hex).
pub const MEMBER_HEADER: &str = "X-Want-Member";
/// Header with the request's Unix time in milliseconds.
pub const TIME_HEADER: &str = "X-Want-Time";
/// Header with the member's Ed25519 signature (hex) of [`member_read_digest`].
pub const SIGNATURE_HEADER: &str = "X-Want-Signature";

/// Method and path a member fetches blob `cid` from another member with.
pub const MEMBER_READ_METHOD: &str = "GET";
/// The path of `GET /v1/cluster/blobs/{cid}`.
pub fn member_read_path(cid: &str) -> String {
    format!("/v1/cluster/blobs/{cid}")
}
/// Method and path a member pushes a copy of a blob to another member with.
pub const MEMBER_PUT_METHOD: &str = "PUT";
/// The path of a member's push (`PUT /v1/blobs`).
pub const MEMBER_PUT_PATH: &str = "/v1/blobs";

/// `sha256d(tag || chain_id BE || len-prefixed target node id || method || path || cid ||
/// time_ms BE)`, each variable field preceded by its length (u32 BE): what a member signs for
/// one request to one member of one chain, so that it verifies nowhere else.
fn member_digest(
    tag: &[u8],
    chain_id: u64,
    target: &[u8],
    method: &str,
    path: &str,
    cid: &str,
    time_ms: u64,
) -> Hash32 {
    let fields: [&[u8]; 4] = [target, method.as_bytes(), path.as_bytes(), cid.as_bytes()];
    let variable: usize = fields.iter().map(|f| f.len().saturating_add(4)).sum();
    let mut buf = Vec::with_capacity(tag.len().saturating_add(16).saturating_add(variable));
    buf.extend_from_slice(tag);
    buf.extend_from_slice(&chain_id.to_be_bytes());
    for f in fields {
        // Every field is far below 4 GiB (a key, a method, a path and a CID the HTTP server
        // bounded); saturate rather than wrap if one ever were not.
        let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(f);
    }
    buf.extend_from_slice(&time_ms.to_be_bytes());
    sha256d(&buf)
}

/// The digest a member signs (Ed25519) to fetch blob `cid` at `time_ms` from the member whose
/// node key is `target` on chain `chain_id` (`GET /v1/cluster/blobs/{cid}`).
pub fn member_read_digest(chain_id: u64, target: &[u8], cid: &str, time_ms: u64) -> Hash32 {
    member_digest(
        BLOB_MEMBER_READ_TAG,
        chain_id,
        target,
        MEMBER_READ_METHOD,
        &member_read_path(cid),
        cid,
        time_ms,
    )
}

/// Checks a member's signed blob request: `member` (hex) is a voting member's node key, its
/// time is within [`BLOB_READ_WINDOW_MS`] of `now_ms`, and `signature` (hex) is its Ed25519
/// signature of `digest` ([`member_read_digest`] or [`member_put_digest`] of this chain, this
/// node, the blob and the time: a request signed for another member or chain does not verify).
pub fn authorize_member(
    shared: &Shared,
    digest: &Hash32,
    member: &str,
    time_ms: u64,
    signature: &str,
    now_ms: u64,
) -> Result<(), crate::NodeError> {
    use want_state::trace::codes;
    let denied = |m: String| crate::NodeError::rejected(codes::BLOB_ACCESS_DENIED, m);
    if time_ms.abs_diff(now_ms) > BLOB_READ_WINDOW_MS {
        return Err(denied(format!(
            "{TIME_HEADER} {time_ms} is more than {} s from this member's clock {now_ms}",
            BLOB_READ_WINDOW_MS / 1000
        )));
    }
    let key = hex::decode(member).map_err(|_| denied(format!("{MEMBER_HEADER} is not hex")))?;
    if !shared.member_keys().iter().any(|k| k[..] == key[..]) {
        return Err(denied(format!(
            "{MEMBER_HEADER} {member} is not a member of this cluster"
        )));
    }
    let signature =
        hex::decode(signature).map_err(|_| denied(format!("{SIGNATURE_HEADER} is not hex")))?;
    want_crypto::verify_ed25519(&key, digest.as_bytes(), &signature)
    .map_err(|e| denied(format!("{SIGNATURE_HEADER} does not verify: {e}")))
}

/// One wanted blob: when to ask next and how long to wait after that.
#[derive(Clone, Copy, Debug)]
struct Want {
    due: Instant,
    backoff: Duration,
}

/// Starts the repair task of a member of a cluster (a single node has no one to ask): a
/// commit observer, following committed blocks through [`Node::subscribe_commits`].
pub fn spawn_blob_repair(node: &Node, trace: &Arc<TraceNode>, shutdown: watch::Receiver<bool>) {
    let shared = &node.shared;
    if shared.vote_peers().is_empty() {
        return;
    }
    let http = match shared
        .member_client()
        .pool_idle_timeout(Duration::from_millis(
            want_consensus::net::transport::POOL_IDLE_TIMEOUT_MS,
        ))
        .timeout(Duration::from_millis(BLOB_REPAIR_HTTP_TIMEOUT_MS))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!(target: "trace::blobs", "cannot build the HTTP client for blob repair: {e}; missing blobs are not fetched");
            return;
        }
    };
    let blocks = node.subscribe_commits();
    tokio::spawn(repair_loop(
        Arc::downgrade(shared),
        trace.clone(),
        blocks,
        shutdown,
        http,
    ));
}

async fn repair_loop(
    node: Weak<Shared>,
    trace: Arc<TraceNode>,
    mut blocks: broadcast::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
    http: reqwest::Client,
) {
    let mut wanted: BTreeMap<String, Want> = BTreeMap::new();
    let mut rescan = true;
    loop {
        if rescan {
            rescan = false;
            let Some(shared) = node.upgrade() else { return };
            let t = trace.clone();
            match tokio::task::spawn_blocking(move || missing_referenced(&shared, &t)).await {
                Ok(Ok(cids)) => {
                    if !cids.is_empty() {
                        info!(target: "trace::blobs", "{} referenced blobs are missing here; fetching them from the other members", cids.len());
                    }
                    want_all(&mut wanted, cids);
                }
                Ok(Err(e)) => warn!(target: "trace::blobs", "cannot scan for missing blobs: {e}"),
                Err(e) => warn!(target: "trace::blobs", "the scan for missing blobs failed: {e}"),
            }
        }
        let next_due = wanted.values().map(|w| w.due).min();
        let tick = Instant::now() + Duration::from_millis(BLOB_REPAIR_TICK_MS);
        let wake = next_due.map_or(tick, |d| d.min(tick));
        tokio::select! {
            _ = shutdown.changed() => return,
            h = blocks.recv() => match h {
                Ok(height) => {
                    let Some(shared) = node.upgrade() else { return };
                    let t = trace.clone();
                    match tokio::task::spawn_blocking(move || missing_in_block(&shared, &t, height)).await {
                        Ok(Ok(cids)) => want_all(&mut wanted, cids),
                        Ok(Err(e)) => warn!(target: "trace::blobs", "cannot read block {height} for its blobs: {e}"),
                        Err(e) => warn!(target: "trace::blobs", "reading block {height} for its blobs failed: {e}"),
                    }
                }
                // Heights were skipped: look at everything again.
                Err(broadcast::error::RecvError::Lagged(_)) => rescan = true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(wake) => {}
        }
        let now = Instant::now();
        let due: Vec<String> = wanted
            .iter()
            .filter(|(_, w)| w.due <= now)
            .take(BLOB_REPAIR_ROUND_MAX)
            .map(|(cid, _)| cid.clone())
            .collect();
        for cid in due {
            let Some(shared) = node.upgrade() else { return };
            let fetched = tokio::select! {
                _ = shutdown.changed() => return,
                f = fetch(&shared, &trace, &http, &cid) => f,
            };
            if fetched {
                wanted.remove(&cid);
            } else if let Some(w) = wanted.get_mut(&cid) {
                w.due = Instant::now() + w.backoff;
                w.backoff = (w.backoff * 2).min(Duration::from_millis(BLOB_REPAIR_RETRY_MAX_MS));
            }
        }
    }
}

fn want_all(wanted: &mut BTreeMap<String, Want>, cids: Vec<String>) {
    let first = Duration::from_millis(BLOB_REPAIR_FIRST_DELAY_MS);
    for cid in cids {
        if wanted.len() >= BLOB_REPAIR_WANTED_MAX {
            warn!(target: "trace::blobs", "{BLOB_REPAIR_WANTED_MAX} blobs are already wanted; the rest are found again at the next start");
            return;
        }
        wanted.entry(cid).or_insert(Want {
            due: Instant::now() + first,
            backoff: first,
        });
    }
}

/// Deletes the stored blobs older than [`ORPHAN_BLOB_AGE_MS`] that no record or KYC document
/// references (uploads whose capture was refused, or never anchored): no one may read them, and
/// `PUT /v1/blobs` would otherwise let them pile up. Returns how many were deleted.
pub fn collect_orphans(
    shared: &Shared,
    trace: &TraceNode,
    now_ms: u64,
) -> Result<usize, crate::NodeError> {
    // Read the state for each blob, and again just before its delete: a record anchored
    // meanwhile keeps its blob.
    let referenced = |cid: &str| -> Result<bool, crate::NodeError> {
        let snap = shared.store.snapshot()?;
        Ok(query::record_by_cid(&snap, cid)?.is_some() || query::kyc_doc(&snap, cid)?.is_some())
    };
    collect_orphans_in(&trace.blobs, now_ms, referenced)
}

/// [`collect_orphans`] over `blobs`, with `referenced` telling whether a record or KYC document
/// names a CID. Each candidate is checked once without the store's lock (most stay), then its
/// age and references again under it ([`BlobStore::remove_if_orphan`]), so neither a put of the
/// same bytes nor a reference made between the first check and the delete loses the blob.
pub fn collect_orphans_in(
    blobs: &BlobStore,
    now_ms: u64,
    referenced: impl Fn(&str) -> Result<bool, crate::NodeError>,
) -> Result<usize, crate::NodeError> {
    let mut deleted = 0;
    for cid in blobs.older_than(ORPHAN_BLOB_AGE_MS, now_ms)? {
        if referenced(&cid)? {
            continue;
        }
        if blobs.remove_if_orphan(&cid, ORPHAN_BLOB_AGE_MS, now_ms, || referenced(&cid))? {
            deleted += 1;
        }
    }
    if deleted > 0 {
        info!(target: "trace::blobs", "deleted {deleted} blobs no record references (older than {} h)", ORPHAN_BLOB_AGE_MS / 3_600_000);
    }
    Ok(deleted)
}

/// Starts the orphan collector (every node, single or member).
pub fn spawn_orphan_collector(
    node: &Node,
    trace: &Arc<TraceNode>,
    mut shutdown: watch::Receiver<bool>,
) {
    let trace = trace.clone();
    let node = Arc::downgrade(&node.shared);
    tokio::spawn(async move {
        let mut wake = Instant::now() + Duration::from_secs(60);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep_until(wake) => {}
            }
            let Some(shared) = node.upgrade() else { return };
            let t = trace.clone();
            let run = tokio::task::spawn_blocking(move || collect_orphans(&shared, &t, now_ms()));
            match run.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => warn!(target: "trace::blobs", "orphan blob collection failed: {e}"),
                Err(e) => warn!(target: "trace::blobs", "orphan blob collection stopped: {e}"),
            }
            wake = Instant::now() + Duration::from_millis(ORPHAN_GC_INTERVAL_MS);
        }
    });
}

/// Every CID the state references (records and KYC documents) that the local store lacks, read
/// a page at a time from one snapshot.
fn missing_referenced(shared: &Shared, trace: &TraceNode) -> Result<Vec<String>, crate::NodeError> {
    let snap = shared.store.snapshot()?;
    let mut missing = Vec::new();
    type Lister = fn(
        &dyn want_state::StateView,
        Option<&str>,
        usize,
    ) -> Result<query::Page<String, String>, want_state::StateError>;
    for list in [query::record_cids as Lister, query::kyc_doc_cids as Lister] {
        let mut after: Option<String> = None;
        loop {
            let page = list(&snap, after.as_deref(), query::CIDS_PAGE_MAX)?;
            for cid in &page.items {
                if !trace.blobs.contains(cid).unwrap_or(true) {
                    missing.push(cid.clone());
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    Ok(missing)
}

/// The CIDs of the successful anchor and KYC transactions of block `height` that the local
/// store lacks.
fn missing_in_block(
    shared: &Shared,
    trace: &TraceNode,
    height: u64,
) -> Result<Vec<String>, crate::NodeError> {
    let (Some(block), Some(receipts)) =
        (shared.store.block(height)?, shared.store.receipts(height)?)
    else {
        return Ok(vec![]);
    };
    let mut missing = Vec::new();
    for (stx, receipt) in block.txs.iter().zip(&receipts) {
        if receipt.status != TxStatus::Success {
            continue;
        }
        let cids: Vec<&str> = match &stx.tx.call {
            Call::Trace(TraceCall::Anchor { records, .. }) => {
                records.iter().map(|r| r.cid.as_str()).collect()
            }
            Call::Trace(TraceCall::SubmitKyc { cid, .. }) => vec![cid.as_str()],
            _ => continue,
        };
        for cid in cids {
            if !trace.blobs.contains(cid).unwrap_or(true) {
                missing.push(cid.to_string());
            }
        }
    }
    Ok(missing)
}

/// Asks the other members for blob `cid` in turn; true once it is stored here (or already was).
async fn fetch(
    shared: &Arc<Shared>,
    trace: &TraceNode,
    http: &reqwest::Client,
    cid: &str,
) -> bool {
    if trace.blobs.contains(cid).unwrap_or(false) {
        return true;
    }
    let own = hex::encode(shared.node_key.public_key());
    let chain_id = shared.params.chain_id;
    for (peer, key) in shared.vote_peer_members() {
        let Some(key) = key else {
            debug!(target: "trace::blobs", "{peer} has no valid node key configured; not asked for blob {cid}");
            continue;
        };
        let time_ms = now_ms();
        let signature = shared
            .node_key
            .sign(member_read_digest(chain_id, &key, cid, time_ms).as_bytes());
        let sent = http
            .get(format!("{peer}/v1/cluster/blobs/{cid}"))
            .header(MEMBER_HEADER, &own)
            .header(TIME_HEADER, time_ms.to_string())
            .header(SIGNATURE_HEADER, hex::encode(signature))
            .send()
            .await;
        let bytes = match sent {
            Ok(r) if r.status().is_success() => match read_bounded(r).await {
                Some(b) => b,
                None => {
                    warn!(target: "trace::blobs", "{peer} sent more than {BLOB_BYTES_MAX} bytes for blob {cid}");
                    continue;
                }
            },
            Ok(r) => {
                debug!(target: "trace::blobs", "{peer} has no blob {cid} for us: {}", r.status());
                continue;
            }
            Err(e) => {
                debug!(target: "trace::blobs", "cannot ask {peer} for blob {cid}: {e}");
                continue;
            }
        };
        if !want_crypto::cid_matches(cid, &bytes) {
            warn!(target: "trace::blobs", "{peer} sent bytes that do not hash to {cid}; refused");
            continue;
        }
        let blobs = trace.blobs.clone();
        match tokio::task::spawn_blocking(move || blobs.put(&bytes)).await {
            Ok(Ok(_)) => {
                info!(target: "trace::blobs", "fetched missing blob {cid} from {peer}");
                trace.blobs_repaired.inc();
                return true;
            }
            Ok(Err(e)) => warn!(target: "trace::blobs", "cannot store blob {cid}: {e}"),
            Err(e) => warn!(target: "trace::blobs", "storing blob {cid} failed: {e}"),
        }
    }
    false
}

/// The body of a response, or `None` when it exceeds [`BLOB_BYTES_MAX`].
async fn read_bounded(mut r: reqwest::Response) -> Option<Vec<u8>> {
    if r.content_length()
        .is_some_and(|n| n > BLOB_BYTES_MAX as u64)
    {
        return None;
    }
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = r.chunk().await {
        if out.len() + chunk.len() > BLOB_BYTES_MAX {
            return None;
        }
        out.extend_from_slice(&chunk);
    }
    Some(out)
}

/// Domain tag of the digest a member signs to push a copy of a blob to another member.
pub const BLOB_MEMBER_PUT_TAG: &[u8] = b"WANT-BLOB-MEMBER-PUT-v2";
/// How long one copy of a blob to a member may take, in milliseconds.
pub const BLOB_REPLICATION_TIMEOUT_MS: u64 = 10_000;
/// Most bytes of blobs waiting to be copied to the other members; a blob that does not fit is
/// not pushed (the members fetch it once a record references it: repair).
pub const BLOB_REPLICATION_QUEUE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// The digest a member signs (Ed25519, node key) to push the blob `cid` at `time_ms` to the
/// member whose node key is `target` on chain `chain_id` (`PUT /v1/blobs` with
/// `X-Want-Member`, `X-Want-Time`, `X-Want-Signature`).
pub fn member_put_digest(chain_id: u64, target: &[u8], cid: &str, time_ms: u64) -> Hash32 {
    member_digest(
        BLOB_MEMBER_PUT_TAG,
        chain_id,
        target,
        MEMBER_PUT_METHOD,
        MEMBER_PUT_PATH,
        cid,
        time_ms,
    )
}

/// The blobs waiting to be pushed to the other members: one worker, a byte limit.
pub struct ReplicationQueue {
    tx: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    rx: parking_lot::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>>>,
    queued_bytes: Arc<std::sync::atomic::AtomicUsize>,
    /// Blobs not pushed because the queue was full (`want_trace_blob_pushes_skipped_total`).
    pub skipped: prometheus_client::metrics::counter::Counter,
}

impl Default for ReplicationQueue {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        ReplicationQueue {
            tx,
            rx: parking_lot::Mutex::new(Some(rx)),
            queued_bytes: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            skipped: Default::default(),
        }
    }
}

impl ReplicationQueue {
    /// Queues a blob, or skips it (counted) when [`BLOB_REPLICATION_QUEUE_BYTES_MAX`] would be
    /// passed. True if queued.
    fn push(&self, blob: Vec<u8>) -> bool {
        use std::sync::atomic::Ordering;
        let len = blob.len();
        let fits = self
            .queued_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                q.checked_add(len)
                    .filter(|n| *n <= BLOB_REPLICATION_QUEUE_BYTES_MAX)
            })
            .is_ok();
        if !fits {
            self.skipped.inc();
            return false;
        }
        if self.tx.send(blob).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Bytes waiting to be pushed.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Starts the worker that pushes queued blobs to the other members, one at a time, each member
/// in turn (a member that does not answer is skipped for that blob).
pub fn spawn_replication(node: &Node, trace: &Arc<TraceNode>, mut shutdown: watch::Receiver<bool>) {
    let Some(mut rx) = trace.replication.rx.lock().take() else {
        return;
    };
    let http = match node
        .shared
        .member_client()
        .pool_idle_timeout(Duration::from_millis(
            want_consensus::net::transport::POOL_IDLE_TIMEOUT_MS,
        ))
        .timeout(Duration::from_millis(BLOB_REPLICATION_TIMEOUT_MS))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!(target: "trace::blobs", "cannot build the replication client: {e}; blobs are not pushed (members fetch them once anchored)");
            return;
        }
    };
    let shared = Arc::downgrade(&node.shared);
    let queued = trace.replication.queued_bytes.clone();
    tokio::spawn(async move {
        loop {
            let blob = tokio::select! {
                b = rx.recv() => match b { Some(b) => b, None => return },
                _ = shutdown.changed() => return,
            };
            let len = blob.len();
            if let Some(shared) = shared.upgrade() {
                push_to_members(&shared, &http, &blob).await;
            }
            queued.fetch_sub(len, std::sync::atomic::Ordering::AcqRel);
        }
    });
}

async fn push_to_members(shared: &Shared, http: &reqwest::Client, blob: &[u8]) {
    let cid = want_crypto::cid_of(blob);
    let own = hex::encode(shared.node_key.public_key());
    let chain_id = shared.params.chain_id;
    for (peer, key) in shared.vote_peer_members() {
        let Some(key) = key else {
            debug!(target: "trace::blobs", "{peer} has no valid node key configured; blob {cid} not copied to it");
            continue;
        };
        let time_ms = now_ms();
        let signature = shared
            .node_key
            .sign(member_put_digest(chain_id, &key, &cid, time_ms).as_bytes());
        let sent = http
            .put(format!("{peer}/v1/blobs"))
            .header(MEMBER_HEADER, &own)
            .header(TIME_HEADER, time_ms.to_string())
            .header(SIGNATURE_HEADER, hex::encode(signature))
            .header("content-type", "application/octet-stream")
            .body(blob.to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                debug!(target: "trace::blobs", "{peer} refused a copy of blob {cid}: {}", r.status())
            }
            Err(e) => debug!(target: "trace::blobs", "cannot copy blob {cid} to {peer}: {e}"),
        }
    }
}

impl TraceNode {
    /// Queues blobs this node accepted for the other members (best effort, in the background,
    /// bounded by [`BLOB_REPLICATION_QUEUE_BYTES_MAX`]): a record captured through one member
    /// can then be verified and read on any. Blobs are content-addressed, so a member stores
    /// exactly the bytes named by their CID or nothing. A single node has no one to copy to.
    pub fn replicate_blobs(&self, shared: &Shared, blobs: Vec<Vec<u8>>) {
        if shared.vote_peers().is_empty() {
            return;
        }
        for blob in blobs {
            self.replication.push(blob);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_read_digests_bind_the_blob_and_the_time() {
        let (chain, node) = (7, [2u8; 32]);
        let a = member_read_digest(chain, &node, "bafkreia", 1);
        assert_ne!(a, member_read_digest(chain, &node, "bafkreib", 1));
        assert_ne!(a, member_read_digest(chain, &node, "bafkreia", 2));
        assert_ne!(
            a,
            want_types::trace::blob_read_digest(1, &[0u8; 32], "GET", "/v1/blobs/bafkreia", "bafkreia", 1)
        );
        assert_ne!(a, member_put_digest(chain, &node, "bafkreia", 1));
    }

    /// Issue 12, B6: a member's signed blob request names the chain and the member it is for.
    #[test]
    fn member_digests_bind_the_chain_and_the_addressed_member() {
        let (node2, node3) = ([2u8; 32], [3u8; 32]);
        let read = member_read_digest(7, &node2, "bafkreia", 1);
        assert_ne!(read, member_read_digest(7, &node3, "bafkreia", 1));
        assert_ne!(read, member_read_digest(8, &node2, "bafkreia", 1));
        let put = member_put_digest(7, &node2, "bafkreia", 1);
        assert_ne!(put, member_put_digest(7, &node3, "bafkreia", 1));
        assert_ne!(put, member_put_digest(8, &node2, "bafkreia", 1));
    }

    const BLOB: &[u8] = b"sealed record of pallet 42";

    /// A store holding [`BLOB`], last modified 49 h ago (older than the orphan age).
    fn store_with_old_blob() -> (tempfile::TempDir, BlobStore, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let cid = store.put(BLOB).unwrap();
        let long_ago = std::time::SystemTime::now()
            - Duration::from_millis(ORPHAN_BLOB_AGE_MS + 60 * 60 * 1000);
        std::fs::OpenOptions::new()
            .write(true)
            .open(store.path_of(&cid).unwrap())
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        (dir, store, cid)
    }

    #[test]
    fn an_old_blob_no_record_references_is_collected() {
        let (_dir, store, cid) = store_with_old_blob();
        assert_eq!(collect_orphans_in(&store, now_ms(), |_| Ok(false)).unwrap(), 1);
        assert_eq!(store.get(&cid).unwrap(), None);
    }

    #[test]
    fn a_blob_stored_again_after_the_collector_checked_it_is_kept() {
        let (_dir, store, cid) = store_with_old_blob();
        let calls = std::cell::Cell::new(0);
        // Between the collector's first look and its delete, a capture stores the same bytes
        // again (making them young for the record it is about to anchor).
        let deleted = collect_orphans_in(&store, now_ms(), |_| {
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                store.put(BLOB).unwrap();
            }
            Ok(false)
        })
        .unwrap();
        assert_eq!(deleted, 0);
        assert_eq!(store.get(&cid).unwrap().as_deref(), Some(BLOB));
    }

    #[test]
    fn a_blob_referenced_after_the_collector_checked_it_is_kept() {
        let (_dir, store, cid) = store_with_old_blob();
        let calls = std::cell::Cell::new(0);
        // Unreferenced at the first look; a block anchoring it commits before the delete.
        let deleted = collect_orphans_in(&store, now_ms(), |_| {
            calls.set(calls.get() + 1);
            Ok(calls.get() > 1)
        })
        .unwrap();
        assert_eq!(deleted, 0);
        assert_eq!(calls.get(), 2, "the references are read again before the delete");
        assert_eq!(store.get(&cid).unwrap().as_deref(), Some(BLOB));
    }

    #[test]
    fn a_put_racing_the_collector_never_returns_with_its_blob_gone() {
        for _ in 0..20 {
            let (_dir, store, cid) = store_with_old_blob();
            let putter = {
                let store = store.clone();
                std::thread::spawn(move || store.put(BLOB).unwrap())
            };
            collect_orphans_in(&store, now_ms(), |_| Ok(false)).unwrap();
            putter.join().unwrap();
            // Whichever came first, the put's blob is there after both.
            assert_eq!(store.get(&cid).unwrap().as_deref(), Some(BLOB));
        }
    }
}
