//! The trace module's error codes, in every layer: the state machine's (receipts), and those its
//! node part answers (blob store, capture, EPCIS documents). One list per module: the node's
//! registry takes it from here.

use crate::codes::ErrorCode;

/// Failed: only the trace administrator (or the organisation's manager key) may do this.
pub const NOT_ADMIN: &str = "not_admin";
/// Failed: the organisation is not registered.
pub const UNKNOWN_ORG: &str = "unknown_org";
/// Failed: the organisation id is taken.
pub const ORG_EXISTS: &str = "org_exists";
/// Failed: the key is already registered (keys are never reused).
pub const KEY_EXISTS: &str = "key_exists";
/// Failed: the signer or named key is not a registered department key.
pub const UNKNOWN_KEY: &str = "unknown_key";
/// Failed: the key was revoked.
pub const KEY_REVOKED: &str = "key_revoked";
/// Failed: the signing key belongs to another organisation.
pub const NOT_ORG_KEY: &str = "not_org_key";
/// Failed: the key's roles do not allow this record or action.
pub const ROLE_NOT_ALLOWED: &str = "role_not_allowed";
/// Failed: the event (by its EPCIS event hash ID) is already captured.
pub const DUPLICATE_EVENT: &str = "duplicate_event";
/// Failed: the blob (by CID) is already anchored or filed.
pub const DUPLICATE_BLOB: &str = "duplicate_blob";
/// Failed: a field of a trace call is malformed or out of bounds (the message names it).
pub const INVALID_TRACE_CALL: &str = "invalid_trace_call";
/// Failed: no such record.
pub const UNKNOWN_RECORD: &str = "unknown_record";
/// Failed: only keys of the record's owning organisation may grant or revoke access.
pub const NOT_RECORD_OWNER: &str = "not_record_owner";
/// Failed: the grant would already be expired.
pub const GRANT_EXPIRED: &str = "grant_expired";
/// Failed: no such grant.
pub const UNKNOWN_GRANT: &str = "unknown_grant";
/// Failed: the named verifier is not an active KYC verifier key.
pub const NOT_KYC_VERIFIER: &str = "not_kyc_verifier";
/// Failed: the GS1 Company Prefix (or one it nests with) is already registered.
pub const PREFIX_EXISTS: &str = "prefix_exists";
/// Failed: the GS1 Company Prefix is not registered.
pub const UNKNOWN_PREFIX: &str = "unknown_prefix";
/// Failed: the organisation is not an authorised party of the prefix.
pub const UNKNOWN_PARTY: &str = "unknown_party";
/// Failed: the sender's organisation may not hand over custody of the product.
pub const NOT_CUSTODIAN: &str = "not_custodian";

/// Refused: the reader may not fetch the blob.
pub const BLOB_ACCESS_DENIED: &str = "blob_access_denied";
/// Not found: the blob is not in this node's store.
pub const BLOB_NOT_FOUND: &str = "blob_not_found";
/// The stored blob's bytes no longer hash to its CID.
pub const BLOB_TAMPERED: &str = "blob_tampered";
/// Refused: the blob is larger than the store takes.
pub const BLOB_TOO_LARGE: &str = "blob_too_large";
/// Refused: the uploader may not upload blobs (not an organisation's key, balance too low).
pub const BLOB_UPLOAD_DENIED: &str = "blob_upload_denied";
/// Refused: the uploader's or the node's quota of blobs not yet anchored is used up.
pub const BLOB_QUOTA_EXCEEDED: &str = "blob_quota_exceeded";
/// Refused: the reader signed more blob reads within the window than one reader may.
pub const BLOB_READS_EXCEEDED: &str = "blob_reads_exceeded";
/// Unavailable: the stored blob cannot be read now (an I/O error such as too many open files);
/// its content is unknown, not tampered. Retry later.
pub const BLOB_UNAVAILABLE: &str = "blob_unavailable";
/// Refused: the signed blob read was already served (each signed read is served once).
pub const BLOB_READ_REPLAYED: &str = "blob_read_replayed";
/// Refused: not a CIDv1 of a sealed blob.
pub const INVALID_CID: &str = "invalid_cid";
/// Refused: the node has no capture key.
pub const CAPTURE_DISABLED: &str = "capture_disabled";
/// Refused: the capture token is missing or wrong.
pub const CAPTURE_UNAUTHORIZED: &str = "capture_unauthorized";

