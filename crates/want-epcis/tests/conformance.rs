//! EPCIS 2.0 conformance: what the official JSON schema refuses is refused, EPC pattern URIs
//! become GS1 Digital Link in the event hash, and an `errorDeclaration` is validated, exposed
//! and kept out of the event hash (CBV 2.0 §8.9, reference tool `epcis-event-hash-generator`).

use want_epcis::{parse_capture, EpcisError, EpcisEvent};

const CONTEXT: &str = r#""@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{"example":"http://ns.example.com/epcis/"}]"#;

/// An EPCISDocument with `context` (`""` for none) around `events`.
fn document(context: &str, events: &str) -> String {
    let sep = if context.is_empty() { "" } else { "," };
    format!(
        r#"{{{context}{sep}"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2005-07-11T11:30:47.0Z","epcisBody":{{"eventList":[{events}]}}}}"#
    )
}

/// An ObjectEvent with the mandatory fields and `extra` (starting with a comma).
fn object_event(extra: &str) -> String {
    format!(
        r#"{{"type":"ObjectEvent","action":"OBSERVE","eventTime":"2005-04-03T20:33:31.116-06:00","eventTimeZoneOffset":"-06:00"{extra}}}"#
    )
}

const EPCS: &str = r#","epcList":["urn:epc:id:sgtin:0614141.107346.2017"]"#;

fn refused(doc: &str) -> (&'static str, String) {
    let e: EpcisError = parse_capture(doc.as_bytes()).expect_err("must be refused");
    (e.code, e.path)
}

#[test]
fn a_document_without_context_is_refused_at_its_context() {
    let doc = document("", &object_event(EPCS));
    assert_eq!(refused(&doc), ("missing_field", "$.@context".to_string()));
    assert!(parse_capture(document(CONTEXT, &object_event(EPCS)).as_bytes()).is_ok());
}

#[test]
fn a_query_document_without_context_is_refused_at_its_context() {
    let query = |context: &str| {
        let sep = if context.is_empty() { "" } else { "," };
        format!(
            r#"{{{context}{sep}"type":"EPCISQueryDocument","schemaVersion":"2.0","creationDate":"2005-07-11T11:30:47.0Z","epcisBody":{{"queryResults":{{"queryName":"SimpleEventQuery","resultsBody":{{"eventList":[{}]}}}}}}}}"#,
            object_event(EPCS)
        )
    };
    assert_eq!(
        refused(&query("")),
        ("missing_field", "$.@context".to_string())
    );
    assert_eq!(
        parse_capture(query(CONTEXT).as_bytes())
            .unwrap()
            .events
            .len(),
        1
    );
}

#[test]
fn a_bare_event_without_context_is_refused_and_with_one_parses() {
    let bare = object_event(EPCS);
    assert_eq!(refused(&bare), ("missing_field", "$.@context".to_string()));
    let with = object_event(&format!("{EPCS},{CONTEXT}"));
    let cap = parse_capture(with.as_bytes()).unwrap();
    assert_eq!(cap.events.len(), 1);
    let events_without_own_context = document(CONTEXT, &object_event(EPCS));
    assert_eq!(
        parse_capture(events_without_own_context.as_bytes())
            .unwrap()
            .events[0]
            .hash_id(),
        cap.events[0].hash_id(),
        "the context does not change the event hash"
    );
}

