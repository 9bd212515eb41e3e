//! Commit votes and certificates: members sign (chain id, height, block hash, state root) with
//! their Ed25519 node key; a certificate holds when a strict majority of distinct members signed
//! the same vote.

use std::collections::BTreeSet;

use want_types::{Certificate, CommitVote, NodePublicKey, SignedVote};

use crate::{verify_ed25519, CryptoError, NodeKey};

/// Signs a commit vote with a node key (Ed25519 is deterministic: the same key and vote always
/// give the same signature).
pub fn sign_vote(key: &NodeKey, vote: CommitVote) -> SignedVote {
    SignedVote {
        vote,
        node_public_key: key.public_key(),
        signature: key.sign(&vote.signing_digest().0),
    }
}

/// Checks that the vote's signature is by its `node_public_key` over the vote's digest.
/// Says nothing about membership.
pub fn verify_vote(vote: &SignedVote) -> Result<(), CryptoError> {
    verify_ed25519(
        &vote.node_public_key,
        &vote.vote.signing_digest().0,
        &vote.signature,
    )
}

/// Signatures needed for a strict majority of `members` members: `members / 2 + 1`.
pub fn majority_of(members: usize) -> usize {
    members / 2 + 1
}

/// Why one signature of a certificate was not counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotCounted {
    /// The key is not in the membership.
    NotMember,
    /// The member already signed earlier in the certificate.
    Duplicate,
    /// The signature does not verify.
    BadSignature(String),
}

/// The outcome of checking a certificate against a membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateCheck {
    /// Distinct members whose signature verified, in certificate order.
    pub signers: Vec<NodePublicKey>,
    /// Signatures needed (a strict majority of the distinct members).
    pub required: usize,
    /// Distinct members.
    pub members: usize,
    /// Signatures that were not counted, with the reason, in certificate order.
    pub not_counted: Vec<(NodePublicKey, NotCounted)>,
}

impl CertificateCheck {
    pub fn is_valid(&self) -> bool {
        self.members > 0 && self.signers.len() >= self.required
    }

