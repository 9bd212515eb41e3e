//! RSA account keys (2048–4096 bits): PKCS#8 import/export, PKCS#1 v1.5 signatures with SHA-256
//! over the transaction id, and TRON-style addresses from the PKCS#1 DER public key.

use std::fmt;

use rand::rngs::OsRng;
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};
use want_types::{Address, Hash32};
use zeroize::Zeroizing;

use crate::util::address_from_keccak_of;
use crate::CryptoError;

/// Smallest RSA modulus accepted, in bits.
pub const RSA_BITS_MIN: usize = 2048;
/// Largest RSA modulus accepted, in bits (also the `rsa` crate's parsing limit).
pub const RSA_BITS_MAX: usize = 4096;
/// Largest PKCS#1 DER public key accepted in a signature, in bytes (a 4096-bit key is ~526).
pub const RSA_PUBLIC_KEY_DER_MAX_BYTES: usize = 1024;

/// An RSA private key for signing transactions. Zeroized on drop by the `rsa` crate.
#[derive(Clone)]
pub struct RsaPrivateKey {
    // Boxed: the key is ~350 bytes and lives inside `SigningKey` next to 32-byte keys.
    inner: Box<rsa::RsaPrivateKey>,
}

fn check_bits(bits: usize) -> Result<(), CryptoError> {
    if (RSA_BITS_MIN..=RSA_BITS_MAX).contains(&bits) {
        Ok(())
    } else {
        Err(CryptoError::RsaKeySize {
            bits,
            min: RSA_BITS_MIN,
            max: RSA_BITS_MAX,
        })
    }
}

/// SHA-256 of the transaction id: the value RSA PKCS#1 v1.5 signs.
fn rsa_message_digest(digest: &Hash32) -> [u8; 32] {
    Sha256::digest(digest.0).into()
}

impl RsaPrivateKey {
    /// Generates a key of `bits` bits (2048..=4096). Takes seconds; longer for 4096 bits.
    pub fn generate(bits: usize) -> Result<RsaPrivateKey, CryptoError> {
        check_bits(bits)?;
        let inner =
            rsa::RsaPrivateKey::new(&mut OsRng, bits).map_err(|e| CryptoError::InvalidRsaKey {
                reason: format!("key generation failed: {e}"),
            })?;
        Ok(RsaPrivateKey {
            inner: Box::new(inner),
        })
    }

    /// The key as PKCS#8 DER (secret: handle with care).
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let doc = self
            .inner
            .to_pkcs8_der()
            .expect("invariant: a valid in-memory RSA key always encodes as PKCS#8");
        Zeroizing::new(doc.as_bytes().to_vec())
    }

    /// Imports a PKCS#8 DER private key; refuses keys outside 2048–4096 bits.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<RsaPrivateKey, CryptoError> {
        let inner =
            rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|e| CryptoError::InvalidRsaKey {
                reason: format!("not a PKCS#8 DER RSA private key ({e})"),
            })?;
        check_bits(inner.n().bits())?;
        Ok(RsaPrivateKey {
            inner: Box::new(inner),
        })
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.inner.n().bits()
    }

    /// The public key as PKCS#1 DER (`RSAPublicKey ::= SEQUENCE { n, e }`).
    pub fn public_key_pkcs1_der(&self) -> Vec<u8> {
        self.inner
            .to_public_key()
            .to_pkcs1_der()
            .expect("invariant: a valid in-memory RSA public key always encodes as PKCS#1")
            .into_vec()
    }

    /// The TRON-style address: 0x41 ‖ last 20 bytes of Keccak-256 of the PKCS#1 DER public key.
    pub fn address(&self) -> Address {
        rsa_address(&self.public_key_pkcs1_der())
    }

    /// RSA PKCS#1 v1.5 signature with SHA-256 over the 32-byte digest (the transaction id).
    /// Uses blinding against timing side channels.
    pub fn sign_digest(&self, digest: &Hash32) -> Vec<u8> {
        let hashed = rsa_message_digest(digest);
        self.inner
            .sign_with_rng(&mut OsRng, Pkcs1v15Sign::new::<Sha256>(), &hashed)
            .expect("invariant: PKCS#1 v1.5 signing of a SHA-256 digest with a 2048–4096-bit key cannot fail")
    }
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("bits", &self.bits())
            .field("address", &self.address())
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Address of an RSA public key given as PKCS#1 DER bytes.
pub fn rsa_address(public_key_pkcs1_der: &[u8]) -> Address {
    address_from_keccak_of(public_key_pkcs1_der)
}

