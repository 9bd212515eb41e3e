//! Paying at the till: `want pay request` (the shop's terminal signs a payment request and shows
//! it as a URI and a QR code), `want pay send URI` (the customer's wallet checks it, signs a
//! payment naming it and broadcasts it — or, `--offline --nonce N --out FILE [--qr-out F.svg]`,
//! hands the signed transaction over to the terminal, which broadcasts it with
//! `want tx send FILE`) and `want pay watch URI` (the terminal follows `/v1/events` until the
//! payment commits and prints the receipt; `pay request --wait` does the same at once).
//!
//! The URI format is documented in `want_types::modules::commerce::till`.
//!
//! **Other currencies.** `pay request --currency CNY --amount 88.88` asks for 88.88 CNY; the
//! chain converts it to WANT when the payment's block applies. `pay send` fetches the current
//! rate (`GET /v1/commerce/prices/{currency}`), shows the amount, the rate, its age and the WANT
//! it comes to, and signs `max_want` = that WANT × (1 + `--max-slippage-bps`, default 1 %) or the
//! explicit `--max-want`: the chain refuses the payment if the rate moved past it. With
//! `--offline` there is no rate to fetch, so a request in another currency needs `--max-want`.
//! A request in WANT is paid with `max_want` = its amount.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use want_crypto::SigningKey;
use want_types::amount::{format_want, parse_want};
use want_types::modules::commerce::price::{is_currency, to_want, CURRENCIES};
use want_types::modules::commerce::{
    parse_payment_uri, payment_uri, CommerceCall, PaymentRequest, TILL_CURRENCY_WANT,
};
use want_types::{Amount, Call, Hash32, Signature};

use crate::client::Client;
use crate::output::{CliError, Out};
use crate::signer::{
    now_ms, print_answer, print_unsent, sign_and_send, Delivered, FileShape, KeySource, Profile, SignArgs, Signer,
};
use crate::NodeArg;

/// Default time a payment request may be paid, in seconds (10 minutes).
const EXPIRES_IN_S_DEFAULT: u64 = 600;
/// How long `pay watch` goes on after the request expired, in seconds: a block stamped before
/// the expiry may commit a little after it.
const WATCH_GRACE_S: u64 = 60;
/// Smallest side of a written QR code, in pixels.
const QR_MIN_DIMENSION_PX: u32 = 256;
/// Pause before following the event stream again after it dropped, in milliseconds.
const WATCH_RETRY_MS: u64 = 500;
/// Default margin of `max_want` over the converted WANT of a request in another currency, in
/// basis points (100 = 1 %).
const SLIPPAGE_BPS_DEFAULT: u32 = 100;
/// Largest `--max-slippage-bps` accepted (100 %).
const SLIPPAGE_BPS_MAX: u32 = 10_000;

fn err(code: &str, message: impl Into<String>) -> anyhow::Error {
    CliError::new(code, message).into()
}

fn address(s: &str) -> anyhow::Result<want_types::Address> {
    crate::output::parse_address(s, "KEY")
}

