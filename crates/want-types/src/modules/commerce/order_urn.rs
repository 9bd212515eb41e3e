//! How an EPCIS event names an order: a `bizTransactionList` value
//! `urn:want:commerce:order:<decimal id>` ([`ORDER_URN_PREFIX`]). A `receiving` event captured by
//! the order's delivery organisation that names the order this way confirms its delivery
//! ([`super::CommerceCall::ConfirmByEvent`], submitted by the capture itself).

/// The prefix of a business transaction value that names an order; the order's id follows in
/// decimal (`urn:want:commerce:order:7`).
pub const ORDER_URN_PREFIX: &str = "urn:want:commerce:order:";

/// Most decimal digits of an order id in an order URN (`u64::MAX` has 20).
pub const ORDER_URN_DIGITS_MAX: usize = 20;

/// The URN naming order `id`: [`ORDER_URN_PREFIX`] then the id in decimal.
pub fn order_urn(id: u64) -> String {
    format!("{ORDER_URN_PREFIX}{id}")
}

/// Reads a business transaction value: `None` when it does not name an order (it does not start
/// with [`ORDER_URN_PREFIX`], compared ignoring ASCII case as URN schemes and namespaces are),
/// `Some(Ok(id))` for an order URN whose id is canonical decimal (digits only, no sign, no
/// leading zero, at most [`ORDER_URN_DIGITS_MAX`] digits, within `u64`), `Some(Err(why))` for an
/// order URN with any other id.
pub fn parse_order_urn(value: &str) -> Option<Result<u64, String>> {
    let head = value.get(..ORDER_URN_PREFIX.len())?;
    if !head.eq_ignore_ascii_case(ORDER_URN_PREFIX) {
        return None;
    }
    let digits = &value[ORDER_URN_PREFIX.len()..];
    let bad = |why: &str| {
        Some(Err(format!(
            "{value:?} names no order: {why}; write {ORDER_URN_PREFIX}<order id in decimal>, e.g. {}",
            order_urn(7)
        )))
    };
    if digits.is_empty() {
        return bad("the order id is missing");
    }
    if digits.len() > ORDER_URN_DIGITS_MAX || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return bad("the order id is not at most 20 decimal digits");
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return bad("the order id has a leading zero");
    }
    match digits.parse::<u64>() {
        Ok(id) => Some(Ok(id)),
        Err(_) => bad("the order id is above the largest order id (2^64 - 1)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_order_id_round_trips_through_its_urn(id in any::<u64>()) {
            prop_assert_eq!(parse_order_urn(&order_urn(id)), Some(Ok(id)));
        }

        #[test]
        fn any_value_parses_without_panicking_and_an_accepted_one_is_canonical(s in ".{0,48}") {
            for v in [s.clone(), format!("{ORDER_URN_PREFIX}{s}")] {
                if let Some(Ok(id)) = parse_order_urn(&v) {
                    prop_assert!(v.eq_ignore_ascii_case(&order_urn(id)), "{v}");
                }
            }
        }

        #[test]
        fn other_business_transactions_name_no_order(s in "[a-z0-9:./]{0,40}") {
            prop_assume!(!s.starts_with(ORDER_URN_PREFIX));
            prop_assert_eq!(parse_order_urn(&s), None);
        }
    }

    #[test]
    fn malformed_order_ids_are_refused_with_a_reason() {
        for bad in [
            "urn:want:commerce:order:",
            "urn:want:commerce:order:07",
            "urn:want:commerce:order:+7",
            "urn:want:commerce:order:-7",
            "urn:want:commerce:order:7a",
            "urn:want:commerce:order: 7",
            "urn:want:commerce:order:18446744073709551616",
            "urn:want:commerce:order:123456789012345678901",
        ] {
            let why = parse_order_urn(bad)
                .unwrap_or_else(|| panic!("{bad} is an order URN"))
                .expect_err(bad);
            assert!(why.contains(ORDER_URN_PREFIX), "{why}");
        }
        assert_eq!(parse_order_urn("URN:WANT:Commerce:Order:42"), Some(Ok(42)));
        assert_eq!(parse_order_urn("urn:want:commerce:order:0"), Some(Ok(0)));
        assert_eq!(
            parse_order_urn("urn:want:commerce:order:18446744073709551615"),
            Some(Ok(u64::MAX))
        );
        for other in ["urn:epcglobal:cbv:bt:0614141073467:1152", "http://x/po/7", "ürn:x", ""] {
            assert_eq!(parse_order_urn(other), None, "{other}");
        }
    }
}
