//! The modules of the state machine, as the wire sees them: each module's call and event types,
//! and the one registry that gives every module its pinned wire index.
//!
//! A module's types live in its own folder (`modules/<name>/mod.rs`): its call enum, its event
//! enum, its constants. [`register_modules!`] below is the **one registration** of a module in
//! this crate: it declares the folder, adds the module's variant to [`Call`], [`Event`] and
//! [`ModuleId`] at the index given, and dispatches the [`ModuleCall`] hooks. The index is the
//! first byte of the borsh encoding of every call and event of the module; it is signed with
//! every transaction, so it is never reused or changed (the test `wire_indexes_are_pinned`
//! pins them).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::head::TxHead;
use crate::Hash32;

/// What the kernel asks of a module's call type.
pub trait ModuleCall {
    /// Largest encoded signed transaction allowed to carry a call of this module, in bytes.
    const TX_BYTES_MAX: usize;

    /// For calls whose transaction id is not `sha256d(borsh(tx))`: a digest of the transaction
    /// that commits to the same content (see the trace module's anchors), whose
    /// [`TxDigest::id`] is the transaction id. `None` (the default): the plain id.
    fn id_digest(&self, _head: &TxHead) -> Option<Box<dyn TxDigest>> {
        None
    }
}

/// A digest standing in for a transaction's bytes in its id ([`ModuleCall::id_digest`]).
pub trait TxDigest {
    /// The transaction id.
    fn id(&self) -> Hash32;
    /// Sets the proof-of-work counter, so a stamp is solved without rehashing the call.
    fn set_pow_nonce(&mut self, pow_nonce: u64);
}

