//! ECIES on secp256k1, byte-compatible with PyPI `eciespy` and npm `eciesjs` at their default
//! settings (the `ecies` crate, pure-Rust backend).
//!
//! Ciphertext layout: ephemeral public key, uncompressed (65 bytes) ‖ AES-256-GCM nonce (16 bytes)
//! ‖ tag (16 bytes) ‖ encrypted bytes. The AES key is HKDF-SHA256 of the ephemeral public key ‖
//! the uncompressed shared point. These are the `ecies` crate's defaults; nothing in WANT chain may
//! call `ecies::config::update_config`, which would change them process-wide.

use secp256k1::PublicKey;

use crate::secp::{PrivateKey, PUBLIC_KEY_UNCOMPRESSED_LEN};
use crate::CryptoError;

/// Length of the AES-256-GCM nonce in an ECIES ciphertext, in bytes.
pub const ECIES_NONCE_LEN: usize = 16;
/// Length of the AES-256-GCM tag in an ECIES ciphertext, in bytes.
pub const ECIES_TAG_LEN: usize = 16;
/// Bytes an ECIES ciphertext has beyond its plaintext: ephemeral key, nonce and tag.
pub const ECIES_OVERHEAD_BYTES: usize =
    PUBLIC_KEY_UNCOMPRESSED_LEN + ECIES_NONCE_LEN + ECIES_TAG_LEN;
/// Largest plaintext `ecies_encrypt` accepts, in bytes (1 MiB). ECIES carries keys and short
/// messages; bulk data goes in a sealed record (see [`crate::sealed`]).
pub const ECIES_PLAINTEXT_BYTES_MAX: usize = 1024 * 1024;
/// Largest ciphertext `ecies_decrypt` accepts, in bytes.
pub const ECIES_CIPHERTEXT_BYTES_MAX: usize = ECIES_PLAINTEXT_BYTES_MAX + ECIES_OVERHEAD_BYTES;

/// Encrypts `plaintext` to `recipient`; only the holder of the matching private key can decrypt.
/// Each call uses a fresh ephemeral key and nonce, so equal plaintexts give different ciphertexts.
pub fn ecies_encrypt(recipient: &PublicKey, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if plaintext.len() > ECIES_PLAINTEXT_BYTES_MAX {
        return Err(CryptoError::TooLarge {
            what: "ECIES plaintext",
            len: plaintext.len(),
            max: ECIES_PLAINTEXT_BYTES_MAX,
        });
    }
    ecies::encrypt(&recipient.serialize_uncompressed(), plaintext).map_err(|e| {
        CryptoError::EciesEncrypt {
            reason: e.to_string(),
        }
    })
}

