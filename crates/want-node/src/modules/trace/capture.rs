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
use want_types::modules::commerce::CommerceCall;
use want_types::{Call, Hash32, Transaction};

use super::TraceNode;
use crate::error::{codes, NodeError};
use crate::kernel::node::{now_ms, Node, Submitted};
use crate::modules::commerce::capture_orders::{self, OrderConfirmation, Plan};

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
    /// Whether captures confirm the orders their `receiving` events name
    /// (`capture.confirm_orders`, which needs a token).
    pub confirm_orders: bool,
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
        if cfg.confirm_orders && token_digest.is_none() {
            return Err(NodeError::Config(
                "capture.confirm_orders needs capture.token_file: without a token anyone who reaches the API could release the escrow of orders delivered to this organisation".into(),
            ));
        }
        Ok(CaptureSigner {
            key,
            org: cfg.org.clone(),
            confirm_orders: cfg.confirm_orders,
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
    /// `{"events": [{"eventHash", "tx"}], "orders": […]}` in document order once the anchors are
    /// committed. With `confirm_orders`, every `receiving` event naming an order
    /// (`urn:want:commerce:order:<id>`) then confirms it, signed by the capture key
    /// ([`capture_orders`]); `orders` says what became of each, and a refused confirmation does
    /// not fail the capture.
    pub async fn capture(
        self: &std::sync::Arc<Self>,
        node: &Node,
        body: axum::body::Bytes,
        authorization: Option<&str>,
        confirm_orders: bool,
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
        let plan = if confirm_orders {
            let mut plan = capture_orders::plan(events.iter().map(|e| (e, event_hash_of(e))));
            if !signer.confirm_orders {
                for c in std::mem::take(&mut plan.confirm) {
                    if let Some(r) = plan.report.get_mut(c.slot) {
                        r.skipped(&format!(
                            "this node's capture does not confirm orders (its configuration has no capture.confirm_orders = true); confirm with `want order receive {} --event {}` signed by a key of the delivery organisation",
                            c.order, c.event_hash
                        ));
                    }
                }
            }
            plan
        } else {
            Plan::default()
        };
        let shared = node.shared.clone();
        let trace = self.clone();
        let signer2 = signer.clone();
        // Sealing and storing need no ordering: concurrent captures overlap here.
        let (sealed, declarations, late, _inflight) = tokio::task::spawn_blocking(move || {
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
            let refuse = |i: usize, code: &'static str, why: String| NodeError::Invalid {
                code,
                message: format!("event {} {why}", events[i].hash_id()),
                path: event_path(kind, i),
            };
            let duplicate =
                |i: usize, why: &str| refuse(i, trace_codes::DUPLICATE_EVENT, why.to_string());
            let mut seen = HashSet::new();
            // An event carrying an errorDeclaration declares an already captured event (the
            // same event hash) erroneous: it is recorded against that record, not anchored anew.
            let mut declarations = Vec::new();
            let mut late = Vec::new();
            let mut fresh = Vec::new();
            let declare = |eh: &want_types::Hash32, d: &want_epcis::ErrorDeclaration| {
                want_types::TraceCall::DeclareError {
                    event_hash: *eh,
                    declared_at_ms: d.declaration_time_ms,
                    reason: d.reason.clone(),
                    corrective_event_ids: d.corrective_event_ids.clone(),
                }
            };
            for (i, eh) in hashes.iter().enumerate() {
                if !seen.insert(*eh) {
                    return Err(duplicate(i, "is already captured"));
                }
                // This organisation's own record of the event (another organisation's record
                // of the same event hash is its own, under the `trace_record_ids` rule).
                let existing = match query::record_id_of(&snap, &signer2.org, eh)? {
                    Some(id) => query::record_header(&snap, &id)?.map(|rec| (id, rec)),
                    None => None,
                };
                match (events[i].error_declaration(), existing) {
                    (None, None) => fresh.push(i),
                    (None, Some(_)) => return Err(duplicate(i, "is already captured")),
                    // The original was never captured here: the event (with its declaration)
                    // is anchored, then declared erroneous once its anchor is committed.
                    (Some(d), None) => {
                        fresh.push(i);
                        late.push((i, declare(eh, d)));
                    }
                    (Some(d), Some((id, rec))) => {
                        if rec.org != signer2.org {
                            return Err(refuse(
                                i,
                                trace_codes::NOT_RECORD_OWNER,
                                format!(
                                    "was captured by organisation {:?}; only it may declare it erroneous",
                                    rec.org
                                ),
                            ));
                        }
                        if query::error_declaration(&snap, &id)?.is_some() {
                            return Err(duplicate(i, "is already declared erroneous"));
                        }
                        declarations.push((i, declare(eh, d)));
                    }
                }
            }
            let inflight = Inflight::reserve(&trace, hashes).map_err(|i| {
                duplicate(
                    i,
                    "is being captured by another request; it is on chain once that one answers",
                )
            })?;
            let sealed: Result<Vec<(usize, SealedRecord)>, _> = fresh
                .par_iter()
                .map(|&i| {
                    seal_event(
                        &events[i],
                        &signer2.key,
                        &owner_key,
                        signer2.publish,
                        &mut rand::rngs::OsRng,
                    )
                    .map(|s| (i, s))
                })
                .collect();
            let sealed = sealed.map_err(|e| NodeError::Io(format!("sealing a record: {e}")))?;
            for (_, s) in &sealed {
                trace.blobs.put(&s.blob)?;
            }
            Ok((sealed, declarations, late, inflight))
        })
        .await
        .map_err(|_| NodeError::rejected(codes::SHUTTING_DOWN, "the node is shutting down"))??;
        self.replicate_blobs(
            &node.shared,
            sealed.iter().map(|(_, s)| s.blob.clone()).collect(),
        );
        let total = sealed.len() + declarations.len();
        let events_declared: HashSet<usize> = declarations
            .iter()
            .chain(late.iter())
            .map(|(i, _)| *i)
            .collect();
        // Per event in document order: its hash ID, once its transaction is known.
        let mut ids: Vec<(usize, String)> = sealed
            .iter()
            .map(|(i, s)| (*i, s.event_hash_id.clone()))
            .collect();
        let records: Vec<_> = sealed.into_iter().map(|(_, s)| s.anchor).collect();
        let mut calls: Vec<(Vec<usize>, want_types::TraceCall)> = Vec::new();
        let mut next = 0usize;
        for call in anchor_calls(&signer.org, records)
            .map_err(|e| NodeError::rejected(codes::TX_TOO_LARGE, e.to_string()))?
        {
            let n = match &call {
                want_types::TraceCall::Anchor { records, .. } => records.len(),
                _ => 0,
            };
            calls.push((ids[next..next + n].iter().map(|(i, _)| *i).collect(), call));
            next += n;
        }
        for (i, call) in declarations {
            if let want_types::TraceCall::DeclareError { event_hash, .. } = &call {
                ids.push((i, want_types::trace::event_hash_id(event_hash)));
            }
            calls.push((vec![i], call));
        }
        let id_of: std::collections::HashMap<usize, String> = ids.into_iter().collect();
        // Signing and admission take the key's consecutive nonces, so one capture at a time
        // holds the key; the commit is awaited after the turn is passed on, letting the next
        // capture's anchors join the same or the next block.
        let mut pending = Vec::with_capacity(calls.len());
        {
            let _turn = self.capture_lock.lock().await;
            for (indices, call) in calls {
                let stx = sign_own(node, &signer.key, Call::Trace(call))?;
                pending.push((indices, node.submit_pending(stx).await?));
            }
        }
        let mut out: Vec<(usize, CapturedEvent)> = Vec::with_capacity(total);
        for (indices, p) in pending {
            let id = committed_id(node, p).await?;
            for i in indices {
                out.push((
                    i,
                    CapturedEvent {
                        event_hash: id_of.get(&i).cloned().unwrap_or_default(),
                        tx: id,
                        declared_erroneous: events_declared.contains(&i),
                    },
                ));
            }
        }
        // Declarations of events this capture anchored: their records are committed now.
        if !late.is_empty() {
            let mut pending = Vec::with_capacity(late.len());
            {
                let _turn = self.capture_lock.lock().await;
                for (_, call) in late {
                    let stx = sign_own(node, &signer.key, Call::Trace(call))?;
                    pending.push(node.submit_pending(stx).await?);
                }
            }
            for p in pending {
                committed_id(node, p).await?;
            }
        }
        out.sort_by_key(|(i, _)| *i);
        let out: Vec<CapturedEvent> = out.into_iter().map(|(_, e)| e).collect();
        // The records are committed: the receiving events among them confirm their orders.
        let orders = self.confirm_orders(node, &signer.key, plan).await;
        Ok(Captured {
            events: out,
            orders,
        })
    }

    /// Sends the planned `ConfirmByEvent` calls, signed by the capture key, and waits for them:
    /// the plan's report with each outcome. Nothing here fails the capture.
    async fn confirm_orders(
        &self,
        node: &Node,
        key: &PrivateKey,
        plan: Plan,
    ) -> Vec<OrderConfirmation> {
        let Plan {
            mut report,
            confirm,
        } = plan;
        let mut pending = Vec::with_capacity(confirm.len());
        {
            let _turn = self.capture_lock.lock().await;
            for c in confirm {
                let call = Call::Commerce(CommerceCall::ConfirmByEvent {
                    order: c.order,
                    event_hash: c.event_hash,
                });
                let submitted = match sign_own(node, key, call) {
                    Ok(stx) => node.submit_pending(stx).await,
                    Err(e) => Err(e),
                };
                match (submitted, report.get_mut(c.slot)) {
                    (Ok(p), _) => pending.push((c.slot, p)),
                    (Err(e), Some(r)) => r.refused(None, e.code(), &e.to_string()),
                    (Err(_), None) => {}
                }
            }
        }
        for (slot, p) in pending {
            let id = p.id;
            let outcome = node.await_commit(p).await;
            let Some(r) = report.get_mut(slot) else {
                continue;
            };
            match outcome {
                Ok(Submitted::Committed(id, notice)) => match &notice.receipt.status {
                    want_types::TxStatus::Failed { code, message }
                    | want_types::TxStatus::Rejected { code, message } => {
                        r.refused(Some(id), code, message)
                    }
                    _ => r.confirmed(id),
                },
                Ok(Submitted::Accepted(id)) => {
                    r.pending(id, None, "this node answers before commits")
                }
                Err(e) if e.code() == codes::COMMIT_TIMEOUT => {
                    r.pending(id, Some(e.code()), &e.to_string())
                }
                Err(e) => r.refused(Some(id), e.code(), &e.to_string()),
            }
        }
        report
    }
}

