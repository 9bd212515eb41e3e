//! Prints the pre-hash string and hash ID of every event of the EPCIS documents given as
//! arguments: `cargo run -p want-epcis --example epcis_prehash -- FILE...`.

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        match want_epcis::parse_capture(&bytes) {
            Ok(cap) => {
                for ev in cap.events {
                    println!("{path}\n  {}\n  {}", ev.hash_id(), ev.pre_hash_string());
                }
            }
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
}
