//! Commit votes and certificates: after executing a block, every cluster member signs
//! (chain id, height, block hash, state root) with its Ed25519 node key; a majority of the
//! members' signatures over the same vote is the block's commit certificate.
//!
//! Votes are self-authenticating (the signature is by the member's node key over a
//! domain-separated digest), so they travel between nodes without any envelope.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{sha256d, Hash32};

/// Domain separator of the commit-vote signing digest: a vote signature can never be mistaken
/// for a block or transaction signature.
pub const COMMIT_VOTE_DOMAIN: &[u8] = b"WANT-commit-vote-v1";
/// Most members a cluster may have (votes per height and certificates are sized for it).
pub const CLUSTER_MEMBERS_MAX: usize = 64;
/// Length of a node's Ed25519 public key, in bytes.
pub const NODE_PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature, in bytes.
pub const NODE_SIGNATURE_LEN: usize = 64;

/// A node's Ed25519 public key.
pub type NodePublicKey = [u8; NODE_PUBLIC_KEY_LEN];
/// An Ed25519 signature.
pub type NodeSignature = [u8; NODE_SIGNATURE_LEN];

/// What a member attests after executing a block: this block led to this state.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitVote {
    pub chain_id: u64,
    pub height: u64,
    pub block_hash: Hash32,
    /// State root after executing the block.
    pub state_root: Hash32,
}

impl CommitVote {
    /// The digest a member signs: `sha256d(COMMIT_VOTE_DOMAIN ‖ borsh(vote))`.
    pub fn signing_digest(&self) -> Hash32 {
        let mut bytes = COMMIT_VOTE_DOMAIN.to_vec();
        BorshSerialize::serialize(self, &mut bytes)
            .expect("invariant: borsh encoding into a Vec cannot fail");
        sha256d(&bytes)
    }
}

/// One member's signed vote. Self-authenticating: it needs no envelope to travel.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedVote {
    pub vote: CommitVote,
    /// The signer's Ed25519 node public key (hex in JSON).
    #[serde(with = "hex_array")]
    #[cfg_attr(feature = "openapi", schema(value_type = schema::NodePublicKeyHex))]
    pub node_public_key: NodePublicKey,
    /// Ed25519 signature over [`CommitVote::signing_digest`] (hex in JSON).
    #[serde(with = "hex_array")]
    #[cfg_attr(feature = "openapi", schema(value_type = schema::NodeSignatureHex))]
    pub signature: NodeSignature,
}

/// A member's signature inside a certificate (borsh-identical to a `(public_key, signature)`
/// pair; an object with both fields in JSON).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VoteSignature {
    #[serde(with = "hex_array")]
    #[cfg_attr(feature = "openapi", schema(value_type = schema::NodePublicKeyHex))]
    pub public_key: NodePublicKey,
    #[serde(with = "hex_array")]
    #[cfg_attr(feature = "openapi", schema(value_type = schema::NodeSignatureHex))]
    pub signature: NodeSignature,
}

/// A block's commit certificate: members' signatures over one vote. It is valid when a strict
/// majority of distinct members signed (checked by `want_crypto::verify_certificate`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub vote: CommitVote,
    pub signatures: Vec<VoteSignature>,
}

impl SignedVote {
    /// The signature part, as it appears in a certificate.
    pub fn vote_signature(&self) -> VoteSignature {
        VoteSignature {
            public_key: self.node_public_key,
            signature: self.signature,
        }
    }
}

impl Certificate {
    /// The signatures as individual signed votes.
    pub fn signed_votes(&self) -> impl Iterator<Item = SignedVote> + '_ {
        self.signatures.iter().map(|s| SignedVote {
            vote: self.vote,
            node_public_key: s.public_key,
            signature: s.signature,
        })
    }
}

/// Serde of fixed-size byte arrays as lowercase hex strings (an optional `0x` is accepted).
pub mod hex_array {
    pub fn serialize<S: serde::Serializer, const N: usize>(
        v: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(s.strip_prefix("0x").unwrap_or(&s), &mut out).map_err(|e| {
            serde::de::Error::custom(format!("expected {} hex digits ({N} bytes): {e}", 2 * N))
        })?;
        Ok(out)
    }
}

/// OpenAPI schemas of a node's key and signature in hex (feature `openapi`).
#[cfg(feature = "openapi")]
mod schema {
    use std::borrow::Cow;

    use utoipa::openapi::{RefOr, Schema};
    use utoipa::{PartialSchema, ToSchema};

    use super::{NODE_PUBLIC_KEY_LEN, NODE_SIGNATURE_LEN};

    /// The schema of a node's Ed25519 public key in hex (32 bytes).
    pub struct NodePublicKeyHex;

    impl PartialSchema for NodePublicKeyHex {
        fn schema() -> RefOr<Schema> {
            crate::schema::string(
                &crate::schema::hex_exact(NODE_PUBLIC_KEY_LEN),
                "A node's Ed25519 public key: 32 bytes in hex.",
                "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
            )
        }
    }

