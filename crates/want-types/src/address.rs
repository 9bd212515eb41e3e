//! Account addresses in TRON's format: base58check(0x41 ‖ 20 bytes).

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

use crate::TypesError;

/// TRON's mainnet address version byte.
pub const ADDRESS_PREFIX: u8 = 0x41;
/// Raw length of an address in bytes (prefix + 20-byte account id).
pub const ADDRESS_LEN: usize = 21;

/// An account address: 0x41 ‖ last 20 bytes of Keccak-256 of the public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize)]
pub struct Address(pub [u8; ADDRESS_LEN]);

/// Canonical bytes must hold the same addresses as the text forms: the version byte is checked
/// here too, so a transaction or block decoded from bytes never carries an address that its JSON
/// rendering could not be parsed back from.
impl BorshDeserialize for Address {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let raw = <[u8; ADDRESS_LEN]>::deserialize_reader(reader)?;
        if raw[0] != ADDRESS_PREFIX {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "address version byte is 0x{:02x}; expected 0x{ADDRESS_PREFIX:02x}",
                    raw[0]
                ),
            ));
        }
        Ok(Address(raw))
    }
}

impl Address {
    /// Builds an address from the 20-byte account id.
    pub fn from_account_id(id: [u8; 20]) -> Address {
        let mut raw = [0u8; ADDRESS_LEN];
        raw[0] = ADDRESS_PREFIX;
        raw[1..].copy_from_slice(&id);
        Address(raw)
    }

    /// A system account with no private key, derived from a label (e.g. the incentive pool).
    pub fn system(label: &str) -> Address {
        let digest = crate::sha256d(format!("want/system-account/{label}").as_bytes());
        let mut id = [0u8; 20];
        id.copy_from_slice(&digest.0[..20]);
        Address::from_account_id(id)
    }

    pub fn to_base58(&self) -> String {
        let checksum = Sha256::digest(Sha256::digest(self.0));
        let mut buf = Vec::with_capacity(ADDRESS_LEN + 4);
        buf.extend_from_slice(&self.0);
        buf.extend_from_slice(&checksum[..4]);
        bs58::encode(buf).into_string()
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for Address {
    type Err = TypesError;

    /// Accepts base58check (`T…`) or hex (`41…`, optionally `0x`-prefixed).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| TypesError::InvalidAddress {
            input: s.chars().take(80).collect(),
            reason,
        };
        let s = s.trim();
        let raw: Vec<u8> = if s.len() == 42 || (s.len() == 44 && s.starts_with("0x")) {
            hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|_| err("not valid hex"))?
        } else {
            if s.len() > 64 {
                return Err(err("too long"));
            }
            let data = bs58::decode(s)
                .into_vec()
                .map_err(|_| err("not valid base58"))?;
            if data.len() != ADDRESS_LEN + 4 {
                return Err(err("wrong length"));
            }
            let (body, check) = data.split_at(ADDRESS_LEN);
            let digest = Sha256::digest(Sha256::digest(body));
            if &digest[..4] != check {
                return Err(err("checksum mismatch"));
            }
            body.to_vec()
        };
        if raw.len() != ADDRESS_LEN {
            return Err(err("wrong length"));
        }
        if raw[0] != ADDRESS_PREFIX {
            return Err(err("wrong version byte (expected 0x41)"));
        }
        let mut out = [0u8; ADDRESS_LEN];
        out.copy_from_slice(&raw);
        Ok(Address(out))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base58())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_base58())
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base58())
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_tron_address_round_trips_between_base58_and_hex() {
        // The USDT-TRC20 contract address, as shown by every TRON explorer, with its hex form.
        let b58 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";
        let hex_form = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c";
        let a: Address = b58.parse().unwrap();
        assert_eq!(a.to_hex(), hex_form);
        assert_eq!(hex_form.parse::<Address>().unwrap(), a);
        assert_eq!(a.to_string(), b58);
    }

    #[test]
    fn address_with_bad_checksum_is_refused() {
        let err = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u"
            .parse::<Address>()
            .unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn ethereum_style_address_is_refused_with_a_hint() {
        let err = "0x52908400098527886E0F7030069857D2E4169EE7"
            .parse::<Address>()
            .unwrap_err();
        assert!(err.to_string().contains("base58check"), "{err}");
    }

    #[test]
    fn system_accounts_are_distinct_and_stable() {
        assert_ne!(Address::system("incentive-pool"), Address::system("burn"));
        assert_eq!(
            Address::system("incentive-pool"),
            Address::system("incentive-pool")
        );
    }

    use crate::fuzz_inputs::mutated;
    use proptest::prelude::*;

    fn arb_address() -> impl Strategy<Value = Address> {
        any::<[u8; 20]>().prop_map(Address::from_account_id)
    }

    fn assert_round_trips(a: &Address) -> Result<(), TestCaseError> {
        prop_assert_eq!(a.to_base58().parse::<Address>().unwrap(), *a);
        prop_assert_eq!(a.to_hex().parse::<Address>().unwrap(), *a);
        prop_assert_eq!(format!("0x{}", a.to_hex()).parse::<Address>().unwrap(), *a);
        Ok(())
    }

    proptest! {
        #[test]
        fn any_text_is_an_address_or_refused(s in "\\PC{0,80}") {
            match s.parse::<Address>() {
                Ok(a) => assert_round_trips(&a)?,
                Err(e) => prop_assert!(matches!(e, TypesError::InvalidAddress { .. }), "unexpected result"),
            }
        }

        #[test]
        fn addresses_round_trip_through_base58_hex_json_and_borsh(a in arb_address()) {
            assert_round_trips(&a)?;
            let json = serde_json::to_string(&a).unwrap();
            prop_assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), a);
            prop_assert_eq!(borsh::from_slice::<Address>(&borsh::to_vec(&a).unwrap()).unwrap(), a);
        }

        #[test]
        fn a_mutated_base58_address_is_refused(
            (b58, m) in arb_address().prop_flat_map(|a| {
                let b58 = a.to_base58();
                (Just(b58.clone()), mutated(Just(b58)))
            }),
        ) {
            // Any change but surrounding whitespace breaks the length or the checksum.
            let r = m.parse::<Address>();
            prop_assert!(r.is_err() || m.trim() == b58, "{:?} accepted", m);
        }

        #[test]
        fn mutated_hex_addresses_parse_or_are_refused(
            s in mutated(arb_address().prop_map(|a| format!("0x{}", a.to_hex()))),
        ) {
            if let Ok(a) = s.parse::<Address>() {
                assert_round_trips(&a)?;
                let t = s.trim();
                prop_assert_eq!(t.strip_prefix("0x").unwrap_or(t).to_lowercase(), a.to_hex());
            }
        }

        #[test]
        fn borsh_accepts_exactly_the_tron_version_byte(raw in any::<[u8; 21]>()) {
            match borsh::from_slice::<Address>(&raw) {
                Ok(a) => prop_assert_eq!(a.0, raw),
                Err(_) => prop_assert_ne!(raw[0], ADDRESS_PREFIX),
            }
            if raw[0] != ADDRESS_PREFIX {
                prop_assert!(borsh::from_slice::<Address>(&raw).is_err());
            }
        }
    }
}