/// Waits for a capture's transaction: its id once committed (or accepted, when the node does
/// not wait), refused when it failed.
async fn committed_id(node: &Node, p: crate::kernel::node::PendingTx) -> Result<Hash32, NodeError> {
    match node.await_commit(p).await? {
        Submitted::Committed(id, notice) => {
            if let want_types::TxStatus::Failed { code, message }
            | want_types::TxStatus::Rejected { code, message } = &notice.receipt.status
            {
                return Err(NodeError::rejected(
                    crate::error::static_code(code),
                    format!("capture transaction {id} failed: {message}"),
                ));
            }
            Ok(id)
        }
        Submitted::Accepted(id) => Ok(id),
    }
}

/// What a capture anchored, in document order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Captured {
    pub events: Vec<CapturedEvent>,
    /// Per order a captured `receiving` event names (`urn:want:commerce:order:<id>` in its
    /// bizTransactionList), what became of its confirmation; empty when none does or when
    /// `confirmOrders=false`.
    pub orders: Vec<OrderConfirmation>,
}

/// One captured event: its GS1 event hash ID and the anchoring transaction (for an event
/// carrying an `errorDeclaration`: the transaction declaring the captured one erroneous).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapturedEvent {
    /// `ni:///sha-256;<64 hex>?ver=CBV2.0`.
    pub event_hash: String,
    pub tx: Hash32,
    /// True when the event declared an already captured one erroneous (its errorDeclaration).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub declared_erroneous: bool,
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
            confirm_orders: false,
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
    fn confirming_orders_by_capture_needs_a_capture_token() {
        let dir = tempfile::tempdir().unwrap();
        let mut open = config(dir.path(), None);
        open.confirm_orders = true;
        let e = CaptureSigner::load(&open).err().expect("refused without a token");
        assert!(e.to_string().contains("capture.confirm_orders needs capture.token_file"), "{e}");
        let mut guarded = config(dir.path(), Some("a-long-enough-random-capture-token"));
        guarded.confirm_orders = true;
        assert!(CaptureSigner::load(&guarded).unwrap().confirm_orders);
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
