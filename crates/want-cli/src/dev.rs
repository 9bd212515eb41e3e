//! `want dev`: a single-node development chain on embedded defaults.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use want_node::config::{dev_private_key, dev_reporter_key, DEFAULT_HTTP_ADDR, DEV_REPORTERS};
use want_node::{Genesis, Node, NodeConfig};

use crate::output::{CliError, Out};
use crate::serve::{self, node_err};

/// Name of the file in the data directory that holds the development account's private key.
pub const DEV_KEY_FILE: &str = "dev-key.hex";
/// The file in the data directory holding the development chain's price reporter key `i`
/// (1 to 3; the dev account is a reporter too): `dev-reporter-<i>.hex`.
pub fn dev_reporter_key_file(i: u8) -> String {
    format!("dev-reporter-{i}.hex")
}
/// The capture token `want dev` writes when it listens on a non-loopback address.
pub const DEV_CAPTURE_TOKEN_FILE: &str = "capture-token";

#[derive(Args)]
pub struct DevArgs {
    /// Data directory; reused (same chain) if it exists.
    #[arg(long, default_value = "want-dev-data")]
    data_dir: PathBuf,
    /// HTTP listen address.
    #[arg(long = "http", default_value = DEFAULT_HTTP_ADDR, value_parser = crate::parse_socket_addr)]
    http: std::net::SocketAddr,
    /// Block interval in milliseconds.
    #[arg(long)]
    block_interval_ms: Option<u64>,
    /// Most transactions in one block.
    #[arg(long)]
    block_txs_max: Option<usize>,
    /// Most transactions waiting in the mempool.
    #[arg(long)]
    mempool_txs_max: Option<usize>,
    /// Produce blocks even when there is nothing to include.
    #[arg(long)]
    empty_blocks: bool,
}

pub fn run(args: DevArgs, out: &Out) -> anyhow::Result<()> {
    serve::init_logging();
    let mut cfg = NodeConfig::dev(args.data_dir.clone(), args.http);
    if let Some(v) = args.block_interval_ms {
        cfg.block_interval_ms = v;
    }
    if let Some(v) = args.block_txs_max {
        cfg.block_txs_max = v;
    }
    if let Some(v) = args.mempool_txs_max {
        cfg.mempool_txs_max = v;
    }
    cfg.empty_blocks = args.empty_blocks;
    cfg.validate()
        .map_err(|e| CliError::new("invalid_config", e))?;
    serve::runtime()?.block_on(run_node(cfg, out))
}

async fn run_node(cfg: NodeConfig, out: &Out) -> anyhow::Result<()> {
    // Bind first: a taken port is reported before the data directory is touched.
    let (listener, http) = serve::bind(cfg.http_addr).await?;
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
        CliError::new(
            "data_dir",
            format!("cannot create {}: {e}", cfg.data_dir.display()),
        )
    })?;
    let node_key = want_node::load_or_create_node_key(&cfg.data_dir).map_err(node_err)?;
    let dev_key = dev_private_key();
    // The dev account is also the development organisation's key: captures through
    // POST /v1/epcis/capture are signed with it.
    let dev_key_file = cfg.data_dir.join(DEV_KEY_FILE);
    want_node::write_secret_file(&dev_key_file, &dev_key.to_hex()).map_err(node_err)?;
    // Three more price reporters of the dev chain's genesis (with the dev account, a rate of
    // three reports can be made at once), their public keys written beside the dev key.
    let mut reporter_files = Vec::new();
    for i in 1..=DEV_REPORTERS {
        let path = cfg.data_dir.join(dev_reporter_key_file(i));
        want_node::write_secret_file(&path, &dev_reporter_key(i).to_hex()).map_err(node_err)?;
        reporter_files.push(path);
    }
    let mut cfg = cfg;
    // On a loopback address capture needs no token; reachable from elsewhere it needs one (the
    // node refuses to start otherwise): a random one, written beside the key and printed.
    let token_file = if cfg.http_addr.ip().is_loopback() {
        None
    } else {
        let path = cfg.data_dir.join(DEV_CAPTURE_TOKEN_FILE);
        if !path.exists() {
            let token = want_crypto::PrivateKey::generate().to_hex();
            want_node::write_secret_file(&path, &token).map_err(node_err)?;
        }
        Some(path)
    };
    cfg.capture = Some(want_node::trace::capture::CaptureConfig {
        org: want_node::config::DEV_ORG.to_string(),
        key_file: dev_key_file,
        token_file: token_file.clone(),
        publish_non_gs1_places: false,
        confirm_orders: false,
    });
    let data_dir = cfg.data_dir.clone();
    // A data directory of an older build holds the dev chain of that build's genesis: without
    // its credit section (before the credit module), or also without its commerce section
    // (before prices). Go on with that chain rather than refuse it.
    let wrong_chain = |r: &Result<Node, want_node::NodeError>| {
        matches!(
            r,
            Err(want_node::NodeError::Storage(
                want_storage::StorageError::WrongChain { .. }
            ))
        )
    };
    let mut started = Node::start(cfg.clone(), Genesis::dev(), node_key.clone()).await;
    if wrong_chain(&started) {
        started = Node::start(cfg.clone(), Genesis::dev_before_credit(), node_key.clone()).await;
        if started.is_ok() {
            tracing::warn!("this data directory holds the dev chain of a build before the credit module: no scorers or default model; start with a new --data-dir to have them");
        }
    }
    if wrong_chain(&started) {
        started = Node::start(cfg, Genesis::dev_before_prices(), node_key).await;
        if started.is_ok() {
            tracing::warn!("this data directory holds the dev chain of an older build, without price reporters or scorers; start with a new --data-dir to have them");
        }
    }
    let node = started.map_err(node_err)?;
    let status = node.consensus_status();
    let head = node.shared.store.head().map_err(|e| node_err(e.into()))?;
    let v = json!({
        "http": format!("http://{http}"),
        "data_dir": data_dir,
        "chain_id": node.shared.params.chain_id,
        "node_id": status.node_id,
        "height": head.height,
        "dev_address": dev_key.address(),
        "dev_private_key": dev_key.to_hex(),
        "dev_key_file": data_dir.join(DEV_KEY_FILE),
        "capture_token_file": token_file,
        "dev_reporter_key_files": reporter_files,
    });
    let capture_note = match &token_file {
        Some(p) => format!(
            "\n  capture      POST /v1/epcis/capture needs `Authorization: Bearer <token>` (the token is in {})",
            p.display()
        ),
        None => String::new(),
    };
    out.value(&v, |v| {
        format!(
            "WANT development chain {} is running\n  HTTP         {}\n  data         {}\n  height       {}\n  dev account  {}\n  dev key      {} (also in {}){capture_note}\n  reporters    the dev account and the keys in {}\n  The dev key is public: never use it for real value. Ctrl-C stops the node.",
            v["chain_id"],
            v["http"].as_str().unwrap_or_default(),
            data_dir.display(),
            v["height"],
            v["dev_address"].as_str().unwrap_or_default(),
            v["dev_private_key"].as_str().unwrap_or_default(),
            data_dir.join(DEV_KEY_FILE).display(),
            data_dir.join("dev-reporter-{1,2,3}.hex").display()
        )
    });
    serve::serve_until_signal(listener, None, node).await
}