/// Declares the modules: `index => folder::Variant(CallType, EventType)`, one line each.
macro_rules! register_modules {
    ($( $(#[$attr:meta])* $index:literal => $name:ident :: $Variant:ident ( $Call:ident, $Event:ident ) ),* $(,)?) => {
        $( $(#[$attr])* pub mod $name; )*

        /// One call into one module. The borsh discriminant is the module's pinned wire index.
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[borsh(use_discriminant = true)]
        #[repr(u8)]
        pub enum Call {
            $( $(#[$attr])* $Variant($name::$Call) = $index, )*
        }

        /// One event in a receipt, emitted by a module. JSON: the module's event alone
        /// (`{"type": "Transfer", …}`); borsh: the module's wire index, then the event.
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
        #[serde(untagged)]
        #[borsh(use_discriminant = true)]
        #[repr(u8)]
        pub enum Event {
            $( $(#[$attr])* $Variant($name::$Event) = $index, )*
        }

        /// The registered modules, by wire index.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum ModuleId {
            $( $(#[$attr])* $Variant = $index, )*
        }

        impl ModuleId {
            /// Every registered module, in wire-index order.
            pub const ALL: &'static [ModuleId] = &[ $( $(#[$attr])* ModuleId::$Variant, )* ];

            /// The module's name: its folder in every layer, its state prefix (`name/`), its
            /// routes (`/v1/name/…`), its metrics (`want_name_…`) and its genesis section.
            pub fn name(self) -> &'static str {
                match self { $( $(#[$attr])* ModuleId::$Variant => stringify!($name), )* }
            }

            /// The pinned wire index.
            pub fn index(self) -> u8 {
                self as u8
            }

            /// The module of a name.
            pub fn from_name(name: &str) -> Option<ModuleId> {
                ModuleId::ALL.iter().copied().find(|m| m.name() == name)
            }
        }

        /// Largest encoded size of any signed transaction, in bytes: the largest
        /// [`ModuleCall::TX_BYTES_MAX`] of the registered modules.
        pub const ANY_TX_BYTES_MAX: usize = {
            let mut max = 0;
            $(
                $(#[$attr])*
                {
                    let v = <$name::$Call as ModuleCall>::TX_BYTES_MAX;
                    if v > max {
                        max = v;
                    }
                }
            )*
            max
        };

        impl Call {
            /// The module this call goes to.
            pub fn module(&self) -> ModuleId {
                match self { $( $(#[$attr])* Call::$Variant(_) => ModuleId::$Variant, )* }
            }

            /// Largest encoded signed transaction allowed to carry this call, in bytes.
            pub fn tx_bytes_max(&self) -> usize {
                match self {
                    $( $(#[$attr])* Call::$Variant(_) => <$name::$Call as ModuleCall>::TX_BYTES_MAX, )*
                }
            }

            /// See [`ModuleCall::id_digest`].
            pub fn id_digest(&self, head: &TxHead) -> Option<Box<dyn TxDigest>> {
                match self { $( $(#[$attr])* Call::$Variant(c) => c.id_digest(head), )* }
            }
        }

        impl Event {
            /// The module that emitted the event.
            pub fn module(&self) -> ModuleId {
                match self { $( $(#[$attr])* Event::$Variant(_) => ModuleId::$Variant, )* }
            }
        }

        $(
            $(#[$attr])*
            impl From<$name::$Call> for Call {
                fn from(c: $name::$Call) -> Call {
                    Call::$Variant(c)
                }
            }
            $(#[$attr])*
            impl From<$name::$Event> for Event {
                fn from(e: $name::$Event) -> Event {
                    Event::$Variant(e)
                }
            }
        )*
    };
}

// The registry: one line per module. Never change or reuse an index.
register_modules! {
    0 => token::Token(TokenCall, TokenEvent),
    1 => trace::Trace(TraceCall, TraceEvent),
    2 => commerce::Commerce(CommerceCall, CommerceEvent),
    3 => credit::Credit(CreditCall, CreditEvent),
    #[cfg(feature = "example-module")]
    250 => example::Example(ExampleCall, ExampleEvent),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::commerce::{CommerceCall, CommerceEvent, Deadline, OfferTerms};
    use crate::modules::token::{TokenCall, TokenEvent};
    use crate::modules::trace::{TraceCall, TraceEvent};
    use crate::{Address, Hash32};

    fn first_bytes<T: BorshSerialize>(v: &T) -> [u8; 2] {
        let b = borsh::to_vec(v).unwrap();
        [b[0], b[1]]
    }

    /// Every call variant of every module, with the first two bytes of its encoding: module
    /// index, then call index. Reordering variants, or a module's line, fails here.
    #[test]
    fn wire_indexes_are_pinned() {
        let a = Address::from_account_id([1; 20]);
        let h = Hash32([2; 32]);
        let calls: Vec<(Call, [u8; 2])> = vec![
            (TokenCall::Transfer { to: a, amount: 1 }.into(), [0, 0]),
            (
                TokenCall::Approve {
                    spender: a,
                    amount: 1,
                }
                .into(),
                [0, 1],
            ),
            (
                TokenCall::TransferFrom {
                    from: a,
                    to: a,
                    amount: 1,
                }
                .into(),
                [0, 2],
            ),
            (TokenCall::Burn { amount: 1 }.into(), [0, 3]),
            (
                TraceCall::RegisterOrg {
                    org: "o".into(),
                    name: "n".into(),
                    kind: trace::OrgKind::Brand,
                    encryption_key: vec![],
                }
                .into(),
                [1, 0],
            ),
            (
                TraceCall::AddKey {
                    org: "o".into(),
                    key: a,
                    department: "d".into(),
                    roles: vec![],
                }
                .into(),
                [1, 1],
            ),
            (TraceCall::RevokeKey { key: a }.into(), [1, 2]),
            (
                TraceCall::SubmitKyc {
                    verifier: a,
                    cid: "b".into(),
                }
                .into(),
                [1, 3],
            ),
            (
                TraceCall::AttestKyc {
                    subject: a,
                    level: 1,
                    attestation: h,
                }
                .into(),
                [1, 4],
            ),
            (
                TraceCall::Anchor {
                    org: "o".into(),
                    records: vec![],
                }
                .into(),
                [1, 5],
            ),
            (
                TraceCall::Grant {
                    event_hash: h,
                    grantee: a,
                    grantee_key: vec![],
                    permission: trace::Permission::Read,
                    expires_at_ms: 1,
                    wrapped_key: vec![],
                }
                .into(),
                [1, 6],
            ),
            (
                TraceCall::RevokeGrant {
                    event_hash: h,
                    grantee: a,
                }
                .into(),
                [1, 7],
            ),
            (
                TraceCall::RegisterPrefix {
                    prefix: "0614141".into(),
                    org: "o".into(),
                }
                .into(),
                [1, 8],
            ),
            (
                TraceCall::AuthorizeParty {
                    prefix: "0614141".into(),
                    party: "o".into(),
                }
                .into(),
                [1, 9],
            ),
            (
                TraceCall::WithdrawParty {
                    prefix: "0614141".into(),
                    party: "o".into(),
                }
                .into(),
                [1, 10],
            ),
            (
                TraceCall::HandOver {
                    to_org: "o".into(),
                    products: vec![],
                }
                .into(),
                [1, 11],
            ),
            (
                TraceCall::DeclareError {
                    event_hash: h,
                    declared_at_ms: 0,
                    reason: None,
                    corrective_event_ids: vec![],
                }
                .into(),
                [1, 12],
            ),
        ];
        let calls: Vec<(Call, [u8; 2])> = calls
            .into_iter()
            .chain(commerce_calls(a, h))
            .chain(credit_calls(a, h))
            .collect();
        for (call, expected) in &calls {
            assert_eq!(first_bytes(call), *expected, "{call:?}");
        }
        let events: Vec<(Event, [u8; 2])> = vec![
            (
                TokenEvent::Transfer {
                    from: a,
                    to: a,
                    value: 1,
                }
                .into(),
                [0, 0],
            ),
            (
                TokenEvent::Approval {
                    owner: a,
                    spender: a,
                    value: 1,
                }
                .into(),
                [0, 1],
            ),
            (
                TokenEvent::FeePaid {
                    from: a,
                    to: a,
                    value: 1,
                }
                .into(),
                [0, 2],
            ),
            (TokenEvent::Burn { from: a, value: 1 }.into(), [0, 3]),
            (TraceEvent::OrgRegistered { org: "o".into() }.into(), [1, 0]),
            (
                TraceEvent::KeyAdded {
                    org: "o".into(),
                    key: a,
                }
                .into(),
                [1, 1],
            ),
            (
                TraceEvent::KeyRevoked {
                    org: "o".into(),
                    key: a,
                }
                .into(),
                [1, 2],
            ),
            (
                TraceEvent::KycFiled {
                    subject: a,
                    verifier: a,
                    cid: "b".into(),
                }
                .into(),
                [1, 3],
            ),
            (
                TraceEvent::KycAttested {
                    subject: a,
                    verifier: a,
                    level: 1,
                }
                .into(),
                [1, 4],
            ),
            (
                TraceEvent::RecordAnchored {
                    event_hash: h,
                    org: "o".into(),
                    signer: a,
                    biz_step: None,
                    products: 1,
                }
                .into(),
                [1, 5],
            ),
            (
                TraceEvent::GrantAdded {
                    event_hash: h,
                    grantee: a,
                    expires_at_ms: 1,
                }
                .into(),
                [1, 6],
            ),
            (
                TraceEvent::GrantRevoked {
                    event_hash: h,
                    grantee: a,
                }
                .into(),
                [1, 7],
            ),
        ];
        let events: Vec<(Event, [u8; 2])> = events
            .into_iter()
            .chain(commerce_events(a))
            .chain(credit_events(a, h))
            .collect();
        for (event, expected) in &events {
            assert_eq!(first_bytes(event), *expected, "{event:?}");
            let json = serde_json::to_string(event).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, event, "{json}");
        }
        for m in ModuleId::ALL {
            assert_eq!(ModuleId::from_name(m.name()), Some(*m));
        }
        assert_eq!(ModuleId::Token.index(), 0);
        assert_eq!(ModuleId::Trace.index(), 1);
        assert_eq!(ModuleId::Commerce.index(), 2);
    }

    fn terms() -> OfferTerms {
        OfferTerms {
            product: "p".into(),
            title: "t".into(),
            price: 1,
            deposit_per_order: 1,
            accept_within_ms: 1,
            ship_within_ms: 1,
            confirm_window_ms: 1,
            dispute_window_ms: 1,
            terms_cid: "c".into(),
            no_ship_deposit_share_bps: 0,
            currency: "WANT".into(),
        }
    }

    /// Every commerce call, in wire order.
    fn commerce_calls(a: Address, h: Hash32) -> Vec<(Call, [u8; 2])> {
        let o = 1;
        let calls = vec![
            CommerceCall::OpenShop {
                handle: "s".into(),
                name: "n".into(),
                payout: a,
                trace_org: None,
            },
            CommerceCall::EditShop {
                handle: "s".into(),
                name: "n".into(),
                payout: a,
                trace_org: None,
            },
            CommerceCall::CloseShop { handle: "s".into() },
            CommerceCall::AddOffer {
                shop: "s".into(),
                terms: terms(),
                stock: 1,
            },
            CommerceCall::UpdateOffer {
                offer: o,
                terms: terms(),
                stock: 1,
            },
            CommerceCall::PlaceOrder {
                offer: o,
                version: 1,
                terms_hash: h,
                quantity: 1,
                max_total: 1,
            },
            CommerceCall::AcceptOrder {
                order: o,
                max_deposit: 1,
            },
            CommerceCall::DeclineOrder { order: o },
            CommerceCall::ShipOrder {
                order: o,
                epcis_event: None,
            },
            CommerceCall::ConfirmDelivery { order: o },
            CommerceCall::RefundPart {
                order: o,
                amount: 1,
            },
            CommerceCall::ProposeCancel { order: o },
            CommerceCall::AgreeCancel { order: o },
            CommerceCall::OpenDispute {
                order: o,
                evidence: vec![],
            },
            CommerceCall::ProposeSettlement {
                order: o,
                buyer_share: 1,
            },
            CommerceCall::AcceptSettlement {
                order: o,
                buyer_share: 1,
            },
            CommerceCall::RunDeadline { order: o },
            CommerceCall::SetDelivery {
                order: o,
                org: "org".into(),
                location_hash: h,
            },
            CommerceCall::ConfirmByEvent {
                order: o,
                event_hash: h,
            },
            CommerceCall::AddTillKey {
                shop: "s".into(),
                key: a,
            },
            CommerceCall::RemoveTillKey {
                shop: "s".into(),
                key: a,
            },
            CommerceCall::PayRequest {
                request: crate::modules::commerce::PaymentRequest {
                    shop: "s".into(),
                    amount: 1,
                    currency: "WANT".into(),
                    reference: "r".into(),
                    product: None,
                    expires_ms: 1,
                    terminal: a,
                    nonce: 1,
                    chain_id: 1,
                },
                signature: crate::Signature::Secp256k1(vec![1; 65]),
                max_want: 1,
            },
            CommerceCall::AddReview {
                purchase: o,
                rating: 5,
                text_cid: "c".into(),
            },
            CommerceCall::EditReview {
                review: o,
                rating: 4,
                text_cid: "c".into(),
            },
            CommerceCall::ReplyReview {
                review: o,
                text_cid: "c".into(),
            },
            CommerceCall::LikeReview { review: o },
            CommerceCall::ShareReview { review: o },
            CommerceCall::RegisterReporter { reporter: a },
            CommerceCall::RemoveReporter { reporter: a },
            CommerceCall::PostPrices { rates: vec![] },
        ];
        calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c.into(), [2, i as u8]))
            .collect()
    }

    /// Every credit call, in wire order.
    fn credit_calls(a: Address, h: Hash32) -> Vec<(Call, [u8; 2])> {
        use crate::modules::credit::CreditCall;
        vec![
            CreditCall::RegisterScorer { scorer: a },
            CreditCall::RemoveScorer { scorer: a },
            CreditCall::PublishModel {
                name: "m".into(),
                model: "{}".into(),
            },
            CreditCall::RetireModel { model: h },
        ]
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c.into(), [3, i as u8]))
        .collect()
    }

    /// Every credit event, in wire order.
    fn credit_events(a: Address, h: Hash32) -> Vec<(Event, [u8; 2])> {
        use crate::modules::credit::CreditEvent;
        vec![
            CreditEvent::ScorerRegistered { scorer: a },
            CreditEvent::ScorerRemoved { scorer: a },
            CreditEvent::ModelPublished {
                model: h,
                scorer: a,
                name: "m".into(),
                version: 1,
            },
            CreditEvent::ModelRetired { model: h },
        ]
        .into_iter()
        .enumerate()
        .map(|(i, e)| (e.into(), [3, i as u8]))
        .collect()
    }

    /// Every commerce event, in wire order.
    fn commerce_events(a: Address) -> Vec<(Event, [u8; 2])> {
        let o = 1;
        let events = vec![
            CommerceEvent::ShopOpened {
                handle: "s".into(),
                owner: a,
            },
            CommerceEvent::ShopEdited { handle: "s".into() },
            CommerceEvent::ShopClosed { handle: "s".into() },
            CommerceEvent::OfferAdded {
                offer: o,
                shop: "s".into(),
            },
            CommerceEvent::OfferUpdated {
                offer: o,
                version: 2,
                stock: 3,
            },
            CommerceEvent::OrderPlaced {
                order: o,
                offer: o,
                version: 1,
                buyer: a,
                quantity: 1,
                total: 5,
            },
            CommerceEvent::OrderAccepted {
                order: o,
                deposit: 1,
            },
            CommerceEvent::OrderDeclined { order: o },
            CommerceEvent::OrderShipped {
                order: o,
                epcis_event: Some("e".into()),
            },
            CommerceEvent::OrderPartRefunded {
                order: o,
                amount: 1,
            },
            CommerceEvent::OrderCompleted {
                order: o,
                seller_amount: 1,
                fee: 1,
            },
            CommerceEvent::OrderExpired {
                order: o,
                deadline: Deadline::Ship,
                buyer_amount: 1,
            },
            CommerceEvent::OrderCancelProposed { order: o, by: a },
            CommerceEvent::OrderCancelled { order: o },
            CommerceEvent::OrderDisputed { order: o, by: a },
            CommerceEvent::OrderSettlementProposed {
                order: o,
                by: a,
                buyer_share: 1,
            },
            CommerceEvent::OrderSettled {
                order: o,
                buyer_amount: 1,
                seller_amount: 1,
                ruled: false,
                fee: 1,
            },
            CommerceEvent::OrderDeliverySet {
                order: o,
                org: "org".into(),
            },
            CommerceEvent::OrderReceived {
                order: o,
                org: "org".into(),
                event_hash: Hash32::ZERO,
            },
            CommerceEvent::OrderRetired {
                order: o,
                final_state_hash: Hash32::ZERO,
            },
            CommerceEvent::TillKeyAdded {
                shop: "s".into(),
                key: a,
            },
            CommerceEvent::TillKeyRemoved {
                shop: "s".into(),
                key: a,
            },
            CommerceEvent::TillPaid {
                payment: o,
                request_hash: Hash32::ZERO,
                shop: "s".into(),
                buyer: a,
                amount: 1,
                fee: 1,
                reference: "r".into(),
                currency: "CNY".into(),
                rate: Some(1),
            },
            CommerceEvent::ReviewAdded {
                review: o,
                purchase: o,
                author: a,
                shop: "s".into(),
                product: "p".into(),
                rating: 5,
            },
            CommerceEvent::ReviewEdited {
                review: o,
                version: 2,
                rating: 4,
            },
            CommerceEvent::ReviewReplied { review: o, by: a },
            CommerceEvent::ReviewLiked { review: o, by: a },
            CommerceEvent::ReviewShared { review: o, by: a },
            CommerceEvent::PriceReporterRegistered { reporter: a },
            CommerceEvent::PriceReporterRemoved { reporter: a },
            CommerceEvent::PricesPosted {
                reporter: a,
                rates: 1,
            },
        ];
        events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (e.into(), [2, i as u8]))
            .collect()
    }

    #[test]
    fn module_names_are_unique_snake_case_and_prefix_free() {
        for m in ModuleId::ALL {
            let n = m.name();
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
            for other in ModuleId::ALL {
                if other != m {
                    assert!(
                        !other.name().starts_with(n),
                        "{n} is a prefix of {}",
                        other.name()
                    );
                }
            }
        }
    }
}
