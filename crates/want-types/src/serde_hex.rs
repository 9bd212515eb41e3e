//! Serde helper: bytes as lowercase hex in JSON (`#[serde(with = "crate::serde_hex")]`); a `0x`
//! prefix is accepted on input.

pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    hex::decode(s.strip_prefix("0x").unwrap_or(&s))
        .map_err(|e| serde::de::Error::custom(format!("invalid hex: {e}")))
}
