//! The example module's commands (feature `example-module`, for the test suite): `want example
//! post|delete` (signed through `crate::signer`) and `want example note ADDRESS`.

use clap::Subcommand;
use want_types::example::ExampleCall;
use want_types::{Address, Call};

use crate::client::Client;
use crate::output::{CliError, Out};
use crate::signer::{sign_and_send, Profile, SignArgs};
use crate::NodeArg;

#[derive(Subcommand)]
pub enum Command {
    /// The example module (a guest book for the test suite).
    #[command(subcommand)]
    Example(ExampleCommand),
}

#[derive(Subcommand)]
pub enum ExampleCommand {
    /// Post (or replace) your note; it expires after the chain's configured time.
    Post {
        #[arg(long)]
        text: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Delete your note.
    Delete {
        #[command(flatten)]
        sign: SignArgs,
    },
    /// An account's note.
    Note {
        address: String,
        #[command(flatten)]
        node: NodeArg,
    },
}

/// The module adds nothing to `want tx`.
#[derive(Subcommand)]
pub enum TxCommand {}

pub fn run(cmd: Command, out: &Out) -> anyhow::Result<()> {
    let Command::Example(cmd) = cmd;
    match cmd {
        ExampleCommand::Post { text, sign } => sign_and_send(
            Call::Example(ExampleCall::Post { text }),
            sign,
            Profile::send(),
            out,
        ),
        ExampleCommand::Delete { sign } => sign_and_send(
            Call::Example(ExampleCall::Delete),
            sign,
            Profile::send(),
            out,
        ),
        ExampleCommand::Note { address, node } => {
            let address: Address = address
                .parse()
                .map_err(|e| CliError::new("invalid_address", format!("{e}")))?;
            let v = Client::new(&node.url)?.get(&format!("/v1/example/notes/{address}"))?;
            out.value(&v, |v| {
                v["note"]["text"].as_str().unwrap_or_default().to_string()
            });
            Ok(())
        }
    }
}

pub fn run_tx(cmd: TxCommand, _out: &Out) -> anyhow::Result<()> {
    match cmd {}
}
