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
    let mut allocs: Vec<(Address, u128)> = [ADMIN, FACTORY_KEY, SHOP_KEY, STRANGER]
        .iter()
        .map(|n| (addr(*n), 1_000_000_000))
        .collect();
    allocs.push((
        addr(200),
        want_types::amount::TOTAL_SUPPLY - 4 * 1_000_000_000,
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
}

impl Chain {
    fn new() -> Chain {
        Chain {
            ms: chain(),
            height: 0,
            nonces: Default::default(),
            time_ms: NOW_MS,
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
            activations: Default::default(),
        };
        let out = apply_block(&self.ms, &ctx, Hash32::ZERO, &txs).unwrap();
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
    let rec = st::record(&c.ms, &r2.event_hash).unwrap().unwrap();
    assert_eq!(
        (rec.org.as_str(), rec.signer, rec.index, rec.seq),
        ("factory", addr(FACTORY_KEY), 1, 1)
    );
    assert_eq!(
        st::product_event(&c.ms, ITEM, 1).unwrap(),
        Some(r2.event_hash)
    );
    assert_eq!(
        st::record_by_cid(&c.ms, &r1.cid).unwrap(),
        Some(r1.event_hash)
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
    let g = st::grant(&c.ms, &r.event_hash, &addr(SHOP_KEY))
        .unwrap()
        .unwrap();
    assert_eq!(g.expires_at_ms, NOW_MS + 1_000);
    let revoke = TraceCall::RevokeGrant {
        event_hash: r.event_hash,
        grantee: addr(SHOP_KEY),
    };
    c.ok(FACTORY_KEY, revoke.clone());
    assert!(st::grant(&c.ms, &r.event_hash, &addr(SHOP_KEY))
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
    c.ok(
        ADMIN,
        TraceCall::AddKey {
            org: "shop".into(),
            key: addr(ADMIN),
            department: "kyc desk".into(),
            roles: vec![Role::KycVerifier],
        },
    );
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
    let want: Vec<Hash32> = item_records.iter().map(|r| r.event_hash).collect();
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
    let want: Vec<Hash32> = records.iter().map(|r| r.event_hash).collect();
    assert_eq!(all, want);
    assert_eq!(
        info.anchor,
        anchor_of(records.iter().map(|r| &r.record_hash))
    );
    // A record read back carries its products, stored apart from it.
    let rec = st::record(&c.ms, &records[0].event_hash).unwrap().unwrap();
    assert_eq!(rec.public.products, records[0].public.products);
    let header = st::record_header(&c.ms, &records[0].event_hash)
        .unwrap()
        .unwrap();
    assert!(header.public.products.is_empty());
}
