//! `want bench weights`: what each kind of call costs this machine, end to end, the way every
//! member pays it — the block decoded, each signature recovered (with the transaction's id and
//! size), the block executed by `want_state::apply_block` over a real `want_storage::Store` (redb
//! on a temporary directory, holding thousands of accounts and tens of thousands of products),
//! and the durable block commit (`Store::commit_block`, fsynced) — and the weight constants
//! fitted to those figures (one unit of weight ≈ one nanosecond of this machine's single-core
//! work). Everything runs on one thread, so the figures are CPU time per call, not throughput.
//!
//! Each kind runs as full blocks of one kind of call; the fixed cost of a block (an empty block
//! decoded, applied and committed: mostly the fsync) is subtracted before dividing by the
//! number of calls. The leader's admission check (`want_state::admit`) is measured and printed
//! but not counted: only the leader pays it, and it overlaps execution.
//!
//! The fit: the anchors of several shapes (records, products per record, identifier lengths)
//! give, by weighted least squares on relative errors, the per-record, per-product and per-byte
//! figures and the anchor's own cost beyond a call that fails at its first check ("kernel
//! only": signature, fee, nonce, receipt, index); the per-transaction base is the cheapest token
//! or registry call (or that failing call) beyond its bytes; each token call, and the dearest
//! registry call, is what it costs beyond the base and its bytes.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use clap::Args;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use want_crypto::{NodeKey, PrivateKey, SigningKey};
use want_node::config::{dev_private_key, Allocation, Genesis};
use want_state::trace::{GenesisOrg, GenesisOrgKey};
use want_state::{BlockContext, StateView, VerifiedTx};
use want_storage::{BlockInfo, ChainIdentity, Store};
use want_types::amount::TOTAL_SUPPLY;
use want_types::modules::commerce::{CommerceCall, CommerceEvent, OfferTerms};
use want_types::trace::{
    AnchorRecord, OrgKind, Permission, ProductLink, PublicFields, Relation, Role, TraceCall,
    TRACE_TX_BYTES_MAX,
};
use want_types::{
    Address, Amount, Block, BlockHeader, Call, ChainParams, Hash32, Signature, SignedTransaction,
    TokenCall, Transaction, TxStatus,
};

use crate::output::{CliError, Out};

#[derive(Args)]
pub struct WeightsBenchArgs {
    /// Blocks measured per kind of call (each kind's figure is their median).
    #[arg(long, default_value_t = 5)]
    blocks: usize,
    /// Calls per block of token and registry calls (anchors: fewer, by size).
    #[arg(long, default_value_t = 1_000)]
    txs: usize,
    /// Accounts holding a balance at genesis besides the senders (transfers go to them).
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Signing accounts (each block's calls come from different senders where the call allows).
    #[arg(long, default_value_t = 1_000)]
    senders: usize,
    /// Products anchored (in 1,700-item records) before anything is measured.
    #[arg(long, default_value_t = 51_000)]
    existing_products: usize,
}

/// What the fitted constants are called in the code, with the current values.
struct Current {
    name: &'static str,
    value: f64,
}

fn current_constants() -> Vec<Current> {
    use want_state::kernel::fees::{TX_WEIGHT_BASE, TX_WEIGHT_PER_BYTE};
    use want_state::modules::commerce;
    use want_state::token::{APPROVE_WEIGHT, BURN_WEIGHT, TRANSFER_FROM_WEIGHT, TRANSFER_WEIGHT};
    use want_state::trace::{ANCHOR_WEIGHT, PRODUCT_WEIGHT, RECORD_WEIGHT, REGISTRY_CALL_WEIGHT};
    [
        ("TX_WEIGHT_BASE", TX_WEIGHT_BASE),
        ("TX_WEIGHT_PER_BYTE", TX_WEIGHT_PER_BYTE),
        ("TRANSFER_WEIGHT", TRANSFER_WEIGHT),
        ("APPROVE_WEIGHT", APPROVE_WEIGHT),
        ("TRANSFER_FROM_WEIGHT", TRANSFER_FROM_WEIGHT),
        ("BURN_WEIGHT", BURN_WEIGHT),
        ("REGISTRY_CALL_WEIGHT", REGISTRY_CALL_WEIGHT),
        ("ANCHOR_WEIGHT", ANCHOR_WEIGHT),
        ("RECORD_WEIGHT", RECORD_WEIGHT),
        ("PRODUCT_WEIGHT", PRODUCT_WEIGHT),
        ("SHOP_WEIGHT", commerce::SHOP_WEIGHT),
        ("OFFER_WEIGHT", commerce::OFFER_WEIGHT),
        ("PLACE_WEIGHT", commerce::PLACE_WEIGHT),
        ("TRANSITION_WEIGHT", commerce::TRANSITION_WEIGHT),
        ("PROPOSAL_WEIGHT", commerce::PROPOSAL_WEIGHT),
    ]
    .into_iter()
    .map(|(name, v)| Current {
        name,
        value: v as f64,
    })
    .collect()
}

/// A point in time on the wall clock and on this thread's CPU clock.
struct Clock {
    wall: Instant,
    cpu: f64,
}

/// CPU time this thread has used, in nanoseconds (user and system: redb's writes count, the
/// wait for the disk during fsync does not). Unlike the wall clock it does not count time the
/// thread waited for a core, so other work on the machine disturbs it far less.
#[cfg(unix)]
fn thread_cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given, which lives for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

#[cfg(not(unix))]
fn thread_cpu_ns() -> f64 {
    f64::NAN
}

impl Clock {
    fn now() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu: thread_cpu_ns(),
        }
    }

    /// CPU nanoseconds since `self` (wall nanoseconds where there is no thread CPU clock).
    fn cpu_since(&self) -> f64 {
        let cpu = thread_cpu_ns() - self.cpu;
        if cpu.is_finite() {
            cpu
        } else {
            self.wall_since()
        }
    }

    fn wall_since(&self) -> f64 {
        self.wall.elapsed().as_secs_f64() * 1e9
    }
}

/// CPU time per stage of one block (or per call), in nanoseconds, and the wall time of the
/// counted stages.
#[derive(Clone, Copy, Default)]
pub(super) struct Stages {
    decode: f64,
    verify: f64,
    pub(super) execute: f64,
    pub(super) commit: f64,
    /// The leader's admission check (not counted in the total).
    admit: f64,
    /// Wall time of decode, verify, execute and commit.
    pub(super) wall: f64,
}

impl Stages {
    fn total(&self) -> f64 {
        self.decode + self.verify + self.execute + self.commit
    }

    fn minus(&self, o: &Stages) -> Stages {
        Stages {
            decode: (self.decode - o.decode).max(0.0),
            verify: (self.verify - o.verify).max(0.0),
            execute: (self.execute - o.execute).max(0.0),
            commit: (self.commit - o.commit).max(0.0),
            admit: (self.admit - o.admit).max(0.0),
            wall: (self.wall - o.wall).max(0.0),
        }
    }

    fn per(&self, n: usize) -> Stages {
        let n = n.max(1) as f64;
        Stages {
            decode: self.decode / n,
            verify: self.verify / n,
            execute: self.execute / n,
            commit: self.commit / n,
            admit: self.admit / n,
            wall: self.wall / n,
        }
    }

