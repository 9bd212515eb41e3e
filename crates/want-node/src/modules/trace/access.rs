//! Who may read a sealed blob: a signed read request's reader, and the rule — a live key of
//! the owning organisation, a grantee whose grant has not expired, or a KYC document's subject
//! and verifier.

use want_state::trace::query;
use want_state::StateView;
use want_types::trace::event_hash_id;
use want_types::Address;

use crate::error::NodeError;
use want_state::trace::codes;

/// How far a blob read request's time may be from the node's clock, in milliseconds.
pub const BLOB_READ_WINDOW_MS: u64 = 5 * 60 * 1000;

/// Checks that `reader` may fetch the blob `cid` now: a live key of the organisation owning the
/// record, a grantee whose grant has not expired by the last block's time, or the subject or
/// verifier of a KYC document. Everyone else is refused, whatever the blob holds.
pub fn authorize_blob(
    view: &dyn StateView,
    head_time_ms: u64,
    cid: &str,
    reader: &Address,
) -> Result<(), NodeError> {
    if let Some(eh) = query::record_by_cid(view, cid)? {
        let rec = query::record(view, &eh)?.ok_or_else(|| {
            NodeError::Io(format!("record {eh} is indexed by its CID but not stored"))
        })?;
        if let Some(k) = query::key(view, reader)? {
            if k.org == rec.org && k.active() {
                return Ok(());
            }
        }
        if let Some(g) = query::grant(view, &eh, reader)? {
            if g.expires_at_ms > head_time_ms {
                return Ok(());
            }
            return Err(NodeError::rejected(
                codes::BLOB_ACCESS_DENIED,
                format!(
                    "the grant of {reader} on record {} expired at {} ms (last block at {head_time_ms} ms)",
                    event_hash_id(&eh),
                    g.expires_at_ms
                ),
            ));
        }
        return Err(NodeError::rejected(
            codes::BLOB_ACCESS_DENIED,
            format!(
                "{reader} is not a key of {:?} and holds no live grant on record {}",
                rec.org,
                event_hash_id(&eh)
            ),
        ));
    }
    if let Some(doc) = query::kyc_doc(view, cid)? {
        if doc.verifier == *reader || doc.subject == *reader {
            return Ok(());
        }
        return Err(NodeError::rejected(
            codes::BLOB_ACCESS_DENIED,
            format!("only the subject and the verifier may read KYC document {cid}"),
        ));
    }
    Err(NodeError::rejected(
        codes::BLOB_ACCESS_DENIED,
        format!("blob {cid} is not anchored by any record or KYC filing; nobody may read it yet"),
    ))
}

/// Recovers the reader of a signed blob read request and checks its time window.
pub fn blob_reader(
    cid: &str,
    time_ms: u64,
    signature: &[u8],
    now_ms: u64,
) -> Result<Address, NodeError> {
    let digest = want_types::trace::blob_read_digest(cid, time_ms);
    signer_in_window(&digest, time_ms, signature, now_ms, codes::BLOB_ACCESS_DENIED)
}

/// The uploader of a signed blob upload (`PUT /v1/blobs`): recovered from its signature of
/// [`want_types::trace::blob_put_digest`], whose time must be within [`BLOB_READ_WINDOW_MS`]
/// of `now_ms`; `blob_upload_denied` otherwise.
pub fn blob_uploader(
    chain_id: u64,
    cid: &str,
    time_ms: u64,
    signature: &[u8],
    now_ms: u64,
) -> Result<Address, NodeError> {
    let digest = want_types::trace::blob_put_digest(chain_id, cid, time_ms);
    signer_in_window(&digest, time_ms, signature, now_ms, codes::BLOB_UPLOAD_DENIED)
}

/// The account that signed `digest` (secp256k1, recoverable) at `time_ms`, which must be within
/// [`BLOB_READ_WINDOW_MS`] of `now_ms`; refused with `code` otherwise.
fn signer_in_window(
    digest: &want_types::Hash32,
    time_ms: u64,
    signature: &[u8],
    now_ms: u64,
    code: &'static str,
) -> Result<Address, NodeError> {
    if time_ms.abs_diff(now_ms) > BLOB_READ_WINDOW_MS {
        return Err(NodeError::rejected(
            code,
            format!(
                "X-Want-Time {time_ms} is more than {} s from the node's clock {now_ms}; sign the request again",
                BLOB_READ_WINDOW_MS / 1000
            ),
        ));
    }
    want_crypto::tx_sign::recover_secp_signer(digest, signature).map_err(|e| {
        NodeError::rejected(code, format!("X-Want-Signature does not verify: {e}"))
    })
}

