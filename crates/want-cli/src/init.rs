//! `want init`: the files of a new N-node cluster — one Ed25519 node key per node, the genesis
//! naming them as members, one configuration file per node and the dev account's key.
//!
//! ```text
//! DIR/genesis.json          Genesis::dev() with members [{id: K, public_key, url}]
//! DIR/dev-key.hex           the dev account's private key (as `want dev` writes it)
//! DIR/nodeK.toml            node K's configuration (see nodefile.rs)
//! DIR/nodeK/data/node-key.hex   node K's key (0600)
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use want_crypto::NodeKey;
use want_node::config::{dev_private_key, GenesisMember};
use want_node::kernel::node::NODE_KEY_FILE;
use want_node::write_secret_file;
use want_node::Genesis;

use crate::dev::DEV_KEY_FILE;
use crate::output::{CliError, Out};
use crate::serve::node_err;

/// Name of the genesis file in a cluster directory.
pub const GENESIS_FILE: &str = "genesis.json";
/// Most nodes `want init` creates (the most members a cluster may have).
pub const INIT_NODES_MAX: u16 = want_node::config::CLUSTER_MEMBERS_MAX as u16;

#[derive(Args)]
pub struct InitArgs {
    /// Number of nodes (1 to 64).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=INIT_NODES_MAX as i64))]
    nodes: u16,
    /// Directory to write the cluster into; must not already hold one.
    #[arg(long)]
    out: PathBuf,
    /// HTTP port of node 1; node K gets base-port + K - 1. Without it, free ports are picked.
    #[arg(long)]
    base_port: Option<u16>,
    /// Host (IP or name) the nodes are reached at: one for all, or one per node separated by
    /// commas (node 1 first). Nodes named by a host name listen on 0.0.0.0.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
}

/// Path of node `id`'s configuration file in a cluster directory.
pub fn config_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("node{id}.toml"))
}

/// Node `id`'s directory (its data directory and log live below it).
pub fn node_dir(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("node{id}"))
}

/// What `init_cluster` wrote.
pub struct InitReport {
    pub genesis: PathBuf,
    pub nodes: Vec<InitNode>,
}

pub struct InitNode {
    pub id: u64,
    pub config: PathBuf,
    pub http: String,
    pub public_key: String,
}

/// One node's host: the URL part and the address it listens on.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Host {
    fn parse(s: &str) -> Result<Host, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("--host has an empty entry".into());
        }
        let unbracketed = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        if s.eq_ignore_ascii_case("localhost") {
            return Ok(Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        }
        let valid = s.len() <= 253
            && s.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !valid {
            return Err(format!(
                "--host {s:?} is not an IP address or host name (give it without scheme or port; ports come from --base-port)"
            ));
        }
        Ok(Host::Name(s.to_string()))
    }

    /// Address the node listens on: the IP itself, or every interface for a host name.
    fn listen(&self, port: u16) -> SocketAddr {
        match self {
            Host::Ip(ip) => SocketAddr::new(*ip, port),
            Host::Name(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        }
    }

    fn url(&self, port: u16) -> String {
        match self {
            Host::Ip(ip) => format!("http://{}", SocketAddr::new(*ip, port)),
            Host::Name(n) => format!("http://{n}:{port}"),
        }
    }
}

fn invalid_args(message: String) -> anyhow::Error {
    CliError::new("invalid_arguments", message).into()
}

/// Parses `--host`: one host for every node, or exactly one per node.
fn parse_hosts(spec: &str, nodes: u16) -> anyhow::Result<Vec<Host>> {
    let hosts = spec
        .split(',')
        .map(Host::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid_args)?;
    match hosts.len() {
        1 => Ok(vec![hosts[0].clone(); nodes as usize]),
        n if n == nodes as usize => Ok(hosts),
        n => Err(invalid_args(format!(
            "--host names {n} hosts for {nodes} nodes; give one host for all or one per node"
        ))),
    }
}

