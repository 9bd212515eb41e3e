//! The trace module's node part: EPCIS capture, the sealed-blob store with its replication,
//! repair and collection, the record queries and lineage, verification of products with its
//! caches, and the consumer's tag page. The module's state and rules are in
//! `want_state::trace`; its types in `want_types::trace`.

pub mod access;
pub mod api;
pub mod blob_repair;
pub mod blobs;
pub mod capture;
pub mod query;
pub mod uploads;
pub mod verify;

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use want_types::trace::TraceCall;
use want_types::{Call, Hash32, ModuleId};

use crate::error::NodeError;
use crate::kernel::module::{BuildCtx, BuildModule};
use crate::kernel::node::NodeModule;
use crate::kernel::node::Node;

pub use api::urlencode;
pub use query::normalize_product;

/// The trace module's node part: what it keeps besides the chain's state.
pub struct TraceNode {
    /// The content-addressed store of sealed records and KYC documents.
    pub blobs: blobs::BlobStore,
    /// The key `POST /v1/epcis/capture` signs with, if configured.
    pub capture: Option<Arc<capture::CaptureSigner>>,
    /// Serialises the signing and admission of captures' anchors (consecutive nonces of the
    /// capture key); held only until they are admitted.
    pub capture_lock: tokio::sync::Mutex<()>,
    /// Event hashes of captures between their duplicate check and their commit, so two
    /// overlapping captures of one event cannot both pass the check (the second is refused at
    /// once instead of failing, fee paid, in a block).
    pub capture_inflight: Mutex<HashSet<Hash32>>,
    /// Anchoring transactions whose signatures `verify` already checked.
    pub signer_cache: verify::SignerCache,
    /// Blocks `verify` decoded, with their anchor trees.
    pub block_cache: verify::BlockCache,
    /// Sealed blobs fetched from other members because this one lacked them
    /// (`want_trace_blobs_repaired_total`).
    pub blobs_repaired: Counter,
    /// Uploaded blobs not yet anchored, per account (the upload quotas).
    pub uploads: uploads::UploadLedger,
    /// Blobs waiting to be pushed to the other members.
    pub replication: blob_repair::ReplicationQueue,
    /// Signed blob reads served within their window (each is served once).
    pub seen_reads: access::SeenReads,
}

impl BuildModule for TraceNode {
    fn build(ctx: &BuildCtx<'_>) -> Result<TraceNode, NodeError> {
        let capture = match &ctx.cfg.capture {
            Some(c) => Some(Arc::new(capture::CaptureSigner::load(c)?)),
            None => None,
        };
        Ok(TraceNode {
            blobs: blobs::BlobStore::open(&ctx.cfg.data_dir)?,
            capture,
            capture_lock: tokio::sync::Mutex::new(()),
            capture_inflight: Mutex::new(HashSet::new()),
            signer_cache: verify::SignerCache::default(),
            block_cache: verify::BlockCache::default(),
            blobs_repaired: Counter::default(),
            uploads: uploads::UploadLedger::new(ctx.cfg.blobs.clone()),
            replication: blob_repair::ReplicationQueue::default(),
            seen_reads: access::SeenReads::default(),
        })
    }
}

impl NodeModule for TraceNode {
    fn id(&self) -> ModuleId {
        ModuleId::Trace
    }

    /// A grant's address must be its public key's: the state machine has no secp256k1 to check.
    fn precheck(&self, call: &Call) -> Result<(), NodeError> {
        let Call::Trace(TraceCall::Grant {
            grantee,
            grantee_key,
            ..
        }) = call
        else {
            return Ok(());
        };
        let derived = want_crypto::SecpPublicKey::from_slice(grantee_key)
            .map(|pk| want_crypto::address_from_secp_pubkey(&pk))
            .map_err(|e| {
                NodeError::rejected(
                    want_state::trace::codes::INVALID_TRACE_CALL,
                    format!("grantee_key is not a secp256k1 public key: {e}"),
                )
            })?;
        if derived != *grantee {
            return Err(NodeError::rejected(
                want_state::trace::codes::INVALID_TRACE_CALL,
                format!("grantee {grantee} is not the address of grantee_key ({derived})"),
            ));
        }
        Ok(())
    }

    fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "blobs_repaired",
            "Sealed blobs fetched from other members because this member lacked them",
            self.blobs_repaired.clone(),
        );
        registry.register(
            "blob_pushes_skipped",
            "Blobs not pushed to the other members because the replication queue was full (they fetch them once anchored)",
            self.replication.skipped.clone(),
        );
    }

    fn routes(self: Arc<Self>, node: &Node) -> OpenApiRouter {
        api::routes(api::TraceState {
            node: node.clone(),
            trace: self,
        })
    }

    fn start(self: Arc<Self>, node: &Node, shutdown: watch::Receiver<bool>) {
        blob_repair::spawn_blob_repair(node, &self, shutdown.clone());
        blob_repair::spawn_replication(node, &self, shutdown.clone());
        blob_repair::spawn_orphan_collector(node, &self, shutdown);
    }
}

impl TraceNode {
    /// Verifies a product against this node's chain and blob store (see [`verify::verify`]).
    pub fn verify_product(
        &self,
        node: &Node,
        product: &str,
    ) -> Result<verify::VerifyReport, NodeError> {
        let started = std::time::Instant::now();
        let blobs = &self.blobs;
        let mut v = verify::verify(
            &node.shared.store,
            &self.signer_cache,
            &self.block_cache,
            product,
            &|cid| blobs.check(cid),
        )?;
        // How long the node took to verify (not part of the verdict; for operators).
        v.set_took_ms(started.elapsed().as_secs_f64() * 1_000.0);
        Ok(v)
    }

    /// The trace module's node part of a running node.
    pub fn of(node: &Node) -> Option<Arc<TraceNode>> {
        let m = node.module(ModuleId::Trace)?.clone();
        m.as_any().downcast::<TraceNode>().ok()
    }
}
