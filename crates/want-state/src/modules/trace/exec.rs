//! Executing trace calls: registry of organisations and keys, KYC, anchors and grants.

use std::collections::{BTreeSet, HashMap, HashSet};

use want_types::params::{RULE_TRACE_RECORD_IDS, RULE_TRACE_WRITERS};
use want_types::trace::{
    anchor_step, is_valid_gcp, is_valid_org_id, may_sign, role_beyond_kind, AnchorRecord, OrgKind,
    PublicFields, Role, TraceCall, ANCHOR_RECORDS_MAX, GCP_DIGITS_MAX, GCP_DIGITS_MIN,
    CORRECTIVE_EVENTS_MAX, HANDOVER_PRODUCTS_MAX, KYC_LEVEL_MAX, NAME_BYTES_MAX, PUBLIC_KEY_BYTES, RECORD_PRODUCTS_MAX,
    TRACE_ID_BYTES_MAX, WRAPPED_KEY_BYTES_MAX,
};
use want_types::{Address, Hash32, TraceEvent};

use super::codes;
use super::state::{
    self as st, GrantInfo, KeyInfo, KycDoc, KycInfo, OrgInfo, ProductInfo, RecordInfo,
};
use crate::failure::{fail, ExecError};
use crate::kernel::module::{CallCtx, Mode};
use crate::store::Overlay;
use crate::{BlockContext, StateView};

/// The five EPCIS event types.
pub const EVENT_TYPES: [&str; 5] = [
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
];

/// Applies one trace call (in [`Mode::Admit`], an anchor's per-product updates are left out:
/// they cannot fail once its records pass their checks, and can be thousands).
pub(crate) fn execute(call_ctx: &mut CallCtx<'_, '_>, call: &TraceCall) -> Result<(), ExecError> {
    let ctx: &BlockContext = call_ctx.block;
    let (sender, tx_id) = (&call_ctx.sender.clone(), &call_ctx.tx_id.clone());
    let admit = call_ctx.mode == Mode::Admit;
    let mut events = Vec::new();
    let ov = &mut *call_ctx.state;
    execute_call(ov, ctx, tx_id, sender, call, admit, &mut events)?;
    for e in events {
        call_ctx.emit(e);
    }
    Ok(())
}

