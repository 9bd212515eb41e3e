//! Signing transactions with either key type and verifying them back to a sender address.

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, SECP256K1};
use want_types::{Address, Hash32, Signature, SignedTransaction, Transaction};

use crate::rsa_keys::{verify_rsa_digest, RsaPrivateKey};
use crate::secp::{address_from_secp_pubkey, PrivateKey, RECOVERABLE_SIGNATURE_LEN};
use crate::CryptoError;

/// A key that can sign transactions: secp256k1 (TRON-compatible) or RSA.
#[derive(Clone, Debug)]
pub enum SigningKey {
    Secp256k1(PrivateKey),
    Rsa(RsaPrivateKey),
}

impl SigningKey {
    /// The account address of this key.
    pub fn address(&self) -> Address {
        match self {
            SigningKey::Secp256k1(k) => k.address(),
            SigningKey::Rsa(k) => k.address(),
        }
    }

    /// Signs the transaction id (double SHA-256 of the borsh encoding).
    /// Signs `tx` as this key's account: `tx.from` is set to this key's address first (so a
    /// proof-of-work stamp must be solved with `from` already set to the signer).
    pub fn sign_transaction(&self, mut tx: Transaction) -> SignedTransaction {
        tx.from = self.address();
        let id = tx.id();
        let signature = match self {
            SigningKey::Secp256k1(k) => Signature::Secp256k1(k.sign_digest(&id).to_vec()),
            SigningKey::Rsa(k) => Signature::Rsa {
                public_key: k.public_key_pkcs1_der(),
                signature: k.sign_digest(&id),
            },
        };
        SignedTransaction { tx, signature }
    }
}

impl From<PrivateKey> for SigningKey {
    fn from(k: PrivateKey) -> Self {
        SigningKey::Secp256k1(k)
    }
}

impl From<RsaPrivateKey> for SigningKey {
    fn from(k: RsaPrivateKey) -> Self {
        SigningKey::Rsa(k)
    }
}

/// Checks the signature of a transaction and returns its id and the sender's address.
///
/// secp256k1: 65 bytes r ‖ s ‖ recid, recid 0..=3, low S only (no malleability); the public key
/// is recovered from the id. A valid signature over a *different* transaction recovers some other
/// address, so callers must check the sender's account (nonce, balance) as usual.
/// RSA: canonical PKCS#1 DER public key of 2048–4096 bits, PKCS#1 v1.5 over SHA-256(id).
pub fn verify_transaction(stx: &SignedTransaction) -> Result<(Hash32, Address), CryptoError> {
    let id = stx.tx.id();
    verify_signature(&id, &stx.tx.from, &stx.signature)?;
    Ok((id, stx.tx.from))
}

/// Checks that `signature` over the transaction id `id` is by the account `from` (the rules of
/// [`verify_transaction`]); for proofs that carry an id's preimage rather than the transaction.
pub fn verify_signature(
    id: &Hash32,
    from: &Address,
    signature: &Signature,
) -> Result<(), CryptoError> {
    let sender = match signature {
        Signature::Secp256k1(sig) => recover_secp_signer(id, sig)?,
        Signature::Rsa {
            public_key,
            signature,
        } => verify_rsa_digest(public_key, id, signature)?,
    };
    if sender != *from {
        return Err(CryptoError::bad_signature(format!(
            "the signature is by {sender}, but tx.from is {from}; sign with the key of tx.from"
        )));
    }
    Ok(())
}

/// Recovers the signer's address from a 65-byte recoverable signature over `digest`.
pub fn recover_secp_signer(digest: &Hash32, sig: &[u8]) -> Result<Address, CryptoError> {
    if sig.len() != RECOVERABLE_SIGNATURE_LEN {
        return Err(CryptoError::bad_signature(format!(
            "secp256k1 signature is {} bytes; expected {RECOVERABLE_SIGNATURE_LEN} (r ‖ s ‖ recovery id)",
            sig.len()
        )));
    }
    let recid = RecoveryId::try_from(i32::from(sig[64])).map_err(|_| {
        CryptoError::bad_signature(format!("recovery id is {}; expected 0 to 3", sig[64]))
    })?;
    let standard = secp256k1::ecdsa::Signature::from_compact(&sig[..64])
        .map_err(|_| CryptoError::bad_signature("r or s is not a valid scalar"))?;
    let mut normalized = standard;
    normalized.normalize_s();
    if normalized != standard {
        return Err(CryptoError::bad_signature(
            "s is in the upper half of the curve order (high-S); sign again with a normalizing signer",
        ));
    }
    let recoverable = RecoverableSignature::from_compact(&sig[..64], recid)
        .map_err(|_| CryptoError::bad_signature("r or s is not a valid scalar"))?;
    let public = SECP256K1
        .recover_ecdsa(&Message::from_digest(digest.0), &recoverable)
        .map_err(|_| {
            CryptoError::bad_signature("no public key can be recovered from this signature")
        })?;
    Ok(address_from_secp_pubkey(&public))
}

#[cfg(test)]
mod tests {
    use super::*;
    use want_types::{Call, TokenCall};

