//! `want review add|edit|like|share|reply|list|show`: reviews of completed purchases, likes and
//! shares, and the shop's reply (issue 14 item 8). The text of a review or reply is a public
//! blob CID (`--text-cid`); the node has no public blob store to upload it to (its `/v1/blobs`
//! holds sealed trace blobs whose reads are signed), so the CLI does not upload texts.

use clap::Subcommand;
use serde_json::Value;
use want_types::modules::commerce::CommerceCall;

use super::{address, page_text, query_string, send};
use crate::client::Client;
use crate::output::Out;
use crate::signer::{Profile, SignArgs};
use crate::NodeArg;

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Review one of your completed purchases (one review per purchase).
    Add {
        /// The purchase's id (`want order list --buyer YOU`; the order id of a completed order).
        #[arg(long)]
        purchase: u64,
        /// Stars, 1 to 5.
        #[arg(long)]
        rating: u8,
        /// The review text's public blob CID.
        #[arg(long)]
        text_cid: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Edit your review: a new version (earlier ones are kept).
    Edit {
        id: u64,
        #[arg(long)]
        rating: u8,
        #[arg(long)]
        text_cid: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Like a review (once; accounts with a completed purchase or a KYC attestation).
    Like {
        id: u64,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Share a review (once; accounts with a completed purchase or a KYC attestation).
    Share {
        id: u64,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Reply to a review of your shop (its owner, once).
    Reply {
        id: u64,
        #[arg(long)]
        text_cid: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// A shop's, a product's or an author's reviews by id, a page at a time, with the rating
    /// aggregate of the shop or product.
    List {
        #[arg(long, conflicts_with_all = ["product", "author"], required_unless_present_any = ["product", "author"])]
        shop: Option<String>,
        /// A GTIN or `shop:sku`.
        #[arg(long, conflicts_with = "author")]
        product: Option<String>,
        #[arg(long)]
        author: Option<String>,
        /// The `next` of the previous page.
        #[arg(long)]
        after: Option<u64>,
        /// Most reviews (1 to 100).
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Show a review with its versions, reply, likes and shares.
    Show {
        id: u64,
        #[command(flatten)]
        node: NodeArg,
    },
}

fn review_line(v: &Value) -> String {
    format!(
        "review {} v{}: {} stars of {} ({}) by {}, {} likes, {} shares{}",
        v["id"],
        v["version"],
        v["rating"],
        v["shop"].as_str().unwrap_or_default(),
        v["product"].as_str().unwrap_or_default(),
        v["author"].as_str().unwrap_or_default(),
        v["likes"],
        v["shares"],
        if v["reply"].is_null() { "" } else { ", replied" },
    )
}

fn rating_line(v: &Value) -> String {
    format!(
        "rating of {}: {} from {} reviews (1-5 stars: {})",
        v["of"].as_str().unwrap_or_default(),
        v["average"].as_str().unwrap_or_default(),
        v["count"],
        v["stars"],
    )
}

pub fn run(cmd: ReviewCommand, out: &Out) -> anyhow::Result<()> {
    let p = Profile::commit();
    match cmd {
        ReviewCommand::Add {
            purchase,
            rating,
            text_cid,
            sign,
        } => send(
            CommerceCall::AddReview {
                purchase,
                rating,
                text_cid,
            },
            sign,
            p,
            out,
        ),
        ReviewCommand::Edit {
            id,
            rating,
            text_cid,
            sign,
        } => send(
            CommerceCall::EditReview {
                review: id,
                rating,
                text_cid,
            },
            sign,
            p,
            out,
        ),
        ReviewCommand::Like { id, sign } => {
            send(CommerceCall::LikeReview { review: id }, sign, p, out)
        }
        ReviewCommand::Share { id, sign } => {
            send(CommerceCall::ShareReview { review: id }, sign, p, out)
        }
        ReviewCommand::Reply { id, text_cid, sign } => send(
            CommerceCall::ReplyReview {
                review: id,
                text_cid,
            },
            sign,
            p,
            out,
        ),
        ReviewCommand::List {
            shop,
            product,
            author,
            after,
            limit,
            node,
        } => {
            if let Some(a) = &author {
                address(a, "author")?;
            }
            let client = Client::new(&node.url)?;
            let rating_path = match (&shop, &product) {
                (Some(s), _) => Some(format!(
                    "/v1/commerce/shops/{}/rating",
                    want_node::trace::urlencode(s)
                )),
                (_, Some(p)) => Some(format!(
                    "/v1/commerce/products/{}/rating",
                    want_node::trace::urlencode(p)
                )),
                _ => None,
            };
            let q = query_string(&[
                ("shop", shop),
                ("product", product),
                ("author", author),
                ("after", after.map(|a| a.to_string())),
                ("limit", limit.map(|l| l.to_string())),
            ]);
            let mut v = client.get(&format!("/v1/commerce/reviews{q}"))?;
            if let Some(path) = rating_path {
                v["rating"] = client.get(&path)?;
            }
            out.value(&v, |v| {
                let page = page_text(v, "reviews", review_line);
                if v["rating"].is_null() {
                    page
                } else {
                    format!("{}\n{page}", rating_line(&v["rating"]))
                }
            });
            Ok(())
        }
        ReviewCommand::Show { id, node } => {
            let v = Client::new(&node.url)?.get(&format!("/v1/commerce/reviews/{id}"))?;
            out.value(&v, |v| {
                let mut lines = vec![review_line(v)];
                for ver in v["versions"].as_array().into_iter().flatten() {
                    lines.push(format!(
                        "  v{} {} stars, text {}",
                        ver["version"],
                        ver["rating"],
                        ver["text_cid"].as_str().unwrap_or_default()
                    ));
                }
                if !v["reply"].is_null() {
                    lines.push(format!(
                        "reply    {} by {}",
                        v["reply"]["text_cid"].as_str().unwrap_or_default(),
                        v["reply"]["by"].as_str().unwrap_or_default()
                    ));
                }
                lines.join("\n")
            });
            Ok(())
        }
    }
}
