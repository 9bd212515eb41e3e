//! WANT amounts: `u128` base units with 6 decimals; decimal strings in JSON and on the command line.

use crate::TypesError;

/// An amount of WANT in base units (1 WANT = 10^6 base units).
pub type Amount = u128;

/// Decimal places of WANT (as TRX and USDT-TRC20).
pub const DECIMALS: u32 = 6;
/// Base units in one WANT.
pub const UNIT: Amount = 1_000_000;
/// Total supply: 1,000,000,000,000,000 WANT, created at genesis and never increased.
pub const TOTAL_SUPPLY: Amount = 1_000_000_000_000_000 * UNIT;

/// Parses a human amount in WANT ("12.5", "0.000001", "1000") into base units.
pub fn parse_want(input: &str) -> Result<Amount, TypesError> {
    let err = |reason| TypesError::InvalidAmount {
        input: input.chars().take(80).collect(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return Err(err("no digits"));
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(
            "only digits and one '.' are allowed (no sign, exponent or separators)",
        ));
    }
    if frac.len() > DECIMALS as usize {
        return Err(err("more than 6 decimal places"));
    }
    let whole_units: Amount = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| err("too large"))?
    };
    let mut frac_units: Amount = 0;
    for (i, b) in frac.bytes().enumerate() {
        frac_units += Amount::from(b - b'0') * 10u128.pow(DECIMALS - 1 - i as u32);
    }
    whole_units
        .checked_mul(UNIT)
        .and_then(|w| w.checked_add(frac_units))
        .ok_or_else(|| err("too large"))
}

/// Parses base units from a decimal string ("12500000").
pub fn parse_base_units(input: &str) -> Result<Amount, TypesError> {
    let err = |reason| TypesError::InvalidAmount {
        input: input.chars().take(80).collect(),
        reason,
    };
    if input.is_empty() || !input.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(
            "base units must be a non-empty string of decimal digits",
        ));
    }
    input.parse().map_err(|_| err("too large for 128 bits"))
}

/// Formats base units as WANT with trailing zeros removed ("12.5").
pub fn format_want(units: Amount) -> String {
    let whole = units / UNIT;
    let frac = units % UNIT;
    if frac == 0 {
        whole.to_string()
    } else {
        let f = format!("{frac:06}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
}

/// Serde helper: an amount as a decimal string of base units.
pub mod dec {
    use super::Amount;

    pub fn serialize<S: serde::Serializer>(v: &Amount, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        super::parse_base_units(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde helper: an optional amount as a decimal string of base units, or null.
pub mod dec_opt {
    use super::Amount;

    pub fn serialize<S: serde::Serializer>(v: &Option<Amount>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
        <Option<String> as serde::Deserialize>::deserialize(d)?
            .map(|s| super::parse_base_units(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn human_amounts_parse_to_base_units() {
        assert_eq!(parse_want("12.5").unwrap(), 12_500_000);
        assert_eq!(parse_want("0.000001").unwrap(), 1);
        assert_eq!(parse_want(".5").unwrap(), 500_000);
        assert_eq!(parse_want("1000").unwrap(), 1_000_000_000);
        assert_eq!(parse_want("1000000000000000").unwrap(), TOTAL_SUPPLY);
    }

    #[test]
    fn malformed_amounts_are_refused() {
        for bad in [
            "",
            ".",
            "-1",
            "1e3",
            "1,5",
            "0.0000001",
            "1.2.3",
            "abc",
            " 1 2",
        ] {
            assert!(parse_want(bad).is_err(), "{bad:?} should be refused");
        }
        let huge = "9".repeat(60);
        assert!(parse_want(&huge)
            .unwrap_err()
            .to_string()
            .contains("too large"));
        assert!(parse_base_units(&huge).is_err());
        assert!(parse_base_units("-5").is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(units in 0u128..=TOTAL_SUPPLY * 10) {
            prop_assert_eq!(parse_want(&format_want(units)).unwrap(), units);
        }
    }

    proptest! {
        #[test]
        fn any_text_is_an_amount_or_refused(s in "\\PC{0,80}") {
            if let Ok(v) = parse_want(&s) {
                prop_assert_eq!(parse_want(&format_want(v)).unwrap(), v);
            }
            if let Ok(v) = parse_base_units(&s) {
                prop_assert!(s.bytes().all(|b| b.is_ascii_digit()), "{:?}", s);
                prop_assert_eq!(Some(v), s.parse::<u128>().ok());
            }
        }

        #[test]
        fn mutated_amounts_parse_to_what_they_say_or_are_refused(
            s in crate::fuzz_inputs::mutated((0u128..=TOTAL_SUPPLY * 10).prop_map(format_want)),
        ) {
            match parse_want(&s) {
                Ok(v) => {
                    // Whatever was accepted is digits and at most one point, and means `v`.
                    let t = s.trim();
                    prop_assert!(t.bytes().all(|b| b.is_ascii_digit() || b == b'.'), "{:?}", s);
                    prop_assert_eq!(parse_want(&format_want(v)).unwrap(), v);
                }
                Err(e) => prop_assert!(matches!(e, TypesError::InvalidAmount { .. }), "unexpected result"),
            }
            if let Ok(v) = parse_base_units(&s) {
                prop_assert!(s.bytes().all(|b| b.is_ascii_digit()), "{:?}", s);
                prop_assert_eq!(Some(v), s.parse::<u128>().ok());
            }
        }

        #[test]
        fn huge_numbers_are_refused_as_too_large_not_wrapped(
            whole in "[0-9]{1,60}",
            frac in proptest::option::of("[0-9]{0,6}"),
        ) {
            let s = match &frac { Some(f) => format!("{whole}.{f}"), None => whole.clone() };
            let f = frac.unwrap_or_default();
            let expect = whole.parse::<u128>().ok().and_then(|w| w.checked_mul(UNIT)).and_then(|w| {
                let mut padded = f.clone();
                while padded.len() < 6 { padded.push('0'); }
                w.checked_add(padded.parse::<u128>().unwrap())
            });
            match parse_want(&s) {
                Ok(v) => prop_assert_eq!(Some(v), expect),
                Err(e) => {
                    prop_assert_eq!(expect, None);
                    prop_assert!(e.to_string().contains("too large"), "{}", e);
                }
            }
            prop_assert_eq!(parse_base_units(&whole).ok(), whole.parse::<u128>().ok());
        }
    }
}
