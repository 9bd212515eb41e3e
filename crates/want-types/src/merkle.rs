//! Merkle trees of RFC 6962 (Certificate Transparency) shape over SHA-256 with domain separation:
//! leaf = SHA-256(0x00 ‖ leaf), node = SHA-256(0x01 ‖ left ‖ right). A tree of n leaves splits at
//! the largest power of two below n; the last leaf is never duplicated (so, unlike Bitcoin's tree,
//! two different leaf lists never share a root — CVE-2012-2459).

use crate::Hash32;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain-separation prefix of leaf hashes.
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of interior node hashes.
const NODE_PREFIX: u8 = 0x01;
/// Longest audit path that can occur (trees of up to 2^64 leaves).
const PATH_LEN_MAX: usize = 64;

/// An audit path proving that a leaf is at `index` in a tree of `tree_size` leaves.
/// `path` lists sibling hashes from the leaf up to the root (hashes serialize as hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MerkleProof {
    pub index: u64,
    pub tree_size: u64,
    pub path: Vec<Hash32>,
}

/// SHA-256(0x00 ‖ leaf).
pub fn leaf_hash(leaf: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(leaf.0);
    Hash32(h.finalize().into())
}

/// SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left.0);
    h.update(right.0);
    Hash32(h.finalize().into())
}

