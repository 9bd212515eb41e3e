//! Sealed records: bytes encrypted with AES-256-GCM under a fresh 32-byte record key, and that key
//! wrapped (ECIES) for each reader.
//!
//! Sealed format, version 1:
//!
//! | bytes | content |
//! | --- | --- |
//! | 8 | magic `WANTSEAL` |
//! | 1 | format version (1) |
//! | 12 | random nonce |
//! | n + 16 | AES-256-GCM ciphertext of the n plaintext bytes ‖ 16-byte tag |
//!
//! The 9 header bytes (magic ‖ version) are authenticated as associated data, so a record cannot be
//! relabelled with another version without failing to open.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::{CryptoRng, RngCore};
use secp256k1::PublicKey;
use zeroize::{Zeroize, Zeroizing};

use crate::ecies::{ecies_decrypt, ecies_encrypt};
use crate::secp::PrivateKey;
use crate::CryptoError;

/// Magic bytes every sealed record starts with.
pub const SEALED_MAGIC: &[u8; 8] = b"WANTSEAL";
/// The sealed format version this build writes and reads.
pub const SEALED_VERSION: u8 = 1;
/// Length of the header: magic ‖ version, in bytes.
pub const SEALED_HEADER_LEN: usize = SEALED_MAGIC.len() + 1;
/// Length of the AES-256-GCM nonce, in bytes.
pub const SEALED_NONCE_LEN: usize = 12;
/// Length of the AES-256-GCM tag, in bytes.
pub const SEALED_TAG_LEN: usize = 16;
/// Bytes a sealed record has beyond its plaintext: header, nonce and tag.
pub const SEALED_OVERHEAD_BYTES: usize = SEALED_HEADER_LEN + SEALED_NONCE_LEN + SEALED_TAG_LEN;
/// Largest plaintext that can be sealed, in bytes (8 MiB).
pub const SEALED_PLAINTEXT_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Largest sealed record `open_sealed` accepts, in bytes.
pub const SEALED_BYTES_MAX: usize = SEALED_PLAINTEXT_BYTES_MAX + SEALED_OVERHEAD_BYTES;
/// Length of a record key, in bytes.
pub const RECORD_KEY_LEN: usize = 32;

/// A 32-byte AES-256-GCM key for one record. Zeroized on drop; `Debug` never shows it.
pub struct RecordKey([u8; RECORD_KEY_LEN]);

impl RecordKey {
    /// A fresh key from `rng` (pass `rand::rngs::OsRng` outside tests).
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> RecordKey {
        let mut key = RecordKey([0u8; RECORD_KEY_LEN]);
        rng.fill_bytes(&mut key.0);
        key
    }

    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; RECORD_KEY_LEN]) -> RecordKey {
        RecordKey(bytes)
    }

    /// The raw 32 bytes (secret: handle with care).
    pub fn as_bytes(&self) -> &[u8; RECORD_KEY_LEN] {
        &self.0
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0))
    }
}

impl Drop for RecordKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordKey(<redacted>)")
    }
}

fn header() -> [u8; SEALED_HEADER_LEN] {
    let mut h = [0u8; SEALED_HEADER_LEN];
    h[..SEALED_MAGIC.len()].copy_from_slice(SEALED_MAGIC);
    h[SEALED_MAGIC.len()] = SEALED_VERSION;
    h
}

/// Encrypts `plaintext` under `key` with a random nonce from `rng`, in the sealed format above.
/// Refuses plaintexts over [`SEALED_PLAINTEXT_BYTES_MAX`].
pub fn seal(
    key: &RecordKey,
    plaintext: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>, CryptoError> {
    if plaintext.len() > SEALED_PLAINTEXT_BYTES_MAX {
        return Err(CryptoError::TooLarge {
            what: "plaintext to seal",
            len: plaintext.len(),
            max: SEALED_PLAINTEXT_BYTES_MAX,
        });
    }
    let header = header();
    let mut nonce = [0u8; SEALED_NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let ciphertext = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &header,
            },
        )
        .expect("invariant: AES-GCM encryption fails only above 2^36 bytes, far over SEALED_PLAINTEXT_BYTES_MAX");
    let mut out = Vec::with_capacity(SEALED_HEADER_LEN + SEALED_NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens a record made by [`seal`]. Each way it can fail has its own error: too large, truncated,
/// bad magic, unsupported version, and authentication failure (wrong key or altered bytes).
pub fn open_sealed(key: &RecordKey, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() > SEALED_BYTES_MAX {
        return Err(CryptoError::TooLarge {
            what: "sealed record",
            len: sealed.len(),
            max: SEALED_BYTES_MAX,
        });
    }
    // Magic and version are checked first (when present) so that a file of another kind is
    // reported as such rather than as truncated.
    let magic_len = SEALED_MAGIC.len().min(sealed.len());
    if sealed[..magic_len] != SEALED_MAGIC[..magic_len] {
        return Err(CryptoError::SealedBadMagic);
    }
    if let Some(&version) = sealed.get(SEALED_MAGIC.len()) {
        if version != SEALED_VERSION {
            return Err(CryptoError::SealedUnsupportedVersion {
                version,
                supported: SEALED_VERSION,
            });
        }
    }
    if sealed.len() < SEALED_OVERHEAD_BYTES {
        return Err(CryptoError::SealedTruncated {
            len: sealed.len(),
            min: SEALED_OVERHEAD_BYTES,
        });
    }
    let (header, rest) = sealed.split_at(SEALED_HEADER_LEN);
    let (nonce, ciphertext) = rest.split_at(SEALED_NONCE_LEN);
    key.cipher()
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: header,
            },
        )
        .map_err(|_| CryptoError::SealedAuthFailed)
}

