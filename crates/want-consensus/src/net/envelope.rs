//! Signed envelopes: every message between members (Raft RPCs, their answers, forwarded
//! transactions) is wrapped in one, signed with the sender's Ed25519 node key over the message,
//! the sender, the receiver, the chain and a (boot, sequence, time) triple that makes each one
//! unique. A receiver opens it against the membership before anything else reads the payload.
//!
//! On the wire a request travels header first: its [`SealedHeader`] (the borsh header and the
//! signature, [`SEALED_HEADER_BYTES`] bytes) hex-encoded in the [`ENVELOPE_HEADER`] HTTP header,
//! and the payload as the body. The signature covers the payload through its hash, so a
//! receiver authenticates the sender from the header alone and reads a body only from a member.

use borsh::{BorshDeserialize, BorshSerialize};
use want_crypto::NodeKey;
use want_types::hash::sha256;

/// Domain separator of the envelope signature (no other signed object starts with it).
const ENVELOPE_DOMAIN: &[u8] = b"WANT-cluster-envelope-v1";
/// Largest envelope accepted, in bytes: a batch of Raft entries of full blocks fits.
pub const ENVELOPE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// The HTTP header that carries a request's [`SealedHeader`] in hex.
pub const ENVELOPE_HEADER: &str = "x-want-envelope";
/// Bytes of a borsh [`EnvelopeHeader`]: six u64, the kind and two 32-byte digests.
pub const ENVELOPE_HEADER_BYTES: usize = 6 * 8 + 1 + 2 * 32;
/// Bytes of a [`SealedHeader`]: the header and the 64-byte Ed25519 signature.
pub const SEALED_HEADER_BYTES: usize = ENVELOPE_HEADER_BYTES + 64;

/// What an envelope carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum MsgKind {
    AppendEntries = 1,
    Vote = 2,
    InstallSnapshot = 3,
    /// Transactions a member forwards to the leader.
    ForwardTxs = 4,
    /// A membership change asked by a member's operator (signed with that member's node key).
    Admin = 5,
    /// The answer to a request; `in_reply_to` names the request.
    Response = 0x80,
}

impl MsgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MsgKind::AppendEntries => "append_entries",
            MsgKind::Vote => "vote",
            MsgKind::InstallSnapshot => "install_snapshot",
            MsgKind::ForwardTxs => "forward_txs",
            MsgKind::Admin => "admin",
            MsgKind::Response => "response",
        }
    }
}

/// Everything an envelope's signature covers (the payload through its hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EnvelopeHeader {
    pub chain_id: u64,
    /// Raft id of the sender.
    pub from: u64,
    /// Raft id of the receiver.
    pub to: u64,
    pub kind: MsgKind,
    /// Random per process start of the sender: sequences restart with it.
    pub boot: u64,
    /// Per-boot message counter of the sender.
    pub seq: u64,
    /// Sender's clock when it sent the message (receivers refuse messages too old or too new).
    pub sent_at_ms: u64,
    /// Digest of the request a response answers; zero in requests.
    pub in_reply_to: [u8; 32],
    /// SHA-256 of the payload.
    pub payload_hash: [u8; 32],
}

impl EnvelopeHeader {
    /// The digest the sender signs.
    pub fn signing_digest(&self) -> [u8; 32] {
        let mut bytes = ENVELOPE_DOMAIN.to_vec();
        bytes
            .extend(borsh::to_vec(self).expect("invariant: borsh encoding into a Vec cannot fail"));
        sha256(&bytes).0
    }
}

/// A signed message between members.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Envelope {
    pub header: EnvelopeHeader,
    pub payload: Vec<u8>,
    pub signature: [u8; 64],
}

