//! The state root: an accumulator over the write sets of all blocks since genesis.

use sha2::{Digest, Sha256};
use want_types::{sha256d, Hash32};

use crate::WriteSet;

/// Domain tag of the state root.
pub const STATE_ROOT_TAG: &[u8] = b"want/state-root";

/// `sha256d("want/state-root" ‖ parent ‖ height as u64 BE ‖ sha256d(borsh(ws)))`.
///
/// Two nodes agree on the root after height `h` iff they agreed on every earlier root and
/// produced byte-identical write sets. This commits to the *history* of changes, not to a
/// Merkle trie of the state: there are no per-key inclusion proofs.
pub fn state_root_step(parent: Hash32, height: u64, ws: &WriteSet) -> Hash32 {
    // The encoding streams into the hash: a block's write set runs to megabytes.
    let mut inner = Sha256::new();
    borsh::to_writer(&mut inner, ws).expect("invariant: writing into a hasher cannot fail");
    let ws_digest = Hash32(Sha256::digest(inner.finalize()).into());
    let mut buf = Vec::with_capacity(STATE_ROOT_TAG.len() + 32 + 8 + 32);
    buf.extend_from_slice(STATE_ROOT_TAG);
    buf.extend_from_slice(&parent.0);
    buf.extend_from_slice(&height.to_be_bytes());
    buf.extend_from_slice(&ws_digest.0);
    sha256d(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(pairs: &[(&str, Option<&str>)]) -> WriteSet {
        WriteSet(
            pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
                .collect(),
        )
    }

    #[test]
    fn root_depends_on_parent_height_and_every_change() {
        let base = ws(&[("a", Some("1")), ("b", None)]);
        let r = state_root_step(Hash32::ZERO, 1, &base);
        assert_eq!(r, state_root_step(Hash32::ZERO, 1, &base.clone()));
        assert_ne!(r, state_root_step(Hash32([1; 32]), 1, &base));
        assert_ne!(r, state_root_step(Hash32::ZERO, 2, &base));
        assert_ne!(
            r,
            state_root_step(Hash32::ZERO, 1, &ws(&[("a", Some("1")), ("b", Some(""))]))
        );
        assert_ne!(
            r,
            state_root_step(Hash32::ZERO, 1, &ws(&[("a", Some("1"))]))
        );
    }

    #[test]
    fn root_formula_is_pinned() {
        // Recomputes the documented formula by hand so a change of encoding is noticed.
        let w = ws(&[("k", Some("v"))]);
        // borsh: u32 LE entry count, u32 LE key length, key, Some tag 1, u32 LE value length, value.
        let encoded = [
            &1u32.to_le_bytes()[..],
            &1u32.to_le_bytes(),
            b"k",
            &[1],
            &1u32.to_le_bytes(),
            b"v",
        ]
        .concat();
        let parent = Hash32([9; 32]);
        let expected = sha256d(
            &[
                STATE_ROOT_TAG,
                &parent.0,
                &7u64.to_be_bytes(),
                &sha256d(&encoded).0,
            ]
            .concat(),
        );
        assert_eq!(state_root_step(parent, 7, &w), expected);
    }
}