    /// The secp256k1 group order n, big-endian.
    const CURVE_ORDER: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];

    /// `from` is a placeholder: `sign_transaction` sets it to the signer.
    fn sample_tx() -> Transaction {
        Transaction {
            chain_id: 1,
            from: Address::system("nobody"),
            nonce: 7,
            fee: 1000,
            expiry_ms: 1_700_000_000_000,
            pow_nonce: 0,
            call: Call::Token(TokenCall::Transfer {
                to: Address::system("shop"),
                amount: 12_500_000,
            }),
        }
    }

    /// n - s, big-endian (s must be in 1..n).
    fn negate_scalar(s: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = i16::from(CURVE_ORDER[i]) - i16::from(s[i]) - borrow;
            borrow = if d < 0 {
                d += 256;
                1
            } else {
                0
            };
            out[i] = u8::try_from(d).unwrap();
        }
        out
    }

    #[test]
    fn secp_signature_verifies_to_the_signers_address() {
        let key = SigningKey::Secp256k1(PrivateKey::generate());
        let stx = key.sign_transaction(sample_tx());
        let (id, sender) = verify_transaction(&stx).unwrap();
        assert_eq!(stx.tx.from, key.address());
        assert_eq!(id, stx.tx.id());
        assert_eq!(sender, key.address());
    }

    #[test]
    fn a_signature_by_another_key_than_from_is_refused() {
        let key = SigningKey::Secp256k1(PrivateKey::generate());
        let mut stx = key.sign_transaction(sample_tx());
        let other = SigningKey::Secp256k1(PrivateKey::generate());
        // Re-sign the same body, claiming the first key's account.
        let mut body = stx.tx.clone();
        body.from = other.address();
        stx.signature = other.sign_transaction(body).signature;
        let err = verify_transaction(&stx).unwrap_err();
        assert!(err.to_string().contains("tx.from"), "{err}");
    }

    #[test]
    fn rsa_signature_verifies_to_the_signers_address() {
        let key = SigningKey::Rsa(crate::rsa_keys::tests::test_key().clone());
        let stx = key.sign_transaction(sample_tx());
        let (_, sender) = verify_transaction(&stx).unwrap();
        assert_eq!(sender, key.address());
    }

    #[test]
    fn tampered_secp_transaction_does_not_verify_to_the_signer() {
        let key = SigningKey::Secp256k1(PrivateKey::generate());
        let mut stx = key.sign_transaction(sample_tx());
        stx.tx.fee += 1;
        // Recovery yields some other address, which is not tx.from.
        let err = verify_transaction(&stx).unwrap_err();
        assert!(matches!(err, CryptoError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn tampered_rsa_transaction_is_refused() {
        let key = SigningKey::Rsa(crate::rsa_keys::tests::test_key().clone());
        let mut stx = key.sign_transaction(sample_tx());
        stx.tx.nonce += 1;
        let err = verify_transaction(&stx).unwrap_err();
        assert!(matches!(err, CryptoError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn rsa_signature_with_swapped_public_key_is_refused() {
        let key = crate::rsa_keys::tests::test_key();
        let mut stx = SigningKey::Rsa(key.clone()).sign_transaction(sample_tx());
        if let Signature::Rsa { public_key, .. } = &mut stx.signature {
            public_key.push(0);
        }
        let err = verify_transaction(&stx).unwrap_err();
        assert!(err.to_string().contains("PKCS#1 DER"), "{err}");
    }

    #[test]
    fn wrong_length_secp_signature_is_refused() {
        for len in [0, 64, 66] {
            let stx = SignedTransaction {
                tx: sample_tx(),
                signature: Signature::Secp256k1(vec![1; len]),
            };
            let err = verify_transaction(&stx).unwrap_err();
            assert!(err.to_string().contains("65"), "{err}");
        }
    }

    #[test]
    fn recovery_ids_above_three_are_refused() {
        let key = SigningKey::Secp256k1(PrivateKey::generate());
        let mut stx = key.sign_transaction(sample_tx());
        for bad in [4u8, 27, 28, 255] {
            if let Signature::Secp256k1(sig) = &mut stx.signature {
                sig[64] = bad;
            }
            let err = verify_transaction(&stx).unwrap_err();
            assert!(err.to_string().contains("recovery id"), "{err}");
        }
    }

    #[test]
    fn high_s_signature_is_refused() {
        let key = PrivateKey::generate();
        let signing = SigningKey::Secp256k1(key.clone());
        let mut stx = signing.sign_transaction(sample_tx());
        let Signature::Secp256k1(sig) = &mut stx.signature else {
            unreachable!("secp key makes secp signatures")
        };
        // (r, n - s) with the flipped recovery parity is the same signature in malleated form.
        let high_s = negate_scalar(&sig[32..64]);
        sig[32..64].copy_from_slice(&high_s);
        sig[64] ^= 1;
        // Without the low-S rule it would recover the same signer: a second valid encoding.
        let recid = RecoveryId::try_from(i32::from(sig[64])).unwrap();
        let malleated = RecoverableSignature::from_compact(&sig[..64], recid).unwrap();
        let recovered = SECP256K1
            .recover_ecdsa(&Message::from_digest(stx.tx.id().0), &malleated)
            .unwrap();
        assert_eq!(recovered, key.public_key());
        let err = verify_transaction(&stx).unwrap_err();
        assert!(err.to_string().contains("high-S"), "{err}");
    }

    #[test]
    fn zero_signature_is_refused() {
        let stx = SignedTransaction {
            tx: sample_tx(),
            signature: Signature::Secp256k1(vec![0; 65]),
        };
        let err = verify_transaction(&stx).unwrap_err();
        assert!(
            err.to_string().contains("no public key can be recovered"),
            "{err}"
        );
    }
}
