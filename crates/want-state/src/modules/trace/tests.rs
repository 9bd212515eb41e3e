//! Behaviour of the trace module over whole blocks.

use want_types::trace::{
    anchor_of, AnchorRecord, OrgKind, Permission, ProductLink, PublicFields, Relation, Role,
    TraceCall,
};
use want_types::{Address, Call, Hash32};

use super::state as st;
use super::{GenesisOrg, GenesisOrgKey, TraceGenesis};
use crate::testutil::*;
use super::codes;
use crate::{apply_block, BlockContext, MemState, VerifiedTx};

const ADMIN: u8 = 1;
const FACTORY_KEY: u8 = 2;
const SHOP_KEY: u8 = 3;
const STRANGER: u8 = 4;

fn enc_key(n: u8) -> Vec<u8> {
    let mut k = vec![n; 33];
    k[0] = 2;
    k
}

fn genesis_key(n: u8, department: &str, role: Role) -> GenesisOrgKey {
    GenesisOrgKey {
        address: addr(n),
        department: department.into(),
        roles: vec![role],
    }
}

/// Genesis with an administrator, a factory (producer key) and a shop (retailer key).
fn chain() -> MemState {
    let trace = TraceGenesis {
        admin: Some(addr(ADMIN)),
        orgs: vec![
            GenesisOrg {
                org: "factory".into(),
                name: "Factory".into(),
                kind: OrgKind::Factory,
                encryption_key: hex::encode(enc_key(9)),
                keys: vec![genesis_key(FACTORY_KEY, "line 1", Role::Producer)],
            },
            GenesisOrg {
                org: "shop".into(),
                name: "Shop".into(),
                kind: OrgKind::Retailer,
                encryption_key: hex::encode(enc_key(8)),
                keys: vec![genesis_key(SHOP_KEY, "till", Role::Retailer)],
            },
        ],
    };
    // The named keys, and keys 20..=45 that tests give roles to later.
    let funded: Vec<u8> = [ADMIN, FACTORY_KEY, SHOP_KEY, STRANGER]
        .into_iter()
        .chain(20..=45)
        .collect();
    let mut allocs: Vec<(Address, u128)> =
        funded.iter().map(|n| (addr(*n), 1_000_000_000)).collect();
    allocs.push((
        addr(200),
        want_types::amount::TOTAL_SUPPLY - funded.len() as u128 * 1_000_000_000,
    ));
    let sections = [("trace".to_string(), serde_json::to_value(&trace).unwrap())]
        .into_iter()
        .collect();
    let (ws, _) = crate::genesis_state(&crate::GenesisInput {
        params: &params(),
        allocations: &allocs,
        sections: &sections,
        activations: &Default::default(),
    })
    .unwrap();
    let mut ms = MemState::new();
    ms.apply(&ws);
    ms
}

struct Chain {
    ms: MemState,
    height: u64,
    nonces: std::collections::BTreeMap<Address, u64>,
    time_ms: u64,
    activations: want_types::Activations,
    /// The state root after the last block (from a zero root at the genesis).
    root: Hash32,
}

impl Chain {
    fn new() -> Chain {
        Chain {
            ms: chain(),
            height: 0,
            nonces: Default::default(),
            time_ms: NOW_MS,
            activations: Default::default(),
            root: Hash32::ZERO,
        }
    }

    /// One block of calls; returns (code, message) per call ("" on success).
    fn block(&mut self, calls: Vec<(u8, TraceCall)>) -> Vec<(String, String)> {
        self.height += 1;
        let txs: Vec<VerifiedTx> = calls
            .into_iter()
            .map(|(who, call)| {
                let sender = addr(who);
                let n = self.nonces.entry(sender).or_default();
                let mut t = tx_call(*n, Call::Trace(call));
                t.expiry_ms = u64::MAX;
                *n += 1;
                // The fee its weight costs.
                let size = borsh::object_length(&verified(sender, t.clone()).tx).unwrap();
                t.fee = params()
                    .fee_for_weight(crate::tx_weight(&t.call, size))
                    .unwrap();
                verified(sender, t)
            })
            .collect();
        let ctx = BlockContext {
            height: self.height,
            timestamp_ms: self.time_ms,
            params: params(),
            activations: self.activations.clone(),
        };
        let out = apply_block(&self.ms, &ctx, Hash32::ZERO, &txs).unwrap();
        self.root = crate::state_root_step(self.root, self.height, &out.write_set);
        self.ms.apply(&out.write_set);
        out.receipts
            .iter()
            .map(|r| (code(r).1.to_string(), message(r).to_string()))
            .collect()
    }

    fn ok(&mut self, who: u8, call: TraceCall) {
        let r = self.block(vec![(who, call)]);
        assert_eq!(r[0].0, "", "{:?}", r[0]);
    }

    fn fails(&mut self, who: u8, call: TraceCall, expected: &str) -> String {
        let r = self.block(vec![(who, call)]);
        assert_eq!(r[0].0, expected, "{:?}", r[0]);
        r[0].1.clone()
    }
}

