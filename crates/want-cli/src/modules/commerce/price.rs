//! `want price post|show`: price reporters post rates of the chain's currencies in WANT; anyone
//! reads the current rates (the median of at least 3 fresh reports). Also what `want order
//! place` needs to bound the WANT paid for an offer priced in another currency.

use clap::Subcommand;
use serde_json::Value;
use want_types::amount::{format_want, parse_want};
use want_types::modules::commerce::price::{to_want, PriceRate, CURRENCIES};
use want_types::modules::commerce::CommerceCall;
use want_types::modules::commerce::BPS_WHOLE;
use want_types::Amount;

use crate::client::Client;
use crate::output::{CliError, Out};
use crate::signer::{Profile, SignArgs};
use crate::NodeArg;

/// Margin `want order place` adds to the WANT an offer in another currency costs at the current
/// rate, for the rate to move before the order is in a block, in basis points (2 %). The order
/// pays the rate of its block; `--max-total` sets the bound instead.
pub const PRICE_SLIPPAGE_BPS: u16 = 200;

#[derive(Subcommand)]
pub enum PriceCommand {
    /// Post rates as a registered price reporter: `--rate USD=7.25` says 1 USD = 7.25 WANT.
    Post {
        /// CURRENCY=WANT per whole unit (up to 6 decimals); repeat for several currencies.
        #[arg(long = "rate", required = true)]
        rates: Vec<String>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Show the rate of every currency, or of one with its reports.
    Show {
        /// A currency code (USD, EUR, BTC, …).
        currency: Option<String>,
        #[command(flatten)]
        node: NodeArg,
    },
}

/// `CURRENCY=RATE` → a rate of base units per whole unit.
fn parse_rate(spec: &str) -> anyhow::Result<PriceRate> {
    let invalid = |why: String| -> anyhow::Error {
        CliError::new(
            "invalid_arguments",
            format!("--rate {spec:?}: {why}; give CURRENCY=WANT per unit, e.g. USD=7.25"),
        )
        .into()
    };
    let Some((c, r)) = spec.split_once('=') else {
        return Err(invalid("no '='".into()));
    };
    let currency = c.trim().to_ascii_uppercase();
    if !CURRENCIES.contains(&currency.as_str()) {
        return Err(invalid(format!(
            "{currency} is not a currency of the chain ({})",
            CURRENCIES.join(", ")
        )));
    }
    let rate = parse_want(r.trim()).map_err(|e| invalid(e.to_string()))?;
    Ok(PriceRate { currency, rate })
}

fn rate_text(v: &Value) -> String {
    v.as_str()
        .and_then(|s| s.parse::<Amount>().ok())
        .map(|a| format!("{} WANT", format_want(a)))
        .unwrap_or_else(|| "-".into())
}

fn price_line(p: &Value) -> String {
    let cur = p["currency"].as_str().unwrap_or_default();
    match p["status"].as_str() {
        Some("ok") => format!(
            "1 {cur:<5} = {} (median of {} fresh reports)",
            rate_text(&p["rate"]),
            p["fresh_reports"]
        ),
        other => format!(
            "1 {cur:<5} = {}: {}",
            other.unwrap_or("?"),
            p["why"].as_str().unwrap_or_default()
        ),
    }
}

pub fn run(cmd: PriceCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        PriceCommand::Post { rates, sign } => {
            let rates = rates
                .iter()
                .map(|s| parse_rate(s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            super::send(
                CommerceCall::PostPrices { rates },
                sign,
                Profile::commit(),
                out,
            )
        }
        PriceCommand::Show { currency, node } => {
            let client = Client::new(&node.url)?;
            match currency {
                Some(c) => {
                    let v = client.get(&format!(
                        "/v1/commerce/prices/{}",
                        want_node::trace::urlencode(&c.to_ascii_uppercase())
                    ))?;
                    out.value(&v, |v| {
                        let mut lines = vec![price_line(&v["price"])];
                        for r in v["reports"].as_array().into_iter().flatten() {
                            lines.push(format!(
                                "  {} {} at {} ms{}",
                                r["reporter"].as_str().unwrap_or_default(),
                                rate_text(&r["rate"]),
                                r["time_ms"],
                                if r["fresh"] == true { "" } else { " (stale)" }
                            ));
                        }
                        lines.join("\n")
                    });
                }
                None => {
                    let v = client.get("/v1/commerce/prices")?;
                    out.value(&v, |v| {
                        let mut lines: Vec<String> = v["prices"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(price_line)
                            .collect();
                        lines.push(format!(
                            "{} reporters; as of {} ms",
                            v["reporters"].as_array().map_or(0, Vec::len),
                            v["as_of_ms"]
                        ));
                        lines.join("\n")
                    });
                }
            }
            Ok(())
        }
    }
}

/// The node's current median rate of `currency` (base units of WANT per unit) and its age in ms
/// (since the newest fresh report). Without one it is refused with `price_stale` or
/// `price_unavailable`: "`subject`, which has no rate now (why); `remedy`".
pub fn current_rate(
    client: &Client,
    currency: &str,
    subject: &str,
    remedy: &str,
) -> anyhow::Result<(Amount, u64)> {
    use want_state::modules::commerce::codes as c;
    let v = client.get(&format!(
        "/v1/commerce/prices/{}",
        want_node::trace::urlencode(currency)
    ))?;
    let p = &v["price"];
    match p["rate"].as_str().and_then(|s| s.parse::<Amount>().ok()) {
        Some(rate) => {
            let newest = p["newest_ms"].as_u64().unwrap_or(0);
            Ok((rate, crate::signer::now_ms().saturating_sub(newest)))
        }
        None => {
            let code = if p["status"] == "stale" {
                c::PRICE_STALE
            } else {
                c::PRICE_UNAVAILABLE
            };
            let why = p["why"].as_str().unwrap_or("no rate in the node's answer");
            Err(CliError::new(code, format!("{subject}, which has no rate now ({why}); {remedy}")).into())
        }
    }
}

/// `want` plus `bps` basis points of it, rounded up; `None` on overflow.
pub fn with_margin(want: Amount, bps: u32) -> Option<Amount> {
    let margin = want
        .checked_mul(Amount::from(bps))?
        .div_ceil(Amount::from(BPS_WHOLE));
    want.checked_add(margin)
}

/// The most WANT to pay for `price_total` micro-units of `currency` (not WANT): its value at
/// the node's current rate plus [`PRICE_SLIPPAGE_BPS`], refusing when the node has no rate.
pub fn max_total_in(client: &Client, currency: &str, price_total: Amount) -> anyhow::Result<Amount> {
    let (rate, _) = current_rate(
        client,
        currency,
        &format!("the offer is priced in {currency}"),
        "wait for fresh reports or give --max-total",
    )?;
    to_want(price_total, rate)
        .and_then(|at_rate| with_margin(at_rate, u32::from(PRICE_SLIPPAGE_BPS)))
        .ok_or_else(|| {
            CliError::new(
                "invalid_amount",
                "the order's value in WANT overflows; order fewer items",
            )
            .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_currency_and_want_per_unit() {
        assert_eq!(
            parse_rate("usd=7.25").unwrap(),
            PriceRate {
                currency: "USD".into(),
                rate: 7_250_000
            }
        );
        assert!(parse_rate("USD").is_err());
        assert!(parse_rate("XYZ=1").is_err());
        assert!(parse_rate("USD=abc").is_err());
    }
}
