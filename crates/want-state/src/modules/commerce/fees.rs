//! The commerce module's arithmetic of shares and fees, in basis points, without overflow.

use want_types::modules::commerce::{BPS_WHOLE, COMMERCE_FEE_BPS};
use want_types::Amount;

/// `bps` basis points of `amount` (`bps` at most 10,000, so never more than `amount`),
/// rounded up or down, without overflow.
pub fn bps_of(amount: Amount, bps: u16, round_up: bool) -> Amount {
    let whole = Amount::from(BPS_WHOLE);
    let bps = Amount::from(bps.min(BPS_WHOLE));
    // (q·W + r)·b/W = q·b + r·b/W, with r·b < W² small.
    let (q, r) = (amount / whole, amount % whole);
    let part = r * bps;
    let rest = if round_up {
        part.div_ceil(whole)
    } else {
        part / whole
    };
    q * bps + rest
}

/// The fee on a completed order's net payment: 1 % ([`COMMERCE_FEE_BPS`]), rounded up.
pub fn completion_fee(net: Amount) -> Amount {
    bps_of(net, COMMERCE_FEE_BPS, true)
}