    fn json(&self) -> Value {
        json!({
            "decode": self.decode.round(), "verify": self.verify.round(),
            "execute": self.execute.round(), "commit": self.commit.round(),
            "total": self.total().round(), "admit": self.admit.round(),
            "wall": self.wall.round(),
        })
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Each stage's median over the blocks, and the smallest and largest total.
fn summarise(per_block: &[Stages]) -> (Stages, f64, f64) {
    let stage = |f: fn(&Stages) -> f64| median(per_block.iter().map(f).collect());
    let totals: Vec<f64> = per_block.iter().map(Stages::total).collect();
    let min = totals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = totals.iter().copied().fold(0.0, f64::max);
    (
        Stages {
            decode: stage(|s| s.decode),
            verify: stage(|s| s.verify),
            execute: stage(|s| s.execute),
            commit: stage(|s| s.commit),
            admit: stage(|s| s.admit),
            wall: stage(|s| s.wall),
        },
        if min.is_finite() { min } else { 0.0 },
        max,
    )
}

/// One measured kind of call.
struct Kind {
    name: String,
    group: Group,
    txs_per_block: usize,
    /// Mean encoded size of its signed transactions.
    bytes: f64,
    records: f64,
    products: f64,
    /// The weight the code declares for one of its transactions (the mean).
    declared: f64,
    per_call: Stages,
    min: f64,
    max: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    Empty,
    Kernel,
    /// Measured, not fitted.
    Other,
    Token(&'static str),
    Registry,
    Anchor,
    /// A commerce call, fitted to the named constant (the dearest of its kinds).
    Commerce(&'static str),
}

/// What a block's transactions must end as.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    Success,
    Failed,
}

/// The chain the benchmark runs on: a real store on a temporary directory.
pub(super) struct Chain {
    store: Store,
    _dir: tempfile::TempDir,
    params: ChainParams,
    node_key: NodeKey,
    nonces: HashMap<Address, u64>,
    head: BlockInfo,
    counter: u64,
    /// Added to the wall clock for the blocks' time (to make deadlines due).
    pub(super) clock_offset_ms: u64,
    /// Orders the end-of-block hook of the last block expired.
    pub(super) last_expired: usize,
}

/// Keys derived from a label, so runs sign the same accounts.
pub(super) fn key(label: &str, i: usize) -> SigningKey {
    let seed = want_types::hash::sha256(format!("want bench weights {label} {i}").as_bytes());
    SigningKey::Secp256k1(
        PrivateKey::from_bytes(&seed.0).expect("invariant: a SHA-256 is a valid secp256k1 key"),
    )
}

fn addr_of(label: &str, i: usize) -> Address {
    let h = want_types::hash::sha256(format!("want bench weights address {label} {i}").as_bytes());
    let mut id = [0u8; 20];
    id.copy_from_slice(&h.0[..20]);
    Address::from_account_id(id)
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    CliError::new("bench", e.to_string()).into()
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A CIDv1-shaped string (59 characters, as a raw SHA-256 CID), unique per `n`.
fn fake_cid(n: u64) -> String {
    let a = want_types::hash::sha256(&n.to_be_bytes());
    let b = want_types::hash::sha256(&a.0);
    let mut s = String::with_capacity(59);
    s.push('b');
    for byte in a.0.iter().chain(b.0.iter()).take(58) {
        s.push(BASE32[(byte % 32) as usize] as char);
    }
    s
}

fn compressed_key(n: u64) -> Vec<u8> {
    let mut k = want_types::hash::sha256(&n.to_le_bytes()).0.to_vec();
    k.insert(0, 2);
    k
}

/// How long the products' identifiers are.
#[derive(Clone, Copy)]
enum Ids {
    /// Short distinct identifiers (4 base-36 characters, 9 encoded bytes each): the most
    /// products a transaction's bytes can name.
    Short,
    /// GS1 Digital Link SGTINs as the EPCIS capture makes them (53 bytes).
    Gs1,
    /// 200-byte identifiers.
    Long,
}

impl Ids {
    fn id(self, n: u64) -> String {
        match self {
            Ids::Short => {
                let mut s = [b'0'; 4];
                let mut v = n % 36u64.pow(4);
                for c in s.iter_mut().rev() {
                    *c = b"0123456789abcdefghijklmnopqrstuvwxyz"[(v % 36) as usize];
                    v /= 36;
                }
                String::from_utf8(s.to_vec()).expect("invariant: ASCII")
            }
            Ids::Gs1 => format!(
                "https://id.gs1.org/01/00614141073464/21/{}",
                1_000_000_000_000 + n
            ),
            Ids::Long => format!(
                "https://id.gs1.org/01/00614141073464/21/{}{}",
                1_000_000_000_000 + n,
                "x".repeat(147)
            ),
        }
    }
}

impl Chain {
    fn new(a: &WeightsBenchArgs, rsa: &[Address]) -> anyhow::Result<Chain> {
        let dev = dev_private_key();
        let mut genesis = Genesis::dev();
        let rich: Amount = 1_000_000_000 * want_types::amount::UNIT;
        let mut allocations = Vec::new();
        let mut given: Amount = 0;
        let mut give = |address: Address, amount: Amount| {
            given += amount;
            allocations.push(Allocation { address, amount });
        };
        for i in 0..a.senders {
            give(key("sender", i).address(), rich);
        }
        for i in 0..ORG_KEYS {
            give(key("org", i).address(), rich);
        }
        for address in rsa {
            give(*address, rich);
        }
        for i in 0..a.accounts {
            give(addr_of("account", i), 1_000 + i as Amount);
        }
        allocations.push(Allocation {
            address: dev.address(),
            amount: TOTAL_SUPPLY - given,
        });
        genesis.allocations = allocations;
        let mut trace = want_node::config::dev_trace_genesis();
        trace.orgs.push(GenesisOrg {
            org: BENCH_ORG.into(),
            name: "Benchmark organisation".into(),
            kind: OrgKind::Factory,
            encryption_key: hex::encode(compressed_key(0)),
            keys: (0..ORG_KEYS)
                .map(|i| GenesisOrgKey {
                    address: key("org", i).address(),
                    department: format!("line {i}"),
                    roles: Role::ALL.to_vec(),
                })
                .collect(),
        });
        genesis.set_section("trace", &trace);
        let (block, write_set, state_root) = genesis.build().map_err(err)?;
        let dir = tempfile::tempdir().map_err(err)?;
        let store = Store::open(dir.path()).map_err(err)?;
        store
            .init_genesis(
                ChainIdentity {
                    chain_id: genesis.params.chain_id,
                    genesis_hash: block.hash(),
                },
                &block,
                &write_set,
                state_root,
                &genesis.activations,
            )
            .map_err(err)?;
        let head = store.head().map_err(err)?;
        Ok(Chain {
            store,
            _dir: dir,
            params: genesis.params,
            node_key: NodeKey::generate(),
            nonces: HashMap::new(),
            head,
            counter: 0,
            clock_offset_ms: 0,
            last_expired: 0,
        })
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn context(&self) -> BlockContext {
        BlockContext {
            height: self.head.height + 1,
            timestamp_ms: (super::now_ms() + self.clock_offset_ms).max(self.head.timestamp_ms),
            params: self.params.clone(),
            // The benchmark organisation (a factory) also verifies KYC, which the rule
            // `trace_writers` forbids; the calls are measured under the rules before it.
            activations: want_types::Activations(
                [(want_types::params::RULE_TRACE_WRITERS.to_string(), u64::MAX)].into(),
            ),
        }
    }

    /// Signs `call` from `key` with its next nonce and the fee its weight costs.
    pub(super) fn sign(
        &mut self,
        key: &SigningKey,
        call: Call,
    ) -> anyhow::Result<SignedTransaction> {
        let from = key.address();
        let nonce = self.nonces.entry(from).or_default();
        let mut tx = Transaction {
            chain_id: self.params.chain_id,
            from,
            nonce: *nonce,
            fee: 0,
            expiry_ms: super::now_ms() + 3_600_000,
            pow_nonce: 0,
            call,
        };
        *nonce += 1;
        tx.fee = want_state::fee_for_transaction(
            &self.params,
            &Default::default(),
            self.head.height + 1,
            &tx,
            &Signature::Secp256k1(vec![0; want_crypto::secp::RECOVERABLE_SIGNATURE_LEN]),
        )
        .ok_or_else(|| err("no fee pays for a benchmark transaction"))?;
        Ok(key.sign_transaction(tx))
    }

    /// Admits, decodes, verifies, executes and commits one block of `txs`, timing each stage.
    pub(super) fn block(
        &mut self,
        txs: Vec<SignedTransaction>,
        expect: Expect,
    ) -> anyhow::Result<Stages> {
        let ctx = self.context();
        let vtxs: Vec<VerifiedTx> = txs
            .iter()
            .map(|t| VerifiedTx::new(t.tx.from, t.clone()))
            .collect();
        // The leader's admission (not counted in the total).
        let t = Clock::now();
        {
            let snap = self.store.snapshot().map_err(err)?;
            for v in &vtxs {
                let dup = snap.tx_location(&v.id).map_err(err)?;
                let admitted = want_state::admit(&snap, &ctx, v).map_err(err)?;
                if expect == Expect::Success && (dup.is_some() || admitted.is_err()) {
                    return Err(err(format!(
                        "admission refused a benchmark call: {admitted:?}"
                    )));
                }
            }
        }
        let admit = t.cpu_since();
        let ids: Vec<Hash32> = vtxs.iter().map(|v| v.id).collect();
        drop(vtxs);
        let header = BlockHeader {
            chain_id: self.params.chain_id,
            height: ctx.height,
            prev_hash: self.head.hash,
            timestamp_ms: ctx.timestamp_ms,
            tx_root: want_crypto::merkle_root(&ids),
            tx_count: txs.len() as u32,
            parent_state_root: self.head.state_root,
            proposer: self.node_key.public_key().to_vec(),
        };
        let bytes = want_crypto::sign_block(header, txs, &self.node_key).to_bytes();

        // What every member does with a committed block.
        let start = Clock::now();
        let block = Block::from_bytes(&bytes).map_err(err)?;
        let decode = start.cpu_since();

        let t = Clock::now();
        let mut ids = Vec::with_capacity(block.txs.len());
        let mut vtxs = Vec::with_capacity(block.txs.len());
        for stx in &block.txs {
            let (id, sender) = want_crypto::verify_transaction(stx).map_err(err)?;
            let size = borsh::object_length(stx).map_err(err)?;
            ids.push(id);
            vtxs.push(VerifiedTx {
                id,
                sender,
                size,
                tx: stx.clone(),
            });
        }
        if want_crypto::merkle_root(&ids) != block.header.tx_root {
            return Err(err("tx root mismatch"));
        }
        let verify = t.cpu_since();

        let t = Clock::now();
        let outcome = {
            let snap = self.store.snapshot().map_err(err)?;
            want_state::apply_block(&snap as &dyn StateView, &ctx, self.head.state_root, &vtxs)
                .map_err(err)?
        };
        let execute = t.cpu_since();

        let t = Clock::now();
        self.head = self
            .store
            .commit_block_with_meta(
                &block,
                &outcome.receipts,
                &outcome.hook_events,
                &outcome.write_set,
                outcome.state_root,
                None,
            )
            .map_err(err)?;
        let commit = t.cpu_since();
        let wall = start.wall_since();

        self.last_expired = outcome
            .hook_events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    want_types::Event::Commerce(CommerceEvent::OrderExpired { .. })
                )
            })
            .count();
        for r in &outcome.receipts {
            let ok = matches!(
                (&r.status, expect),
                (TxStatus::Success, Expect::Success) | (TxStatus::Failed { .. }, Expect::Failed)
            );
            if !ok {
                return Err(err(format!("a benchmark call ended as {:?}", r.status)));
            }
        }
        Ok(Stages {
            decode,
            verify,
            execute,
            commit,
            admit,
            wall,
        })
    }

    fn record(&mut self, products: usize, ids: Ids) -> AnchorRecord {
        let n = self.next();
        let first = self.counter;
        self.counter += products as u64;
        AnchorRecord {
            event_hash: want_types::hash::sha256(format!("event {n}").as_bytes()),
            record_hash: want_types::hash::sha256(format!("record {n}").as_bytes()),
            cid: fake_cid(n),
            // An ECIES-wrapped 32-byte key: 65 + 16 + 16 + 32 bytes.
            owner_wrapped_key: vec![7; 129],
            public: PublicFields {
                event_type: "ObjectEvent".into(),
                biz_step: Some("receiving".into()),
                disposition: Some("in_progress".into()),
                event_time_ms: Some(1_764_460_800_000 + n as i64),
                location: Some("https://id.gs1.org/414/0614141008880".into()),
                products: (0..products as u64)
                    .map(|i| ProductLink {
                        id: ids.id(first + i),
                        relation: Relation::Epc,
                    })
                    .collect(),
            },
        }
    }
}

/// Senders that own a shop with one offer before anything is measured (the first ones); the
/// others buy.
const SELLERS: usize = 100;
/// Price and seller's deposit of one item of the benchmark offers, in base units.
pub(super) const BENCH_PRICE: Amount = 10_000;
pub(super) const BENCH_DEPOSIT: Amount = 1_000;
/// Deadlines of the benchmark offers (30 days: none passes while measuring).
const BENCH_WINDOW_MS: u64 = 30 * 86_400_000;
/// Letters a benchmark shop handle is written in: none folds into another
/// (`want_state::modules::commerce::state::fold_handle`), so distinct numbers stay distinct.
const HANDLE_LETTERS: &[u8; 16] = b"abcdefghknopqstu";

/// A shop handle unique per (`prefix`, `n`): `prefix-` and `n` in the letters above.
pub(super) fn shop_handle(n: u64, prefix: &str) -> String {
    let mut letters = Vec::new();
    let mut v = n;
    loop {
        letters.push(HANDLE_LETTERS[(v % 16) as usize]);
        v /= 16;
        if v == 0 {
            break;
        }
    }
    letters.reverse();
    format!(
        "{prefix}-{}",
        String::from_utf8(letters).expect("invariant: ASCII")
    )
}

pub(super) fn open_shop_call(handle: &str) -> Call {
    Call::Commerce(CommerceCall::OpenShop {
        handle: handle.into(),
        name: format!("Benchmark shop {handle}"),
        payout: addr_of("payout", handle.len()),
        trace_org: None,
    })
}

/// The terms of the benchmark offers; orders must be accepted within `accept_within_ms`.
pub(super) fn bench_terms(accept_within_ms: u64) -> OfferTerms {
    OfferTerms {
        product: "04012345678901".into(),
        title: "Green tea, 100 g".into(),
        price: BENCH_PRICE,
        deposit_per_order: BENCH_DEPOSIT,
        accept_within_ms,
        ship_within_ms: BENCH_WINDOW_MS,
        confirm_window_ms: BENCH_WINDOW_MS,
        dispute_window_ms: BENCH_WINDOW_MS,
        terms_cid: fake_cid(1),
        no_ship_deposit_share_bps: 5_000,
        currency: "WANT".into(),
    }
}

fn add_offer_call(handle: &str) -> Call {
    Call::Commerce(CommerceCall::AddOffer {
        shop: handle.into(),
        terms: bench_terms(BENCH_WINDOW_MS),
        stock: want_types::modules::commerce::STOCK_MAX,
    })
}

/// One item of version 1 of offer `offer` (with the benchmark terms).
fn place_call(offer: u64) -> Call {
    Call::Commerce(CommerceCall::PlaceOrder {
        offer,
        version: 1,
        terms_hash: bench_terms(BENCH_WINDOW_MS).hash(),
        quantity: 1,
        max_total: BENCH_PRICE,
    })
}

/// A chain of `senders` rich accounts (signed by [`key`]`("sender", i)`) and nothing else
/// beside the development genesis.
pub(super) fn chain_with_senders(senders: usize) -> anyhow::Result<Chain> {
    let a = WeightsBenchArgs {
        blocks: 1,
        txs: 1,
        accounts: 0,
        senders,
        existing_products: 0,
    };
    Chain::new(&a, &[])
}

/// The benchmark organisation and how many keys (managers, KYC verifiers, anchoring
/// departments: every role) it has.
const BENCH_ORG: &str = "bench";
const ORG_KEYS: usize = 100;

/// One anchor shape: records per transaction, products per record, identifier length,
/// transactions per block.
#[derive(Clone, Copy)]
struct Shape {
    records: usize,
    products: usize,
    ids: Ids,
    txs: usize,
}

fn shapes() -> Vec<Shape> {
    let s = |records, products, ids, txs| Shape {
        records,
        products,
        ids,
        txs,
    };
    vec![
        s(1, 1, Ids::Gs1, 200),
        s(1, 170, Ids::Gs1, 40),
        s(1, 1_700, Ids::Gs1, 8),
        s(1, 1_700, Ids::Short, 8),
        s(1, 1_700, Ids::Long, 4),
        s(10, 1_700, Ids::Gs1, 2),
        s(20, 10, Ids::Gs1, 20),
        s(100, 10, Ids::Gs1, 4),
        s(1_000, 1, Ids::Gs1, 2),
        s(1, 10_000, Ids::Gs1, 2),
        // The most products one transaction's bytes can name (1 MiB of short identifiers).
        s(11, 10_000, Ids::Short, 1),
    ]
}

impl Shape {
    fn name(&self) -> String {
        let ids = match self.ids {
            Ids::Short => ", 4-char ids",
            Ids::Gs1 => "",
            Ids::Long => ", 200-byte ids",
        };
        format!(
            "anchor {} × {}{ids}",
            thousands(self.records as f64),
            thousands(self.products as f64)
        )
    }
}

fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Rounds up to two significant digits (at least 1).
fn round_up(v: f64) -> u64 {
    if v <= 1.0 {
        return 1;
    }
    let digits = v.log10().floor() as i32;
    let step = 10f64.powi((digits - 1).max(0));
    ((v / step).ceil() * step) as u64
}

/// Weighted least squares: minimises Σ ((x_i · β − y_i) / y_i)², by the normal equations.
fn fit(xs: &[Vec<f64>], ys: &[f64]) -> Option<Vec<f64>> {
    let k = xs.first()?.len();
    let mut a = vec![vec![0.0; k + 1]; k];
    for (x, y) in xs.iter().zip(ys) {
        let w = 1.0 / (y * y).max(1.0);
        for i in 0..k {
            for j in 0..k {
                a[i][j] += w * x[i] * x[j];
            }
            a[i][k] += w * x[i] * y;
        }
    }
    // Gaussian elimination with partial pivoting.
    for c in 0..k {
        let p = (c..k).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        a.swap(c, p);
        if a[c][c].abs() < 1e-300 {
            return None;
        }
        let pivot = a[c].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != c {
                let f = row[c] / pivot[c];
                for (x, p) in row.iter_mut().zip(&pivot).skip(c) {
                    *x -= f * p;
                }
            }
        }
    }
    Some((0..k).map(|i| a[i][k] / a[i][i]).collect())
}

/// The kinds of call measured, in the order each round runs them (dependencies first: an
/// approval before transfers from it, keys added before they are revoked, grants before theirs).
#[derive(Clone, Copy)]
enum Spec {
    /// An empty block: the fixed cost of a block.
    Empty,
    /// A burn of more than the sender holds: fails at its first check, so the kernel's work
    /// (signature, fee, nonce, receipt, index) and little else.
    Kernel,
    Transfer,
    /// A transfer signed with an RSA key of this many bits (not fitted: it shows what the
    /// signature kind costs).
    TransferRsa(usize),
    Approve,
    TransferFrom,
    Burn,
    RegisterOrg,
    AddKey,
    RevokeKey,
    SubmitKyc,
    AttestKyc,
    Grant,
    RevokeGrant,
    Anchor(Shape),
    /// Shops opened by many senders.
    OpenShop,
    /// Offers added by the sellers to their shops.
    AddOffer,
    /// One item of a seller's offer ordered by a buyer (payment into escrow, deadline armed).
    PlaceOrder,
    /// The orders placed just before, accepted by their sellers (deposit into escrow).
    AcceptOrder,
    /// A cancellation proposed by the buyer of each order accepted just before.
    ProposeCancel,
    /// The accepted orders shipped (the proposal lapses).
    ShipOrder,
    /// The shipped orders confirmed by their buyers (payout, fee, deposit back, purchase).
    ConfirmDelivery,
}

/// Transactions per block of RSA-signed transfers (one sender).
const RSA_TXS: usize = 200;

impl Spec {
    fn all() -> Vec<Spec> {
        let mut v = vec![
            Spec::Empty,
            Spec::Kernel,
            Spec::Transfer,
            Spec::TransferRsa(want_crypto::RSA_BITS_MIN),
            Spec::TransferRsa(want_crypto::RSA_BITS_MAX),
            Spec::Approve,
            Spec::TransferFrom,
            Spec::Burn,
            Spec::RegisterOrg,
            Spec::AddKey,
            Spec::RevokeKey,
            Spec::SubmitKyc,
            Spec::AttestKyc,
            Spec::Grant,
            Spec::RevokeGrant,
            Spec::OpenShop,
            Spec::AddOffer,
            Spec::PlaceOrder,
            Spec::AcceptOrder,
            Spec::ProposeCancel,
            Spec::ShipOrder,
            Spec::ConfirmDelivery,
        ];
        v.extend(shapes().into_iter().map(Spec::Anchor));
        v
    }

