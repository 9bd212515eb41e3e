//! Shared helpers of the HTTP integration tests: an in-process node on a temporary data
//! directory and a free port, transaction builders, and small HTTP wrappers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use want_crypto::SigningKey;
use want_node::config::{dev_private_key, DEV_CHAIN_ID, DEV_MIN_FEE};
use want_node::{Genesis, Node, NodeConfig, NodeError};
use want_types::{Address, Amount, Call, SignedTransaction, TokenCall, Transaction};

/// Block interval of the "fast" test nodes.
pub const FAST_BLOCK_MS: u64 = 20;
/// Block interval of nodes whose mempool must hold transactions for the whole test.
pub const SLOW_BLOCK_MS: u64 = 60_000;

/// Logs of the nodes a test starts, to the test's captured output, when `WANT_TEST_LOG` holds a
/// filter (`WANT_TEST_LOG=info cargo test …`): a failing run then shows what the nodes did.
pub fn init_test_logging() {
    if let Ok(filter) = std::env::var("WANT_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// How long [`TestNode::commit_patiently`] waits after a `commit_timeout`, in seconds.
pub const PATIENT_COMMIT_S: u64 = 60;

/// A node with its HTTP server, started in-process.
pub struct TestNode {
    pub base: String,
    pub node: Node,
    pub http: reqwest::Client,
    pub data_dir: PathBuf,
    stop_server: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    /// The member listener's URL, when the node has one.
    pub member_base: Option<String>,
    /// Serves the member listener until the node shuts down.
    member_server: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts a node on `dir` with the given block interval and genesis; `tweak` may change any
/// other setting of the configuration.
pub async fn start_node_with(
    dir: &Path,
    genesis: Genesis,
    tweak: impl FnOnce(&mut NodeConfig),
) -> Result<TestNode, NodeError> {
    init_test_logging();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    let key = want_node::load_or_create_node_key(dir)?;
    let mut cfg = NodeConfig::dev(dir.to_path_buf(), addr);
    cfg.block_interval_ms = FAST_BLOCK_MS;
    cfg.commit_wait_timeout_ms = 10_000;
    tweak(&mut cfg);
    let node = Node::start(cfg, genesis, key).await?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(want_node::api::serve(listener, node.clone(), async move {
        let _ = stop_rx.await;
    }));
    Ok(TestNode {
        base: format!("http://{addr}"),
        node,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("http client"),
        data_dir: dir.to_path_buf(),
        stop_server: Some(stop_tx),
        server: Some(server),
        member_base: None,
        member_server: None,
    })
}

/// A dev-genesis node with the fast block interval.
pub async fn start_dev(dir: &Path) -> TestNode {
    start_node_with(dir, Genesis::dev(), |_| {})
        .await
        .expect("start dev node")
}

/// A dev-genesis node that never produces a block during a test (the mempool keeps its
/// transactions).
pub async fn start_slow(dir: &Path, tweak: impl FnOnce(&mut NodeConfig)) -> TestNode {
    let n = start_node_with(dir, Genesis::dev(), |c| {
        c.block_interval_ms = SLOW_BLOCK_MS;
        tweak(c);
    })
    .await
    .expect("start slow node");
    // The block producer ticks once right after start; let that tick pass before a test
    // submits anything, so nothing is committed for the rest of the test.
    tokio::time::sleep(Duration::from_millis(200)).await;
    n
}

impl TestNode {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        let status = r.status();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The body of `GET path` as text (metrics, HTML pages).
    pub async fn get_text(&self, path: &str) -> String {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        r.text().await.expect("body")
    }

    pub async fn get_ok(&self, path: &str) -> Value {
        let (s, v) = self.get(path).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        self.post_typed(path, "application/json", body).await
    }

    async fn post_typed(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = r.status();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POSTs a borsh body as `application/octet-stream`.
    pub async fn post_binary(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        self.post_typed(path, "application/octet-stream", body)
            .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_raw(path, body.to_string()).await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.http.put(self.url(path)).json(body)).await
    }

    pub async fn put_bytes(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        self.send(
            self.http
                .put(self.url(path))
                .header("content-type", "application/octet-stream")
                .body(body),
        )
        .await
    }

    /// Uploads a blob signed by `key` (`X-Want-Time`, `X-Want-Signature` over
    /// `blob_put_digest` of the dev chain).
    pub async fn put_blob_signed(
        &self,
        key: &want_crypto::PrivateKey,
        bytes: Vec<u8>,
    ) -> (StatusCode, Value) {
        let time_ms = now_ms();
        let cid = want_crypto::cid_of(&bytes);
        let digest = want_types::trace::blob_put_digest(DEV_CHAIN_ID, &cid, time_ms);
        self.send(
            self.http
                .put(self.url("/v1/blobs"))
                .header("content-type", "application/octet-stream")
                .header("X-Want-Time", time_ms.to_string())
                .header("X-Want-Signature", hex::encode(key.sign_digest(&digest)))
                .body(bytes),
        )
        .await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let r = req.send().await.expect("request");
        let status = r.status();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Submits a transaction; `wait` adds `?wait=commit`.
    pub async fn submit(&self, stx: &SignedTransaction, wait: bool) -> (StatusCode, Value) {
        let path = if wait {
            "/v1/transactions?wait=commit"
        } else {
            "/v1/transactions"
        };
        self.post_json(path, &serde_json::to_value(stx).unwrap())
            .await
    }

    /// Submits with `?wait=commit` and asserts it committed successfully.
    pub async fn commit(&self, stx: &SignedTransaction) -> Value {
        let (s, v) = self.submit(stx, true).await;
        assert_eq!(s, StatusCode::OK, "commit: {v}");
        assert_eq!(v["receipt"]["status"], "success", "commit: {v}");
        v
    }

    /// Waits up to `within` until this node verifies the traceability record of `product`
    /// (URL-encoded) as authentic with its blob intact; `what` names the wait in the failure.
    pub async fn wait_record_verified(&self, product: &str, within: Duration, what: &str) {
        let deadline = Instant::now() + within;
        loop {
            let (s, v) = self.get(&format!("/v1/trace/verify/{product}")).await;
            if s == StatusCode::OK
                && v["verdict"] == "authentic"
                && v["events"][0]["blob"] == "intact"
            {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// [`TestNode::commit`] for clusters on a loaded machine: a `commit_timeout` (elections
    /// under CPU starvation can outlast the node's wait) is followed by waiting up to
    /// [`PATIENT_COMMIT_S`] more for the transaction to commit. A transaction that was
    /// acknowledged and then lost still fails the test.
    pub async fn commit_patiently(&self, stx: &SignedTransaction) -> Value {
        let (s, v) = self.submit(stx, true).await;
        if s == StatusCode::REQUEST_TIMEOUT && v["error"]["code"] == "commit_timeout" {
            let id = stx.id().to_string();
            eprintln!(
                "{id}: commit_timeout on {}; waiting for it to commit",
                self.base
            );
            let view = self
                .wait_committed_within(&id, Duration::from_secs(PATIENT_COMMIT_S))
                .await;
            assert_eq!(view["receipt"]["status"], "success", "commit: {view}");
            return view;
        }
        assert_eq!(s, StatusCode::OK, "commit: {v}");
        assert_eq!(v["receipt"]["status"], "success", "commit: {v}");
        v
    }

    pub async fn balance(&self, addr: &Address) -> Amount {
        let v = self.get_ok(&format!("/v1/accounts/{addr}")).await;
        v["balance"]
            .as_str()
            .expect("balance is a string")
            .parse()
            .expect("balance is decimal")
    }

    pub async fn nonce(&self, addr: &Address) -> u64 {
        self.get_ok(&format!("/v1/accounts/{addr}")).await["nonce"]
            .as_u64()
            .unwrap()
    }

    pub async fn token(&self) -> Value {
        self.get_ok("/v1/token").await
    }

    pub async fn height(&self) -> u64 {
        self.get_ok("/v1/status").await["height"].as_u64().unwrap()
    }

    /// Waits until the transaction is committed and returns its view.
    pub async fn wait_committed(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (s, v) = self.get(&format!("/v1/transactions/{id}")).await;
            if s == StatusCode::OK && v["status"] == "committed" {
                return v;
            }
            assert!(Instant::now() < deadline, "{id} not committed: {s} {v}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the transaction is committed, for at most `limit`.
    pub async fn wait_committed_within(&self, id: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let (s, v) = self.get(&format!("/v1/transactions/{id}")).await;
            if s == StatusCode::OK && v["status"] == "committed" {
                return v;
            }
            assert!(Instant::now() < deadline, "{id} not committed: {s} {v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops block production and the HTTP server, drops every handle and waits until the
    /// storage is closed (so the same data directory can be opened again).
    pub async fn stop(mut self) {
        let store: Weak<want_storage::Store> = std::sync::Arc::downgrade(&self.node.shared.store);
        self.node.shutdown();
        if let Some(tx) = self.stop_server.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("server stops")
                .expect("server task")
                .expect("server result");
        }
        if let Some(server) = self.member_server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("member server stops")
                .expect("member server task")
                .expect("member server result");
        }
        self.node.stop().await.expect("consensus stops");
        let data_dir = self.data_dir.clone();
        drop(self);
        // The block producer and the journal writer let go of the store shortly after.
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.strong_count() > 0 {
            assert!(
                Instant::now() < deadline,
                "the store is still referenced after shutdown"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The last holder may still be inside the store's destructor: wait until the database
        // file can be opened again.
        loop {
            match want_storage::Store::open(&data_dir) {
                Ok(store) => break drop(store),
                Err(want_storage::StorageError::InUse { .. }) => {
                    assert!(
                        Instant::now() < deadline,
                        "the database is still open after shutdown"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("reopening the database: {e}"),
            }
        }
    }
}

/// The development account's signing key.
pub fn dev_key() -> SigningKey {
    SigningKey::Secp256k1(dev_private_key())
}

/// A fresh secp256k1 key.
pub fn new_key() -> SigningKey {
    SigningKey::Secp256k1(want_crypto::PrivateKey::generate())
}

pub fn now_ms() -> u64 {
    want_node::now_ms()
}

/// An unsigned dev-chain transaction paying the minimum fee, valid for 10 minutes. `from` is a
/// placeholder that `SigningKey::sign_transaction` replaces with the signer (set it yourself
/// before solving a proof-of-work stamp).
pub fn tx(nonce: u64, call: TokenCall) -> Transaction {
    Transaction {
        chain_id: DEV_CHAIN_ID,
        from: Address::system("placeholder"),
        nonce,
        fee: DEV_MIN_FEE,
        expiry_ms: now_ms() + 600_000,
        pow_nonce: 0,
        call: Call::Token(call),
    }
}

pub fn transfer(key: &SigningKey, nonce: u64, to: Address, amount: Amount) -> SignedTransaction {
    key.sign_transaction(tx(nonce, TokenCall::Transfer { to, amount }))
}

/// A fee-free approval from `key` (an empty account) paid with a proof-of-work stamp of `bits`:
/// the cheapest transaction there is.
pub fn stamped(key: &SigningKey, nonce: u64, bits: u32) -> SignedTransaction {
    let mut t = tx(
        nonce,
        TokenCall::Approve {
            spender: new_key().address(),
            amount: 1,
        },
    );
    t.from = key.address();
    t.fee = 0;
    t.solve_pow(bits);
    key.sign_transaction(t)
}

/// `call` (of any module) signed by `key` at `nonce`, with the dev chain's minimum fee.
pub fn signed_call(key: &SigningKey, nonce: u64, call: impl Into<Call>) -> SignedTransaction {
    key.sign_transaction(Transaction {
        chain_id: DEV_CHAIN_ID,
        from: key.address(),
        nonce,
        fee: DEV_MIN_FEE,
        expiry_ms: now_ms() + 600_000,
        pow_nonce: 0,
        call: call.into(),
    })
}

/// Sends `call` as `key` at its next nonce and waits for the commit.
pub async fn send_call(
    n: &TestNode,
    key: &SigningKey,
    call: impl Into<Call>,
) -> (StatusCode, Value) {
    let nonce = n.nonce(&key.address()).await;
    n.submit(&signed_call(key, nonce, call), true).await
}

/// [`send_call`], expecting it to commit successfully.
pub async fn send_call_ok(n: &TestNode, key: &SigningKey, call: impl Into<Call>) -> Value {
    let (s, v) = send_call(n, key, call).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["receipt"]["status"], "success", "{v}");
    v
}

/// The commerce tests' offer: a GTIN of green tea at `price` with a deposit of `deposit` per
/// item, 10-minute accept and ship windows, 1-hour confirm and dispute windows, half the deposit
/// to the buyer on a missed shipment, priced in WANT.
pub fn tea_terms(price: Amount, deposit: Amount) -> want_types::modules::commerce::OfferTerms {
    want_types::modules::commerce::OfferTerms {
        product: "04012345678901".into(),
        title: "Green tea, 100 g".into(),
        price,
        deposit_per_order: deposit,
        accept_within_ms: 600_000,
        ship_within_ms: 600_000,
        confirm_window_ms: 3_600_000,
        dispute_window_ms: 3_600_000,
        terms_cid: "bafyterms".into(),
        no_ship_deposit_share_bps: 5_000,
        currency: "WANT".into(),
    }
}

/// The 1 % transfer fee, rounded up.
pub fn transfer_fee(amount: Amount) -> Amount {
    (amount * 100).div_ceil(10_000)
}

/// Block interval of cluster test nodes.
pub const CLUSTER_BLOCK_MS: u64 = 50;

/// An in-process cluster: every member with its key and data directory, all on one runtime.
pub struct TestCluster {
    pub genesis: Genesis,
    pub keys: Vec<want_crypto::NodeKey>,
    pub dirs: Vec<PathBuf>,
    pub addrs: Vec<SocketAddr>,
    /// `None` while a member is stopped.
    pub nodes: Vec<Option<TestNode>>,
    /// Applied to every member's configuration.
    pub tweak: fn(&mut NodeConfig),
    /// Each member's member listener (`cluster.member_addr`), when the cluster has them.
    pub member_addrs: Option<Vec<SocketAddr>>,
    /// The scheme of the member URLs: `https` when members talk over TLS.
    pub member_scheme: &'static str,
}

impl TestCluster {
    /// Commits `n` transfers of the dev account (nonces 0..n) to the system address `shop`,
    /// submitted to the members in turn; their ids.
    pub async fn commit_transfers_round_robin(&self, shop: &str, n: u64) -> Vec<String> {
        let key = dev_key();
        let to = Address::system(shop);
        let mut ids = Vec::new();
        for i in 0..n {
            let stx = transfer(&key, i, to, 1_000_000);
            let member = usize::try_from(i).expect("a few transfers") % self.nodes.len();
            let v = self.node(member).commit_patiently(&stx).await;
            ids.push(
                v["id"]
                    .as_str()
                    .expect("a committed transaction's id")
                    .to_string(),
            );
        }
        ids
    }

    /// Starts `n` members (Raft ids 1..=n) on `root`, with fault injection enabled.
    pub async fn start(root: &Path, n: usize) -> TestCluster {
        Self::start_with(root, n, |_| {}).await
    }

    /// [`TestCluster::start`] with `tweak` applied to every member's configuration.
    pub async fn start_with(root: &Path, n: usize, tweak: fn(&mut NodeConfig)) -> TestCluster {
        Self::start_inner(root, n, tweak, false, "http").await
    }

    /// [`TestCluster::start`] with a member listener per member: the genesis names the member
    /// listeners' URLs, and the members talk to each other there only.
    pub async fn start_with_member_listeners(root: &Path, n: usize) -> TestCluster {
        Self::start_inner(root, n, |_| {}, true, "http").await
    }

    /// [`TestCluster::start_with_member_listeners`] with `https://` member URLs: the members
    /// talk over TLS, each with a certificate of its node key; `tweak` is applied to every
    /// member's configuration.
    pub async fn start_with_member_tls(
        root: &Path,
        n: usize,
        tweak: fn(&mut NodeConfig),
    ) -> TestCluster {
        Self::start_inner(root, n, tweak, true, "https").await
    }

    async fn start_inner(
        root: &Path,
        n: usize,
        tweak: fn(&mut NodeConfig),
        member_listeners: bool,
        member_scheme: &'static str,
    ) -> TestCluster {
        let mut member_addrs = Vec::new();
        let mut member_listeners_bound = Vec::new();
        if member_listeners {
            for _ in 0..n {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a free port");
                member_addrs.push(l.local_addr().expect("local address"));
                member_listeners_bound.push(Some(l));
            }
        }
        let mut listeners = Vec::new();
        let mut keys = Vec::new();
        let mut dirs = Vec::new();
        let mut members = Vec::new();
        for i in 0..n {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind a free port");
            let addr = listener.local_addr().expect("local address");
            let dir = root.join(format!("node{}", i + 1));
            let key = want_node::load_or_create_node_key(&dir).expect("node key");
            members.push(want_node::config::GenesisMember {
                id: i as u64 + 1,
                public_key: hex::encode(key.public_key()),
                url: format!("{member_scheme}://{}", member_addrs.get(i).unwrap_or(&addr)),
            });
            listeners.push(listener);
            keys.push(key);
            dirs.push(dir);
        }
        let mut genesis = Genesis::dev();
        genesis.members = members;
        let mut cluster = TestCluster {
            genesis,
            keys,
            dirs,
            addrs: listeners.iter().map(|l| l.local_addr().unwrap()).collect(),
            nodes: Vec::new(),
            tweak,
            member_addrs: member_listeners.then_some(member_addrs),
            member_scheme,
        };
        for (i, listener) in listeners.into_iter().enumerate() {
            let member = member_listeners_bound.get_mut(i).and_then(Option::take);
            let node = cluster.start_member_with(i, Some(listener), member).await;
            cluster.nodes.push(Some(node));
        }
        cluster
    }

    async fn start_member(&self, i: usize, listener: Option<tokio::net::TcpListener>) -> TestNode {
        self.start_member_with(i, listener, None).await
    }

    async fn start_member_with(
        &self,
        i: usize,
        listener: Option<tokio::net::TcpListener>,
        member_listener: Option<tokio::net::TcpListener>,
    ) -> TestNode {
        self.try_start_member_with(i, listener, member_listener)
            .await
            .expect("start cluster member")
    }

    async fn try_start_member(
        &self,
        i: usize,
        listener: Option<tokio::net::TcpListener>,
    ) -> Result<TestNode, NodeError> {
        self.try_start_member_with(i, listener, None).await
    }

    async fn try_start_member_with(
        &self,
        i: usize,
        listener: Option<tokio::net::TcpListener>,
        member_listener: Option<tokio::net::TcpListener>,
    ) -> Result<TestNode, NodeError> {
        let listener = match listener {
            Some(l) => l,
            None => rebind(self.addrs[i]).await,
        };
        let member_addr = self.member_addrs.as_ref().map(|a| a[i]);
        let member_listener = match (member_listener, member_addr) {
            (Some(l), _) => Some(l),
            (None, Some(addr)) => Some(rebind(addr).await),
            (None, None) => None,
        };
        let mut cfg = NodeConfig::dev(self.dirs[i].clone(), self.addrs[i]);
        cfg.block_interval_ms = CLUSTER_BLOCK_MS;
        cfg.commit_wait_timeout_ms = 20_000;
        cfg.fault_injection = true;
        let mut cluster = want_node::config::ClusterConfig::new(
            i as u64 + 1,
            format!(
                "{}://{}",
                self.member_scheme,
                member_addr.unwrap_or(self.addrs[i])
            ),
        );
        cluster.member_addr = member_addr;
        cfg.cluster = Some(cluster);
        (self.tweak)(&mut cfg);
        init_test_logging();
        let node = Node::start(cfg, self.genesis.clone(), self.keys[i].clone()).await?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(want_node::api::serve(listener, node.clone(), async move {
            let _ = stop_rx.await;
        }));
        let member_server = member_listener.map(|l| {
            tokio::spawn(want_node::api::serve_members(
                l,
                node.clone(),
                node.stopping(),
            ))
        });
        Ok(TestNode {
            base: format!("http://{}", self.addrs[i]),
            node,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            data_dir: self.dirs[i].clone(),
            stop_server: Some(stop_tx),
            server: Some(server),
            member_base: member_addr.map(|a| format!("{}://{a}", self.member_scheme)),
            member_server,
        })
    }

    pub fn node(&self, i: usize) -> &TestNode {
        self.nodes[i].as_ref().expect("member is running")
    }

    pub fn running(&self) -> impl Iterator<Item = (usize, &TestNode)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    /// Stops member `i` (its data directory stays).
    pub async fn stop_member(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.stop().await;
        }
    }

    /// Starts member `i` again on its data directory.
    pub async fn restart_member(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "member {i} is running");
        let n = self.start_member(i, None).await;
        self.nodes[i] = Some(n);
    }

    /// Starts member `i` again on its data directory; returns why it did not start, if it did
    /// not (it then stays stopped).
    pub async fn try_restart_member(&mut self, i: usize) -> Result<(), NodeError> {
        assert!(self.nodes[i].is_none(), "member {i} is running");
        let n = self.try_start_member(i, None).await?;
        self.nodes[i] = Some(n);
        Ok(())
    }

    /// Waits until the running members agree on one leader; returns its index.
    pub async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut leaders = Vec::new();
            for (i, n) in self.running() {
                let s = n.get_ok("/v1/status").await;
                if s["role"] == "leader" {
                    leaders.push(i);
                }
            }
            if leaders.len() == 1 {
                return leaders[0];
            }
            assert!(Instant::now() < deadline, "no single leader: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A running member that is not the leader.
    pub async fn follower(&self) -> usize {
        let leader = self.leader().await;
        self.running()
            .map(|(i, _)| i)
            .find(|i| *i != leader)
            .expect("a running follower")
    }

    /// Sets the fault plan of member `i`.
    pub async fn set_faults(&self, i: usize, plan: Value) {
        let r = self
            .node(i)
            .http
            .put(self.node(i).url("/v1/admin/faults"))
            .json(&plan)
            .send()
            .await
            .expect("PUT faults");
        assert!(
            r.status().is_success(),
            "set faults: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// Cuts `group` off from the other members (both directions).
    pub async fn partition(&self, group: &[usize]) {
        let n = self.nodes.len();
        for (i, _) in self.running() {
            let blocked: Vec<u64> = if group.contains(&i) {
                (0..n)
                    .filter(|j| !group.contains(j))
                    .map(|j| j as u64 + 1)
                    .collect()
            } else {
                group.iter().map(|j| *j as u64 + 1).collect()
            };
            self.set_faults(i, serde_json::json!({ "blocked": blocked }))
                .await;
        }
    }

    /// Removes every fault.
    pub async fn heal(&self) {
        for (i, _) in self.running() {
            self.set_faults(i, serde_json::json!({})).await;
        }
    }

    /// Waits until every running member has the same head (height, hash, state root) at least
    /// `min_height`; returns it. For chains that stop growing (no empty blocks).
    pub async fn converged(&self, min_height: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut heads = Vec::new();
            for (_, n) in self.running() {
                let s = n.get_ok("/v1/status").await;
                heads.push((
                    s["height"].clone(),
                    s["head_hash"].clone(),
                    s["state_root"].clone(),
                ));
            }
            let same = heads.windows(2).all(|w| w[0] == w[1]);
            if same && heads[0].0.as_u64().unwrap_or(0) >= min_height {
                return serde_json::json!({"height": heads[0].0, "hash": heads[0].1, "state_root": heads[0].2});
            }
            assert!(
                Instant::now() < deadline,
                "members did not converge: {heads:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every running member's chain reaches `min_height`, then checks that all hold
    /// the same block and state root at the lowest of their heights; returns that point. For
    /// chains that keep growing (empty blocks), where heads are never read at one instant.
    pub async fn reached(&self, min_height: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut heights = Vec::new();
            for (_, n) in self.running() {
                heights.push(n.height().await);
            }
            let low = heights.iter().copied().min().unwrap_or(0);
            if low >= min_height {
                let mut points = Vec::new();
                for (_, n) in self.running() {
                    let b = n.get_ok(&format!("/v1/blocks/{low}")).await;
                    points.push((b["hash"].clone(), b["state_root"].clone()));
                }
                if points.windows(2).all(|w| w[0] == w[1]) {
                    return serde_json::json!({"height": low, "hash": points[0].0, "state_root": points[0].1});
                }
                panic!("members hold different blocks at height {low}: {points:?}");
            }
            assert!(
                Instant::now() < deadline,
                "members did not reach height {min_height}: {heights:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Checks that every running member has the same block hash and state root at every height
    /// up to `height`, and that each transaction in `ids` is committed exactly once, at the same
    /// place on every member.
    pub async fn check_consistent(&self, height: u64, ids: &[String]) {
        let mut reference: Option<Vec<Value>> = None;
        for (i, n) in self.running() {
            let mut blocks = Vec::new();
            for h in 1..=height {
                let b = n.get_ok(&format!("/v1/blocks/{h}")).await;
                blocks.push(serde_json::json!([b["hash"], b["state_root"]]));
            }
            match &reference {
                None => reference = Some(blocks),
                Some(r) => assert_eq!(r, &blocks, "member {i} differs"),
            }
        }
        self.check_certificates(1..=height).await;
        for id in ids {
            let mut places = Vec::new();
            for (_, n) in self.running() {
                let v = n.get_ok(&format!("/v1/transactions/{id}")).await;
                assert_eq!(v["status"], "committed", "{id}: {v}");
                places.push((v["block_height"].clone(), v["index"].clone()));
            }
            assert!(
                places.windows(2).all(|w| w[0] == w[1]),
                "{id} at {places:?}"
            );
        }
    }

    /// Stops every member, keeping the cluster's keys and addresses.
    pub async fn stop_all_members(&mut self) {
        for i in 0..self.nodes.len() {
            self.stop_member(i).await;
        }
    }

    /// A fresh cluster (new data) over the same keys and addresses whose genesis names only the
    /// first `n` as members; they are started, the others stay stopped (newcomers).
    pub async fn with_genesis_members(mut self, n: usize) -> TestCluster {
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
        for (d, k) in self.dirs.iter().zip(&self.keys) {
            std::fs::create_dir_all(d).unwrap();
            want_node::write_secret_file(
                &d.join(want_node::kernel::node::NODE_KEY_FILE),
                &k.to_hex(),
            )
            .unwrap();
        }
        self.genesis.members.truncate(n);
        for i in 0..n {
            self.restart_member(i).await;
        }
        self
    }

    /// Checks that every running member serves a certificate (a majority of the members'
    /// signatures) for each of `heights`, naming the block it holds there (votes may take a
    /// few seconds to arrive or be backfilled).
    pub async fn check_certificates(&self, heights: impl Iterator<Item = u64> + Clone) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for (i, n) in self.running() {
            for h in heights.clone() {
                loop {
                    let (s, cert) = n.get(&format!("/v1/blocks/{h}/certificate")).await;
                    if s == StatusCode::OK {
                        let b = n.get_ok(&format!("/v1/blocks/{h}")).await;
                        assert_eq!(cert["block_hash"], b["hash"], "member {i} height {h}");
                        assert_eq!(cert["state_root"], b["state_root"], "member {i} height {h}");
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "member {i} has no certificate for block {h}: {cert}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    pub async fn stop_all(mut self) {
        for i in 0..self.nodes.len() {
            self.stop_member(i).await;
        }
    }
}

/// Binds `addr` again: the port was ours a moment ago; retry briefly if the OS still holds it.
async fn rebind(addr: SocketAddr) -> tokio::net::TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) => {
                assert!(Instant::now() < deadline, "rebinding {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// Asserts an error response: the status, the stable code and a non-empty message.
pub fn assert_error(resp: &(StatusCode, Value), status: u16, code: &str) {
    let (s, v) = resp;
    assert_eq!(s.as_u16(), status, "expected {status} {code}, got {s} {v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    let message = v["error"]["message"]
        .as_str()
        .expect("error.message string");
    assert!(!message.is_empty(), "{v}");
}

/// The capture token of [`start_capturing_orders`].
pub const CAPTURE_TOKEN: &str = "7f3a9c0d51e24b8fa6d2c4e1-orders";

/// A dev node whose capture endpoint signs with the dev key, needs the bearer token
/// [`CAPTURE_TOKEN`] and confirms the orders captured `receiving` events name
/// (`capture.confirm_orders`).
pub async fn start_capturing_orders(dir: &Path) -> TestNode {
    let key_file = dir.join("capture-key.hex");
    let token_file = dir.join("capture-token");
    std::fs::create_dir_all(dir).unwrap();
    want_node::write_secret_file(&key_file, &dev_private_key().to_hex()).unwrap();
    want_node::write_secret_file(&token_file, CAPTURE_TOKEN).unwrap();
    start_node_with(dir, want_node::Genesis::dev(), |c| {
        c.capture = Some(want_node::trace::capture::CaptureConfig {
            org: want_node::config::DEV_ORG.into(),
            key_file,
            token_file: Some(token_file),
            publish_non_gs1_places: false,
            confirm_orders: true,
        })
    })
    .await
    .expect("start capturing node")
}

/// A dev node whose capture endpoint signs with the dev key (as `want dev` does).
pub async fn start_capturing(dir: &Path) -> TestNode {
    let key_file = dir.join("capture-key.hex");
    std::fs::create_dir_all(dir).unwrap();
    want_node::write_secret_file(&key_file, &dev_private_key().to_hex()).unwrap();
    start_node_with(dir, want_node::Genesis::dev(), |c| {
        c.capture = Some(want_node::trace::capture::CaptureConfig {
            org: want_node::config::DEV_ORG.into(),
            key_file,
            token_file: None,
            publish_non_gs1_places: false,
            confirm_orders: false,
        })
    })
    .await
    .expect("start capturing node")
}
