//! EPCIS capture on the node (`POST /v1/epcis/capture`): validate the document, sign, seal and
//! store every event, anchor them in transactions signed with the node's capture key, and answer
//! once they are committed.

use std::collections::HashSet;

use rayon::prelude::*;
use serde::Serialize;
use want_crypto::PrivateKey;
use want_epcis::{DocumentKind, EpcisError};
use want_state::trace::codes as trace_codes;
use want_state::trace::query;
use want_records::{anchor_calls, event_hash_of, seal_event, Publish, SealedRecord};
use want_types::{Call, Hash32, Transaction};

use super::TraceNode;
use crate::error::{codes, NodeError};
use crate::kernel::node::{now_ms, Node, Submitted};

/// How long an anchor transaction signed by the node stays valid, in milliseconds.
pub const CAPTURE_TX_EXPIRY_MS: u64 = 10 * 60 * 1000;

pub use crate::config::CaptureConfig;

/// Fewest characters a capture token may have.
pub const CAPTURE_TOKEN_CHARS_MIN: usize = 16;

/// The loaded capture key.
pub struct CaptureSigner {
    pub key: PrivateKey,
    pub org: String,
    /// SHA-256 of the bearer token captures must carry, if one is configured (compared as
    /// digests, so the comparison's time says nothing about the token).
    token_digest: Option<want_types::Hash32>,
    /// What of each record the organisation publishes (places that are not GS1 locations are
    /// private unless `publish_non_gs1_places`).
    pub publish: Publish,
}

impl CaptureSigner {
    /// Reads the key file named by the configuration.
    pub fn load(cfg: &CaptureConfig) -> Result<CaptureSigner, NodeError> {
        let text = crate::kernel::startup::read_secret_file(&cfg.key_file, "capture.key_file")?;
        let key = PrivateKey::from_hex(text.trim()).map_err(|e| {
            NodeError::Config(format!("capture.key_file {}: {e}", cfg.key_file.display()))
        })?;
        let token_digest = match &cfg.token_file {
            None => None,
            Some(path) => {
                let token = crate::kernel::startup::read_secret_file(path, "capture.token_file")?;
                let token = token.trim();
                if token.chars().count() < CAPTURE_TOKEN_CHARS_MIN {
                    return Err(NodeError::Config(format!(
                        "capture.token_file {}: the token has fewer than {CAPTURE_TOKEN_CHARS_MIN} characters; use a long random one (e.g. `openssl rand -hex 32`)",
                        path.display()
                    )));
                }
                Some(want_types::hash::sha256(token.as_bytes()))
            }
        };
        Ok(CaptureSigner {
            key,
            org: cfg.org.clone(),
            token_digest,
            publish: Publish {
                non_gs1_places: cfg.publish_non_gs1_places,
                ..Publish::default()
            },
        })
    }

    /// Checks a capture request's `Authorization` header against the configured token.
    pub fn authorize(&self, authorization: Option<&str>) -> Result<(), NodeError> {
        let Some(expected) = &self.token_digest else {
            return Ok(());
        };
        let given = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(|t| want_types::hash::sha256(t.trim().as_bytes()));
        if given.as_ref() == Some(expected) {
            Ok(())
        } else {
            Err(NodeError::rejected(
                trace_codes::CAPTURE_UNAUTHORIZED,
                "this node's capture endpoint needs `Authorization: Bearer <token>` with the token of its capture.token_file",
            ))
        }
    }
}

/// Event hashes reserved in [`TraceNode::capture_inflight`] for one capture; released when it
/// ends, whatever the outcome (by then a committed event is found in state).
struct Inflight {
    trace: std::sync::Arc<TraceNode>,
    hashes: Vec<want_types::Hash32>,
}

impl Inflight {
    /// Reserves every hash, or none: `Err(i)` names the first event another capture holds.
    fn reserve(
        trace: &std::sync::Arc<TraceNode>,
        hashes: Vec<want_types::Hash32>,
    ) -> Result<Inflight, usize> {
        let mut set = trace.capture_inflight.lock();
        if let Some(i) = hashes.iter().position(|h| set.contains(h)) {
            return Err(i);
        }
        set.extend(hashes.iter().copied());
        Ok(Inflight {
            trace: trace.clone(),
            hashes,
        })
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        let mut set = self.trace.capture_inflight.lock();
        for h in &self.hashes {
            set.remove(h);
        }
    }
}