#[test]
fn a_context_the_schema_refuses_is_refused_with_its_path() {
    let cases = [
        (r#""@context":5"#, "$.@context"),
        (r#""@context":"not a uri""#, "$.@context"),
        (
            r#""@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",7]"#,
            "$.@context[1]",
        ),
        (
            r#""@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld","https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]"#,
            "$.@context[1]",
        ),
    ];
    for (context, path) in cases {
        let doc = document(context, &object_event(EPCS));
        assert_eq!(
            refused(&doc),
            ("invalid_field", path.to_string()),
            "{context}"
        );
    }
    for context in [
        r#""@context":"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld""#,
        r#""@context":{"example":"http://ns.example.com/epcis/"}"#,
        r#""@context":[]"#,
    ] {
        let doc = document(context, &object_event(EPCS));
        assert!(parse_capture(doc.as_bytes()).is_ok(), "{context}");
    }
    let own = object_event(&format!(r#"{EPCS},"@context":3"#));
    assert_eq!(
        refused(&document(CONTEXT, &own)),
        (
            "invalid_field",
            "$.epcisBody.eventList[0].@context".to_string()
        )
    );
}

#[test]
fn an_object_event_naming_no_object_is_refused_at_its_epc_list() {
    let at = "$.epcisBody.eventList[0].epcList".to_string();
    for extra in [
        "",
        r#","quantityList":[]"#,
        r#","bizStep":"shipping""#,
        r#","sensorElementList":[{"sensorReport":[{"type":"Temperature","value":26,"uom":"CEL"}]}]"#,
        r#","sensorElementList":[],"readPoint":{"id":"urn:epc:id:sgln:0614141.07346.1234"}"#,
    ] {
        let doc = document(CONTEXT, &object_event(extra));
        assert_eq!(refused(&doc), ("missing_field", at.clone()), "{extra}");
    }
}

#[test]
fn an_object_event_with_what_the_schema_accepts_parses() {
    for extra in [
        r#","epcList":[]"#,
        EPCS,
        r#","quantityList":[{"epcClass":"urn:epc:class:lgtin:4012345.012345.998877","quantity":200,"uom":"KGM"}]"#,
        r#","sensorElementList":[{"sensorReport":[{"type":"Temperature","value":26,"uom":"CEL"}]}],"readPoint":{"id":"urn:epc:id:sgln:0614141.07346.1234"}"#,
    ] {
        let doc = document(CONTEXT, &object_event(extra));
        let cap = parse_capture(doc.as_bytes()).unwrap_or_else(|e| panic!("{extra}: {e}"));
        let back = EpcisEvent::from_canonical_bytes(&cap.events[0].canonical_bytes()).unwrap();
        assert_eq!(back.hash_id(), cap.events[0].hash_id(), "{extra}");
    }
}

/// The event of `document(CONTEXT, …)` with `extra`.
fn parsed(extra: &str) -> EpcisEvent {
    let doc = document(CONTEXT, &object_event(extra));
    parse_capture(doc.as_bytes())
        .unwrap_or_else(|e| panic!("{extra}: {e}"))
        .events
        .remove(0)
}

#[test]
fn a_class_level_pattern_hashes_as_its_digital_link() {
    for (pattern, dl) in [
        (
            "urn:epc:idpat:cpi:4012345.AB12.*",
            "https://id.gs1.org/8010/4012345AB12",
        ),
        (
            "urn:epc:idpat:sgtin:4012345.012345.*",
            "https://id.gs1.org/01/04012345123456",
        ),
        (
            "urn:epc:idpat:itip:4012345.012345.01.02.*",
            "https://id.gs1.org/8006/040123451234560102",
        ),
    ] {
        let q = |class: &str| format!(r#","quantityList":[{{"epcClass":"{class}","quantity":3}}]"#);
        let by_pattern = parsed(&q(pattern));
        let by_dl = parsed(&q(dl));
        assert!(
            by_pattern
                .pre_hash_string()
                .contains(&format!("epcClass={dl}")),
            "{}",
            by_pattern.pre_hash_string()
        );
        assert_eq!(by_pattern.hash_id(), by_dl.hash_id(), "{pattern}");
        // In an extension too (the hash canonicalises every value, as the reference tool does).
        let ext = |v: &str| format!(r#"{EPCS},"example:class":"{v}""#);
        assert_eq!(
            parsed(&ext(pattern)).hash_id(),
            parsed(&ext(dl)).hash_id(),
            "{pattern}"
        );
    }
}

#[test]
fn a_pattern_naming_one_epc_hashes_as_that_epc() {
    for (pattern, instance) in [
        (
            "urn:epc:idpat:sscc:0614141.1234567890",
            "urn:epc:id:sscc:0614141.1234567890",
        ),
        (
            "urn:epc:idpat:giai:0614141.12345400",
            "urn:epc:id:giai:0614141.12345400",
        ),
        (
            "urn:epc:idpat:sgln:0614141.07346.1234",
            "urn:epc:id:sgln:0614141.07346.1234",
        ),
    ] {
        let a = parsed(&format!(r#","epcList":["{pattern}"]"#));
        let b = parsed(&format!(r#","epcList":["{instance}"]"#));
        assert_eq!(a.hash_id(), b.hash_id(), "{pattern}");
        assert_eq!(a.products(), b.products(), "{pattern}");
    }
}

fn gs1_file(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/epcis/gs1/JSON/WithErrorDeclaration")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn an_error_declaration_is_exposed_with_its_time_reason_and_corrective_ids() {
    let cap = parse_capture(&gs1_file(
        "Example_9.6.1-ObjectEvent-with-error-declaration.jsonld",
    ))
    .unwrap();
    let d = cap.events[0]
        .error_declaration()
        .expect("declared erroneous");
    assert_eq!(d.declaration_time_ms, 1_612_219_591_117);
    assert_eq!(d.reason.as_deref(), Some("incorrect_data"));
    assert_eq!(
        d.corrective_event_ids,
        [
            "ni:///sha-256;c6407ffcac52ec159528f2b556ba4ac3844c5aa48485c1fd61643e94f0a2d678?ver=CBV2.0",
            "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        ]
    );
    assert!(d.extensions.is_empty());
    assert_eq!(
        cap.events[0].event_id(),
        Some("ni:///sha-256;aa49daa1fe0b773e0437e546078dc87de9c864d5b9babe84488f31478887fdf3?ver=CBV2.0")
    );
    assert_eq!(cap.events[1].error_declaration(), None);

    let cap = parse_capture(&gs1_file("ErrorDeclarationAndCorrectiveEvent.jsonld")).unwrap();
    let d = cap.events[0]
        .error_declaration()
        .expect("declared erroneous");
    assert_eq!(d.declaration_time_ms, 1_579_042_800_000);
    assert_eq!(
        d.corrective_event_ids,
        ["urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"]
    );
    assert_eq!(
        cap.events[1].event_id(),
        Some(d.corrective_event_ids[0].as_str())
    );
    assert_eq!(
        d.extensions.get("example:vendorExtension"),
        Some(&serde_json::json!("Test1"))
    );
    let back = EpcisEvent::from_canonical_bytes(&cap.events[0].canonical_bytes()).unwrap();
    assert_eq!(back.error_declaration(), Some(d));
}

const DECLARED: &str = r#","errorDeclaration":{"declarationTime":"2024-01-02T10:00:00+01:00","reason":"urn:epcglobal:cbv:er:did_not_occur","correctiveEventIDs":["urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"],"example:note":"typo"}"#;

/// CBV 2.0 §8.9 and the reference tool (`to_be_ignored` in hash_generator.py) leave the
/// errorDeclaration out of the pre-hash string: the declaration re-captures the erroneous event
/// under the hash ID it was first captured with.
#[test]
fn the_error_declaration_is_not_part_of_the_event_hash() {
    let original = parsed(EPCS);
    let declared = parsed(&format!("{EPCS}{DECLARED}"));
    assert_eq!(declared.pre_hash_string(), original.pre_hash_string());
    assert_eq!(declared.hash_id(), original.hash_id());
    assert_ne!(declared.canonical_bytes(), original.canonical_bytes());
    let d = declared.error_declaration().unwrap();
    assert_eq!(d.reason.as_deref(), Some("did_not_occur"));
    assert_eq!(d.declaration_time_ms, 1_704_186_000_000);
}

#[test]
fn an_error_declaration_the_schema_refuses_is_refused_with_its_path() {
    let at = "$.epcisBody.eventList[0].errorDeclaration";
    let cases = [
        (
            r#"{"reason":"incorrect_data"}"#,
            "missing_field",
            ".declarationTime",
        ),
        (
            r#"{"declarationTime":"yesterday"}"#,
            "invalid_time",
            ".declarationTime",
        ),
        (
            r#"{"declarationTime":"2024-01-02T10:00:00Z","reason":"oops"}"#,
            "invalid_field",
            ".reason",
        ),
        (
            r#"{"declarationTime":"2024-01-02T10:00:00Z","reason":"urn:epcglobal:cbv:er:bogus"}"#,
            "invalid_field",
            ".reason",
        ),
        (
            r#"{"declarationTime":"2024-01-02T10:00:00Z","correctiveEventIDs":["not a uri"]}"#,
            "invalid_field",
            ".correctiveEventIDs[0]",
        ),
        (
            r#"{"declarationTime":"2024-01-02T10:00:00Z","correctiveEventIDs":"urn:uuid:1"}"#,
            "invalid_field",
            ".correctiveEventIDs",
        ),
        (
            r#"{"declarationTime":"2024-01-02T10:00:00Z","note":"x"}"#,
            "invalid_field",
            ".note",
        ),
        (
            r#"{"declarationTime":"2024-01-02T10:00:00Z","nope:note":"x"}"#,
            "undeclared_prefix",
            ".nope:note",
        ),
        (r#""2024-01-02T10:00:00Z""#, "invalid_field", ""),
    ];
    for (declaration, code, field) in cases {
        let doc = document(
            CONTEXT,
            &object_event(&format!(r#"{EPCS},"errorDeclaration":{declaration}"#)),
        );
        assert_eq!(
            refused(&doc),
            (code, format!("{at}{field}")),
            "{declaration}"
        );
    }
    let custom = parsed(&format!(
        r#"{EPCS},"errorDeclaration":{{"declarationTime":"2024-01-02T10:00:00Z","reason":"https://example.com/er/recount"}}"#
    ));
    let d = custom.error_declaration().unwrap();
    assert_eq!(d.reason.as_deref(), Some("https://example.com/er/recount"));
    assert!(d.corrective_event_ids.is_empty());
}
