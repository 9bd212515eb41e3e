//! The commerce module's error codes (stable snake_case strings; never rename one). A buyer
//! short of funds fails with the token module's `insufficient_balance`.

use crate::codes::ErrorCode;

/// Failed: the shop handle is not 3..=32 lowercase ASCII letters, digits and inner '-'.
pub const SHOP_HANDLE_INVALID: &str = "shop_handle_invalid";
/// Failed: the handle, or one that looks like it, is taken.
pub const SHOP_HANDLE_TAKEN: &str = "shop_handle_taken";
/// Failed: a shop field (name, trace organisation) is empty or too long.
pub const SHOP_FIELD_INVALID: &str = "shop_field_invalid";
/// Failed: no shop has this handle.
pub const SHOP_UNKNOWN: &str = "shop_unknown";
/// Failed: the shop names a trace organisation the signer holds no active key of.
pub const SHOP_TRACE_ORG_NOT_SIGNERS: &str = "shop_trace_org_not_signers";
/// Failed: the shop is closed.
pub const SHOP_CLOSED: &str = "shop_closed";
/// Failed: only the shop's owner may do this.
pub const SHOP_OWNER_ONLY: &str = "shop_owner_only";
/// Failed: an offer's terms or stock are out of bounds.
pub const OFFER_INVALID: &str = "offer_invalid";
/// Failed: no offer has this id.
pub const OFFER_UNKNOWN: &str = "offer_unknown";
/// Failed: the offer's shop is closed.
pub const OFFER_CLOSED: &str = "offer_closed";
/// Failed: the offer has fewer items in stock than ordered.
pub const OFFER_SOLD_OUT: &str = "offer_sold_out";
/// Failed: the order names an offer version that is not the current one.
pub const OFFER_VERSION_STALE: &str = "offer_version_stale";
/// Failed: the order's terms hash is not the hash of the offer version's terms.
pub const OFFER_TERMS_MISMATCH: &str = "offer_terms_mismatch";
/// Failed: the quantity is 0 or above the per-order maximum.
pub const ORDER_QUANTITY_INVALID: &str = "order_quantity_invalid";
/// Failed: price × quantity is more than the order's `max_total`.
pub const ORDER_TOTAL_ABOVE_MAX: &str = "order_total_above_max";
/// Failed: the seller's deposit is more than the acceptance's `max_deposit`.
pub const ORDER_DEPOSIT_ABOVE_MAX: &str = "order_deposit_above_max";
/// Failed (or, from the schedule, dropped): no order has this id.
pub const ORDER_UNKNOWN: &str = "order_unknown";
/// Failed: the order was already accepted.
pub const ORDER_ALREADY_ACCEPTED: &str = "order_already_accepted";
/// Failed: the order cannot ship before the seller accepts it.
pub const ORDER_NOT_ACCEPTED: &str = "order_not_accepted";
/// Failed: only the order's buyer may confirm delivery.
pub const ORDER_NOT_BUYER: &str = "order_not_buyer";
/// Failed: the order's state does not allow this transition.
pub const ORDER_TRANSITION_NOT_ALLOWED: &str = "order_transition_not_allowed";
/// Failed: the sender is not a party allowed to make this transition.
pub const ORDER_PARTY_NOT_ALLOWED: &str = "order_party_not_allowed";
/// Failed: the deadline for this step has passed (its trigger ends the order).
pub const ORDER_DEADLINE_PASSED: &str = "order_deadline_passed";
/// Failed: `run_deadline` on an order whose deadline has not been reached.
pub const ORDER_DEADLINE_NOT_REACHED: &str = "order_deadline_not_reached";
/// Failed: a delivery place names no registered trace organisation, or a receiving event does
/// not confirm the order's delivery (not anchored by that organisation, not `receiving`, not at
/// the named location, before the shipment, or declared erroneous), or no place was named.
pub const ORDER_DELIVERY_INVALID: &str = "order_delivery_invalid";
/// Failed: the refund is 0 or more than was paid less earlier refunds.
pub const ORDER_REFUND_ABOVE_PAID: &str = "order_refund_above_paid";
/// Failed: no cancellation was proposed.
pub const ORDER_CANCEL_NOT_PROPOSED: &str = "order_cancel_not_proposed";
/// Failed: the dispute window is over (or the escrow was already released).
pub const ORDER_DISPUTE_WINDOW_CLOSED: &str = "order_dispute_window_closed";
/// Failed: the evidence list or the EPCIS event reference is empty or too long.
pub const ORDER_EVIDENCE_INVALID: &str = "order_evidence_invalid";
/// Failed: no settlement was proposed.
pub const ORDER_SETTLEMENT_NOT_PROPOSED: &str = "order_settlement_not_proposed";
/// Failed: the accepted split is not the proposed one.
pub const ORDER_SETTLEMENT_MISMATCH: &str = "order_settlement_mismatch";
/// Failed: the buyer's share is more than the order's escrow.
pub const ORDER_SHARE_ABOVE_ESCROW: &str = "order_share_above_escrow";
/// Failed: the escrow account holds less than an order's funds (a bug; the call is dropped).
pub const ESCROW_SHORT: &str = "escrow_short";
/// Failed: the key is already a till key of the shop.
pub const TILL_KEY_EXISTS: &str = "till_key_exists";
/// Failed: the key is not a till key of the shop.
pub const TILL_KEY_UNKNOWN: &str = "till_key_unknown";
/// Failed: the shop has the most till keys it may have.
pub const TILL_KEYS_FULL: &str = "till_keys_full";
/// Failed: a payment request's amount is 0, or a field is out of bounds.
pub const PAYMENT_REQUEST_INVALID: &str = "payment_request_invalid";
/// Failed: the payment request expired (block time at or after its expiry).
pub const PAYMENT_REQUEST_EXPIRED: &str = "payment_request_expired";
/// Failed: the payment request was already paid.
pub const PAYMENT_REQUEST_PAID: &str = "payment_request_paid";
/// Refused at admission: the payment request's signature is not by its `terminal` (the request
/// was altered, or signed by another key).
pub const PAYMENT_REQUEST_SIGNATURE: &str = "payment_request_signature";
/// Failed: the payment request's terminal is neither the shop's owner nor one of its till keys.
pub const PAYMENT_REQUEST_TERMINAL_UNKNOWN: &str = "payment_request_terminal_unknown";
/// Failed: the payment request names a currency neither WANT nor of the chain's list.
pub const PAYMENT_CURRENCY_UNSUPPORTED: &str = "payment_currency_unsupported";
/// Not found: no till payment has this id.
pub const PAYMENT_UNKNOWN: &str = "payment_unknown";

