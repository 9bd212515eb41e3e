//! The token module's node part: accounts (balance and nonces), allowances and the token's
//! facts.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use want_state::query;
use want_types::amount::{format_want, TOTAL_SUPPLY};
use want_types::ModuleId;

use crate::api::{parse_address, ApiResult};
use crate::error::NodeError;
use crate::kernel::module::{BuildCtx, BuildModule};
use crate::kernel::node::NodeModule;
use crate::kernel::node::Node;

/// The token module's node part (it keeps nothing of its own).
pub struct TokenNode;

impl BuildModule for TokenNode {
    fn build(_ctx: &BuildCtx<'_>) -> Result<TokenNode, NodeError> {
        Ok(TokenNode)
    }
}

impl NodeModule for TokenNode {
    fn id(&self) -> ModuleId {
        ModuleId::Token
    }

    fn routes(self: Arc<Self>, node: &Node) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(get_account))
            .routes(routes!(get_allowance))
            .routes(routes!(get_token))
            .with_state(node.clone())
    }
}

#[utoipa::path(get, path = "/v1/accounts/{address}", tag = "token",
    params(("address" = String, Path, description = "account address (T…)")),
    responses((status = 200, description = "{\"address\", \"balance\", \"balance_want\", \"nonce\", \"pending_nonce\"}"), (status = 400, description = "invalid_address"), (status = 503, description = "state_diverged")))]
async fn get_account(State(node): State<Node>, Path(address): Path<String>) -> ApiResult {
    let address = parse_address(&address)?;
    let snap = node.shared.store.snapshot().map_err(NodeError::from)?;
    let balance = query::balance(&snap, &address).map_err(NodeError::from)?;
    let nonce = query::nonce(&snap, &address).map_err(NodeError::from)?;
    let pending_nonce = node
        .shared
        .mempool
        .lock()
        .pending_nonce(&address)
        .unwrap_or(nonce)
        .max(nonce);
    Ok(Json(json!({
        "address": address,
        "balance": balance.to_string(),
        "balance_want": format_want(balance),
        "nonce": nonce,
        "pending_nonce": pending_nonce,
    }))
    .into_response())
}

#[utoipa::path(get, path = "/v1/accounts/{address}/allowances/{spender}", tag = "token",
    params(("address" = String, Path, description = "owner address"), ("spender" = String, Path, description = "spender address")),
    responses((status = 200, description = "{\"owner\", \"spender\", \"allowance\"}"), (status = 400, description = "invalid_address"), (status = 503, description = "state_diverged")))]
async fn get_allowance(
    State(node): State<Node>,
    Path((owner, spender)): Path<(String, String)>,
) -> ApiResult {
    let owner = parse_address(&owner)?;
    let spender = parse_address(&spender)?;
    let snap = node.shared.store.snapshot().map_err(NodeError::from)?;
    let allowance = query::allowance(&snap, &owner, &spender).map_err(NodeError::from)?;
    Ok(
        Json(json!({"owner": owner, "spender": spender, "allowance": allowance.to_string()}))
            .into_response(),
    )
}

#[utoipa::path(get, path = "/v1/token", tag = "token",
    responses((status = 200, description = "WANT token facts: supply, burned, incentive pool, fees"), (status = 503, description = "state_diverged")))]
async fn get_token(State(node): State<Node>) -> ApiResult {
    let s = &node.shared;
    let snap = s.store.snapshot().map_err(NodeError::from)?;
    let burned = query::burned(&snap).map_err(NodeError::from)?;
    let pool = query::balance(&snap, &s.params.incentive_pool).map_err(NodeError::from)?;
    Ok(Json(json!({
        "name": "WANT",
        "symbol": "WANT",
        "decimals": want_types::amount::DECIMALS,
        "total_supply": TOTAL_SUPPLY.to_string(),
        "burned": burned.to_string(),
        "circulating": TOTAL_SUPPLY.saturating_sub(burned).to_string(),
        "incentive_pool": s.params.incentive_pool,
        "incentive_pool_balance": pool.to_string(),
        "transfer_fee_bps": s.params.transfer_fee_bps,
        "min_fee": s.params.min_fee.to_string(),
        "pow_difficulty_bits": s.params.pow_difficulty_bits,
    }))
    .into_response())
}