fn record(n: u8, step: &str, products: &[(&str, Relation)]) -> AnchorRecord {
    AnchorRecord {
        event_hash: Hash32([n; 32]),
        record_hash: Hash32([n.wrapping_add(100); 32]),
        cid: format!("bafkrei{}", "a".repeat(52 + usize::from(n % 3))),
        owner_wrapped_key: vec![7; 97],
        public: PublicFields {
            event_type: "ObjectEvent".into(),
            biz_step: Some(step.into()),
            disposition: None,
            event_time_ms: Some(1),
            location: Some("https://id.gs1.org/414/0614141000005".into()),
            products: products
                .iter()
                .map(|(id, relation)| ProductLink {
                    id: id.to_string(),
                    relation: *relation,
                })
                .collect(),
        },
    }
}

fn unique_cid(mut r: AnchorRecord, n: u8) -> AnchorRecord {
    r.cid = format!(
        "bafkrei{}",
        std::iter::repeat_n((b'a' + n % 26) as char, 52).collect::<String>()
    );
    r
}

fn anchor(org: &str, records: Vec<AnchorRecord>) -> TraceCall {
    TraceCall::Anchor {
        org: org.into(),
        records,
    }
}

const ITEM: &str = "https://id.gs1.org/01/09521234543213/21/1";

/// The id of `org`'s record of an event hash under the `trace_record_ids` rule.
fn rid(org: &str, event_hash: Hash32) -> Hash32 {
    want_types::trace::record_id(org, &event_hash)
}

#[test]
fn only_the_administrator_registers_organisations() {
    let mut c = Chain::new();
    let reg = TraceCall::RegisterOrg {
        org: "carrier".into(),
        name: "Carrier".into(),
        kind: OrgKind::Logistics,
        encryption_key: enc_key(5),
    };
    c.fails(STRANGER, reg.clone(), codes::NOT_ADMIN);
    c.ok(ADMIN, reg.clone());
    assert_eq!(
        st::org(&c.ms, "carrier").unwrap().unwrap().kind,
        OrgKind::Logistics
    );
    c.fails(ADMIN, reg, codes::ORG_EXISTS);
}

#[test]
fn a_producer_anchors_and_the_product_anchor_runs_over_its_records() {
    let mut c = Chain::new();
    let r1 = unique_cid(record(1, "commissioning", &[(ITEM, Relation::Epc)]), 1);
    let r2 = unique_cid(record(2, "packing", &[(ITEM, Relation::Epc)]), 2);
    c.ok(FACTORY_KEY, anchor("factory", vec![r1.clone(), r2.clone()]));
    let p = st::product(&c.ms, ITEM).unwrap().unwrap();
    assert_eq!(p.count, 2);
    assert_eq!(p.anchor, anchor_of([&r1.record_hash, &r2.record_hash]));
    let rec = st::record(&c.ms, &rid("factory", r2.event_hash)).unwrap().unwrap();
    assert_eq!(
        (rec.org.as_str(), rec.signer, rec.index, rec.seq),
        ("factory", addr(FACTORY_KEY), 1, 1)
    );
    assert_eq!(
        st::product_event(&c.ms, ITEM, 1).unwrap(),
        Some(rid("factory", r2.event_hash))
    );
    assert_eq!(
        st::record_by_cid(&c.ms, &r1.cid).unwrap(),
        Some(rid("factory", r1.event_hash))
    );
}

#[test]
fn signing_outside_ones_role_or_for_another_organisation_is_refused() {
    let mut c = Chain::new();
    let msg = c.fails(
        FACTORY_KEY,
        anchor(
            "factory",
            vec![record(1, "retail_selling", &[(ITEM, Relation::Epc)])],
        ),
        codes::ROLE_NOT_ALLOWED,
    );
    assert!(msg.contains("records[0].public.biz_step"), "{msg}");
    c.fails(
        SHOP_KEY,
        anchor(
            "factory",
            vec![record(1, "retail_selling", &[(ITEM, Relation::Epc)])],
        ),
        codes::NOT_ORG_KEY,
    );
    c.fails(
        STRANGER,
        anchor(
            "shop",
            vec![record(1, "retail_selling", &[(ITEM, Relation::Epc)])],
        ),
        codes::UNKNOWN_KEY,
    );
    c.ok(
        SHOP_KEY,
        anchor(
            "shop",
            vec![record(1, "retail_selling", &[(ITEM, Relation::Epc)])],
        ),
    );
}

#[test]
fn a_captured_event_cannot_be_anchored_again() {
    let mut c = Chain::new();
    let r = record(1, "commissioning", &[(ITEM, Relation::Epc)]);
    c.ok(FACTORY_KEY, anchor("factory", vec![r.clone()]));
    let mut again = r;
    again.cid = unique_cid(again.clone(), 9).cid;
    c.fails(
        FACTORY_KEY,
        anchor("factory", vec![again]),
        codes::DUPLICATE_EVENT,
    );
}

#[test]
fn a_revoked_key_signs_nothing_from_the_next_transaction_on() {
    let mut c = Chain::new();
    c.ok(
        ADMIN,
        TraceCall::RevokeKey {
            key: addr(FACTORY_KEY),
        },
    );
    let msg = c.fails(
        FACTORY_KEY,
        anchor(
            "factory",
            vec![record(1, "commissioning", &[(ITEM, Relation::Epc)])],
        ),
        codes::KEY_REVOKED,
    );
    assert!(msg.contains("revoked at block 1"), "{msg}");
    assert_eq!(
        st::key(&c.ms, &addr(FACTORY_KEY))
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(1)
    );
}