/// The JSON path of the `i`-th event of a capture.
pub fn event_path(kind: DocumentKind, i: usize) -> String {
    match kind {
        DocumentKind::Document => format!("$.epcisBody.eventList[{i}]"),
        DocumentKind::QueryDocument => {
            format!("$.epcisBody.queryResults.resultsBody.eventList[{i}]")
        }
        DocumentKind::SingleEvent => "$".to_string(),
    }
}

/// A refused EPCIS document as a node error (code, message and JSON path kept).
pub fn invalid(e: EpcisError) -> NodeError {
    NodeError::Invalid {
        code: e.code,
        message: e.message,
        path: e.path,
    }
}

impl TraceNode {
    /// Captures an EPCIS document or event: every event is validated first (nothing is stored if
    /// one fails), refused if already captured, then sealed, stored and anchored; answers
    /// `{"events": [{"eventHash", "tx"}]}` in document order once the anchors are committed.
    pub async fn capture(
        self: &std::sync::Arc<Self>,
        node: &Node,
        body: axum::body::Bytes,
        authorization: Option<&str>,
    ) -> Result<Captured, NodeError> {
        let Some(signer) = self.capture.clone() else {
            return Err(NodeError::rejected(
                trace_codes::CAPTURE_DISABLED,
                "this node has no capture key: add a [capture] section (org, key_file) to its configuration, or capture with `want trace capture FILE --keystore K --password-file P`",
            ));
        };
        signer.authorize(authorization)?;
        let capture = tokio::task::spawn_blocking(move || want_epcis::parse_capture(&body))
            .await
            .map_err(|_| NodeError::rejected(codes::SHUTTING_DOWN, "the node is shutting down"))?
            .map_err(invalid)?;
        let kind = capture.kind;
        let events = capture.events;
        let shared = node.shared.clone();
        let trace = self.clone();
        let signer2 = signer.clone();
        // Sealing and storing need no ordering: concurrent captures overlap here.
        let (sealed, _inflight) = tokio::task::spawn_blocking(move || {
            let snap = shared.store.snapshot()?;
            let org = query::org(&snap, &signer2.org)?.ok_or_else(|| {
                NodeError::Config(format!(
                    "capture.org {:?} is not a registered organisation",
                    signer2.org
                ))
            })?;
            let owner_key = want_crypto::SecpPublicKey::from_slice(&org.encryption_key)
                .map_err(|e| NodeError::Io(format!("organisation key does not parse: {e}")))?;
            let hashes: Vec<_> = events.iter().map(event_hash_of).collect();
            let duplicate = |i: usize, why: &str| NodeError::Invalid {
                code: trace_codes::DUPLICATE_EVENT,
                message: format!("event {} {why}", events[i].hash_id()),
                path: event_path(kind, i),
            };
            let mut seen = HashSet::new();
            for (i, eh) in hashes.iter().enumerate() {
                if !seen.insert(*eh) || query::record_header(&snap, eh)?.is_some() {
                    return Err(duplicate(i, "is already captured"));
                }
            }
            let inflight = Inflight::reserve(&trace, hashes).map_err(|i| {
                duplicate(
                    i,
                    "is being captured by another request; it is on chain once that one answers",
                )
            })?;
            let sealed: Result<Vec<SealedRecord>, _> = events
                .par_iter()
                .map(|e| {
                    seal_event(
                        e,
                        &signer2.key,
                        &owner_key,
                        signer2.publish,
                        &mut rand::rngs::OsRng,
                    )
                })
                .collect();
            let sealed = sealed.map_err(|e| NodeError::Io(format!("sealing a record: {e}")))?;
            for s in &sealed {
                trace.blobs.put(&s.blob)?;
            }
            Ok((sealed, inflight))
        })
        .await
        .map_err(|_| NodeError::rejected(codes::SHUTTING_DOWN, "the node is shutting down"))??;
        self.replicate_blobs(
            &node.shared,
            sealed.iter().map(|s| s.blob.clone()).collect(),
        );
        let ids: Vec<String> = sealed.iter().map(|s| s.event_hash_id.clone()).collect();
        let records: Vec<_> = sealed.into_iter().map(|s| s.anchor).collect();
        let calls = anchor_calls(&signer.org, records)
            .map_err(|e| NodeError::rejected(codes::TX_TOO_LARGE, e.to_string()))?;
        // Signing and admission take the key's consecutive nonces, so one capture at a time
        // holds the key; the commit is awaited after the turn is passed on, letting the next
        // capture's anchors join the same or the next block.
        let mut pending = Vec::with_capacity(calls.len());
        {
            let _turn = self.capture_lock.lock().await;
            for call in calls {
                let n = match &call {
                    want_types::TraceCall::Anchor { records, .. } => records.len(),
                    _ => 0,
                };
                let stx = sign_own(node, &signer.key, Call::Trace(call))?;
                pending.push((n, node.submit_pending(stx).await?));
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        let mut next = 0usize;
        for (n, p) in pending {
            let id = match node.await_commit(p).await? {
                Submitted::Committed(id, notice) => {
                    if let want_types::TxStatus::Failed { code, message }
                    | want_types::TxStatus::Rejected { code, message } = &notice.receipt.status
                    {
                        return Err(NodeError::rejected(
                            crate::error::static_code(code),
                            format!("anchor transaction {id} failed: {message}"),
                        ));
                    }
                    id
                }
                Submitted::Accepted(id) => id,
            };
            for event_id in &ids[next..next + n] {
                out.push(CapturedEvent {
                    event_hash: event_id.clone(),
                    tx: id,
                });
            }
            next += n;
        }
        Ok(Captured { events: out })
    }
}

/// What a capture anchored, in document order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Captured {
    pub events: Vec<CapturedEvent>,
}

/// One captured event: its GS1 event hash ID and the anchoring transaction.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapturedEvent {
    /// `ni:///sha-256;<64 hex>?ver=CBV2.0`.
    pub event_hash: String,
    pub tx: Hash32,
}

