//! Node identities (Ed25519): block proposers sign block hashes with them.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey as DalekSigningKey, VerifyingKey};
use rand::rngs::OsRng;
use want_types::{Block, BlockHeader, SignedTransaction};
use zeroize::Zeroizing;

use crate::util::decode_hex_lenient;
use crate::CryptoError;

/// Length of an Ed25519 seed (private key), in bytes.
pub const ED25519_SEED_LEN: usize = 32;
/// Length of an Ed25519 public key, in bytes.
pub const ED25519_PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature, in bytes.
pub const ED25519_SIGNATURE_LEN: usize = 64;

/// A node's Ed25519 key. The seed is zeroized on drop and never printed by `Debug`.
#[derive(Clone)]
pub struct NodeKey {
    inner: DalekSigningKey,
}

impl NodeKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> NodeKey {
        NodeKey {
            inner: DalekSigningKey::generate(&mut OsRng),
        }
    }

    /// Imports a 32-byte seed as 64 hex digits (whitespace and `0x` prefix are ignored).
    pub fn from_hex(input: &str) -> Result<NodeKey, CryptoError> {
        let bytes = Zeroizing::new(
            decode_hex_lenient(input).map_err(|reason| CryptoError::InvalidNodeKey { reason })?,
        );
        let seed: Zeroizing<[u8; ED25519_SEED_LEN]> =
            Zeroizing::new(bytes.as_slice().try_into().map_err(|_| {
                CryptoError::InvalidNodeKey {
                    reason: format!("got {} bytes", bytes.len()),
                }
            })?);
        Ok(NodeKey {
            inner: DalekSigningKey::from_bytes(&seed),
        })
    }

    /// The seed as 64 lowercase hex digits (secret: handle with care).
    pub fn to_hex(&self) -> String {
        hex::encode(Zeroizing::new(self.inner.to_bytes()).as_ref())
    }

    /// The key as a PKCS#8 private key (RFC 5958 / RFC 8410, encoded by `ed25519-dalek`), the
    /// form TLS libraries load (secret: zeroized on drop).
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let doc = self
            .inner
            .to_pkcs8_der()
            .expect("invariant: an Ed25519 key always has a PKCS#8 encoding");
        Zeroizing::new(doc.as_bytes().to_vec())
    }

    pub fn public_key(&self) -> [u8; ED25519_PUBLIC_KEY_LEN] {
        self.inner.verifying_key().to_bytes()
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; ED25519_SIGNATURE_LEN] {
        self.inner.sign(msg).to_bytes()
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey")
            .field("public_key", &hex::encode(self.public_key()))
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Verifies an Ed25519 signature strictly (refuses weak keys and non-canonical signatures).
pub fn verify_ed25519(pubkey: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    let pk: &[u8; ED25519_PUBLIC_KEY_LEN] =
        pubkey
            .try_into()
            .map_err(|_| CryptoError::InvalidPublicKey {
                reason: format!(
                    "Ed25519 public key is {} bytes; expected {ED25519_PUBLIC_KEY_LEN}",
                    pubkey.len()
                ),
            })?;
    let sig: &[u8; ED25519_SIGNATURE_LEN] = sig.try_into().map_err(|_| {
        CryptoError::bad_signature(format!(
            "Ed25519 signature is {} bytes; expected {ED25519_SIGNATURE_LEN}",
            sig.len()
        ))
    })?;
    let key = VerifyingKey::from_bytes(pk).map_err(|_| CryptoError::InvalidPublicKey {
        reason: "not a valid Ed25519 curve point".into(),
    })?;
    key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
        .map_err(|_| CryptoError::bad_signature("Ed25519 signature does not verify"))
}

/// Builds a signed block: sets `header.proposer` to the key's public key and signs the header
/// hash. `tx_root` and `tx_count` are taken as given (the caller computes them from `txs`).
pub fn sign_block(mut header: BlockHeader, txs: Vec<SignedTransaction>, key: &NodeKey) -> Block {
    header.proposer = key.public_key().to_vec();
    let signature = key.sign(&header.hash().0).to_vec();
    Block {
        header,
        signature,
        txs,
    }
}

/// Checks that the block's signature is its proposer's Ed25519 signature over the block hash.
pub fn verify_block_signature(block: &Block) -> Result<(), CryptoError> {
    verify_ed25519(
        &block.header.proposer,
        &block.header.hash().0,
        &block.signature,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use want_types::Hash32;

    #[test]
    fn the_pkcs8_form_of_a_node_key_reads_back_as_the_same_key() {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let key = NodeKey::generate();
        let der = key.to_pkcs8_der();
        let read = DalekSigningKey::from_pkcs8_der(&der).expect("valid PKCS#8");
        assert_eq!(read.verifying_key().to_bytes(), key.public_key());
    }

    fn header() -> BlockHeader {
        BlockHeader {
            chain_id: 1,
            height: 5,
            prev_hash: Hash32([7; 32]),
            timestamp_ms: 1_700_000_000_000,
            tx_root: want_types::merkle::merkle_root(&[]),
            tx_count: 0,
            parent_state_root: Hash32([9; 32]),
            proposer: vec![],
        }
    }

    #[test]
    fn rfc_8032_test_vector_1_matches() {
        // RFC 8032 §7.1, TEST 1 (empty message).
        let key =
            NodeKey::from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap();
        assert_eq!(
            hex::encode(key.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig = key.sign(b"");
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        verify_ed25519(&key.public_key(), b"", &sig).unwrap();
    }

    #[test]
    fn hex_round_trip_and_debug_hides_the_seed() {
        let key = NodeKey::generate();
        let back = NodeKey::from_hex(&format!(" 0x{}\n", key.to_hex())).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert!(!format!("{key:?}").contains(&key.to_hex()));
        let err = NodeKey::from_hex("abcd").unwrap_err();
        assert!(matches!(err, CryptoError::InvalidNodeKey { .. }), "{err}");
        assert!(err.to_string().contains("got 2 bytes"), "{err}");
    }

    #[test]
    fn wrong_lengths_and_wrong_messages_are_refused() {
        let key = NodeKey::generate();
        let sig = key.sign(b"msg");
        let err = verify_ed25519(&key.public_key()[..31], b"msg", &sig).unwrap_err();
        assert!(matches!(err, CryptoError::InvalidPublicKey { .. }), "{err}");
        let err = verify_ed25519(&key.public_key(), b"msg", &sig[..63]).unwrap_err();
        assert!(err.to_string().contains("63 bytes"), "{err}");
        let err = verify_ed25519(&key.public_key(), b"other", &sig).unwrap_err();
        assert!(matches!(err, CryptoError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn signed_block_verifies_and_names_its_proposer() {
        let key = NodeKey::generate();
        let block = sign_block(header(), vec![], &key);
        assert_eq!(block.header.proposer, key.public_key().to_vec());
        verify_block_signature(&block).unwrap();
    }

    #[test]
    fn altered_block_header_or_proposer_fails_verification() {
        let key = NodeKey::generate();
        let block = sign_block(header(), vec![], &key);
        let mut later = block.clone();
        later.header.height += 1;
        let err = verify_block_signature(&later).unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
        let mut impostor = block;
        impostor.header.proposer = NodeKey::generate().public_key().to_vec();
        let err = verify_block_signature(&impostor).unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
    }

    mod parsers {
        use super::super::*;
        use crate::fuzz_inputs::mutated;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn any_text_is_a_node_key_or_refused(s in "\\PC{0,80}") {
                match NodeKey::from_hex(&s) {
                    Ok(k) => prop_assert_eq!(NodeKey::from_hex(&k.to_hex()).unwrap().public_key(), k.public_key()),
                    Err(e) => prop_assert!(matches!(e, CryptoError::InvalidNodeKey { .. }), "{}", e),
                }
            }

            #[test]
            fn node_keys_round_trip_and_mutations_parse_or_are_refused(
                seed in any::<[u8; 32]>(),
                m in mutated(any::<[u8; 32]>().prop_map(hex::encode)),
            ) {
                let k = NodeKey::from_hex(&hex::encode(seed)).unwrap();
                prop_assert_eq!(k.to_hex(), hex::encode(seed));
                if let Ok(k) = NodeKey::from_hex(&m) {
                    prop_assert_eq!(k.to_hex(), crate::fuzz_inputs::lenient_hex(&m));
                }
            }

            #[test]
            fn ed25519_verification_of_any_bytes_never_panics(
                pk in proptest::collection::vec(any::<u8>(), 0..40),
                msg in proptest::collection::vec(any::<u8>(), 0..40),
                sig in proptest::collection::vec(any::<u8>(), 0..70),
            ) {
                prop_assert!(verify_ed25519(&pk, &msg, &sig).is_err());
            }

            #[test]
            fn a_mutated_ed25519_signature_or_key_is_refused(
                seed in any::<[u8; 32]>(),
                msg in proptest::collection::vec(any::<u8>(), 0..40),
                which: bool,
                m in any::<prop::sample::Index>(),
                bit in 0u8..8,
            ) {
                let k = NodeKey::from_hex(&hex::encode(seed)).unwrap();
                let mut pk = k.public_key().to_vec();
                let mut sig = k.sign(&msg).to_vec();
                prop_assert!(verify_ed25519(&pk, &msg, &sig).is_ok());
                let target = if which { &mut pk } else { &mut sig };
                let i = m.index(target.len());
                target[i] ^= 1 << bit;
                prop_assert!(verify_ed25519(&pk, &msg, &sig).is_err());
            }
        }
    }
}