#[test]
fn managers_add_keys_to_their_own_organisation_only() {
    let mut c = Chain::new();
    c.ok(
        ADMIN,
        TraceCall::AddKey {
            org: "factory".into(),
            key: addr(10),
            department: "management".into(),
            roles: vec![Role::Manager],
        },
    );
    c.ok(
        ADMIN,
        TraceCall::AddKey {
            org: "factory".into(),
            key: addr(STRANGER),
            department: "management".into(),
            roles: vec![Role::Manager],
        },
    );
    c.ok(
        STRANGER,
        TraceCall::AddKey {
            org: "factory".into(),
            key: addr(11),
            department: "line 2".into(),
            roles: vec![Role::Producer],
        },
    );
    c.fails(
        STRANGER,
        TraceCall::AddKey {
            org: "shop".into(),
            key: addr(12),
            department: "till 2".into(),
            roles: vec![Role::Retailer],
        },
        codes::NOT_ADMIN,
    );
    c.fails(
        ADMIN,
        TraceCall::AddKey {
            org: "shop".into(),
            key: addr(11),
            department: "again".into(),
            roles: vec![Role::Retailer],
        },
        codes::KEY_EXISTS,
    );
}

#[test]
fn grants_are_given_and_withdrawn_by_the_owner_and_must_expire_in_the_future() {
    let mut c = Chain::new();
    let r = record(1, "commissioning", &[(ITEM, Relation::Epc)]);
    c.ok(FACTORY_KEY, anchor("factory", vec![r.clone()]));
    let grant = |expires_at_ms| TraceCall::Grant {
        event_hash: r.event_hash,
        grantee: addr(SHOP_KEY),
        grantee_key: enc_key(8),
        permission: Permission::Read,
        expires_at_ms,
        wrapped_key: vec![1; 97],
    };
    c.fails(FACTORY_KEY, grant(NOW_MS), codes::GRANT_EXPIRED);
    c.fails(SHOP_KEY, grant(NOW_MS + 1), codes::NOT_RECORD_OWNER);
    c.ok(FACTORY_KEY, grant(NOW_MS + 1_000));
    let g = st::grant(&c.ms, &rid("factory", r.event_hash), &addr(SHOP_KEY))
        .unwrap()
        .unwrap();
    assert_eq!(g.expires_at_ms, NOW_MS + 1_000);
    let revoke = TraceCall::RevokeGrant {
        event_hash: r.event_hash,
        grantee: addr(SHOP_KEY),
    };
    c.ok(FACTORY_KEY, revoke.clone());
    assert!(st::grant(&c.ms, &rid("factory", r.event_hash), &addr(SHOP_KEY))
        .unwrap()
        .is_none());
    c.fails(FACTORY_KEY, revoke, codes::UNKNOWN_GRANT);
}

#[test]
fn kyc_attestations_need_the_verifier_role_and_keep_only_hash_and_level() {
    let mut c = Chain::new();
    let attest = TraceCall::AttestKyc {
        subject: addr(STRANGER),
        level: 2,
        attestation: Hash32([5; 32]),
    };
    c.fails(FACTORY_KEY, attest.clone(), codes::ROLE_NOT_ALLOWED);
    register_bureau(&mut c, "bureau", ADMIN);
    c.ok(
        STRANGER,
        TraceCall::SubmitKyc {
            verifier: addr(ADMIN),
            cid: unique_cid(record(1, "x", &[]), 3).cid,
        },
    );
    c.ok(ADMIN, attest);
    let k = st::kyc(&c.ms, &addr(STRANGER)).unwrap().unwrap();
    assert_eq!(
        (k.level, k.attestation, k.verifier),
        (2, Hash32([5; 32]), addr(ADMIN))
    );
}

/// Registers a KYC verifier organisation with `key` as its verifier.
fn register_bureau(c: &mut Chain, org: &str, key: u8) {
    c.ok(
        ADMIN,
        TraceCall::RegisterOrg {
            org: org.into(),
            name: "KYC bureau".into(),
            kind: OrgKind::KycVerifier,
            encryption_key: enc_key(key),
        },
    );
    c.ok(
        ADMIN,
        TraceCall::AddKey {
            org: org.into(),
            key: addr(key),
            department: "kyc desk".into(),
            roles: vec![Role::KycVerifier],
        },
    );
}

fn add_key(org: &str, key: u8, roles: Vec<Role>) -> TraceCall {
    TraceCall::AddKey {
        org: org.into(),
        key: addr(key),
        department: "desk".into(),
        roles,
    }
}

