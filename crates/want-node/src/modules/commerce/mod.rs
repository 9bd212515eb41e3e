//! The commerce module's node part: read routes for shops, offers, orders and purchase records
//! under `/v1/commerce/…` ([`api`]). It keeps nothing of its own and observes no commits; its
//! transactions go through the kernel's `/v1/transactions`.

pub mod api;
pub mod till_api;
pub mod review_api;
pub mod price_api;
pub mod capture_orders;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use want_types::modules::commerce::CommerceCall;
use want_types::{Call, ModuleId, Signature};

use crate::error::NodeError;
use crate::kernel::module::{BuildCtx, BuildModule};
use crate::kernel::node::{Node, NodeModule};

/// The commerce module's node part.
pub struct CommerceNode;

impl BuildModule for CommerceNode {
    fn build(_ctx: &BuildCtx<'_>) -> Result<CommerceNode, NodeError> {
        Ok(CommerceNode)
    }
}

impl NodeModule for CommerceNode {
    fn id(&self) -> ModuleId {
        ModuleId::Commerce
    }

    /// A payment request must be signed by its `terminal`: the state machine has no secp256k1
    /// to check (it checks that the terminal may sign for the shop).
    fn precheck(&self, call: &Call) -> Result<(), NodeError> {
        let Call::Commerce(CommerceCall::PayRequest {
            request, signature, ..
        }) = call
        else {
            return Ok(());
        };
        check_request_signature(request, signature)
    }

    fn routes(self: Arc<Self>, node: &Node) -> OpenApiRouter {
        api::routes(node)
            .merge(till_api::routes(node))
            .merge(review_api::routes(node))
            .merge(price_api::routes(node))
    }
}

/// Refuses (`payment_request_signature`) a signature over the request's hash that is not by
/// `request.terminal`: an altered request, or one signed by another key.
pub fn check_request_signature(
    request: &want_types::modules::commerce::PaymentRequest,
    signature: &Signature,
) -> Result<(), NodeError> {
    want_crypto::verify_signature(&request.hash(), &request.terminal, signature).map_err(|e| {
        NodeError::rejected(
            want_state::modules::commerce::codes::PAYMENT_REQUEST_SIGNATURE,
            format!(
                "tx.call.signature is not by the payment request's terminal {}: {e}; the request was altered or signed by another key, so do not pay it",
                request.terminal
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use want_crypto::PrivateKey;
    use want_types::modules::commerce::{PaymentRequest, TILL_CURRENCY_WANT};

    use super::*;

    fn request(terminal: want_types::Address) -> PaymentRequest {
        PaymentRequest {
            shop: "corner".into(),
            amount: 12_500_000,
            currency: TILL_CURRENCY_WANT.into(),
            reference: "R-1".into(),
            product: None,
            expires_ms: 1_700_000_600_000,
            terminal,
            nonce: 9,
            chain_id: 1,
        }
    }

    fn sign(key: &PrivateKey, r: &PaymentRequest) -> Signature {
        Signature::Secp256k1(key.sign_digest(&r.hash()).to_vec())
    }

    fn code(r: Result<(), NodeError>) -> String {
        match r {
            Err(NodeError::Rejected { code, .. }) => code.to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn a_request_signed_by_its_terminal_passes_the_precheck() {
        let key = PrivateKey::generate();
        let r = request(key.address());
        assert!(check_request_signature(&r, &sign(&key, &r)).is_ok());
    }

    #[test]
    fn an_altered_request_or_one_signed_by_another_key_is_refused_at_admission() {
        let key = PrivateKey::generate();
        let r = request(key.address());
        let sig = sign(&key, &r);
        let mut altered = r.clone();
        altered.amount = 1;
        let node = CommerceNode;
        let call = |request: PaymentRequest, signature: Signature| {
            Call::Commerce(CommerceCall::PayRequest {
                max_want: request.amount,
                request,
                signature,
            })
        };
        assert_eq!(code(node.precheck(&call(altered, sig.clone()))), "payment_request_signature");
        let other = PrivateKey::generate();
        assert_eq!(
            code(node.precheck(&call(r.clone(), sign(&other, &r)))),
            "payment_request_signature"
        );
        assert!(node.precheck(&call(r, sig)).is_ok());
    }
}