    fn name(&self) -> String {
        match self {
            Spec::Empty => "empty block".into(),
            Spec::Kernel => "kernel only (failed call)".into(),
            Spec::Transfer => "transfer".into(),
            Spec::TransferRsa(bits) => format!("transfer, RSA-{bits} key"),
            Spec::Approve => "approve".into(),
            Spec::TransferFrom => "transfer_from".into(),
            Spec::Burn => "burn".into(),
            Spec::RegisterOrg => "register_org".into(),
            Spec::AddKey => "add_key".into(),
            Spec::RevokeKey => "revoke_key".into(),
            Spec::SubmitKyc => "submit_kyc".into(),
            Spec::AttestKyc => "attest_kyc".into(),
            Spec::Grant => "grant".into(),
            Spec::RevokeGrant => "revoke_grant".into(),
            Spec::OpenShop => "commerce open_shop".into(),
            Spec::AddOffer => "commerce add_offer".into(),
            Spec::PlaceOrder => "commerce place_order".into(),
            Spec::AcceptOrder => "commerce accept_order".into(),
            Spec::ProposeCancel => "commerce propose_cancel".into(),
            Spec::ShipOrder => "commerce ship_order".into(),
            Spec::ConfirmDelivery => "commerce confirm_delivery".into(),
            Spec::Anchor(shape) => shape.name(),
        }
    }

