//! The commerce module: `want shop open|edit|close|show`, `want offer add|update|list|show`,
//! `want order place|accept|decline|ship|confirm|refund|cancel|dispute|settle|deadline|delivery|
//! receive|show|list` and `want pay request|send|watch` (paying at the till, in [`till`]).
//!
//! Every command that signs takes the signer's flags (`crate::signer::SignArgs`) and, like
//! `want trace …`, waits for the commit unless `--no-wait`. Amounts are WANT with up to 6
//! decimals, as `want tx transfer` takes them. `order place` reads the offer from the node to
//! name its version and terms hash (and to compute `max_total` = price × quantity unless
//! `--max-total` is given); `order accept` reads the order to compute `max_deposit` = deposit ×
//! quantity unless `--max-deposit` is given; `offer update` reads the offer to keep the terms not
//! given. Those cannot run `--offline`.

pub mod price;

use clap::{Args, Subcommand};
use serde_json::Value;
use want_types::amount::{format_want, parse_want};
use want_types::modules::commerce::{
    delivery_location_hash, CommerceCall, OfferTerms, DELIVERY_LOCATION_BYTES_MAX,
};
use want_types::{Address, Amount, Call, Hash32};

use crate::client::Client;
use crate::output::{CliError, Out};
use crate::signer::{sign_and_send, Profile, SignArgs};
use crate::NodeArg;

mod till;
mod review;

/// Default time a seller has to accept an order, in seconds (2 days).
const ACCEPT_WITHIN_S_DEFAULT: u64 = 2 * 86_400;
/// Default time a seller has to ship an accepted order, in seconds (7 days).
const SHIP_WITHIN_S_DEFAULT: u64 = 7 * 86_400;
/// Default confirmation window after shipping, in seconds (14 days).
const CONFIRM_WINDOW_S_DEFAULT: u64 = 14 * 86_400;
/// Default dispute window after shipping, in seconds (14 days).
const DISPUTE_WINDOW_S_DEFAULT: u64 = 14 * 86_400;
/// Milliseconds in a second.
const MS_PER_S: u64 = 1_000;

/// Why a command needs the node besides sending (it cannot run `--offline`).
const PLACE_NODE: &str =
    "order place reads the offer's version, terms hash and price from the node";
const ACCEPT_NODE: &str = "order accept reads the order's deposit and quantity from the node";
const UPDATE_NODE: &str = "offer update reads the offer's current terms from the node";

/// The module's top-level commands.
#[derive(Subcommand)]
pub enum Command {
    /// Shops: open, edit, close, show.
    #[command(subcommand)]
    Shop(ShopCommand),
    /// A shop's offers (versioned sale contract drafts): add, update, list, show.
    #[command(subcommand)]
    Offer(OfferCommand),
    /// Orders in escrow: place, accept, decline, ship, confirm, refund, cancel, dispute, settle,
    /// show, list.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Pay at the till: request (terminal), send (customer), watch (terminal).
    #[command(subcommand)]
    Pay(till::PayCommand),
    /// Reviews of completed purchases: add, edit, like, share, reply, list, show.
    #[command(subcommand)]
    Review(review::ReviewCommand),
    /// Prices in other currencies: post (a registered reporter), show.
    #[command(subcommand)]
    Price(price::PriceCommand),
}

/// The module adds nothing to `want tx`.
#[derive(Subcommand)]
pub enum TxCommand {}