/// Ports of nodes 1..=N: consecutive from `base`, or free ones found by binding 127.0.0.1:0.
fn pick_ports(nodes: u16, base: Option<u16>) -> anyhow::Result<Vec<u16>> {
    match base {
        Some(0) => Err(invalid_args("--base-port must be at least 1".into())),
        Some(b) => {
            let last = u32::from(b) + u32::from(nodes) - 1;
            if last > u32::from(u16::MAX) {
                return Err(invalid_args(format!(
                    "--base-port {b} with {nodes} nodes needs ports up to {last}, above 65535"
                )));
            }
            Ok((0..nodes).map(|k| b + k).collect())
        }
        None => {
            // Hold every listener until all are bound so that the ports are distinct.
            let listeners = (0..nodes)
                .map(|_| std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    CliError::new("no_free_port", format!("cannot find a free port: {e}"))
                })?;
            listeners
                .iter()
                .map(|l| {
                    l.local_addr().map(|a| a.port()).map_err(|e| {
                        CliError::new("no_free_port", format!("cannot find a free port: {e}"))
                            .into()
                    })
                })
                .collect()
        }
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    CliError::new(
        "write_failed",
        format!("cannot write {}: {e}", path.display()),
    )
    .into()
}

/// Writes a new cluster of `nodes` nodes into `out`. Refuses a directory that already holds any
/// of the files it would write.
pub fn init_cluster(
    nodes: u16,
    out: &Path,
    base_port: Option<u16>,
    host: &str,
) -> anyhow::Result<InitReport> {
    if nodes == 0 || nodes > INIT_NODES_MAX {
        return Err(invalid_args(format!(
            "--nodes must be between 1 and {INIT_NODES_MAX} (got {nodes})"
        )));
    }
    let hosts = parse_hosts(host, nodes)?;
    let ports = pick_ports(nodes, base_port)?;

    let mut taken: Vec<PathBuf> = vec![out.join(GENESIS_FILE), out.join(DEV_KEY_FILE)];
    for id in 1..=u64::from(nodes) {
        taken.push(config_path(out, id));
        taken.push(node_dir(out, id));
    }
    if let Some(p) = taken.iter().find(|p| p.symlink_metadata().is_ok()) {
        let what = if out.join(GENESIS_FILE).exists() {
            "already holds a cluster"
        } else {
            "is not empty"
        };
        return Err(CliError::new(
            "cluster_exists",
            format!(
                "{} {what} ({} exists); choose another --out or remove it",
                out.display(),
                p.display()
            ),
        )
        .into());
    }
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let out = out.canonicalize().map_err(|e| io_err(out, e))?;

    let mut genesis = Genesis::dev();
    let mut report = Vec::with_capacity(nodes as usize);
    let mut configs = Vec::with_capacity(nodes as usize);
    for (i, (host, port)) in hosts.iter().zip(&ports).enumerate() {
        let id = i as u64 + 1;
        let key = NodeKey::generate();
        let data_dir = node_dir(&out, id).join("data");
        std::fs::create_dir_all(&data_dir).map_err(|e| io_err(&data_dir, e))?;
        write_secret_file(&data_dir.join(NODE_KEY_FILE), &key.to_hex()).map_err(node_err)?;
        let public_key = hex::encode(key.public_key());
        let url = host.url(*port);
        genesis.members.push(GenesisMember {
            id,
            public_key: public_key.clone(),
            url: url.clone(),
        });
        let text = format!(
            "# Node {id} of a {nodes}-node WANT cluster, written by `want init`.\n\
             # Run it with: want node --config {file}\n\
             # Relative paths are resolved against this file's directory. Optional [node] tunables:\n\
             # block_interval_ms, block_txs_max, mempool_txs_max, mempool_nonce_window,\n\
             # mempool_sender_txs_max, commit_wait_timeout_ms, empty_blocks.\n\
             genesis_file = {genesis}\n\
             \n\
             [node]\n\
             data_dir = {data}\n\
             http_addr = {http}\n\
             \n\
             [node.cluster]\n\
             node_id = {id}\n\
             advertise_url = {url_s}\n",
            file = format_args!("node{id}.toml"),
            genesis = toml_str(GENESIS_FILE),
            data = toml_str(&format!("node{id}/data")),
            http = toml_str(&host.listen(*port).to_string()),
            url_s = toml_str(&url),
        );
        let config = config_path(&out, id);
        configs.push((config.clone(), text));
        report.push(InitNode {
            id,
            config,
            http: url,
            public_key,
        });
    }
    genesis
        .validate_members()
        .map_err(|e| CliError::new("invalid_genesis", e))?;
    for (path, text) in &configs {
        std::fs::write(path, text).map_err(|e| io_err(path, e))?;
    }
    let dev_key_file = out.join(DEV_KEY_FILE);
    write_secret_file(&dev_key_file, &dev_private_key().to_hex()).map_err(node_err)?;
    // The genesis last: a directory with a genesis is a complete cluster.
    let genesis_path = out.join(GENESIS_FILE);
    let json = serde_json::to_string_pretty(&genesis)
        .map_err(|e| CliError::new("invalid_genesis", e.to_string()))?;
    std::fs::write(&genesis_path, format!("{json}\n")).map_err(|e| io_err(&genesis_path, e))?;
    Ok(InitReport {
        genesis: genesis_path,
        nodes: report,
    })
}

