//! The trace module's genesis section (`"trace"` in a genesis file): the administrator and the
//! organisations, with their department keys, registered from the start.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use want_types::trace::{OrgKind, Role, PUBLIC_KEY_BYTES};
use want_types::Address;

use super::state as st;
use crate::kernel::genesis::GENESIS_HEIGHT;
use crate::kernel::module::GenesisCtx;
use crate::StateError;

/// The `"trace"` section of a genesis.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(deny_unknown_fields)]
pub struct TraceGenesis {
    /// The account that registers organisations and their keys.
    #[serde(default)]
    pub admin: Option<Address>,
    #[serde(default)]
    pub orgs: Vec<GenesisOrg>,
}

impl TraceGenesis {
    pub fn is_empty(&self) -> bool {
        self.admin.is_none() && self.orgs.is_empty()
    }
}

/// An organisation registered at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisOrg {
    pub org: String,
    pub name: String,
    pub kind: OrgKind,
    /// Compressed secp256k1 public key (66 hex digits) record keys are wrapped to.
    pub encryption_key: String,
    #[serde(default)]
    pub keys: Vec<GenesisOrgKey>,
}

/// A department key registered at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisOrgKey {
    pub address: Address,
    pub department: String,
    pub roles: Vec<Role>,
}

fn invalid(reason: String) -> StateError {
    StateError::Genesis {
        section: "trace".into(),
        reason,
    }
}

/// Parses the section (absent: empty).
pub fn parse(section: Option<&serde_json::Value>) -> Result<TraceGenesis, StateError> {
    match section {
        None => Ok(TraceGenesis::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| invalid(e.to_string())),
    }
}

/// Writes the administrator, the organisations and their keys.
pub(crate) fn write(ctx: &mut GenesisCtx<'_, '_>) -> Result<(), StateError> {
    let trace = parse(ctx.section)?;
    let ov = &mut *ctx.state;
    if let Some(admin) = &trace.admin {
        st::put(ov, st::ADMIN_KEY.to_vec(), admin);
    }
    for (i, o) in trace.orgs.iter().enumerate() {
        if !want_types::trace::is_valid_org_id(&o.org) {
            return Err(invalid(format!(
                "orgs[{i}].org {:?} is not 1-64 bytes of [a-z0-9._-]",
                o.org
            )));
        }
        if st::org(&*ov, &o.org)?.is_some() {
            return Err(invalid(format!("org {:?} is listed twice", o.org)));
        }
        let encryption_key = hex::decode(&o.encryption_key)
            .ok()
            .filter(|k| k.len() == PUBLIC_KEY_BYTES)
            .ok_or_else(|| {
                invalid(format!(
                    "orgs[{i}].encryption_key is not 66 hex digits (a compressed secp256k1 public key)"
                ))
            })?;
        st::put(
            ov,
            st::org_key(&o.org),
            &st::OrgInfo {
                name: o.name.clone(),
                kind: o.kind,
                encryption_key,
                registered_at: GENESIS_HEIGHT,
            },
        );
        for k in &o.keys {
            if st::key(&*ov, &k.address)?.is_some() {
                return Err(invalid(format!("key {} is listed twice", k.address)));
            }
            st::put(
                ov,
                st::key_key(&k.address),
                &st::KeyInfo {
                    org: o.org.clone(),
                    department: k.department.clone(),
                    roles: k.roles.clone(),
                    added_at: GENESIS_HEIGHT,
                    revoked_at: None,
                },
            );
            ov.put(st::org_keys_key(&o.org, &k.address), Vec::new());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz_inputs::{mutated, mutated_bytes, nasty_char};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            prop::collection::vec(nasty_char(), 0..24).prop_map(|v| v.into_iter().collect()),
        ]
    }

    fn address() -> impl Strategy<Value = Address> {
        any::<[u8; 20]>().prop_map(|rest| {
            let mut raw = [0x41; 21];
            raw[1..].copy_from_slice(&rest);
            Address(raw)
        })
    }

    fn genesis() -> impl Strategy<Value = TraceGenesis> {
        let key = (
            address(),
            text(),
            prop::sample::subsequence(Role::ALL.to_vec(), 0..4),
        )
            .prop_map(|(address, department, roles)| GenesisOrgKey {
                address,
                department,
                roles,
            });
        let org = (
            "[a-z0-9._-]{1,12}",
            text(),
            prop::sample::select(OrgKind::ALL.to_vec()),
            "[0-9a-f]{66}",
            prop::collection::vec(key, 0..3),
        )
            .prop_map(|(org, name, kind, encryption_key, keys)| GenesisOrg {
                org,
                name,
                kind,
                encryption_key,
                keys,
            });
        (
            prop::option::of(address()),
            prop::collection::vec(org, 0..3),
        )
            .prop_map(|(admin, orgs)| TraceGenesis { admin, orgs })
    }

    /// Any JSON value, deepest three levels, with nasty strings.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            text().prop_map(Value::from),
            Just(Value::from(u64::MAX)),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        prop::sample::select(vec![
                            "admin".to_string(),
                            "orgs".into(),
                            "org".into(),
                            "name".into(),
                            "kind".into(),
                            "encryption_key".into(),
                            "keys".into(),
                            "address".into(),
                            "department".into(),
                            "roles".into(),
                        ]),
                        text(),
                    ],
                    inner,
                    0..4,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// `parse` gives a section that prints back to the same JSON, or a trace genesis error.
    fn check(v: &Value) -> Result<(), TestCaseError> {
        match parse(Some(v)) {
            Ok(g) => {
                let again = parse(Some(&serde_json::to_value(&g).unwrap())).unwrap();
                prop_assert_eq!(again, g);
            }
            Err(StateError::Genesis { section, reason }) => {
                prop_assert_eq!(section, "trace");
                prop_assert!(!reason.is_empty());
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_json_is_a_section_or_a_trace_genesis_error(v in json_value()) {
            check(&v)?;
            check(&json!({ "orgs": [v.clone()] }))?;
            check(&json!({ "orgs": [{ "org": "o", "name": "n", "kind": "brand",
                "encryption_key": "", "keys": [v] }] }))?;
        }

        #[test]
        fn printed_sections_read_back(g in genesis()) {
            prop_assert_eq!(parse(Some(&serde_json::to_value(&g).unwrap())).unwrap(), g.clone());
            let bytes = borsh::to_vec(&g).unwrap();
            prop_assert_eq!(borsh::from_slice::<TraceGenesis>(&bytes).unwrap(), g);
        }

        #[test]
        fn mutated_section_texts_parse_or_are_refused(
            text in mutated(genesis().prop_map(|g| serde_json::to_string(&g).unwrap())),
        ) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                check(&v)?;
            }
        }

        #[test]
        fn mutated_stored_sections_decode_canonically_or_are_refused(
            bytes in mutated_bytes(genesis().prop_map(|g| borsh::to_vec(&g).unwrap())),
        ) {
            if let Ok(g) = borsh::from_slice::<TraceGenesis>(&bytes) {
                prop_assert_eq!(borsh::to_vec(&g).unwrap(), bytes);
            }
        }
    }

    #[test]
    fn absent_is_empty_and_unknown_fields_are_named() {
        assert!(parse(None).unwrap().is_empty());
        let e = parse(Some(&json!({ "admins": [] }))).unwrap_err();
        assert!(
            matches!(&e, StateError::Genesis { section, reason }
                if section == "trace" && reason.contains("unknown field `admins`")),
            "{e}"
        );
    }
}
