//! The HTTP server's limits on a real node, attacked as a client would: slowloris connections
//! are dropped after the header-read timeout and cannot keep an honest client out for longer,
//! connections beyond the cap are closed at once, event streams are capped, and a request whose
//! body never arrives is answered `408 request_timeout`. During the attacks an honest client
//! still commits transfers within a stated latency.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use want_types::Address;

/// How long an honest client may wait for its transfer to commit during an attack.
const HONEST_COMMIT_MAX: Duration = Duration::from_secs(10);
/// The header-read timeout of the test node, in milliseconds.
const HEADER_TIMEOUT_MS: u64 = 1_000;

async fn start_limited(dir: &std::path::Path) -> TestNode {
    start_node_with(dir, want_node::Genesis::dev(), |c| {
        c.http.connections_max = 16;
        c.http.header_read_timeout_ms = HEADER_TIMEOUT_MS;
        c.http.ws_clients_max = 2;
        c.commit_wait_timeout_ms = 1_000;
        c.http.request_timeout_ms = 1_500;
    })
    .await
    .expect("start")
}

fn addr(n: &TestNode) -> String {
    n.base.trim_start_matches("http://").to_string()
}

/// Commits a transfer, retrying refused connections, and returns how long it took.
async fn honest_commit(n: &TestNode, nonce: u64) -> Duration {
    let started = Instant::now();
    let stx = transfer(&dev_key(), nonce, Address::system("honest-shop"), 1_000);
    let body = serde_json::to_value(&stx).unwrap();
    loop {
        let sent = n
            .http
            .post(n.url("/v1/transactions?wait=commit"))
            .json(&body)
            .send()
            .await;
        if let Ok(r) = sent {
            let status = r.status();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            if status.is_success() {
                return started.elapsed();
            }
            // Admitted on an earlier try whose answer was cut: wait for it.
            if v["error"]["code"] == "duplicate_transaction"
                || v["error"]["code"] == "commit_timeout"
            {
                n.wait_committed(&stx.id().to_string()).await;
                return started.elapsed();
            }
            panic!("honest transfer refused: {status} {v}");
        }
        assert!(
            started.elapsed() < HONEST_COMMIT_MAX,
            "the honest client could not connect for {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slowloris_connections_are_dropped_and_an_honest_client_still_commits() {
    let dir = tempdir();
    let n = start_limited(dir.path()).await;
    // Every connection slot held by a client that never finishes its headers.
    let mut slow = Vec::new();
    for _ in 0..16 {
        let mut s = tokio::net::TcpStream::connect(addr(&n)).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    // Beyond the cap, a connection is closed at once.
    let mut extra = tokio::net::TcpStream::connect(addr(&n)).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a connection over the cap was served: {read:?}"
    );
    let took = honest_commit(&n, 0).await;
    assert!(took < HONEST_COMMIT_MAX, "honest commit took {took:?}");
    // The slow clients were cut off by the header-read timeout.
    for mut s in slow {
        let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
        assert!(r.is_ok(), "a slowloris connection is still open");
    }
    let metrics = n.get_text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("want_http_connections_refused_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn event_streams_are_capped_and_a_closed_one_frees_its_slot() {
    let dir = tempdir();
    let n = start_limited(dir.path()).await;
    let url = format!(
        "{}/v1/events?from_height=0",
        n.base.replace("http://", "ws://")
    );
    let (first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (_second, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 503);
            let body =
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).to_string();
            assert!(body.contains("too_many_streams"), "{body}");
        }
        other => panic!("a third stream was not refused: {:?}", other.map(|_| ())),
    }
    let took = honest_commit(&n, 0).await;
    assert!(took < HONEST_COMMIT_MAX, "honest commit took {took:?}");
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio_tungstenite::connect_async(&url).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a closed stream never freed its slot"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_is_answered_request_timeout() {
    let dir = tempdir();
    let n = start_limited(dir.path()).await;
    let mut s = tokio::net::TcpStream::connect(addr(&n)).await.unwrap();
    s.write_all(
        b"POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"tx\":",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    answer.extend_from_slice(&buf[..k]);
                    if answer.windows(15).any(|w| w == b"request_timeout") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_is_answered_429_while_other_clients_are_served() {
    let dir = tempdir();
    let n = start_node_with(dir.path(), want_node::Genesis::dev(), |c| {
        c.http.rate_limit_loopback = true;
        c.http.client_requests_per_second = 1;
        c.http.client_burst = 5;
    })
    .await
    .expect("start");
    // 127.0.0.2 is another client than the honest one on 127.0.0.1 (all of 127/8 is loopback).
    let flooder = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let (mut served, mut limited) = (0, 0);
    for _ in 0..20 {
        let r = flooder.get(n.url("/v1/status")).send().await.unwrap();
        match r.status().as_u16() {
            200 => served += 1,
            429 => {
                assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(v["error"]["code"], "rate_limited", "{v}");
                limited += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!((5..=7).contains(&served), "served {served} of a burst of 5");
    assert_eq!(served + limited, 20);
    // Another client is not affected.
    let took = honest_commit(&n, 0).await;
    assert!(took < HONEST_COMMIT_MAX, "honest commit took {took:?}");
    let metrics = n.get_text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("want_http_rate_limited_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    n.stop().await;
}

/// Opens a connection from `ip` (a loopback address other than the honest client's) and sends
/// `first` (nothing: a silent client).
async fn connect_from(ip: [u8; 4], to: &str, first: &[u8]) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind((std::net::Ipv4Addr::from(ip), 0).into()).unwrap();
    let mut s = sock.connect(to.parse().unwrap()).await.unwrap();
    if !first.is_empty() {
        s.write_all(first).await.unwrap();
    }
    s
}

/// Whether the node closed `s` within `within` (EOF or a reset; an answer before the close,
/// such as a 408 or a 400, is read past).
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

fn refused_connections(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("want_http_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Connections that never send a byte, or send only HTTP/2's opening, are closed after the
/// header-read timeout like a slowloris (they used to hold their slot for ever), and one client
/// holds at most `http.client_connections_max` connections, so neither can keep the honest
/// client out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_http2_preface_connections_are_dropped_and_one_client_cannot_take_every_slot() {
    const PER_CLIENT: usize = 4;
    let dir = tempdir();
    let n = start_node_with(dir.path(), want_node::Genesis::dev(), |c| {
        c.http.connections_max = 16;
        c.http.header_read_timeout_ms = HEADER_TIMEOUT_MS;
        c.http.client_connections_max = PER_CLIENT;
        c.http.rate_limit_loopback = true;
    })
    .await
    .expect("start");
    let to = addr(&n);
    // One client asks for every slot and gets its share; the rest are closed at once.
    let before = refused_connections(&n.get_text("/metrics").await);
    let mut greedy = Vec::new();
    for _ in 0..16 {
        greedy.push(connect_from([127, 0, 0, 2], &to, b"").await);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while refused_connections(&n.get_text("/metrics").await) < before + 12 {
        assert!(
            Instant::now() < deadline,
            "a client was given more than {PER_CLIENT} connections"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = honest_commit(&n, 0).await;
    assert!(took < HONEST_COMMIT_MAX, "honest commit took {took:?}");
    drop(greedy);
    // Many clients fill every slot with silent connections and HTTP/2 openings.
    let mut held = Vec::new();
    for (i, last) in (3u8..7).enumerate() {
        for k in 0..PER_CLIENT {
            let first: &[u8] = if (i + k) % 2 == 0 {
                b""
            } else {
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
            };
            held.push(connect_from([127, 0, 0, last], &to, first).await);
        }
    }
    for (i, s) in held.iter_mut().enumerate() {
        assert!(
            closed_within(
                s,
                Duration::from_millis(HEADER_TIMEOUT_MS) + Duration::from_secs(5)
            )
            .await,
            "connection {i} (silent or an HTTP/2 opening) was never closed"
        );
    }
    let took = honest_commit(&n, 1).await;
    assert!(took < HONEST_COMMIT_MAX, "honest commit took {took:?}");
    n.stop().await;
}

/// One client holds at most `http.client_streams_max` event streams; another is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holds_at_most_its_share_of_event_streams() {
    let dir = tempdir();
    let n = start_node_with(dir.path(), want_node::Genesis::dev(), |c| {
        c.http.ws_clients_max = 8;
        c.http.client_streams_max = 2;
        c.http.rate_limit_loopback = true;
    })
    .await
    .expect("start");
    let url = format!("{}/v1/events", n.base.replace("http://", "ws://"));
    let greedy = |ip: [u8; 4]| {
        let (url, to) = (url.clone(), addr(&n));
        async move {
            let s = connect_from(ip, &to, b"").await;
            tokio_tungstenite::client_async(&url, s).await
        }
    };
    let _a = greedy([127, 0, 0, 2]).await.expect("first stream");
    let _b = greedy([127, 0, 0, 2]).await.expect("second stream");
    match greedy([127, 0, 0, 2]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 503);
            let body =
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).to_string();
            assert!(
                body.contains("too_many_streams") && body.contains("client_streams_max"),
                "{body}"
            );
        }
        other => panic!(
            "a third stream of one client was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    greedy([127, 0, 0, 3])
        .await
        .expect("another client's stream");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_loopback_are_not_rate_limited_by_default() {
    let dir = tempdir();
    let n = start_node_with(dir.path(), want_node::Genesis::dev(), |c| {
        c.http.client_requests_per_second = 1;
        c.http.client_burst = 2;
    })
    .await
    .expect("start");
    for _ in 0..10 {
        let r = n.http.get(n.url("/v1/status")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    n.stop().await;
}

/// Every client-side attack of issue 12 at once against one node, from another client
/// (127.0.0.2) than the honest one: slowloris connections, a WebSocket flood replaying from
/// height 0, a mempool flood of stamped transactions with gapped nonces, a flood of unsigned
/// blob uploads, oversized unsigned member envelopes, and expensive reads. Meanwhile the honest
/// client commits transfers, each within [`HONEST_COMMIT_MAX`], and the node stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_honest_client_commits_transfers_while_every_attack_runs_at_once() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    const POW_BITS: u32 = 8;
    let dir = tempdir();
    let mut genesis = want_node::Genesis::dev();
    genesis.params.pow_difficulty_bits = POW_BITS;
    let n = start_node_with(dir.path(), genesis, |c| {
        c.http.connections_max = 64;
        c.http.header_read_timeout_ms = HEADER_TIMEOUT_MS;
        c.http.ws_clients_max = 8;
        c.http.rate_limit_loopback = true;
        c.http.client_requests_per_second = 100;
        c.http.client_burst = 200;
        c.mempool_txs_max = 64;
        c.mempool_sender_txs_max = 4;
        c.mempool_nonce_window = 4;
    })
    .await
    .expect("start");
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // What each attack got through to the node: connections held, streams opened, requests sent.
    let sent: Arc<[AtomicU64; 5]> = Arc::new(Default::default());
    const SLOWLORIS: usize = 0;
    const STREAMS: usize = 1;
    const MEMPOOL: usize = 2;
    const UPLOADS: usize = 3;
    const READS: usize = 4;
    let mut attacks = Vec::new();
    // Slowloris: half the connection slots held by headers that never end.
    {
        let (stop, addr, sent) = (stop.clone(), addr(&n), sent.clone());
        attacks.push(tokio::spawn(async move {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if held.len() < 32 {
                    let sock = tokio::net::TcpSocket::new_v4().unwrap();
                    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
                    if let Ok(mut s) = sock.connect(addr.parse().unwrap()).await {
                        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
                        held.push(s);
                        sent[SLOWLORIS].fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    held.clear();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    // A WebSocket flood, each stream replaying from height 0.
    {
        let (stop, sent, url) = (
            stop.clone(),
            sent.clone(),
            format!(
                "{}/v1/events?from_height=0",
                n.base.replace("http://", "ws://")
            ),
        );
        attacks.push(tokio::spawn(async move {
            let mut open = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await {
                    open.push(ws);
                    sent[STREAMS].fetch_add(1, Ordering::Relaxed);
                }
                if open.len() > 16 {
                    open.clear();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    // A mempool flood: stamped, fee-free transactions from many accounts at gapped nonces.
    {
        let (stop, http, base, sent) =
            (stop.clone(), attacker.clone(), n.base.clone(), sent.clone());
        attacks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let key = new_key();
                for nonce in [0, 3, 9, 40] {
                    let stx = stamped(&key, nonce, POW_BITS);
                    let _ = http
                        .post(format!("{base}/v1/transactions"))
                        .json(&stx)
                        .send()
                        .await;
                    sent[MEMPOOL].fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Unsigned blob uploads of 1 MiB and oversized unsigned member envelopes of 8 MiB.
    {
        let (stop, http, base, sent) =
            (stop.clone(), attacker.clone(), n.base.clone(), sent.clone());
        attacks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = http
                    .put(format!("{base}/v1/blobs"))
                    .body(vec![7u8; 1 << 20])
                    .send()
                    .await;
                let _ = http
                    .post(format!("{base}/v1/cluster/rpc"))
                    .header("content-type", "application/octet-stream")
                    .body(vec![0u8; 8 << 20])
                    .send()
                    .await;
                sent[UPLOADS].fetch_add(2, Ordering::Relaxed);
            }
        }));
    }
    // Expensive reads.
    {
        let (stop, http, base, sent) =
            (stop.clone(), attacker.clone(), n.base.clone(), sent.clone());
        attacks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for path in [
                    "/v1/sync/headers?from=0&count=2000",
                    "/v1/blocks/latest",
                    "/v1/trace/events?limit=1000",
                ] {
                    let _ = http.get(format!("{base}{path}")).send().await;
                    sent[READS].fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Let the attacks get going, then commit honest transfers one after another.
    // The honest client goes on for at least ATTACK_FOR, and for at least five transfers.
    const ATTACK_FOR: Duration = Duration::from_secs(4);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut nonce = 0;
    while nonce < 5 || started.elapsed() < ATTACK_FOR {
        let took = honest_commit(&n, nonce).await;
        assert!(
            took < HONEST_COMMIT_MAX,
            "honest transfer {nonce} took {took:?} under attack"
        );
        nonce += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for a in attacks {
        a.abort();
    }
    for (i, what) in ["slowloris", "streams", "mempool", "uploads", "reads"]
        .iter()
        .enumerate()
    {
        assert!(
            sent[i].load(Ordering::Relaxed) > 0,
            "the {what} attack never reached the node"
        );
    }
    let health = n.http.get(n.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = n.get_text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("want_http_rate_limited_total ") && !l.ends_with(" 0")),
        "the flood was never rate-limited: {metrics}"
    );
    n.stop().await;
}

/// Issue 12, A3: a tag's URL and QR code come from the configuration or a valid `Host`; an
/// oversized or garbage `Host` is not reflected, and the answer stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_or_garbage_host_is_not_reflected_into_tags() {
    /// Most bytes of a tag answer (JSON with the QR SVG) the test accepts.
    const TAG_ANSWER_BYTES_MAX: usize = 64 * 1024;
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let product = want_node::trace::urlencode("https://id.gs1.org/01/10614141073464/21/2017");
    let tag = |host: &str| {
        n.http
            .get(n.url(&format!("/v1/trace/tag/{product}")))
            .header("Host", host)
            .send()
    };
    // A valid host is the tag's base (the node answers under the name it was reached by).
    let r = tag("shop.example:8080").await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["url"],
        "http://shop.example:8080/01/10614141073464/21/2017"
    );
    let listen = n.url("/01/10614141073464/21/2017");
    let huge = format!("{}.example", vec!["a".repeat(60); 20].join("."));
    assert!(huge.len() > 1_200);
    for garbage in [
        huge.as_str(),
        "evil.example/\"><script>",
        "a b",
        "evil.example:99999",
    ] {
        let r = tag(garbage).await.unwrap();
        assert_eq!(r.status(), 200, "{garbage}");
        let body = r.bytes().await.unwrap();
        assert!(body.len() <= TAG_ANSWER_BYTES_MAX, "{} bytes", body.len());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["url"], listen.as_str(), "{garbage}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("script") && !text.contains("aaaa"),
            "{garbage}"
        );
        let qr = n
            .http
            .get(n.url(&format!("/v1/trace/qr/{product}")))
            .header("Host", garbage)
            .send()
            .await
            .unwrap();
        assert_eq!(qr.status(), 200);
        assert!(qr.bytes().await.unwrap().len() <= TAG_ANSWER_BYTES_MAX);
    }
    n.stop().await;
}

/// With `[http] public_url` set, tags point there whatever the client sends as `Host`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_public_url_is_the_base_of_every_tag() {
    let dir = tempdir();
    let n = start_node_with(dir.path(), want_node::Genesis::dev(), |c| {
        c.http.public_url = Some("https://trace.example.com/".into());
    })
    .await
    .expect("start");
    let product = want_node::trace::urlencode("https://id.gs1.org/01/10614141073464/21/2017");
    let r = n
        .http
        .get(n.url(&format!("/v1/trace/tag/{product}")))
        .header("Host", "attacker.example")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["url"],
        "https://trace.example.com/01/10614141073464/21/2017"
    );
    n.stop().await;
}
