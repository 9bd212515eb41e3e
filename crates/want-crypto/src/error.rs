//! The error enum of this crate.

use std::path::PathBuf;

/// Everything that can go wrong with keys, signatures, keystores and node identities.
///
/// Each message says what is wrong and, where the caller can act, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("invalid private key: {reason}; expected 32 bytes (64 hex digits) encoding a secp256k1 scalar in 1..n-1")]
    InvalidPrivateKey { reason: String },

    #[error("invalid node key: {reason}; expected a 32-byte Ed25519 seed as 64 hex digits")]
    InvalidNodeKey { reason: String },

    #[error("invalid public key: {reason}")]
    InvalidPublicKey { reason: String },

    #[error("bad signature: {reason}")]
    BadSignature { reason: String },

    #[error("RSA key of {bits} bits is refused: use a key of {min} to {max} bits")]
    RsaKeySize { bits: usize, min: usize, max: usize },

    #[error("invalid RSA key: {reason}")]
    InvalidRsaKey { reason: String },

    #[error("wrong password for keystore {keystore}: the MAC does not match; try again with the password the keystore was created with")]
    WrongPassword { keystore: String },

    #[error("corrupt keystore: field `{field}` {reason}; the file is not a usable Web3 Secret Storage v3 keystore (restore it from a backup)")]
    CorruptKeystore { field: String, reason: String },

    #[error("keystore file {path}: {source}; check that the path exists and is readable/writable")]
    KeystoreIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("block proposer field does not match the signing node key: {reason}")]
    ProposerMismatch { reason: String },

    #[error("the commit certificate of block {height} does not hold: {reason}")]
    CertificateInvalid { height: u64, reason: String },

    #[error("{what} of {len} bytes is refused: the limit is {max} bytes")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },

    #[error("ECIES encryption failed: {reason}")]
    EciesEncrypt { reason: String },

    #[error("ECIES decryption failed: {reason}; the ciphertext was not made for this key, or was altered or truncated")]
    EciesDecrypt { reason: String },

    #[error("not a sealed record: it does not start with the magic bytes `WANTSEAL`")]
    SealedBadMagic,

    #[error("sealed record of format version {version} is not supported: this build reads version {supported}")]
    SealedUnsupportedVersion { version: u8, supported: u8 },

    #[error("sealed record of {len} bytes is truncated: a sealed record has at least {min} bytes (header, nonce and tag)")]
    SealedTruncated { len: usize, min: usize },

    #[error("sealed record does not authenticate: wrong record key, or the record was altered")]
    SealedAuthFailed,

    #[error("invalid record key: {reason}; a record key is 32 bytes")]
    InvalidRecordKey { reason: String },

    #[error("invalid CID `{cid}`: {reason}")]
    InvalidCid { cid: String, reason: String },
}

impl CryptoError {
    pub(crate) fn bad_signature(reason: impl Into<String>) -> Self {
        CryptoError::BadSignature {
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CryptoError::CorruptKeystore {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
