//! The transport between members: seals requests in signed envelopes, sends them over HTTP
//! (`POST {member url}/v1/cluster/rpc`, the sealed header in [`ENVELOPE_HEADER`], the payload
//! as the body), checks what arrives in two steps — the header (chain, address, sender,
//! signature, replay window) before a byte of the body is read, then the body against the
//! signed payload hash — and seals the answers, which name the request they answer.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use tracing::{debug, warn};
use want_crypto::NodeKey;

use super::envelope::{
    Envelope, EnvelopeHeader, MsgKind, Refusal, SealedHeader, ENVELOPE_BYTES_MAX, ENVELOPE_HEADER,
};
use super::faults::FaultInjector;
use super::ratelog::{RateLimitedLog, LOG_EVERY_MS};
use super::replay::ReplayGuard;
use super::tls::{MemberTls, TrustedKeys};

/// Path of the members' RPC endpoint on every node's HTTP API.
pub const RPC_PATH: &str = "/v1/cluster/rpc";
/// How long connecting to a member may take.
pub const CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Idle connections kept per member.
const POOL_IDLE_PER_HOST: usize = 8;
/// How long an idle connection to a member is kept, in milliseconds: below the members' HTTP
/// header-read timeout (`http.header_read_timeout_ms`, 10 s by default), which also closes idle
/// keep-alive connections, so the client drops one before the server does and a request never
/// races the server's close.
pub const POOL_IDLE_TIMEOUT_MS: u64 = 5_000;
/// Most bytes of a member's error answer kept for the error message.
const REFUSAL_BODY_BYTES_MAX: usize = 512;

/// A request whose sealed header passed every check that does not need the payload (chain,
/// address, kind, sender, signature, replay window); only [`Transport::check_header`] makes
/// one, so holding it proves the sender may be read from.
#[derive(Debug)]
pub struct CheckedHeader {
    sealed: SealedHeader,
}

impl CheckedHeader {
    pub fn header(&self) -> &EnvelopeHeader {
        &self.sealed.header
    }
}

/// A member as the transport knows it: the key its messages must be signed with, and its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub public_key: [u8; 32],
    pub url: String,
}

/// Why a request to a member failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Not sent or no answer (connection refused, partition, dropped).
    #[error("node {to} is unreachable: {reason}")]
    Unreachable { to: u64, reason: String },
    /// Sent, but not answered in time (the member may be busy, e.g. checking a large block).
    #[error("node {to} did not answer within {after_ms} ms")]
    TimedOut { to: u64, after_ms: u64 },
    /// The member answered with an error instead of a sealed answer.
    #[error("node {to} refused the message (HTTP {status}): {body}")]
    Refused { to: u64, status: u16, body: String },
    /// The answer failed its checks.
    #[error("the answer from node {to} was refused: {refusal}")]
    BadAnswer { to: u64, refusal: Refusal },
}

/// Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What a [`Wire`] delivery resolves to: the target's sealed answer, or why there is none.
pub type WireFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, NetError>> + Send>>;

/// Unix time in milliseconds as a node sees it (a simulation gives each node its own).
pub type UnixClock = crate::Clock;

/// Carries sealed requests to members in place of HTTP: the deterministic simulation's
/// in-memory network. Production sends over HTTP ([`Transport::new`]).
pub trait Wire: Send + Sync + 'static {
    /// Delivers a request from `from` to member `to` (at `url`): the sealed header as the hex
    /// [`ENVELOPE_HEADER`] field and the payload as the body, as HTTP would; resolves to the
    /// body of the member's answer, or fails as HTTP would (unreachable, refused).
    fn deliver(
        &self,
        from: u64,
        to: u64,
        url: &str,
        field: String,
        body: Vec<u8>,
        timeout: Duration,
    ) -> WireFuture;
}

/// How requests leave this node.
enum Link {
    Http(reqwest::Client),
    Wire(Arc<dyn Wire>),
}