pub const CODES: &[ErrorCode] = &[
    ErrorCode::new(BLOB_ACCESS_DENIED, 403, "the reader may not fetch the blob"),
    ErrorCode::new(BLOB_NOT_FOUND, 404, "the blob is not in this node's store"),
    ErrorCode::new(BLOB_TAMPERED, 500, "the stored blob no longer hashes to its CID"),
    ErrorCode::new(BLOB_TOO_LARGE, 413, "the blob is larger than the store takes"),
    ErrorCode::new(
        BLOB_UPLOAD_DENIED,
        403,
        "the upload is unsigned, or its signer may not upload blobs",
    ),
    ErrorCode::new(
        BLOB_QUOTA_EXCEEDED,
        429,
        "the uploader's or the node's quota of blobs not yet anchored is used up",
    ),
    ErrorCode::new(
        BLOB_UNAVAILABLE,
        503,
        "the stored blob cannot be read now (an I/O error, not a content mismatch); retry later",
    ),
    ErrorCode::new(
        BLOB_READ_REPLAYED,
        403,
        "the signed blob read was already served; sign each read anew",
    ),
    ErrorCode::new(
        BLOB_READS_EXCEEDED,
        429,
        "the reader signed more blob reads within five minutes than one reader may",
    ),
    ErrorCode::new(INVALID_CID, 400, "not a CIDv1 of a sealed blob"),
    ErrorCode::new(CAPTURE_DISABLED, 501, "this node has no capture key"),
    ErrorCode::new(CAPTURE_UNAUTHORIZED, 401, "the capture token is missing or wrong"),
    // EPCIS capture documents (want_epcis::CODES; the node's registry test checks the two agree).
    ErrorCode::new("malformed_json", 400, "the EPCIS document is not JSON"),
    ErrorCode::new("too_large", 413, "the EPCIS document or an event is too large"),
    ErrorCode::new("unknown_event_type", 400, "not an EPCIS 2.0 event type"),
    ErrorCode::new("invalid_time", 400, "an EPCIS time or time zone is invalid"),
    ErrorCode::new("invalid_quantity", 400, "an EPCIS quantity is invalid"),
    ErrorCode::new("invalid_identifier", 400, "an EPC or identifier is invalid"),
    ErrorCode::new("undeclared_prefix", 400, "an extension uses an undeclared prefix"),
    ErrorCode::new("missing_field", 400, "a required EPCIS field is missing"),
    ErrorCode::new("invalid_field", 400, "an EPCIS field is invalid"),
    ErrorCode::new("too_many_events", 413, "the document has more events than the capture limit"),
    ErrorCode::new("too_many_identifiers", 400, "an event names more identifiers than allowed"),
    ErrorCode::new("invalid_document", 400, "not an EPCIS document, query document or event"),
    ErrorCode::new(NOT_ADMIN, 403, "only the trace administrator (or the organisation's manager key) may do this"),
    ErrorCode::new(UNKNOWN_ORG, 400, "the organisation is not registered"),
    ErrorCode::new(ORG_EXISTS, 400, "the organisation id is taken"),
    ErrorCode::new(KEY_EXISTS, 400, "the key is already registered (keys are never reused)"),
    ErrorCode::new(UNKNOWN_KEY, 403, "the signer or named key is not a registered department key"),
    ErrorCode::new(KEY_REVOKED, 403, "the key was revoked"),
    ErrorCode::new(NOT_ORG_KEY, 403, "the signing key belongs to another organisation"),
    ErrorCode::new(ROLE_NOT_ALLOWED, 403, "the key's roles do not allow this record or action"),
    ErrorCode::new(DUPLICATE_EVENT, 409, "the EPCIS event is already captured"),
    ErrorCode::new(DUPLICATE_BLOB, 409, "the blob is already anchored or filed"),
    ErrorCode::new(INVALID_TRACE_CALL, 400, "a field of a trace call is malformed or out of bounds"),
    ErrorCode::new(UNKNOWN_RECORD, 400, "no such record"),
    ErrorCode::new(NOT_RECORD_OWNER, 403, "only keys of the record's owning organisation may do this"),
    ErrorCode::new(GRANT_EXPIRED, 400, "the grant would already be expired"),
    ErrorCode::new(UNKNOWN_GRANT, 400, "no such grant"),
    ErrorCode::new(NOT_KYC_VERIFIER, 400, "the named verifier is not an active KYC verifier key"),
    ErrorCode::new(PREFIX_EXISTS, 409, "the GS1 Company Prefix, or one it nests with, is already registered"),
    ErrorCode::new(UNKNOWN_PREFIX, 400, "the GS1 Company Prefix is not registered"),
    ErrorCode::new(UNKNOWN_PARTY, 400, "the organisation is not an authorised party of the prefix"),
    ErrorCode::new(NOT_CUSTODIAN, 403, "the sender's organisation may not hand over custody of the product"),
];