#[test]
fn roles_are_limited_by_the_kind_of_organisation_the_administrator_approved() {
    let mut c = Chain::new();
    // The shop's manager may not make its own keys KYC verifiers, nor may the administrator.
    c.ok(ADMIN, add_key("shop", 20, vec![Role::Manager]));
    let msg = c.fails(20, add_key("shop", 21, vec![Role::KycVerifier]), codes::ROLE_NOT_ALLOWED);
    assert!(msg.contains("retailer") && msg.contains("kyc_verifier"), "{msg}");
    c.fails(ADMIN, add_key("shop", 21, vec![Role::Any]), codes::ROLE_NOT_ALLOWED);
    c.fails(ADMIN, add_key("shop", 21, vec![Role::Retailer, Role::Producer]), codes::ROLE_NOT_ALLOWED);
    c.ok(20, add_key("shop", 21, vec![Role::Retailer, Role::Warehouse]));
    // A KYC bureau's keys attest identities and manage; they sign no supply-chain records.
    register_bureau(&mut c, "bureau", 22);
    c.fails(ADMIN, add_key("bureau", 23, vec![Role::Warehouse]), codes::ROLE_NOT_ALLOWED);
}

#[test]
fn before_the_writers_rule_is_active_old_blocks_keep_their_meaning() {
    let mut c = Chain::new();
    c.activations
        .0
        .insert(want_types::params::RULE_TRACE_WRITERS.into(), 1_000);
    c.ok(ADMIN, add_key("shop", 20, vec![Role::KycVerifier]));
    c.ok(
        20,
        TraceCall::AttestKyc {
            subject: addr(STRANGER),
            level: 1,
            attestation: Hash32([1; 32]),
        },
    );
    assert!(st::kyc(&c.ms, &addr(STRANGER)).unwrap().is_some());
    c.height = 999;
    c.fails(
        20,
        TraceCall::AttestKyc {
            subject: addr(STRANGER),
            level: 2,
            attestation: Hash32([2; 32]),
        },
        codes::ROLE_NOT_ALLOWED,
    );
}

#[test]
fn a_verifiers_attestation_never_erases_another_verifiers() {
    let mut c = Chain::new();
    register_bureau(&mut c, "bureau-a", 30);
    register_bureau(&mut c, "bureau-b", 31);
    let attest = |level: u8, n: u8| TraceCall::AttestKyc {
        subject: addr(STRANGER),
        level,
        attestation: Hash32([n; 32]),
    };
    c.ok(30, attest(3, 1));
    c.ok(31, attest(1, 2));
    let all = st::kyc_attestations(&c.ms, &addr(STRANGER)).unwrap();
    let by: Vec<(Address, u8)> = all.iter().map(|k| (k.verifier, k.level)).collect();
    assert_eq!(by.len(), 2, "{by:?}");
    assert!(by.contains(&(addr(30), 3)) && by.contains(&(addr(31), 1)), "{by:?}");
    // A verifier revises its own.
    c.ok(30, attest(2, 3));
    let a = st::kyc_attestation(&c.ms, &addr(STRANGER), &addr(30))
        .unwrap()
        .unwrap();
    assert_eq!((a.level, a.attestation), (2, Hash32([3; 32])));
    assert_eq!(st::kyc_attestations(&c.ms, &addr(STRANGER)).unwrap().len(), 2);
    // The latest is the summary.
    assert_eq!(st::kyc(&c.ms, &addr(STRANGER)).unwrap().unwrap().verifier, addr(30));
}

#[test]
fn a_cid_names_a_record_or_a_kyc_document_never_both() {
    let mut c = Chain::new();
    register_bureau(&mut c, "bureau", 30);
    // A KYC document's CID is public (SubmitKyc): an organisation may not anchor it as a record
    // and so gain read access to the sealed identity document.
    let doc = unique_cid(record(1, "commissioning", &[(ITEM, Relation::Epc)]), 7);
    c.ok(
        STRANGER,
        TraceCall::SubmitKyc {
            verifier: addr(30),
            cid: doc.cid.clone(),
        },
    );
    let msg = c.fails(FACTORY_KEY, anchor("factory", vec![doc]), codes::DUPLICATE_BLOB);
    assert!(msg.contains("records[0].cid") && msg.contains("KYC"), "{msg}");
    // And a record's blob may not be filed as a KYC document.
    let rec = unique_cid(record(2, "commissioning", &[(ITEM, Relation::Epc)]), 8);
    c.ok(FACTORY_KEY, anchor("factory", vec![rec.clone()]));
    c.fails(
        STRANGER,
        TraceCall::SubmitKyc {
            verifier: addr(30),
            cid: rec.cid,
        },
        codes::DUPLICATE_BLOB,
    );
}

const OTHER_ITEM: &str = "https://id.gs1.org/01/09521234543213/21/2";

fn register_prefix(prefix: &str, org: &str) -> TraceCall {
    TraceCall::RegisterPrefix {
        prefix: prefix.into(),
        org: org.into(),
    }
}

/// The record ids in a product's history, and those kept apart.
fn history_ids(c: &Chain, product: &str) -> (Vec<Hash32>, Vec<Hash32>) {
    let endorsed = match st::product(&c.ms, product).unwrap() {
        Some(info) => st::product_events(&c.ms, product, &info, 0, 100).unwrap(),
        None => vec![],
    };
    let apart = super::query::unendorsed_records(&c.ms, product, None, 100)
        .unwrap()
        .items
        .into_iter()
        .map(|(_, h)| h)
        .collect();
    (endorsed, apart)
}