/// Why a received envelope was refused; each has a stable code (metrics label, log field, API
/// error code suffix).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the message does not decode as an envelope: {0}")]
    Malformed(String),
    #[error("the message is {0} bytes; at most {ENVELOPE_BYTES_MAX} are accepted")]
    TooLarge(usize),
    #[error("the message is for chain {got}, this node runs chain {want}")]
    WrongChain { got: u64, want: u64 },
    #[error("the message is addressed to node {to}; this is node {me}")]
    Misaddressed { to: u64, me: u64 },
    #[error("node {0} is not a member known to this node")]
    UnknownSender(u64),
    #[error("the signature does not verify against node {0}'s key (forged or altered)")]
    BadSignature(u64),
    #[error("the payload does not match its hash in the signed header (altered)")]
    PayloadMismatch,
    #[error("the message was sent {age_ms} ms ago; older than the {window_ms} ms replay window")]
    Stale { age_ms: u64, window_ms: u64 },
    #[error("the message claims to be sent {ahead_ms} ms in the future (clocks out of sync?)")]
    FromFuture { ahead_ms: u64 },
    #[error("the message was sent at {sent_at_ms} ms, before this node started at {started_ms} ms (a copy it may have received before restarting); the sender resends (if this lasts, the sender's clock is behind)")]
    SentBeforeStart { sent_at_ms: u64, started_ms: u64 },
    #[error("the message (node {from}, boot {boot}, seq {seq}) was already received (replayed)")]
    Replayed { from: u64, boot: u64, seq: u64 },
    #[error("the replay window of node {0} is full; try again shortly")]
    WindowFull(u64),
    #[error("the answer does not answer the request sent")]
    NotAReply,
    #[error("messages from node {0} are blocked by fault injection (partition)")]
    Partitioned(u64),
    #[error("the request carries no signed envelope header ({ENVELOPE_HEADER})")]
    Unsigned,
    /// The Raft message names a leader or candidate other than its signer.
    #[error("node {from} signed a Raft message naming {} as its leader or candidate; a member may only speak for itself", .claimed.map(|c| format!("node {c}")).unwrap_or_else(|| "nobody".into()))]
    Impersonation { from: u64, claimed: Option<u64> },
    /// A learner (or a node outside the voters) sent a message only voters may send.
    #[error(
        "node {from} is not a voting member: only voters may lead, campaign or send snapshots"
    )]
    NotAVoter { from: u64 },
    /// A leader's claim to its term is not backed by a quorum of signed vote grants.
    #[error("node {from} claims leadership of term {term} without proof: {reason}")]
    UnprovenLeader {
        from: u64,
        term: u64,
        reason: String,
    },
    /// A proposed block failed its checks before it was appended.
    #[error("node {from} proposed an invalid block in log entry {index}: {reason}")]
    InvalidBlock {
        from: u64,
        index: u64,
        reason: String,
    },
    /// A membership entry not authorised by a majority of the voters before it.
    #[error("node {from} sent a membership change in log entry {index} that the voters did not approve: {reason}")]
    UnauthorizedMembership {
        from: u64,
        index: u64,
        reason: String,
    },
    /// A snapshot whose chain point contradicts the receiver's own chain.
    #[error("node {from} sent snapshot {snapshot} that contradicts this member's chain: {reason}")]
    InvalidSnapshot {
        from: u64,
        snapshot: String,
        reason: String,
    },
}

impl Refusal {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::TooLarge(_) => "too_large",
            Refusal::WrongChain { .. } => "wrong_chain",
            Refusal::Misaddressed { .. } => "misaddressed",
            Refusal::UnknownSender(_) => "unknown_sender",
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::PayloadMismatch => "payload_mismatch",
            Refusal::Stale { .. } => "stale",
            Refusal::FromFuture { .. } => "from_future",
            Refusal::SentBeforeStart { .. } => "sent_before_start",
            Refusal::Replayed { .. } => "replayed",
            Refusal::WindowFull(_) => "window_full",
            Refusal::NotAReply => "not_a_reply",
            Refusal::Partitioned(_) => "partitioned",
            Refusal::Unsigned => "unsigned",
            Refusal::Impersonation { .. } => "impersonation",
            Refusal::NotAVoter { .. } => "not_a_voter",
            Refusal::UnprovenLeader { .. } => "unproven_leader",
            Refusal::InvalidBlock { .. } => "invalid_block",
            Refusal::UnauthorizedMembership { .. } => "unauthorized_membership",
            Refusal::InvalidSnapshot { .. } => "invalid_snapshot",
        }
    }

    /// Every code, for metrics.
    pub const CODES: [&'static str; 21] = [
        "malformed",
        "too_large",
        "wrong_chain",
        "misaddressed",
        "unknown_sender",
        "bad_signature",
        "payload_mismatch",
        "stale",
        "from_future",
        "sent_before_start",
        "replayed",
        "window_full",
        "not_a_reply",
        "partitioned",
        "unsigned",
        "impersonation",
        "not_a_voter",
        "unproven_leader",
        "invalid_block",
        "unauthorized_membership",
        "invalid_snapshot",
    ];
}

/// An envelope without its payload: what travels in the [`ENVELOPE_HEADER`] HTTP header, enough
/// to authenticate the sender before the payload is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SealedHeader {
    pub header: EnvelopeHeader,
    pub signature: [u8; 64],
}