/// Failed: the sender has no completed purchase of that id to review.
pub const REVIEW_NO_PURCHASE: &str = "review_no_purchase";
/// Failed: the purchase was already reviewed; edit that review instead.
pub const REVIEW_EXISTS: &str = "review_exists";
/// Failed: a review's rating is not 1 to 5 stars.
pub const REVIEW_RATING_INVALID: &str = "review_rating_invalid";
/// Failed: a review's or reply's text CID is empty or too long.
pub const REVIEW_TEXT_INVALID: &str = "review_text_invalid";
/// Failed: no review has this id.
pub const REVIEW_UNKNOWN: &str = "review_unknown";
/// Failed: only a review's author may edit it.
pub const REVIEW_AUTHOR_ONLY: &str = "review_author_only";
/// Failed: the review has as many versions as one review keeps.
pub const REVIEW_VERSIONS_FULL: &str = "review_versions_full";
/// Failed: only the owner of the reviewed shop may reply.
pub const REVIEW_REPLY_OWNER_ONLY: &str = "review_reply_owner_only";
/// Failed: the shop already replied to the review.
pub const REVIEW_ALREADY_REPLIED: &str = "review_already_replied";
/// Failed: the account already liked the review.
pub const REVIEW_ALREADY_LIKED: &str = "review_already_liked";
/// Failed: the account already shared the review.
pub const REVIEW_ALREADY_SHARED: &str = "review_already_shared";
/// Failed: only accounts with a completed purchase or a KYC attestation like or share reviews.
pub const REVIEW_NOT_ELIGIBLE: &str = "review_not_eligible";
/// Failed: an author cannot like or share their own review.
pub const REVIEW_OWN: &str = "review_own";
/// Failed: the offer's currency has fewer than 3 price reports from registered reporters.
pub const PRICE_UNAVAILABLE: &str = "price_unavailable";
/// Failed: the offer's currency has fewer than 3 reports young enough (its rate is stale).
pub const PRICE_STALE: &str = "price_stale";
/// Failed: the currency is not one of the chain's fixed list.
pub const CURRENCY_UNKNOWN: &str = "currency_unknown";
/// Failed: only the commerce administrator registers or removes price reporters.
pub const PRICE_ADMIN_ONLY: &str = "price_admin_only";
/// Failed: the account is not a registered price reporter.
pub const PRICE_REPORTER_UNKNOWN: &str = "price_reporter_unknown";
/// Failed: the account is already a price reporter.
pub const PRICE_REPORTER_REGISTERED: &str = "price_reporter_registered";
/// Failed: the most price reporters there may be are registered.
pub const PRICE_REPORTERS_FULL: &str = "price_reporters_full";
/// Failed: a price report has no rates, too many, a repeated currency or a rate out of bounds.
pub const PRICE_REPORT_INVALID: &str = "price_report_invalid";
/// Failed: the payment request names another chain (`chain_id`) than this one.
pub const PAYMENT_REQUEST_WRONG_CHAIN: &str = "payment_request_wrong_chain";
/// Failed: the payment request comes to more WANT than the payer's `max_want`.
pub const PAYMENT_ABOVE_MAX: &str = "payment_above_max";
/// Noted, not failed: a capture's `receiving` event names a business transaction that starts
/// with `urn:want:commerce:order:` but whose order id is not canonical decimal; it confirms
/// nothing (the capture's `orders` answer says so).
pub const ORDER_URN_INVALID: &str = "order_urn_invalid";