/// Sends and receives signed envelopes for one node (see the module documentation).
pub struct Transport {
    me: u64,
    chain_id: u64,
    key: NodeKey,
    boot: u64,
    seq: AtomicU64,
    link: Link,
    /// The node's Unix clock in ms (None: the system clock).
    clock: Option<UnixClock>,
    pub faults: FaultInjector,
    replay: ReplayGuard,
    /// The warning for refused messages, at most once per [`LOG_EVERY_MS`].
    refusal_log: parking_lot::Mutex<RateLimitedLog>,
    /// Who the members are (and so whose keys sign envelopes and bind TLS connections).
    members: Arc<MemberTable>,
    /// TLS to `https://` members and on the member listener (`None` over a [`Wire`]).
    tls: Option<MemberTls>,
}

/// The members as the transport knows them: Raft's membership once it knows one, the genesis
/// members and configured peers until then. Shared with the members' TLS ([`TrustedKeys`]), so
/// that a connection is accepted from exactly the keys whose envelopes are.
#[derive(Debug)]
pub struct MemberTable {
    /// The membership Raft knows (voters and learners); empty until it knows one.
    raft: RwLock<BTreeMap<u64, Peer>>,
    /// Members from the genesis and the configuration: used while Raft knows no membership.
    configured: BTreeMap<u64, Peer>,
}

impl MemberTable {
    pub fn new(configured: BTreeMap<u64, Peer>) -> MemberTable {
        MemberTable {
            raft: RwLock::new(BTreeMap::new()),
            configured,
        }
    }

    /// A member by id: from Raft's membership, or from the genesis/configuration while Raft
    /// knows none.
    pub fn peer(&self, id: u64) -> Option<Peer> {
        let raft = self.raft.read();
        if raft.is_empty() {
            self.configured.get(&id).cloned()
        } else {
            raft.get(&id).cloned()
        }
    }
}

impl TrustedKeys for MemberTable {
    fn is_member_key(&self, key: &[u8; 32]) -> bool {
        let raft = self.raft.read();
        let members = if raft.is_empty() {
            &self.configured
        } else {
            &*raft
        };
        members.values().any(|p| p.public_key == *key)
    }
}