    /// A one-line account of the signatures that were not counted (empty when all were).
    pub fn describe_not_counted(&self) -> String {
        self.not_counted
            .iter()
            .map(|(key, why)| {
                let why = match why {
                    NotCounted::NotMember => "not a member".to_string(),
                    NotCounted::Duplicate => "duplicate signer".to_string(),
                    NotCounted::BadSignature(r) => format!("bad signature ({r})"),
                };
                format!("{}: {why}", hex::encode(key))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Counts the certificate's valid signatures of distinct listed members. Non-members and
/// repeated signers are skipped before any signature is checked, so at most one verification per
/// member is done whatever the certificate's size.
pub fn check_certificate(cert: &Certificate, members: &[NodePublicKey]) -> CertificateCheck {
    let members: BTreeSet<&NodePublicKey> = members.iter().collect();
    let digest = cert.vote.signing_digest();
    let mut seen: BTreeSet<NodePublicKey> = BTreeSet::new();
    let mut signers = Vec::new();
    let mut not_counted = Vec::new();
    for s in &cert.signatures {
        if !members.contains(&s.public_key) {
            not_counted.push((s.public_key, NotCounted::NotMember));
            continue;
        }
        if seen.contains(&s.public_key) {
            not_counted.push((s.public_key, NotCounted::Duplicate));
            continue;
        }
        match verify_ed25519(&s.public_key, &digest.0, &s.signature) {
            Ok(()) => {
                seen.insert(s.public_key);
                signers.push(s.public_key);
            }
            Err(e) => not_counted.push((s.public_key, NotCounted::BadSignature(e.to_string()))),
        }
    }
    CertificateCheck {
        signers,
        required: majority_of(members.len()),
        members: members.len(),
        not_counted,
    }
}

/// Verifies a commit certificate: a strict majority (> n/2) of the distinct `members` must have
/// valid signatures over the certificate's vote. Duplicates and non-members are ignored; the
/// error says how many counted and which signatures did not.
pub fn verify_certificate(
    cert: &Certificate,
    members: &[NodePublicKey],
) -> Result<CertificateCheck, CryptoError> {
    if members.is_empty() {
        return Err(CryptoError::CertificateInvalid {
            height: cert.vote.height,
            reason: "the membership is empty: there is no one whose signatures could count".into(),
        });
    }
    let check = check_certificate(cert, members);
    if check.is_valid() {
        return Ok(check);
    }
    let mut reason = format!(
        "{} valid signature(s) of distinct members; {} of {} members are required",
        check.signers.len(),
        check.required,
        check.members
    );
    if !check.not_counted.is_empty() {
        reason.push_str(&format!("; not counted: {}", check.describe_not_counted()));
    }
    Err(CryptoError::CertificateInvalid {
        height: cert.vote.height,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use want_types::{Hash32, VoteSignature};

    fn vote() -> CommitVote {
        CommitVote {
            chain_id: 9,
            height: 12,
            block_hash: Hash32([3; 32]),
            state_root: Hash32([4; 32]),
        }
    }

    fn keys(n: usize) -> Vec<NodeKey> {
        (0..n).map(|_| NodeKey::generate()).collect()
    }

    fn public(keys: &[NodeKey]) -> Vec<NodePublicKey> {
        keys.iter().map(NodeKey::public_key).collect()
    }

    fn cert_by(signers: &[&NodeKey]) -> Certificate {
        Certificate {
            vote: vote(),
            signatures: signers
                .iter()
                .map(|k| sign_vote(k, vote()).vote_signature())
                .collect(),
        }
    }

    #[test]
    fn a_signed_vote_verifies_and_any_tampered_field_fails() {
        let key = NodeKey::generate();
        let sv = sign_vote(&key, vote());
        verify_vote(&sv).unwrap();
        assert_eq!(sign_vote(&key, vote()), sv, "signing is deterministic");
        let tampers: [fn(&mut SignedVote); 6] = [
            |v| v.vote.chain_id += 1,
            |v| v.vote.height += 1,
            |v| v.vote.block_hash.0[0] ^= 1,
            |v| v.vote.state_root.0[31] ^= 1,
            |v| v.signature[5] ^= 1,
            |v| v.node_public_key = NodeKey::generate().public_key(),
        ];
        for (i, tamper) in tampers.iter().enumerate() {
            let mut bad = sv;
            tamper(&mut bad);
            assert!(verify_vote(&bad).is_err(), "tamper {i} went unnoticed");
        }
    }

    #[test]
    fn exactly_a_strict_majority_passes_and_one_less_fails() {
        for n in 1..=7usize {
            let ks = keys(n);
            let members = public(&ks);
            let need = n / 2 + 1;
            let enough: Vec<&NodeKey> = ks.iter().take(need).collect();
            let check = verify_certificate(&cert_by(&enough), &members).unwrap();
            assert_eq!(check.signers.len(), need);
            assert_eq!(check.required, need);
            let short: Vec<&NodeKey> = ks.iter().take(need - 1).collect();
            let err = verify_certificate(&cert_by(&short), &members).unwrap_err();
            assert!(
                matches!(err, CryptoError::CertificateInvalid { height: 12, .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn a_duplicate_signer_counts_once() {
        let ks = keys(3);
        let members = public(&ks);
        let cert = cert_by(&[&ks[0], &ks[0]]);
        let check = check_certificate(&cert, &members);
        assert_eq!(check.signers, vec![ks[0].public_key()]);
        assert_eq!(
            check.not_counted,
            vec![(ks[0].public_key(), NotCounted::Duplicate)]
        );
        let err = verify_certificate(&cert, &members).unwrap_err().to_string();
        assert!(err.contains("duplicate signer"), "{err}");
        assert!(err.contains("1 valid signature"), "{err}");
    }

    #[test]
    fn a_non_member_does_not_count() {
        let ks = keys(3);
        let outsider = NodeKey::generate();
        let cert = cert_by(&[&ks[0], &outsider]);
        let err = verify_certificate(&cert, &public(&ks))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "{}: not a member",
                hex::encode(outsider.public_key())
            )),
            "{err}"
        );
    }

    #[test]
    fn a_bad_signature_does_not_count_and_is_named() {
        let ks = keys(3);
        let mut cert = cert_by(&[&ks[0], &ks[1]]);
        cert.signatures[1].signature[0] ^= 1;
        let err = verify_certificate(&cert, &public(&ks))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "{}: bad signature",
                hex::encode(ks[1].public_key())
            )),
            "{err}"
        );
        // A later valid signature of the same member still counts: a forged copy cannot block
        // the real one.
        cert.signatures
            .push(sign_vote(&ks[1], vote()).vote_signature());
        verify_certificate(&cert, &public(&ks)).unwrap();
    }

    #[test]
    fn a_signature_over_another_vote_does_not_count() {
        let ks = keys(1);
        let mut other = vote();
        other.state_root = Hash32([5; 32]);
        let cert = Certificate {
            vote: vote(),
            signatures: vec![VoteSignature {
                public_key: ks[0].public_key(),
                signature: sign_vote(&ks[0], other).signature,
            }],
        };
        let err = verify_certificate(&cert, &public(&ks)).unwrap_err();
        assert!(
            matches!(&err, CryptoError::CertificateInvalid { reason, .. } if reason.starts_with("0 valid signature(s)")),
            "{err}"
        );
    }

    #[test]
    fn duplicate_members_count_once_and_an_empty_membership_verifies_nothing() {
        let ks = keys(2);
        let mut members = public(&ks);
        members.push(members[0]);
        let check = check_certificate(&cert_by(&[&ks[0]]), &members);
        assert_eq!((check.members, check.required), (2, 2));
        assert!(!check.is_valid());
        let err = verify_certificate(&cert_by(&[&ks[0]]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("membership is empty"), "{err}");
    }
}
