//! Prices in other currencies (issue 14 item 9): price reporters registered by the commerce
//! administrator post rates of the currencies of
//! [`want_types::modules::commerce::price::CURRENCIES`] in WANT; the rate an order converts at
//! is the median of the fresh reports.
//!
//! **The rate.** Each registered reporter's latest report per currency is stored. At block time
//! `now`, a report is fresh when `now − time ≤ PRICE_REPORT_AGE_MS_MAX` (1 hour). The rate is
//! the median of the fresh reports when there are at least `PRICE_REPORTS_MIN` (3) of them, one
//! per reporter; of an even count it is the lower of the two middle rates (an integer, one of
//! the reports, never an average). Fewer than 3 reports at all → `price_unavailable`; 3 or more
//! but fewer than 3 fresh → `price_stale`. It is computed from the stored reports whenever it
//! is needed, reading at most `PRICE_REPORTERS_MAX` (64) reports.
//!
//! **Reporters.** `RegisterReporter` / `RemoveReporter` by the administrator (genesis
//! `commerce.admin`); at most 64 at once. Removing one deletes its reports (at most 27 keys).
//! `PostPrices` by a registered reporter: 1 to 27 rates, each currency once, each rate 1 to
//! `RATE_MAX`; each replaces the reporter's earlier report of that currency.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use want_types::modules::commerce::price::{
    is_currency, to_want, PriceRate, CURRENCIES, CURRENCY_WANT, PRICE_RATES_PER_TX_MAX,
    PRICE_REPORTERS_MAX, PRICE_REPORTS_MIN, PRICE_REPORT_AGE_MS_MAX, RATE_MAX,
};
use want_types::modules::commerce::CommerceEvent;
use want_types::{Address, Amount};

use super::codes::*;
use super::state::{read, write};
use crate::failure::{fail, overflow, ExecError};
use crate::store::{Overlay, Page};
use crate::{StateError, StateView};

/// Key of the commerce administrator (borsh [`Address`]), who registers price reporters.
pub const ADMIN_KEY: &[u8] = b"commerce/admin";
/// Prefix of the registered reporters: `‖ address (21 bytes)` → empty.
pub const REPORTER_PREFIX: &[u8] = b"commerce/reporter/";
/// Prefix of the reports: `‖ currency ‖ '/' ‖ reporter (21 bytes)` → [`PriceReport`].
pub const REPORT_PREFIX: &[u8] = b"commerce/report/";
/// Most currencies one page of [`prices`] answers.
pub const PRICES_PAGE_MAX: usize = CURRENCIES.len();

/// A reporter's latest report of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct PriceReport {
    /// WANT base units per whole unit of the currency.
    #[serde(with = "want_types::amount::dec")]
    pub rate: Amount,
    /// Block time of the report, Unix ms.
    pub time_ms: u64,
}

pub fn reporter_key(reporter: &Address) -> Vec<u8> {
    [REPORTER_PREFIX, &reporter.0].concat()
}

pub fn report_key(currency: &str, reporter: &Address) -> Vec<u8> {
    [REPORT_PREFIX, currency.as_bytes(), b"/", &reporter.0].concat()
}

/// The commerce administrator, if the genesis named one.
pub fn admin(view: &dyn StateView) -> Result<Option<Address>, StateError> {
    read(view, ADMIN_KEY, "commerce administrator")
}

pub(crate) fn set_admin(ov: &mut Overlay<'_>, admin: &Address) {
    write(ov, ADMIN_KEY.to_vec(), admin);
}

/// Whether `who` is a registered reporter.
pub fn is_reporter(view: &dyn StateView, who: &Address) -> Result<bool, StateError> {
    Ok(view.get(&reporter_key(who))?.is_some())
}

/// The registered reporters, in address order (at most [`PRICE_REPORTERS_MAX`]).
pub fn reporters(view: &dyn StateView) -> Result<Vec<Address>, StateError> {
    crate::store::addresses_under(view, REPORTER_PREFIX, PRICE_REPORTERS_MAX + 1)
}

/// Adds `reporter` to the registered reporters (the genesis and `RegisterReporter`).
pub(crate) fn add_reporter(ov: &mut Overlay<'_>, reporter: &Address) {
    ov.put(reporter_key(reporter), Vec::new());
}

/// `reporter`'s report of `currency`, if any.
pub fn report(
    view: &dyn StateView,
    currency: &str,
    reporter: &Address,
) -> Result<Option<PriceReport>, StateError> {
    read(view, &report_key(currency, reporter), "price report")
}