/// Decrypts a ciphertext made by [`ecies_encrypt`], `eciespy` or `eciesjs` for `key`. A wrong key,
/// an altered or truncated ciphertext gives [`CryptoError::EciesDecrypt`], never a panic.
pub fn ecies_decrypt(key: &PrivateKey, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if ciphertext.len() > ECIES_CIPHERTEXT_BYTES_MAX {
        return Err(CryptoError::TooLarge {
            what: "ECIES ciphertext",
            len: ciphertext.len(),
            max: ECIES_CIPHERTEXT_BYTES_MAX,
        });
    }
    if ciphertext.len() < ECIES_OVERHEAD_BYTES {
        return Err(CryptoError::EciesDecrypt {
            reason: format!(
                "{} bytes is shorter than the {ECIES_OVERHEAD_BYTES} bytes of ephemeral key, nonce and tag",
                ciphertext.len()
            ),
        });
    }
    ecies::decrypt(key.as_bytes(), ciphertext).map_err(|e| CryptoError::EciesDecrypt {
        // The `ecies` error says which step failed: "Invalid public key" (the ephemeral key is
        // not a curve point) or "Invalid message" (the AES-GCM tag does not verify).
        reason: e.to_string().to_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secp::parse_public_key_hex;
    use proptest::prelude::*;

    const VECTOR_PRIVATE_KEY: &str =
        "e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35";
    const VECTOR_PUBLIC_KEY: &str =
        "0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2";

    fn vector_key() -> PrivateKey {
        PrivateKey::from_hex(VECTOR_PRIVATE_KEY).unwrap()
    }

    #[test]
    fn decrypts_a_ciphertext_made_by_eciespy() {
        // Made with PyPI eciespy 0.4.7 (coincurve 21.0.0), default config:
        //   from ecies import encrypt
        //   encrypt("0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2",
        //           b"WANT chain ECIES interop vector from eciespy").hex()
        let ciphertext = hex::decode(
            "04e067f16937949afdd8f440b1a8ff67a5b97faa16fcf6e69964b2fe9ee79d55dbaef632b066fb304cc6\
             97f8279deb9fb4c38ae5471bb3ff8ee2013e86fb633f9e8e332430529eecf28e0a0838145d4db060b70e\
             c245e19d6435c015fa83af09b4d15d6acdb6edcc2cd952966d61792fadb562bf603844bb6da49665b5a0\
             241a816fa70de288d452fe89c64247",
        )
        .unwrap();
        assert_eq!(
            ecies_decrypt(&vector_key(), &ciphertext).unwrap(),
            b"WANT chain ECIES interop vector from eciespy"
        );
    }

    #[test]
    fn ciphertext_made_here_is_the_one_eciespy_decrypted() {
        // Made by `ecies_encrypt(parse_public_key_hex(VECTOR_PUBLIC_KEY), …)` in this crate, and
        // decrypted by PyPI eciespy 0.4.7 to the same plaintext:
        //   from ecies import decrypt
        //   decrypt("e8f32e72…8436b35", bytes.fromhex(RUST_MADE_CIPHERTEXT))
        let ciphertext = hex::decode(RUST_MADE_CIPHERTEXT).unwrap();
        assert_eq!(
            ecies_decrypt(&vector_key(), &ciphertext).unwrap(),
            b"WANT chain ECIES interop vector from Rust"
        );
    }

    const RUST_MADE_CIPHERTEXT: &str = concat!(
        "048acd6b83c319cfcdf416c024f511610b1649cb6d07dea55a0b38f3c4377941ececcaa0c60bc778cb9e",
        "3b9f0adab56a310a2ee35e4ca4d20d1815cef00f8dbeee582c56e9052c713ea0965c2f4da0d88bd40e76",
        "2efe3f2cdfc68111b2790fd5dea3c0870e3859fbe48464a274f3f7383c8cb55bfd8e1dcad610a7b7271d",
        "b5f8781ea6ef598811991932"
    );

    #[test]
    fn round_trips_to_a_compressed_hex_public_key() {
        let recipient = parse_public_key_hex(VECTOR_PUBLIC_KEY).unwrap();
        let ciphertext = ecies_encrypt(&recipient, b"lot 7 cold chain log").unwrap();
        assert_eq!(ciphertext.len(), 20 + ECIES_OVERHEAD_BYTES);
        assert_eq!(ciphertext[0], 0x04, "ephemeral key is uncompressed");
        assert_eq!(
            ecies_decrypt(&vector_key(), &ciphertext).unwrap(),
            b"lot 7 cold chain log"
        );
    }

    #[test]
    fn wrong_key_is_an_error() {
        let ciphertext = ecies_encrypt(&vector_key().public_key(), b"x").unwrap();
        let err = ecies_decrypt(&PrivateKey::generate(), &ciphertext).unwrap_err();
        assert!(matches!(err, CryptoError::EciesDecrypt { .. }), "{err}");
    }

    #[test]
    fn tampered_and_truncated_ciphertexts_are_errors() {
        let key = vector_key();
        let ciphertext = ecies_encrypt(&key.public_key(), b"payload").unwrap();
        for i in [0, 1, 64, 65, 80, 81, 96, 97, ciphertext.len() - 1] {
            let mut bad = ciphertext.clone();
            bad[i] ^= 0x01;
            assert!(ecies_decrypt(&key, &bad).is_err(), "flip at byte {i}");
        }
        for len in [0, 1, 33, 65, ECIES_OVERHEAD_BYTES - 1, ciphertext.len() - 1] {
            let err = ecies_decrypt(&key, &ciphertext[..len]).unwrap_err();
            assert!(matches!(err, CryptoError::EciesDecrypt { .. }), "{err}");
        }
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let key = vector_key();
        let ciphertext = ecies_encrypt(&key.public_key(), b"").unwrap();
        assert_eq!(ciphertext.len(), ECIES_OVERHEAD_BYTES);
        assert_eq!(ecies_decrypt(&key, &ciphertext).unwrap(), b"");
    }

    #[test]
    fn oversize_input_is_refused() {
        let key = vector_key();
        let big = vec![0u8; ECIES_PLAINTEXT_BYTES_MAX + 1];
        let err = ecies_encrypt(&key.public_key(), &big).unwrap_err();
        assert!(matches!(err, CryptoError::TooLarge { .. }), "{err}");
        let big = vec![0u8; ECIES_CIPHERTEXT_BYTES_MAX + 1];
        let err = ecies_decrypt(&key, &big).unwrap_err();
        assert!(matches!(err, CryptoError::TooLarge { .. }), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn any_plaintext_round_trips(plaintext in proptest::collection::vec(any::<u8>(), 0..512)) {
            let key = vector_key();
            let ciphertext = ecies_encrypt(&key.public_key(), &plaintext).unwrap();
            prop_assert_eq!(ciphertext.len(), plaintext.len() + ECIES_OVERHEAD_BYTES);
            prop_assert_eq!(ecies_decrypt(&key, &ciphertext).unwrap(), plaintext);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            prop_assert!(ecies_decrypt(&vector_key(), &bytes).is_err());
        }
    }
}
