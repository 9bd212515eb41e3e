//! Keys, signatures, addresses, keystores, Merkle proofs and node identities of WANT chain.
//!
//! Accounts sign with secp256k1 (TRON-compatible addresses and keystores) or RSA 2048–4096;
//! nodes sign blocks and commit votes with Ed25519. Everything signed is a 32-byte digest from `want-types`.

pub mod bench;
/// IPFS CIDv1 (raw, sha2-256, base32 lower) of content: making, parsing and checking them.
pub mod cid;
/// ECIES on secp256k1, interoperable with `eciespy` / `eciesjs` defaults.
pub mod ecies;
pub mod error;
/// Test-only input strategies, shared with want-types.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../want-types/src/fuzz_inputs.rs"]
pub(crate) mod fuzz_inputs;
pub mod keystore;
pub mod node_key;
pub mod rsa_keys;
/// Sealed records: AES-256-GCM under a fresh record key, the key wrapped per reader with ECIES.
pub mod sealed;
pub mod secp;
pub mod tx_sign;
mod util;
pub mod vote;

pub use crate::cid::{cid_matches, cid_of, parse_cid, ParsedCid};
pub use crate::ecies::{ecies_decrypt, ecies_encrypt};
pub use error::CryptoError;
pub use keystore::{
    decrypt_keystore, encrypt_keystore, read_keystore_file, write_keystore_file, KdfStrength,
    KeyMaterial,
};
pub use node_key::{sign_block, verify_block_signature, verify_ed25519, NodeKey};
pub use rsa_keys::{RsaPrivateKey, RSA_BITS_MAX, RSA_BITS_MIN};
pub use sealed::{open_sealed, seal, unwrap_key, wrap_key, RecordKey, SEALED_PLAINTEXT_BYTES_MAX};
pub use secp::{address_from_secp_pubkey, parse_public_key_hex, PrivateKey};
/// The secp256k1 public key type taken by [`ecies_encrypt`] and [`wrap_key`].
pub use secp256k1::PublicKey as SecpPublicKey;
pub use tx_sign::{verify_signature, verify_transaction, SigningKey};
pub use util::keccak256;
pub use vote::{
    check_certificate, majority_of, sign_vote, verify_certificate, verify_vote, CertificateCheck,
    NotCounted,
};
pub use want_types::merkle::{
    self, leaf_hash, merkle_proof, merkle_root, verify_merkle_proof, MerkleProof,
};