/// `reporter`'s reports, by currency in the order of [`CURRENCIES`] (at most 27).
pub fn reports_of(
    view: &dyn StateView,
    reporter: &Address,
) -> Result<Vec<(&'static str, PriceReport)>, StateError> {
    let mut out = Vec::new();
    for c in CURRENCIES {
        if let Some(r) = report(view, c, reporter)? {
            out.push((c, r));
        }
    }
    Ok(out)
}

/// The rate of a currency at a time, from the fresh reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Median {
    /// WANT base units per whole unit of the currency.
    #[serde(with = "want_types::amount::dec")]
    pub rate: Amount,
    /// The fresh reports it is the median of.
    pub reports: u32,
    /// Time of the newest and the oldest of them, Unix ms.
    pub newest_ms: u64,
    pub oldest_ms: u64,
}

/// Why a currency has no rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum NoRate {
    /// Fewer than [`PRICE_REPORTS_MIN`] reporters ever reported it.
    Unavailable { reports: u32 },
    /// Enough reports, but fewer than [`PRICE_REPORTS_MIN`] fresh ones.
    Stale {
        reports: u32,
        fresh: u32,
        /// The newest report's time, Unix ms.
        newest_ms: u64,
    },
}

/// The median of `reports` (rate, time) fresh at `now`, or why there is none. Pure: the order
/// of `reports` does not matter.
pub fn median_of(reports: &[PriceReport], now: u64) -> Result<Median, NoRate> {
    let total = u32::try_from(reports.len()).unwrap_or(u32::MAX);
    let mut fresh: Vec<PriceReport> = reports
        .iter()
        .filter(|r| now.saturating_sub(r.time_ms) <= PRICE_REPORT_AGE_MS_MAX)
        .copied()
        .collect();
    let fresh_n = u32::try_from(fresh.len()).unwrap_or(u32::MAX);
    if reports.len() < PRICE_REPORTS_MIN {
        return Err(NoRate::Unavailable { reports: total });
    }
    if fresh.len() < PRICE_REPORTS_MIN {
        return Err(NoRate::Stale {
            reports: total,
            fresh: fresh_n,
            newest_ms: reports.iter().map(|r| r.time_ms).max().unwrap_or(0),
        });
    }
    fresh.sort_unstable_by_key(|r| r.rate);
    // Lower middle of an even count; the middle of an odd one.
    let rate = fresh[(fresh.len() - 1) / 2].rate;
    Ok(Median {
        rate,
        reports: fresh_n,
        newest_ms: fresh.iter().map(|r| r.time_ms).max().unwrap_or(0),
        oldest_ms: fresh.iter().map(|r| r.time_ms).min().unwrap_or(0),
    })
}

/// The current reports of `currency` by the registered reporters (at most 64), with who made
/// them, in reporter address order.
pub fn reports_for(
    view: &dyn StateView,
    currency: &str,
) -> Result<Vec<(Address, PriceReport)>, StateError> {
    let mut out = Vec::new();
    for r in reporters(view)? {
        if let Some(rep) = report(view, currency, &r)? {
            out.push((r, rep));
        }
    }
    Ok(out)
}

/// The rate of `currency` at `now`, or why there is none.
pub fn median(
    view: &dyn StateView,
    currency: &str,
    now: u64,
) -> Result<Result<Median, NoRate>, StateError> {
    let reports: Vec<PriceReport> = reports_for(view, currency)?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    Ok(median_of(&reports, now))
}

/// The rate of one currency in a list of prices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriceStatus {
    pub currency: &'static str,
    pub rate: Result<Median, NoRate>,
}

/// The rates of the currencies after `after` (in the order of [`CURRENCIES`]), at most `limit`
/// (clamped to [`PRICES_PAGE_MAX`]), at `now`.
pub fn prices(
    view: &dyn StateView,
    after: Option<&str>,
    limit: usize,
    now: u64,
) -> Result<Page<PriceStatus, String>, StateError> {
    let start = match after {
        None => 0,
        Some(a) => CURRENCIES
            .iter()
            .position(|c| *c == a)
            .map_or(CURRENCIES.len(), |i| i + 1),
    };
    let limit = limit.clamp(1, PRICES_PAGE_MAX);
    let mut items = Vec::new();
    for c in CURRENCIES.iter().skip(start).take(limit) {
        items.push(PriceStatus {
            currency: c,
            rate: median(view, c, now)?,
        });
    }
    let next = if start + items.len() < CURRENCIES.len() {
        items.last().map(|p| p.currency.to_string())
    } else {
        None
    };
    Ok(Page { items, next })
}

