//! The business modules of the CLI, one folder each. A module contributes commands in two places:
//!
//! - top-level commands (`want account`, `want trace …`): its `Command` enum, flattened into
//!   `want`'s command list right after `want tx`;
//! - signing commands under `want tx` (`want tx transfer …`): its `TxCommand` enum, flattened into
//!   the kernel's `want tx` group ahead of `send` and `show`.
//!
//! `tx` stays a kernel group rather than belonging to the token module because `tx send` and
//! `tx show` serve transactions of every module (a file written by `want trace … --out` is
//! broadcast with `want tx send`); a module adds its verbs to the group instead of owning it, so
//! several modules can. Command names, flags and help are what they were before the split.
//!
//! A module is a folder `modules/<name>/` whose `mod.rs` defines `Command` and `TxCommand`
//! (`#[derive(clap::Subcommand)]`; either may be an empty enum), `run(Command, &Out)` and
//! `run_tx(TxCommand, &Out)`. It is registered by one line in the `modules!` call below. Modules
//! sign their transactions through `crate::signer`.

use crate::output::Out;

/// Declares the modules and generates the `Command` and `TxCommand` enums that flatten their
/// commands, with their dispatch.
macro_rules! modules {
    ($($(#[$doc:meta])* $module:ident => $variant:ident,)*) => {
        $($(#[$doc])* pub mod $module;)*

        /// Every module's top-level commands (flattened into `want`'s commands).
        #[allow(clippy::large_enum_variant)] // parsed once per run
        #[derive(clap::Subcommand)]
        pub enum Command {
            $(#[command(flatten)] $variant($module::Command),)*
        }

        impl Command {
            pub fn run(self, out: &Out) -> anyhow::Result<()> {
                match self {
                    $(Command::$variant(c) => $module::run(c, out),)*
                }
            }
        }

        /// Every module's `want tx` commands (flattened into the kernel's `want tx`).
        #[allow(clippy::large_enum_variant)] // parsed once per run
        #[derive(clap::Subcommand)]
        pub enum TxCommand {
            $(#[command(flatten)] $variant($module::TxCommand),)*
        }

        impl TxCommand {
            pub fn run(self, out: &Out) -> anyhow::Result<()> {
                match self {
                    $(TxCommand::$variant(c) => $module::run_tx(c, out),)*
                }
            }
        }
    };
}

modules! {
    /// The WANT token: transfers, allowances and burns (`want tx …`), balances (`want account`).
    token => Token,
    /// Traceability: EPCIS capture and verification, organisations, keys, grants, KYC (`want trace …`).
    trace => Trace,
}
