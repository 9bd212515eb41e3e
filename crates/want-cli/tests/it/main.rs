//! The crate's integration tests, one binary (one link, one process) for every file: each
//! module starts real nodes on temporary directories and free ports.

mod common;

mod cli;
mod cluster_cli;
mod cluster_faults;
mod commerce_cli;
mod commerce_crash;
mod commerce_price_cli;
mod commerce_review_cli;
mod crash;
mod credit_cli;
mod example_module;
mod openapi_fuzz;
mod signer_cli;
mod till_cli;
mod trace_cli;
mod verify;