/// Why an amount in `currency` (an order's price, a till request) cannot convert, as a failure
/// naming the currency, the reports and their age.
pub(crate) fn no_rate_failure(currency: &str, why: NoRate, now: u64) -> ExecError {
    match why {
        NoRate::Unavailable { reports } => fail(
            PRICE_UNAVAILABLE,
            format!(
                "{currency} has {reports} price reports; a rate needs {PRICE_REPORTS_MIN} reports from registered reporters: ask the reporters to post {currency} or pay in WANT"
            ),
        ),
        NoRate::Stale {
            reports,
            fresh,
            newest_ms,
        } => fail(
            PRICE_STALE,
            format!(
                "the rate of {currency} is stale: {fresh} of its {reports} reports are at most {PRICE_REPORT_AGE_MS_MAX} ms old and {PRICE_REPORTS_MIN} are needed (the newest is {} ms old); wait for fresh reports",
                now.saturating_sub(newest_ms)
            ),
        ),
    }
}

/// What an offer's `price × quantity` and `deposit × quantity` cost in WANT at `now`: (total,
/// deposit, the rate used if converted). Both round up (see [`to_want`]).
pub(crate) fn convert(
    view: &dyn StateView,
    currency: &str,
    price_total: Amount,
    deposit_total: Amount,
    now: u64,
) -> Result<(Amount, Amount, Option<Amount>), ExecError> {
    if currency == CURRENCY_WANT {
        return Ok((price_total, deposit_total, None));
    }
    let m = median(view, currency, now)?.map_err(|why| no_rate_failure(currency, why, now))?;
    let total = to_want(price_total, m.rate).ok_or_else(|| overflow("the converted price"))?;
    let deposit =
        to_want(deposit_total, m.rate).ok_or_else(|| overflow("the converted deposit"))?;
    Ok((total, deposit, Some(m.rate)))
}

/// A currency an offer may be priced in: `"WANT"` or one of [`CURRENCIES`].
pub(crate) fn check_offer_currency(currency: &str) -> Result<(), ExecError> {
    if currency == CURRENCY_WANT || is_currency(currency) {
        return Ok(());
    }
    Err(fail(
        CURRENCY_UNKNOWN,
        format!(
            "tx.call.terms.currency {:?} is not a currency of the chain; use WANT or one of {}",
            currency.chars().take(16).collect::<String>(),
            CURRENCIES.join(", ")
        ),
    ))
}

/// The administrator must be `sender`.
fn admin_only(view: &dyn StateView, sender: &Address) -> Result<(), ExecError> {
    match admin(view)? {
        Some(a) if a == *sender => Ok(()),
        Some(a) => Err(fail(
            PRICE_ADMIN_ONLY,
            format!("{sender} is not the commerce administrator; sign with {a}"),
        )),
        None => Err(fail(
            PRICE_ADMIN_ONLY,
            "this chain has no commerce administrator (genesis commerce.admin); reporters are only those of the genesis",
        )),
    }
}

pub(crate) fn register(
    ov: &mut Overlay<'_>,
    sender: &Address,
    reporter: &Address,
) -> Result<CommerceEvent, ExecError> {
    admin_only(ov, sender)?;
    if is_reporter(ov, reporter)? {
        return Err(fail(
            PRICE_REPORTER_REGISTERED,
            format!("{reporter} is already a price reporter"),
        ));
    }
    let n = reporters(ov)?.len();
    if n >= PRICE_REPORTERS_MAX {
        return Err(fail(
            PRICE_REPORTERS_FULL,
            format!("{n} price reporters are registered, the most there may be; remove one first"),
        ));
    }
    add_reporter(ov, reporter);
    Ok(CommerceEvent::PriceReporterRegistered {
        reporter: *reporter,
    })
}

pub(crate) fn remove(
    ov: &mut Overlay<'_>,
    sender: &Address,
    reporter: &Address,
) -> Result<CommerceEvent, ExecError> {
    admin_only(ov, sender)?;
    if !is_reporter(ov, reporter)? {
        return Err(fail(
            PRICE_REPORTER_UNKNOWN,
            format!("{reporter} is not a price reporter; list them with GET /v1/commerce/prices"),
        ));
    }
    ov.delete(reporter_key(reporter));
    for c in CURRENCIES {
        ov.delete(report_key(c, reporter));
    }
    Ok(CommerceEvent::PriceReporterRemoved {
        reporter: *reporter,
    })
}