impl SealedHeader {
    /// `borsh(header) ++ signature`, [`SEALED_HEADER_BYTES`] bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("invariant: borsh encoding into a Vec cannot fail")
    }

    /// Decodes exactly [`SEALED_HEADER_BYTES`] bytes (no checks beyond shape).
    pub fn from_bytes(bytes: &[u8]) -> Result<SealedHeader, Refusal> {
        if bytes.len() != SEALED_HEADER_BYTES {
            return Err(Refusal::Malformed(format!(
                "the envelope header is {} bytes; it must be {SEALED_HEADER_BYTES}",
                bytes.len()
            )));
        }
        borsh::from_slice(bytes).map_err(|e| Refusal::Malformed(format!("envelope header: {e}")))
    }

    /// The value of the [`ENVELOPE_HEADER`] HTTP header: the bytes in lowercase hex.
    pub fn to_field(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// Parses the value of the [`ENVELOPE_HEADER`] HTTP header (its length is checked before it
    /// is decoded).
    pub fn parse_field(field: &[u8]) -> Result<SealedHeader, Refusal> {
        if field.len() != 2 * SEALED_HEADER_BYTES {
            return Err(Refusal::Malformed(format!(
                "the {ENVELOPE_HEADER} header is {} characters; it must be {} hex digits",
                field.len(),
                2 * SEALED_HEADER_BYTES
            )));
        }
        let bytes = hex::decode(field)
            .map_err(|e| Refusal::Malformed(format!("the {ENVELOPE_HEADER} header: {e}")))?;
        SealedHeader::from_bytes(&bytes)
    }

    /// Checks the signature against `public_key` (it covers the payload through its hash).
    pub fn verify_signature(&self, public_key: &[u8; 32]) -> Result<(), Refusal> {
        want_crypto::verify_ed25519(public_key, &self.header.signing_digest(), &self.signature)
            .map_err(|_| Refusal::BadSignature(self.header.from))
    }

    /// The envelope of `payload` once it matches the signed hash.
    pub fn with_payload(self, payload: Vec<u8>) -> Result<Envelope, Refusal> {
        if payload.len() > ENVELOPE_BYTES_MAX {
            return Err(Refusal::TooLarge(payload.len()));
        }
        if sha256(&payload).0 != self.header.payload_hash {
            return Err(Refusal::PayloadMismatch);
        }
        Ok(Envelope {
            header: self.header,
            payload,
            signature: self.signature,
        })
    }
}

impl Envelope {
    /// The envelope's header and signature, as they travel ahead of the payload.
    pub fn sealed_header(&self) -> SealedHeader {
        SealedHeader {
            header: self.header,
            signature: self.signature,
        }
    }

    /// `borsh(header) ++ signature`: the bytes of [`Envelope::sealed_header`].
    pub fn header_bytes(&self) -> Vec<u8> {
        self.sealed_header().to_bytes()
    }

