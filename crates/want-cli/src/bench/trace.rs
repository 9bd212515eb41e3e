//! `want bench trace`: EPCIS capture and verification against one node — latency of an RFID
//! portal read of 1,700 items captured, anchored and committed; sustained EPC observations per
//! second; and `verify` latency for a product with 50 records.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};

use super::{percentile, spawn_node, NODE_START_TIMEOUT};
use crate::output::{CliError, Out};

/// Company prefix of the generated SGTINs (GS1's example prefix).
const COMPANY_PREFIX: &str = "0614141";
/// Records the verified product accumulates.
const VERIFY_PRODUCT_RECORDS: usize = 50;

#[derive(Args)]
pub struct TraceBenchArgs {
    /// Node to drive (its capture key signs); without it a fresh `want dev` node is started.
    #[arg(long)]
    node: Option<String>,
    /// Tagged items in the portal read (EPCs in one ObjectEvent).
    #[arg(long, default_value_t = 1_700)]
    epcs: usize,
    /// Portal reads captured one at a time for the latency figures (200: enough for p99 to be
    /// the third slowest rather than the single slowest).
    #[arg(long, default_value_t = 200)]
    latency_runs: usize,
    /// Documents captured for the sustained rate.
    #[arg(long, default_value_t = 60)]
    docs: usize,
    /// Events (portal reads of `--epcs` items) per document in the sustained run.
    #[arg(long, default_value_t = 10)]
    events_per_doc: usize,
    /// Concurrent capture clients in the sustained run.
    #[arg(long, default_value_t = 3)]
    clients: usize,
    /// Verifications of the 50-record product.
    #[arg(long, default_value_t = 500)]
    verify_runs: usize,
    /// Items named by each of the verified product's 50 records (the product and others read
    /// with it: 10 is a case-level read, 1,700 a pallet at a portal).
    #[arg(long, default_value_t = 10)]
    verify_record_epcs: usize,
}

/// One ObjectEvent read at a portal: `epcs` SGTINs with serials from `first_serial`.
fn portal_read(first_serial: usize, epcs: usize, minute: usize, step: &str) -> Value {
    let list: Vec<String> = (first_serial..first_serial + epcs)
        .map(|s| format!("urn:epc:id:sgtin:{COMPANY_PREFIX}.107346.{s}"))
        .collect();
    json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "ObjectEvent",
        "eventTime": format!("2026-11-30T{:02}:{:02}:00.000+08:00", (minute / 60) % 24, minute % 60),
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "bizStep": step,
        "disposition": "in_transit",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"},
        "bizLocation": {"id": "urn:epc:id:sgln:0614141.00888.0"},
        "epcList": list,
    })
}

fn document(events: Vec<Value>) -> Value {
    json!({
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-30T00:00:00Z",
        "epcisBody": {"eventList": events},
    })
}

