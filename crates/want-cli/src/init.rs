//! `want init`: the files of a new N-node chain — one Ed25519 node key per node, the genesis
//! naming them as members, one configuration file per node — owned by its operator: a chain id
//! of its own (random by default), the allocations and the administrator the operator names
//! (`--alloc`, `--admin`, `--genesis-template`), and a fresh operator key holding whatever they
//! leave unnamed. `want cluster up` writes its local development clusters with the same code,
//! from the development genesis and its published key ([`ChainSpec::Dev`]).
//!
//! ```text
//! DIR/genesis.json              the genesis, members [{id: K, public_key, url}]
//! DIR/operator-key.hex          the fresh operator key, when one was needed (0600)
//! DIR/dev-key.hex               development clusters only: the dev account's key
//! DIR/nodeK.toml                node K's configuration (see nodefile.rs)
//! DIR/nodeK/data/node-key.hex   node K's key (0600)
//! ```

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::Args;
use rand::Rng;
use serde_json::{json, Value};
use want_crypto::{NodeKey, PrivateKey};
use want_node::config::{dev_private_key, Allocation, GenesisMember, DEV_CHAIN_ID};
use want_node::kernel::node::NODE_KEY_FILE;
use want_node::write_secret_file;
use want_node::Genesis;
use want_types::amount::{format_want, parse_want, TOTAL_SUPPLY};
use want_types::{Address, Amount};

use crate::dev::DEV_KEY_FILE;
use crate::output::{CliError, Out};
use crate::serve::node_err;

/// Name of the genesis file in a cluster directory.
pub const GENESIS_FILE: &str = "genesis.json";
/// Name of the fresh operator key's file in a cluster directory.
pub const OPERATOR_KEY_FILE: &str = "operator-key.hex";
/// Most nodes `want init` creates (the most members a cluster may have).
pub const INIT_NODES_MAX: u16 = want_node::config::CLUSTER_MEMBERS_MAX as u16;
/// A random chain id is drawn below 2^53: the API's JSON carries the chain id as a number, and
/// JavaScript wallets read numbers exactly only up to 2^53.
pub const RANDOM_CHAIN_ID_END: u64 = 1 << 53;
/// The module whose genesis section names the administrator (`genesis.trace.admin`).
const ADMIN_SECTION: &str = "trace";
/// What `--alloc ADDR=rest` means: what the other allocations leave of the total supply.
const ALLOC_REST: &str = "rest";

#[derive(Args)]
pub struct InitArgs {
    /// Number of nodes (1 to 64).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=INIT_NODES_MAX as i64))]
    nodes: u16,
    /// Directory to write the cluster into; must not already hold one.
    #[arg(long)]
    out: PathBuf,
    /// HTTP port of node 1; node K gets base-port + K - 1, and its member port (where the
    /// other members reach it) base-port + N + K - 1 for N nodes. Without it, free ports are
    /// picked.
    #[arg(long)]
    base_port: Option<u16>,
    /// Host (IP or name) the nodes are reached at: one for all, or one per node separated by
    /// commas (node 1 first). Nodes named by a host name listen on 0.0.0.0.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The chain's id (default: the template's, else random below 2^53). A transaction signed
    /// for one chain id is refused by every other chain; the development chain's id is refused.
    #[arg(long, value_name = "ID")]
    chain_id: Option<u64>,
    /// A genesis allocation: an address and WANT with up to 6 decimals (as `want tx transfer
    /// --amount`), or `rest` for what the other allocations leave. Repeat it; together they must
    /// give exactly the total supply (1,000,000,000,000,000 WANT). Replaces the template's.
    #[arg(long = "alloc", value_name = "ADDR=AMOUNT")]
    allocs: Vec<String>,
    /// The administrator, who registers organisations and their keys (genesis `trace.admin`).
    #[arg(long, value_name = "ADDR")]
    admin: Option<String>,
    /// A genesis JSON to start from (params, genesis_time_ms, allocations, module sections,
    /// activations; what it leaves out gets the defaults). Its members are replaced by the
    /// generated nodes; --chain-id, --alloc and --admin override it.
    #[arg(long, value_name = "FILE")]
    genesis_template: Option<PathBuf>,
    /// Members talk over TLS: their member URLs are `https://`, each node presents a
    /// certificate of its node key and accepts only the current members' keys (the public API
    /// stays plain HTTP). All members of a chain must agree on it.
    #[arg(long)]
    member_tls: bool,
}

/// Whose chain [`init_cluster`] writes.
pub enum ChainSpec {
    /// A local development cluster (`want cluster up`, the cluster benchmark): the development
    /// genesis — its chain id, the whole supply and every role held by the published dev key,
    /// which is written to DIR/dev-key.hex.
    Dev,
    /// An operator's chain: its genesis (the members are added) and, when the operator named no
    /// owner of the supply or no administrator, the fresh key that is them.
    Own {
        genesis: Box<Genesis>,
        operator_key: Option<PrivateKey>,
    },
}