    /// Signs `payload` as `header` (whose `payload_hash` is set here).
    pub fn seal(mut header: EnvelopeHeader, payload: Vec<u8>, key: &NodeKey) -> Envelope {
        header.payload_hash = sha256(&payload).0;
        let signature = key.sign(&header.signing_digest());
        Envelope {
            header,
            payload,
            signature,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("invariant: borsh encoding into a Vec cannot fail")
    }

    /// Decodes an envelope (no checks beyond size and shape).
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, Refusal> {
        if bytes.len() > ENVELOPE_BYTES_MAX {
            return Err(Refusal::TooLarge(bytes.len()));
        }
        borsh::from_slice(bytes).map_err(|e| Refusal::Malformed(e.to_string()))
    }

    /// Checks the signature against `public_key` and the payload against its signed hash.
    pub fn verify_signature(&self, public_key: &[u8; 32]) -> Result<(), Refusal> {
        self.sealed_header().verify_signature(public_key)?;
        if sha256(&self.payload).0 != self.header.payload_hash {
            return Err(Refusal::PayloadMismatch);
        }
        Ok(())
    }

    /// The digest a response names in `in_reply_to`.
    pub fn digest(&self) -> [u8; 32] {
        self.header.signing_digest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(kind: MsgKind) -> EnvelopeHeader {
        EnvelopeHeader {
            chain_id: 7,
            from: 1,
            to: 2,
            kind,
            boot: 42,
            seq: 1,
            sent_at_ms: 1_000,
            in_reply_to: [0; 32],
            payload_hash: [0; 32],
        }
    }

    #[test]
    fn sealed_envelope_verifies_against_its_signer_only() {
        let key = NodeKey::generate();
        let other = NodeKey::generate();
        let env = Envelope::seal(header(MsgKind::Vote), b"hello".to_vec(), &key);
        let back = Envelope::from_bytes(&env.to_bytes()).unwrap();
        assert_eq!(back, env);
        back.verify_signature(&key.public_key()).unwrap();
        assert_eq!(
            back.verify_signature(&other.public_key()),
            Err(Refusal::BadSignature(1))
        );
    }

    #[test]
    fn changing_any_signed_field_breaks_the_signature() {
        let key = NodeKey::generate();
        let env = Envelope::seal(header(MsgKind::AppendEntries), b"entries".to_vec(), &key);
        let mut to = env.clone();
        to.header.to = 3;
        let mut seq = env.clone();
        seq.header.seq = 2;
        let mut kind = env.clone();
        kind.header.kind = MsgKind::Vote;
        for altered in [to, seq, kind] {
            assert!(altered.verify_signature(&key.public_key()).is_err());
        }
        let mut payload = env.clone();
        payload.payload[0] ^= 1;
        assert_eq!(
            payload.verify_signature(&key.public_key()),
            Err(Refusal::PayloadMismatch)
        );
    }

    #[test]
    fn a_header_with_another_payload_is_refused_as_altered() {
        let key = NodeKey::generate();
        let env = Envelope::seal(header(MsgKind::Vote), b"genuine".to_vec(), &key);
        assert_eq!(
            env.sealed_header().with_payload(b"altered".to_vec()),
            Err(Refusal::PayloadMismatch)
        );
        assert_eq!(
            SealedHeader::parse_field(b"zz").unwrap_err().code(),
            "malformed"
        );
    }

    #[test]
    fn every_refusal_code_is_listed_once() {
        let mut codes = Refusal::CODES.to_vec();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Refusal::CODES.len());
        let s = String::new;
        let every = [
            Refusal::Malformed(s()),
            Refusal::TooLarge(0),
            Refusal::WrongChain { got: 0, want: 1 },
            Refusal::Misaddressed { to: 0, me: 1 },
            Refusal::UnknownSender(0),
            Refusal::BadSignature(0),
            Refusal::PayloadMismatch,
            Refusal::Stale {
                age_ms: 0,
                window_ms: 0,
            },
            Refusal::FromFuture { ahead_ms: 0 },
            Refusal::SentBeforeStart {
                sent_at_ms: 0,
                started_ms: 0,
            },
            Refusal::Replayed {
                from: 0,
                boot: 0,
                seq: 0,
            },
            Refusal::WindowFull(0),
            Refusal::NotAReply,
            Refusal::Partitioned(0),
            Refusal::Unsigned,
            Refusal::Impersonation {
                from: 0,
                claimed: None,
            },
            Refusal::NotAVoter { from: 0 },
            Refusal::UnprovenLeader {
                from: 0,
                term: 0,
                reason: s(),
            },
            Refusal::InvalidBlock {
                from: 0,
                index: 0,
                reason: s(),
            },
            Refusal::UnauthorizedMembership {
                from: 0,
                index: 0,
                reason: s(),
            },
            Refusal::InvalidSnapshot {
                from: 0,
                snapshot: s(),
                reason: s(),
            },
        ];
        assert_eq!(every.len(), Refusal::CODES.len());
        for r in &every {
            assert!(
                Refusal::CODES.contains(&r.code()),
                "{} is not listed",
                r.code()
            );
        }
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let bytes = vec![0u8; ENVELOPE_BYTES_MAX + 1];
        assert_eq!(
            Envelope::from_bytes(&bytes),
            Err(Refusal::TooLarge(ENVELOPE_BYTES_MAX + 1))
        );
    }

    proptest! {
        #[test]
        fn envelope_codec_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..512), seq in any::<u64>(), boot in any::<u64>()) {
            let key = NodeKey::generate();
            let mut h = header(MsgKind::ForwardTxs);
            h.seq = seq;
            h.boot = boot;
            let env = Envelope::seal(h, payload, &key);
            prop_assert_eq!(Envelope::from_bytes(&env.to_bytes()).unwrap(), env);
        }

        #[test]
        fn sealed_header_round_trips_through_its_http_field(seq in any::<u64>(), boot in any::<u64>(), from in any::<u64>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let key = NodeKey::generate();
            let mut h = header(MsgKind::AppendEntries);
            h.seq = seq;
            h.boot = boot;
            h.from = from;
            let env = Envelope::seal(h, payload.clone(), &key);
            prop_assert_eq!(env.header_bytes().len(), SEALED_HEADER_BYTES);
            let back = SealedHeader::parse_field(env.sealed_header().to_field().as_bytes()).unwrap();
            prop_assert_eq!(back, env.sealed_header());
            back.verify_signature(&key.public_key()).unwrap();
            prop_assert_eq!(back.with_payload(payload).unwrap(), env);
        }

        #[test]
        fn a_garbage_header_field_is_refused_without_panicking(field in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = SealedHeader::parse_field(&field);
            let _ = SealedHeader::from_bytes(&field);
        }

        #[test]
        fn a_header_field_of_the_right_length_but_arbitrary_hex_never_panics(bytes in proptest::collection::vec(any::<u8>(), SEALED_HEADER_BYTES..=SEALED_HEADER_BYTES)) {
            let _ = SealedHeader::parse_field(hex::encode(bytes).as_bytes());
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Envelope::from_bytes(&bytes);
        }
    }
}
