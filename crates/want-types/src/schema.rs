//! OpenAPI schemas (utoipa) of the types whose JSON form a derive cannot see (feature
//! `openapi`): addresses (base58check, or hex), hashes (64 hex digits), amounts (decimal strings
//! of `u128` base units), byte fields (hex) and signatures. Each schema describes exactly what
//! the type's `Deserialize` accepts and what its `Serialize` writes, so a document generated
//! from these types is the contract the node's parser enforces. No I/O.

use std::borrow::Cow;

use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::{Address, Hash32, Signature};

/// A string schema with a pattern, a description and one example.
pub(crate) fn string(pattern: &str, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([example])
        .into()
}

/// Pattern of hex bytes as `serde_hex` accepts them: an optional `0x`, pairs of hex digits.
pub const HEX_BYTES_PATTERN: &str = "^(0x)?([0-9a-fA-F]{2})*$";

/// Pattern of exactly `n` bytes in hex, with an optional `0x`.
pub(crate) fn hex_exact(n: usize) -> String {
    format!("^(0x)?[0-9a-fA-F]{{{}}}$", 2 * n)
}

impl PartialSchema for Address {
    fn schema() -> RefOr<Schema> {
        string(
            // base58check (TRON's `T…`, always 34 characters), or the 21 bytes in hex (`41…`,
            // optionally `0x`-prefixed); the checksum and the version byte are checked too.
            "^(T[1-9A-HJ-NP-Za-km-z]{33}|(0x)?41[0-9a-fA-F]{40})$",
            "An account address: base58check of 0x41 ‖ 20 bytes (TRON's format, `T…`), as every answer writes it; requests may also give the 21 bytes in hex (`41…`).",
            "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
        )
    }
}

impl ToSchema for Address {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Address")
    }
}

impl PartialSchema for Hash32 {
    fn schema() -> RefOr<Schema> {
        string(
            &hex_exact(32),
            "A 32-byte hash (SHA-256d ids, roots, block hashes): 64 hex digits, lowercase in answers.",
            "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456",
        )
    }
}

impl ToSchema for Hash32 {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Hash32")
    }
}

/// The schema of an amount: a `u128` of base units (1 WANT = 1,000,000) as a decimal string.
pub struct DecimalAmount;

impl PartialSchema for DecimalAmount {
    fn schema() -> RefOr<Schema> {
        string(
            "^[0-9]+$",
            "An amount of base units (1 WANT = 1,000,000) as a decimal string of at most 128 bits.",
            "12500000",
        )
    }
}

impl ToSchema for DecimalAmount {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Amount")
    }
}

/// The schema of a byte string in hex (`serde_hex`).
pub struct HexBytes;

impl PartialSchema for HexBytes {
    fn schema() -> RefOr<Schema> {
        string(
            HEX_BYTES_PATTERN,
            "Bytes in hex (lowercase in answers; requests may prefix 0x).",
            "0a1b",
        )
    }
}

impl ToSchema for HexBytes {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("HexBytes")
    }
}

impl PartialSchema for Signature {
    fn schema() -> RefOr<Schema> {
        let hex = |d: &str| -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(HEX_BYTES_PATTERN))
                .description(Some(d))
                .into()
        };
        let secp = ObjectBuilder::new()
            .property(
                "secp256k1",
                hex("secp256k1 ECDSA, 65 bytes: r ‖ s ‖ recovery id (0 or 1)"),
            )
            .required("secp256k1")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .build();
        let rsa_inner = ObjectBuilder::new()
            .property("public_key", hex("the signer's RSA public key, PKCS#1 DER"))
            .property(
                "signature",
                hex("PKCS#1 v1.5 signature over SHA-256 of the transaction id"),
            )
            .required("public_key")
            .required("signature")
            .build();
        let rsa = ObjectBuilder::new()
            .property("rsa", rsa_inner)
            .required("rsa")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .build();
        OneOfBuilder::new()
            .item(secp)
            .item(rsa)
            .description(Some(
                "A signature over the transaction id: {\"secp256k1\": hex} or {\"rsa\": {\"public_key\", \"signature\"}}.",
            ))
            .into()
    }
}

impl ToSchema for Signature {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Signature")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The patterns accept what the parsers accept (checked here on the forms each type writes
    /// and reads) — a regex engine is not a dependency, so the forms are checked by hand.
    #[test]
    fn written_forms_have_the_shapes_the_patterns_name() {
        let a: Address = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t".parse().unwrap();
        let b58 = a.to_base58();
        assert_eq!(b58.len(), 34);
        assert!(b58.starts_with('T'));
        for byte in [0u8, 0xff] {
            let edge = Address::from_account_id([byte; 20]).to_base58();
            assert_eq!(edge.len(), 34, "{edge}");
            assert!(edge.starts_with('T'), "{edge}");
        }
        assert_eq!(a.to_hex().len(), 42);
        assert_eq!(crate::sha256d(b"x").to_hex().len(), 64);
        assert_eq!(Address::name(), "Address");
        assert_eq!(DecimalAmount::name(), "Amount");
    }
}
