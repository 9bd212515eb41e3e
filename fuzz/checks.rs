//! What every fuzz target checks, one function per target: shared by the libFuzzer targets
//! (`fuzz_targets/`, through `#[path]`) and by the regression test that runs every committed
//! seed and reproducer in CI (`crates/want-node/tests/fuzz_seeds.rs`), so the two never drift.
//! Each function panics exactly when the property it states is broken.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use want_consensus::net::{Envelope, Peer, Transport};
use want_crypto::NodeKey;
use want_epcis::{parse_capture, EpcisEvent};
use want_types::amount::{format_want, parse_want};
use want_types::{Address, SignedTransaction};

/// Untrusted transaction bytes: canonical borsh (blocks, the mempool journal) and JSON (the
/// HTTP API, `want tx send`). Decoding never panics; whatever decodes verifies (or is refused)
/// without panicking and re-encodes to the same thing; accepted borsh bytes are canonical.
pub fn decode_transaction(data: &[u8]) {
    fn check(stx: &SignedTransaction) {
        if let Ok((id, _sender)) = want_crypto::verify_transaction(stx) {
            assert_eq!(id, stx.id());
        }
        let bytes = stx.to_bytes();
        let again = SignedTransaction::from_bytes(&bytes).expect("own encoding decodes");
        assert_eq!(&again, stx);
        let json = serde_json::to_string(stx).expect("a transaction serialises to JSON");
        let again: SignedTransaction = serde_json::from_str(&json).expect("own JSON decodes");
        assert_eq!(&again, stx);
    }
    if let Ok(stx) = SignedTransaction::from_bytes(data) {
        assert_eq!(stx.to_bytes(), data, "non-canonical encoding accepted");
        check(&stx);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(stx) = serde_json::from_str::<SignedTransaction>(text) {
            check(&stx);
        }
    }
}

/// Untrusted text: addresses (base58check `T…` or hex) and WANT amounts ("12.5"). Parsing never
/// panics; what parses round-trips.
pub fn parse_address(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(address) = text.parse::<Address>() {
        let base58 = address.to_string();
        assert_eq!(base58.parse::<Address>().ok(), Some(address));
        assert_eq!(address.to_hex().parse::<Address>().ok(), Some(address));
    }
    if let Ok(amount) = parse_want(text) {
        let formatted = format_want(amount);
        assert_eq!(parse_want(&formatted).ok(), Some(amount), "{formatted}");
    }
}

/// Untrusted EPCIS capture documents: `parse_capture` never panics; every accepted event
/// round-trips through its canonical bytes with the same hash ID and canonical bytes.
pub fn parse_epcis(data: &[u8]) {
    if let Ok(capture) = parse_capture(data) {
        for event in capture.events {
            let bytes = event.canonical_bytes();
            let back = EpcisEvent::from_canonical_bytes(&bytes)
                .expect("canonical bytes of an accepted event parse");
            assert_eq!(back.hash_id(), event.hash_id());
            assert_eq!(back.canonical_bytes(), bytes);
        }
    }
}

fn transport() -> &'static Transport {
    static T: OnceLock<Transport> = OnceLock::new();
    T.get_or_init(|| {
        let members = BTreeMap::from([
            (
                1,
                Peer {
                    public_key: [1; 32],
                    url: "http://127.0.0.1:1".into(),
                },
            ),
            (
                2,
                Peer {
                    public_key: NodeKey::generate().public_key(),
                    url: "http://127.0.0.1:2".into(),
                },
            ),
        ]);
        Transport::new(2, 7, NodeKey::generate(), members, false).expect("transport")
    })
}

/// A member's message from the network: decoding and opening an envelope (its sealed header and
/// its body), and decoding a Raft payload inside one, never panic, whatever the bytes.
pub fn open_envelope(data: &[u8]) {
    if let Ok(env) = Envelope::from_bytes(data) {
        let _ = env.to_bytes();
    }
    // As it travels: a sealed header (the bytes as the header field, and their first
    // SEALED_HEADER_BYTES in hex) and the rest as the body.
    let split = data.len().min(want_consensus::net::SEALED_HEADER_BYTES);
    let (head, body) = data.split_at(split);
    let _ = transport().open(Some(data), body.to_vec());
    let field: String = head.iter().map(|b| format!("{b:02x}")).collect();
    let _ = transport().open(Some(field.as_bytes()), body.to_vec());
    let _ = want_consensus::net::SealedHeader::from_bytes(head);
    let _ = postcard::from_bytes::<openraft::raft::VoteRequest<u64>>(data);
    let _ = postcard::from_bytes::<want_consensus::AdminCommand>(data);
}
