//! The transport between members: seals requests in signed envelopes, sends them over HTTP
//! (`POST {member url}/v1/cluster/rpc`), opens and checks what arrives (membership, signature,
//! address, chain, replay window) before anything else reads it, and seals the answers, which
//! name the request they answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use tracing::{debug, warn};
use want_crypto::NodeKey;

use super::envelope::{Envelope, EnvelopeHeader, MsgKind, Refusal};
use super::faults::FaultInjector;
use super::ratelog::{RateLimitedLog, LOG_EVERY_MS};
use super::replay::ReplayGuard;

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

/// A member as the transport knows it: the key its messages must be signed with, and its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub public_key: [u8; 32],
    pub url: String,
}

/// Why a request to a member failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Not sent or no answer (connection refused, timeout, partition, dropped).
    #[error("node {to} is unreachable: {reason}")]
    Unreachable { to: u64, reason: String },
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

/// Sends and receives signed envelopes for one node (see the module documentation).
pub struct Transport {
    me: u64,
    chain_id: u64,
    key: NodeKey,
    boot: u64,
    seq: AtomicU64,
    client: reqwest::Client,
    pub faults: FaultInjector,
    replay: ReplayGuard,
    /// The warning for refused messages, at most once per [`LOG_EVERY_MS`].
    refusal_log: parking_lot::Mutex<RateLimitedLog>,
    /// The membership Raft knows (voters and learners); empty until it knows one.
    members: RwLock<BTreeMap<u64, Peer>>,
    /// Members from the genesis and the configuration: used while Raft knows no membership.
    fallback: BTreeMap<u64, Peer>,
}

impl Transport {
    pub fn new(
        me: u64,
        chain_id: u64,
        key: NodeKey,
        fallback: BTreeMap<u64, Peer>,
        fault_injection: bool,
    ) -> Result<Transport, String> {
        let client = reqwest::Client::builder()
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
            client,
            faults: FaultInjector::new(fault_injection),
            replay: ReplayGuard::new(),
            refusal_log: parking_lot::Mutex::new(RateLimitedLog::new(LOG_EVERY_MS)),
            members: RwLock::new(BTreeMap::new()),
            fallback,
        })
    }

    pub fn me(&self) -> u64 {
        self.me
    }

    /// Replaces the membership (from Raft).
    pub fn set_members(&self, members: BTreeMap<u64, Peer>) {
        *self.members.write() = members;
    }

    /// A member by id: from Raft's membership, or from the genesis/configuration while Raft
    /// knows none.
    pub fn peer(&self, id: u64) -> Option<Peer> {
        let members = self.members.read();
        if members.is_empty() {
            self.fallback.get(&id).cloned()
        } else {
            members.get(&id).cloned()
        }
    }

    fn header(&self, to: u64, kind: MsgKind, in_reply_to: [u8; 32]) -> EnvelopeHeader {
        EnvelopeHeader {
            chain_id: self.chain_id,
            from: self.me,
            to,
            kind,
            boot: self.boot,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            sent_at_ms: unix_ms(),
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
        let mut bytes = request.to_bytes();
        if let Some(at) = decision.corrupt_at {
            let i = at % bytes.len();
            bytes[i] ^= 0x5a;
        }
        let url = format!("{}{RPC_PATH}", peer.url.trim_end_matches('/'));
        if decision.duplicate {
            let dup = self
                .client
                .post(&url)
                .timeout(timeout)
                .header("content-type", "application/octet-stream")
                .body(bytes.clone())
                .send();
            tokio::spawn(async move {
                let _ = dup.await;
            });
        }
        let resp = self
            .client
            .post(&url)
            .timeout(timeout)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| unreachable(format!("reading the answer: {}", error_chain(&e))))?;
        if !status.is_success() {
            return Err(NetError::Refused {
                to,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
            });
        }
        let answer =
            Envelope::from_bytes(&body).map_err(|refusal| NetError::BadAnswer { to, refusal })?;
        self.check_answer(&answer, to, peer, digest)
            .map_err(|refusal| NetError::BadAnswer { to, refusal })?;
        Ok(answer.payload)
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

    /// Opens a received request: checks size, shape, chain, address, sender, signature and
    /// the replay window, in that order. Only then may the payload be read.
    pub fn open(&self, bytes: &[u8]) -> Result<Envelope, Refusal> {
        let env = Envelope::from_bytes(bytes)?;
        let h = env.header;
        let refused = |r: Refusal| {
            if let Some(n) = self.refusal_log.lock().tick() {
                warn!(target: "consensus::net", from = h.from, kind = h.kind.as_str(), code = r.code(), "refused a message: {r} ({n} refused since the last report; all are counted in want_cluster_envelopes_refused_total)");
            }
            r
        };
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
        env.verify_signature(&peer.public_key).map_err(refused)?;
        self.replay.check(&h, unix_ms()).map_err(refused)?;
        debug!(target: "consensus::net", from = h.from, kind = h.kind.as_str(), seq = h.seq, "accepted a message");
        Ok(env)
    }

    /// Seals the answer to `request`.
    pub fn answer(&self, request: &Envelope, payload: Vec<u8>) -> Vec<u8> {
        let header = self.header(request.header.from, MsgKind::Response, request.digest());
        Envelope::seal(header, payload, &self.key).to_bytes()
    }
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

    #[test]
    fn a_member_opens_a_request_from_another_member_once() {
        let (a, b) = pair();
        let env = request(&a, 2, MsgKind::Vote);
        let bytes = env.to_bytes();
        assert_eq!(b.open(&bytes).unwrap(), env);
        assert_eq!(b.open(&bytes).unwrap_err().code(), "replayed");
    }

    #[test]
    fn misaddressed_forged_and_foreign_chain_requests_are_refused() {
        let (a, b) = pair();
        assert_eq!(
            b.open(&request(&a, 3, MsgKind::Vote).to_bytes())
                .unwrap_err()
                .code(),
            "misaddressed"
        );
        let forged = Envelope::seal(
            a.header(2, MsgKind::Vote, [0; 32]),
            vec![1],
            &NodeKey::generate(),
        );
        assert_eq!(
            b.open(&forged.to_bytes()).unwrap_err().code(),
            "bad_signature"
        );
        let mut h = a.header(2, MsgKind::Vote, [0; 32]);
        h.chain_id = 8;
        let foreign = Envelope::seal(h, vec![1], &a.key);
        assert_eq!(
            b.open(&foreign.to_bytes()).unwrap_err().code(),
            "wrong_chain"
        );
        let stranger = Transport::new(5, 7, NodeKey::generate(), BTreeMap::new(), false).unwrap();
        let unknown = request(&stranger, 2, MsgKind::Vote);
        assert_eq!(
            b.open(&unknown.to_bytes()).unwrap_err().code(),
            "unknown_sender"
        );
        assert_eq!(b.open(b"not an envelope").unwrap_err().code(), "malformed");
    }

    #[test]
    fn an_answer_is_accepted_only_for_its_own_request_from_its_target() {
        let (a, b) = pair();
        let req = request(&a, 2, MsgKind::AppendEntries);
        let opened = b.open(&req.to_bytes()).unwrap();
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
