//! IPFS content identifiers: CIDv1, codec raw, multihash sha2-256, written in the canonical
//! multibase base32 lower form (`b…`), as `ipfs add --cid-version 1 --raw-leaves` gives for a file
//! that fits one block. Only that kind of CID is made or accepted.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::CryptoError;

/// Multicodec code of raw binary content.
pub const CID_CODEC_RAW: u64 = 0x55;
/// Multihash code of SHA2-256.
pub const MULTIHASH_SHA2_256: u64 = 0x12;
/// Length of a SHA2-256 digest, in bytes.
pub const SHA256_DIGEST_LEN: usize = 32;
/// Length of the canonical string form of a CIDv1 raw sha2-256, in characters: `b` + base32 of
/// 36 bytes (version, codec, hash code, digest length, digest) without padding.
pub const CID_STRING_LEN: usize = 59;
/// Longest text `parse_cid` looks into, in bytes; longer input is refused unread. Room for the
/// canonical form and for other multibase spellings of the same CID (base16 is 73).
pub const CID_INPUT_BYTES_MAX: usize = 128;
/// Longest CID text quoted back in an error message, in characters.
const CID_QUOTE_CHARS_MAX: usize = 80;

/// A multihash with room for exactly one SHA2-256 digest.
type Sha256Multihash = ::cid::multihash::Multihash<SHA256_DIGEST_LEN>;
/// A CID whose multihash holds a SHA2-256 digest.
type RawCid = ::cid::CidGeneric<SHA256_DIGEST_LEN>;

/// A CID that passed [`parse_cid`]: a CIDv1 raw sha2-256. `Display` gives its canonical string.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParsedCid {
    digest: [u8; SHA256_DIGEST_LEN],
}

impl ParsedCid {
    /// The CID of `bytes`.
    pub fn of(bytes: &[u8]) -> ParsedCid {
        ParsedCid {
            digest: Sha256::digest(bytes).into(),
        }
    }

    /// The SHA2-256 digest of the content.
    pub fn digest(&self) -> &[u8; SHA256_DIGEST_LEN] {
        &self.digest
    }

    /// Whether `bytes` are the content this CID names.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        ParsedCid::of(bytes) == *self
    }

    fn to_cid(self) -> RawCid {
        let hash = Sha256Multihash::wrap(MULTIHASH_SHA2_256, &self.digest)
            .expect("invariant: a 32-byte digest fits a multihash of 32-byte capacity");
        RawCid::new_v1(CID_CODEC_RAW, hash)
    }
}

impl fmt::Display for ParsedCid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `cid` writes a CIDv1 in multibase base32 lower, its canonical form.
        write!(f, "{}", self.to_cid())
    }
}

impl fmt::Debug for ParsedCid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParsedCid({self})")
    }
}

/// The CIDv1 (raw, sha2-256, base32 lower) of `bytes`.
pub fn cid_of(bytes: &[u8]) -> String {
    ParsedCid::of(bytes).to_string()
}

fn invalid(input: &str, reason: impl Into<String>) -> CryptoError {
    let cid = if input.chars().count() > CID_QUOTE_CHARS_MAX {
        let head: String = input.chars().take(CID_QUOTE_CHARS_MAX).collect();
        format!("{head}…")
    } else {
        input.to_string()
    };
    CryptoError::InvalidCid {
        cid,
        reason: reason.into(),
    }
}

