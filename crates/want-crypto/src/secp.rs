//! secp256k1 account keys (TRON-compatible): generation, hex import/export, address derivation and
//! recoverable signatures over 32-byte digests.

use std::fmt;

use rand::rngs::OsRng;
use rand::RngCore;
use secp256k1::ecdsa::RecoverableSignature;
use secp256k1::{Message, PublicKey, SecretKey, SECP256K1};
use want_types::{Address, Hash32};
use zeroize::Zeroizing;

use crate::util::{address_from_keccak_of, decode_hex_lenient};
use crate::CryptoError;

/// Length of a secp256k1 private key, in bytes.
pub const PRIVATE_KEY_LEN: usize = 32;
/// Length of an uncompressed SEC1 public key (0x04 ‖ x ‖ y), in bytes.
pub const PUBLIC_KEY_UNCOMPRESSED_LEN: usize = 65;
/// Length of a compressed SEC1 public key (0x02/0x03 ‖ x), in bytes.
pub const PUBLIC_KEY_COMPRESSED_LEN: usize = 33;
/// Length of a recoverable signature r ‖ s ‖ recovery id, in bytes.
pub const RECOVERABLE_SIGNATURE_LEN: usize = 65;

/// A `secp256k1::SecretKey` made for one operation, erased when dropped: the library's type is
/// `Copy` and never clears itself, so every key this crate builds from a [`PrivateKey`] lives in
/// one of these and leaves no copy of the scalar on the stack after signing.
struct ScopedSecret(SecretKey);

impl Drop for ScopedSecret {
    fn drop(&mut self) {
        self.0.non_secure_erase();
    }
}

impl std::ops::Deref for ScopedSecret {
    type Target = SecretKey;

    fn deref(&self) -> &SecretKey {
        &self.0
    }
}

/// A secp256k1 private key. The bytes are zeroized on drop and never printed by `Debug`; the
/// library keys built from them for signing are erased after use ([`ScopedSecret`]).
#[derive(Clone)]
pub struct PrivateKey {
    bytes: Zeroizing<[u8; PRIVATE_KEY_LEN]>,
}

