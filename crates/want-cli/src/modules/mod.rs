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
    ($($(#[doc = $doc:literal])* $(#[cfg($cfg:meta)])? $module:ident => $variant:ident,)*) => {
        $($(#[doc = $doc])* $(#[cfg($cfg)])? pub mod $module;)*

        /// Every module's top-level commands (flattened into `want`'s commands).
        #[allow(clippy::large_enum_variant)] // parsed once per run
        #[derive(clap::Subcommand)]
        pub enum Command {
            $($(#[cfg($cfg)])? #[command(flatten)] $variant($module::Command),)*
        }

        impl Command {
            pub fn run(self, out: &Out) -> anyhow::Result<()> {
                match self {
                    $($(#[cfg($cfg)])? Command::$variant(c) => $module::run(c, out),)*
                }
            }
        }

        /// Every module's `want tx` commands (flattened into the kernel's `want tx`).
        #[allow(clippy::large_enum_variant)] // parsed once per run
        #[derive(clap::Subcommand)]
        pub enum TxCommand {
            $($(#[cfg($cfg)])? #[command(flatten)] $variant($module::TxCommand),)*
        }

        impl TxCommand {
            pub fn run(self, out: &Out) -> anyhow::Result<()> {
                match self {
                    $($(#[cfg($cfg)])? TxCommand::$variant(c) => $module::run_tx(c, out),)*
                }
            }
        }

        /// Every module of the wire registry has its line here: a module registered in
        /// `want_types` without one is a non-exhaustive match, and the build fails.
        #[allow(dead_code)]
        fn every_module_is_registered(id: want_types::ModuleId) {
            match id {
                $($(#[cfg($cfg)])? want_types::ModuleId::$variant => {})*
            }
        }
    };
}

modules! {
    /// The WANT token: transfers, allowances and burns (`want tx …`), balances (`want account`).
    token => Token,
    /// Traceability: EPCIS capture and verification, organisations, keys, grants, KYC (`want trace …`).
    trace => Trace,
    /// Commerce: shops, offers and orders in escrow (`want shop …`, `want offer …`, `want order …`).
    commerce => Commerce,
    /// Credit: scorecards offline, models and scorers on chain (`want credit …`).
    credit => Credit,
    /// The example module of docs/MODULES.md (`want example …`), for the test suite.
    #[cfg(feature = "example-module")]
    example => Example,
}
