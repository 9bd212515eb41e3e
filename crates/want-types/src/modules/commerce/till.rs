//! Paying at the till (issue 14 item 6, paper §3.4.1): a shop's terminal signs a
//! [`PaymentRequest`]; the customer's wallet checks it and signs a `PayRequest` call naming it,
//! then broadcasts it or hands the signed transaction back to the terminal (offline).
//!
//! **The payment request URI** (what the QR code holds):
//! `want:pay?v=2&req=<hex of borsh(PaymentRequest)>&sig=<hex of borsh(Signature)>`, lowercase
//! hex, parameters in this order ([`payment_uri`], [`parse_payment_uri`]). The signature is over
//! [`PaymentRequest::hash`] (`sha256d(PAYMENT_REQUEST_HASH_TAG ‖ borsh(request))`), by the key
//! of `request.terminal`: the shop's owner or one of its till keys. Anything altered in the URI
//! changes the hash, so the signature then names another signer.
//!
//! **Version 2** added `chain_id` (a request is payable on one chain only: a test net's request
//! cannot be paid on the main net or a fork) and requests in the currencies of
//! [`super::price::CURRENCIES`]; a version 1 URI is refused with a reason.
//!
//! **Other currencies.** `amount` is in micro-units of `currency` (6 decimals, as an offer's
//! price). The chain converts it to WANT when the payment's block applies, at the median rate and
//! with the rounding of an order ([`super::price::to_want`], rounded up); the payer's
//! `PayRequest::max_want` bounds what that may come to.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::hash::sha256d_tagged;
use crate::{Address, Amount, Hash32, Signature};

/// Domain tag of a payment request's hash ([`PaymentRequest::hash`]).
pub const PAYMENT_REQUEST_HASH_TAG: &[u8] = b"want/commerce/payment-request/v2";
/// The currency of a request in WANT itself (paid as asked, no rate). A request may also name any
/// currency of [`super::price::CURRENCIES`], converted at payment.
pub const TILL_CURRENCY_WANT: &str = "WANT";
/// Longest currency code of a payment request, in bytes.
pub const CURRENCY_BYTES_MAX: usize = 16;
/// Longest reference of a payment request (the till's receipt number), in bytes.
pub const REFERENCE_BYTES_MAX: usize = 64;
/// Longest time a payment request may be valid, from the block that pays it, in ms (7 days):
/// paid requests are remembered so a request is paid once; a bound expiry lets them be pruned.
pub const PAYMENT_REQUEST_VALIDITY_MS_MAX: u64 = 7 * 24 * 3_600_000;
/// Most till keys one shop registers (its owner signs requests too).
pub const TILL_KEYS_MAX: usize = 64;
/// Scheme and path of a payment request URI.
pub const PAYMENT_URI_PREFIX: &str = "want:pay?";
/// Version of the payment request URI format (2: requests name their chain).
pub const PAYMENT_URI_VERSION: &str = "2";
/// Longest payment request URI accepted, in bytes (a QR code holds at most 2,953 bytes).
pub const PAYMENT_URI_BYTES_MAX: usize = 2_900;

/// What a shop's terminal asks a customer to pay.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentRequest {
    /// The shop's handle.
    pub shop: String,
    /// In base units of `currency` (more than 0): WANT base units, or micro-units of another
    /// currency (6 decimals, as an offer's price).
    #[serde(with = "crate::amount::dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
    pub amount: Amount,
    /// [`TILL_CURRENCY_WANT`] or a currency of [`super::price::CURRENCIES`] (converted to WANT
    /// at the median rate when paid).
    pub currency: String,
    /// The till's reference (receipt number), at most [`REFERENCE_BYTES_MAX`] bytes.
    pub reference: String,
    /// The product sold (GTIN or shop SKU), if the till names one; at most
    /// `PRODUCT_BYTES_MAX` bytes.
    pub product: Option<String>,
    /// Block time from which it can no longer be paid, Unix ms.
    pub expires_ms: u64,
    /// The key that signed it: the shop's owner or one of its till keys.
    pub terminal: Address,
    /// Chosen at random by the terminal: two requests alike otherwise differ by it.
    pub nonce: u64,
    /// The chain it may be paid on (`ChainParams::chain_id`); the state machine refuses it on
    /// any other (`payment_request_wrong_chain`).
    pub chain_id: u64,
}

impl PaymentRequest {
    /// What the terminal signs and the chain remembers once paid:
    /// `sha256d(PAYMENT_REQUEST_HASH_TAG ‖ borsh(request))`.
    pub fn hash(&self) -> Hash32 {
        sha256d_tagged(PAYMENT_REQUEST_HASH_TAG, self)
    }
}

/// Why a payment request URI does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentUriError(pub String);

impl std::fmt::Display for PaymentUriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PaymentUriError {}

