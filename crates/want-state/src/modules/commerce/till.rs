//! Paying at the till (issue 14 item 6): a shop's till keys, payment requests paid once, and
//! the till payments with their purchase records.
//!
//! A payment request ([`PaymentRequest`]) is signed off-chain by `request.terminal`, the shop's
//! owner or one of its till keys (`AddTillKey` / `RemoveTillKey`, owner only). The state machine
//! has no secp256k1: the node's admission precheck (`want_node::modules::commerce`) checks that
//! the signature over [`PaymentRequest::hash`] is by `request.terminal`; here `PayRequest`
//! checks that `terminal` may sign for the shop *now* (owner or registered till key), the shop
//! is open, the request names this chain (`chain_id`, else `payment_request_wrong_chain`), has
//! not expired at block time (`expires_ms` is the first instant it can no longer be paid), is at
//! most [`PAYMENT_REQUEST_VALIDITY_MS_MAX`] ahead, names WANT or a currency of the chain's list,
//! asks for more than 0, and was never paid.
//!
//! **The WANT paid.** A request in WANT pays `amount`. A request in another currency converts
//! `amount` (micro-units) at the block's median rate with the function and rounding an order's
//! placement uses ([`super::price::convert`]: rounded up); a stale or missing rate refuses it
//! (`price_stale`, `price_unavailable`). Either way the WANT due must be at most the call's
//! `max_want` (`payment_above_max`): the payer's bound, since the rate may move between the
//! wallet's check and the block. Then the WANT due moves from the sender to the shop's payout
//! account less the 1 % fee ([`completion_fee`]) to `params.incentive_pool`, and a
//! [`TillPayment`] (with the rate) and a purchase record ([`PurchaseSource::Till`], amount in
//! WANT) are written under an id taken from the orders' sequence, so a purchase is named by
//! (buyer, id) whichever made it.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use want_types::modules::commerce::price::{is_currency, CURRENCIES};
use want_types::modules::commerce::{
    CommerceCall, CommerceEvent, PaymentRequest, CURRENCY_BYTES_MAX,
    PAYMENT_REQUEST_VALIDITY_MS_MAX, PRODUCT_BYTES_MAX, REFERENCE_BYTES_MAX, TILL_CURRENCY_WANT,
    TILL_KEYS_MAX,
};
use want_types::address::ADDRESS_LEN;
use want_types::{Address, Amount, Hash32};

use super::codes::*;
use super::fees::completion_fee;
use super::price;
use super::state::{
    self, next_id, purchase_key, read, write, PurchaseRecord, PurchaseSource, Shop,
    ORDER_SEQ_KEY,
};
use crate::failure::{fail, ExecError};
use crate::kernel::context::BlockContext;
use crate::modules::token::codes::INSUFFICIENT_BALANCE;
use crate::modules::token::exec::{credit, debit};
use crate::store::{page, read_u64, Overlay, Page};
use crate::{StateError, StateView};

/// Prefix of the till keys: `‖ handle ‖ / ‖ key`.
pub const TILL_KEY_PREFIX: &[u8] = b"commerce/till-key/";
/// Prefix of the shops' till key counts: `‖ handle`.
pub const TILL_KEY_COUNT_PREFIX: &[u8] = b"commerce/till-keys/";
/// Prefix of the till payments: `‖ id (u64 BE)`.
pub const TILL_PAYMENT_PREFIX: &[u8] = b"commerce/till-payment/";
/// Prefix of the paid requests: `‖ request hash` → payment id.
pub const TILL_REQUEST_PREFIX: &[u8] = b"commerce/till-request/";
/// Most till payments one page of [`payments`] returns.
pub const PAYMENTS_PAGE_MAX: usize = 100;

/// A payment request paid at the till.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct TillPayment {
    /// From the orders' sequence; also the id of the buyer's purchase record.
    pub id: u64,
    pub request_hash: Hash32,
    pub request: PaymentRequest,
    pub buyer: Address,
    /// The shop's payout account when paid: it got `amount - fee`.
    pub payout: Address,
    /// WANT paid by the buyer, base units (`request.amount` converted at `rate` when the
    /// request is in another currency).
    #[serde(with = "want_types::amount::dec")]
    pub amount: Amount,
    /// To the incentive pool, base units.
    #[serde(with = "want_types::amount::dec")]
    pub fee: Amount,
    /// The block that paid it (its `TillPaid` event on `/v1/events` names the transaction).
    pub height: u64,
    pub time_ms: u64,
    /// WANT base units per whole unit of `request.currency` it converted at (the median rate);
    /// `None` for a request in WANT.
    #[serde(with = "want_types::amount::dec_opt")]
    pub rate: Option<Amount>,
}