    impl ToSchema for NodePublicKeyHex {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("NodePublicKey")
        }
    }

    /// The schema of an Ed25519 signature in hex (64 bytes).
    pub struct NodeSignatureHex;

    impl PartialSchema for NodeSignatureHex {
        fn schema() -> RefOr<Schema> {
            crate::schema::string(
                &crate::schema::hex_exact(NODE_SIGNATURE_LEN),
                "An Ed25519 signature: 64 bytes in hex.",
                &"00".repeat(NODE_SIGNATURE_LEN),
            )
        }
    }

    impl ToSchema for NodeSignatureHex {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("NodeSignature")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vote() -> CommitVote {
        CommitVote {
            chain_id: 7,
            height: 3,
            block_hash: Hash32([1; 32]),
            state_root: Hash32([2; 32]),
        }
    }

    fn arb_hash() -> impl Strategy<Value = Hash32> {
        any::<[u8; 32]>().prop_map(Hash32)
    }

    fn arb_vote() -> impl Strategy<Value = CommitVote> {
        (any::<u64>(), any::<u64>(), arb_hash(), arb_hash()).prop_map(
            |(chain_id, height, block_hash, state_root)| CommitVote {
                chain_id,
                height,
                block_hash,
                state_root,
            },
        )
    }

    fn arb_signed() -> impl Strategy<Value = SignedVote> {
        (
            arb_vote(),
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 64),
        )
            .prop_map(|(vote, node_public_key, sig)| SignedVote {
                vote,
                node_public_key,
                signature: sig.try_into().expect("64 bytes by construction"),
            })
    }

    #[test]
    fn the_signing_digest_is_domain_separated_and_covers_every_field() {
        let v = vote();
        let plain = sha256d(&borsh::to_vec(&v).unwrap());
        assert_ne!(v.signing_digest(), plain);
        let mut changed = [v; 4];
        changed[0].chain_id += 1;
        changed[1].height += 1;
        changed[2].block_hash = Hash32([9; 32]);
        changed[3].state_root = Hash32([9; 32]);
        for c in changed {
            assert_ne!(c.signing_digest(), v.signing_digest(), "{c:?}");
        }
    }

    #[test]
    fn json_carries_keys_and_signatures_as_hex() {
        let sv = SignedVote {
            vote: vote(),
            node_public_key: [0xab; 32],
            signature: [0xcd; 64],
        };
        let j = serde_json::to_value(sv).unwrap();
        assert_eq!(j["node_public_key"], "ab".repeat(32));
        assert_eq!(j["signature"], "cd".repeat(64));
        assert_eq!(j["vote"]["block_hash"], "01".repeat(32));
        let mut short = j.clone();
        short["signature"] = serde_json::json!("cd".repeat(63));
        let err = serde_json::from_value::<SignedVote>(short).unwrap_err();
        assert!(err.to_string().contains("128 hex digits"), "{err}");
    }

    #[test]
    fn a_certificate_signature_encodes_like_a_key_signature_pair() {
        let s = VoteSignature {
            public_key: [1; 32],
            signature: [2; 64],
        };
        assert_eq!(
            borsh::to_vec(&s).unwrap(),
            borsh::to_vec(&([1u8; 32], [2u8; 64])).unwrap()
        );
    }

    proptest! {
        #[test]
        fn signed_votes_round_trip_through_borsh_and_json(sv in arb_signed()) {
            let bytes = borsh::to_vec(&sv).unwrap();
            prop_assert_eq!(bytes.len(), 8 + 8 + 32 + 32 + 32 + 64);
            prop_assert_eq!(borsh::from_slice::<SignedVote>(&bytes).unwrap(), sv);
            let json = serde_json::to_string(&sv).unwrap();
            prop_assert_eq!(serde_json::from_str::<SignedVote>(&json).unwrap(), sv);
        }

        #[test]
        fn certificates_round_trip_and_rebuild_their_votes(
            vote in arb_vote(),
            sigs in proptest::collection::vec(arb_signed(), 0..8),
        ) {
            let cert = Certificate {
                vote,
                signatures: sigs.iter().map(SignedVote::vote_signature).collect(),
            };
            let bytes = borsh::to_vec(&cert).unwrap();
            prop_assert_eq!(&borsh::from_slice::<Certificate>(&bytes).unwrap(), &cert);
            let json = serde_json::to_string(&cert).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Certificate>(&json).unwrap(), &cert);
            for (sv, orig) in cert.signed_votes().zip(&sigs) {
                prop_assert_eq!(sv.vote, vote);
                prop_assert_eq!(sv.node_public_key, orig.node_public_key);
                prop_assert_eq!(sv.signature, orig.signature);
            }
        }

        #[test]
        fn truncated_signed_votes_do_not_decode(sv in arb_signed(), cut in 1usize..176) {
            let bytes = borsh::to_vec(&sv).unwrap();
            prop_assert!(borsh::from_slice::<SignedVote>(&bytes[..bytes.len() - cut]).is_err());
        }
    }
}
