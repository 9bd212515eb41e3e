//! `want credit model publish|retire|show|list` and `want credit scorer add|remove|list`: the
//! models and scorers of the chain's credit module.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::Value;
use want_types::modules::credit::{CreditCall, MODEL_JSON_BYTES_MAX};
use want_types::{Address, Call, Hash32};

use crate::client::Client;
use crate::output::{CliError, Out};
use crate::signer::{sign_and_send, Profile, SignArgs};
use crate::NodeArg;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Publish a model file (from `want credit train`) as a registered scorer: the next version
    /// of the scorer's models of that name.
    Publish {
        /// 1 to 64 ASCII letters, digits, '-', '_' or '.'.
        #[arg(long)]
        name: String,
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Retire a model (its scorer, or the credit administrator): nobody scores with it any more.
    Retire {
        /// The model id (64 hex digits).
        id: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Show a model; `--out FILE` writes its document (for `want credit score --model`).
    Show {
        /// The model id (64 hex digits).
        id: String,
        /// Write the model's document here.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArg,
    },
    /// List the published models (a page of at most 100 by id).
    List {
        /// Continue after this id (the previous page's `next`).
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        node: NodeArg,
    },
}

#[derive(Subcommand)]
pub enum ScorerCommand {
    /// Register a scorer (the credit administrator).
    Add {
        address: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Remove a scorer (the credit administrator); its models stay readable.
    Remove {
        address: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// The scorers and the credit administrator.
    List {
        #[command(flatten)]
        node: NodeArg,
    },
}

fn invalid(message: String) -> anyhow::Error {
    CliError::new("invalid_arguments", message).into()
}

fn address(s: &str) -> anyhow::Result<Address> {
    crate::output::parse_address(s, "ADDRESS")
}

fn model_id(s: &str) -> anyhow::Result<Hash32> {
    s.parse().map_err(|e| {
        CliError::new(
            "invalid_hash",
            format!("{s:?} is not a model id (64 hex digits): {e}"),
        )
        .into()
    })
}

fn send(call: CreditCall, sign: SignArgs, out: &Out) -> anyhow::Result<()> {
    sign_and_send(Call::Credit(call), sign, Profile::commit(), out)
}

fn model_line(m: &Value) -> String {
    format!(
        "{} {} v{} by {}{}",
        m["id"].as_str().unwrap_or_default(),
        m["name"].as_str().unwrap_or_default(),
        m["version"],
        m["scorer"].as_str().unwrap_or_default(),
        if m["retired_ms"].is_null() {
            String::new()
        } else {
            format!(" (retired at {} ms)", m["retired_ms"])
        }
    )
}

pub fn model(cmd: ModelCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::Publish { name, model, sign } => {
            let meta = std::fs::metadata(&model).map_err(|e| {
                CliError::new("file_unreadable", format!("{}: {e}", model.display()))
            })?;
            if meta.len() > MODEL_JSON_BYTES_MAX as u64 {
                return Err(invalid(format!(
                    "{} is {} bytes; a model published on chain is at most {MODEL_JSON_BYTES_MAX}",
                    model.display(),
                    meta.len()
                )));
            }
            let text = std::fs::read_to_string(&model).map_err(|e| {
                CliError::new("file_unreadable", format!("{}: {e}", model.display()))
            })?;
            // The chain checks it with the same reader; checking here names the problem
            // before a fee is paid.
            let parsed = want_scorecard::Model::from_json(&text).map_err(super::cli_error)?;
            // Sent compact: the chain stores the compact form, and fees count bytes.
            let compact = serde_json::to_string(&parsed).map_err(|e| {
                CliError::new("invalid_model", format!("{}: {e}", model.display()))
            })?;
            send(
                CreditCall::PublishModel {
                    name,
                    model: compact,
                },
                sign,
                out,
            )
        }
        ModelCommand::Retire { id, sign } => {
            send(CreditCall::RetireModel { model: model_id(&id)? }, sign, out)
        }
        ModelCommand::Show { id, out: file, node } => {
            let id = model_id(&id)?;
            let v = Client::new(&node.url)?.get(&format!("/v1/credit/models/{}", id.to_hex()))?;
            if let Some(path) = &file {
                let mut m = want_scorecard::Model::from_json(&v["model"].to_string())
                    .map_err(super::cli_error)?;
                // A model retired on chain is written retired: `want credit score` refuses it.
                if !v["retired_ms"].is_null() {
                    m.active = false;
                }
                let text = m.to_json();
                std::fs::write(path, text).map_err(|e| {
                    CliError::new("file_unwritable", format!("{}: {e}", path.display()))
                })?;
            }
            out.value(&v, |v| {
                let m = &v["model"];
                format!(
                    "{}\n  target {} (bad = {}), {} features{}",
                    model_line(v),
                    m["target"].as_str().unwrap_or_default(),
                    m["positive"].as_str().unwrap_or_default(),
                    m["features"].as_array().map_or(0, Vec::len),
                    file.as_ref()
                        .map(|p| format!("\n  written to {}", p.display()))
                        .unwrap_or_default()
                )
            });
            Ok(())
        }
        ModelCommand::List { after, limit, node } => {
            let mut path = "/v1/credit/models?".to_string();
            if let Some(a) = after {
                path.push_str(&format!("after={}&", model_id(&a)?.to_hex()));
            }
            if let Some(l) = limit {
                path.push_str(&format!("limit={l}"));
            }
            let v = Client::new(&node.url)?.get(&path)?;
            out.value(&v, |v| {
                let mut lines: Vec<String> = v["models"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(model_line)
                    .collect();
                if lines.is_empty() {
                    lines.push("no models".into());
                }
                if let Some(n) = v["next"].as_str() {
                    lines.push(format!("more: --after {n}"));
                }
                lines.join("\n")
            });
            Ok(())
        }
    }
}

pub fn scorer(cmd: ScorerCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        ScorerCommand::Add { address: a, sign } => send(
            CreditCall::RegisterScorer {
                scorer: address(&a)?,
            },
            sign,
            out,
        ),
        ScorerCommand::Remove { address: a, sign } => send(
            CreditCall::RemoveScorer {
                scorer: address(&a)?,
            },
            sign,
            out,
        ),
        ScorerCommand::List { node } => {
            let v = Client::new(&node.url)?.get("/v1/credit/scorers")?;
            out.value(&v, |v| {
                let mut lines = vec![format!(
                    "administrator: {}",
                    v["admin"].as_str().unwrap_or("none")
                )];
                for s in v["scorers"].as_array().into_iter().flatten() {
                    lines.push(format!("scorer {}", s.as_str().unwrap_or_default()));
                }
                lines.join("\n")
            });
            Ok(())
        }
    }
}