fn shop_part(handle: &str) -> Vec<u8> {
    [TILL_KEY_PREFIX, handle.as_bytes(), b"/"].concat()
}

pub fn till_key_key(handle: &str, key: &Address) -> Vec<u8> {
    [shop_part(handle).as_slice(), &key.0].concat()
}

fn count_key(handle: &str) -> Vec<u8> {
    [TILL_KEY_COUNT_PREFIX, handle.as_bytes()].concat()
}

pub fn payment_key(id: u64) -> Vec<u8> {
    [TILL_PAYMENT_PREFIX, &id.to_be_bytes()].concat()
}

pub fn request_key(hash: &Hash32) -> Vec<u8> {
    [TILL_REQUEST_PREFIX, &hash.0].concat()
}

/// Whether `key` is a registered till key of shop `handle`.
pub fn is_till_key(view: &dyn StateView, handle: &str, key: &Address) -> Result<bool, StateError> {
    Ok(view.get(&till_key_key(handle, key))?.is_some())
}

/// The till keys of shop `handle` (at most [`TILL_KEYS_MAX`], in address order).
pub fn till_keys(view: &dyn StateView, handle: &str) -> Result<Vec<Address>, StateError> {
    let prefix = shop_part(handle);
    view.range(&prefix, None, TILL_KEYS_MAX)?
        .into_iter()
        .map(|(k, _)| {
            k.get(prefix.len()..)
                .and_then(|b| <[u8; ADDRESS_LEN]>::try_from(b).ok())
                .map(Address)
                .ok_or_else(|| StateError::corrupt(&k, "till key of the wrong length"))
        })
        .collect()
}

/// The till payment `id`, if any.
pub fn payment(view: &dyn StateView, id: u64) -> Result<Option<TillPayment>, StateError> {
    read(view, &payment_key(id), "till payment")
}

/// The id of the payment that paid the request of hash `hash`, if it was paid.
pub fn paid_by(view: &dyn StateView, hash: &Hash32) -> Result<Option<u64>, StateError> {
    let key = request_key(hash);
    view.get(&key)?
        .map(|b| {
            <[u8; 8]>::try_from(b.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| StateError::corrupt(&key, "paid request of the wrong length"))
        })
        .transpose()
}

