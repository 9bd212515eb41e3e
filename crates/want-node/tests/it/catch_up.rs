//! Catch-up by blocks trusts no single source: a member that answers too much, or a block whose
//! transaction signature was swapped (the block hash commits to transaction ids, not to
//! signatures), is passed over for the next member; a target height from the network never
//! sizes an allocation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use want_consensus::ChainPoint;
use want_node::kernel::sync::SYNC_HEADERS_BODY_BYTES_MAX;
use want_types::{Block, Hash32, Signature};

use crate::common::*;

/// What a fake member does to the real member's sync answers it relays.
#[derive(Clone, Copy)]
enum Tamper {
    /// Answers every headers request with a body four times the bound.
    Oversized,
    /// Replaces the signature of transaction `id` in every block it relays.
    SwapSignature,
}

#[derive(Clone)]
struct Relay {
    upstream: String,
    tamper: Tamper,
    /// The signature put in place of the transaction's own, and the transaction's id.
    swap: Option<(Hash32, Signature)>,
    /// Answers this relay tampered with.
    tampered: Arc<AtomicUsize>,
}

async fn relay(State(r): State<Relay>, req: Request) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    if matches!(r.tamper, Tamper::Oversized) && path.starts_with("/v1/sync/headers") {
        r.tampered.fetch_add(1, Ordering::SeqCst);
        return vec![0u8; 4 * SYNC_HEADERS_BODY_BYTES_MAX].into_response();
    }
    let answer = reqwest::get(format!("{}{path}", r.upstream))
        .await
        .expect("the real member answers");
    let status = answer.status();
    let mut body = answer
        .bytes()
        .await
        .expect("the real member's body")
        .to_vec();
    if let (Tamper::SwapSignature, Some((id, sig))) = (r.tamper, &r.swap) {
        if path.starts_with("/v1/sync/blocks") && status.is_success() {
            let raw: Vec<Vec<u8>> = borsh::from_slice(&body).expect("blocks decode");
            let raw: Vec<Vec<u8>> = raw
                .into_iter()
                .map(|b| {
                    let mut block = Block::from_bytes(&b).expect("block decodes");
                    let hash = block.hash();
                    for stx in &mut block.txs {
                        if stx.id() == *id {
                            stx.signature = sig.clone();
                            r.tampered.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    assert_eq!(block.hash(), hash, "a signature swap keeps the block hash");
                    block.to_bytes()
                })
                .collect();
            body = borsh::to_vec(&raw).expect("blocks encode");
        }
    }
    (
        axum::http::StatusCode::from_u16(status.as_u16()).expect("status"),
        body,
    )
        .into_response()
}

/// Serves `r` on a free port; its base URL.
async fn start_relay(r: Relay) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("local address");
    let app = axum::Router::new().fallback(relay).with_state(r);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A member with a few blocks, one of them carrying a transfer (returned), and an empty
/// member of the same chain that produces nothing.
async fn source_and_empty(dir: &std::path::Path) -> (TestNode, TestNode, SignedTransactionPair) {
    let a = start_dev(&dir.join("a")).await;
    let dev = dev_key();
    let to = new_key().address();
    let paid = transfer(&dev, 0, to, 1_000_000);
    a.commit(&paid).await;
    // Another validly signed transaction of the same key: its signature is valid in form
    // but not for `paid`.
    let other = transfer(&dev, 1, to, 2_000_000);
    let b = start_slow(&dir.join("b"), |_| {}).await;
    let zero_a = a.node.shared.store.block_info(0).unwrap().unwrap();
    let zero_b = b.node.shared.store.block_info(0).unwrap().unwrap();
    assert_eq!(zero_a.hash, zero_b.hash, "one chain");
    assert_eq!(b.node.shared.store.head().unwrap().height, 0);
    (a, b, SignedTransactionPair { paid, other })
}

struct SignedTransactionPair {
    paid: want_types::SignedTransaction,
    other: want_types::SignedTransaction,
}

/// The point of `a`'s head now.
fn head_point(a: &TestNode) -> ChainPoint {
    let head = a.node.shared.store.head().unwrap();
    ChainPoint {
        height: head.height,
        hash: head.hash,
        state_root: head.state_root,
    }
}

/// Runs `b`'s catch-up to `target` from `sources` on a blocking thread.
async fn catch_up(b: &TestNode, target: ChainPoint, sources: Vec<String>) -> Result<(), String> {
    let shared = b.node.shared.clone();
    let meta = shared.store.consensus_meta().unwrap().unwrap_or_default();
    tokio::task::spawn_blocking(move || shared.catch_up(&target, &sources, &meta))
        .await
        .expect("catch-up does not panic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_is_cut_off_and_the_next_member_serves_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _) = source_and_empty(dir.path()).await;
    let tampered = Arc::new(AtomicUsize::new(0));
    let bad = start_relay(Relay {
        upstream: a.base.clone(),
        tamper: Tamper::Oversized,
        swap: None,
        tampered: tampered.clone(),
    })
    .await;
    let target = head_point(&a);
    let started = Instant::now();
    catch_up(&b, target, vec![bad, a.base.clone()])
        .await
        .expect("catch-up succeeds from the second member");
    assert!(
        tampered.load(Ordering::SeqCst) >= 1,
        "the bad member was asked"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let head = b.node.shared.store.head().unwrap();
    assert_eq!((head.height, head.hash), (target.height, target.hash));
    assert_eq!(head.state_root, target.state_root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_with_a_swapped_signature_is_fetched_again_from_the_next_member() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, txs) = source_and_empty(dir.path()).await;
    let tampered = Arc::new(AtomicUsize::new(0));
    let bad = start_relay(Relay {
        upstream: a.base.clone(),
        tamper: Tamper::SwapSignature,
        swap: Some((txs.paid.id(), txs.other.signature.clone())),
        tampered: tampered.clone(),
    })
    .await;
    let target = head_point(&a);
    catch_up(&b, target, vec![bad, a.base.clone()])
        .await
        .expect("catch-up succeeds from the second member");
    assert!(
        tampered.load(Ordering::SeqCst) >= 1,
        "the bad member swapped a signature"
    );
    let head = b.node.shared.store.head().unwrap();
    assert_eq!((head.height, head.hash), (target.height, target.hash));
    assert_eq!(head.state_root, target.state_root);
    // The transaction stored is the one with its own signature.
    let (_, view) = b.get(&format!("/v1/transactions/{}", txs.paid.id())).await;
    assert_eq!(view["status"], "committed", "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_height_far_beyond_every_member_fails_without_allocating_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _) = source_and_empty(dir.path()).await;
    let real = head_point(&a);
    let target = ChainPoint {
        height: u64::MAX,
        hash: Hash32([7; 32]),
        state_root: real.state_root,
    };
    let err = catch_up(&b, target, vec![a.base.clone()])
        .await
        .expect_err("no member has that block");
    assert!(err.contains("every member failed"), "{err}");
    // The blocks the member has were not executed: their headers never reached the target.
    assert_eq!(b.node.shared.store.head().unwrap().height, 0);
}
