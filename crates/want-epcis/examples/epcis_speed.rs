//! Prints milliseconds per parse + normalise + hash + canonical_bytes of one ObjectEvent with
//! 1,700 SGTIN EPCs: `cargo run --release -p want-epcis --example epcis_speed`.

use std::time::Instant;

/// EPCs in the benchmark event.
const EPCS: usize = 1_700;
/// Timed repetitions.
const ROUNDS: u32 = 50;

fn main() {
    let epcs: Vec<String> = (0..EPCS)
        .map(|i| format!("\"urn:epc:id:sgtin:0614141.107346.{i}\""))
        .collect();
    let doc = format!(
        r#"{{"@context":"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld","type":"ObjectEvent","action":"OBSERVE","bizStep":"shipping","disposition":"in_transit","eventTime":"2005-04-03T20:33:31.116-06:00","eventTimeZoneOffset":"-06:00","readPoint":{{"id":"urn:epc:id:sgln:0614141.07346.1234"}},"epcList":[{}]}}"#,
        epcs.join(",")
    );
    let mut total = 0usize;
    let t = Instant::now();
    for _ in 0..ROUNDS {
        let cap = want_epcis::parse_capture(doc.as_bytes()).expect("benchmark document is valid");
        let ev = &cap.events[0];
        total += ev.hash_id().len() + ev.canonical_bytes().len();
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS);
    println!("{ms:.3} ms per {EPCS}-EPC ObjectEvent ({total} bytes checked)");
}