fn execute_call(
    ov: &mut Overlay<'_>,
    ctx: &BlockContext,
    tx_id: &Hash32,
    sender: &Address,
    call: &TraceCall,
    admit: bool,
    events: &mut Vec<TraceEvent>,
) -> Result<(), ExecError> {
    let writers_rule = ctx.activations.active(RULE_TRACE_WRITERS, ctx.height);
    let ids_rule = ctx.activations.active(RULE_TRACE_RECORD_IDS, ctx.height);
    let new_call = matches!(
        call,
        TraceCall::RegisterPrefix { .. }
            | TraceCall::AuthorizeParty { .. }
            | TraceCall::WithdrawParty { .. }
            | TraceCall::HandOver { .. }
            | TraceCall::DeclareError { .. }
    );
    if new_call && !writers_rule {
        return Err(fail(
            codes::INVALID_TRACE_CALL,
            format!(
                "company prefixes, custody and error declarations apply from the {RULE_TRACE_WRITERS} activation (height {}); this block is at {}",
                ctx.activations.height(RULE_TRACE_WRITERS),
                ctx.height
            ),
        ));
    }
    match call {
        TraceCall::RegisterOrg {
            org,
            name,
            kind,
            encryption_key,
        } => {
            require_admin(ov, sender)?;
            check_org_id(org)?;
            check_text("name", name, NAME_BYTES_MAX)?;
            check_public_key("encryption_key", encryption_key)?;
            if st::org(ov, org)?.is_some() {
                return Err(fail(
                    codes::ORG_EXISTS,
                    format!("organisation {org:?} is already registered"),
                ));
            }
            st::put(
                ov,
                st::org_key(org),
                &OrgInfo {
                    name: name.clone(),
                    kind: *kind,
                    encryption_key: encryption_key.clone(),
                    registered_at: ctx.height,
                },
            );
            events.push(TraceEvent::OrgRegistered { org: org.clone() });
            Ok(())
        }
        TraceCall::AddKey {
            org,
            key,
            department,
            roles,
        } => {
            let info = require_org(ov, org)?;
            require_admin_or_manager(ov, sender, org)?;
            check_text("department", department, NAME_BYTES_MAX)?;
            if writers_rule {
                check_roles_for_kind(info.kind, org, roles)?;
            }
            if roles.is_empty() || roles.len() > Role::ALL.len() {
                return Err(fail(
                    codes::INVALID_TRACE_CALL,
                    format!(
                        "roles must list 1 to {} roles, found {}",
                        Role::ALL.len(),
                        roles.len()
                    ),
                ));
            }
            if let Some(existing) = st::key(ov, key)? {
                return Err(fail(
                    codes::KEY_EXISTS,
                    format!(
                        "key {key} is already registered to organisation {:?} (keys are never reused; register a new key)",
                        existing.org
                    ),
                ));
            }
            let roles: BTreeSet<Role> = roles.iter().copied().collect();
            st::put(
                ov,
                st::key_key(key),
                &KeyInfo {
                    org: org.clone(),
                    department: department.clone(),
                    roles: roles.into_iter().collect(),
                    added_at: ctx.height,
                    revoked_at: None,
                },
            );
            ov.put(st::org_keys_key(org, key), Vec::new());
            events.push(TraceEvent::KeyAdded {
                org: org.clone(),
                key: *key,
            });
            Ok(())
        }
        TraceCall::RevokeKey { key } => {
            let Some(mut info) = st::key(ov, key)? else {
                return Err(fail(
                    codes::UNKNOWN_KEY,
                    format!("key {key} is not registered"),
                ));
            };
            require_admin_or_manager(ov, sender, &info.org)?;
            if info.revoked_at.is_some() {
                return Err(fail(
                    codes::KEY_REVOKED,
                    format!("key {key} is already revoked"),
                ));
            }
            info.revoked_at = Some(ctx.height);
            events.push(TraceEvent::KeyRevoked {
                org: info.org.clone(),
                key: *key,
            });
            st::put(ov, st::key_key(key), &info);
            Ok(())
        }
        TraceCall::SubmitKyc { verifier, cid } => {
            check_cid(cid, "cid")?;
            let v = st::key(ov, verifier)?;
            let is_verifier = match &v {
                Some(k) if k.active() && k.roles.contains(&Role::KycVerifier) => {
                    !writers_rule || org_kind(ov, &k.org)? == Some(OrgKind::KycVerifier)
                }
                _ => false,
            };
            if !is_verifier {
                return Err(fail(
                    codes::NOT_KYC_VERIFIER,
                    format!("{verifier} is not an active key with the kyc_verifier role of a KYC verifier organisation"),
                ));
            }
            if st::kyc_doc(ov, cid)?.is_some() {
                return Err(fail(
                    codes::DUPLICATE_BLOB,
                    format!("a KYC document with CID {cid} is already filed"),
                ));
            }
            if writers_rule && st::record_by_cid(ov, cid)?.is_some() {
                return Err(fail(
                    codes::DUPLICATE_BLOB,
                    format!("cid: {cid} is the sealed blob of an anchored record; a KYC document is a blob of its own"),
                ));
            }
            st::put(
                ov,
                st::kyc_doc_key(cid),
                &KycDoc {
                    subject: *sender,
                    verifier: *verifier,
                    filed_at: ctx.height,
                },
            );
            events.push(TraceEvent::KycFiled {
                subject: *sender,
                verifier: *verifier,
                cid: cid.clone(),
            });
            Ok(())
        }
        TraceCall::AttestKyc {
            subject,
            level,
            attestation,
        } => {
            let me = active_key(ov, sender)?;
            if !me.roles.contains(&Role::KycVerifier) {
                return Err(fail(
                    codes::ROLE_NOT_ALLOWED,
                    format!("key {sender} does not hold the kyc_verifier role"),
                ));
            }
            if writers_rule && org_kind(ov, &me.org)? != Some(OrgKind::KycVerifier) {
                return Err(fail(
                    codes::ROLE_NOT_ALLOWED,
                    format!(
                        "key {sender} belongs to {:?}, which is not a KYC verifier organisation; only those attest identities",
                        me.org
                    ),
                ));
            }
            if *level == 0 || *level > KYC_LEVEL_MAX {
                return Err(fail(
                    codes::INVALID_TRACE_CALL,
                    format!("level must be 1 to {KYC_LEVEL_MAX}, found {level}"),
                ));
            }
            // Under the rule each verifier keeps its own attestation; none erases another's.
            let key = if writers_rule {
                st::kyc_attest_key(subject, sender)
            } else {
                st::kyc_key(subject)
            };
            st::put(
                ov,
                key,
                &KycInfo {
                    level: *level,
                    attestation: *attestation,
                    verifier: *sender,
                    attested_at: ctx.height,
                },
            );
            events.push(TraceEvent::KycAttested {
                subject: *subject,
                verifier: *sender,
                level: *level,
            });
            Ok(())
        }
        TraceCall::Anchor { org, records } => {
            anchor(ov, ctx, tx_id, sender, org, records, admit, events)
        }
        TraceCall::RegisterPrefix { prefix, org } => {
            require_admin(ov, sender)?;
            check_prefix(prefix)?;
            require_org(ov, org)?;
            if let Some(existing) = overlapping_prefix(ov, prefix)? {
                return Err(fail(
                    codes::PREFIX_EXISTS,
                    format!(
                        "prefix: {prefix} overlaps company prefix {} already registered to {:?} (GS1 Company Prefixes never nest)",
                        existing.0, existing.1
                    ),
                ));
            }
            st::put(
                ov,
                st::gcp_key(prefix),
                &st::PrefixInfo {
                    org: org.clone(),
                    registered_at: ctx.height,
                },
            );
            events.push(TraceEvent::PrefixRegistered {
                prefix: prefix.clone(),
                org: org.clone(),
            });
            Ok(())
        }
        TraceCall::AuthorizeParty { prefix, party } => {
            let owner = require_prefix_owner(ov, sender, prefix)?;
            require_org(ov, party)?;
            if *party == owner.org {
                return Err(fail(
                    codes::INVALID_TRACE_CALL,
                    format!("party: {party:?} owns prefix {prefix}; it needs no authorisation"),
                ));
            }
            st::put(ov, st::party_key(prefix, party), &ctx.height);
            events.push(TraceEvent::PartyAuthorized {
                prefix: prefix.clone(),
                party: party.clone(),
            });
            Ok(())
        }
        TraceCall::WithdrawParty { prefix, party } => {
            require_prefix_owner(ov, sender, prefix)?;
            if !st::is_party(ov, prefix, party)? {
                return Err(fail(
                    codes::UNKNOWN_PARTY,
                    format!("party: {party:?} is not authorised for prefix {prefix}"),
                ));
            }
            ov.delete(st::party_key(prefix, party));
            events.push(TraceEvent::PartyWithdrawn {
                prefix: prefix.clone(),
                party: party.clone(),
            });
            Ok(())
        }
        TraceCall::DeclareError {
            event_hash,
            declared_at_ms,
            reason,
            corrective_event_ids,
        } => {
            let (id, rec) = require_owner(ov, sender, event_hash, ids_rule)?;
            if let Some(r) = reason {
                check_text("reason", r, TRACE_ID_BYTES_MAX)?;
            }
            if corrective_event_ids.len() > CORRECTIVE_EVENTS_MAX {
                return Err(fail(
                    codes::INVALID_TRACE_CALL,
                    format!(
                        "corrective_event_ids: {} IDs; at most {CORRECTIVE_EVENTS_MAX}",
                        corrective_event_ids.len()
                    ),
                ));
            }
            for (i, id) in corrective_event_ids.iter().enumerate() {
                check_text(&format!("corrective_event_ids[{i}]"), id, TRACE_ID_BYTES_MAX)?;
            }
            if st::error_declaration(ov, &id)?.is_some() {
                return Err(fail(
                    codes::DUPLICATE_EVENT,
                    format!(
                        "event_hash: record {} is already declared erroneous",
                        want_types::trace::event_hash_id(event_hash)
                    ),
                ));
            }
            st::put(
                ov,
                st::error_key(&id),
                &st::ErrorDeclarationInfo {
                    declared_at_ms: *declared_at_ms,
                    reason: reason.clone(),
                    corrective_event_ids: corrective_event_ids.clone(),
                    signer: *sender,
                    height: ctx.height,
                },
            );
            events.push(TraceEvent::ErrorDeclared {
                event_hash: *event_hash,
                org: rec.org,
            });
            Ok(())
        }
        TraceCall::HandOver { to_org, products } => {
            let me = active_key(ov, sender)?;
            // Handing goods over is shipping's work (or a manager's).
            const HANDS_OVER: [Role; 5] = [
                Role::Manager,
                Role::Warehouse,
                Role::Distributor,
                Role::Logistics,
                Role::Any,
            ];
            if !me.roles.iter().any(|r| HANDS_OVER.contains(r)) {
                return Err(fail(
                    codes::ROLE_NOT_ALLOWED,
                    format!("key {sender} holds none of the roles that hand goods over (manager, warehouse, distributor, logistics, any)"),
                ));
            }
            require_org(ov, to_org)?;
            if *to_org == me.org {
                return Err(fail(
                    codes::INVALID_TRACE_CALL,
                    format!("to_org: {to_org:?} is the sender's own organisation"),
                ));
            }
            if products.is_empty() || products.len() > HANDOVER_PRODUCTS_MAX {
                return Err(fail(
                    codes::INVALID_TRACE_CALL,
                    format!(
                        "products must list 1 to {HANDOVER_PRODUCTS_MAX} products, found {}",
                        products.len()
                    ),
                ));
            }
            let mut endorser = Endorser::default();
            let mut seen = HashSet::with_capacity(products.len());
            for (i, product) in products.iter().enumerate() {
                let at = format!("products[{i}]");
                check_text(&at, product, TRACE_ID_BYTES_MAX)?;
                if !seen.insert(product.as_str()) {
                    return Err(fail(
                        codes::INVALID_TRACE_CALL,
                        format!("{at}: {product} is listed twice"),
                    ));
                }
                match endorser.endorsement(ov, product, &me.org)? {
                    Endorsement::Endorsed => {}
                    // A custodian hands the goods on and no longer holds them.
                    Endorsement::Custodian => ov.delete(st::custody_key(product, &me.org)),
                    Endorsement::Unclaimed => {
                        return Err(fail(
                            codes::NOT_CUSTODIAN,
                            format!("{at}: no registered GS1 Company Prefix covers {product}; custody is handed over only under a registered prefix"),
                        ))
                    }
                    Endorsement::Unendorsed => {
                        return Err(fail(
                            codes::NOT_CUSTODIAN,
                            format!(
                                "{at}: {:?} is neither the owner of {product}'s company prefix, nor a party it authorised, nor a custodian of the product",
                                me.org
                            ),
                        ))
                    }
                }
                st::put(
                    ov,
                    st::custody_key(product, to_org),
                    &(ctx.height, me.org.clone()),
                );
            }
            events.push(TraceEvent::CustodyHandedOver {
                from_org: me.org.clone(),
                to_org: to_org.clone(),
                products: products.len() as u64,
            });
            Ok(())
        }
        TraceCall::Grant {
            event_hash,
            grantee,
            grantee_key,
            permission,
            expires_at_ms,
            wrapped_key,
        } => {
            let (id, _) = require_owner(ov, sender, event_hash, ids_rule)?;
            check_public_key("grantee_key", grantee_key)?;
            check_wrapped_key("wrapped_key", wrapped_key)?;
            if *expires_at_ms <= ctx.timestamp_ms {
                return Err(fail(
                    codes::GRANT_EXPIRED,
                    format!(
                        "expires_at_ms {expires_at_ms} is not after the block time {}",
                        ctx.timestamp_ms
                    ),
                ));
            }
            st::put(
                ov,
                st::grant_key(&id, grantee),
                &GrantInfo {
                    grantee: *grantee,
                    grantee_key: grantee_key.clone(),
                    permission: *permission,
                    expires_at_ms: *expires_at_ms,
                    wrapped_key: wrapped_key.clone(),
                    granted_at: ctx.height,
                },
            );
            events.push(TraceEvent::GrantAdded {
                event_hash: *event_hash,
                grantee: *grantee,
                expires_at_ms: *expires_at_ms,
            });
            Ok(())
        }
        TraceCall::RevokeGrant {
            event_hash,
            grantee,
        } => {
            let (id, _) = require_owner(ov, sender, event_hash, ids_rule)?;
            if st::grant(ov, &id, grantee)?.is_none() {
                return Err(fail(
                    codes::UNKNOWN_GRANT,
                    format!("record {event_hash} has no grant for {grantee}"),
                ));
            }
            ov.delete(st::grant_key(&id, grantee));
            events.push(TraceEvent::GrantRevoked {
                event_hash: *event_hash,
                grantee: *grantee,
            });
            Ok(())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn anchor(
    ov: &mut Overlay<'_>,
    ctx: &BlockContext,
    tx_id: &Hash32,
    sender: &Address,
    org: &str,
    records: &[AnchorRecord],
    admit: bool,
    events: &mut Vec<TraceEvent>,
) -> Result<(), ExecError> {
    let org_info = require_org(ov, org)?;
    let signer = active_key(ov, sender)?;
    if signer.org != org {
        return Err(fail(
            codes::NOT_ORG_KEY,
            format!(
                "key {sender} belongs to organisation {:?}, not {org:?}; records are signed by the owning organisation's keys",
                signer.org
            ),
        ));
    }
    if records.is_empty() || records.len() > ANCHOR_RECORDS_MAX {
        return Err(fail(
            codes::INVALID_TRACE_CALL,
            format!(
                "records must hold 1 to {ANCHOR_RECORDS_MAX} records, found {}",
                records.len()
            ),
        ));
    }
    // Under the rule a key signs only with the roles its organisation's kind allows, whatever
    // it was given before the rule.
    let roles: Vec<Role> = if ctx.activations.active(RULE_TRACE_WRITERS, ctx.height) {
        let kind = org_info.kind;
        signer
            .roles
            .iter()
            .copied()
            .filter(|r| kind.allowed_roles().contains(r))
            .collect()
    } else {
        signer.roles.clone()
    };
    let mut seq = st::seq(ov)?;
    let mut endorser = Endorser::default();
    for (index, r) in records.iter().enumerate() {
        let at = |field: &str| format!("records[{index}].{field}");
        check_record(r, index)?;
        if !may_sign(&roles, r.public.biz_step.as_deref()) {
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            return Err(fail(
                codes::ROLE_NOT_ALLOWED,
                format!(
                    "{}: key {sender} ({}) holds roles [{}], which may not sign bizStep {:?}",
                    at("public.biz_step"),
                    signer.department,
                    roles.join(", "),
                    r.public.biz_step.as_deref().unwrap_or("(none)")
                ),
            ));
        }
        let id = if ctx.activations.active(RULE_TRACE_RECORD_IDS, ctx.height) {
            // Each organisation's records of an event hash are its own: another's record of
            // the same hash (taken first or not) neither blocks nor replaces this one.
            if let Some(existing) = st::record_id_of(ov, org, &r.event_hash)? {
                let height = st::record_header(ov, &existing)?.map_or(ctx.height, |e| e.height);
                return Err(fail(
                    codes::DUPLICATE_EVENT,
                    format!(
                        "{}: event {} is already captured by organisation {org:?} (block {height})",
                        at("event_hash"),
                        want_types::trace::event_hash_id(&r.event_hash)
                    ),
                ));
            }
            let id = want_types::trace::record_id(org, &r.event_hash);
            // Only a record anchored before the rule under an event hash equal to this id
            // could hold its key.
            if st::record_header(ov, &id)?.is_some() {
                return Err(fail(
                    codes::DUPLICATE_EVENT,
                    format!(
                        "{}: the record id {id} of event {} for {org:?} is the event hash of a record anchored before the {RULE_TRACE_RECORD_IDS} rule",
                        at("event_hash"),
                        want_types::trace::event_hash_id(&r.event_hash)
                    ),
                ));
            }
            ov.put(st::event_record_key(&r.event_hash, org), id.0.to_vec());
            id
        } else {
            if let Some(existing) = st::record_header(ov, &r.event_hash)? {
                let by = if existing.org == org {
                    String::new()
                } else {
                    format!(
                        " by organisation {:?} (block {}), not by {org:?}",
                        existing.org, existing.height
                    )
                };
                return Err(fail(
                    codes::DUPLICATE_EVENT,
                    format!(
                        "{}: event {} is already captured{by}",
                        at("event_hash"),
                        want_types::trace::event_hash_id(&r.event_hash)
                    ),
                ));
            }
            r.event_hash
        };
        if st::record_by_cid(ov, &r.cid)?.is_some() {
            return Err(fail(
                codes::DUPLICATE_BLOB,
                format!("{}: CID {} is already anchored", at("cid"), r.cid),
            ));
        }
        if ctx.activations.active(RULE_TRACE_WRITERS, ctx.height)
            && st::kyc_doc(ov, &r.cid)?.is_some()
        {
            return Err(fail(
                codes::DUPLICATE_BLOB,
                format!(
                    "{}: CID {} is a filed KYC document; a record's sealed blob is a blob of its own",
                    at("cid"),
                    r.cid
                ),
            ));
        }
        let index_u32 =
            u32::try_from(index).expect("invariant: records.len() <= ANCHOR_RECORDS_MAX");
        events.push(TraceEvent::RecordAnchored {
            event_hash: r.event_hash,
            org: org.to_string(),
            signer: *sender,
            biz_step: r.public.biz_step.clone(),
            products: r.public.products.len() as u64,
        });

        st::put_record(
            ov,
            &id,
            RecordInfo {
                event_hash: r.event_hash,
                org: org.to_string(),
                signer: *sender,
                record_hash: r.record_hash,
                cid: r.cid.clone(),
                owner_wrapped_key: r.owner_wrapped_key.clone(),
                // Admission does not copy a read's thousands of products for nothing.
                public: if admit {
                    without_products(&r.public)
                } else {
                    r.public.clone()
                },
                height: ctx.height,
                tx_id: *tx_id,
                index: index_u32,
                seq,
            },
        );
        st::put(ov, st::cid_key(&r.cid), &id);
        let eh = id.0.to_vec();
        ov.put(st::all_key(seq), eh.clone());
        ov.put(
            [st::by_org_prefix(org), seq.to_be_bytes().to_vec()].concat(),
            eh.clone(),
        );
        if let Some(step) = &r.public.biz_step {
            ov.put(
                [st::by_step_prefix(step), seq.to_be_bytes().to_vec()].concat(),
                eh.clone(),
            );
        }
        if let Some(loc) = &r.public.location {
            ov.put(
                [st::by_location_prefix(loc), seq.to_be_bytes().to_vec()].concat(),
                eh.clone(),
            );
        }
        // Admission leaves out the per-product updates: they cannot fail once the record's
        // checks passed, and can be thousands.
        if !admit {
            let mut seen = HashSet::with_capacity(r.public.products.len());
            for p in &r.public.products {
                if !seen.insert(p.id.as_str()) {
                    continue;
                }
                let pk = p.id.as_str();
                // A record by an organisation the product's prefix owner did not endorse is
                // kept apart: it never joins the product's history or its anchor.
                if endorser.endorsement(ov, pk, org)? == Endorsement::Unendorsed {
                    ov.put(st::unendorsed_key(pk, seq), eh.clone());
                    continue;
                }
                let mut info = st::product(ov, pk)?.unwrap_or(ProductInfo {
                    id: p.id.clone(),
                    count: 0,
                    anchor: Hash32::ZERO,
                    tail: Vec::new(),
                });
                info.tail.push(id);
                info.anchor = anchor_step(&info.anchor, &r.record_hash);
                info.count = info
                    .count
                    .checked_add(1)
                    .ok_or_else(|| fail(codes::INVALID_TRACE_CALL, "product record count overflows"))?;
                if info.tail.len() as u64 == st::PRODUCT_CHUNK_RECORDS {
                    let chunk = info.count / st::PRODUCT_CHUNK_RECORDS - 1;
                    let bytes: Vec<u8> = info.tail.iter().flat_map(|h| h.0).collect();
                    ov.put(st::product_chunk_key(pk, chunk), bytes);
                    info.tail.clear();
                }
                st::put(ov, st::product_info_key(pk), &info);
            }
        }
        seq = seq
            .checked_add(1)
            .ok_or_else(|| fail(codes::INVALID_TRACE_CALL, "record sequence overflows"))?;
    }
    ov.put(st::SEQ_KEY.to_vec(), seq.to_be_bytes().to_vec());
    Ok(())
}

/// Whether an organisation may extend a product's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endorsement {
    /// No registered GS1 Company Prefix covers the product: anyone's records join its history.
    Unclaimed,
    /// The prefix's owner or a party it authorised.
    Endorsed,
    /// An organisation the product's custody was handed to.
    Custodian,
    /// Anyone else: the record is kept apart.
    Unendorsed,
}

/// Decides [`Endorsement`]s, remembering prefix lookups (one read names thousands of items of a
/// few GTINs).
#[derive(Default)]
struct Endorser {
    /// Per product key's leading digits: its registered prefix and owner.
    prefixes: HashMap<String, Option<(String, String)>>,
    /// Per (prefix, org): whether the org is an authorised party.
    parties: HashMap<(String, String), bool>,
}

impl Endorser {
    fn endorsement(
        &mut self,
        view: &dyn StateView,
        product: &str,
        org: &str,
    ) -> Result<Endorsement, ExecError> {
        let Some(digits) = want_types::trace::gcp_digits(product) else {
            return Ok(Endorsement::Unclaimed);
        };
        let lead = &digits[..digits.len().min(GCP_DIGITS_MAX)];
        let owner = match self.prefixes.get(lead) {
            Some(o) => o.clone(),
            None => {
                let o = st::product_prefix(view, product)?.map(|(p, info)| (p, info.org));
                self.prefixes.insert(lead.to_string(), o.clone());
                o
            }
        };
        let Some((prefix, owner)) = owner else {
            return Ok(Endorsement::Unclaimed);
        };
        if owner == org {
            return Ok(Endorsement::Endorsed);
        }
        let key = (prefix, org.to_string());
        let party = match self.parties.get(&key) {
            Some(p) => *p,
            None => {
                let p = st::is_party(view, &key.0, org)?;
                self.parties.insert(key, p);
                p
            }
        };
        if party {
            return Ok(Endorsement::Endorsed);
        }
        if st::is_custodian(view, product, org)? {
            return Ok(Endorsement::Custodian);
        }
        Ok(Endorsement::Unendorsed)
    }
}

/// Refuses roles an organisation of `kind` may not give its keys.
fn check_roles_for_kind(kind: OrgKind, org: &str, roles: &[Role]) -> Result<(), ExecError> {
    if let Some(r) = role_beyond_kind(kind, roles) {
        let allowed: Vec<&str> = kind.allowed_roles().iter().map(|r| r.as_str()).collect();
        return Err(fail(
            codes::ROLE_NOT_ALLOWED,
            format!(
                "roles: {org:?} is a {} organisation, which may not give the role {}; it may give {}",
                kind.as_str(),
                r.as_str(),
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

fn org_kind(view: &dyn StateView, org: &str) -> Result<Option<OrgKind>, ExecError> {
    Ok(st::org(view, org)?.map(|o| o.kind))
}

fn check_prefix(prefix: &str) -> Result<(), ExecError> {
    if !is_valid_gcp(prefix) {
        return Err(fail(
            codes::INVALID_TRACE_CALL,
            format!(
                "prefix: {prefix:?} is not a GS1 Company Prefix ({GCP_DIGITS_MIN} to {GCP_DIGITS_MAX} digits)"
            ),
        ));
    }
    Ok(())
}

/// A registered prefix that `prefix` extends or is extended by, with its owner.
fn overlapping_prefix(
    view: &dyn StateView,
    prefix: &str,
) -> Result<Option<(String, String)>, ExecError> {
    for n in GCP_DIGITS_MIN..=prefix.len() {
        if let Some(info) = st::prefix(view, &prefix[..n])? {
            return Ok(Some((prefix[..n].to_string(), info.org)));
        }
    }
    let longer = view.range(&st::gcp_key(prefix), None, 1)?;
    if let Some((k, v)) = longer.first() {
        let info: st::PrefixInfo = borsh::from_slice(v)
            .map_err(|e| crate::StateError::corrupt(k, format!("company prefix: {e}")))?;
        let digits = String::from_utf8_lossy(&k[st::GCP_PREFIX.len()..]).into_owned();
        return Ok(Some((digits, info.org)));
    }
    Ok(None)
}

/// The sender must be the administrator or an active manager key of the prefix's owner.
fn require_prefix_owner(
    view: &dyn StateView,
    sender: &Address,
    prefix: &str,
) -> Result<st::PrefixInfo, ExecError> {
    check_prefix(prefix)?;
    let Some(info) = st::prefix(view, prefix)? else {
        return Err(fail(
            codes::UNKNOWN_PREFIX,
            format!("prefix: {prefix} is not a registered company prefix"),
        ));
    };
    require_admin_or_manager(view, sender, &info.org)?;
    Ok(info)
}

fn without_products(p: &PublicFields) -> PublicFields {
    PublicFields {
        event_type: p.event_type.clone(),
        biz_step: p.biz_step.clone(),
        disposition: p.disposition.clone(),
        event_time_ms: p.event_time_ms,
        location: p.location.clone(),
        products: Vec::new(),
    }
}

fn check_record(r: &AnchorRecord, index: usize) -> Result<(), ExecError> {
    let at = |field: &str| format!("records[{index}].{field}");
    check_cid(&r.cid, &at("cid"))?;
    check_wrapped_key(&at("owner_wrapped_key"), &r.owner_wrapped_key)?;
    let p = &r.public;
    if !EVENT_TYPES.contains(&p.event_type.as_str()) {
        return Err(fail(
            codes::INVALID_TRACE_CALL,
            format!(
                "{}: {:?} is not an EPCIS event type ({})",
                at("public.event_type"),
                p.event_type,
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    for (field, v) in [
        ("public.biz_step", &p.biz_step),
        ("public.disposition", &p.disposition),
        ("public.location", &p.location),
    ] {
        if let Some(v) = v {
            check_text(&at(field), v, TRACE_ID_BYTES_MAX)?;
        }
    }
    if p.products.len() > RECORD_PRODUCTS_MAX {
        return Err(fail(
            codes::INVALID_TRACE_CALL,
            format!(
                "{}: {} products; at most {RECORD_PRODUCTS_MAX}",
                at("public.products"),
                p.products.len()
            ),
        ));
    }
    for (i, prod) in p.products.iter().enumerate() {
        // The path is built only for a refusal: a read names thousands of products.
        if !is_valid_text(&prod.id, TRACE_ID_BYTES_MAX) {
            check_text(
                &at(&format!("public.products[{i}].id")),
                &prod.id,
                TRACE_ID_BYTES_MAX,
            )?;
        }
    }
    Ok(())
}

fn is_valid_text(value: &str, max: usize) -> bool {
    !value.is_empty() && value.len() <= max && !value.chars().any(char::is_control)
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ExecError> {
    if !is_valid_text(value, max) {
        return Err(fail(
            codes::INVALID_TRACE_CALL,
            format!("{field} must be 1 to {max} bytes without control characters"),
        ));
    }
    Ok(())
}

/// A CIDv1 in base32 (`b` followed by lowercase base32 digits).
fn check_cid(cid: &str, field: &str) -> Result<(), ExecError> {
    let ok = cid.len() > 1
        && cid.len() <= TRACE_ID_BYTES_MAX
        && cid.starts_with('b')
        && cid[1..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    if !ok {
        return Err(fail(
            codes::INVALID_TRACE_CALL,
            format!("{field}: {cid:?} is not a base32 CIDv1"),
        ));
    }
    Ok(())
}

fn check_public_key(field: &str, key: &[u8]) -> Result<(), ExecError> {
    if key.len() != PUBLIC_KEY_BYTES || !(key[0] == 2 || key[0] == 3) {
        return Err(fail(
            codes::INVALID_TRACE_CALL,
            format!("{field} must be a compressed secp256k1 public key ({PUBLIC_KEY_BYTES} bytes starting 02 or 03)"),
        ));
    }
    Ok(())
}

fn check_wrapped_key(field: &str, key: &[u8]) -> Result<(), ExecError> {
    if key.is_empty() || key.len() > WRAPPED_KEY_BYTES_MAX {
        return Err(fail(
            codes::INVALID_TRACE_CALL,
            format!("{field} must be 1 to {WRAPPED_KEY_BYTES_MAX} bytes of ECIES ciphertext"),
        ));
    }
    Ok(())
}

fn check_org_id(org: &str) -> Result<(), ExecError> {
    if !is_valid_org_id(org) {
        return Err(fail(
            codes::INVALID_TRACE_CALL,
            format!(
                "org {org:?} must be 1 to {} bytes of a-z, 0-9, '.', '_' or '-'",
                want_types::trace::ORG_ID_BYTES_MAX
            ),
        ));
    }
    Ok(())
}

fn require_admin(view: &dyn StateView, sender: &Address) -> Result<(), ExecError> {
    if st::admin(view)? != Some(*sender) {
        return Err(fail(
            codes::NOT_ADMIN,
            format!("{sender} is not the trace administrator"),
        ));
    }
    Ok(())
}

fn require_org(view: &dyn StateView, org: &str) -> Result<OrgInfo, ExecError> {
    st::org(view, org)?.ok_or_else(|| {
        fail(
            codes::UNKNOWN_ORG,
            format!("organisation {org:?} is not registered"),
        )
    })
}

fn active_key(view: &dyn StateView, sender: &Address) -> Result<KeyInfo, ExecError> {
    let Some(info) = st::key(view, sender)? else {
        return Err(fail(
            codes::UNKNOWN_KEY,
            format!("{sender} is not a registered department key"),
        ));
    };
    if let Some(h) = info.revoked_at {
        return Err(fail(
            codes::KEY_REVOKED,
            format!(
                "key {sender} of organisation {:?} was revoked at block {h}",
                info.org
            ),
        ));
    }
    Ok(info)
}

fn require_admin_or_manager(
    view: &dyn StateView,
    sender: &Address,
    org: &str,
) -> Result<(), ExecError> {
    if st::admin(view)? == Some(*sender) {
        return Ok(());
    }
    match st::key(view, sender)? {
        Some(k) if k.active() && k.org == org && k.roles.contains(&Role::Manager) => Ok(()),
        _ => Err(fail(
            codes::NOT_ADMIN,
            format!(
                "{sender} is neither the trace administrator nor an active manager key of {org:?}"
            ),
        )),
    }
}

/// The sender must be an active key of the organisation that owns the record of `event_hash`:
/// before the `trace_record_ids` rule the one record of the hash, under it the sender's
/// organisation's record of the hash. Returns the record's id and the record.
fn require_owner(
    view: &dyn StateView,
    sender: &Address,
    event_hash: &Hash32,
    ids_rule: bool,
) -> Result<(Hash32, RecordInfo), ExecError> {
    let id_text = want_types::trace::event_hash_id(event_hash);
    if ids_rule {
        let key = active_key(view, sender)?;
        if let Some(id) = st::record_id_of(view, &key.org, event_hash)? {
            let rec = st::record_header(view, &id)?.ok_or_else(|| {
                crate::StateError::corrupt(
                    &st::event_record_key(event_hash, &key.org),
                    "the event's index names a record not stored",
                )
            })?;
            return Ok((id, rec));
        }
        let others = st::event_records(view, event_hash)?;
        if let Some((_, other)) = others.first() {
            return Err(fail(
                codes::NOT_RECORD_OWNER,
                format!(
                    "record {id_text} of {:?} is not {sender}'s: its organisation {:?} has no record of that event",
                    other.org, key.org
                ),
            ));
        }
        return Err(fail(codes::UNKNOWN_RECORD, format!("no record {id_text}")));
    }
    let Some(rec) = st::record_header(view, event_hash)? else {
        return Err(fail(codes::UNKNOWN_RECORD, format!("no record {id_text}")));
    };
    let key = active_key(view, sender)?;
    if key.org != rec.org {
        return Err(fail(
            codes::NOT_RECORD_OWNER,
            format!(
                "record {id_text} belongs to organisation {:?}; {sender} is a key of {:?}",
                rec.org, key.org
            ),
        ));
    }
    Ok((*event_hash, rec))
}