/// Till payments by id, at most `limit` (clamped to [`PAYMENTS_PAGE_MAX`]) after `after`.
pub fn payments(
    view: &dyn StateView,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<TillPayment, u64>, StateError> {
    let after = after.map(u64::to_be_bytes);
    page(
        view,
        TILL_PAYMENT_PREFIX,
        after.as_ref().map(|a| &a[..]),
        limit.clamp(1, PAYMENTS_PAGE_MAX),
        |k, v| borsh::from_slice(v).map_err(|e| StateError::corrupt(k, format!("till payment: {e}"))),
        |p: &TillPayment| p.id,
    )
}

/// The till payments to shop `shop` (if given) by buyer `buyer` (if given), by id, reading at
/// most `query::FILTER_SCAN_MAX` payments per page (see `query::orders_where`).
pub fn payments_where(
    view: &dyn StateView,
    shop: Option<&str>,
    buyer: Option<&Address>,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<TillPayment, u64>, StateError> {
    super::query::filtered(
        |c| payments(view, c, PAYMENTS_PAGE_MAX),
        |p: &TillPayment| p.id,
        after,
        limit.clamp(1, PAYMENTS_PAGE_MAX),
        |p| shop.is_none_or(|s| p.request.shop == s) && buyer.is_none_or(|b| p.buyer == *b),
    )
}

/// Applies a till call (`AddTillKey`, `RemoveTillKey`, `PayRequest`) from `sender`; other calls
/// are not this file's and do nothing.
pub(crate) fn execute(
    ov: &mut Overlay<'_>,
    block: &BlockContext,
    events: &mut Vec<CommerceEvent>,
    sender: Address,
    call: &CommerceCall,
) -> Result<(), ExecError> {
    match call {
        CommerceCall::AddTillKey { shop, key } => {
            own_open_shop(ov, sender, shop)?;
            let k = till_key_key(shop, key);
            if ov.get(&k)?.is_some() {
                return Err(fail(
                    TILL_KEY_EXISTS,
                    format!("tx.call.key {key} is already a till key of the shop {shop:?}"),
                ));
            }
            let count = read_u64(ov, &count_key(shop))?;
            if count >= TILL_KEYS_MAX as u64 {
                return Err(fail(
                    TILL_KEYS_FULL,
                    format!("the shop {shop:?} has {count} till keys, the most it may have ({TILL_KEYS_MAX}); remove one first"),
                ));
            }
            ov.put(k, block.timestamp_ms.to_be_bytes().to_vec());
            ov.put(count_key(shop), (count + 1).to_be_bytes().to_vec());
            events.push(CommerceEvent::TillKeyAdded {
                shop: shop.clone(),
                key: *key,
            });
            Ok(())
        }
        CommerceCall::RemoveTillKey { shop, key } => {
            own_open_shop(ov, sender, shop)?;
            let k = till_key_key(shop, key);
            if ov.get(&k)?.is_none() {
                return Err(fail(
                    TILL_KEY_UNKNOWN,
                    format!("tx.call.key {key} is not a till key of the shop {shop:?}; list them at /v1/commerce/shops/{shop}/till-keys"),
                ));
            }
            let count = read_u64(ov, &count_key(shop))?;
            ov.delete(k);
            ov.put(
                count_key(shop),
                count.saturating_sub(1).to_be_bytes().to_vec(),
            );
            events.push(CommerceEvent::TillKeyRemoved {
                shop: shop.clone(),
                key: *key,
            });
            Ok(())
        }
        CommerceCall::PayRequest {
            request, max_want, ..
        } => pay(ov, block, events, sender, request, *max_want),
        _ => Ok(()),
    }
}

/// The shop `handle`, which must exist and be open.
fn open_shop(view: &dyn StateView, handle: &str) -> Result<Shop, ExecError> {
    let Some(shop) = state::shop(view, handle)? else {
        return Err(fail(
            SHOP_UNKNOWN,
            format!("no shop has the handle {handle:?}; check the handle"),
        ));
    };
    if shop.closed {
        return Err(fail(SHOP_CLOSED, format!("the shop {handle:?} is closed")));
    }
    Ok(shop)
}

/// The open shop `handle`, which `sender` must own.
fn own_open_shop(view: &dyn StateView, sender: Address, handle: &str) -> Result<Shop, ExecError> {
    let shop = open_shop(view, handle)?;
    if shop.owner != sender {
        return Err(fail(
            SHOP_OWNER_ONLY,
            format!(
                "{sender} does not own the shop {handle:?}; sign with its owner {}",
                shop.owner
            ),
        ));
    }
    Ok(shop)
}

fn invalid(message: String) -> ExecError {
    fail(PAYMENT_REQUEST_INVALID, message)
}

/// Checks the request's fields against their bounds, the chain and the block time.
fn check_request(r: &PaymentRequest, block: &BlockContext) -> Result<(), ExecError> {
    let now = block.timestamp_ms;
    if r.chain_id != block.params.chain_id {
        return Err(fail(
            PAYMENT_REQUEST_WRONG_CHAIN,
            format!(
                "tx.call.request.chain_id is {}, but this is chain {}: the request was made for another chain (a test net or a fork); do not pay it here, ask the till for a request on chain {}",
                r.chain_id, block.params.chain_id, block.params.chain_id
            ),
        ));
    }
    if r.amount == 0 {
        return Err(invalid(
            "tx.call.request.amount is 0; a payment request asks for at least 1 base unit".into(),
        ));
    }
    if r.currency.is_empty() || r.currency.len() > CURRENCY_BYTES_MAX {
        return Err(invalid(format!(
            "tx.call.request.currency is {} bytes; it must be 1 to {CURRENCY_BYTES_MAX}",
            r.currency.len()
        )));
    }
    if r.currency != TILL_CURRENCY_WANT && !is_currency(&r.currency) {
        return Err(fail(
            PAYMENT_CURRENCY_UNSUPPORTED,
            format!(
                "tx.call.request.currency is {:?}; a till is paid in {TILL_CURRENCY_WANT} or one of {}: ask the till for a request in one of them",
                r.currency,
                CURRENCIES.join(", ")
            ),
        ));
    }
    if r.reference.len() > REFERENCE_BYTES_MAX {
        return Err(invalid(format!(
            "tx.call.request.reference is {} bytes; it must be at most {REFERENCE_BYTES_MAX}",
            r.reference.len()
        )));
    }
    if let Some(p) = &r.product {
        if p.is_empty() || p.len() > PRODUCT_BYTES_MAX {
            return Err(invalid(format!(
                "tx.call.request.product is {} bytes; it must be 1 to {PRODUCT_BYTES_MAX}",
                p.len()
            )));
        }
    }
    if now >= r.expires_ms {
        return Err(fail(
            PAYMENT_REQUEST_EXPIRED,
            format!(
                "the payment request expired at {} ms; it is {now} ms: ask the till for a new request",
                r.expires_ms
            ),
        ));
    }
    if r.expires_ms - now > PAYMENT_REQUEST_VALIDITY_MS_MAX {
        return Err(invalid(format!(
            "tx.call.request.expires_ms is {} ms ahead; a payment request is valid for at most {PAYMENT_REQUEST_VALIDITY_MS_MAX} ms",
            r.expires_ms - now
        )));
    }
    Ok(())
}

fn pay(
    ov: &mut Overlay<'_>,
    block: &BlockContext,
    events: &mut Vec<CommerceEvent>,
    sender: Address,
    r: &PaymentRequest,
    max_want: Amount,
) -> Result<(), ExecError> {
    let now = block.timestamp_ms;
    check_request(r, block)?;
    let shop = open_shop(ov, &r.shop)?;
    if r.terminal != shop.owner && !is_till_key(ov, &r.shop, &r.terminal)? {
        return Err(fail(
            PAYMENT_REQUEST_TERMINAL_UNKNOWN,
            format!(
                "the payment request is signed by {}, which is neither the owner nor a till key of the shop {:?}; do not pay it",
                r.terminal, r.shop
            ),
        ));
    }
    // A shop paying itself would buy purchase records (and with them reviews) for a fee.
    if sender == shop.owner || is_till_key(ov, &r.shop, &sender)? {
        return Err(fail(
            ORDER_PARTY_NOT_ALLOWED,
            format!(
                "{sender} is the owner or a till key of the shop {:?} and cannot pay its own request",
                r.shop
            ),
        ));
    }
    let hash = r.hash();
    if let Some(id) = paid_by(ov, &hash)? {
        return Err(fail(
            PAYMENT_REQUEST_PAID,
            format!("the payment request {hash} was already paid by payment {id}; it is paid once"),
        ));
    }
    let (amount, rate) = want_due(ov, r, now)?;
    if amount > max_want {
        return Err(fail(
            PAYMENT_ABOVE_MAX,
            format!(
                "the request comes to {amount} WANT base units{}; tx.call.max_want is {max_want}: the rate moved or the bound is too low, check the amount and pay again with a higher max_want",
                rate.map(|rate| format!(
                    " ({} micro-units of {} at {rate} base units per unit)",
                    r.amount, r.currency
                ))
                .unwrap_or_default()
            ),
        ));
    }
    let fee = completion_fee(amount);
    let to_shop = amount - fee; // fee <= amount: 1 % rounded up of a whole number
    debit(ov, &sender, amount, INSUFFICIENT_BALANCE)?;
    if to_shop > 0 {
        credit(ov, &shop.payout, to_shop)?;
    }
    credit(ov, &block.params.incentive_pool, fee)?;
    let id = next_id(ov, ORDER_SEQ_KEY)?;
    ov.put(request_key(&hash), id.to_be_bytes().to_vec());
    let payment = TillPayment {
        id,
        request_hash: hash,
        request: r.clone(),
        buyer: sender,
        payout: shop.payout,
        amount,
        fee,
        height: block.height,
        time_ms: now,
        rate,
    };
    write(ov, payment_key(id), &payment);
    let record = PurchaseRecord {
        order: id,
        buyer: sender,
        shop: r.shop.clone(),
        product: r.product.clone().unwrap_or_default(),
        amount,
        time_ms: now,
        source: PurchaseSource::Till,
    };
    write(ov, purchase_key(&sender, id), &record);
    events.push(CommerceEvent::TillPaid {
        payment: id,
        request_hash: hash,
        shop: r.shop.clone(),
        buyer: sender,
        amount,
        fee,
        reference: r.reference.clone(),
        currency: r.currency.clone(),
        rate,
    });
    Ok(())
}

/// The WANT (base units) request `r` comes to at `now`, and the rate if converted: its amount
/// for a request in WANT, else its amount converted at the median rate exactly as an order's
/// price is ([`price::convert`], rounded up); a stale or missing rate fails.
fn want_due(
    view: &dyn StateView,
    r: &PaymentRequest,
    now: u64,
) -> Result<(Amount, Option<Amount>), ExecError> {
    if r.currency == TILL_CURRENCY_WANT {
        return Ok((r.amount, None));
    }
    let (amount, _, rate) = price::convert(view, &r.currency, r.amount, 0, now).map_err(|e| match e {
        ExecError::Tx(f) if f.code == PRICE_STALE || f.code == PRICE_UNAVAILABLE => fail(
            f.code,
            format!("tx.call.request.currency {}: {}", r.currency, f.message),
        ),
        other => other,
    })?;
    Ok((amount, rate))
}