/// Verifies an RSA PKCS#1 v1.5 / SHA-256 signature over `digest` and returns the signer's
/// address. Refuses keys outside 2048–4096 bits and non-canonical DER encodings (so one key has
/// exactly one address).
pub fn verify_rsa_digest(
    public_key_pkcs1_der: &[u8],
    digest: &Hash32,
    signature: &[u8],
) -> Result<Address, CryptoError> {
    if public_key_pkcs1_der.len() > RSA_PUBLIC_KEY_DER_MAX_BYTES {
        return Err(CryptoError::bad_signature(format!(
            "RSA public key is {} bytes, more than the {RSA_PUBLIC_KEY_DER_MAX_BYTES} allowed",
            public_key_pkcs1_der.len()
        )));
    }
    let public = RsaPublicKey::from_pkcs1_der(public_key_pkcs1_der).map_err(|e| {
        CryptoError::bad_signature(format!(
            "RSA public key is not PKCS#1 DER of an acceptable key ({e})"
        ))
    })?;
    check_bits(public.n().bits())?;
    let canonical = public.to_pkcs1_der().map_err(|e| {
        CryptoError::bad_signature(format!("RSA public key re-encoding failed ({e})"))
    })?;
    if canonical.as_bytes() != public_key_pkcs1_der {
        return Err(CryptoError::bad_signature(
            "RSA public key is not in canonical PKCS#1 DER form",
        ));
    }
    if signature.len() != public.size() {
        return Err(CryptoError::bad_signature(format!(
            "RSA signature is {} bytes; a {}-bit key makes {}-byte signatures",
            signature.len(),
            public.n().bits(),
            public.size()
        )));
    }
    let hashed = rsa_message_digest(digest);
    public
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hashed, signature)
        .map_err(|_| {
            CryptoError::bad_signature(
                "RSA signature does not verify for this transaction id and public key",
            )
        })?;
    Ok(rsa_address(public_key_pkcs1_der))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// One 2048-bit key shared by all tests (generation takes seconds).
    pub(crate) fn test_key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::generate(RSA_BITS_MIN).unwrap())
    }

    #[test]
    fn key_sizes_outside_the_bounds_are_refused() {
        for bits in [0, 1024, 2047, 4097, 8192] {
            let err = RsaPrivateKey::generate(bits).unwrap_err();
            assert!(matches!(err, CryptoError::RsaKeySize { .. }), "{err}");
        }
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_address() {
        let key = test_key();
        assert_eq!(key.bits(), 2048);
        let back = RsaPrivateKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap();
        assert_eq!(back.address(), key.address());
        assert!(RsaPrivateKey::from_pkcs8_der(b"not der").is_err());
    }

    #[test]
    fn signature_verifies_and_yields_the_address() {
        let key = test_key();
        let digest = want_types::sha256d(b"tx");
        let sig = key.sign_digest(&digest);
        assert_eq!(sig.len(), 256);
        let addr = verify_rsa_digest(&key.public_key_pkcs1_der(), &digest, &sig).unwrap();
        assert_eq!(addr, key.address());
        let other = want_types::sha256d(b"other tx");
        assert!(verify_rsa_digest(&key.public_key_pkcs1_der(), &other, &sig).is_err());
    }

    #[test]
    fn signature_is_pkcs1v15_sha256_of_the_digest() {
        // Independent check: the signature must verify as PKCS#1 v1.5 over SHA-256(id).
        let key = test_key();
        let digest = want_types::sha256d(b"tx");
        let sig = key.sign_digest(&digest);
        let public = RsaPublicKey::from_pkcs1_der(&key.public_key_pkcs1_der()).unwrap();
        let hashed: [u8; 32] = Sha256::digest(digest.0).into();
        public
            .verify(Pkcs1v15Sign::new::<Sha256>(), &hashed, &sig)
            .unwrap();
    }

    #[test]
    fn small_rsa_keys_are_refused_on_verification() {
        let small = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        let der = small.to_public_key().to_pkcs1_der().unwrap().into_vec();
        let digest = want_types::sha256d(b"tx");
        let hashed = rsa_message_digest(&digest);
        let sig = small.sign(Pkcs1v15Sign::new::<Sha256>(), &hashed).unwrap();
        let err = verify_rsa_digest(&der, &digest, &sig).unwrap_err();
        assert!(
            matches!(err, CryptoError::RsaKeySize { bits: 1024, .. }),
            "{err}"
        );
    }

    mod parsers {
        use super::super::*;
        use super::test_key;
        use crate::fuzz_inputs::mutated_bytes;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn any_der_bytes_are_a_key_or_refused(
                bytes in proptest::collection::vec(any::<u8>(), 0..600),
                sig in proptest::collection::vec(any::<u8>(), 0..300),
            ) {
                let digest = want_types::sha256d(b"tx");
                if let Err(e) = verify_rsa_digest(&bytes, &digest, &sig) {
                    prop_assert!(matches!(e, CryptoError::BadSignature { .. } | CryptoError::RsaKeySize { .. }), "{}", e);
                }
                let _ = RsaPrivateKey::from_pkcs8_der(&bytes);
            }

            #[test]
            fn a_mutated_public_key_or_signature_never_verifies(
                der in mutated_bytes(Just(test_key().public_key_pkcs1_der())),
                sig in mutated_bytes(Just(test_key().sign_digest(&want_types::sha256d(b"tx")))),
            ) {
                let digest = want_types::sha256d(b"tx");
                let good_der = test_key().public_key_pkcs1_der();
                let good_sig = test_key().sign_digest(&digest);
                prop_assume!(der != good_der || sig != good_sig);
                prop_assert!(verify_rsa_digest(&der, &digest, &sig).is_err());
            }

            #[test]
            fn a_mutated_private_key_parses_or_is_refused(der in mutated_bytes(Just(test_key().to_pkcs8_der().to_vec()))) {
                if let Ok(k) = RsaPrivateKey::from_pkcs8_der(&der) {
                    prop_assert!((RSA_BITS_MIN..=RSA_BITS_MAX).contains(&k.bits()));
                }
            }
        }
    }
}