/// The event hashes of the records in a product's history, and of those kept apart.
fn history(c: &Chain, product: &str) -> (Vec<Hash32>, Vec<Hash32>) {
    let event = |id: Hash32| st::record_header(&c.ms, &id).unwrap().unwrap().event_hash;
    let (endorsed, apart) = history_ids(c, product);
    (
        endorsed.into_iter().map(event).collect(),
        apart.into_iter().map(event).collect(),
    )
}

#[test]
fn company_prefixes_are_registered_by_the_administrator_and_never_nest() {
    let mut c = Chain::new();
    c.fails(FACTORY_KEY, register_prefix("9521234", "factory"), codes::NOT_ADMIN);
    c.fails(ADMIN, register_prefix("952", "factory"), codes::INVALID_TRACE_CALL);
    c.fails(ADMIN, register_prefix("9521234", "nobody"), codes::UNKNOWN_ORG);
    c.ok(ADMIN, register_prefix("9521234", "factory"));
    c.fails(ADMIN, register_prefix("9521234", "shop"), codes::PREFIX_EXISTS);
    c.fails(ADMIN, register_prefix("95212345", "shop"), codes::PREFIX_EXISTS);
    c.fails(ADMIN, register_prefix("95212", "shop"), codes::PREFIX_EXISTS);
    c.ok(ADMIN, register_prefix("9521235", "shop"));
    let (p, info) = st::product_prefix(&c.ms, ITEM).unwrap().unwrap();
    assert_eq!((p.as_str(), info.org.as_str()), ("9521234", "factory"));
}

#[test]
fn records_by_organisations_the_prefix_owner_did_not_endorse_stay_out_of_the_history() {
    let mut c = Chain::new();
    c.ok(ADMIN, add_key("shop", 40, vec![Role::Manager]));
    // Unclaimed (no prefix registered): anyone's records join the history, as before.
    c.ok(SHOP_KEY, anchor("shop", vec![unique_cid(record(1, "retail_selling", &[(ITEM, Relation::Epc)]), 1)]));
    assert_eq!(history(&c, ITEM), (vec![Hash32([1; 32])], vec![]));
    c.ok(ADMIN, register_prefix("9521234", "factory"));
    // The shop is not endorsed: its record is kept apart and leaves the anchor alone.
    let anchor_before = st::product(&c.ms, ITEM).unwrap().unwrap().anchor;
    c.ok(SHOP_KEY, anchor("shop", vec![unique_cid(record(2, "retail_selling", &[(ITEM, Relation::Epc)]), 2)]));
    assert_eq!(history(&c, ITEM), (vec![Hash32([1; 32])], vec![Hash32([2; 32])]));
    assert_eq!(st::product(&c.ms, ITEM).unwrap().unwrap().anchor, anchor_before);
    // The owner's records join.
    c.ok(FACTORY_KEY, anchor("factory", vec![unique_cid(record(3, "commissioning", &[(ITEM, Relation::Epc)]), 3)]));
    assert_eq!(history(&c, ITEM).0, vec![Hash32([1; 32]), Hash32([3; 32])]);
    // Authorised, the shop's records join; withdrawn, they are kept apart again.
    let party = TraceCall::AuthorizeParty {
        prefix: "9521234".into(),
        party: "shop".into(),
    };
    c.fails(40, party.clone(), codes::NOT_ADMIN);
    c.ok(ADMIN, party);
    c.ok(SHOP_KEY, anchor("shop", vec![unique_cid(record(4, "retail_selling", &[(ITEM, Relation::Epc)]), 4)]));
    assert_eq!(history(&c, ITEM).0.last(), Some(&Hash32([4; 32])));
    let withdraw = TraceCall::WithdrawParty {
        prefix: "9521234".into(),
        party: "shop".into(),
    };
    c.ok(ADMIN, withdraw.clone());
    c.fails(ADMIN, withdraw, codes::UNKNOWN_PARTY);
    c.ok(SHOP_KEY, anchor("shop", vec![unique_cid(record(5, "retail_selling", &[(ITEM, Relation::Epc)]), 5)]));
    assert_eq!(history(&c, ITEM).1, vec![Hash32([2; 32]), Hash32([5; 32])]);
}

