//! `want node --config FILE`: runs one node from a configuration file (see nodefile.rs), as a
//! member of a cluster when the file has a `[node.cluster]` section.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use want_node::Node;

use crate::nodefile::{self, LoadedConfig};
use crate::output::{CliError, Out};
use crate::serve::{self, node_err};

#[derive(Args)]
pub struct NodeArgs {
    /// The node's configuration file (as `want init` writes it).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: NodeArgs, out: &Out) -> anyhow::Result<()> {
    let cfg = nodefile::load_config(&args.config)?;
    let genesis = nodefile::load_genesis(&cfg.genesis_file)?;
    nodefile::check_config_matches_genesis(&cfg, &genesis)?;
    // A cluster member's key must already exist (and match the genesis): check before the
    // runtime starts or anything is written.
    let member_key = match cfg.node.cluster {
        Some(_) => {
            let key = nodefile::load_member_key(&cfg.node.data_dir)?;
            nodefile::check_member_key(&cfg, &genesis, &key)?;
            Some(key)
        }
        None => None,
    };
    serve::init_logging();
    serve::runtime()?.block_on(run_node(cfg, genesis, member_key, out))
}

async fn run_node(
    cfg: LoadedConfig,
    genesis: want_node::Genesis,
    member_key: Option<want_crypto::NodeKey>,
    out: &Out,
) -> anyhow::Result<()> {
    // Bind first: a taken port is reported before the data directory is touched.
    let (listener, http) = serve::bind(cfg.node.http_addr).await.map_err(|e| {
        let e = CliError::from_anyhow(e);
        if e.code == "address_in_use" {
            CliError::new(
                e.code,
                format!(
                    "{}: node.http_addr {} is already in use (is another node running?)",
                    cfg.path.display(),
                    cfg.node.http_addr
                ),
            )
        } else {
            e
        }
    })?;
    let member_addr = cfg.node.cluster.as_ref().and_then(|c| c.member_addr);
    let member_listener = match member_addr {
        Some(addr) => Some(serve::bind(addr).await.map_err(|e| {
            let e = CliError::from_anyhow(e);
            if e.code == "address_in_use" {
                CliError::new(
                    e.code,
                    format!(
                        "{}: node.cluster.member_addr {addr} is already in use (is another node running?)",
                        cfg.path.display(),
                    ),
                )
            } else {
                e
            }
        })?),
        None => None,
    };
    let data_dir = cfg.node.data_dir.clone();
    let node_key = match member_key {
        Some(k) => k,
        None => want_node::load_or_create_node_key(&data_dir).map_err(node_err)?,
    };
    let raft_id = cfg.node.cluster.as_ref().map(|c| c.node_id);
    let members = genesis.members.len();
    let node = Node::start(cfg.node.clone(), genesis, node_key)
        .await
        .map_err(node_err)?;
    let status = node.consensus_status();
    let head = node.shared.store.head().map_err(|e| node_err(e.into()))?;
    let v = json!({
        "http": format!("http://{http}"),
        "url": cfg.url(),
        "member_url": cfg.member_url(),
        "config": cfg.path,
        "data_dir": data_dir,
        "chain_id": node.shared.params.chain_id,
        "node_id": status.node_id,
        "raft_id": raft_id,
        "members": members,
        "height": head.height,
    });
    out.value(&v, |v| {
        let role = match raft_id {
            Some(id) => format!("member {id} of a {members}-member cluster"),
            None => "a single-node chain".to_string(),
        };
        format!(
            "WANT node of chain {} is running as {role}\n  HTTP     {}{}\n  config   {}\n  data     {}\n  height   {}\n  Ctrl-C or SIGTERM stops the node.",
            v["chain_id"],
            v["http"].as_str().unwrap_or_default(),
            match &member_listener {
                Some((_, addr)) => {
                    let tls = cfg.node.cluster.as_ref().is_some_and(|c| c.member_tls());
                    let scheme = if tls { "https" } else { "http" };
                    format!("\n  members  {scheme}://{addr}")
                }
                None => String::new(),
            },
            cfg.path.display(),
            data_dir.display(),
            v["height"],
        )
    });
    serve::serve_until_signal(listener, member_listener.map(|(l, _)| l), node).await
}