/// One level up: pairs are hashed, an odd last node is carried up unchanged. Repeating this
/// builds exactly the RFC 6962 tree (the carried node is the right subtree at a higher split).
fn next_level(level: &[Hash32]) -> Vec<Hash32> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => node_hash(left, right),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The Merkle tree hash of the leaves; SHA-256 of the empty string for no leaves (RFC 6962).
pub fn merkle_root(leaves: &[Hash32]) -> Hash32 {
    if leaves.is_empty() {
        return Hash32(Sha256::digest([]).into());
    }
    let mut level: Vec<Hash32> = leaves.iter().map(leaf_hash).collect();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// The audit path of leaf `index`, or `None` if the index is out of range.
pub fn merkle_proof(leaves: &[Hash32], index: usize) -> Option<MerkleProof> {
    if index >= leaves.len() {
        return None;
    }
    let mut level: Vec<Hash32> = leaves.iter().map(leaf_hash).collect();
    let mut i = index;
    let mut path = Vec::new();
    while level.len() > 1 {
        let sibling = i ^ 1;
        if sibling < level.len() {
            path.push(level[sibling]);
        }
        level = next_level(&level);
        i /= 2;
    }
    Some(MerkleProof {
        index: u64::try_from(index).ok()?,
        tree_size: u64::try_from(leaves.len()).ok()?,
        path,
    })
}

/// Checks an audit path (RFC 9162 §2.1.3.2 algorithm). False for any mismatch or malformed proof.
pub fn verify_merkle_proof(leaf: &Hash32, proof: &MerkleProof, root: &Hash32) -> bool {
    if proof.index >= proof.tree_size || proof.path.len() > PATH_LEN_MAX {
        return false;
    }
    let mut fnode = proof.index;
    let mut snode = proof.tree_size - 1;
    let mut r = leaf_hash(leaf);
    for p in &proof.path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 6962 §2.1 MTH, written exactly as the RFC states it, as a reference.
    fn reference_root(leaves: &[Hash32]) -> Hash32 {
        match leaves.len() {
            0 => Hash32(Sha256::digest([]).into()),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = largest_power_of_two_below(n);
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    /// RFC 6962 §2.1.1 PATH(m, D[n]), as a reference.
    fn reference_path(m: usize, leaves: &[Hash32]) -> Vec<Hash32> {
        let n = leaves.len();
        if n <= 1 {
            return vec![];
        }
        let k = largest_power_of_two_below(n);
        if m < k {
            let mut p = reference_path(m, &leaves[..k]);
            p.push(reference_root(&leaves[k..]));
            p
        } else {
            let mut p = reference_path(m - k, &leaves[k..]);
            p.push(reference_root(&leaves[..k]));
            p
        }
    }

    fn largest_power_of_two_below(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn leaves(n: usize) -> Vec<Hash32> {
        (0..n as u32)
            .map(|i| crate::hash::sha256(&i.to_le_bytes()))
            .collect()
    }

    #[test]
    fn empty_tree_root_is_sha256_of_nothing() {
        assert_eq!(
            merkle_root(&[]).to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(merkle_proof(&[], 0).is_none());
    }

    #[test]
    fn single_leaf_root_is_its_leaf_hash_with_empty_path() {
        let l = leaves(1);
        assert_eq!(merkle_root(&l), leaf_hash(&l[0]));
        let proof = merkle_proof(&l, 0).unwrap();
        assert!(proof.path.is_empty());
        assert!(verify_merkle_proof(&l[0], &proof, &merkle_root(&l)));
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        let a = leaves(2);
        // A leaf whose value equals an interior node must not collide with that node.
        let interior = node_hash(&leaf_hash(&a[0]), &leaf_hash(&a[1]));
        assert_ne!(leaf_hash(&interior), interior);
        assert_eq!(merkle_root(&a), interior);
    }

    #[test]
    fn duplicating_the_last_leaf_changes_the_root() {
        // Bitcoin's tree gives [a, b, c] and [a, b, c, c] the same root; RFC 6962's does not.
        let three = leaves(3);
        let mut four = three.clone();
        four.push(three[2]);
        assert_ne!(merkle_root(&three), merkle_root(&four));
    }

    #[test]
    fn out_of_range_index_has_no_proof() {
        assert!(merkle_proof(&leaves(5), 5).is_none());
    }

    #[test]
    fn proof_serializes_hashes_as_hex() {
        let l = leaves(3);
        let proof = merkle_proof(&l, 2).unwrap();
        let json = serde_json::to_value(&proof).unwrap();
        assert_eq!(json["index"], 2);
        assert_eq!(json["tree_size"], 3);
        assert_eq!(json["path"][0], proof.path[0].to_hex());
        let back: MerkleProof = serde_json::from_value(json).unwrap();
        assert_eq!(back, proof);
    }

    #[test]
    fn malformed_proofs_are_refused() {
        let l = leaves(4);
        let root = merkle_root(&l);
        let proof = merkle_proof(&l, 1).unwrap();
        let mut short = proof.clone();
        short.path.pop();
        assert!(!verify_merkle_proof(&l[1], &short, &root));
        let mut long = proof.clone();
        long.path.push(Hash32::ZERO);
        assert!(!verify_merkle_proof(&l[1], &long, &root));
        let mut beyond = proof.clone();
        beyond.index = 4;
        assert!(!verify_merkle_proof(&l[1], &beyond, &root));
        let mut resized = proof;
        resized.tree_size = 5;
        assert!(!verify_merkle_proof(&l[1], &resized, &root));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn root_and_paths_match_the_rfc_6962_definition(n in 1usize..300, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            prop_assert_eq!(merkle_root(&l), reference_root(&l));
            let m = pick.index(n);
            prop_assert_eq!(merkle_proof(&l, m).unwrap().path, reference_path(m, &l));
        }

        #[test]
        fn every_leaf_proof_verifies(n in 1usize..300, seed in any::<u64>()) {
            let l: Vec<Hash32> = (0..n as u64)
                .map(|i| crate::hash::sha256(&[seed.to_le_bytes(), i.to_le_bytes()].concat()))
                .collect();
            let root = merkle_root(&l);
            for (i, leaf) in l.iter().enumerate() {
                let proof = merkle_proof(&l, i).unwrap();
                prop_assert!(verify_merkle_proof(leaf, &proof, &root), "leaf {} of {}", i, n);
            }
        }

        #[test]
        fn proof_fails_for_another_leaf_index_or_root(
            n in 2usize..300,
            pick in any::<prop::sample::Index>(),
            other in any::<prop::sample::Index>(),
        ) {
            let l = leaves(n);
            let root = merkle_root(&l);
            let i = pick.index(n);
            let j = other.index(n - 1);
            let j = if j >= i { j + 1 } else { j };
            let proof = merkle_proof(&l, i).unwrap();
            prop_assert!(verify_merkle_proof(&l[i], &proof, &root));
            prop_assert!(!verify_merkle_proof(&l[j], &proof, &root));
            let mut moved = proof.clone();
            moved.index = j as u64;
            prop_assert!(!verify_merkle_proof(&l[i], &moved, &root));
            prop_assert!(!verify_merkle_proof(&l[i], &proof, &leaf_hash(&root)));
        }
    }
}