/// Parses a CID, accepting only a CIDv1 with codec raw and multihash sha2-256 in its canonical
/// base32 lower form (`b…`, 59 characters); anything else is refused with a message saying why.
pub fn parse_cid(input: &str) -> Result<ParsedCid, CryptoError> {
    if input.len() > CID_INPUT_BYTES_MAX {
        return Err(invalid(
            input,
            format!(
                "{} characters is too long: a CIDv1 raw sha2-256 has {CID_STRING_LEN}",
                input.len()
            ),
        ));
    }
    if input.contains('/') {
        return Err(invalid(
            input,
            "give the bare CID, not an /ipfs/ path or URL",
        ));
    }
    // Parsed with room for digests up to 64 bytes so that e.g. a sha2-512 CID is reported as
    // the wrong hash rather than as unparseable.
    let cid =
        ::cid::Cid::try_from(input).map_err(|e| invalid(input, format!("not a CID ({e})")))?;
    if cid.version() != ::cid::Version::V1 {
        return Err(invalid(
            input,
            "CIDv0 (Qm…) is not accepted: use CIDv1 raw (`ipfs add --cid-version 1 --raw-leaves`)",
        ));
    }
    if cid.codec() != CID_CODEC_RAW {
        return Err(invalid(
            input,
            format!(
                "codec 0x{:x} is not accepted: only raw (0x{CID_CODEC_RAW:x}) content is, \
                 as `ipfs add --cid-version 1 --raw-leaves` makes for a single-block file",
                cid.codec()
            ),
        ));
    }
    let hash = cid.hash();
    if hash.code() != MULTIHASH_SHA2_256 {
        return Err(invalid(
            input,
            format!(
                "multihash 0x{:x} is not accepted: only sha2-256 (0x{MULTIHASH_SHA2_256:x}) is",
                hash.code()
            ),
        ));
    }
    let digest: [u8; SHA256_DIGEST_LEN] = hash.digest().try_into().map_err(|_| {
        invalid(
            input,
            format!(
                "a sha2-256 digest of {} bytes; expected {SHA256_DIGEST_LEN}",
                hash.digest().len()
            ),
        )
    })?;
    let parsed = ParsedCid { digest };
    if parsed.to_string() != input {
        return Err(invalid(
            input,
            format!("not in canonical form; write it as {parsed} (multibase base32 lower)"),
        ));
    }
    Ok(parsed)
}