fn capture(client: &reqwest::blocking::Client, base: &str, body: Vec<u8>) -> anyhow::Result<Value> {
    let r = client
        .post(format!("{base}/v1/epcis/capture"))
        .header("content-type", "application/ld+json")
        .body(body)
        .send()
        .map_err(|e| CliError::new("node_unreachable", e.to_string()))?;
    let status = r.status();
    let v: Value = r
        .json()
        .map_err(|e| CliError::new("bad_response", e.to_string()))?;
    if !status.is_success() {
        return Err(CliError::new("bench", format!("capture refused ({status}): {v}")).into());
    }
    Ok(v)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

pub fn run(a: TraceBenchArgs, out: &Out) -> anyhow::Result<()> {
    let (base, _spawned) = match &a.node {
        Some(url) => (url.trim_end_matches('/').to_string(), None),
        None => {
            let (url, node) = spawn_node()?;
            (url, Some(node))
        }
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| CliError::new("bench", e.to_string()))?;
    let started = Instant::now();
    while client
        .get(format!("{base}/healthz"))
        .send()
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        if started.elapsed() > NODE_START_TIMEOUT {
            return Err(CliError::new("node_unreachable", format!("no node at {base}")).into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Serials from the clock, so runs against the same node never repeat an event.
    let serial = AtomicUsize::new(
        usize::try_from(super::now_ms())
            .unwrap_or(1)
            .saturating_mul(1_000),
    );
    let next = |n: usize| serial.fetch_add(n, Ordering::Relaxed);

    // 1. Latency: one portal read of `epcs` items, captured → anchored → committed.
    eprintln!(
        "capturing {} portal reads of {} items one at a time…",
        a.latency_runs, a.epcs
    );
    let mut lat = Vec::with_capacity(a.latency_runs);
    for i in 0..a.latency_runs {
        let body = serde_json::to_vec(&portal_read(next(a.epcs), a.epcs, i, "shipping"))
            .expect("invariant: JSON values serialise");
        let t = Instant::now();
        capture(&client, &base, body)?;
        lat.push(t.elapsed());
    }
    let slowest_run = lat
        .iter()
        .enumerate()
        .max_by_key(|(_, d)| **d)
        .map(|(i, _)| i)
        .unwrap_or(0);
    lat.sort();

    // 2. Sustained capture: documents of several portal reads from concurrent clients.
    eprintln!(
        "capturing {} documents of {} × {} items from {} clients…",
        a.docs, a.events_per_doc, a.epcs, a.clients
    );
    let bodies: Vec<Vec<u8>> = (0..a.docs)
        .map(|d| {
            let events = (0..a.events_per_doc)
                .map(|e| portal_read(next(a.epcs), a.epcs, d * a.events_per_doc + e, "receiving"))
                .collect();
            serde_json::to_vec(&document(events)).expect("invariant: JSON values serialise")
        })
        .collect();
    let bodies = Arc::new(bodies);
    let cursor = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let workers: Vec<_> = (0..a.clients.max(1))
        .map(|_| {
            let (bodies, cursor, client, base) =
                (bodies.clone(), cursor.clone(), client.clone(), base.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                loop {
                    let i = cursor.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else {
                        return Ok(());
                    };
                    capture(&client, &base, body.clone())?;
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| CliError::new("bench", "a capture client panicked"))??;
    }
    let sustained = t.elapsed();
    let observations = a.docs * a.events_per_doc * a.epcs;
    let obs_per_s = observations as f64 / sustained.as_secs_f64();

    // 3. Verify: one product with 50 records (each read also names `verify_record_epcs - 1`
    // other items).
    eprintln!(
        "building a product with {VERIFY_PRODUCT_RECORDS} records, verifying it {} times…",
        a.verify_runs
    );
    let product_serial = next(1);
    let steps = [
        "commissioning",
        "packing",
        "shipping",
        "receiving",
        "storing",
    ];
    let events: Vec<Value> = (0..VERIFY_PRODUCT_RECORDS)
        .map(|i| {
            let others = a.verify_record_epcs.max(1) - 1;
            let mut e = portal_read(next(others), others, i, steps[i % steps.len()]);
            e["epcList"]
                .as_array_mut()
                .expect("invariant: portal_read builds an epcList array")
                .push(json!(format!(
                    "urn:epc:id:sgtin:{COMPANY_PREFIX}.107346.{product_serial}"
                )));
            e
        })
        .collect();
    // One capture per record, as 50 departments along the chain would make them.
    for e in events {
        capture(
            &client,
            &base,
            serde_json::to_vec(&e).expect("invariant: JSON values serialise"),
        )?;
    }
    let product = want_epcis::normalize_identifier(&format!(
        "urn:epc:id:sgtin:{COMPANY_PREFIX}.107346.{product_serial}"
    ))
    .map_err(|e| CliError::new("bench", e.message))?;
    let path = format!(
        "{base}/v1/trace/verify/{}",
        want_node::trace::urlencode(&product)
    );
    let mut http_lat = Vec::with_capacity(a.verify_runs);
    let mut report_bytes = 0usize;
    let mut check_lat = Vec::with_capacity(a.verify_runs);
    let mut node_lat = Vec::with_capacity(a.verify_runs);
    for _ in 0..a.verify_runs {
        let t = Instant::now();
        let body = client
            .get(&path)
            .send()
            .and_then(|r| r.bytes())
            .map_err(|e| CliError::new("node_unreachable", e.to_string()))?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| CliError::new("bad_response", e.to_string()))?;
        http_lat.push(t.elapsed());
        report_bytes = body.len();
        node_lat.push(Duration::from_secs_f64(
            v["tookMs"].as_f64().unwrap_or(0.0) / 1_000.0,
        ));
        let t = Instant::now();
        let check = want_records::check_report(&v, &product)
            .map_err(|e| CliError::new("bench", e.to_string()))?;
        check_lat.push(t.elapsed());
        if v["verdict"] != "authentic"
            || check.verdict != "authentic"
            || check.records != VERIFY_PRODUCT_RECORDS
        {
            return Err(CliError::new(
                "bench",
                format!(
                    "verify did not say authentic for {VERIFY_PRODUCT_RECORDS} records: {}",
                    v["failure"]
                ),
            )
            .into());
        }
    }
    // The first verify is cold: its blocks not yet decoded for verify, its blobs not yet hashed.
    let first_node_ms = node_lat.first().map(|d| millis(*d)).unwrap_or(0.0);
    let first_http_ms = http_lat.first().map(|d| millis(*d)).unwrap_or(0.0);
    http_lat.sort();
    check_lat.sort();
    node_lat.sort();

    let v = json!({
        "portal_read": {
            "epcs": a.epcs,
            "runs": a.latency_runs,
            "capture_to_commit_ms": {"p50": percentile(&lat, 0.5), "p99": percentile(&lat, 0.99), "max": lat.last().map(|d| millis(*d)).unwrap_or(0.0)},
            "slowest_run": slowest_run,
            "goal_ms": 100,
        },
        "sustained": {
            "documents": a.docs,
            "events_per_document": a.events_per_doc,
            "clients": a.clients,
            "epc_observations": observations,
            "seconds": sustained.as_secs_f64(),
            "epc_observations_per_s": obs_per_s,
            "goal_per_s": 100_000,
        },
        "verify": {
            "product": product,
            "report_bytes": report_bytes,
            "records": VERIFY_PRODUCT_RECORDS,
            "epcs_per_record": a.verify_record_epcs.max(1),
            "runs": a.verify_runs,
            "node_http_ms": {"p50": percentile(&http_lat, 0.5), "p99": percentile(&http_lat, 0.99)},
            "node_compute_ms": {"p50": percentile(&node_lat, 0.5), "p99": percentile(&node_lat, 0.99), "first": first_node_ms},
            "first_http_ms": first_http_ms,
            "client_check_ms": {"p50": percentile(&check_lat, 0.5), "p99": percentile(&check_lat, 0.99)},
            "goal_p99_ms": 10,
        },
    });
    out.value(&v, |v| {
        let p = &v["portal_read"]["capture_to_commit_ms"];
        let s = &v["sustained"];
        let r = &v["verify"];
        format!(
            "portal read of {} EPCs captured→committed: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (run {} of {}) (goal < 100 ms)\n\
             sustained capture: {:.0} EPC observations/s ({} in {:.2} s, {} clients) (goal ≥ 100,000/s)\n\
             verify of a product with {} records of {} items: on the node p50 {:.2} ms, p99 {:.2} ms; over HTTP p50 {:.2} ms, p99 {:.2} ms; client proof check p50 {:.2} ms, p99 {:.2} ms (goal p99 < 10 ms); the first (cold) verify {:.2} ms on the node, {:.2} ms over HTTP; report {} bytes",
            v["portal_read"]["epcs"], p["p50"].as_f64().unwrap_or(0.0), p["p99"].as_f64().unwrap_or(0.0), p["max"].as_f64().unwrap_or(0.0),
            v["portal_read"]["slowest_run"], v["portal_read"]["runs"],
            s["epc_observations_per_s"].as_f64().unwrap_or(0.0), s["epc_observations"], s["seconds"].as_f64().unwrap_or(0.0), s["clients"],
            r["records"], r["epcs_per_record"], r["node_compute_ms"]["p50"].as_f64().unwrap_or(0.0), r["node_compute_ms"]["p99"].as_f64().unwrap_or(0.0), r["node_http_ms"]["p50"].as_f64().unwrap_or(0.0), r["node_http_ms"]["p99"].as_f64().unwrap_or(0.0),
            r["client_check_ms"]["p50"].as_f64().unwrap_or(0.0), r["client_check_ms"]["p99"].as_f64().unwrap_or(0.0),
            r["node_compute_ms"]["first"].as_f64().unwrap_or(0.0), r["first_http_ms"].as_f64().unwrap_or(0.0),
            r["report_bytes"],
        )
    });
    Ok(())
}