impl PrivateKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> PrivateKey {
        let mut bytes = Zeroizing::new([0u8; PRIVATE_KEY_LEN]);
        loop {
            OsRng.fill_bytes(bytes.as_mut());
            // Fails only for 0 or values ≥ the group order: probability about 2^-128.
            if SecretKey::from_byte_array(&bytes).is_ok() {
                return PrivateKey { bytes };
            }
        }
    }

    /// Imports 32 raw bytes; refuses other lengths, zero and values not below the group order.
    pub fn from_bytes(bytes: &[u8]) -> Result<PrivateKey, CryptoError> {
        let raw: [u8; PRIVATE_KEY_LEN] =
            bytes
                .try_into()
                .map_err(|_| CryptoError::InvalidPrivateKey {
                    reason: format!("got {} bytes", bytes.len()),
                })?;
        let raw = Zeroizing::new(raw);
        SecretKey::from_byte_array(&raw).map_err(|_| CryptoError::InvalidPrivateKey {
            reason: "the value is zero or not below the curve order".into(),
        })?;
        Ok(PrivateKey { bytes: raw })
    }

    /// Imports 64 hex digits, ignoring surrounding whitespace and an optional `0x` prefix.
    pub fn from_hex(input: &str) -> Result<PrivateKey, CryptoError> {
        let bytes = Zeroizing::new(
            decode_hex_lenient(input)
                .map_err(|reason| CryptoError::InvalidPrivateKey { reason })?,
        );
        PrivateKey::from_bytes(&bytes)
    }

    /// The key as 64 lowercase hex digits (secret: handle with care).
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes.as_ref())
    }

    /// The raw 32 bytes (secret: handle with care).
    pub fn as_bytes(&self) -> &[u8; PRIVATE_KEY_LEN] {
        &self.bytes
    }

    fn secret_key(&self) -> ScopedSecret {
        ScopedSecret(
            SecretKey::from_byte_array(&self.bytes).expect(
                "invariant: PrivateKey bytes were validated as a secp256k1 scalar on creation",
            ),
        )
    }

    /// The public key as a `secp256k1` value.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_secret_key_global(&self.secret_key())
    }

    /// The uncompressed SEC1 public key 0x04 ‖ x ‖ y.
    pub fn public_key_uncompressed(&self) -> [u8; PUBLIC_KEY_UNCOMPRESSED_LEN] {
        self.public_key().serialize_uncompressed()
    }

    /// The compressed SEC1 public key 0x02/0x03 ‖ x.
    pub fn public_key_compressed(&self) -> [u8; PUBLIC_KEY_COMPRESSED_LEN] {
        self.public_key().serialize()
    }

    /// The compressed SEC1 public key as 66 lowercase hex digits (the form public keys take on
    /// the API, e.g. for ECIES recipients).
    pub fn public_key_compressed_hex(&self) -> String {
        hex::encode(self.public_key_compressed())
    }

    /// The TRON address of this key.
    pub fn address(&self) -> Address {
        address_from_secp_pubkey(&self.public_key())
    }

    /// Signs a 32-byte digest: r ‖ s ‖ recovery id (0 or 1), with low S (libsecp256k1 always
    /// produces normalized signatures).
    pub fn sign_digest(&self, digest: &Hash32) -> [u8; RECOVERABLE_SIGNATURE_LEN] {
        let msg = Message::from_digest(digest.0);
        let sig: RecoverableSignature = SECP256K1.sign_ecdsa_recoverable(&msg, &self.secret_key());
        let (recid, compact) = sig.serialize_compact();
        let mut out = [0u8; RECOVERABLE_SIGNATURE_LEN];
        out[..64].copy_from_slice(&compact);
        let recid: i32 = recid.into();
        out[64] = u8::try_from(recid).expect("invariant: a recovery id is 0..=3");
        out
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("address", &self.address())
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Parses a compressed SEC1 public key given as 66 hex digits (surrounding whitespace and a `0x`
/// prefix are ignored); refuses other lengths and points not on the curve.
pub fn parse_public_key_hex(input: &str) -> Result<PublicKey, CryptoError> {
    let bytes =
        decode_hex_lenient(input).map_err(|reason| CryptoError::InvalidPublicKey { reason })?;
    if bytes.len() != PUBLIC_KEY_COMPRESSED_LEN {
        return Err(CryptoError::InvalidPublicKey {
            reason: format!(
                "got {} bytes; expected a {PUBLIC_KEY_COMPRESSED_LEN}-byte compressed SEC1 key \
                 ({} hex digits starting with 02 or 03)",
                bytes.len(),
                2 * PUBLIC_KEY_COMPRESSED_LEN
            ),
        });
    }
    PublicKey::from_slice(&bytes).map_err(|_| CryptoError::InvalidPublicKey {
        reason: "not a point on secp256k1 in compressed SEC1 form (02/03 ‖ x)".into(),
    })
}

/// TRON address of a secp256k1 public key: 0x41 ‖ last 20 bytes of Keccak-256(x ‖ y).
pub fn address_from_secp_pubkey(public_key: &PublicKey) -> Address {
    let uncompressed = public_key.serialize_uncompressed();
    address_from_keccak_of(&uncompressed[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_key_made_for_signing_is_erased_when_dropped() {
        let key = PrivateKey::generate();
        let mut scoped = std::mem::ManuallyDrop::new(key.secret_key());
        assert_eq!(&scoped.secret_bytes(), key.as_bytes());
        // SAFETY: `ScopedSecret` is dropped once, here; what is read after is plain bytes (a
        // `SecretKey` is `Copy` with no drop glue), read only to see that they were erased.
        unsafe { std::mem::ManuallyDrop::drop(&mut scoped) };
        assert_ne!(&scoped.0.secret_bytes(), key.as_bytes());
        assert_eq!(
            scoped.0.secret_bytes(),
            [1u8; PRIVATE_KEY_LEN],
            "secp256k1's erased value"
        );
        // Signing still works with a fresh one each time.
        let digest = Hash32([9u8; 32]);
        assert_eq!(
            crate::tx_sign::recover_secp_signer(&digest, &key.sign_digest(&digest)).unwrap(),
            key.address()
        );
    }

    fn assert_pair(private_hex: &str, base58: &str, hex_address: &str) {
        let key = PrivateKey::from_hex(private_hex).unwrap();
        let address = key.address();
        assert_eq!(address.to_base58(), base58, "for {private_hex}");
        assert_eq!(address.to_hex(), hex_address, "for {private_hex}");
    }

    #[test]
    fn address_matches_documented_tron_key_pairs() {
        // From the TRON HTTP API example `wallet/generateaddress` as documented at
        // https://docs.watchdata.io/blockchain-apis/tron-api/address-utilities/generateaddress
        assert_pair(
            "097c8ba8a310f39a41a667d35a20000cd21d58c7322484b584c4ada8ebd3ec06",
            "TLHx2Ta9WwtwDjgGxyeifHs5ipmJrJAbZ3",
            "41713ca8ee9c3db6bdc947b8e0c7846645307e6e63",
        );
        // From a public TRON PHP SDK example (gist askaaqib/0f0d74aba0056b09b7fe0252ece82f42,
        // "TRON SDK Implementation -- Address Utilization"), a key pair made by the Shasta
        // testnet's `generateaddress`.
        assert_pair(
            "f22f0cca9c7dc67628db510480e5b83b5a9f490974429481a15112c48d13594c",
            "TV5zxwvW5DxKQtMAJHYeMcsN1RM9D2e7ng",
            "41d1b3410f82d9bb660ee0402d0e19e185cbf45ba3",
        );
    }

    #[test]
    fn address_matches_independent_tronpy_implementation() {
        // Produced locally with tronpy 0.6.2:
        // PrivateKey(bytes.fromhex(k)).public_key.to_base58check_address() / to_hex_address().
        // Key 1's hex address is also Ethereum's well-known 0x7e5f4552…95bdf for the same key.
        assert_pair(
            "0000000000000000000000000000000000000000000000000000000000000001",
            "TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC",
            "417e5f4552091a69125d5dfcb7b8c2659029395bdf",
        );
        // n - 1, the largest valid private key.
        assert_pair(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",
            "TMhzXhj5o7aG14eMHn2htGe7ek39hiriPN",
            "4180c0dbf239224071c59dd8970ab9d542e3414ab2",
        );
        assert_pair(
            "4c5c1f15f14d85405190399a78a592487219cb92c970b4c77ae113ac9301679e",
            "TELCEhV9qQaeBfgZM7Ja2Ywhzfb5hQvZsJ",
            "412fd8999207862d3cd6117373a8e44b393aa54039",
        );
        assert_pair(
            "7959f5e4ac055be6492d9ddbf2fdf338ff2ee888fa0875e3c356bb3c65cc3bbd",
            "TPqTAqigaBdL3AoUFpTUmMYpGPzcg4Eoch",
            "41981a42bb7caad9220adb0ddc11c1f38079a96c63",
        );
    }

    #[test]
    fn hex_import_accepts_whitespace_and_0x_prefix() {
        let plain = PrivateKey::from_hex(
            "097c8ba8a310f39a41a667d35a20000cd21d58c7322484b584c4ada8ebd3ec06",
        )
        .unwrap();
        let decorated = PrivateKey::from_hex(
            "  0x097C8BA8A310F39A41A667D35A20000CD21D58C7322484B584C4ADA8EBD3EC06\n",
        )
        .unwrap();
        assert_eq!(plain.to_hex(), decorated.to_hex());
        assert_eq!(
            plain.to_hex(),
            "097c8ba8a310f39a41a667d35a20000cd21d58c7322484b584c4ada8ebd3ec06"
        );
    }

    #[test]
    fn invalid_private_keys_are_refused() {
        let reason = |r: Result<PrivateKey, CryptoError>| match r {
            Err(CryptoError::InvalidPrivateKey { reason }) => reason,
            other => panic!("expected InvalidPrivateKey, got {other:?}"),
        };
        assert_eq!(reason(PrivateKey::from_bytes(&[1u8; 31])), "got 31 bytes");
        let not_scalar = "the value is zero or not below the curve order";
        assert_eq!(reason(PrivateKey::from_bytes(&[0u8; 32])), not_scalar);
        assert_eq!(reason(PrivateKey::from_bytes(&[0xffu8; 32])), not_scalar);
        // The group order n itself is not a valid key.
        assert_eq!(
            reason(PrivateKey::from_hex(
                "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
            )),
            not_scalar
        );
        let err = PrivateKey::from_hex("zz").unwrap_err();
        assert!(err.to_string().contains("hex"), "{err}");
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let key = PrivateKey::generate();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.to_hex()), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn generated_keys_differ_and_round_trip_through_hex() {
        let a = PrivateKey::generate();
        let b = PrivateKey::generate();
        assert_ne!(a.to_hex(), b.to_hex());
        assert_eq!(
            PrivateKey::from_hex(&a.to_hex()).unwrap().address(),
            a.address()
        );
    }

    #[test]
    fn signature_recovers_to_the_signers_public_key() {
        let key = PrivateKey::generate();
        let digest = want_types::sha256d(b"hello");
        let sig = key.sign_digest(&digest);
        assert!(sig[64] <= 1);
        let recid = secp256k1::ecdsa::RecoveryId::try_from(i32::from(sig[64])).unwrap();
        let rsig = RecoverableSignature::from_compact(&sig[..64], recid).unwrap();
        let recovered = SECP256K1
            .recover_ecdsa(&Message::from_digest(digest.0), &rsig)
            .unwrap();
        assert_eq!(recovered, key.public_key());
        assert_eq!(key.public_key_uncompressed()[0], 0x04);
    }

    #[test]
    fn compressed_public_key_hex_matches_an_independent_implementation() {
        // coincurve 21.0.0: PrivateKey(bytes.fromhex(k)).public_key.format(compressed=True).hex()
        let key = PrivateKey::from_hex(
            "e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35",
        )
        .unwrap();
        let hex = key.public_key_compressed_hex();
        assert_eq!(
            hex,
            "0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2"
        );
        assert_eq!(parse_public_key_hex(&hex).unwrap(), key.public_key());
        assert_eq!(
            parse_public_key_hex(&format!(" 0x{}\n", hex.to_uppercase())).unwrap(),
            key.public_key()
        );
    }

    #[test]
    fn public_key_parsing_refuses_wrong_length_bad_hex_and_off_curve_points() {
        let key = PrivateKey::generate();
        let uncompressed = hex::encode(key.public_key_uncompressed());
        let err = parse_public_key_hex(&uncompressed).unwrap_err().to_string();
        assert!(err.contains("got 65 bytes"), "{err}");
        let err = parse_public_key_hex("zz").unwrap_err().to_string();
        assert!(err.contains("not valid hex"), "{err}");
        // Prefix 0x05 is not a SEC1 compressed tag.
        let err = parse_public_key_hex(&format!("05{}", &key.public_key_compressed_hex()[2..]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a point"), "{err}");
    }

    mod parsers {
        use super::super::*;
        use crate::fuzz_inputs::{mutated, mutated_bytes};
        use proptest::prelude::*;

        fn arb_key() -> impl Strategy<Value = PrivateKey> {
            any::<[u8; 32]>().prop_filter_map("not a scalar", |b| PrivateKey::from_bytes(&b).ok())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn any_text_is_a_private_key_or_refused(s in "\\PC{0,80}") {
                match PrivateKey::from_hex(&s) {
                    Ok(k) => prop_assert_eq!(PrivateKey::from_hex(&k.to_hex()).unwrap().to_hex(), k.to_hex()),
                    Err(e) => prop_assert!(matches!(e, CryptoError::InvalidPrivateKey { .. }), "{}", e),
                }
                match parse_public_key_hex(&s) {
                    Ok(pk) => prop_assert_eq!(parse_public_key_hex(&hex::encode(pk.serialize())).unwrap(), pk),
                    Err(e) => prop_assert!(matches!(e, CryptoError::InvalidPublicKey { .. }), "{}", e),
                }
            }

            #[test]
            fn any_bytes_are_a_private_key_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
                match PrivateKey::from_bytes(&bytes) {
                    Ok(k) => prop_assert_eq!(&k.as_bytes()[..], &bytes[..]),
                    Err(e) => prop_assert!(matches!(e, CryptoError::InvalidPrivateKey { .. }), "{}", e),
                }
            }

            #[test]
            fn keys_round_trip_through_hex(k in arb_key()) {
                prop_assert_eq!(PrivateKey::from_hex(&k.to_hex()).unwrap().to_hex(), k.to_hex());
                prop_assert_eq!(PrivateKey::from_hex(&format!(" 0x{}\n", k.to_hex().to_uppercase())).unwrap().to_hex(), k.to_hex());
                prop_assert_eq!(parse_public_key_hex(&k.public_key_compressed_hex()).unwrap(), k.public_key());
            }

            #[test]
            fn mutated_keys_parse_or_are_refused(
                s in mutated(arb_key().prop_map(|k| k.to_hex())),
                p in mutated(arb_key().prop_map(|k| k.public_key_compressed_hex())),
            ) {
                if let Ok(k) = PrivateKey::from_hex(&s) {
                    prop_assert_eq!(k.to_hex(), crate::fuzz_inputs::lenient_hex(&s));
                }
                if let Ok(pk) = parse_public_key_hex(&p) {
                    prop_assert_eq!(hex::encode(pk.serialize()), crate::fuzz_inputs::lenient_hex(&p));
                }
            }

            #[test]
            fn recovering_from_any_signature_bytes_never_panics(
                sig in prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..70),
                    proptest::collection::vec(any::<u8>(), 65),
                ],
                digest in any::<[u8; 32]>(),
            ) {
                match crate::tx_sign::recover_secp_signer(&Hash32(digest), &sig) {
                    Ok(_) => prop_assert_eq!(sig.len(), RECOVERABLE_SIGNATURE_LEN),
                    Err(e) => prop_assert!(matches!(e, CryptoError::BadSignature { .. }), "{}", e),
                }
            }

            #[test]
            fn a_mutated_signature_never_recovers_the_signer(
                (k, digest, sig) in (arb_key(), any::<[u8; 32]>()).prop_flat_map(|(k, d)| {
                    let sig = k.sign_digest(&Hash32(d)).to_vec();
                    (Just(k), Just(d), mutated_bytes(Just(sig)))
                }),
            ) {
                let good = k.sign_digest(&Hash32(digest)).to_vec();
                prop_assume!(sig != good);
                if let Ok(addr) = crate::tx_sign::recover_secp_signer(&Hash32(digest), &sig) {
                    prop_assert_ne!(addr, k.address());
                }
            }
        }
    }
}