#[derive(Subcommand)]
pub enum ShopCommand {
    /// Open a shop owned by the signing key.
    Open {
        /// 3 to 32 lowercase ASCII letters, digits and inner '-'; unique up to look-alikes.
        handle: String,
        #[arg(long)]
        name: String,
        /// The account its sales are paid to.
        #[arg(long)]
        payout: String,
        /// The shop's trace organisation (the signer must hold an active key of it).
        #[arg(long)]
        trace_org: Option<String>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Replace a shop's name, payout account and trace link (owner only).
    Edit {
        handle: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        payout: String,
        #[arg(long)]
        trace_org: Option<String>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Close a shop (owner only): its offers take no more orders.
    Close {
        handle: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Show a shop.
    Show {
        handle: String,
        #[command(flatten)]
        node: NodeArg,
    },
}

/// The terms of an offer; for `offer update`, those not given stay as they are.
#[derive(Args)]
pub struct TermsArgs {
    /// A GTIN or a shop SKU.
    #[arg(long)]
    product: Option<String>,
    #[arg(long)]
    title: Option<String>,
    /// Price of one item, in WANT.
    #[arg(long)]
    price: Option<String>,
    /// What the seller pledges per item ordered, in WANT (default 0).
    #[arg(long)]
    deposit: Option<String>,
    /// Seconds the seller has to accept an order (default 2 days).
    #[arg(long)]
    accept_within: Option<u64>,
    /// Seconds the seller has to ship an accepted order (default 7 days).
    #[arg(long)]
    ship_within: Option<u64>,
    /// Seconds after shipping until the order completes unless confirmed or disputed (default
    /// 14 days).
    #[arg(long)]
    confirm_window: Option<u64>,
    /// Seconds after shipping during which a dispute may be opened (default 14 days).
    #[arg(long)]
    dispute_window: Option<u64>,
    /// The terms document's content identifier (CID).
    #[arg(long)]
    terms_cid: Option<String>,
    /// Share of the deposit paid to the buyer when the seller does not ship in time, in basis
    /// points (0 to 10,000; default 0).
    #[arg(long)]
    no_ship_share_bps: Option<u16>,
    /// What --price and --deposit are in: WANT (the default) or a currency of the chain (USD,
    /// EUR, BTC, …, with up to 6 decimals), converted at the median rate when an order is placed.
    #[arg(long)]
    currency: Option<String>,
}

#[derive(Subcommand)]
pub enum OfferCommand {
    /// List a new offer of a shop (owner only).
    Add {
        #[arg(long)]
        shop: String,
        #[command(flatten)]
        terms: TermsArgs,
        /// Items in stock.
        #[arg(long)]
        stock: u64,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Change an offer's terms (a new version) or stock (owner only).
    Update {
        id: u64,
        #[command(flatten)]
        terms: TermsArgs,
        /// Items in stock (default: unchanged).
        #[arg(long)]
        stock: Option<u64>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Offers by id, a page at a time.
    List {
        /// Only this shop's offers.
        #[arg(long)]
        shop: Option<String>,
        /// The `next` of the previous page.
        #[arg(long)]
        after: Option<u64>,
        /// Most offers (1 to 100).
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Show an offer's current version.
    Show {
        id: u64,
        #[command(flatten)]
        node: NodeArg,
    },
}

#[derive(Subcommand)]
pub enum OrderCommand {
    /// Buy items of an offer's current version: the payment moves into escrow at once.
    Place {
        #[arg(long)]
        offer: u64,
        #[arg(long, default_value_t = 1)]
        quantity: u32,
        /// Most WANT to pay (default: the offer's price × quantity).
        #[arg(long)]
        max_total: Option<String>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Accept an order (seller): the deposit moves into escrow.
    Accept {
        id: u64,
        /// Most WANT to deposit (default: the order's deposit per item × quantity).
        #[arg(long)]
        max_deposit: Option<String>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Decline an order (seller): the buyer is refunded.
    Decline {
        id: u64,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Mark an accepted order shipped (seller).
    Ship {
        id: u64,
        /// The EPCIS shipping event's reference.
        #[arg(long)]
        epcis_event: Option<String>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Confirm delivery (buyer): the order completes and the seller is paid.
    Confirm {
        id: u64,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Refund part of the payment to the buyer (seller).
    Refund {
        id: u64,
        /// WANT to pay back.
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Propose to cancel an order, or with --agree agree to the other party's proposal.
    Cancel {
        id: u64,
        #[arg(long)]
        agree: bool,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Dispute a shipped order: the escrow freezes.
    Dispute {
        id: u64,
        /// An evidence CID (repeat for several).
        #[arg(long)]
        evidence: Vec<String>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Propose how a disputed order's escrow is split, or with --accept accept the other
    /// party's proposal of the same split.
    Settle {
        id: u64,
        /// WANT of the escrow to the buyer; the rest goes to the seller.
        #[arg(long)]
        buyer_share: String,
        #[arg(long)]
        accept: bool,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Run an order's deadline that has passed but whose trigger has not run yet (anyone):
    /// refund if not accepted or shipped in time, completion after the confirmation window,
    /// the standing proposals' split after a dispute's lapse.
    Deadline {
        id: u64,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Name who receives the goods and where (buyer): a trace organisation and the location
    /// URI its receiving event will publish (only its hash goes on chain).
    Delivery {
        id: u64,
        /// The trace organisation that receives the goods.
        #[arg(long)]
        org: String,
        /// The location of its receiving event (EPCIS bizLocation, or readPoint): an SGLN URN
        /// or GS1 Digital Link URI (normalised as capture publishes it), or another URI.
        #[arg(long)]
        location: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Confirm delivery by a receiving event (a key of the delivery organisation): names the
    /// event its organisation anchored; the order completes.
    Receive {
        id: u64,
        /// The receiving event's hash: 64 hex digits, or its `ni:///sha-256;…` event ID.
        #[arg(long)]
        event: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Show an order.
    Show {
        id: u64,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Orders by id, a page at a time.
    List {
        /// Only this buyer's orders.
        #[arg(long)]
        buyer: Option<String>,
        /// Only this shop's orders.
        #[arg(long)]
        shop: Option<String>,
        /// The `next` of the previous page.
        #[arg(long)]
        after: Option<u64>,
        /// Most orders (1 to 100).
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        node: NodeArg,
    },
}

fn address(s: &str, field: &str) -> anyhow::Result<Address> {
    crate::output::parse_address(s, &format!("--{field}"))
}

fn amount(s: &str, field: &str) -> anyhow::Result<Amount> {
    parse_want(s).map_err(|e| {
        CliError::new(
            "invalid_amount",
            format!("--{field}: {e}; give WANT with up to 6 decimals, e.g. 12.5"),
        )
        .into()
    })
}

/// Seconds to milliseconds, refusing what overflows.
fn ms(seconds: u64, field: &str) -> anyhow::Result<u64> {
    seconds.checked_mul(MS_PER_S).ok_or_else(|| {
        CliError::new(
            "invalid_arguments",
            format!("--{field} {seconds} s is too long; give at most 365 days in seconds"),
        )
        .into()
    })
}

/// Refuses `--offline` for a command that reads the node before signing, saying why.
fn needs_node(sign: &SignArgs, why: &str) -> anyhow::Result<()> {
    if sign.offline() {
        return Err(CliError::new(
            "offline_unsupported",
            format!("{why}, so it cannot run --offline; sign online with --out FILE and broadcast the file later with `want tx send FILE`"),
        )
        .into());
    }
    Ok(())
}

/// A field of a node's answer that the command needs; missing means the node is not a WANT
/// node of this version.
fn field<'a>(v: &'a Value, path: &[&str], what: &str) -> anyhow::Result<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    if cur.is_null() {
        return Err(CliError::new(
            "unexpected_answer",
            format!(
                "the node's answer has no {what} ({}); is --node a WANT node of this version?",
                path.join(".")
            ),
        )
        .into());
    }
    Ok(cur)
}

/// A decimal amount of base units in a node's answer.
fn answer_amount(v: &Value, path: &[&str], what: &str) -> anyhow::Result<Amount> {
    let f = field(v, path, what)?;
    f.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
        CliError::new(
            "unexpected_answer",
            format!("the node's {what} is {f}, not a decimal amount of base units"),
        )
        .into()
    })
}

impl TermsArgs {
    /// The terms of a new offer: product, title, price and terms CID are required.
    fn new_terms(self) -> anyhow::Result<OfferTerms> {
        let need = |v: Option<String>, flag: &str| {
            v.ok_or_else(|| {
                anyhow::Error::from(CliError::new(
                    "invalid_arguments",
                    format!("offer add needs --{flag}"),
                ))
            })
        };
        let price = need(self.price, "price")?;
        Ok(OfferTerms {
            product: need(self.product, "product")?,
            title: need(self.title, "title")?,
            price: amount(&price, "price")?,
            deposit_per_order: match &self.deposit {
                Some(d) => amount(d, "deposit")?,
                None => 0,
            },
            accept_within_ms: ms(
                self.accept_within.unwrap_or(ACCEPT_WITHIN_S_DEFAULT),
                "accept-within",
            )?,
            ship_within_ms: ms(
                self.ship_within.unwrap_or(SHIP_WITHIN_S_DEFAULT),
                "ship-within",
            )?,
            confirm_window_ms: ms(
                self.confirm_window.unwrap_or(CONFIRM_WINDOW_S_DEFAULT),
                "confirm-window",
            )?,
            dispute_window_ms: ms(
                self.dispute_window.unwrap_or(DISPUTE_WINDOW_S_DEFAULT),
                "dispute-window",
            )?,
            terms_cid: need(self.terms_cid, "terms-cid")?,
            no_ship_deposit_share_bps: self.no_ship_share_bps.unwrap_or(0),
            currency: self
                .currency
                .map(|c| c.to_ascii_uppercase())
                .unwrap_or_else(|| "WANT".into()),
        })
    }

    /// `current` with the terms given replaced.
    fn apply(self, mut t: OfferTerms) -> anyhow::Result<OfferTerms> {
        if let Some(v) = self.product {
            t.product = v;
        }
        if let Some(v) = self.title {
            t.title = v;
        }
        if let Some(v) = &self.price {
            t.price = amount(v, "price")?;
        }
        if let Some(v) = &self.deposit {
            t.deposit_per_order = amount(v, "deposit")?;
        }
        if let Some(v) = self.accept_within {
            t.accept_within_ms = ms(v, "accept-within")?;
        }
        if let Some(v) = self.ship_within {
            t.ship_within_ms = ms(v, "ship-within")?;
        }
        if let Some(v) = self.confirm_window {
            t.confirm_window_ms = ms(v, "confirm-window")?;
        }
        if let Some(v) = self.dispute_window {
            t.dispute_window_ms = ms(v, "dispute-window")?;
        }
        if let Some(v) = self.terms_cid {
            t.terms_cid = v;
        }
        if let Some(v) = self.no_ship_share_bps {
            t.no_ship_deposit_share_bps = v;
        }
        if let Some(v) = self.currency {
            t.currency = v.to_ascii_uppercase();
        }
        Ok(t)
    }
}

/// A query string of the parameters given.
fn query_string(params: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| format!("{k}={}", want_node::trace::urlencode(v)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn shop_text(v: &Value) -> String {
    format!(
        "shop     {}{}\nname     {}\nowner    {}\npayout   {}",
        v["handle"].as_str().unwrap_or_default(),
        if v["closed"] == true { " (closed)" } else { "" },
        v["name"].as_str().unwrap_or_default(),
        v["owner"].as_str().unwrap_or_default(),
        v["payout"].as_str().unwrap_or_default(),
    )
}

fn want_text(v: &Value) -> String {
    v.as_str()
        .and_then(|s| s.parse::<Amount>().ok())
        .map(|a| format!("{} WANT", format_want(a)))
        .unwrap_or_default()
}

fn offer_line(v: &Value) -> String {
    format!(
        "offer {} v{} of {}: {} ({}) at {}, {} in stock",
        v["id"],
        v["version"],
        v["shop"].as_str().unwrap_or_default(),
        v["terms"]["title"].as_str().unwrap_or_default(),
        v["terms"]["product"].as_str().unwrap_or_default(),
        terms_amount_text(&v["terms"], "price"),
        v["stock"]
    )
}

/// An amount of an offer's terms in its currency (WANT when none is named).
fn terms_amount_text(terms: &Value, key: &str) -> String {
    match terms["currency"].as_str() {
        Some(c) if c != "WANT" => terms[key]
            .as_str()
            .and_then(|s| s.parse::<Amount>().ok())
            .map(|a| format!("{} {c}", format_want(a)))
            .unwrap_or_default(),
        _ => want_text(&terms[key]),
    }
}

fn order_line(v: &Value) -> String {
    format!(
        "order {} {}: {} × offer {} v{} of {}, paid {}, buyer {}",
        v["id"],
        v["status"].as_str().unwrap_or_default(),
        v["quantity"],
        v["offer"],
        v["version"],
        v["shop"].as_str().unwrap_or_default(),
        want_text(&v["paid"]),
        v["buyer"].as_str().unwrap_or_default(),
    )
}

fn page_text(v: &Value, key: &str, line: fn(&Value) -> String) -> String {
    let mut lines: Vec<String> = v[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(line)
        .collect();
    if lines.is_empty() {
        lines.push(format!("no {key}"));
    }
    if let Some(next) = v["next"].as_u64() {
        lines.push(format!("more: --after {next}"));
    }
    lines.join("\n")
}

pub fn run(cmd: Command, out: &Out) -> anyhow::Result<()> {
    match cmd {
        Command::Shop(c) => shop(c, out),
        Command::Offer(c) => offer(c, out),
        Command::Order(c) => order(c, out),
        Command::Pay(c) => till::run(c, out),
        Command::Review(c) => review::run(c, out),
        Command::Price(c) => price::run(c, out),
    }
}

pub fn run_tx(cmd: TxCommand, _out: &Out) -> anyhow::Result<()> {
    match cmd {}
}

fn send(call: CommerceCall, sign: SignArgs, profile: Profile, out: &Out) -> anyhow::Result<()> {
    sign_and_send(Call::Commerce(call), sign, profile, out)
}

fn shop(cmd: ShopCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        ShopCommand::Open {
            handle,
            name,
            payout,
            trace_org,
            sign,
        } => send(
            CommerceCall::OpenShop {
                handle,
                name,
                payout: address(&payout, "payout")?,
                trace_org,
            },
            sign,
            Profile::commit(),
            out,
        ),
        ShopCommand::Edit {
            handle,
            name,
            payout,
            trace_org,
            sign,
        } => send(
            CommerceCall::EditShop {
                handle,
                name,
                payout: address(&payout, "payout")?,
                trace_org,
            },
            sign,
            Profile::commit(),
            out,
        ),
        ShopCommand::Close { handle, sign } => send(
            CommerceCall::CloseShop { handle },
            sign,
            Profile::commit(),
            out,
        ),
        ShopCommand::Show { handle, node } => {
            let path = format!(
                "/v1/commerce/shops/{}",
                want_node::trace::urlencode(&handle)
            );
            let v = Client::new(&node.url)?.get(&path)?;
            out.value(&v, shop_text);
            Ok(())
        }
    }
}

/// The offer `id` as the node serves it.
fn get_offer(client: &Client, id: u64) -> anyhow::Result<Value> {
    client.get(&format!("/v1/commerce/offers/{id}"))
}

fn offer(cmd: OfferCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        OfferCommand::Add {
            shop,
            terms,
            stock,
            sign,
        } => send(
            CommerceCall::AddOffer {
                shop,
                terms: terms.new_terms()?,
                stock,
            },
            sign,
            Profile::commit(),
            out,
        ),
        OfferCommand::Update {
            id,
            terms,
            stock,
            sign,
        } => {
            needs_node(&sign, UPDATE_NODE)?;
            let current = get_offer(&Client::new(&sign.node.url)?, id)?;
            let old: OfferTerms = serde_json::from_value(field(&current, &["terms"], "offer terms")?.clone())
                .map_err(|e| {
                    CliError::new(
                        "unexpected_answer",
                        format!("the node's terms of offer {id} do not parse: {e}"),
                    )
                })?;
            let old_stock = field(&current, &["stock"], "offer stock")?
                .as_u64()
                .ok_or_else(|| {
                    CliError::new("unexpected_answer", "the node's offer stock is not a u64")
                })?;
            send(
                CommerceCall::UpdateOffer {
                    offer: id,
                    terms: terms.apply(old)?,
                    stock: stock.unwrap_or(old_stock),
                },
                sign,
                Profile::commit().node(UPDATE_NODE),
                out,
            )
        }
        OfferCommand::List {
            shop,
            after,
            limit,
            node,
        } => {
            let q = query_string(&[
                ("shop", shop),
                ("after", after.map(|a| a.to_string())),
                ("limit", limit.map(|l| l.to_string())),
            ]);
            let v = Client::new(&node.url)?.get(&format!("/v1/commerce/offers{q}"))?;
            out.value(&v, |v| page_text(v, "offers", offer_line));
            Ok(())
        }
        OfferCommand::Show { id, node } => {
            let v = get_offer(&Client::new(&node.url)?, id)?;
            out.value(&v, |v| {
                format!(
                    "{}\nterms    {} (hash {})\ndeposit  {} per item",
                    offer_line(v),
                    v["terms"]["terms_cid"].as_str().unwrap_or_default(),
                    v["terms_hash"].as_str().unwrap_or_default(),
                    terms_amount_text(&v["terms"], "deposit_per_order"),
                )
            });
            Ok(())
        }
    }
}

/// `a × n`, refusing what overflows.
fn times(a: Amount, n: u32, what: &str) -> anyhow::Result<Amount> {
    a.checked_mul(Amount::from(n)).ok_or_else(|| {
        CliError::new(
            "invalid_amount",
            format!("{what} overflows; order fewer items"),
        )
        .into()
    })
}

fn order(cmd: OrderCommand, out: &Out) -> anyhow::Result<()> {
    let p = Profile::commit();
    match cmd {
        OrderCommand::Place {
            offer,
            quantity,
            max_total,
            sign,
        } => {
            needs_node(&sign, PLACE_NODE)?;
            let o = get_offer(&Client::new(&sign.node.url)?, offer)?;
            let version = field(&o, &["version"], "offer version")?
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| {
                    CliError::new("unexpected_answer", "the node's offer version is not a u32")
                })?;
            let terms_hash: Hash32 = field(&o, &["terms_hash"], "terms hash")?
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    CliError::new("unexpected_answer", "the node's terms hash is not 64 hex digits")
                })?;
            let max_total = match max_total {
                Some(m) => amount(&m, "max-total")?,
                None => {
                    let total = times(
                        answer_amount(&o, &["terms", "price"], "offer price")?,
                        quantity,
                        "price × quantity",
                    )?;
                    // An offer in another currency: its value at the node's rate plus a margin.
                    match o["terms"]["currency"].as_str() {
                        Some(c) if c != "WANT" => {
                            price::max_total_in(&Client::new(&sign.node.url)?, c, total)?
                        }
                        _ => total,
                    }
                }
            };
            send(
                CommerceCall::PlaceOrder {
                    offer,
                    version,
                    terms_hash,
                    quantity,
                    max_total,
                },
                sign,
                p.node(PLACE_NODE),
                out,
            )
        }
        OrderCommand::Accept {
            id,
            max_deposit,
            sign,
        } => {
            let max_deposit = match max_deposit {
                Some(m) => amount(&m, "max-deposit")?,
                None => {
                    needs_node(&sign, ACCEPT_NODE)?;
                    let o = Client::new(&sign.node.url)?.get(&format!("/v1/commerce/orders/{id}"))?;
                    let quantity = field(&o, &["quantity"], "order quantity")?
                        .as_u64()
                        .and_then(|q| u32::try_from(q).ok())
                        .ok_or_else(|| {
                            CliError::new("unexpected_answer", "the node's order quantity is not a u32")
                        })?;
                    // The deposit set at placement (converted then for an offer in another
                    // currency); a node without it: deposit per item × quantity.
                    match o["deposit_due"].as_str() {
                        Some(_) => answer_amount(&o, &["deposit_due"], "deposit due")?,
                        None => times(
                            answer_amount(&o, &["terms", "deposit_per_order"], "deposit per item")?,
                            quantity,
                            "deposit × quantity",
                        )?,
                    }
                }
            };
            send(
                CommerceCall::AcceptOrder {
                    order: id,
                    max_deposit,
                },
                sign,
                p.node(ACCEPT_NODE),
                out,
            )
        }
        OrderCommand::Decline { id, sign } => {
            send(CommerceCall::DeclineOrder { order: id }, sign, p, out)
        }
        OrderCommand::Ship {
            id,
            epcis_event,
            sign,
        } => send(
            CommerceCall::ShipOrder {
                order: id,
                epcis_event,
            },
            sign,
            p,
            out,
        ),
        OrderCommand::Confirm { id, sign } => {
            send(CommerceCall::ConfirmDelivery { order: id }, sign, p, out)
        }
        OrderCommand::Refund {
            id,
            amount: a,
            sign,
        } => send(
            CommerceCall::RefundPart {
                order: id,
                amount: amount(&a, "amount")?,
            },
            sign,
            p,
            out,
        ),
        OrderCommand::Cancel { id, agree, sign } => {
            let call = if agree {
                CommerceCall::AgreeCancel { order: id }
            } else {
                CommerceCall::ProposeCancel { order: id }
            };
            send(call, sign, p, out)
        }
        OrderCommand::Dispute { id, evidence, sign } => send(
            CommerceCall::OpenDispute {
                order: id,
                evidence,
            },
            sign,
            p,
            out,
        ),
        OrderCommand::Settle {
            id,
            buyer_share,
            accept,
            sign,
        } => {
            let buyer_share = amount(&buyer_share, "buyer-share")?;
            let call = if accept {
                CommerceCall::AcceptSettlement {
                    order: id,
                    buyer_share,
                }
            } else {
                CommerceCall::ProposeSettlement {
                    order: id,
                    buyer_share,
                }
            };
            send(call, sign, p, out)
        }
        OrderCommand::Delivery {
            id,
            org,
            location,
            sign,
        } => {
            if location.is_empty() || location.len() > DELIVERY_LOCATION_BYTES_MAX {
                return Err(CliError::new(
                    "invalid_location",
                    format!(
                        "--location is {} bytes; give the URI its receiving event publishes (1 to {DELIVERY_LOCATION_BYTES_MAX} bytes)",
                        location.len()
                    ),
                )
                .into());
            }
            // As capture publishes it: EPC URNs and Digital Link URIs in the canonical form.
            let location = want_epcis::normalize_identifier(&location).map_err(|e| {
                CliError::new(
                    "invalid_location",
                    format!("--location {location:?}: {}", e.message),
                )
            })?;
            send(
                CommerceCall::SetDelivery {
                    order: id,
                    org,
                    location_hash: delivery_location_hash(&location),
                },
                sign,
                p,
                out,
            )
        }
        OrderCommand::Receive { id, event, sign } => {
            let event_hash = want_types::modules::trace::parse_event_hash_id(&event)
                .or_else(|| event.parse::<Hash32>().ok())
                .ok_or_else(|| {
                    CliError::new(
                        "invalid_event_hash",
                        format!("--event {event:?} is not an event hash: give its 64 hex digits or its ni:///sha-256;… event ID"),
                    )
                })?;
            send(
                CommerceCall::ConfirmByEvent {
                    order: id,
                    event_hash,
                },
                sign,
                p,
                out,
            )
        }
        OrderCommand::Deadline { id, sign } => {
            send(CommerceCall::RunDeadline { order: id }, sign, p, out)
        }
        OrderCommand::Show { id, node } => {
            let v = Client::new(&node.url)?.get(&format!("/v1/commerce/orders/{id}"))?;
            out.value(&v, |v| {
                let priced = match v["rate"].as_str() {
                    Some(_) => format!(
                        "\nprice    {} at 1 {} = {}",
                        v["currency"].as_str().unwrap_or_default(),
                        v["currency"].as_str().unwrap_or_default(),
                        want_text(&v["rate"]),
                    ),
                    None => String::new(),
                };
                format!(
                    "{}\nseller   {}\nescrow   {}{priced}",
                    order_line(v),
                    v["seller"].as_str().unwrap_or_default(),
                    want_text(&v["escrowed"]),
                )
            });
            Ok(())
        }
        OrderCommand::List {
            buyer,
            shop,
            after,
            limit,
            node,
        } => {
            if let Some(b) = &buyer {
                address(b, "buyer")?;
            }
            let q = query_string(&[
                ("buyer", buyer),
                ("shop", shop),
                ("after", after.map(|a| a.to_string())),
                ("limit", limit.map(|l| l.to_string())),
            ]);
            let v = Client::new(&node.url)?.get(&format!("/v1/commerce/orders{q}"))?;
            out.value(&v, |v| page_text(v, "orders", order_line));
            Ok(())
        }
    }
}