/// The owner of an operator's chain, as `want init` is told it.
#[derive(Default)]
pub struct Ownership<'a> {
    pub chain_id: Option<u64>,
    pub allocs: &'a [String],
    pub admin: Option<&'a str>,
    pub template: Option<&'a Path>,
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
    pub chain_id: u64,
    /// Hash of the genesis block (`genesis_hash` in every node's `GET /v1/status`).
    pub genesis_hash: want_types::Hash32,
    /// The account key written into the directory (the operator's or the dev key), if any.
    pub key: Option<InitKey>,
    pub nodes: Vec<InitNode>,
}

/// An account key `init_cluster` wrote, and what the genesis gives it.
pub struct InitKey {
    pub file: PathBuf,
    pub address: Address,
    /// Its genesis allocation, in base units.
    pub allocation: Amount,
    /// Whether it is the administrator (`genesis.trace.admin`).
    pub admin: bool,
}

impl InitKey {
    /// "the whole supply and the administrator role", for people.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        match self.allocation {
            0 => {}
            TOTAL_SUPPLY => parts.push("the whole supply".to_string()),
            a => parts.push(format!("{} WANT", format_want(a))),
        }
        if self.admin {
            parts.push("the administrator role".to_string());
        }
        if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join(" and ")
        }
    }
}

