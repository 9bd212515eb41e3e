//! The token module's node part: accounts (balance and nonces), allowances and the token's
//! facts.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use want_state::query;
use want_types::amount::{format_want, Amount, TOTAL_SUPPLY};
use want_types::{Address, ModuleId};

use crate::api::{parse_address, ApiResult, Json, Path};
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

/// An account: its balance and nonces.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub address: Address,
    /// Base units, as a decimal string.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub balance: Amount,
    /// The balance in WANT (`12.5`), trailing zeros removed.
    #[schema(pattern = r"^[0-9]+(\.[0-9]{1,6})?$")]
    pub balance_want: String,
    /// The next nonce a committed transaction uses.
    pub nonce: u64,
    /// The next nonce after the sender's pending transactions.
    pub pending_nonce: u64,
}

#[utoipa::path(get, path = "/v1/accounts/{address}", tag = "token",
    params(("address" = Address, Path, description = "account address (T…)")),
    responses((status = 200, description = "the account's balance and nonces", body = AccountView),
        (status = 400, description = "invalid_address"), (status = 503, description = "state_diverged")))]
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
    Ok(Json(AccountView {
        address,
        balance,
        balance_want: format_want(balance),
        nonce,
        pending_nonce,
    })
    .into_response())
}

/// What `spender` may still transfer from `owner`'s account.
#[derive(Serialize, ToSchema)]
pub struct AllowanceView {
    pub owner: Address,
    pub spender: Address,
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub allowance: Amount,
}

#[utoipa::path(get, path = "/v1/accounts/{address}/allowances/{spender}", tag = "token",
    params(("address" = Address, Path, description = "owner address"), ("spender" = Address, Path, description = "spender address")),
    responses((status = 200, description = "the allowance", body = AllowanceView),
        (status = 400, description = "invalid_address"), (status = 503, description = "state_diverged")))]
async fn get_allowance(
    State(node): State<Node>,
    Path((owner, spender)): Path<(String, String)>,
) -> ApiResult {
    let owner = parse_address(&owner)?;
    let spender = parse_address(&spender)?;
    let snap = node.shared.store.snapshot().map_err(NodeError::from)?;
    let allowance = query::allowance(&snap, &owner, &spender).map_err(NodeError::from)?;
    Ok(Json(AllowanceView {
        owner,
        spender,
        allowance,
    })
    .into_response())
}

/// The WANT token's facts.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub name: &'static str,
    pub symbol: &'static str,
    pub decimals: u32,
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub total_supply: Amount,
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub burned: Amount,
    /// Total supply less what was burned.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub circulating: Amount,
    /// The account that receives fees.
    pub incentive_pool: Address,
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub incentive_pool_balance: Amount,
    pub transfer_fee_bps: u32,
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub min_fee: Amount,
    pub pow_difficulty_bits: u32,
}

#[utoipa::path(get, path = "/v1/token", tag = "token",
    responses((status = 200, description = "WANT token facts: supply, burned, incentive pool, fees", body = TokenView), (status = 503, description = "state_diverged")))]
async fn get_token(State(node): State<Node>) -> ApiResult {
    let s = &node.shared;
    let snap = s.store.snapshot().map_err(NodeError::from)?;
    let burned = query::burned(&snap).map_err(NodeError::from)?;
    let pool = query::balance(&snap, &s.params.incentive_pool).map_err(NodeError::from)?;
    Ok(Json(TokenView {
        name: "WANT",
        symbol: "WANT",
        decimals: want_types::amount::DECIMALS,
        total_supply: TOTAL_SUPPLY,
        burned,
        circulating: TOTAL_SUPPLY.saturating_sub(burned),
        incentive_pool: s.params.incentive_pool,
        incentive_pool_balance: pool,
        transfer_fee_bps: s.params.transfer_fee_bps,
        min_fee: s.params.min_fee,
        pow_difficulty_bits: s.params.pow_difficulty_bits,
    })
    .into_response())
}
