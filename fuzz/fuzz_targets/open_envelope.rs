//! Members' messages arrive from the network: decoding and opening an envelope (and decoding a
//! Raft payload inside one) must never panic, whatever the bytes.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use want_consensus::net::{Envelope, Peer, Transport};
use want_crypto::NodeKey;

fn transport() -> &'static Transport {
    static T: OnceLock<Transport> = OnceLock::new();
    T.get_or_init(|| {
        let members = BTreeMap::from([
            (1, Peer { public_key: [1; 32], url: "http://127.0.0.1:1".into() }),
            (2, Peer { public_key: NodeKey::generate().public_key(), url: "http://127.0.0.1:2".into() }),
        ]);
        Transport::new(2, 7, NodeKey::generate(), members, false).expect("transport")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::from_bytes(data) {
        let _ = env.to_bytes();
    }
    let _ = transport().open(data);
    let _ = postcard::from_bytes::<openraft::raft::VoteRequest<u64>>(data);
    let _ = postcard::from_bytes::<want_consensus::AdminCommand>(data);
});