pub(crate) const CODES: &[ErrorCode] = &[
    ErrorCode::new(
        SHOP_HANDLE_INVALID,
        400,
        "the shop handle is not 3-32 lowercase ASCII letters, digits and inner '-'",
    ),
    ErrorCode::new(
        SHOP_HANDLE_TAKEN,
        409,
        "the shop handle, or a look-alike of it, is taken",
    ),
    ErrorCode::new(
        SHOP_FIELD_INVALID,
        400,
        "a shop's name or trace organisation is empty or too long",
    ),
    ErrorCode::new(SHOP_UNKNOWN, 404, "no shop has this handle"),
    ErrorCode::new(
        SHOP_TRACE_ORG_NOT_SIGNERS,
        403,
        "a shop may link only a trace organisation its signer holds an active key of",
    ),
    ErrorCode::new(SHOP_CLOSED, 409, "the shop is closed"),
    ErrorCode::new(SHOP_OWNER_ONLY, 403, "only the shop's owner may do this"),
    ErrorCode::new(
        OFFER_INVALID,
        400,
        "an offer's terms or stock are out of bounds",
    ),
    ErrorCode::new(OFFER_UNKNOWN, 404, "no offer has this id"),
    ErrorCode::new(OFFER_CLOSED, 409, "the offer's shop is closed"),
    ErrorCode::new(
        OFFER_SOLD_OUT,
        409,
        "the offer has fewer items in stock than ordered",
    ),
    ErrorCode::new(
        OFFER_VERSION_STALE,
        409,
        "the order names an offer version that is not the current one",
    ),
    ErrorCode::new(
        OFFER_TERMS_MISMATCH,
        400,
        "the terms hash is not the hash of the offer version's terms",
    ),
    ErrorCode::new(
        ORDER_QUANTITY_INVALID,
        400,
        "the quantity is 0 or above the per-order maximum",
    ),
    ErrorCode::new(
        ORDER_TOTAL_ABOVE_MAX,
        400,
        "price times quantity is more than the order's max_total",
    ),
    ErrorCode::new(
        ORDER_DEPOSIT_ABOVE_MAX,
        400,
        "the seller's deposit is more than the acceptance's max_deposit",
    ),
    ErrorCode::new(ORDER_UNKNOWN, 404, "no order has this id"),
    ErrorCode::new(
        ORDER_ALREADY_ACCEPTED,
        409,
        "the order was already accepted",
    ),
    ErrorCode::new(
        ORDER_NOT_ACCEPTED,
        409,
        "the order cannot ship before the seller accepts it",
    ),
    ErrorCode::new(
        ORDER_NOT_BUYER,
        403,
        "only the order's buyer may confirm delivery",
    ),
    ErrorCode::new(
        ORDER_TRANSITION_NOT_ALLOWED,
        409,
        "the order's state does not allow this transition",
    ),
    ErrorCode::new(
        ORDER_PARTY_NOT_ALLOWED,
        403,
        "the sender is not a party allowed to make this transition",
    ),
    ErrorCode::new(
        ORDER_DEADLINE_PASSED,
        409,
        "the deadline for this step has passed",
    ),
    ErrorCode::new(
        ORDER_REFUND_ABOVE_PAID,
        400,
        "the refund is 0 or more than was paid less earlier refunds",
    ),
    ErrorCode::new(
        ORDER_CANCEL_NOT_PROPOSED,
        409,
        "no cancellation of the order was proposed",
    ),
    ErrorCode::new(
        ORDER_DISPUTE_WINDOW_CLOSED,
        409,
        "the order's dispute window is over",
    ),
    ErrorCode::new(
        ORDER_EVIDENCE_INVALID,
        400,
        "the evidence CIDs or the EPCIS event reference are empty or too long",
    ),
    ErrorCode::new(
        ORDER_SETTLEMENT_NOT_PROPOSED,
        409,
        "no settlement of the order was proposed",
    ),
    ErrorCode::new(
        ORDER_SETTLEMENT_MISMATCH,
        409,
        "the accepted split is not the proposed one",
    ),
    ErrorCode::new(
        ORDER_SHARE_ABOVE_ESCROW,
        400,
        "the buyer's share is more than the order's escrow",
    ),
    ErrorCode::new(
        ORDER_DEADLINE_NOT_REACHED,
        409,
        "the order's deadline has not been reached",
    ),
    ErrorCode::new(
        ORDER_DELIVERY_INVALID,
        409,
        "the delivery place or the receiving event does not confirm the order's delivery",
    ),
    ErrorCode::new(
        ESCROW_SHORT,
        500,
        "the escrow account holds less than an order's funds",
    ),
    ErrorCode::new(TILL_KEY_EXISTS, 409, "the key is already a till key of the shop"),
    ErrorCode::new(TILL_KEY_UNKNOWN, 404, "the key is not a till key of the shop"),
    ErrorCode::new(TILL_KEYS_FULL, 409, "the shop has the most till keys it may have"),
    ErrorCode::new(
        PAYMENT_REQUEST_INVALID,
        400,
        "the payment request's amount is 0 or a field is out of bounds",
    ),
    ErrorCode::new(PAYMENT_REQUEST_EXPIRED, 409, "the payment request expired"),
    ErrorCode::new(PAYMENT_REQUEST_PAID, 409, "the payment request was already paid"),
    ErrorCode::new(
        PAYMENT_REQUEST_SIGNATURE,
        400,
        "the payment request's signature is not by its terminal key (altered or signed by another key)",
    ),
    ErrorCode::new(
        PAYMENT_REQUEST_TERMINAL_UNKNOWN,
        403,
        "the payment request is signed by a key that is not the shop's owner or one of its till keys",
    ),
    ErrorCode::new(
        PAYMENT_CURRENCY_UNSUPPORTED,
        400,
        "the payment request names a currency neither WANT nor of the chain's list",
    ),
    ErrorCode::new(PAYMENT_UNKNOWN, 404, "no till payment has this id"),
    ErrorCode::new(
        REVIEW_NO_PURCHASE,
        403,
        "the sender has no completed purchase of that id to review",
    ),
    ErrorCode::new(
        REVIEW_EXISTS,
        409,
        "the purchase was already reviewed; edit that review instead",
    ),
    ErrorCode::new(
        REVIEW_RATING_INVALID,
        400,
        "a review's rating is not 1 to 5 stars",
    ),
    ErrorCode::new(
        REVIEW_TEXT_INVALID,
        400,
        "a review's or reply's text CID is empty or too long",
    ),
    ErrorCode::new(
        REVIEW_UNKNOWN,
        404,
        "no review has this id",
    ),
    ErrorCode::new(
        REVIEW_AUTHOR_ONLY,
        403,
        "only a review's author may edit it",
    ),
    ErrorCode::new(
        REVIEW_VERSIONS_FULL,
        409,
        "the review has as many versions as one review keeps",
    ),
    ErrorCode::new(
        REVIEW_REPLY_OWNER_ONLY,
        403,
        "only the owner of the reviewed shop may reply",
    ),
    ErrorCode::new(
        REVIEW_ALREADY_REPLIED,
        409,
        "the shop already replied to the review",
    ),
    ErrorCode::new(
        REVIEW_ALREADY_LIKED,
        409,
        "the account already liked the review",
    ),
    ErrorCode::new(
        REVIEW_ALREADY_SHARED,
        409,
        "the account already shared the review",
    ),
    ErrorCode::new(
        REVIEW_NOT_ELIGIBLE,
        403,
        "only accounts with a completed purchase or a KYC attestation like or share reviews",
    ),
    ErrorCode::new(
        REVIEW_OWN,
        403,
        "an author cannot like or share their own review",
    ),
    ErrorCode::new(
        PRICE_UNAVAILABLE,
        409,
        "the offer's currency has fewer than 3 price reports",
    ),
    ErrorCode::new(
        PRICE_STALE,
        409,
        "the offer's currency has fewer than 3 fresh price reports",
    ),
    ErrorCode::new(
        CURRENCY_UNKNOWN,
        400,
        "the currency is not one of the chain's currencies",
    ),
    ErrorCode::new(
        PRICE_ADMIN_ONLY,
        403,
        "only the commerce administrator manages price reporters",
    ),
    ErrorCode::new(
        PRICE_REPORTER_UNKNOWN,
        403,
        "the account is not a registered price reporter",
    ),
    ErrorCode::new(
        PRICE_REPORTER_REGISTERED,
        409,
        "the account is already a price reporter",
    ),
    ErrorCode::new(
        PRICE_REPORTERS_FULL,
        409,
        "the most price reporters there may be are registered",
    ),
    ErrorCode::new(
        PRICE_REPORT_INVALID,
        400,
        "a price report has no rates, too many, a repeated currency or a rate out of bounds",
    ),
    ErrorCode::new(
        PAYMENT_REQUEST_WRONG_CHAIN,
        400,
        "the payment request names another chain than this one",
    ),
    ErrorCode::new(
        PAYMENT_ABOVE_MAX,
        400,
        "the payment request comes to more WANT than the payer's max_want",
    ),
    ErrorCode::new(
        ORDER_URN_INVALID,
        400,
        "a receiving event names urn:want:commerce:order: with an order id that is not canonical decimal",
    ),
];
