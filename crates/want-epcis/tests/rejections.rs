//! Each rejection carries a stable code and the JSON path of the first problem.

use proptest::prelude::*;
use want_epcis::{
    parse_capture, EpcisEvent, EventType, Relation, CAPTURE_EVENTS_MAX, NESTING_DEPTH_MAX,
};

fn doc(event: &str) -> String {
    format!(
        r#"{{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{{"example":"http://ns.example.com/epcis/"}}],
        "type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2005-07-11T11:30:47.0Z",
        "epcisBody":{{"eventList":[{OK},{event}]}}}}"#
    )
}

const OK: &str = r#"{"type":"ObjectEvent","action":"OBSERVE","bizStep":"shipping","eventTime":"2005-04-03T20:33:31.116-06:00","eventTimeZoneOffset":"-06:00","epcList":["urn:epc:id:sgtin:0614141.107346.2017"]}"#;

fn rejected(event: &str) -> (String, String) {
    let e = parse_capture(doc(event).as_bytes()).expect_err("must be rejected");
    (e.code.to_string(), e.path)
}

fn ev(extra: &str) -> String {
    format!(
        r#"{{"type":"ObjectEvent","action":"ADD","eventTime":"2005-04-03T20:33:31Z","eventTimeZoneOffset":"+00:00"{extra}}}"#
    )
}

/// A bare event (with the `@context` the schema requires of one) carrying `extra`.
fn bare(extra: &str) -> String {
    ev(&format!(
        r#",{}{extra}"#,
        r#""@context":"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld""#
    ))
}

const E1: &str = "$.epcisBody.eventList[1]";