/// Signs a transaction from the node's capture key with its next nonce and the fee its weight
/// costs.
fn sign_own(
    node: &Node,
    key: &PrivateKey,
    call: Call,
) -> Result<want_types::SignedTransaction, NodeError> {
    let shared = &node.shared;
    let from = key.address();
    let snap = shared.store.snapshot()?;
    let committed = want_state::query::nonce(&snap, &from)?;
    let nonce = shared
        .mempool
        .lock()
        .pending_nonce(&from)
        .unwrap_or(committed)
        .max(committed);
    let mut tx = Transaction {
        chain_id: shared.params.chain_id,
        from,
        nonce,
        fee: shared.params.min_fee,
        expiry_ms: now_ms().saturating_add(CAPTURE_TX_EXPIRY_MS),
        pow_nonce: 0,
        call,
    };
    tx.fee = shared.required_fee(snap.head_height() + 1, &tx)?;
    Ok(want_crypto::SigningKey::Secp256k1(key.clone()).sign_transaction(tx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path, token: Option<&str>) -> CaptureConfig {
        let key_file = dir.join("key.hex");
        crate::write_secret_file(&key_file, &PrivateKey::generate().to_hex()).unwrap();
        let token_file = token.map(|t| {
            let path = dir.join("token");
            crate::write_secret_file(&path, t).unwrap();
            path
        });
        CaptureConfig {
            org: "acme".into(),
            key_file,
            token_file,
            publish_non_gs1_places: false,
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_capture_key_or_token_other_users_may_read_is_refused_at_start() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), Some("a-long-enough-random-capture-token"));
        CaptureSigner::load(&cfg).unwrap();
        for file in [&cfg.key_file, cfg.token_file.as_ref().unwrap()] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = CaptureSigner::load(&cfg).err().expect("refused");
            assert!(e.to_string().contains("chmod 600"), "{e}");
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        CaptureSigner::load(&cfg).unwrap();
    }

    #[test]
    fn a_short_capture_token_is_refused_at_start_and_a_set_one_is_required() {
        let dir = tempfile::tempdir().unwrap();
        let e = CaptureSigner::load(&config(dir.path(), Some("short")))
            .err()
            .expect("a 5-character token is refused");
        assert!(e.to_string().contains("fewer than 16"), "{e}");
        let open = CaptureSigner::load(&config(dir.path(), None)).unwrap();
        assert!(open.authorize(None).is_ok());
        let guarded = CaptureSigner::load(&config(dir.path(), Some("0123456789abcdef\n"))).unwrap();
        assert!(guarded.authorize(Some("Bearer 0123456789abcdef")).is_ok());
        for refused in [
            None,
            Some("Bearer 0123456789abcdeF"),
            Some("0123456789abcdef"),
        ] {
            let e = guarded.authorize(refused).unwrap_err();
            assert_eq!(e.http_status(), 401, "{refused:?}");
        }
    }
}