/// The URI of a signed payment request (see the module header).
pub fn payment_uri(request: &PaymentRequest, signature: &Signature) -> String {
    let req = borsh::to_vec(request).expect("invariant: borsh encoding into a Vec cannot fail");
    let sig = borsh::to_vec(signature).expect("invariant: borsh encoding into a Vec cannot fail");
    format!(
        "{PAYMENT_URI_PREFIX}v={PAYMENT_URI_VERSION}&req={}&sig={}",
        hex::encode(req),
        hex::encode(sig)
    )
}

/// The request and signature of a payment request URI. It checks the form only: the caller
/// checks that the signature is by `request.terminal` over [`PaymentRequest::hash`].
pub fn parse_payment_uri(uri: &str) -> Result<(PaymentRequest, Signature), PaymentUriError> {
    let err = |m: String| PaymentUriError(m);
    let uri = uri.trim();
    if uri.len() > PAYMENT_URI_BYTES_MAX {
        return Err(err(format!(
            "the URI is {} bytes; a payment request URI has at most {PAYMENT_URI_BYTES_MAX}",
            uri.len()
        )));
    }
    let Some(query) = uri.strip_prefix(PAYMENT_URI_PREFIX) else {
        return Err(err(format!(
            "the URI does not start with {PAYMENT_URI_PREFIX:?}; scan the till's payment request again"
        )));
    };
    let mut v = None;
    let mut req = None;
    let mut sig = None;
    for part in query.split('&') {
        let (k, val) = part.split_once('=').unwrap_or((part, ""));
        let slot = match k {
            "v" => &mut v,
            "req" => &mut req,
            "sig" => &mut sig,
            other => return Err(err(format!("unknown URI parameter {other:?}"))),
        };
        if slot.replace(val).is_some() {
            return Err(err(format!("the URI parameter {k:?} is given twice")));
        }
    }
    if v == Some("1") {
        return Err(err(format!(
            "the URI is a version 1 payment request, which names no chain and is no longer paid; this wallet reads version {PAYMENT_URI_VERSION}: ask the till for a new request (update the till's software)"
        )));
    }
    if v != Some(PAYMENT_URI_VERSION) {
        return Err(err(format!(
            "the URI's version is {:?}; this wallet reads version {PAYMENT_URI_VERSION}",
            v.unwrap_or("")
        )));
    }
    let decode = |name: &str, val: Option<&str>| -> Result<Vec<u8>, PaymentUriError> {
        let val = val.ok_or_else(|| err(format!("the URI lacks its {name:?} parameter")))?;
        hex::decode(val).map_err(|e| err(format!("the URI's {name:?} is not hex: {e}")))
    };
    let request: PaymentRequest = borsh::from_slice(&decode("req", req)?)
        .map_err(|e| err(format!("the URI's payment request does not decode: {e}")))?;
    let signature: Signature = borsh::from_slice(&decode("sig", sig)?)
        .map_err(|e| err(format!("the URI's signature does not decode: {e}")))?;
    Ok((request, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PaymentRequest {
        PaymentRequest {
            shop: "corner".into(),
            amount: 12_500_000,
            currency: TILL_CURRENCY_WANT.into(),
            reference: "R-1".into(),
            product: None,
            expires_ms: 1_700_000_600_000,
            terminal: Address::system("till"),
            nonce: 7,
            chain_id: 1,
        }
    }

    #[test]
    fn a_payment_uri_parses_back_to_its_request_and_signature() {
        let sig = Signature::Secp256k1(vec![3; 65]);
        let uri = payment_uri(&sample(), &sig);
        assert!(uri.starts_with("want:pay?v=2&req="));
        assert_eq!(parse_payment_uri(&uri), Ok((sample(), sig)));
    }

    #[test]
    fn a_changed_field_changes_the_request_hash() {
        let mut other = sample();
        other.amount += 1;
        assert_ne!(sample().hash(), other.hash());
        let mut other = sample();
        other.chain_id = 2;
        assert_ne!(sample().hash(), other.hash());
    }

    #[test]
    fn malformed_payment_uris_are_refused_with_a_reason() {
        let sig = Signature::Secp256k1(vec![3; 65]);
        let uri = payment_uri(&sample(), &sig);
        for (bad, why) in [
            ("https://x".to_string(), "does not start"),
            (uri.replace("v=2", "v=3"), "version"),
            (uri.replace("v=2", "v=1"), "version 1 payment request"),
            (uri.replace("&sig=", "&sag="), "unknown URI parameter"),
            (uri.replace("req=", "req=zz"), "not hex"),
            (format!("{uri}&v=1"), "twice"),
            (uri[..uri.len() - 4].to_string(), "does not decode"),
        ] {
            let e = parse_payment_uri(&bad).unwrap_err();
            assert!(e.0.contains(why), "{bad}: {e}");
        }
    }
}