pub struct InitNode {
    pub id: u64,
    pub config: PathBuf,
    pub http: String,
    /// Where the other members reach it (its member listener), as the genesis names it.
    pub member_url: String,
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
        // A name whose last label is a number (`1.2.3`, `999.1.1.1`, `a.0x1f`) is read as an
        // IPv4 address by URL parsers and resolvers, and it is not a valid one: no top-level
        // domain is numeric.
        let last = s.rsplit('.').next().unwrap_or(s);
        let numeric = last.chars().all(|c| c.is_ascii_digit())
            || last
                .strip_prefix("0x")
                .or_else(|| last.strip_prefix("0X"))
                .is_some_and(|hex| hex.chars().all(|c| c.is_ascii_hexdigit()));
        if numeric {
            return Err(format!(
                "--host {s:?} ends in a number, so it is neither a valid IPv4 address nor a host name (write the IP address in full, like 10.0.0.7, or a name like node1.example)"
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

    /// [`Host::url`] over TLS (a member listener of `--member-tls`).
    fn tls_url(&self, port: u16) -> String {
        format!("https{}", self.url(port).trim_start_matches("http"))
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

/// `nodes` ports: consecutive from `base`, or free ones found by binding 127.0.0.1:0.
fn pick_ports(nodes: u16, base: Option<u16>) -> anyhow::Result<Vec<u16>> {
    match base {
        Some(0) => Err(invalid_args("--base-port must be at least 1".into())),
        Some(b) => {
            let last = u32::from(b) + u32::from(nodes) - 1;
            if last > u32::from(u16::MAX) {
                return Err(invalid_args(format!(
                    "--base-port {b} needs {nodes} ports (an API and a member port per node), up to {last}, above 65535"
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

fn invalid_genesis(message: String) -> anyhow::Error {
    CliError::new("invalid_genesis", message).into()
}

fn invalid_allocations(message: String) -> anyhow::Error {
    CliError::new("invalid_allocations", message).into()
}

/// A chain id drawn at random below [`RANDOM_CHAIN_ID_END`], never the development chain's.
pub fn random_chain_id() -> u64 {
    let mut rng = rand::thread_rng();
    loop {
        let id = rng.gen_range(1..RANDOM_CHAIN_ID_END);
        if id != DEV_CHAIN_ID {
            return id;
        }
    }
}

/// The genesis an operator's chain starts from: the defaults (the network's parameters, the
/// time now, no allocations, no sections) with the template's members laid over them (its
/// `params` member by member). Also says whether the template names a chain id.
fn template_genesis(template: Option<&Path>) -> anyhow::Result<(Genesis, bool)> {
    let mut defaults = Genesis::dev();
    defaults.genesis_time_ms = want_node::now_ms();
    defaults.allocations.clear();
    defaults.sections.clear();
    let Some(path) = template else {
        return Ok((defaults, false));
    };
    let text = crate::read_text_file(path, crate::nodefile::GENESIS_BYTES_MAX)?;
    let at = |e: &dyn std::fmt::Display| {
        invalid_genesis(format!(
            "--genesis-template {}: {e}; give a genesis JSON object (as `want init` writes genesis.json)",
            path.display()
        ))
    };
    let Value::Object(template) = serde_json::from_str::<Value>(&text).map_err(|e| at(&e))? else {
        return Err(at(&"not a JSON object"));
    };
    let mut merged = serde_json::to_value(&defaults).map_err(|e| at(&e))?;
    let mut chain_id_given = false;
    for (name, value) in template {
        match value {
            Value::Object(params) if name == "params" => {
                chain_id_given = params.contains_key("chain_id");
                if let Some(Value::Object(base)) = merged.get_mut("params") {
                    base.extend(params);
                }
            }
            value => merged[name.as_str()] = value,
        }
    }
    let genesis: Genesis = serde_path_to_error::deserialize(merged).map_err(|e| {
        invalid_genesis(format!(
            "--genesis-template {} at `{}`: {}",
            path.display(),
            e.path(),
            e.inner()
        ))
    })?;
    Ok((genesis, chain_id_given))
}

/// One `--alloc ADDR=AMOUNT`: an amount, or what the others leave.
fn parse_alloc(spec: &str) -> anyhow::Result<(Address, Option<Amount>)> {
    let Some((address, amount)) = spec.split_once('=') else {
        return Err(CliError::new(
            "invalid_arguments",
            format!(
                "--alloc {spec:?} is not ADDR=AMOUNT; give an address, '=' and WANT with up to 6 decimals or `{ALLOC_REST}`, e.g. --alloc T…=1000"
            ),
        )
        .into());
    };
    let address: Address = address
        .trim()
        .parse()
        .map_err(|e| CliError::new("invalid_address", format!("--alloc {spec:?}: {e}")))?;
    if amount.trim() == ALLOC_REST {
        return Ok((address, None));
    }
    let amount = parse_want(amount).map_err(|e| {
        CliError::new(
            "invalid_amount",
            format!(
                "--alloc {spec:?}: {e}; give WANT with up to 6 decimals (e.g. 12.5) or `{ALLOC_REST}`"
            ),
        )
    })?;
    if amount == 0 {
        return Err(CliError::new(
            "invalid_amount",
            format!("--alloc {spec:?} allocates nothing; leave it out"),
        )
        .into());
    }
    Ok((address, Some(amount)))
}

/// The allocations of `--alloc`, with `rest` resolved; each address once, at most one `rest`.
fn parse_allocs(specs: &[String]) -> anyhow::Result<Vec<Allocation>> {
    let mut parsed = Vec::with_capacity(specs.len());
    let mut rest: Option<usize> = None;
    for (i, spec) in specs.iter().enumerate() {
        let (address, amount) = parse_alloc(spec)?;
        if amount.is_none() {
            if let Some(first) = rest {
                return Err(invalid_allocations(format!(
                    "--alloc {:?} and --alloc {spec:?} both ask for the rest; only one account can have it",
                    specs[first]
                )));
            }
            rest = Some(i);
        }
        parsed.push((address, amount));
    }
    let mut given: Amount = 0;
    for (_, amount) in &parsed {
        given = given
            .checked_add(amount.unwrap_or(0))
            .ok_or_else(|| invalid_allocations(format!("--alloc amounts overflow; together they must give exactly the total supply, {} WANT", format_want(TOTAL_SUPPLY))))?;
    }
    let allocations: Vec<Allocation> = parsed
        .into_iter()
        .map(|(address, amount)| {
            let amount = match amount {
                Some(a) => Ok(a),
                None if given < TOTAL_SUPPLY => Ok(TOTAL_SUPPLY - given),
                None => Err(invalid_allocations(format!(
                    "--alloc {address}={ALLOC_REST}: the other allocations already give {} WANT, the whole supply; nothing is left for it",
                    format_want(given)
                ))),
            }?;
            Ok(Allocation { address, amount })
        })
        .collect::<anyhow::Result<_>>()?;
    check_allocations(&allocations, "--alloc")?;
    Ok(allocations)
}

/// Each address once, and exactly the total supply: nothing is minted after the genesis.
fn check_allocations(allocations: &[Allocation], source: &str) -> anyhow::Result<()> {
    let mut seen = BTreeSet::new();
    let mut total: Amount = 0;
    for a in allocations {
        if !seen.insert(a.address) {
            return Err(invalid_allocations(format!(
                "{source} allocates to {} twice; give each account one allocation (the sum of its amounts)",
                a.address
            )));
        }
        total = total.checked_add(a.amount).unwrap_or(Amount::MAX);
    }
    if total != TOTAL_SUPPLY {
        let (how, diff) = if total < TOTAL_SUPPLY {
            ("short of", TOTAL_SUPPLY - total)
        } else {
            ("above", total - TOTAL_SUPPLY)
        };
        return Err(invalid_allocations(format!(
            "{source} gives {} WANT in all, {} WANT {how} the total supply of {} WANT; the genesis allocates exactly the whole supply (nothing is minted later): change an amount, or give one account the rest (--alloc ADDR={ALLOC_REST})",
            format_want(total),
            format_want(diff),
            format_want(TOTAL_SUPPLY)
        )));
    }
    Ok(())
}

/// The administrator the genesis names, if any (`genesis.trace.admin`).
fn admin_of(genesis: &Genesis) -> anyhow::Result<Option<Address>> {
    let trace = want_state::trace::genesis::parse(genesis.sections.get(ADMIN_SECTION))
        .map_err(|e| invalid_genesis(format!("the genesis' {ADMIN_SECTION} section: {e}")))?;
    Ok(trace.admin)
}

fn set_admin(genesis: &mut Genesis, admin: Address) -> anyhow::Result<()> {
    let mut trace = want_state::trace::genesis::parse(genesis.sections.get(ADMIN_SECTION))
        .map_err(|e| invalid_genesis(format!("the genesis' {ADMIN_SECTION} section: {e}")))?;
    trace.admin = Some(admin);
    genesis.set_section(ADMIN_SECTION, &trace);
    Ok(())
}

/// The genesis of an operator's chain (without members) from the template and the flags, and
/// the fresh operator key that holds the supply and the administrator role the operator did not
/// give to anyone. Refuses the development chain's id, malformed or duplicate allocations, a sum
/// other than the total supply, and anything that names the published development key.
pub fn own_chain(o: &Ownership<'_>) -> anyhow::Result<ChainSpec> {
    let (mut genesis, template_chain_id) = template_genesis(o.template)?;
    let (chain_id, source) = match o.chain_id {
        Some(id) => (id, "--chain-id".to_string()),
        None if template_chain_id => (
            genesis.params.chain_id,
            "the template's params.chain_id".to_string(),
        ),
        None => (random_chain_id(), String::new()),
    };
    if chain_id == DEV_CHAIN_ID {
        return Err(CliError::new(
            "invalid_arguments",
            format!(
                "{source} {chain_id} is the development chain's id: every transaction signed for a development chain would be valid on this chain too; choose another id, or leave --chain-id out for a random one"
            ),
        )
        .into());
    }
    genesis.params.chain_id = chain_id;
    genesis.members.clear();

    if o.allocs.is_empty() {
        if !genesis.allocations.is_empty() {
            check_allocations(&genesis.allocations, "the template's allocations")?;
        }
    } else {
        genesis.allocations = parse_allocs(o.allocs)?;
    }
    if let Some(admin) = o.admin {
        let admin: Address = admin
            .trim()
            .parse()
            .map_err(|e| CliError::new("invalid_address", format!("--admin {admin:?}: {e}")))?;
        set_admin(&mut genesis, admin)?;
    }

    // Whatever the operator left unnamed goes to a fresh key, never to the published one.
    let wants_admin = genesis
        .activations
        .active(ADMIN_SECTION, want_state::GENESIS_HEIGHT)
        && admin_of(&genesis)?.is_none();
    let operator_key = (genesis.allocations.is_empty() || wants_admin).then(PrivateKey::generate);
    if let Some(key) = &operator_key {
        if genesis.allocations.is_empty() {
            genesis.allocations = vec![Allocation {
                address: key.address(),
                amount: TOTAL_SUPPLY,
            }];
        }
        if wants_admin {
            set_admin(&mut genesis, key.address())?;
        }
    }

    let places = genesis.dev_key_mentions();
    if !places.is_empty() {
        return Err(CliError::new(
            "dev_key_in_genesis",
            format!(
                "the genesis would name the development key {} at {}; its private key is published (`want dev` prints it), so anyone could take this chain over. Name accounts of your own with --alloc and --admin (or in the template); the dev key belongs to `want dev` and `want cluster up` only",
                dev_private_key().address(),
                places.join(", ")
            ),
        )
        .into());
    }
    Ok(ChainSpec::Own {
        genesis: Box::new(genesis),
        operator_key,
    })
}

/// Writes a new cluster of `nodes` nodes of the chain `spec` into `out`. Refuses a directory
/// that already holds any of the files it would write, and a genesis that does not build (before
/// anything is written).
pub fn init_cluster(
    nodes: u16,
    out: &Path,
    base_port: Option<u16>,
    host: &str,
    spec: ChainSpec,
    member_tls: bool,
) -> anyhow::Result<InitReport> {
    if nodes == 0 || nodes > INIT_NODES_MAX {
        return Err(invalid_args(format!(
            "--nodes must be between 1 and {INIT_NODES_MAX} (got {nodes})"
        )));
    }
    let hosts = parse_hosts(host, nodes)?;
    // The API ports of nodes 1..=N, then their member ports.
    let mut ports = pick_ports(2 * nodes, base_port)?;
    let member_ports = ports.split_off(usize::from(nodes));
    let (mut genesis, account_key) = match spec {
        ChainSpec::Dev => (Genesis::dev(), Some((DEV_KEY_FILE, dev_private_key()))),
        ChainSpec::Own {
            genesis,
            operator_key,
        } => (*genesis, operator_key.map(|k| (OPERATOR_KEY_FILE, k))),
    };
    genesis.members.clear();
    genesis.build().map_err(invalid_genesis)?;

    let mut taken: Vec<PathBuf> = vec![
        out.join(GENESIS_FILE),
        out.join(DEV_KEY_FILE),
        out.join(OPERATOR_KEY_FILE),
    ];
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

    let mut report = Vec::with_capacity(nodes as usize);
    let mut configs = Vec::with_capacity(nodes as usize);
    for (i, ((host, port), member_port)) in hosts.iter().zip(&ports).zip(&member_ports).enumerate()
    {
        let id = i as u64 + 1;
        let key = NodeKey::generate();
        let data_dir = node_dir(&out, id).join("data");
        std::fs::create_dir_all(&data_dir).map_err(|e| io_err(&data_dir, e))?;
        write_secret_file(&data_dir.join(NODE_KEY_FILE), &key.to_hex()).map_err(node_err)?;
        let public_key = hex::encode(key.public_key());
        let url = if member_tls {
            host.tls_url(*member_port)
        } else {
            host.url(*member_port)
        };
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
             # Members reach each other on the member listener (member_addr) only; the API\n\
             # on http_addr refuses their messages. An https:// advertise_url: members talk\n\
             # over TLS there, each with a certificate of its node key.\n\
             [node.cluster]\n\
             node_id = {id}\n\
             member_addr = {member}\n\
             advertise_url = {url_s}\n",
            file = format_args!("node{id}.toml"),
            genesis = toml_str(GENESIS_FILE),
            data = toml_str(&format!("node{id}/data")),
            http = toml_str(&host.listen(*port).to_string()),
            member = toml_str(&host.listen(*member_port).to_string()),
            url_s = toml_str(&url),
        );
        let config = config_path(&out, id);
        configs.push((config.clone(), text));
        report.push(InitNode {
            id,
            config,
            http: host.url(*port),
            member_url: url,
            public_key,
        });
    }
    genesis
        .validate_members()
        .map_err(|e| CliError::new("invalid_genesis", e))?;
    for (path, text) in &configs {
        std::fs::write(path, text).map_err(|e| io_err(path, e))?;
    }
    let (genesis_block, _, _) = genesis.build().map_err(invalid_genesis)?;
    let key = match account_key {
        Some((name, key)) => {
            let file = out.join(name);
            write_secret_file(&file, &key.to_hex()).map_err(node_err)?;
            let address = key.address();
            Some(InitKey {
                file,
                address,
                allocation: genesis
                    .allocations
                    .iter()
                    .filter(|a| a.address == address)
                    .map(|a| a.amount)
                    .sum(),
                admin: admin_of(&genesis)? == Some(address),
            })
        }
        None => None,
    };
    // The genesis last: a directory with a genesis is a complete cluster.
    let genesis_path = out.join(GENESIS_FILE);
    let json = serde_json::to_string_pretty(&genesis)
        .map_err(|e| CliError::new("invalid_genesis", e.to_string()))?;
    std::fs::write(&genesis_path, format!("{json}\n")).map_err(|e| io_err(&genesis_path, e))?;
    Ok(InitReport {
        genesis: genesis_path,
        chain_id: genesis.params.chain_id,
        genesis_hash: genesis_block.hash(),
        key,
        nodes: report,
    })
}

pub fn run(args: InitArgs, out: &Out) -> anyhow::Result<()> {
    let spec = own_chain(&Ownership {
        chain_id: args.chain_id,
        allocs: &args.allocs,
        admin: args.admin.as_deref(),
        template: args.genesis_template.as_deref(),
    })?;
    let report = init_cluster(
        args.nodes,
        &args.out,
        args.base_port,
        &args.host,
        spec,
        args.member_tls,
    )?;
    let v = json!({
        "chain_id": report.chain_id,
        "genesis": report.genesis,
        "genesis_hash": report.genesis_hash,
        "operator": report.key.as_ref().map(|k| json!({
            "address": k.address,
            "key_file": k.file,
            "allocation": k.allocation.to_string(),
            "admin": k.admin,
        })),
        "nodes": report.nodes.iter().map(|n| json!({
            "id": n.id,
            "config": n.config,
            "http": n.http,
            "member_url": n.member_url,
            "public_key": n.public_key,
        })).collect::<Vec<_>>(),
    });
    out.value(&v, |_| {
        let dir = report.genesis.parent().unwrap_or(Path::new("."));
        let mut s = format!(
            "A {}-node WANT cluster of chain {} was written to {}\n  genesis   {} (hash {})\n",
            report.nodes.len(),
            report.chain_id,
            dir.display(),
            report.genesis.display(),
            report.genesis_hash,
        );
        if let Some(k) = &report.key {
            s.push_str(&format!(
                "  operator  {} holds {} — its private key is in {}: keep it secret, off the nodes' machines\n",
                k.address,
                k.describe(),
                k.file.display(),
            ));
        }
        for n in &report.nodes {
            s.push_str(&format!(
                "  node {:<3} {:<28} {}\n",
                n.id,
                n.http,
                n.config.display()
            ));
        }
        s.push_str(&format!(
            "Start it with `want cluster up --data-dir {d}`, or each node with `want node --config {d}/nodeK.toml`.\nSign offline for this chain with --offline --chain-id {id}.",
            d = dir.display(),
            id = report.chain_id,
        ));
        s
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(o: &Ownership<'_>) -> (Genesis, Option<PrivateKey>) {
        match own_chain(o).unwrap() {
            ChainSpec::Own {
                genesis,
                operator_key,
            } => (*genesis, operator_key),
            ChainSpec::Dev => panic!("an operator's chain is never the dev chain"),
        }
    }

    fn code(e: anyhow::Error) -> String {
        CliError::from_anyhow(e).code.to_string()
    }

    #[test]
    fn random_chain_ids_differ_stay_below_2_pow_53_and_are_never_the_dev_chains() {
        let ids: BTreeSet<u64> = (0..64).map(|_| random_chain_id()).collect();
        assert!(ids.len() > 60, "{ids:?}");
        assert!(ids
            .iter()
            .all(|&id| id != DEV_CHAIN_ID && id > 0 && id < RANDOM_CHAIN_ID_END));
    }

    #[test]
    fn without_allocations_or_administrator_a_fresh_operator_key_owns_the_chain() {
        let (genesis, key) = own(&Ownership::default());
        let key = key.expect("an operator key");
        assert_ne!(genesis.params.chain_id, DEV_CHAIN_ID);
        assert_eq!(
            genesis.allocations,
            vec![Allocation {
                address: key.address(),
                amount: TOTAL_SUPPLY
            }]
        );
        assert_eq!(admin_of(&genesis).unwrap(), Some(key.address()));
        assert!(genesis.dev_key_mentions().is_empty());
        genesis.build().expect("the genesis builds");
    }

    #[test]
    fn rest_gets_what_the_other_allocations_leave_of_the_supply() {
        let a = PrivateKey::generate().address();
        let b = PrivateKey::generate().address();
        let allocs = [format!("{a}=rest"), format!("{b}=0.5")];
        let admin = a.to_string();
        let (genesis, key) = own(&Ownership {
            chain_id: Some(5),
            allocs: &allocs,
            admin: Some(&admin),
            template: None,
        });
        assert!(key.is_none());
        assert_eq!(genesis.params.chain_id, 5);
        assert_eq!(
            genesis.allocations,
            vec![
                Allocation {
                    address: a,
                    amount: TOTAL_SUPPLY - 500_000
                },
                Allocation {
                    address: b,
                    amount: 500_000
                }
            ]
        );
    }

    #[test]
    fn the_dev_chain_id_and_allocations_off_the_supply_are_refused() {
        let e = own_chain(&Ownership {
            chain_id: Some(DEV_CHAIN_ID),
            ..Ownership::default()
        })
        .err()
        .expect("refused");
        assert_eq!(code(e), "invalid_arguments");
        let a = PrivateKey::generate().address();
        let allocs = [format!("{a}=1")];
        let e = own_chain(&Ownership {
            allocs: &allocs,
            ..Ownership::default()
        })
        .err()
        .expect("refused");
        assert_eq!(code(e), "invalid_allocations");
    }

    #[test]
    fn member_tls_names_https_member_urls_that_the_nodes_accept() {
        let dir = tempfile::tempdir().unwrap();
        let report = init_cluster(3, dir.path(), None, "127.0.0.1", ChainSpec::Dev, true).unwrap();
        for n in &report.nodes {
            assert!(
                n.member_url.starts_with("https://127.0.0.1:"),
                "{}",
                n.member_url
            );
            assert!(n.http.starts_with("http://"), "{}", n.http);
            let cfg = crate::nodefile::load_config(&n.config).unwrap();
            assert!(cfg.node.cluster.as_ref().is_some_and(|c| c.member_tls()));
            assert_eq!(cfg.member_url().as_deref(), Some(n.member_url.as_str()));
            assert!(cfg.url().starts_with("http://"), "{}", cfg.url());
        }
    }

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
        let e = CliError::from_anyhow(parse_hosts("a,b", 3).unwrap_err());
        assert_eq!(e.code, "invalid_arguments");
        assert!(e.message.contains("2 hosts for 3 nodes"), "{}", e.message);
    }

    #[test]
    fn hosts_with_scheme_port_or_a_numeric_ending_are_refused() {
        for (spec, says) in [
            ("http://10.0.0.1", "is not an IP address or host name"),
            ("10.0.0.1:80", "is not an IP address or host name"),
            ("", "empty entry"),
            ("1.2.3", "ends in a number"),
            ("999.1.1.1", "ends in a number"),
            ("node.0x1F", "ends in a number"),
        ] {
            let e = CliError::from_anyhow(parse_hosts(spec, 1).unwrap_err());
            assert_eq!(e.code, "invalid_arguments", "{spec:?}");
            assert!(e.message.contains(says), "{spec:?}: {}", e.message);
        }
    }

    #[test]
    fn base_port_gives_consecutive_ports_and_overflow_is_refused() {
        assert_eq!(pick_ports(3, Some(9000)).unwrap(), vec![9000, 9001, 9002]);
        let e = CliError::from_anyhow(pick_ports(3, Some(65534)).unwrap_err());
        assert_eq!(e.code, "invalid_arguments");
        assert!(
            e.message.contains("up to 65536, above 65535"),
            "{}",
            e.message
        );
        let e = CliError::from_anyhow(pick_ports(1, Some(0)).unwrap_err());
        assert_eq!(e.code, "invalid_arguments");
        assert!(e.message.contains("at least 1"), "{}", e.message);
        let free = pick_ports(5, None).unwrap();
        let distinct: std::collections::BTreeSet<_> = free.iter().collect();
        assert_eq!(distinct.len(), 5);
    }

    mod props {
        use super::*;
        use crate::fuzz_inputs::{mutated, nasty_char};
        use proptest::prelude::*;

        fn address() -> impl Strategy<Value = Address> {
            any::<[u8; 20]>().prop_map(|rest| {
                let mut raw = [0x41; 21];
                raw[1..].copy_from_slice(&rest);
                Address(raw)
            })
        }

        fn valid_alloc() -> impl Strategy<Value = String> {
            (
                address(),
                any::<bool>(),
                prop_oneof![
                    Just(ALLOC_REST.to_string()),
                    (1..=TOTAL_SUPPLY * 10).prop_map(format_want),
                    "[0-9]{1,60}(\\.[0-9]{0,8})?",
                ],
            )
                .prop_map(|(a, hex, amount)| {
                    let a = if hex { a.to_hex() } else { a.to_string() };
                    format!("{a}={amount}")
                })
        }

        /// What `parse_alloc` must give: the address and amount parsers' verdicts on each side.
        fn expected(spec: &str) -> Result<(Address, Option<Amount>), &'static str> {
            let Some((a, amount)) = spec.split_once('=') else {
                return Err("invalid_arguments");
            };
            let a: Address = a.trim().parse().map_err(|_| "invalid_address")?;
            if amount.trim() == ALLOC_REST {
                return Ok((a, None));
            }
            match parse_want(amount) {
                Ok(0) | Err(_) => Err("invalid_amount"),
                Ok(n) => Ok((a, Some(n))),
            }
        }

        fn check_alloc(spec: &str) -> Result<(), TestCaseError> {
            let got = parse_alloc(spec).map_err(CliError::from_anyhow);
            match (got, expected(spec)) {
                (Ok(got), Ok(want)) => prop_assert_eq!(got, want),
                (Err(e), Err(code)) => {
                    prop_assert_eq!(&e.code, code, "{:?}: {}", spec, e.message);
                    prop_assert!(e.message.starts_with("--alloc "), "{}", e.message);
                }
                (got, want) => prop_assert!(false, "{spec:?}: {got:?} but expected {want:?}"),
            }
            Ok(())
        }

        fn check_host(s: &str) -> Result<(), TestCaseError> {
            match Host::parse(s) {
                Ok(h) => {
                    let url = reqwest::Url::parse(&h.url(8545));
                    prop_assert!(url.is_ok(), "{s:?} gives URL {}", h.url(8545));
                    prop_assert_eq!(url.unwrap().port_or_known_default(), Some(8545));
                    if let Host::Name(n) = &h {
                        prop_assert!(n.len() <= 253 && n.is_ascii() && !n.contains([':', '/']));
                    }
                }
                Err(e) => prop_assert!(e.starts_with("--host "), "{e}"),
            }
            Ok(())
        }

        /// Texts `to_socket_addrs` answers without a name lookup: socket addresses, and texts
        /// without a `:PORT` suffix.
        fn no_lookup(s: &str) -> bool {
            s.parse::<SocketAddr>().is_ok()
                || s.rsplit_once(':')
                    .is_none_or(|(_, port)| port.parse::<u16>().is_err())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_alloc_text_gives_the_parts_verdict(
                s in prop_oneof![any::<String>(), prop::collection::vec(nasty_char(), 0..80)
                    .prop_map(|v| v.into_iter().collect())],
            ) {
                check_alloc(&s)?;
            }

            #[test]
            fn mutated_allocs_give_the_parts_verdict(s in mutated(valid_alloc())) {
                check_alloc(&s)?;
            }

            #[test]
            fn printed_allocs_read_back(
                a in address(), amount in 1..=TOTAL_SUPPLY * 10, hex in any::<bool>(),
                pad in "[ \t]{0,2}",
            ) {
                let printed = if hex { a.to_hex() } else { a.to_string() };
                let spec = format!("{pad}{printed}{pad}={pad}{}{pad}", format_want(amount));
                prop_assert_eq!(parse_alloc(&spec).unwrap(), (a, Some(amount)));
                let rest = format!("{printed}={pad}{ALLOC_REST}{pad}");
                prop_assert_eq!(parse_alloc(&rest).unwrap(), (a, None));
                let zero = CliError::from_anyhow(parse_alloc(&format!("{printed}=0.000")).unwrap_err());
                prop_assert_eq!(zero.code, "invalid_amount");
            }

            #[test]
            fn any_host_text_is_a_usable_host_or_refused(
                s in prop_oneof![any::<String>(), prop::collection::vec(nasty_char(), 0..40)
                    .prop_map(|v| v.into_iter().collect())],
            ) {
                check_host(&s)?;
            }

            #[test]
            fn mutated_hosts_are_usable_or_refused(
                s in mutated(prop_oneof![
                    any::<IpAddr>().prop_map(|ip| ip.to_string()),
                    any::<std::net::Ipv6Addr>().prop_map(|ip| format!("[{ip}]")),
                    "[a-z0-9]{1,10}(\\.[a-z0-9-]{1,10}){0,3}",
                    Just("localhost".to_string()),
                ]),
            ) {
                check_host(&s)?;
            }

            #[test]
            fn printed_ips_read_back(ip in any::<IpAddr>()) {
                prop_assert_eq!(Host::parse(&ip.to_string()), Ok(Host::Ip(ip)));
                prop_assert_eq!(Host::parse(&format!(" [{ip}] ")), Ok(Host::Ip(ip)));
                prop_assert_eq!(Host::parse(&ip.to_string()).unwrap().listen(1).ip(), ip);
            }

            #[test]
            fn host_lists_give_one_host_per_node_or_invalid_arguments(
                s in prop_oneof![
                    any::<String>(),
                    mutated(prop::collection::vec(
                        prop_oneof![
                            any::<IpAddr>().prop_map(|ip| ip.to_string()),
                            "[a-z]{1,8}\\.example",
                        ],
                        1..5,
                    ).prop_map(|v| v.join(","))),
                ],
                nodes in 1u16..6,
            ) {
                match parse_hosts(&s, nodes) {
                    Ok(hosts) => {
                        prop_assert_eq!(hosts.len(), usize::from(nodes));
                        let entries: Vec<_> = s.split(',').map(Host::parse).collect();
                        prop_assert!(entries.len() == 1 || entries.len() == usize::from(nodes));
                        for (i, h) in hosts.iter().enumerate() {
                            let entry = &entries[if entries.len() == 1 { 0 } else { i }];
                            prop_assert_eq!(Ok(h), entry.as_ref());
                        }
                    }
                    Err(e) => {
                        let e = CliError::from_anyhow(e);
                        prop_assert_eq!(e.code, "invalid_arguments", "{}", e.message);
                    }
                }
            }

            #[test]
            fn socket_addrs_read_back_and_other_text_is_refused(
                sa in any::<(IpAddr, u16)>().prop_map(|(ip, port)| SocketAddr::new(ip, port)),
                s in prop_oneof![
                    any::<String>(),
                    mutated(any::<(IpAddr, u16)>()
                        .prop_map(|(ip, port)| SocketAddr::new(ip, port).to_string())),
                ].prop_filter("would look the name up", |s| no_lookup(s)),
            ) {
                prop_assert_eq!(crate::parse_socket_addr(&sa.to_string()), Ok(sa));
                match (crate::parse_socket_addr(&s), s.parse::<SocketAddr>()) {
                    (Ok(got), Ok(want)) => prop_assert_eq!(got, want),
                    (Err(e), Err(_)) => prop_assert!(e.contains("is not a HOST:PORT address"), "{e}"),
                    (got, want) => prop_assert!(false, "{s:?}: {got:?} but {want:?}"),
                }
            }
        }
    }
}
