//! Keys, signatures, addresses, keystores, Merkle proofs and node identities of WANT chain.
//!
//! Accounts sign with secp256k1 (TRON-compatible addresses and keystores) or RSA 2048–4096;
//! nodes sign blocks and commit votes with Ed25519. Everything signed is a 32-byte digest from `want-types`.

pub mod bench;
pub mod error;
pub mod keystore;
pub mod merkle;
pub mod node_key;
pub mod rsa_keys;
pub mod secp;
pub mod tx_sign;
mod util;
pub mod vote;

pub use error::CryptoError;
pub use keystore::{
    decrypt_keystore, encrypt_keystore, read_keystore_file, write_keystore_file, KdfStrength,
    KeyMaterial,
};
pub use merkle::{leaf_hash, merkle_proof, merkle_root, verify_merkle_proof, MerkleProof};
pub use node_key::{sign_block, verify_block_signature, verify_ed25519, NodeKey};
pub use rsa_keys::{RsaPrivateKey, RSA_BITS_MAX, RSA_BITS_MIN};
pub use secp::{address_from_secp_pubkey, PrivateKey};
pub use tx_sign::{verify_transaction, SigningKey};
pub use util::keccak256;
pub use vote::{
    check_certificate, majority_of, sign_vote, verify_certificate, verify_vote, CertificateCheck,
    NotCounted,
};
