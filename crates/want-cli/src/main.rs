//! The `want` command: run a node, manage keys, sign and send transactions, inspect the chain, benchmark.

mod bench;
mod client;
mod cluster;
mod dev;
/// Test-only input strategies, shared with want-types.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../want-types/src/fuzz_inputs.rs"]
mod fuzz_inputs;
mod init;
mod keys;
mod modules;
mod nodecmd;
mod nodefile;
mod output;
mod serve;
mod signer;
mod txcmd;
mod verify;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::{CliError, Out};

/// mimalloc: the node allocates and frees many small buffers per transaction; glibc's malloc
/// showed up at ~8 % of node CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Default node URL of every command that talks to a node.
pub const DEFAULT_NODE_URL: &str = "http://127.0.0.1:8545";

#[derive(Parser)]
#[command(
    name = "want",
    version,
    about = "WANT chain: a ledger for retail commerce",
    propagate_version = true
)]
struct Cli {
    /// Print exactly one JSON object (for scripts).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a single-node development chain on embedded defaults.
    Dev(dev::DevArgs),
    /// Write the files of a new N-node cluster: node keys, genesis, one config per node.
    Init(init::InitArgs),
    /// Run one node from its configuration file (as `want init` writes it).
    Node(nodecmd::NodeArgs),
    /// Run a local multi-node cluster, one process per node.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Create and import account keys (Web3 Secret Storage v3 keystores).
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Sign, send and look up transactions.
    #[command(subcommand)]
    Tx(txcmd::TxCommand),
    // The business modules' commands (`want account`, `want trace …`): `modules/`.
    #[command(flatten)]
    Module(modules::Command),
    /// A block by height, or the latest; `want block verify HEIGHT` checks its commit certificate.
    #[command(args_conflicts_with_subcommands = true)]
    Block {
        #[command(subcommand)]
        action: Option<verify::BlockAction>,
        #[arg(default_value = "latest")]
        height: String,
        /// Include transactions and receipts.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        node: NodeArg,
    },
    /// The node's status.
    Status {
        #[command(flatten)]
        node: NodeArg,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// The node to talk to.
#[derive(Args, Clone)]
pub struct NodeArg {
    /// Node URL.
    #[arg(long = "node", env = "WANT_NODE", default_value = DEFAULT_NODE_URL)]
    pub url: String,
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    let out = Out { json: cli.json };
    let result = run(cli.command, &out);
    if let Err(e) = result {
        let e = CliError::from_anyhow(e);
        if e.code != output::ALREADY_REPORTED {
            out.error(&e);
        }
        std::process::exit(1);
    }
}

/// A command line clap refuses: with `--json` it is reported as the one JSON error object (code
/// `invalid_arguments`, exit 1) like every other failure; help, version and human mode are clap's.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if json && !informational {
        let text = e.render().to_string();
        let message = text.trim().trim_start_matches("error: ").to_string();
        Out { json: true }.error(&CliError::new("invalid_arguments", message));
        std::process::exit(1);
    }
    e.exit()
}

fn run(command: Command, out: &Out) -> anyhow::Result<()> {
    match command {
        Command::Dev(args) => dev::run(args, out),
        Command::Init(args) => init::run(args, out),
        Command::Node(args) => nodecmd::run(args, out),
        Command::Cluster(cmd) => cluster::run(cmd, out),
        Command::Key(cmd) => keys::run(cmd, out),
        Command::Tx(cmd) => txcmd::run(cmd, out),
        Command::Module(cmd) => cmd.run(out),
        Command::Block {
            action: Some(action),
            ..
        } => verify::run(action, out),
        Command::Block {
            action: None,
            height,
            full,
            node,
        } => {
            if height != "latest" && height.parse::<u64>().is_err() {
                return Err(CliError::new(
                    "invalid_height",
                    format!("{height:?} is not a block height; use a number or `latest`"),
                )
                .into());
            }
            let path = format!(
                "/v1/blocks/{height}{}",
                if full { "?full=true" } else { "" }
            );
            let v = client::Client::new(&node.url)?.get(&path)?;
            out.value(&v, |v| {
                format!(
                    "block    {}\nhash     {}\ntime     {} ms\ntxs      {}\nstate    {}",
                    v["height"],
                    v["hash"].as_str().unwrap_or_default(),
                    v["header"]["timestamp_ms"],
                    v["tx_count"],
                    v["state_root"].as_str().unwrap_or_default()
                )
            });
            Ok(())
        }
        Command::Status { node } => {
            let v = client::Client::new(&node.url)?.get("/v1/status")?;
            out.value(&v, |v| {
                format!(
                    "chain    {}\nnode     {} ({})\nheight   {}\nhead     {}\nmempool  {}",
                    v["chain_id"],
                    v["node_id"].as_str().unwrap_or_default(),
                    v["role"].as_str().unwrap_or_default(),
                    v["height"],
                    v["head_hash"].as_str().unwrap_or_default(),
                    v["mempool_size"]
                )
            });
            Ok(())
        }
        Command::Bench(cmd) => bench::run(cmd, out),
    }
}

/// Parses `HOST:PORT`.
pub fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .map_err(|e| format!("{s:?} is not a HOST:PORT address: {e}"))?
        .next()
        .ok_or_else(|| format!("{s:?} resolves to no address"))
}

/// Reads a UTF-8 text file of at most `max_bytes`, refusing larger ones.
pub fn read_text_file(path: &std::path::Path, max_bytes: u64) -> anyhow::Result<String> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| {
        CliError::new(
            "file_unreadable",
            format!("cannot read {}: {e}", path.display()),
        )
    };
    let f = std::fs::File::open(path).map_err(unreadable)?;
    let mut text = String::new();
    f.take(max_bytes + 1)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    if text.len() as u64 > max_bytes {
        return Err(CliError::new(
            "file_too_large",
            format!("{} is larger than {max_bytes} bytes", path.display()),
        )
        .into());
    }
    Ok(text)
}

/// Reads a password file, dropping one trailing newline.
pub fn read_password(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let mut bytes = std::fs::read(path).map_err(|e| {
        CliError::new(
            "password_file_unreadable",
            format!("cannot read password file {}: {e}", path.display()),
        )
    })?;
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(CliError::new(
            "empty_password",
            format!(
                "password file {} is empty; a keystore needs a password",
                path.display()
            ),
        )
        .into());
    }
    Ok(bytes)
}