impl Transport {
    pub fn new(
        me: u64,
        chain_id: u64,
        key: NodeKey,
        fallback: BTreeMap<u64, Peer>,
        fault_injection: bool,
    ) -> Result<Transport, String> {
        let members = Arc::new(MemberTable::new(fallback));
        let tls = MemberTls::new(&key, members.clone()).map_err(|e| e.to_string())?;
        let client = tls
            .client(reqwest::Client::builder())
            .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
            .pool_idle_timeout(Duration::from_millis(POOL_IDLE_TIMEOUT_MS))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Transport {
            me,
            chain_id,
            key,
            boot: rand::random(),
            seq: AtomicU64::new(0),
            link: Link::Http(client),
            clock: None,
            faults: FaultInjector::new(fault_injection),
            replay: ReplayGuard::starting_at(unix_ms()),
            refusal_log: parking_lot::Mutex::new(RateLimitedLog::new(LOG_EVERY_MS)),
            members,
            tls: Some(tls),
        })
    }

    /// A transport whose requests travel over `wire` instead of HTTP, with its own Unix clock
    /// and boot number (the deterministic simulation's nodes: same checks, no sockets).
    pub fn with_wire(
        me: u64,
        chain_id: u64,
        key: NodeKey,
        fallback: BTreeMap<u64, Peer>,
        wire: Arc<dyn Wire>,
        clock: UnixClock,
        boot: u64,
    ) -> Transport {
        let started = clock();
        Transport {
            me,
            chain_id,
            key,
            boot,
            seq: AtomicU64::new(0),
            link: Link::Wire(wire),
            clock: Some(clock),
            faults: FaultInjector::new(false),
            replay: ReplayGuard::starting_at(started),
            refusal_log: parking_lot::Mutex::new(RateLimitedLog::new(LOG_EVERY_MS)),
            members: Arc::new(MemberTable::new(fallback)),
            tls: None,
        }
    }

    /// This node's Unix time in ms.
    fn now_ms(&self) -> u64 {
        self.clock.as_ref().map_or_else(unix_ms, |c| c())
    }

    pub fn me(&self) -> u64 {
        self.me
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Replaces the membership (from Raft).
    pub fn set_members(&self, members: BTreeMap<u64, Peer>) {
        *self.members.raft.write() = members;
    }

    /// The members from the genesis and the configuration.
    pub fn configured_members(&self) -> BTreeMap<u64, Peer> {
        self.members.configured.clone()
    }

    /// A member by id: from Raft's membership, or from the genesis/configuration while Raft
    /// knows none.
    pub fn peer(&self, id: u64) -> Option<Peer> {
        self.members.peer(id)
    }

    /// The members' TLS of this node (for its other node-to-node clients and its member
    /// listener); `None` for a transport over a [`Wire`].
    pub fn member_tls(&self) -> Option<&MemberTls> {
        self.tls.as_ref()
    }

    fn header(&self, to: u64, kind: MsgKind, in_reply_to: [u8; 32]) -> EnvelopeHeader {
        EnvelopeHeader {
            chain_id: self.chain_id,
            from: self.me,
            to,
            kind,
            boot: self.boot,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            sent_at_ms: self.now_ms(),
            in_reply_to,
            payload_hash: [0; 32],
        }
    }

    /// Sends `payload` to member `to` and returns the payload of its checked answer.
    pub async fn call(
        &self,
        to: u64,
        peer: &Peer,
        kind: MsgKind,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, NetError> {
        self.call_envelope(to, peer, kind, payload, timeout)
            .await
            .map(|answer| answer.payload)
    }

    /// Sends `payload` to member `to` and returns its checked answer, signed envelope and all
    /// (a candidate keeps the vote answers that elected it as its proof of leadership).
    pub async fn call_envelope(
        &self,
        to: u64,
        peer: &Peer,
        kind: MsgKind,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Envelope, NetError> {
        let request = Envelope::seal(self.header(to, kind, [0; 32]), payload, &self.key);
        let digest = request.digest();
        let decision = self.faults.decide(to);
        let unreachable = |reason: String| NetError::Unreachable { to, reason };
        if decision.blocked {
            return Err(unreachable("partitioned by fault injection".into()));
        }
        if decision.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(decision.delay_ms)).await;
        }
        if decision.drop {
            return Err(unreachable("dropped by fault injection".into()));
        }
        let request = if decision.forge {
            Envelope::seal(request.header, request.payload, &NodeKey::generate())
        } else {
            request
        };
        let mut head = request.header_bytes();
        let mut payload = request.payload;
        if let Some(at) = decision.corrupt_at {
            // One byte of what travels (header, then payload) flips.
            let i = at % (head.len() + payload.len());
            match head.get_mut(i) {
                Some(b) => *b ^= 0x5a,
                None => payload[i - head.len()] ^= 0x5a,
            }
        }
        let field = hex::encode(&head);
        let body = match &self.link {
            Link::Wire(wire) => {
                if decision.duplicate {
                    let dup = wire.deliver(
                        self.me,
                        to,
                        &peer.url,
                        field.clone(),
                        payload.clone(),
                        timeout,
                    );
                    tokio::spawn(async move {
                        let _ = dup.await;
                    });
                }
                wire.deliver(self.me, to, &peer.url, field, payload, timeout)
                    .await?
            }
            Link::Http(client) => {
                self.post(
                    client,
                    to,
                    peer,
                    &field,
                    payload,
                    decision.duplicate,
                    timeout,
                )
                .await?
            }
        };
        let answer =
            Envelope::from_bytes(&body).map_err(|refusal| NetError::BadAnswer { to, refusal })?;
        self.check_answer(&answer, to, peer, digest)
            .map_err(|refusal| NetError::BadAnswer { to, refusal })?;
        Ok(answer)
    }

    /// Sends a sealed request over HTTP and reads the answer's body (bounded).
    #[allow(clippy::too_many_arguments)]
    async fn post(
        &self,
        client: &reqwest::Client,
        to: u64,
        peer: &Peer,
        field: &str,
        payload: Vec<u8>,
        duplicate: bool,
        timeout: Duration,
    ) -> Result<Vec<u8>, NetError> {
        let unreachable = |reason: String| NetError::Unreachable { to, reason };
        let url = format!("{}{RPC_PATH}", peer.url.trim_end_matches('/'));
        let send = |body: Vec<u8>| {
            client
                .post(&url)
                .timeout(timeout)
                .header("content-type", "application/octet-stream")
                .header(ENVELOPE_HEADER, field)
                .body(body)
                .send()
        };
        if duplicate {
            let dup = send(payload.clone());
            tokio::spawn(async move {
                let _ = dup.await;
            });
        }
        let timed_out = || NetError::TimedOut {
            to,
            after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let mut resp = send(payload).await.map_err(|e| {
            // A connection not even made in time is a member that is down or cut off.
            if e.is_timeout() && !e.is_connect() {
                timed_out()
            } else {
                unreachable(error_chain(&e))
            }
        })?;
        let status = resp.status();
        if !status.is_success() {
            let body = read_bounded(&mut resp, REFUSAL_BODY_BYTES_MAX, true)
                .await
                .unwrap_or_default();
            return Err(NetError::Refused {
                to,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        let body = match read_bounded(&mut resp, ENVELOPE_BYTES_MAX, false).await {
            Ok(b) => b,
            Err(ReadError::TooLarge(n)) => {
                return Err(NetError::BadAnswer {
                    to,
                    refusal: Refusal::TooLarge(n),
                })
            }
            Err(ReadError::Net(e)) if e.is_timeout() => return Err(timed_out()),
            Err(ReadError::Net(e)) => {
                return Err(unreachable(format!(
                    "reading the answer: {}",
                    error_chain(&e)
                )))
            }
        };
        Ok(body)
    }

    fn check_answer(
        &self,
        answer: &Envelope,
        to: u64,
        peer: &Peer,
        digest: [u8; 32],
    ) -> Result<(), Refusal> {
        let h = &answer.header;
        if h.kind != MsgKind::Response || h.in_reply_to != digest || h.from != to {
            return Err(Refusal::NotAReply);
        }
        if h.to != self.me {
            return Err(Refusal::Misaddressed {
                to: h.to,
                me: self.me,
            });
        }
        if h.chain_id != self.chain_id {
            return Err(Refusal::WrongChain {
                got: h.chain_id,
                want: self.chain_id,
            });
        }
        answer.verify_signature(&peer.public_key)
    }

    /// Checks a received request's sealed header (the [`ENVELOPE_HEADER`] field, `None` when the
    /// request has none): shape, chain, address, kind, sender, signature and the replay window,
    /// in that order, without remembering the message yet. Only then may the body be read, and
    /// only up to [`ENVELOPE_BYTES_MAX`] bytes.
    pub fn check_header(&self, field: Option<&[u8]>) -> Result<CheckedHeader, Refusal> {
        let sealed = match field {
            None => Err(Refusal::Unsigned),
            Some(f) => SealedHeader::parse_field(f),
        }
        .map_err(|r| self.refused(None, r))?;
        let h = sealed.header;
        let refused = |r: Refusal| self.refused(Some(&h), r);
        if h.chain_id != self.chain_id {
            return Err(refused(Refusal::WrongChain {
                got: h.chain_id,
                want: self.chain_id,
            }));
        }
        if h.to != self.me {
            return Err(refused(Refusal::Misaddressed {
                to: h.to,
                me: self.me,
            }));
        }
        if h.kind == MsgKind::Response {
            return Err(refused(Refusal::Malformed(
                "an answer was sent as a request".into(),
            )));
        }
        if self.faults.blocks(h.from) {
            return Err(Refusal::Partitioned(h.from));
        }
        let peer = self
            .peer(h.from)
            .ok_or_else(|| refused(Refusal::UnknownSender(h.from)))?;
        sealed.verify_signature(&peer.public_key).map_err(refused)?;
        self.replay.precheck(&h, self.now_ms()).map_err(refused)?;
        Ok(CheckedHeader { sealed })
    }

    /// Opens a request whose header passed [`Transport::check_header`] with the body that came
    /// with it: the body must match the signed payload hash, and only then is the message
    /// remembered in the replay window (an altered body does not use up the genuine message).
    pub fn open_payload(
        &self,
        checked: CheckedHeader,
        payload: Vec<u8>,
    ) -> Result<Envelope, Refusal> {
        let h = checked.sealed.header;
        let refused = |r: Refusal| self.refused(Some(&h), r);
        let env = checked.sealed.with_payload(payload).map_err(refused)?;
        self.replay.check(&h, self.now_ms()).map_err(refused)?;
        debug!(target: "consensus::net", from = h.from, kind = h.kind.as_str(), seq = h.seq, "accepted a message");
        Ok(env)
    }

    /// [`Transport::check_header`] then [`Transport::open_payload`], for a request held whole.
    pub fn open(&self, field: Option<&[u8]>, payload: Vec<u8>) -> Result<Envelope, Refusal> {
        let checked = self.check_header(field)?;
        self.open_payload(checked, payload)
    }

    /// Logs a refusal (at most once per [`LOG_EVERY_MS`]) and returns it.
    fn refused(&self, h: Option<&EnvelopeHeader>, r: Refusal) -> Refusal {
        if let Some(n) = self.refusal_log.lock().tick() {
            let (from, kind) = h.map_or((None, ""), |h| (Some(h.from), h.kind.as_str()));
            warn!(target: "consensus::net", from, kind, code = r.code(), "refused a message: {r} ({n} refused since the last report; all are counted in want_cluster_envelopes_refused_total)");
        }
        r
    }

    /// Seals the answer to `request`.
    pub fn answer(&self, request: &Envelope, payload: Vec<u8>) -> Vec<u8> {
        let header = self.header(request.header.from, MsgKind::Response, request.digest());
        Envelope::seal(header, payload, &self.key).to_bytes()
    }
}

/// Why an answer's body was not read whole.
enum ReadError {
    TooLarge(usize),
    Net(reqwest::Error),
}

/// Reads an answer's body chunk by chunk, refusing it once it passes `limit` bytes (or
/// announces more); with `truncate` the first `limit` bytes are kept instead.
async fn read_bounded(
    resp: &mut reqwest::Response,
    limit: usize,
    truncate: bool,
) -> Result<Vec<u8>, ReadError> {
    if let Some(n) = resp.content_length() {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n > limit && !truncate {
            return Err(ReadError::TooLarge(n));
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Net)? {
        if body.len() + chunk.len() > limit {
            if truncate {
                body.extend_from_slice(&chunk[..limit - body.len()]);
                return Ok(body);
            }
            return Err(ReadError::TooLarge(body.len() + chunk.len()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error with its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Transport, Transport) {
        let k1 = NodeKey::generate();
        let k2 = NodeKey::generate();
        let peers = BTreeMap::from([
            (
                1,
                Peer {
                    public_key: k1.public_key(),
                    url: "http://127.0.0.1:1".into(),
                },
            ),
            (
                2,
                Peer {
                    public_key: k2.public_key(),
                    url: "http://127.0.0.1:2".into(),
                },
            ),
        ]);
        (
            Transport::new(1, 7, k1, peers.clone(), true).unwrap(),
            Transport::new(2, 7, k2, peers, true).unwrap(),
        )
    }

    fn request(t: &Transport, to: u64, kind: MsgKind) -> Envelope {
        Envelope::seal(t.header(to, kind, [0; 32]), b"payload".to_vec(), &t.key)
    }

    fn field(env: &Envelope) -> String {
        env.sealed_header().to_field()
    }

    fn open(t: &Transport, env: &Envelope) -> Result<Envelope, Refusal> {
        t.open(Some(field(env).as_bytes()), env.payload.clone())
    }

    #[tokio::test]
    async fn a_member_that_does_not_answer_in_time_timed_out_and_a_closed_port_is_unreachable() {
        let (a, _) = pair();
        // Accepts connections and reads nothing: a member busy past the timeout.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_url = format!("http://{}", silent.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((c, _)) = silent.accept().await {
                conns.push(c);
            }
        });
        let peer = |url: String| Peer {
            public_key: NodeKey::generate().public_key(),
            url,
        };
        let timeout = Duration::from_millis(150);
        let r = a
            .call(
                2,
                &peer(silent_url),
                MsgKind::AppendEntries,
                vec![1],
                timeout,
            )
            .await;
        assert!(
            matches!(
                r,
                Err(NetError::TimedOut {
                    to: 2,
                    after_ms: 150
                })
            ),
            "{r:?}"
        );
        // Nothing listens here any more.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let r = a
            .call(
                2,
                &peer(closed_url),
                MsgKind::AppendEntries,
                vec![1],
                timeout,
            )
            .await;
        assert!(
            matches!(r, Err(NetError::Unreachable { to: 2, .. })),
            "{r:?}"
        );
        held.abort();
    }

    #[test]
    fn a_member_opens_a_request_from_another_member_once() {
        let (a, b) = pair();
        let env = request(&a, 2, MsgKind::Vote);
        assert_eq!(open(&b, &env).unwrap(), env);
        assert_eq!(open(&b, &env).unwrap_err().code(), "replayed");
        // A replay is refused from its header alone, before any body is read.
        assert_eq!(
            b.check_header(Some(field(&env).as_bytes()))
                .unwrap_err()
                .code(),
            "replayed"
        );
    }

    #[test]
    fn misaddressed_forged_unsigned_and_foreign_chain_requests_are_refused() {
        let (a, b) = pair();
        assert_eq!(
            open(&b, &request(&a, 3, MsgKind::Vote)).unwrap_err().code(),
            "misaddressed"
        );
        let forged = Envelope::seal(
            a.header(2, MsgKind::Vote, [0; 32]),
            vec![1],
            &NodeKey::generate(),
        );
        assert_eq!(open(&b, &forged).unwrap_err().code(), "bad_signature");
        let mut h = a.header(2, MsgKind::Vote, [0; 32]);
        h.chain_id = 8;
        let foreign = Envelope::seal(h, vec![1], &a.key);
        assert_eq!(open(&b, &foreign).unwrap_err().code(), "wrong_chain");
        let stranger = Transport::new(5, 7, NodeKey::generate(), BTreeMap::new(), false).unwrap();
        let unknown = request(&stranger, 2, MsgKind::Vote);
        assert_eq!(open(&b, &unknown).unwrap_err().code(), "unknown_sender");
        assert_eq!(
            b.open(Some(b"not an envelope"), vec![]).unwrap_err().code(),
            "malformed"
        );
        assert_eq!(b.check_header(None).unwrap_err().code(), "unsigned");
    }

    #[test]
    fn an_altered_body_is_refused_and_does_not_use_up_the_genuine_message() {
        let (a, b) = pair();
        let env = request(&a, 2, MsgKind::AppendEntries);
        let checked = b.check_header(Some(field(&env).as_bytes())).unwrap();
        let mut altered = env.payload.clone();
        altered[0] ^= 1;
        assert_eq!(
            b.open_payload(checked, altered).unwrap_err().code(),
            "payload_mismatch"
        );
        assert_eq!(open(&b, &env).unwrap(), env);
    }

    #[test]
    fn an_answer_is_accepted_only_for_its_own_request_from_its_target() {
        let (a, b) = pair();
        let req = request(&a, 2, MsgKind::AppendEntries);
        let opened = open(&b, &req).unwrap();
        let answer = Envelope::from_bytes(&b.answer(&opened, b"ok".to_vec())).unwrap();
        let peer_b = a.peer(2).unwrap();
        a.check_answer(&answer, 2, &peer_b, req.digest()).unwrap();
        let other = request(&a, 2, MsgKind::AppendEntries);
        assert_eq!(
            a.check_answer(&answer, 2, &peer_b, other.digest()),
            Err(Refusal::NotAReply)
        );
        let peer_a = a.peer(1).unwrap();
        assert!(a.check_answer(&answer, 2, &peer_a, req.digest()).is_err());
    }

    #[test]
    fn tls_trusts_exactly_the_keys_envelopes_are_checked_against() {
        let (a, b) = pair();
        let (k1, k2) = (a.key.public_key(), b.key.public_key());
        assert!(a.members.is_member_key(&k1) && a.members.is_member_key(&k2));
        assert!(!a.members.is_member_key(&[3; 32]));
        // Once Raft knows a membership, it alone counts: a member removed from it is refused.
        a.set_members(BTreeMap::from([(
            3,
            Peer {
                public_key: [3; 32],
                url: "https://x".into(),
            },
        )]));
        assert!(a.members.is_member_key(&[3; 32]));
        assert!(!a.members.is_member_key(&k2));
    }

    #[test]
    fn raft_membership_replaces_the_configured_members() {
        let (a, _) = pair();
        assert!(a.peer(2).is_some());
        a.set_members(BTreeMap::from([(
            3,
            Peer {
                public_key: [3; 32],
                url: "http://x".into(),
            },
        )]));
        assert!(a.peer(2).is_none());
        assert!(a.peer(3).is_some());
    }
}