#[test]
fn custody_is_handed_over_per_product_by_an_endorsed_organisation() {
    let mut c = Chain::new();
    c.ok(ADMIN, register_prefix("9521234", "factory"));
    let hand = |to: &str, products: &[&str]| TraceCall::HandOver {
        to_org: to.into(),
        products: products.iter().map(|p| p.to_string()).collect(),
    };
    // Keys that ship hand goods over: the factory's dispatch, the shop's manager.
    c.ok(ADMIN, add_key("factory", 41, vec![Role::Warehouse]));
    c.ok(ADMIN, add_key("shop", 42, vec![Role::Manager]));
    // A producer key does not ship.
    c.fails(FACTORY_KEY, hand("shop", &[ITEM]), codes::ROLE_NOT_ALLOWED);
    // The shop holds no custody: it may not hand over, nor give itself custody.
    c.fails(42, hand("factory", &[ITEM]), codes::NOT_CUSTODIAN);
    c.fails(41, hand("shop", &["urn:example:thing"]), codes::NOT_CUSTODIAN);
    c.fails(41, hand("shop", &[ITEM, ITEM]), codes::INVALID_TRACE_CALL);
    c.fails(41, hand("factory", &[ITEM]), codes::INVALID_TRACE_CALL);
    c.ok(41, hand("shop", &[ITEM]));
    assert!(st::is_custodian(&c.ms, ITEM, "shop").unwrap());
    // The shop now extends that item's history, not its sibling's.
    c.ok(
        SHOP_KEY,
        anchor(
            "shop",
            vec![unique_cid(
                record(6, "retail_selling", &[(ITEM, Relation::Epc), (OTHER_ITEM, Relation::Epc)]),
                6,
            )],
        ),
    );
    assert_eq!(history(&c, ITEM), (vec![Hash32([6; 32])], vec![]));
    assert_eq!(history(&c, OTHER_ITEM), (vec![], vec![Hash32([6; 32])]));
    // Handing the goods on, the shop no longer holds them (custody moves, it is not shared).
    c.ok(
        ADMIN,
        TraceCall::RegisterOrg {
            org: "carrier".into(),
            name: "Carrier".into(),
            kind: OrgKind::Logistics,
            encryption_key: enc_key(5),
        },
    );
    c.ok(42, hand("carrier", &[ITEM]));
    assert!(st::is_custodian(&c.ms, ITEM, "carrier").unwrap());
    assert!(!st::is_custodian(&c.ms, ITEM, "shop").unwrap());
    c.fails(42, hand("carrier", &[ITEM]), codes::NOT_CUSTODIAN);
}

#[test]
fn prefixes_custody_and_declarations_wait_for_the_writers_rule() {
    let mut c = Chain::new();
    c.activations
        .0
        .insert(want_types::params::RULE_TRACE_WRITERS.into(), 1_000);
    let msg = c.fails(ADMIN, register_prefix("9521234", "factory"), codes::INVALID_TRACE_CALL);
    assert!(msg.contains("trace_writers"), "{msg}");
}

#[test]
fn under_the_writers_rule_a_key_signs_only_with_roles_its_kind_allows() {
    let mut c = Chain::new();
    c.activations
        .0
        .insert(want_types::params::RULE_TRACE_WRITERS.into(), 3);
    // Before the rule, the shop (a retailer) gave a key `any`.
    c.ok(ADMIN, add_key("shop", 43, vec![Role::Any]));
    c.ok(43, anchor("shop", vec![unique_cid(record(10, "commissioning", &[(ITEM, Relation::Epc)]), 10)]));
    // From the rule on, that role is void: a retailer's key commissions nothing.
    c.fails(
        43,
        anchor("shop", vec![unique_cid(record(11, "commissioning", &[(ITEM, Relation::Epc)]), 11)]),
        codes::ROLE_NOT_ALLOWED,
    );
}

#[test]
fn only_the_owner_declares_a_record_erroneous_once_and_the_record_stays() {
    let mut c = Chain::new();
    let r = unique_cid(record(9, "commissioning", &[(ITEM, Relation::Epc)]), 9);
    c.ok(FACTORY_KEY, anchor("factory", vec![r]));
    let declare = TraceCall::DeclareError {
        event_hash: Hash32([9; 32]),
        declared_at_ms: 1_700_000_000_000,
        reason: Some("incorrect_data".into()),
        corrective_event_ids: vec!["urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8".into()],
    };
    c.fails(SHOP_KEY, declare.clone(), codes::NOT_RECORD_OWNER);
    c.fails(
        FACTORY_KEY,
        TraceCall::DeclareError {
            event_hash: Hash32([8; 32]),
            declared_at_ms: 0,
            reason: None,
            corrective_event_ids: vec![],
        },
        codes::UNKNOWN_RECORD,
    );
    c.ok(FACTORY_KEY, declare.clone());
    let id = rid("factory", Hash32([9; 32]));
    let d = st::error_declaration(&c.ms, &id).unwrap().unwrap();
    assert_eq!(d.reason.as_deref(), Some("incorrect_data"));
    assert_eq!(d.corrective_event_ids.len(), 1);
    assert!(st::record_header(&c.ms, &id).unwrap().is_some());
    assert_eq!(history(&c, ITEM).0, vec![Hash32([9; 32])]);
    c.fails(FACTORY_KEY, declare, codes::DUPLICATE_EVENT);
}

#[test]
fn malformed_records_are_refused_naming_the_field() {
    let mut c = Chain::new();
    let mut r = record(1, "commissioning", &[(ITEM, Relation::Epc)]);
    r.cid = "Qm-not-a-cid".into();
    let msg = c.fails(
        FACTORY_KEY,
        anchor("factory", vec![r]),
        codes::INVALID_TRACE_CALL,
    );
    assert!(msg.contains("records[0].cid"), "{msg}");
    let mut r = record(1, "commissioning", &[(ITEM, Relation::Epc)]);
    r.public.event_type = "SensorEvent".into();
    let msg = c.fails(
        FACTORY_KEY,
        anchor("factory", vec![r]),
        codes::INVALID_TRACE_CALL,
    );
    assert!(msg.contains("records[0].public.event_type"), "{msg}");
}