/// Wraps `key` for `recipient`: the ECIES encryption of its 32 bytes (see [`crate::ecies`]).
pub fn wrap_key(recipient: &PublicKey, key: &RecordKey) -> Result<Vec<u8>, CryptoError> {
    ecies_encrypt(recipient, key.as_bytes())
}

/// Unwraps a record key wrapped for `private_key` by [`wrap_key`] (or by any ECIES implementation
/// compatible with `eciespy` encrypting 32 bytes).
pub fn unwrap_key(private_key: &PrivateKey, wrapped: &[u8]) -> Result<RecordKey, CryptoError> {
    let bytes = Zeroizing::new(ecies_decrypt(private_key, wrapped)?);
    let raw: [u8; RECORD_KEY_LEN] =
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::InvalidRecordKey {
                reason: format!("the wrapped key decrypts to {} bytes", bytes.len()),
            })?;
    Ok(RecordKey(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::OsRng;
    use rand::{CryptoRng, RngCore, SeedableRng};

    fn test_key() -> RecordKey {
        RecordKey::from_bytes([7u8; RECORD_KEY_LEN])
    }

    #[test]
    fn sealed_record_opens_with_its_key_and_has_the_documented_layout() {
        let key = RecordKey::generate(&mut OsRng);
        let sealed = seal(&key, b"pallet 42: 12 crates", &mut OsRng).unwrap();
        assert_eq!(&sealed[..8], b"WANTSEAL");
        assert_eq!(sealed[8], 1);
        assert_eq!(sealed.len(), 20 + SEALED_OVERHEAD_BYTES);
        assert_eq!(open_sealed(&key, &sealed).unwrap(), b"pallet 42: 12 crates");
    }

    #[test]
    fn sealed_record_matches_an_independent_aes_gcm_implementation() {
        // Pins the format: key 0x07 × 32, nonce 00 01 … 0b, plaintext "WANT", AAD = header.
        // Ciphertext ‖ tag from Python pycryptodome 4.4.0 (installed with eciespy 0.4.7):
        //   c = AES.new(bytes([7] * 32), AES.MODE_GCM, nonce=bytes(range(12)))
        //   c.update(b"WANTSEAL\x01"); ct, tag = c.encrypt_and_digest(b"WANT"); (ct + tag).hex()
        let nonce: Vec<u8> = (0u8..12).collect();
        let sealed = [
            &b"WANTSEAL\x01"[..],
            &nonce,
            &hex::decode("4fc0a7245d0646a6c175f6ca0097840ef257629a").unwrap(),
        ]
        .concat();
        assert_eq!(open_sealed(&test_key(), &sealed).unwrap(), b"WANT");

        struct Fixed(Vec<u8>);
        impl RngCore for Fixed {
            fn next_u32(&mut self) -> u32 {
                unimplemented!("seal draws only the nonce bytes")
            }
            fn next_u64(&mut self) -> u64 {
                unimplemented!("seal draws only the nonce bytes")
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                dest.copy_from_slice(&self.0[..dest.len()]);
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
                self.fill_bytes(dest);
                Ok(())
            }
        }
        impl CryptoRng for Fixed {}
        assert_eq!(
            seal(&test_key(), b"WANT", &mut Fixed(nonce)).unwrap(),
            sealed
        );
    }

    #[test]
    fn sealing_twice_gives_different_records() {
        let key = test_key();
        let a = seal(&key, b"same", &mut OsRng).unwrap();
        let b = seal(&key, b"same", &mut OsRng).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn opening_with_another_key_fails_authentication() {
        let sealed = seal(&test_key(), b"secret", &mut OsRng).unwrap();
        let other = RecordKey::generate(&mut OsRng);
        assert!(matches!(
            open_sealed(&other, &sealed),
            Err(CryptoError::SealedAuthFailed)
        ));
    }

    #[test]
    fn each_malformation_has_its_own_error() {
        let key = test_key();
        let sealed = seal(&key, b"x", &mut OsRng).unwrap();

        let mut bad_magic = sealed.clone();
        bad_magic[0] = b'X';
        let err = open_sealed(&key, &bad_magic).unwrap_err();
        assert!(matches!(err, CryptoError::SealedBadMagic), "{err}");
        assert!(err.to_string().contains("magic"), "{err}");

        let mut bad_version = sealed.clone();
        bad_version[8] = 2;
        let err = open_sealed(&key, &bad_version).unwrap_err();
        assert!(
            matches!(
                err,
                CryptoError::SealedUnsupportedVersion { version: 2, .. }
            ),
            "{err}"
        );

        let err = open_sealed(&key, &sealed[..SEALED_OVERHEAD_BYTES - 1]).unwrap_err();
        assert!(matches!(err, CryptoError::SealedTruncated { .. }), "{err}");

        let err = open_sealed(&key, b"").unwrap_err();
        assert!(
            matches!(err, CryptoError::SealedTruncated { len: 0, .. }),
            "{err}"
        );

        let err = open_sealed(&key, b"PK\x03\x04 a zip file").unwrap_err();
        assert!(matches!(err, CryptoError::SealedBadMagic), "{err}");

        let mut bad_tag = sealed.clone();
        *bad_tag.last_mut().unwrap() ^= 1;
        let err = open_sealed(&key, &bad_tag).unwrap_err();
        assert!(matches!(err, CryptoError::SealedAuthFailed), "{err}");
    }

    #[test]
    fn oversize_plaintext_is_refused() {
        let big = vec![0u8; SEALED_PLAINTEXT_BYTES_MAX + 1];
        let err = seal(&test_key(), &big, &mut OsRng).unwrap_err();
        assert!(matches!(err, CryptoError::TooLarge { .. }), "{err}");
        let mut too_long = header().to_vec();
        too_long.resize(SEALED_BYTES_MAX + 1, 0);
        let err = open_sealed(&test_key(), &too_long).unwrap_err();
        assert!(matches!(err, CryptoError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn largest_plaintext_round_trips() {
        let big = vec![0xa5u8; SEALED_PLAINTEXT_BYTES_MAX];
        let sealed = seal(&test_key(), &big, &mut OsRng).unwrap();
        assert_eq!(sealed.len(), SEALED_BYTES_MAX);
        assert_eq!(open_sealed(&test_key(), &sealed).unwrap(), big);
    }

    #[test]
    fn wrapped_key_unwraps_only_with_the_recipients_private_key() {
        let reader = PrivateKey::generate();
        let stranger = PrivateKey::generate();
        let key = RecordKey::generate(&mut OsRng);
        let wrapped = wrap_key(&reader.public_key(), &key).unwrap();
        assert_eq!(
            unwrap_key(&reader, &wrapped).unwrap().as_bytes(),
            key.as_bytes()
        );
        assert!(matches!(
            unwrap_key(&stranger, &wrapped),
            Err(CryptoError::EciesDecrypt { .. })
        ));
    }

    #[test]
    fn unwrapping_a_payload_that_is_not_32_bytes_is_refused() {
        let reader = PrivateKey::generate();
        let wrapped = ecies_encrypt(&reader.public_key(), &[1u8; 31]).unwrap();
        let err = unwrap_key(&reader, &wrapped).unwrap_err();
        assert!(matches!(err, CryptoError::InvalidRecordKey { .. }), "{err}");
        assert!(err.to_string().contains("31 bytes"), "{err}");
    }

    #[test]
    fn record_key_debug_is_redacted() {
        let shown = format!("{:?}", test_key());
        assert_eq!(shown, "RecordKey(<redacted>)");
    }

    proptest! {
        #[test]
        fn any_plaintext_round_trips(plaintext in proptest::collection::vec(any::<u8>(), 0..4096), seed: u64) {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let key = RecordKey::generate(&mut rng);
            let sealed = seal(&key, &plaintext, &mut rng).unwrap();
            prop_assert_eq!(sealed.len(), plaintext.len() + SEALED_OVERHEAD_BYTES);
            prop_assert_eq!(open_sealed(&key, &sealed).unwrap(), plaintext);
        }

        #[test]
        fn any_flipped_bit_is_detected(plaintext in proptest::collection::vec(any::<u8>(), 0..256), index: prop::sample::Index, bit in 0u8..8) {
            let key = test_key();
            let mut sealed = seal(&key, &plaintext, &mut OsRng).unwrap();
            let i = index.index(sealed.len());
            sealed[i] ^= 1 << bit;
            prop_assert!(open_sealed(&key, &sealed).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = open_sealed(&test_key(), &bytes);
            let mut with_header = header().to_vec();
            with_header.extend_from_slice(&bytes);
            prop_assert!(open_sealed(&test_key(), &with_header).is_err());
        }
    }
}
