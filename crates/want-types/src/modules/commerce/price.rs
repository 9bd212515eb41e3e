//! Prices in other currencies (issue 14 item 9, paper §4.5.1): the fixed list of currencies an
//! offer may be priced in, the bounds of a price report, and the conversion of an amount in a
//! currency to WANT.
//!
//! **Units.** An amount in a currency is given in micro-units of it (6 decimals, like WANT):
//! 7.25 USD is `7_250_000`. A rate is the number of WANT base units one whole unit of the
//! currency is worth (WANT base units per [`MICRO_UNITS_PER_UNIT`] micro-units): a rate of
//! `7_250_000` says 1 USD = 7.25 WANT. [`to_want`] converts, rounding up.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::Amount;

/// The currency code of offers priced in WANT itself (and of an offer without `currency`).
pub const CURRENCY_WANT: &str = "WANT";
/// The fiat currencies a reporter may report (ISO 4217 codes).
pub const FIAT_CURRENCIES: [&str; 7] = ["USD", "EUR", "CNY", "JPY", "GBP", "HKD", "KRW"];
/// The crypto assets a reporter may report (their ticker symbols).
pub const CRYPTO_CURRENCIES: [&str; 20] = [
    "BTC", "ETH", "USDT", "TRX", "BNB", "SOL", "XRP", "ADA", "DOGE", "USDC", "DOT", "LTC", "BCH",
    "LINK", "XLM", "ETC", "AVAX", "MATIC", "TON", "ATOM",
];
/// Every currency besides WANT, in the order lists show them: the fiat ones, then the crypto
/// assets. Fixed on chain: adding one is a protocol change.
pub const CURRENCIES: [&str; 27] = [
    "USD", "EUR", "CNY", "JPY", "GBP", "HKD", "KRW", "BTC", "ETH", "USDT", "TRX", "BNB", "SOL",
    "XRP", "ADA", "DOGE", "USDC", "DOT", "LTC", "BCH", "LINK", "XLM", "ETC", "AVAX", "MATIC", "TON",
    "ATOM",
];
/// Micro-units of a currency in one whole unit (6 decimals).
pub const MICRO_UNITS_PER_UNIT: Amount = 1_000_000;
/// Highest rate a report may carry: 10^24 base units (10^18 WANT) per unit of a currency. It
/// keeps `remainder × rate` of [`to_want`] within 128 bits.
pub const RATE_MAX: Amount = 1_000_000_000_000_000_000_000_000;
/// Most rates one `PostPrices` carries (every currency once).
pub const PRICE_RATES_PER_TX_MAX: usize = CURRENCIES.len();
/// A report older than this at block time is stale and not used, in ms (1 hour).
pub const PRICE_REPORT_AGE_MS_MAX: u64 = 3_600_000;
/// Fewest fresh reports, from distinct reporters, a rate is computed from.
pub const PRICE_REPORTS_MIN: usize = 3;
/// Most price reporters registered at once (a rate reads at most this many reports).
pub const PRICE_REPORTERS_MAX: usize = 64;

/// One rate of a price report.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceRate {
    /// A code of [`CURRENCIES`].
    pub currency: String,
    /// WANT base units per whole unit of the currency (1 to [`RATE_MAX`]).
    #[serde(with = "crate::amount::dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
    pub rate: Amount,
}

/// Whether `code` is a currency of [`CURRENCIES`] (exact, upper case).
pub fn is_currency(code: &str) -> bool {
    CURRENCIES.contains(&code)
}

/// `micro` micro-units of a currency in WANT base units at `rate`: `⌈micro × rate / 10^6⌉`
/// (rounded up: a price converts to at least its value). `None` when it exceeds 128 bits.
/// Exact for every `rate` up to [`RATE_MAX`].
pub fn to_want(micro: Amount, rate: Amount) -> Option<Amount> {
    let (q, r) = (micro / MICRO_UNITS_PER_UNIT, micro % MICRO_UNITS_PER_UNIT);
    let part = r.checked_mul(rate)?.div_ceil(MICRO_UNITS_PER_UNIT);
    q.checked_mul(rate)?.checked_add(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_the_fiat_and_crypto_currencies_once_each() {
        let all: Vec<&str> = FIAT_CURRENCIES
            .iter()
            .chain(CRYPTO_CURRENCIES.iter())
            .copied()
            .collect();
        assert_eq!(all, CURRENCIES.to_vec());
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), CURRENCIES.len());
        assert!(!is_currency(CURRENCY_WANT));
        assert!(!is_currency("usd"));
    }

    #[test]
    fn conversion_rounds_up_to_the_base_unit() {
        // 7.25 USD at 1 USD = 2.000001 WANT: 14.50000725 WANT, rounded up.
        assert_eq!(to_want(7_250_000, 2_000_001), Some(14_500_008));
        assert_eq!(to_want(1_000_000, 7_250_000), Some(7_250_000));
        assert_eq!(to_want(1, 1), Some(1));
        assert_eq!(to_want(0, 5), Some(0));
        assert_eq!(to_want(Amount::MAX, RATE_MAX), None);
        assert!(to_want(999_999, RATE_MAX).is_some());
    }

    proptest::proptest! {
        #[test]
        fn conversion_is_the_exact_ceiling(micro in 0u128..1u128 << 90, rate in 1u128..=RATE_MAX) {
            if let Some(w) = to_want(micro, rate) {
                // w·10^6 ≥ micro·rate > (w-1)·10^6, checked in 256 bits by splitting.
                let exact_floor = (micro / 1_000_000) * rate + ((micro % 1_000_000) * rate) / 1_000_000;
                let exact_rem = ((micro % 1_000_000) * rate) % 1_000_000;
                proptest::prop_assert_eq!(w, exact_floor + u128::from(exact_rem != 0));
            }
        }
    }
}