    fn group(&self) -> Group {
        match self {
            Spec::Empty => Group::Empty,
            Spec::Kernel => Group::Kernel,
            Spec::Transfer => Group::Token("TRANSFER_WEIGHT"),
            Spec::TransferRsa(_) => Group::Other,
            Spec::Approve => Group::Token("APPROVE_WEIGHT"),
            Spec::TransferFrom => Group::Token("TRANSFER_FROM_WEIGHT"),
            Spec::Burn => Group::Token("BURN_WEIGHT"),
            Spec::RegisterOrg
            | Spec::AddKey
            | Spec::RevokeKey
            | Spec::SubmitKyc
            | Spec::AttestKyc
            | Spec::Grant
            | Spec::RevokeGrant => Group::Registry,
            Spec::Anchor(_) => Group::Anchor,
            Spec::OpenShop => Group::Commerce("SHOP_WEIGHT"),
            Spec::AddOffer => Group::Commerce("OFFER_WEIGHT"),
            Spec::PlaceOrder => Group::Commerce("PLACE_WEIGHT"),
            Spec::AcceptOrder | Spec::ShipOrder | Spec::ConfirmDelivery => {
                Group::Commerce("TRANSITION_WEIGHT")
            }
            Spec::ProposeCancel => Group::Commerce("PROPOSAL_WEIGHT"),
        }
    }
}

/// The signers and what earlier blocks left for later ones.
struct Actors {
    senders: Vec<SigningKey>,
    org_keys: Vec<SigningKey>,
    admin: SigningKey,
    rsa: Vec<(usize, SigningKey)>,
    accounts: Vec<Address>,
    rng: rand::rngs::StdRng,
    /// Keys added (by which org key), to be revoked.
    added: VecDeque<(usize, Address)>,
    /// Grants made (by which org key, on which record, to whom), to be revoked.
    granted: VecDeque<(usize, Hash32, Address)>,
    /// A record of each org key's, to grant access to.
    grantable: Vec<(usize, Hash32)>,
    /// Grants expire well after the benchmark.
    grants_expire_ms: u64,
    anchors: usize,
    /// Orders placed so far (ids are assigned in order, from 1).
    orders: u64,
    /// Orders placed, accepted and shipped, by (order, seller index, buyer index), to move on.
    placed: VecDeque<(u64, usize, usize)>,
    accepted: VecDeque<(u64, usize, usize)>,
    shipped: VecDeque<(u64, usize, usize)>,
}

impl Actors {
    /// The transactions of block `b` of `spec`, `n` of them for token and registry calls.
    fn make(
        &mut self,
        spec: Spec,
        chain: &mut Chain,
        b: usize,
        n: usize,
    ) -> anyhow::Result<Vec<SignedTransaction>> {
        let s = self.senders.len();
        let o = self.org_keys.len();
        let mut txs = Vec::with_capacity(n);
        let trace = Call::Trace;
        match spec {
            Spec::Empty => {}
            Spec::Kernel => {
                for i in 0..n {
                    let call = Call::Token(TokenCall::Burn {
                        amount: TOTAL_SUPPLY,
                    });
                    txs.push(chain.sign(&self.senders[(b * n + i) % s], call)?);
                }
            }
            Spec::Transfer => {
                for i in 0..n {
                    let to = self.accounts[self.rng.gen_range(0..self.accounts.len())];
                    let call = Call::Token(TokenCall::Transfer {
                        to,
                        amount: 1_000 + i as Amount,
                    });
                    txs.push(chain.sign(&self.senders[(b * n + i) % s], call)?);
                }
            }
            Spec::TransferRsa(bits) => {
                let key = self
                    .rsa
                    .iter()
                    .find(|(b, _)| *b == bits)
                    .map(|(_, k)| k.clone())
                    .ok_or_else(|| err("no RSA key of that size"))?;
                for i in 0..RSA_TXS {
                    let to = self.accounts[self.rng.gen_range(0..self.accounts.len())];
                    let call = Call::Token(TokenCall::Transfer {
                        to,
                        amount: 1_000 + i as Amount,
                    });
                    txs.push(chain.sign(&key, call)?);
                }
            }
            Spec::Approve => {
                for i in 0..n {
                    let j = (b * n + i) % s;
                    let call = Call::Token(TokenCall::Approve {
                        spender: self.senders[(j + 1) % s].address(),
                        amount: 1_000_000_000,
                    });
                    txs.push(chain.sign(&self.senders[j], call)?);
                }
            }
            Spec::TransferFrom => {
                // The approvals of the same block index of `Approve`, committed just before.
                for i in 0..n {
                    let j = (b * n + i) % s;
                    let to = self.accounts[self.rng.gen_range(0..self.accounts.len())];
                    let call = Call::Token(TokenCall::TransferFrom {
                        from: self.senders[j].address(),
                        to,
                        amount: 1_000,
                    });
                    txs.push(chain.sign(&self.senders[(j + 1) % s], call)?);
                }
            }
            Spec::Burn => {
                for i in 0..n {
                    let call = Call::Token(TokenCall::Burn {
                        amount: 1 + i as Amount,
                    });
                    txs.push(chain.sign(&self.senders[(b * n + i) % s], call)?);
                }
            }
            Spec::RegisterOrg => {
                // Only the administrator registers organisations.
                for _ in 0..n {
                    let m = chain.next();
                    let call = trace(TraceCall::RegisterOrg {
                        org: format!("org-{m}"),
                        name: format!("Organisation number {m}"),
                        kind: OrgKind::Distributor,
                        encryption_key: compressed_key(m),
                    });
                    txs.push(chain.sign(&self.admin, call)?);
                }
            }
            Spec::AddKey => {
                for i in 0..n {
                    let j = (b * n + i) % o;
                    let m = chain.next();
                    let key = addr_of("added key", m as usize);
                    self.added.push_back((j, key));
                    let call = trace(TraceCall::AddKey {
                        org: BENCH_ORG.into(),
                        key,
                        department: format!("department {m}"),
                        roles: vec![Role::Warehouse, Role::Logistics],
                    });
                    txs.push(chain.sign(&self.org_keys[j], call)?);
                }
            }
            Spec::RevokeKey => {
                for _ in 0..n {
                    let (j, key) = self
                        .added
                        .pop_front()
                        .ok_or_else(|| err("no key left to revoke"))?;
                    txs.push(chain.sign(&self.org_keys[j], trace(TraceCall::RevokeKey { key }))?);
                }
            }
            Spec::SubmitKyc => {
                for i in 0..n {
                    let m = chain.next();
                    let call = trace(TraceCall::SubmitKyc {
                        verifier: self.org_keys[i % o].address(),
                        cid: fake_cid(m),
                    });
                    txs.push(chain.sign(&self.senders[(b * n + i) % s], call)?);
                }
            }
            Spec::AttestKyc => {
                for i in 0..n {
                    let m = chain.next();
                    let call = trace(TraceCall::AttestKyc {
                        subject: self.senders[(b * n + i) % s].address(),
                        level: 2,
                        attestation: want_types::hash::sha256(&m.to_be_bytes()),
                    });
                    txs.push(chain.sign(&self.org_keys[(b * n + i) % o], call)?);
                }
            }
            Spec::Grant => {
                for i in 0..n {
                    let (j, event_hash) = self.grantable[i % self.grantable.len()];
                    let m = chain.next();
                    let grantee = addr_of("grantee", m as usize);
                    self.granted.push_back((j, event_hash, grantee));
                    let call = trace(TraceCall::Grant {
                        event_hash,
                        grantee,
                        grantee_key: compressed_key(m),
                        permission: Permission::Read,
                        expires_at_ms: self.grants_expire_ms,
                        wrapped_key: vec![9; 129],
                    });
                    txs.push(chain.sign(&self.org_keys[j], call)?);
                }
            }
            Spec::RevokeGrant => {
                for _ in 0..n {
                    let (j, event_hash, grantee) = self
                        .granted
                        .pop_front()
                        .ok_or_else(|| err("no grant left to revoke"))?;
                    let call = trace(TraceCall::RevokeGrant {
                        event_hash,
                        grantee,
                    });
                    txs.push(chain.sign(&self.org_keys[j], call)?);
                }
            }
            Spec::OpenShop => {
                for i in 0..n {
                    let m = chain.next();
                    let call = open_shop_call(&shop_handle(m, "o"));
                    txs.push(chain.sign(&self.senders[(b * n + i) % s], call)?);
                }
            }
            Spec::AddOffer => {
                for i in 0..n {
                    let j = i % SELLERS;
                    let call = add_offer_call(&shop_handle(j as u64, "s"));
                    txs.push(chain.sign(&self.senders[j], call)?);
                }
            }
            Spec::PlaceOrder => {
                let buyers = s - SELLERS;
                for i in 0..n {
                    let (j, k) = (i % SELLERS, SELLERS + (b * n + i) % buyers);
                    self.orders += 1;
                    self.placed.push_back((self.orders, j, k));
                    txs.push(chain.sign(&self.senders[k], place_call(j as u64 + 1))?);
                }
            }
            Spec::AcceptOrder => {
                for _ in 0..n {
                    let (order, j, k) = self
                        .placed
                        .pop_front()
                        .ok_or_else(|| err("no order left to accept"))?;
                    self.accepted.push_back((order, j, k));
                    let call = Call::Commerce(CommerceCall::AcceptOrder {
                        order,
                        max_deposit: BENCH_DEPOSIT,
                    });
                    txs.push(chain.sign(&self.senders[j], call)?);
                }
            }
            Spec::ProposeCancel => {
                let orders: Vec<(u64, usize, usize)> =
                    self.accepted.iter().take(n).copied().collect();
                for (order, _, k) in orders {
                    let call = Call::Commerce(CommerceCall::ProposeCancel { order });
                    txs.push(chain.sign(&self.senders[k], call)?);
                }
            }
            Spec::ShipOrder => {
                for _ in 0..n {
                    let (order, j, k) = self
                        .accepted
                        .pop_front()
                        .ok_or_else(|| err("no order left to ship"))?;
                    self.shipped.push_back((order, j, k));
                    let call = Call::Commerce(CommerceCall::ShipOrder {
                        order,
                        epcis_event: None,
                    });
                    txs.push(chain.sign(&self.senders[j], call)?);
                }
            }
            Spec::ConfirmDelivery => {
                for _ in 0..n {
                    let (order, _, k) = self
                        .shipped
                        .pop_front()
                        .ok_or_else(|| err("no order left to confirm"))?;
                    let call = Call::Commerce(CommerceCall::ConfirmDelivery { order });
                    txs.push(chain.sign(&self.senders[k], call)?);
                }
            }
            Spec::Anchor(shape) => {
                for _ in 0..shape.txs {
                    let records: Vec<AnchorRecord> = (0..shape.records)
                        .map(|_| chain.record(shape.products, shape.ids))
                        .collect();
                    self.anchors += 1;
                    let call = trace(TraceCall::Anchor {
                        org: BENCH_ORG.into(),
                        records,
                    });
                    let t = chain.sign(&self.org_keys[self.anchors % o], call)?;
                    let size = borsh::object_length(&t).map_err(err)?;
                    if size > TRACE_TX_BYTES_MAX {
                        return Err(err(format!(
                            "{}: {size} bytes, over the {TRACE_TX_BYTES_MAX}-byte limit",
                            shape.name()
                        )));
                    }
                    txs.push(t);
                }
            }
        }
        Ok(txs)
    }
}

/// What one kind's blocks were made of.
#[derive(Default)]
struct Tally {
    blocks: Vec<Stages>,
    txs_per_block: usize,
    bytes: f64,
    records: f64,
    products: f64,
    declared: f64,
    count: usize,
}

impl Tally {
    fn add(&mut self, txs: &[SignedTransaction]) -> anyhow::Result<()> {
        self.txs_per_block = txs.len();
        for t in txs {
            let size = borsh::object_length(t).map_err(err)?;
            self.bytes += size as f64;
            self.declared += want_state::tx_weight(&t.tx.call, size) as f64;
            if let Call::Trace(TraceCall::Anchor { records, .. }) = &t.tx.call {
                self.records += records.len() as f64;
                self.products += records
                    .iter()
                    .map(|r| r.public.products.len())
                    .sum::<usize>() as f64;
            }
            self.count += 1;
        }
        Ok(())
    }
}

pub fn run(a: WeightsBenchArgs, out: &Out) -> anyhow::Result<()> {
    if a.blocks == 0 || a.txs == 0 || a.senders == 0 {
        return Err(
            CliError::new("bench", "--blocks, --txs and --senders must be positive").into(),
        );
    }
    let started = Instant::now();
    let specs = Spec::all();
    eprintln!("generating RSA keys…");
    let rsa: Vec<(usize, SigningKey)> = specs
        .iter()
        .filter_map(|s| match s {
            Spec::TransferRsa(bits) => Some(*bits),
            _ => None,
        })
        .map(|bits| {
            want_crypto::RsaPrivateKey::generate(bits)
                .map(|k| (bits, SigningKey::Rsa(k)))
                .map_err(err)
        })
        .collect::<anyhow::Result<_>>()?;
    eprintln!(
        "genesis: {} senders, {} accounts; anchoring {} existing products…",
        a.senders, a.accounts, a.existing_products
    );
    let rsa_addresses: Vec<Address> = rsa.iter().map(|(_, k)| k.address()).collect();
    let mut chain = Chain::new(&a, &rsa_addresses)?;
    let mut actors = Actors {
        senders: (0..a.senders).map(|i| key("sender", i)).collect(),
        org_keys: (0..ORG_KEYS).map(|i| key("org", i)).collect(),
        admin: dev_private_key().into(),
        rsa,
        accounts: (0..a.accounts.max(1))
            .map(|i| addr_of("account", i))
            .collect(),
        rng: rand::rngs::StdRng::seed_from_u64(7),
        added: VecDeque::new(),
        granted: VecDeque::new(),
        grantable: Vec::new(),
        grants_expire_ms: super::now_ms() + 30 * 86_400_000,
        anchors: 0,
        orders: 0,
        placed: VecDeque::new(),
        accepted: VecDeque::new(),
        shipped: VecDeque::new(),
    };

    // Existing state: records of 1,700 products each.
    let mut left = a.existing_products;
    while left > 0 {
        let mut txs = Vec::new();
        for k in actors.org_keys.iter().take(5) {
            if left == 0 {
                break;
            }
            let n = left.min(1_700);
            left -= n;
            let records = vec![chain.record(n, Ids::Gs1)];
            let call = Call::Trace(TraceCall::Anchor {
                org: BENCH_ORG.into(),
                records,
            });
            txs.push(chain.sign(k, call)?);
        }
        chain.block(txs, Expect::Success)?;
    }
    // A record of each org key's to grant access to (grants come from many senders).
    let mut txs = Vec::new();
    for (i, k) in actors.org_keys.iter().enumerate() {
        let r = chain.record(1, Ids::Gs1);
        actors.grantable.push((i, r.event_hash));
        let call = Call::Trace(TraceCall::Anchor {
            org: BENCH_ORG.into(),
            records: vec![r],
        });
        txs.push(chain.sign(k, call)?);
    }
    chain.block(txs, Expect::Success)?;
    // The sellers' shops and offers (offer ids 1..=SELLERS, in order).
    if a.senders <= SELLERS {
        return Err(err(format!(
            "--senders must be more than {SELLERS} (the first {SELLERS} are sellers)"
        )));
    }
    let txs = (0..SELLERS)
        .map(|j| {
            chain.sign(
                &actors.senders[j],
                open_shop_call(&shop_handle(j as u64, "s")),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    chain.block(txs, Expect::Success)?;
    let txs = (0..SELLERS)
        .map(|j| {
            chain.sign(
                &actors.senders[j],
                add_offer_call(&shop_handle(j as u64, "s")),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    chain.block(txs, Expect::Success)?;
    // Warm-up (not measured): a block of transfers.
    let warm = actors.make(Spec::Transfer, &mut chain, 0, a.txs)?;
    chain.block(warm, Expect::Success)?;

    // Rounds: one block of every kind per round, so what disturbs the machine for a while
    // spreads over the kinds instead of falling on one.
    let mut tallies: Vec<Tally> = specs.iter().map(|_| Tally::default()).collect();
    for b in 0..a.blocks {
        eprintln!("round {} of {}…", b + 1, a.blocks);
        for (spec, tally) in specs.iter().zip(tallies.iter_mut()) {
            let txs = actors.make(*spec, &mut chain, b, a.txs)?;
            tally.add(&txs)?;
            let expect = match spec {
                Spec::Kernel => Expect::Failed,
                _ => Expect::Success,
            };
            tally.blocks.push(chain.block(txs, expect)?);
        }
    }
    let block_fixed = summarise(&tallies[0].blocks).0;
    let kinds: Vec<Kind> = specs
        .iter()
        .zip(&tallies)
        .skip(1)
        .map(|(spec, t)| {
            let per_block: Vec<Stages> = t
                .blocks
                .iter()
                .map(|s| s.minus(&block_fixed).per(t.txs_per_block))
                .collect();
            let (per_call, min, max) = summarise(&per_block);
            let c = t.count.max(1) as f64;
            Kind {
                name: spec.name(),
                group: spec.group(),
                txs_per_block: t.txs_per_block,
                bytes: t.bytes / c,
                records: t.records / c,
                products: t.products / c,
                declared: t.declared / c,
                per_call,
                min,
                max,
            }
        })
        .collect();
    let v = report(&a, &kinds, &block_fixed, started.elapsed());
    out.value(&v, text);
    Ok(())
}

/// The fitted constants and the JSON result.
fn report(a: &WeightsBenchArgs, kinds: &[Kind], block_fixed: &Stages, took: Duration) -> Value {
    let kernel = kinds
        .iter()
        .find(|k| k.group == Group::Kernel)
        .expect("invariant: the kernel kind is measured first");
    // Anchors: y − kernel = A + R·records + P·products + B·(bytes − kernel bytes).
    let anchors: Vec<&Kind> = kinds.iter().filter(|k| k.group == Group::Anchor).collect();
    let xs: Vec<Vec<f64>> = anchors
        .iter()
        .map(|k| vec![1.0, k.records, k.products, k.bytes - kernel.bytes])
        .collect();
    let ys: Vec<f64> = anchors
        .iter()
        .map(|k| (k.per_call.total() - kernel.per_call.total()).max(1.0))
        .collect();
    let beta = fit(&xs, &ys).unwrap_or_else(|| vec![0.0; 4]);
    let (anchor_vs_kernel, record, product, per_byte) =
        (beta[0], beta[1], beta[2], beta[3].max(0.0));
    // The base: the cheapest small call beyond its bytes (a failing call is no cheaper than a
    // simple one: its receipt carries the failure's message), so no call weighs less than 0.
    let base = kinds
        .iter()
        .filter(|k| matches!(k.group, Group::Kernel | Group::Token(_) | Group::Registry))
        .map(|k| k.per_call.total() - per_byte * k.bytes)
        .fold(f64::INFINITY, f64::min);
    // The anchor's own weight, so the fitted anchors are predicted the same from that base.
    let anchor = anchor_vs_kernel + kernel.per_call.total() - per_byte * kernel.bytes - base;
    let beyond = |k: &Kind| k.per_call.total() - base - per_byte * k.bytes;
    let token = |name: &'static str| {
        kinds
            .iter()
            .find(|k| k.group == Group::Token(name))
            .map(beyond)
            .unwrap_or(0.0)
    };
    let registry = kinds
        .iter()
        .filter(|k| k.group == Group::Registry)
        .map(beyond)
        .fold(0.0, f64::max);
    let commerce = |name: &'static str| {
        kinds
            .iter()
            .filter(|k| k.group == Group::Commerce(name))
            .map(beyond)
            .fold(0.0, f64::max)
    };
    let fitted: Vec<(&str, f64)> = vec![
        ("TX_WEIGHT_BASE", base),
        ("TX_WEIGHT_PER_BYTE", per_byte),
        ("TRANSFER_WEIGHT", token("TRANSFER_WEIGHT")),
        ("APPROVE_WEIGHT", token("APPROVE_WEIGHT")),
        ("TRANSFER_FROM_WEIGHT", token("TRANSFER_FROM_WEIGHT")),
        ("BURN_WEIGHT", token("BURN_WEIGHT")),
        ("REGISTRY_CALL_WEIGHT", registry),
        ("ANCHOR_WEIGHT", anchor),
        ("RECORD_WEIGHT", record),
        ("PRODUCT_WEIGHT", product),
        ("SHOP_WEIGHT", commerce("SHOP_WEIGHT")),
        ("OFFER_WEIGHT", commerce("OFFER_WEIGHT")),
        ("PLACE_WEIGHT", commerce("PLACE_WEIGHT")),
        ("TRANSITION_WEIGHT", commerce("TRANSITION_WEIGHT")),
        ("PROPOSAL_WEIGHT", commerce("PROPOSAL_WEIGHT")),
    ];
    let current = current_constants();
    let constants: Vec<Value> = fitted
        .iter()
        .map(|(name, v)| {
            let now = current
                .iter()
                .find(|c| c.name == *name)
                .map(|c| c.value)
                .unwrap_or(0.0);
            json!({"name": name, "fitted": (v * 10.0).round() / 10.0, "rounded_up": round_up(*v), "current": now})
        })
        .collect();
    // How the fitted model predicts each anchor shape.
    let predicted =
        |k: &Kind| base + per_byte * k.bytes + anchor + record * k.records + product * k.products;
    let kinds_json: Vec<Value> = kinds
        .iter()
        .map(|k| {
            let mut v = json!({
                "kind": k.name,
                "txs_per_block": k.txs_per_block,
                "bytes": k.bytes.round(),
                "ns_per_call": k.per_call.json(),
                "total_min": k.min.round(),
                "total_max": k.max.round(),
                "declared_weight": k.declared.round(),
            });
            if k.group == Group::Anchor {
                v["records"] = json!(k.records);
                v["products"] = json!(k.products);
                v["fit_ratio"] =
                    json!(((k.per_call.total() / predicted(k)) * 1000.0).round() / 1000.0);
            }
            v
        })
        .collect();
    json!({
        "settings": {
            "blocks": a.blocks, "txs": a.txs, "accounts": a.accounts, "senders": a.senders,
            "existing_products": a.existing_products,
        },
        "block_fixed_ns": block_fixed.json(),
        "kinds": kinds_json,
        "constants": constants,
        "elapsed_seconds": (took.as_secs_f64() * 10.0).round() / 10.0,
    })
}

fn text(v: &Value) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let us = |v: &Value| format!("{:.1}", f(v) / 1_000.0);
    let mut s = String::new();
    s.push_str(&format!(
        "weights: CPU time per call on this machine (one thread), median of {} blocks; a block's fixed cost ({:.2} ms CPU, {:.2} ms wall) subtracted\n",
        v["settings"]["blocks"],
        f(&v["block_fixed_ns"]["total"]) / 1e6,
        f(&v["block_fixed_ns"]["wall"]) / 1e6,
    ));
    let row =
        |cols: [&str; 12]| {
            format!(
            "  {:<31} {:>5} {:>8}  {:>7} {:>7} {:>8} {:>8}  {:>11} {:>25}  {:>11}  {:>7} {:>8}\n",
            cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8],
            cols[9], cols[10], cols[11]
        )
        };
    s.push_str(&row([
        "kind",
        "txs",
        "bytes",
        "decode",
        "verify",
        "execute",
        "commit",
        "total",
        "totals min–max",
        "declared",
        "wall",
        "admit",
    ]));
    s.push_str(&row([
        "", "/blk", "/call", "µs", "µs", "µs", "µs", "ns", "ns", "weight", "µs", "µs",
    ]));
    for k in v["kinds"].as_array().into_iter().flatten() {
        let p = &k["ns_per_call"];
        let mut line = row([
            k["kind"].as_str().unwrap_or(""),
            &k["txs_per_block"].to_string(),
            &thousands(f(&k["bytes"])),
            &us(&p["decode"]),
            &us(&p["verify"]),
            &us(&p["execute"]),
            &us(&p["commit"]),
            &thousands(f(&p["total"])),
            &format!(
                "{}–{}",
                thousands(f(&k["total_min"])),
                thousands(f(&k["total_max"]))
            ),
            &thousands(f(&k["declared_weight"])),
            &us(&p["wall"]),
            &us(&p["admit"]),
        ]);
        if let Some(r) = k.get("fit_ratio") {
            line.insert_str(line.len() - 1, &format!("  measured ÷ model {:.2}", f(r)));
        }
        s.push_str(&line);
    }
    s.push_str("fitted constants (weight units ≈ CPU ns):\n");
    s.push_str(&format!(
        "  {:<22} {:>14} {:>14} {:>14}\n",
        "", "fitted", "rounded up", "in the code"
    ));
    for c in v["constants"].as_array().into_iter().flatten() {
        let fitted = f(&c["fitted"]);
        s.push_str(&format!(
            "  {:<22} {:>14} {:>14} {:>14}\n",
            c["name"].as_str().unwrap_or(""),
            if fitted.abs() < 100.0 {
                format!("{fitted:.1}")
            } else {
                thousands(fitted)
            },
            thousands(f(&c["rounded_up"])),
            thousands(f(&c["current"])),
        ));
    }
    s.push_str(&format!("  ({} s)", v["elapsed_seconds"]));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_an_exact_linear_model() {
        let truth = [500.0, 20_000.0, 3_000.0, 7.0];
        let xs: Vec<Vec<f64>> = [
            (1.0, 1.0, 200.0),
            (1.0, 1_700.0, 90_000.0),
            (10.0, 17_000.0, 900_000.0),
            (1_000.0, 1_000.0, 300_000.0),
            (1.0, 1_700.0, 20_000.0),
        ]
        .iter()
        .map(|&(r, p, b)| vec![1.0, r, p, b])
        .collect();
        let ys: Vec<f64> = xs
            .iter()
            .map(|x| x.iter().zip(truth).map(|(a, b)| a * b).sum())
            .collect();
        let beta = fit(&xs, &ys).unwrap();
        for (b, t) in beta.iter().zip(truth) {
            assert!((b - t).abs() < 1e-6 * t.max(1.0), "{beta:?}");
        }
    }

    #[test]
    fn constants_round_up_to_two_significant_digits() {
        assert_eq!(round_up(0.2), 1);
        assert_eq!(round_up(7.2), 8);
        assert_eq!(round_up(12.01), 13);
        assert_eq!(round_up(312.0), 320);
        assert_eq!(round_up(48_123.0), 49_000);
        assert_eq!(round_up(49_000.0), 49_000);
    }

    #[test]
    fn short_ids_are_four_characters_and_distinct() {
        let ids: std::collections::HashSet<String> =
            (0..50_000).map(|n| Ids::Short.id(n)).collect();
        assert_eq!(ids.len(), 50_000);
        assert!(ids.iter().all(|i| i.len() == 4));
        assert_eq!(Ids::Gs1.id(5).len(), 53);
        assert_eq!(Ids::Long.id(5).len(), 200);
    }
}