#[test]
fn valid_document_parses_with_typed_view() {
    let cap = parse_capture(doc(&ev(r#","bizStep":"urn:epcglobal:cbv:bizstep:receiving","readPoint":{"id":"urn:epc:id:sgln:0614141.07346.1234"},"quantityList":[{"epcClass":"urn:epc:class:lgtin:4012345.012345.998877","quantity":200,"uom":"KGM"}]"#)).as_bytes()).unwrap();
    let e = &cap.events[1];
    assert_eq!(e.event_type(), EventType::Object);
    assert_eq!(e.biz_step(), Some("receiving"));
    assert_eq!(
        e.read_point(),
        Some("https://id.gs1.org/414/0614141073467/254/1234")
    );
    assert_eq!(e.event_time_ms(), 1_112_560_411_000);
    let p = e.products();
    assert_eq!(p[0].relation, Relation::Quantity);
    assert_eq!(p[0].quantity, Some(200.0));
    assert!(e.hash_id().starts_with("ni:///sha-256;") && e.hash_id().ends_with("?ver=CBV2.0"));
}

#[test]
fn malformed_json_reports_line_and_column_at_root() {
    let e = parse_capture(b"{\n \"type\": ").unwrap_err();
    assert_eq!((e.code, e.path.as_str()), ("malformed_json", "$"));
    assert!(e.message.contains("line 2"), "{}", e.message);
}

#[test]
fn unknown_event_type_is_rejected() {
    assert_eq!(
        rejected(r#"{"type":"FooEvent"}"#),
        ("unknown_event_type".into(), format!("{E1}.type"))
    );
}

#[test]
fn time_without_offset_is_rejected() {
    let e = r#"{"type":"ObjectEvent","action":"ADD","eventTime":"2005-04-03T20:33:31","eventTimeZoneOffset":"+00:00"}"#;
    assert_eq!(
        rejected(e),
        ("invalid_time".into(), format!("{E1}.eventTime"))
    );
    let e = r#"{"type":"ObjectEvent","action":"ADD","eventTime":"2005-04-03T20:33:31Z","eventTimeZoneOffset":"+0000"}"#;
    assert_eq!(
        rejected(e),
        ("invalid_time".into(), format!("{E1}.eventTimeZoneOffset"))
    );
}

#[test]
fn a_time_with_a_multibyte_character_is_rejected_not_a_panic() {
    let e = r#"{"type":"ObjectEvent","action":"ADD","eventTime":"2024-01-01T00:00:0éZ","eventTimeZoneOffset":"+00:00"}"#;
    assert_eq!(
        rejected(e),
        ("invalid_time".into(), format!("{E1}.eventTime"))
    );
    let e = r#"{"type":"ObjectEvent","action":"ADD","eventTime":"2024-01-01T00:00:00Z","eventTimeZoneOffset":"+0é:00"}"#;
    assert_eq!(
        rejected(e),
        ("invalid_time".into(), format!("{E1}.eventTimeZoneOffset"))
    );
}

#[test]
fn non_numeric_quantity_is_rejected() {
    let e = ev(
        r#","quantityList":[{"epcClass":"urn:epc:class:lgtin:4012345.012345.998877","quantity":"200"}]"#,
    );
    assert_eq!(
        rejected(&e),
        (
            "invalid_quantity".into(),
            format!("{E1}.quantityList[0].quantity")
        )
    );
}

#[test]
fn invalid_epc_and_bad_check_digit_are_rejected_with_path() {
    let e =
        ev(r#","epcList":["urn:epc:id:sgtin:0614141.107346.1","urn:epc:id:sgtin:0614141.1073.2"]"#);
    assert_eq!(
        rejected(&e),
        ("invalid_identifier".into(), format!("{E1}.epcList[1]"))
    );
    let e = ev(r#","epcList":["https://id.gs1.org/01/10614141073465/21/1"]"#);
    assert_eq!(
        rejected(&e),
        ("invalid_identifier".into(), format!("{E1}.epcList[0]"))
    );
}

#[test]
fn undeclared_extension_prefix_is_rejected() {
    assert_eq!(
        rejected(&ev(r#","nope:field":"x""#)),
        ("undeclared_prefix".into(), format!("{E1}.nope:field"))
    );
    assert!(parse_capture(
        doc(&ev(r#","epcList":[],"example:field":{"example:inner":1}"#)).as_bytes()
    )
    .is_ok());
}

#[test]
fn missing_mandatory_fields_are_rejected() {
    let e = r#"{"type":"ObjectEvent","eventTime":"2005-04-03T20:33:31Z","eventTimeZoneOffset":"+00:00"}"#;
    assert_eq!(
        rejected(e),
        ("missing_field".into(), format!("{E1}.action"))
    );
    let e = r#"{"type":"ObjectEvent","action":"ADD","eventTimeZoneOffset":"+00:00"}"#;
    assert_eq!(
        rejected(e),
        ("missing_field".into(), format!("{E1}.eventTime"))
    );
}

#[test]
fn limits_are_enforced() {
    let many = vec![OK; CAPTURE_EVENTS_MAX + 1].join(",");
    let d = format!(
        r#"{{"@context":"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld","type":"EPCISDocument","epcisBody":{{"eventList":[{many}]}}}}"#
    );
    assert_eq!(
        parse_capture(d.as_bytes()).unwrap_err().code,
        "too_many_events"
    );
    let deep = format!(
        "{}{}",
        "[".repeat(NESTING_DEPTH_MAX + 1),
        "]".repeat(NESTING_DEPTH_MAX + 1)
    );
    assert_eq!(
        parse_capture(deep.as_bytes()).unwrap_err().code,
        "too_large"
    );
    let epcs: Vec<String> = (0..10_001)
        .map(|i| format!("\"urn:epc:id:sgtin:0614141.107346.{i}\""))
        .collect();
    let e = ev(&format!(r#","epcList":[{}]"#, epcs.join(",")));
    assert_eq!(
        rejected(&e),
        (
            "too_many_identifiers".into(),
            format!("{E1}.epcList[10000]")
        )
    );
}

#[test]
fn single_bare_event_and_forms_normalise_to_one_id() {
    let a =
        parse_capture(bare(r#","epcList":["urn:epc:id:sgtin:0614141.107346.2017"]"#).as_bytes())
            .unwrap();
    let b = parse_capture(
        bare(r#","epcList":["https://example.org/gtin/10614141073464/ser/2017"]"#).as_bytes(),
    )
    .unwrap();
    assert_eq!(a.events[0].hash_id(), b.events[0].hash_id());
    assert_eq!(a.events[0].canonical_bytes(), b.events[0].canonical_bytes());
}

/// Every string field of an event that reaches field validation, with a valid value.
const FIELDS: &[(&str, &str)] = &[
    ("eventTime", "2005-04-03T20:33:31.116-06:00"),
    ("eventTimeZoneOffset", "-06:00"),
    ("bizStep", "urn:epcglobal:cbv:bizstep:receiving"),
    ("disposition", "in_progress"),
    ("action", "OBSERVE"),
    ("epc", "urn:epc:id:sgtin:0614141.107346.2017"),
    ("epcClass", "urn:epc:class:lgtin:4012345.012345.998877"),
    ("uom", "KGM"),
    ("readPoint", "urn:epc:id:sgln:0614141.07346.1234"),
    ("bizLocation", "https://id.gs1.org/414/0614141073467"),
    ("bizTransaction", "urn:epcglobal:cbv:bt:0614141073467:1152"),
    ("source", "urn:epc:id:pgln:4012345.00001"),
];

/// An ObjectEvent carrying every field of [`FIELDS`], with `field` set to `value`.
fn event_with(field: &str, value: &str) -> String {
    let v = |name: &str| -> String {
        let raw = if name == field {
            value.to_string()
        } else {
            FIELDS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        serde_json::to_string(&raw).expect("a string encodes")
    };
    format!(
        r#"{{"type":"ObjectEvent","action":{},"eventTime":{},"eventTimeZoneOffset":{},"bizStep":{},"disposition":{},"epcList":[{}],"quantityList":[{{"epcClass":{},"quantity":2,"uom":{}}}],"readPoint":{{"id":{}}},"bizLocation":{{"id":{}}},"bizTransactionList":[{{"type":"po","bizTransaction":{}}}],"sourceList":[{{"type":"owning_party","source":{}}}]}}"#,
        v("action"),
        v("eventTime"),
        v("eventTimeZoneOffset"),
        v("bizStep"),
        v("disposition"),
        v("epc"),
        v("epcClass"),
        v("uom"),
        v("readPoint"),
        v("bizLocation"),
        v("bizTransaction"),
        v("source")
    )
}

#[test]
fn the_structured_event_parses_with_its_valid_values() {
    let d = doc(&event_with("", ""));
    parse_capture(d.as_bytes()).expect("the template is valid");
}

/// A document whose event 1 carries a changed field: refused with a stable code at event 1 (event
/// 0 is valid), or accepted with every event reading back from its canonical bytes unchanged.
fn refused_in_event_1_or_round_trips(d: &str) -> Result<(), TestCaseError> {
    match parse_capture(d.as_bytes()) {
        Err(e) => {
            prop_assert!(want_epcis::CODES.contains(&e.code), "{:?}", e);
            prop_assert!(e.path.starts_with(E1), "{:?}", e);
        }
        Ok(cap) => {
            prop_assert_eq!(cap.events.len(), 2);
            for e in cap.events {
                let back = EpcisEvent::from_canonical_bytes(&e.canonical_bytes()).unwrap();
                prop_assert_eq!(back.hash_id(), e.hash_id());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Arbitrary text (any Unicode) in every field that reaches field validation: refused or
    /// accepted, never a panic.
    #[test]
    fn any_text_in_any_field_is_refused_or_accepted(field in 0usize..FIELDS.len(), value in "\\PC{0,60}") {
        refused_in_event_1_or_round_trips(&doc(&event_with(FIELDS[field].0, &value)))?;
    }

    /// One character (any, multibyte included) put into or over a valid value at any place.
    #[test]
    fn one_character_anywhere_in_a_valid_field_is_refused_or_accepted(
        field in 0usize..FIELDS.len(),
        at in 0usize..64,
        c in any::<char>(),
        replace in any::<bool>(),
    ) {
        let mut chars: Vec<char> = FIELDS[field].1.chars().collect();
        let i = at % (chars.len() + 1);
        if replace && i < chars.len() {
            chars[i] = c;
        } else {
            chars.insert(i, c);
        }
        let value: String = chars.into_iter().collect();
        refused_in_event_1_or_round_trips(&doc(&event_with(FIELDS[field].0, &value)))?;
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = parse_capture(&bytes) {
            prop_assert!(want_epcis::CODES.contains(&e.code), "{:?}", e);
        }
    }

    #[test]
    fn parse_never_panics_on_mutated_documents_and_round_trips(pos in 0usize..400, byte in any::<u8>()) {
        let mut d = doc(&ev(r#","epcList":["urn:epc:id:sgtin:0614141.107346.2017"],"example:x":{"a":[1,2.5,"example:y"]}"#)).into_bytes();
        let i = pos % d.len();
        d[i] = byte;
        if let Ok(cap) = parse_capture(&d) {
            for e in cap.events {
                let back = EpcisEvent::from_canonical_bytes(&e.canonical_bytes()).unwrap();
                prop_assert_eq!(back.hash_id(), e.hash_id());
                prop_assert_eq!(back.canonical_bytes(), e.canonical_bytes());
            }
        }
    }
}