#[test]
fn product_record_lists_span_chunks_in_order_and_stay_apart_when_one_id_extends_another() {
    let mut c = Chain::new();
    // Product keys are the identifiers themselves: `longer` starts with ITEM's whole id.
    let longer = format!("{ITEM}0");
    let n = st::PRODUCT_CHUNK_RECORDS as usize * 3 + 5;
    let mut records = Vec::new();
    for i in 0..n {
        let names: Vec<(&str, Relation)> = if i % 3 == 2 {
            vec![(longer.as_str(), Relation::Epc)]
        } else {
            vec![(ITEM, Relation::Epc), (longer.as_str(), Relation::Epc)]
        };
        let mut r = record(0, "commissioning", &names);
        r.event_hash = want_types::hash::sha256(&(i as u64).to_be_bytes());
        r.record_hash = want_types::hash::sha256(&(i as u64 + 1_000).to_be_bytes());
        r.cid = format!(
            "bafkrei{}",
            want_types::hash::sha256(&(i as u64).to_be_bytes())
                .to_hex()
                .replace(['0', '1', '8', '9'], "a")
        );
        records.push(r);
    }
    for batch in records.chunks(50) {
        c.ok(FACTORY_KEY, anchor("factory", batch.to_vec()));
    }
    let item_records: Vec<&AnchorRecord> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 2)
        .map(|(_, r)| r)
        .collect();
    let info = st::product(&c.ms, ITEM).unwrap().unwrap();
    assert_eq!(info.count, item_records.len() as u64);
    let all = st::product_events(&c.ms, ITEM, &info, 0, usize::MAX).unwrap();
    let want: Vec<Hash32> = item_records.iter().map(|r| rid("factory", r.event_hash)).collect();
    assert_eq!(all, want);
    let some = st::product_events(&c.ms, ITEM, &info, 60, 10).unwrap();
    assert_eq!(some, want[60..70].to_vec());
    assert_eq!(
        info.anchor,
        anchor_of(item_records.iter().map(|r| &r.record_hash))
    );

    let info = st::product(&c.ms, &longer).unwrap().unwrap();
    assert_eq!(info.count, n as u64);
    assert_eq!(info.tail.len(), 5);
    let all = st::product_events(&c.ms, &longer, &info, 0, usize::MAX).unwrap();
    let want: Vec<Hash32> = records.iter().map(|r| rid("factory", r.event_hash)).collect();
    assert_eq!(all, want);
    assert_eq!(
        info.anchor,
        anchor_of(records.iter().map(|r| &r.record_hash))
    );
    // A record read back carries its products, stored apart from it.
    let rec = st::record(&c.ms, &rid("factory", records[0].event_hash)).unwrap().unwrap();
    assert_eq!(rec.public.products, records[0].public.products);
    let header = st::record_header(&c.ms, &rid("factory", records[0].event_hash))
        .unwrap()
        .unwrap();
    assert!(header.public.products.is_empty());
}

/// Blocks of records before the `trace_record_ids` rule (the rule at height 1,000): an anchor,
/// another organisation's anchor of the same event hash, a grant and an error declaration.
fn blocks_before_the_record_ids_rule(c: &mut Chain) -> Vec<(String, String)> {
    c.activations
        .0
        .insert("trace_record_ids".into(), 1_000);
    let r = unique_cid(record(1, "commissioning", &[(ITEM, Relation::Epc)]), 1);
    let mut out = c.block(vec![(FACTORY_KEY, anchor("factory", vec![r.clone()]))]);
    let theirs = unique_cid(record(1, "retail_selling", &[(ITEM, Relation::Epc)]), 2);
    out.extend(c.block(vec![(SHOP_KEY, anchor("shop", vec![theirs]))]));
    out.extend(c.block(vec![(
        FACTORY_KEY,
        TraceCall::Grant {
            event_hash: r.event_hash,
            grantee: addr(SHOP_KEY),
            grantee_key: enc_key(8),
            permission: Permission::Read,
            expires_at_ms: NOW_MS + 1_000,
            wrapped_key: vec![1; 97],
        },
    )]));
    out.extend(c.block(vec![(
        FACTORY_KEY,
        TraceCall::DeclareError {
            event_hash: r.event_hash,
            declared_at_ms: 1,
            reason: None,
            corrective_event_ids: vec![],
        },
    )]));
    out
}