/// Whether `cid` is a valid CIDv1 raw sha2-256 naming exactly `bytes`.
pub fn cid_matches(cid: &str, bytes: &[u8]) -> bool {
    parse_cid(cid).is_ok_and(|parsed| parsed.matches(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Both from Python `multiformats` 0.3.1:
    //   CID("base32", 1, "raw", multihash.wrap(hashlib.sha256(data).digest(), "sha2-256"))
    // and, by hand, "b" + base32(01 55 12 20 ‖ sha256(data)) lower-cased without padding.
    const HELLO_WORLD_CID: &str = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";
    const EMPTY_CID: &str = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

    fn reason_of(input: &str) -> String {
        match parse_cid(input) {
            Err(CryptoError::InvalidCid { reason, .. }) => reason,
            other => panic!("expected InvalidCid for {input:?}, got {other:?}"),
        }
    }

    #[test]
    fn cid_of_matches_independent_implementations() {
        assert_eq!(cid_of(b"hello world"), HELLO_WORLD_CID);
        assert_eq!(cid_of(b""), EMPTY_CID);
        assert_eq!(HELLO_WORLD_CID.len(), CID_STRING_LEN);
    }

    #[test]
    fn parsed_cid_exposes_the_sha256_digest() {
        let parsed = parse_cid(HELLO_WORLD_CID).unwrap();
        assert_eq!(
            hex::encode(parsed.digest()),
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(parsed.to_string(), HELLO_WORLD_CID);
    }

    #[test]
    fn cid_matches_only_the_named_bytes() {
        assert!(cid_matches(HELLO_WORLD_CID, b"hello world"));
        assert!(!cid_matches(HELLO_WORLD_CID, b"hello world\n"));
        assert!(!cid_matches("not a cid", b"hello world"));
    }

    #[test]
    fn cidv0_is_refused_with_a_hint() {
        // The CIDv0 of "hello world" as a UnixFS file (`ipfs add`).
        let reason = reason_of("QmaozNR7DZHQK1ZcU9p7QdrshMvXqWK6gpu5rmrkPdT3L4");
        assert!(reason.contains("CIDv0"), "{reason}");
    }

    #[test]
    fn other_codecs_and_hashes_are_refused() {
        // dag-pb (0x70) CIDv1 of a UnixFS file.
        let dag_pb = RawCid::new_v1(
            0x70,
            Sha256Multihash::wrap(MULTIHASH_SHA2_256, &[0u8; 32]).unwrap(),
        )
        .to_string();
        assert!(reason_of(&dag_pb).contains("codec 0x70"));
        // blake2b-256 (0xb220) multihash.
        let blake = RawCid::new_v1(
            CID_CODEC_RAW,
            Sha256Multihash::wrap(0xb220, &[0u8; 32]).unwrap(),
        )
        .to_string();
        assert!(reason_of(&blake).contains("multihash 0xb220"));
        // sha2-256 code with a 16-byte digest.
        let short = RawCid::new_v1(
            CID_CODEC_RAW,
            Sha256Multihash::wrap(MULTIHASH_SHA2_256, &[0u8; 16]).unwrap(),
        )
        .to_string();
        assert!(reason_of(&short).contains("16 bytes"));
    }

    #[test]
    fn non_canonical_forms_are_refused_with_the_canonical_spelling() {
        let upper = format!("B{}", HELLO_WORLD_CID[1..].to_uppercase());
        let reason = reason_of(&upper);
        assert!(reason.contains(HELLO_WORLD_CID), "{reason}");
        let base58 = parse_cid(HELLO_WORLD_CID)
            .unwrap()
            .to_cid()
            .to_string_of_base(::cid::multibase::Base::Base58Btc)
            .unwrap();
        assert!(reason_of(&base58).contains("canonical"));
    }

    #[test]
    fn paths_garbage_and_overlong_input_are_refused() {
        assert!(reason_of(&format!("/ipfs/{HELLO_WORLD_CID}")).contains("bare CID"));
        assert!(reason_of("").contains("not a CID"));
        assert!(reason_of("b").contains("not a CID"));
        assert!(reason_of("bafk!!").contains("not a CID"));
        let long = format!("{HELLO_WORLD_CID}{}", "a".repeat(CID_INPUT_BYTES_MAX));
        assert!(reason_of(&long).contains("too long"));
        let err = parse_cid(&long).unwrap_err().to_string();
        assert!(err.len() < 300, "{err}");
    }

    #[test]
    fn trailing_bytes_after_the_digest_are_refused() {
        let mut bytes = parse_cid(HELLO_WORLD_CID).unwrap().to_cid().to_bytes();
        bytes.push(0);
        let padded = ::cid::multibase::encode(::cid::multibase::Base::Base32Lower, &bytes);
        assert!(parse_cid(&padded).is_err());
    }

    proptest! {
        #[test]
        fn cid_of_any_bytes_parses_back_and_matches(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let cid = cid_of(&bytes);
            prop_assert_eq!(cid.len(), CID_STRING_LEN);
            prop_assert!(cid.starts_with("bafkrei"));
            let parsed = parse_cid(&cid).unwrap();
            prop_assert_eq!(parsed.to_string(), cid.clone());
            prop_assert!(parsed.matches(&bytes));
            prop_assert!(cid_matches(&cid, &bytes));
        }

        #[test]
        fn arbitrary_text_never_panics(input in ".{0,100}") {
            let _ = parse_cid(&input);
        }

        #[test]
        fn any_changed_character_is_refused_or_names_other_content(index in 0usize..CID_STRING_LEN, c in "[a-z2-7A-Z0-9]") {
            let mut chars: Vec<char> = HELLO_WORLD_CID.chars().collect();
            let replacement = c.chars().next().unwrap();
            prop_assume!(chars[index] != replacement);
            chars[index] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert!(!cid_matches(&changed, b"hello world"));
        }
    }

    mod parsers {
        use super::super::*;
        use crate::fuzz_inputs::mutated;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text_is_a_cid_or_refused(s in prop_oneof!["\\PC{0,80}", "b[a-z2-7]{0,70}", "[Qmz][1-9A-HJ-NP-Za-km-z]{40,50}"]) {
                match parse_cid(&s) {
                    Ok(p) => prop_assert_eq!(p.to_string(), s),
                    Err(e) => prop_assert!(matches!(e, CryptoError::InvalidCid { .. }), "{}", e),
                }
            }

            #[test]
            fn a_mutated_cid_is_refused_or_names_the_same_text(
                s in mutated(proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| cid_of(&b))),
            ) {
                // Only the canonical text is accepted, so whatever parses prints as itself.
                if let Ok(p) = parse_cid(&s) {
                    prop_assert_eq!(p.to_string(), s);
                }
            }

            #[test]
            fn long_inputs_are_refused_with_a_bounded_quote(n in 0usize..3000, c in crate::fuzz_inputs::nasty_char()) {
                let s: String = std::iter::repeat_n(c, n).collect();
                if let Err(CryptoError::InvalidCid { cid, .. }) = parse_cid(&s) {
                    prop_assert!(cid.chars().count() <= CID_QUOTE_CHARS_MAX + 1);
                }
            }
        }
    }
}
