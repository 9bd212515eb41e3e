//! Untrusted transaction bytes: canonical borsh (blocks, the mempool journal) and JSON (the HTTP
//! API, `want tx send`). Decoding must never panic; whatever decodes must verify (or be refused)
//! without panicking and must re-encode to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use want_types::SignedTransaction;

fn check(stx: &SignedTransaction) {
    // Must not panic, whatever the signature bytes are.
    if let Ok((id, _sender)) = want_crypto::verify_transaction(stx) {
        assert_eq!(id, stx.id());
    }
    // Canonical bytes decode back to the same transaction.
    let bytes = stx.to_bytes();
    let again = SignedTransaction::from_bytes(&bytes).expect("own encoding decodes");
    assert_eq!(&again, stx);
    // JSON round trip.
    let json = serde_json::to_string(stx).expect("a transaction serialises to JSON");
    let again: SignedTransaction = serde_json::from_str(&json).expect("own JSON decodes");
    assert_eq!(&again, stx);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(stx) = SignedTransaction::from_bytes(data) {
        // The borsh encoding is canonical: accepted bytes are exactly the re-encoding.
        assert_eq!(stx.to_bytes(), data, "non-canonical encoding accepted");
        check(&stx);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(stx) = serde_json::from_str::<SignedTransaction>(text) {
            check(&stx);
        }
    }
});