#[test]
fn before_the_record_ids_rule_a_record_is_its_event_hash_and_a_replay_keeps_the_state_root() {
    let mut c = Chain::new();
    let out = blocks_before_the_record_ids_rule(&mut c);
    let codes_seen: Vec<&str> = out.iter().map(|(code, _)| code.as_str()).collect();
    assert_eq!(codes_seen, ["", codes::DUPLICATE_EVENT, "", ""]);
    // Pinned with the build before the rule existed: replaying these blocks is unchanged.
    assert_eq!(
        c.root.to_hex(),
        "abe23d4523d643930f3c0aef7038e43268ae8b533092eb6b0dfc19279dc0fc0d"
    );
    let eh = Hash32([1; 32]);
    let rec = st::record_header(&c.ms, &eh).unwrap().unwrap();
    assert_eq!(rec.org, "factory");
    assert_eq!(st::record_id_of(&c.ms, "factory", &eh).unwrap(), Some(eh));
    assert!(st::grant(&c.ms, &eh, &addr(SHOP_KEY)).unwrap().is_some());
    assert!(st::error_declaration(&c.ms, &eh).unwrap().is_some());
    assert_eq!(history_ids(&c, ITEM).0, vec![eh]);

    // From the rule on, the shop's record of the same event hash is a record of its own; the
    // factory's earlier record still counts as the factory's.
    c.height = 999;
    c.ok(
        SHOP_KEY,
        anchor("shop", vec![unique_cid(record(1, "retail_selling", &[(ITEM, Relation::Epc)]), 3)]),
    );
    let theirs = rid("shop", eh);
    assert_eq!(st::record_id_of(&c.ms, "shop", &eh).unwrap(), Some(theirs));
    assert_eq!(history_ids(&c, ITEM).0, vec![eh, theirs]);
    c.fails(
        FACTORY_KEY,
        anchor("factory", vec![unique_cid(record(1, "commissioning", &[(ITEM, Relation::Epc)]), 4)]),
        codes::DUPLICATE_EVENT,
    );
    let both: Vec<(Hash32, String)> = st::event_records(&c.ms, &eh)
        .unwrap()
        .into_iter()
        .map(|(id, r)| (id, r.org))
        .collect();
    assert_eq!(both, vec![(eh, "factory".to_string()), (theirs, "shop".to_string())]);
}

#[test]
fn another_organisation_anchoring_an_event_hash_first_does_not_block_its_owner() {
    let mut c = Chain::new();
    c.ok(ADMIN, register_prefix("9521234", "factory"));
    let eh = Hash32([5; 32]);
    // The shop saw the factory's event and anchors its hash first.
    c.ok(
        SHOP_KEY,
        anchor("shop", vec![unique_cid(record(5, "retail_selling", &[(ITEM, Relation::Epc)]), 5)]),
    );
    // The factory's genuine capture still succeeds, and is the one in the product's history.
    let genuine = unique_cid(record(5, "commissioning", &[(ITEM, Relation::Epc)]), 6);
    c.ok(FACTORY_KEY, anchor("factory", vec![genuine.clone()]));
    let (ours, squatter) = (rid("factory", eh), rid("shop", eh));
    assert_ne!(ours, squatter);
    assert_eq!(history_ids(&c, ITEM), (vec![ours], vec![squatter]));
    assert_eq!(
        st::product(&c.ms, ITEM).unwrap().unwrap().anchor,
        anchor_of([&genuine.record_hash])
    );
    let by_event: Vec<String> = st::event_records(&c.ms, &eh)
        .unwrap()
        .into_iter()
        .map(|(_, r)| r.org)
        .collect();
    assert_eq!(by_event, ["shop", "factory"]);
    // The same organisation anchoring the same event hash twice is still refused.
    let msg = c.fails(
        FACTORY_KEY,
        anchor("factory", vec![unique_cid(record(5, "commissioning", &[(ITEM, Relation::Epc)]), 7)]),
        codes::DUPLICATE_EVENT,
    );
    assert!(msg.contains("records[0].event_hash") && msg.contains("factory"), "{msg}");
    c.fails(
        SHOP_KEY,
        anchor("shop", vec![unique_cid(record(5, "retail_selling", &[(ITEM, Relation::Epc)]), 8)]),
        codes::DUPLICATE_EVENT,
    );
}

#[test]
fn grants_and_error_declarations_name_the_senders_own_record_of_an_event_hash() {
    let mut c = Chain::new();
    let eh = Hash32([6; 32]);
    c.ok(
        SHOP_KEY,
        anchor("shop", vec![unique_cid(record(6, "retail_selling", &[(ITEM, Relation::Epc)]), 6)]),
    );
    let declare = TraceCall::DeclareError {
        event_hash: eh,
        declared_at_ms: 1,
        reason: None,
        corrective_event_ids: vec![],
    };
    // The factory has no record of the hash: another organisation's is not its to declare.
    c.fails(FACTORY_KEY, declare.clone(), codes::NOT_RECORD_OWNER);
    c.ok(
        FACTORY_KEY,
        anchor("factory", vec![unique_cid(record(6, "commissioning", &[(ITEM, Relation::Epc)]), 7)]),
    );
    c.ok(FACTORY_KEY, declare.clone());
    c.ok(
        FACTORY_KEY,
        TraceCall::Grant {
            event_hash: eh,
            grantee: addr(STRANGER),
            grantee_key: enc_key(8),
            permission: Permission::Read,
            expires_at_ms: NOW_MS + 1_000,
            wrapped_key: vec![1; 97],
        },
    );
    let (ours, theirs) = (rid("factory", eh), rid("shop", eh));
    assert!(st::error_declaration(&c.ms, &ours).unwrap().is_some());
    assert!(st::error_declaration(&c.ms, &theirs).unwrap().is_none());
    assert!(st::grant(&c.ms, &ours, &addr(STRANGER)).unwrap().is_some());
    assert!(st::grant(&c.ms, &theirs, &addr(STRANGER)).unwrap().is_none());
    // The shop declares its own record once, independently of the factory's.
    c.ok(SHOP_KEY, declare.clone());
    c.fails(SHOP_KEY, declare, codes::DUPLICATE_EVENT);
}