pub(crate) fn post(
    ov: &mut Overlay<'_>,
    sender: &Address,
    rates: &[PriceRate],
    now: u64,
) -> Result<CommerceEvent, ExecError> {
    if !is_reporter(ov, sender)? {
        return Err(fail(
            PRICE_REPORTER_UNKNOWN,
            format!("{sender} is not a registered price reporter; the commerce administrator registers reporters"),
        ));
    }
    if rates.is_empty() || rates.len() > PRICE_RATES_PER_TX_MAX {
        return Err(fail(
            PRICE_REPORT_INVALID,
            format!(
                "tx.call.rates has {} rates; post 1 to {PRICE_RATES_PER_TX_MAX}",
                rates.len()
            ),
        ));
    }
    for (i, r) in rates.iter().enumerate() {
        if !is_currency(&r.currency) {
            return Err(fail(
                CURRENCY_UNKNOWN,
                format!(
                    "tx.call.rates[{i}].currency {:?} is not a currency of the chain; use one of {}",
                    r.currency.chars().take(16).collect::<String>(),
                    CURRENCIES.join(", ")
                ),
            ));
        }
        if rates[..i].iter().any(|o| o.currency == r.currency) {
            return Err(fail(
                PRICE_REPORT_INVALID,
                format!("tx.call.rates[{i}] repeats {}; give each currency once", r.currency),
            ));
        }
        if r.rate == 0 || r.rate > RATE_MAX {
            return Err(fail(
                PRICE_REPORT_INVALID,
                format!(
                    "tx.call.rates[{i}].rate is {}; it must be 1 to {RATE_MAX} base units per unit of {}",
                    r.rate, r.currency
                ),
            ));
        }
    }
    for r in rates {
        write(
            ov,
            report_key(&r.currency, sender),
            &PriceReport {
                rate: r.rate,
                time_ms: now,
            },
        );
    }
    Ok(CommerceEvent::PricesPosted {
        reporter: *sender,
        rates: u32::try_from(rates.len()).unwrap_or(u32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_700_000_000_000;

    fn at(rate: Amount, age: u64) -> PriceReport {
        PriceReport {
            rate,
            time_ms: NOW - age,
        }
    }

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_rate() {
        let m = median_of(&[at(30, 0), at(10, 5), at(20, 9)], NOW).unwrap();
        assert_eq!(m.rate, 20);
        assert_eq!(m.reports, 3);
        assert_eq!((m.newest_ms, m.oldest_ms), (NOW, NOW - 9));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_lower_middle_rate() {
        let m = median_of(&[at(40, 0), at(10, 0), at(30, 0), at(20, 0)], NOW).unwrap();
        assert_eq!(m.rate, 20);
        assert_eq!(m.reports, 4);
    }

    #[test]
    fn stale_reports_are_ignored() {
        let old = PRICE_REPORT_AGE_MS_MAX + 1;
        let m = median_of(
            &[at(1, old), at(1, old), at(50, 0), at(60, 0), at(70, PRICE_REPORT_AGE_MS_MAX)],
            NOW,
        )
        .unwrap();
        assert_eq!(m.rate, 60);
        assert_eq!(m.reports, 3);
    }

    #[test]
    fn fewer_than_three_reports_give_no_rate() {
        assert_eq!(
            median_of(&[at(1, 0), at(2, 0)], NOW),
            Err(NoRate::Unavailable { reports: 2 })
        );
        let old = PRICE_REPORT_AGE_MS_MAX + 1;
        assert_eq!(
            median_of(&[at(1, 0), at(2, 0), at(3, old)], NOW),
            Err(NoRate::Stale {
                reports: 3,
                fresh: 2,
                newest_ms: NOW
            })
        );
    }

    proptest! {
        #[test]
        fn the_median_lies_within_the_fresh_reports_and_ignores_their_order(
            reports in prop::collection::vec((1u128..1_000_000_000, 0u64..2 * PRICE_REPORT_AGE_MS_MAX), 0..64),
            seed in any::<u64>(),
        ) {
            let reports: Vec<PriceReport> = reports.into_iter().map(|(r, age)| at(r, age)).collect();
            let fresh: Vec<Amount> = reports
                .iter()
                .filter(|r| NOW - r.time_ms <= PRICE_REPORT_AGE_MS_MAX)
                .map(|r| r.rate)
                .collect();
            let got = median_of(&reports, NOW);
            let mut shuffled = reports.clone();
            // A deterministic shuffle from the seed.
            let n = shuffled.len();
            for i in (1..n).rev() {
                let j = (seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            prop_assert_eq!(got, median_of(&shuffled, NOW));
            match got {
                Ok(m) => {
                    prop_assert!(fresh.len() >= PRICE_REPORTS_MIN);
                    prop_assert!(m.rate >= *fresh.iter().min().unwrap());
                    prop_assert!(m.rate <= *fresh.iter().max().unwrap());
                    prop_assert!(fresh.contains(&m.rate));
                    // At least half (rounded up) are at or above it, at least half at or below.
                    let below = fresh.iter().filter(|r| **r <= m.rate).count();
                    let above = fresh.iter().filter(|r| **r >= m.rate).count();
                    prop_assert!(2 * below >= fresh.len() && 2 * above >= fresh.len());
                }
                Err(_) => prop_assert!(fresh.len() < PRICE_REPORTS_MIN),
            }
        }
    }
}