pub fn run(args: InitArgs, out: &Out) -> anyhow::Result<()> {
    let report = init_cluster(args.nodes, &args.out, args.base_port, &args.host)?;
    let v = json!({
        "genesis": report.genesis,
        "nodes": report.nodes.iter().map(|n| json!({
            "id": n.id,
            "config": n.config,
            "http": n.http,
            "public_key": n.public_key,
        })).collect::<Vec<_>>(),
    });
    out.value(&v, |_| {
        let dir = report.genesis.parent().unwrap_or(Path::new("."));
        let mut s = format!(
            "A {}-node WANT cluster was written to {}\n  genesis  {}\n  dev key  {} (public: never hold real value with it)\n",
            report.nodes.len(),
            dir.display(),
            report.genesis.display(),
            dir.join(DEV_KEY_FILE).display()
        );
        for n in &report.nodes {
            s.push_str(&format!(
                "  node {:<3} {:<28} {}\n",
                n.id,
                n.http,
                n.config.display()
            ));
        }
        s.push_str(&format!(
            "Start it with `want cluster up --data-dir {d}`, or each node with `want node --config {d}/nodeK.toml`.",
            d = dir.display()
        ));
        s
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_serves_every_node_and_a_list_names_each() {
        let hosts = parse_hosts("10.0.0.1", 3).unwrap();
        assert_eq!(hosts.len(), 3);
        let hosts = parse_hosts("10.0.0.1,b.example,[::1]", 3).unwrap();
        assert_eq!(hosts[0].url(8545), "http://10.0.0.1:8545");
        assert_eq!(hosts[0].listen(8545).to_string(), "10.0.0.1:8545");
        assert_eq!(hosts[1].url(8546), "http://b.example:8546");
        assert_eq!(hosts[1].listen(8546).to_string(), "0.0.0.0:8546");
        assert_eq!(hosts[2].url(8547), "http://[::1]:8547");
        assert!(parse_hosts("a,b", 3).is_err());
    }

    #[test]
    fn hosts_with_scheme_or_port_are_refused() {
        assert!(parse_hosts("http://10.0.0.1", 1).is_err());
        assert!(parse_hosts("10.0.0.1:80", 1).is_err());
        assert!(parse_hosts("", 1).is_err());
    }

    #[test]
    fn base_port_gives_consecutive_ports_and_overflow_is_refused() {
        assert_eq!(pick_ports(3, Some(9000)).unwrap(), vec![9000, 9001, 9002]);
        assert!(pick_ports(3, Some(65534)).is_err());
        assert!(pick_ports(1, Some(0)).is_err());
        let free = pick_ports(5, None).unwrap();
        let distinct: std::collections::BTreeSet<_> = free.iter().collect();
        assert_eq!(distinct.len(), 5);
    }
}
