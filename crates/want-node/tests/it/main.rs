//! The crate's integration tests, one binary (one link, one process) for every file: each
//! module starts real nodes on temporary directories and free ports.

mod common;

mod blob_uploads;
mod byzantine;
mod catch_up;
mod certificates;
mod cluster;
mod commerce;
mod commerce_capture;
mod commerce_events;
mod commerce_price;
mod commerce_review;
mod consensus_restart;
mod credit;
mod diverged_routes;
mod fuzz_seeds;
mod heavy_reads;
mod http_api;
mod http_limits;
mod member_listener;
mod member_tls;
mod mempool_limits;
mod no_import_loops;
mod openapi;
mod storage_floor;
mod trace;
mod upgrade;
