//! The commerce module's commands: none yet (registered so the CLI builds with the module; the
//! `want shop|offer|order …` commands of issue 14 come later).

use clap::Subcommand;

use crate::output::Out;

/// No top-level commands yet.
#[derive(Subcommand)]
pub enum Command {}

/// No `want tx` commands yet.
#[derive(Subcommand)]
pub enum TxCommand {}

pub fn run(cmd: Command, _out: &Out) -> anyhow::Result<()> {
    match cmd {}
}

pub fn run_tx(cmd: TxCommand, _out: &Out) -> anyhow::Result<()> {
    match cmd {}
}