#[derive(Subcommand)]
pub enum PayCommand {
    /// The till: sign a payment request with the terminal's key (the shop's owner or a till
    /// key) and print its URI; --qr-out writes its QR code.
    Request(RequestArgs),
    /// The customer: check a payment request URI (signature, expiry, the shop's keys, the
    /// amount) and pay it; with --offline --nonce N --out FILE the signed payment is written to
    /// hand to the terminal (`want tx send FILE` broadcasts it).
    Send {
        /// The `want:pay?…` URI of the till's QR code.
        uri: String,
        /// Refuse to pay more than this many WANT (after conversion); also caps --max-want.
        #[arg(long)]
        max_amount: Option<String>,
        /// The most WANT to pay, signed into the payment: the chain refuses it if the request
        /// comes to more at the block's rate. Required with --offline for a request in another
        /// currency; default: the converted WANT plus --max-slippage-bps (the amount for WANT).
        #[arg(long, conflicts_with = "max_slippage_bps")]
        max_want: Option<String>,
        /// For a request in another currency: how far the rate may move against the payer
        /// before the block, in basis points of the converted WANT (100 = 1 %, at most 10000).
        #[arg(long, default_value_t = SLIPPAGE_BPS_DEFAULT)]
        max_slippage_bps: u32,
        /// Also write the signed transaction as a QR code (SVG) to show the terminal.
        #[arg(long)]
        qr_out: Option<PathBuf>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Register a till key of a shop (owner only): it may sign the shop's payment requests.
    AddKey {
        #[arg(long)]
        shop: String,
        /// The till key's account address.
        key: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Remove a till key of a shop (owner only): requests it signed can no longer be paid.
    RemoveKey {
        #[arg(long)]
        shop: String,
        key: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// The keys that may sign a shop's payment requests: its owner and till keys.
    Keys {
        shop: String,
        #[command(flatten)]
        node: NodeArg,
    },
    /// The till: follow the event stream until the payment naming this request commits, then
    /// print the receipt.
    Watch {
        uri: String,
        /// Give up after this many seconds (default: until the request expired, plus a minute).
        #[arg(long)]
        timeout: Option<u64>,
        #[command(flatten)]
        node: NodeArg,
    },
}

#[derive(Args)]
pub struct RequestArgs {
    /// The shop's handle.
    #[arg(long)]
    shop: String,
    /// What to pay, in --currency (up to 6 decimals).
    #[arg(long)]
    amount: String,
    /// Currency of the amount: WANT, or one of the chain's list (USD, EUR, CNY, JPY, BTC, …),
    /// converted to WANT at the chain's median rate when paid.
    #[arg(long, default_value = TILL_CURRENCY_WANT)]
    currency: String,
    /// The chain the request may be paid on (default: the chain of --node).
    #[arg(long)]
    chain_id: Option<u64>,
    /// The till's reference (receipt number).
    #[arg(long, default_value = "")]
    reference: String,
    /// The product sold (GTIN or shop SKU), recorded in the buyer's purchase record.
    #[arg(long)]
    product: Option<String>,
    /// Seconds the request may be paid (default 600; at most 7 days).
    #[arg(long, default_value_t = EXPIRES_IN_S_DEFAULT)]
    expires_in: u64,
    /// Write the request's QR code (SVG) to this file.
    #[arg(long)]
    qr_out: Option<PathBuf>,
    /// Then follow the event stream until it is paid and print the receipt.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    key: KeySource,
    #[command(flatten)]
    node: NodeArg,
}

pub fn run(cmd: PayCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        PayCommand::Request(a) => request(a, out),
        PayCommand::Send {
            uri,
            max_amount,
            max_want,
            max_slippage_bps,
            qr_out,
            sign,
        } => send(
            &uri,
            Bounds {
                max_amount,
                max_want,
                max_slippage_bps,
            },
            qr_out,
            sign,
            out,
        ),
        PayCommand::AddKey { shop, key, sign } => sign_and_send(
            Call::Commerce(CommerceCall::AddTillKey {
                shop,
                key: address(&key)?,
            }),
            sign,
            Profile::commit(),
            out,
        ),
        PayCommand::RemoveKey { shop, key, sign } => sign_and_send(
            Call::Commerce(CommerceCall::RemoveTillKey {
                shop,
                key: address(&key)?,
            }),
            sign,
            Profile::commit(),
            out,
        ),
        PayCommand::Keys { shop, node } => {
            let v = Client::new(&node.url)?.get(&format!(
                "/v1/commerce/shops/{}/till-keys",
                want_node::trace::urlencode(&shop)
            ))?;
            out.value(&v, |v| {
                let mut lines = vec![format!(
                    "owner    {}",
                    v["owner"].as_str().unwrap_or_default()
                )];
                lines.extend(
                    v["keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|k| format!("till key {}", k.as_str().unwrap_or_default())),
                );
                lines.join("\n")
            });
            Ok(())
        }
        PayCommand::Watch { uri, timeout, node } => {
            let (request, _) = checked_uri(&uri)?;
            let receipt = watch(&node.url, &request, timeout)?;
            out.value(&receipt, receipt_text);
            Ok(())
        }
    }
}

/// Writes `data` as a QR code (SVG) to `path`.
fn write_qr(path: &Path, data: &str) -> anyhow::Result<()> {
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(|e| {
        err(
            "qr_too_large",
            format!("cannot encode {} bytes as a QR code: {e}", data.len()),
        )
    })?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(QR_MIN_DIMENSION_PX, QR_MIN_DIMENSION_PX)
        .build();
    std::fs::write(path, svg).map_err(|e| {
        err(
            "file_unwritable",
            format!("cannot write {}: {e}", path.display()),
        )
    })
}

fn sign_digest(key: &SigningKey, digest: &Hash32) -> Signature {
    match key {
        SigningKey::Secp256k1(k) => Signature::Secp256k1(k.sign_digest(digest).to_vec()),
        SigningKey::Rsa(k) => Signature::Rsa {
            public_key: k.public_key_pkcs1_der(),
            signature: k.sign_digest(digest),
        },
    }
}

/// The chain id of the node at `url` (`GET /v1/status`).
fn node_chain_id(client: &Client) -> anyhow::Result<u64> {
    client.get("/v1/status")?["chain_id"].as_u64().ok_or_else(|| {
        err(
            "unexpected_answer",
            "the node's /v1/status has no chain_id",
        )
    })
}

fn request(a: RequestArgs, out: &Out) -> anyhow::Result<()> {
    let currency = a.currency.to_ascii_uppercase();
    if currency != TILL_CURRENCY_WANT && !is_currency(&currency) {
        return Err(err(
            want_state::modules::commerce::codes::CURRENCY_UNKNOWN,
            format!(
                "--currency {:?} is not a currency of the chain; use {TILL_CURRENCY_WANT} or one of {}",
                a.currency,
                CURRENCIES.join(", ")
            ),
        ));
    }
    let amount = parse_want(&a.amount).map_err(|e| {
        err(
            "invalid_amount",
            format!("--amount: {e}; give {currency} with up to 6 decimals, e.g. 12.5"),
        )
    })?;
    if amount == 0 {
        return Err(err("invalid_amount", "--amount is 0; ask for more than 0"));
    }
    let chain_id = match a.chain_id {
        Some(c) => c,
        None => node_chain_id(&Client::new(&a.node.url)?)?,
    };
    let key = a.key.load()?;
    let expires_ms = now_ms().saturating_add(a.expires_in.saturating_mul(1_000));
    let request = PaymentRequest {
        shop: a.shop.to_ascii_lowercase(),
        amount,
        currency,
        reference: a.reference,
        product: a.product,
        expires_ms,
        terminal: key.address(),
        nonce: rand::random(),
        chain_id,
    };
    let hash = request.hash();
    let signature = sign_digest(&key, &hash);
    let uri = payment_uri(&request, &signature);
    if let Some(path) = &a.qr_out {
        write_qr(path, &uri)?;
    }
    let v = json!({
        "uri": uri,
        "request_hash": hash,
        "request": request,
        "qr_file": a.qr_out,
    });
    if !a.wait {
        out.value(&v, request_text);
        return Ok(());
    }
    // Show the request at once (the customer needs it to pay), then wait for the payment.
    if out.json {
        eprintln!("{uri}");
    } else {
        println!("{}", request_text(&v));
    }
    let receipt = watch(&a.node.url, &request, None)?;
    if out.json {
        out.value(&json!({"request": v, "receipt": receipt}), |_| String::new());
    } else {
        println!("{}", receipt_text(&receipt));
    }
    Ok(())
}

fn want_of(v: &Value) -> String {
    in_currency(v, TILL_CURRENCY_WANT)
}

/// A decimal string of base units (6 decimals) of `currency`, for people.
fn in_currency(v: &Value, currency: &str) -> String {
    v.as_str()
        .and_then(|s| s.parse::<Amount>().ok())
        .map(|a| format!("{} {currency}", format_want(a)))
        .unwrap_or_default()
}

/// `1 CNY = 0.138 WANT` of a rate (WANT base units per unit).
fn rate_text(currency: &str, rate: Amount) -> String {
    format!("1 {currency} = {} WANT", format_want(rate))
}

fn request_text(v: &Value) -> String {
    let r = &v["request"];
    let mut s = format!(
        "{}\nrequest  {}\nshop     {}\namount   {}\nref      {}\nexpires  {} ms\nterminal {}\nchain    {}",
        v["uri"].as_str().unwrap_or_default(),
        v["request_hash"].as_str().unwrap_or_default(),
        r["shop"].as_str().unwrap_or_default(),
        in_currency(&r["amount"], r["currency"].as_str().unwrap_or(TILL_CURRENCY_WANT)),
        r["reference"].as_str().unwrap_or_default(),
        r["expires_ms"],
        r["terminal"].as_str().unwrap_or_default(),
        r["chain_id"],
    );
    if let Some(f) = v["qr_file"].as_str() {
        s.push_str(&format!("\nQR code  {f}"));
    }
    s
}

/// The request and signature of `uri`, checked as far as the URI alone allows: the signature
/// is by `request.terminal`.
fn checked_uri(uri: &str) -> anyhow::Result<(PaymentRequest, Signature)> {
    let (request, signature) = parse_payment_uri(uri)
        .map_err(|e| err("payment_uri_invalid", format!("not a payment request URI: {e}")))?;
    want_crypto::verify_signature(&request.hash(), &request.terminal, &signature).map_err(|e| {
        err(
            want_state::modules::commerce::codes::PAYMENT_REQUEST_SIGNATURE,
            format!(
                "the payment request's signature does not match its terminal key {} ({e}): it was altered or signed by another key; do not pay it",
                request.terminal
            ),
        )
    })?;
    Ok((request, signature))
}

/// The payer's bounds on what `pay send` pays (its flags).
struct Bounds {
    max_amount: Option<String>,
    max_want: Option<String>,
    max_slippage_bps: u32,
}

/// What a request comes to in WANT and the bound signed into the payment.
struct Quote {
    /// The rate fetched from the node (WANT base units per unit) and its age in ms (`None`
    /// for a request in WANT or offline).
    rate: Option<(Amount, u64)>,
    /// The WANT it comes to now (`None` offline for a request in another currency).
    want_amount: Option<Amount>,
    max_want: Amount,
}

fn want_arg(s: &str, flag: &str) -> anyhow::Result<Amount> {
    parse_want(s).map_err(|e| {
        err(
            "invalid_amount",
            format!("--{flag}: {e}; give WANT with up to 6 decimals"),
        )
    })
}

/// What `request` comes to and the `max_want` to sign: see the module header.
fn quote(request: &PaymentRequest, b: &Bounds, client: Option<&Client>) -> anyhow::Result<Quote> {
    use want_state::modules::commerce::codes as c;
    if b.max_slippage_bps > SLIPPAGE_BPS_MAX {
        return Err(err(
            "invalid_argument",
            format!(
                "--max-slippage-bps is {}; give 0 to {SLIPPAGE_BPS_MAX}",
                b.max_slippage_bps
            ),
        ));
    }
    let explicit = b
        .max_want
        .as_deref()
        .map(|m| want_arg(m, "max-want"))
        .transpose()?;
    let cap = b
        .max_amount
        .as_deref()
        .map(|m| want_arg(m, "max-amount"))
        .transpose()?;
    let overflow = || err("invalid_amount", "the request's value in WANT overflows 128 bits");
    let (rate, want_amount, max_want) = if request.currency == TILL_CURRENCY_WANT {
        (None, Some(request.amount), explicit.unwrap_or(request.amount))
    } else if let Some(client) = client {
        let (rate, age) = super::price::current_rate(
            client,
            &request.currency,
            &format!("the request is in {}", request.currency),
            &format!("wait for fresh reports, or ask the till for a request in {TILL_CURRENCY_WANT}"),
        )?;
        let want = to_want(request.amount, rate).ok_or_else(overflow)?;
        let max_want = match explicit {
            Some(m) => m,
            None => super::price::with_margin(want, b.max_slippage_bps).ok_or_else(overflow)?,
        };
        (Some((rate, age)), Some(want), max_want)
    } else {
        let Some(m) = explicit else {
            return Err(err(
                "max_want_required",
                format!(
                    "the request is in {}, and with --offline there is no rate to convert it: give --max-want, the most WANT you agree to pay for {}",
                    request.currency,
                    in_currency(&json!(request.amount.to_string()), &request.currency)
                ),
            ));
        };
        (None, None, m)
    };
    if let Some(want) = want_amount {
        if want > max_want {
            return Err(err(
                c::PAYMENT_ABOVE_MAX,
                format!(
                    "the request comes to {} WANT, more than --max-want {} WANT; not paid",
                    format_want(want),
                    format_want(max_want)
                ),
            ));
        }
        if let Some(cap) = cap {
            if want > cap {
                return Err(err(
                    c::PAYMENT_ABOVE_MAX,
                    format!(
                        "the request comes to {} WANT, more than --max-amount {} WANT; not paid",
                        format_want(want),
                        format_want(cap)
                    ),
                ));
            }
        }
    }
    let max_want = cap.map_or(max_want, |c| c.min(max_want));
    Ok(Quote {
        rate,
        want_amount,
        max_want,
    })
}

fn send(
    uri: &str,
    bounds: Bounds,
    qr_out: Option<PathBuf>,
    sign: SignArgs,
    out: &Out,
) -> anyhow::Result<()> {
    use want_state::modules::commerce::codes as c;
    let (request, signature) = checked_uri(uri)?;
    if request.currency != TILL_CURRENCY_WANT && !is_currency(&request.currency) {
        return Err(err(
            c::PAYMENT_CURRENCY_UNSUPPORTED,
            format!(
                "the request asks for {} {:?}, which is not a currency of the chain; do not pay it",
                request.amount, request.currency
            ),
        ));
    }
    let now = now_ms();
    if now >= request.expires_ms {
        return Err(err(
            c::PAYMENT_REQUEST_EXPIRED,
            format!(
                "the payment request expired {} s ago; ask the till for a new one",
                (now - request.expires_ms) / 1_000
            ),
        ));
    }
    let client = if sign.offline() {
        None
    } else {
        Some(Client::new(&sign.node.url)?)
    };
    let mut signer = Signer::open(sign, Profile::commit())?;
    if request.chain_id != signer.chain_id() {
        return Err(err(
            c::PAYMENT_REQUEST_WRONG_CHAIN,
            format!(
                "the payment request is for chain {}, but this payment is signed for chain {}: it was made on another chain (a test net or a fork); do not pay it here",
                request.chain_id,
                signer.chain_id()
            ),
        ));
    }
    let q = quote(&request, &bounds, client.as_ref())?;
    if let Some(client) = &client {
        check_with_node(client, &request)?;
    }
    let paying = match (q.want_amount, q.rate) {
        (Some(want), Some((rate, age))) => format!(
            "{} = {} WANT at {} (rate {} s old; at most {} WANT)",
            in_currency(&json!(request.amount.to_string()), &request.currency),
            format_want(want),
            rate_text(&request.currency, rate),
            age / 1_000,
            format_want(q.max_want)
        ),
        (Some(want), None) => format!("{} WANT", format_want(want)),
        (None, _) => format!(
            "{} at the chain's rate (at most {} WANT)",
            in_currency(&json!(request.amount.to_string()), &request.currency),
            format_want(q.max_want)
        ),
    };
    eprintln!(
        "paying {paying} to the shop {} (reference {:?}, terminal {})",
        request.shop, request.reference, request.terminal
    );
    let facts = json!({
        "currency": request.currency,
        "amount": request.amount.to_string(),
        "rate": q.rate.map(|(r, _)| r.to_string()),
        "rate_age_ms": q.rate.map(|(_, a)| a),
        "want_amount": q.want_amount.map(|a| a.to_string()),
        "max_want": q.max_want.to_string(),
    });
    let stx = signer.sign(Call::Commerce(CommerceCall::PayRequest {
        request,
        signature,
        max_want: q.max_want,
    }))?;
    if let Some(path) = &qr_out {
        let text = serde_json::to_string(&stx)
            .map_err(|e| err("error", format!("cannot encode the transaction: {e}")))?;
        write_qr(path, &text)?;
    }
    let with_facts = |mut v: Value| {
        if let (Some(o), Some(f)) = (v.as_object_mut(), facts.as_object()) {
            o.insert("payment".into(), json!(f));
            for (k, x) in f {
                o.entry(k.clone()).or_insert_with(|| x.clone());
            }
        }
        v
    };
    match signer.deliver(std::slice::from_ref(&stx), FileShape::Object)? {
        Delivered::Written(path) => {
            if out.json {
                let v = json!({"id": stx.id(), "sender": stx.tx.from, "nonce": stx.tx.nonce, "file": path});
                out.value(&with_facts(v), |_| String::new());
            } else {
                print_unsent(out, &stx, Some(&path));
            }
            Ok(())
        }
        Delivered::Kept => {
            if out.json {
                let v = json!({"id": stx.id(), "sender": stx.tx.from, "signed_transaction": stx});
                out.value(&with_facts(v), |_| String::new());
            } else {
                print_unsent(out, &stx, None);
            }
            Ok(())
        }
        Delivered::Sent { answers, waited } => match answers.first() {
            Some(v) => print_answer(out, &with_facts(v.clone()), waited),
            None => Err(err("error", "nothing was sent")),
        },
    }
}

/// Online checks before paying: the terminal key is the shop's (owner or till key), the shop is
/// open, and the request is not paid yet.
fn check_with_node(client: &Client, request: &PaymentRequest) -> anyhow::Result<()> {
    use want_state::modules::commerce::codes as c;
    let keys = client.get(&format!(
        "/v1/commerce/shops/{}/till-keys",
        want_node::trace::urlencode(&request.shop)
    ))?;
    let terminal = request.terminal.to_string();
    let is_shops = keys["owner"].as_str() == Some(terminal.as_str())
        || keys["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|k| k.as_str() == Some(terminal.as_str()));
    if !is_shops {
        return Err(err(
            c::PAYMENT_REQUEST_TERMINAL_UNKNOWN,
            format!(
                "the payment request is signed by {terminal}, which is neither the owner nor a till key of the shop {:?}; do not pay it",
                request.shop
            ),
        ));
    }
    if keys["closed"] == true {
        return Err(err(
            c::SHOP_CLOSED,
            format!("the shop {:?} is closed", request.shop),
        ));
    }
    let paid = client.get(&format!(
        "/v1/commerce/payment-requests/{}",
        request.hash()
    ))?;
    if paid["paid"] == true {
        return Err(err(
            c::PAYMENT_REQUEST_PAID,
            format!(
                "the payment request was already paid by payment {}",
                paid["payment"]["id"]
            ),
        ));
    }
    Ok(())
}

/// Follows `/v1/events` (commerce events) until the `TillPaid` event of `request` and returns the
/// receipt: payment id, buyer, amount, fee, reference, block height, transaction id. It starts
/// at the block that paid it when the node already knows it was paid, else at the node's head.
fn watch(base: &str, request: &PaymentRequest, timeout_s: Option<u64>) -> anyhow::Result<Value> {
    let client = Client::new(base)?;
    let hash = request.hash();
    let known = client.get(&format!("/v1/commerce/payment-requests/{hash}"))?;
    let from = match known["payment"]["height"].as_u64() {
        Some(h) => h,
        None => client.get("/v1/status")?["height"].as_u64().unwrap_or(0),
    };
    let timeout = Duration::from_secs(timeout_s.unwrap_or_else(|| {
        request.expires_ms.saturating_sub(now_ms()) / 1_000 + WATCH_GRACE_S
    }));
    let ws_base = base.trim_end_matches('/').replacen("http", "ws", 1);
    let request_amount = request.amount.to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err("error", e.to_string()))?;
    rt.block_on(async move {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut resume_at = from;
        loop {
            let url = format!("{ws_base}/v1/events?kinds=commerce_event&from_height={resume_at}");
            let connected =
                tokio::time::timeout_at(deadline, tokio_tungstenite::connect_async(url.as_str()))
                    .await;
            let mut ws = match connected {
                Ok(Ok((ws, _))) => ws,
                Ok(Err(e)) => {
                    return Err(err("node_unreachable", format!("event stream {url}: {e}")))
                }
                Err(_) => break,
            };
            loop {
                let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
                    Ok(Some(Ok(m))) => m,
                    Ok(_) => break,
                    Err(_) => return Err(not_seen(&hash, timeout)),
                };
                let Ok(text) = msg.into_text() else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                resume_at = v["height"].as_u64().unwrap_or(resume_at);
                let e = &v["event"];
                if e["type"] == "TillPaid" && e["request_hash"] == json!(hash) {
                    return Ok(json!({
                        "payment": e["payment"],
                        "request_hash": hash,
                        "shop": e["shop"],
                        "reference": e["reference"],
                        "buyer": e["buyer"],
                        "amount": e["amount"],
                        "fee": e["fee"],
                        "currency": e["currency"],
                        "rate": e["rate"],
                        "request_amount": request_amount,
                        "height": v["height"],
                        "tx_id": v["tx_id"],
                    }));
                }
            }
            tokio::time::sleep(Duration::from_millis(WATCH_RETRY_MS)).await;
        }
        Err(not_seen(&hash, timeout))
    })
}

fn not_seen(hash: &Hash32, timeout: Duration) -> anyhow::Error {
    err(
        "payment_not_seen",
        format!(
            "no payment of request {hash} committed within {} s; it may have expired unpaid",
            timeout.as_secs()
        ),
    )
}

fn receipt_text(v: &Value) -> String {
    let amount = v["amount"].as_str().and_then(|s| s.parse::<Amount>().ok());
    let fee = v["fee"].as_str().and_then(|s| s.parse::<Amount>().ok());
    let to_shop = match (amount, fee) {
        (Some(a), Some(f)) => format!("{} WANT", format_want(a.saturating_sub(f))),
        _ => String::new(),
    };
    let currency = v["currency"].as_str().unwrap_or(TILL_CURRENCY_WANT);
    let converted = match v["rate"].as_str().and_then(|s| s.parse::<Amount>().ok()) {
        Some(rate) => format!(
            " ({} at {})",
            in_currency(&v["request_amount"], currency),
            rate_text(currency, rate)
        ),
        None => String::new(),
    };
    format!(
        "PAID     payment {} in block {}\ntx       {}\nshop     {}\nref      {}\nbuyer    {}\namount   {}{converted}\nfee      {} (to the incentive pool)\nto shop  {to_shop}",
        v["payment"],
        v["height"],
        v["tx_id"].as_str().unwrap_or_default(),
        v["shop"].as_str().unwrap_or_default(),
        v["reference"].as_str().unwrap_or_default(),
        v["buyer"].as_str().unwrap_or_default(),
        want_of(&v["amount"]),
        want_of(&v["fee"]),
    )
}
