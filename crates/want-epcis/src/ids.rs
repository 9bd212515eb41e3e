//! GS1 identifiers: EPC URNs and GS1 Digital Link URIs to the canonical Digital Link URI on
//! `https://id.gs1.org/`, with GS1 check digits verified.
//!
//! The conversion follows the reference normaliser of `epcis-event-hash-generator` 1.9.3
//! (`dl_normaliser.py`), which the CBV 2.0 event hash ID algorithm relies on: EPC URNs are
//! converted by hand (fast path), Digital Link URIs by a port of its regular expressions.
//!
//! EPC pattern URIs (`urn:epc:idpat:…`, CBV 2.0 §8.9: converted to "the corresponding" Digital
//! Link): a class-level pattern with a Digital Link form (sgtin, upui, grai, gdti, sgcn, cpi,
//! itip with a `*` serial) becomes that form, as in the reference tool; a pattern with no
//! wildcard names one EPC and becomes that EPC's Digital Link, for every GS1 scheme (the
//! reference tool leaves those verbatim); any other wildcard pattern (any SSCC of a company
//! prefix, any extension of a GLN …) has no Digital Link form and is kept verbatim.

use regex::Regex;
use std::sync::OnceLock;

/// Longest identifier accepted, bytes (GS1 DL URIs are well under 200 characters).
pub(crate) const IDENTIFIER_BYTES_MAX: usize = 2048;

/// GS1 standard mod-10 check digit of `digits` (ASCII digits, check digit excluded).
pub(crate) fn check_digit(digits: &str) -> u8 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                d * 3
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Percent-encodes the characters GS1 DL requires encoded that EPC URNs allow verbatim
/// (same set as the reference tool).
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '!' => out.push_str("%21"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '*' => out.push_str("%2A"),
            '+' => out.push_str("%2B"),
            ',' => out.push_str("%2C"),
            ':' => out.push_str("%3A"),
            _ => out.push(c),
        }
    }
    out
}

/// Counts characters of an EPC "GS3A3" component (escapes count once); None if invalid.
fn gs3a3_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(h, 16).ok()?;
            // Escapes allowed by the EPC URI grammar: " % & / < > ? and the printable range.
            if !(0x21..=0x7a).contains(&v) {
                return None;
            }
            i += 3;
        } else {
            let c = b[i];
            let ok = c.is_ascii_alphanumeric() || b"!')(*+,.:;=_-".contains(&c);
            if !ok {
                return None;
            }
            i += 1;
        }
        n += 1;
    }
    Some(n)
}

/// Counts characters of a CPI component reference (escapes count once): `[0-9A-Z-]` or the
/// escapes `%23 %2D %2F %30-%39 %41-%5A` (hex digits in either case); None if invalid.
fn cpi_ref_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let v = u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?;
            if !matches!(v, 0x23 | 0x2D | 0x2F | 0x30..=0x39 | 0x41..=0x5A) {
                return None;
            }
            i += 3;
        } else if b[i].is_ascii_digit() || b[i].is_ascii_uppercase() || b[i] == b'-' {
            i += 1;
        } else {
            return None;
        }
        n += 1;
    }
    Some(n)
}

/// Splits `cp.ref` where the company prefix has 6..=12 digits and `cp.len()+ref.len()==total`
/// (`ref` may be empty only when `allow_empty_ref`).
fn cp_ref<'a>(cp: &'a str, r: &'a str, total: usize, allow_empty_ref: bool) -> Option<()> {
    if !(6..=12).contains(&cp.len()) || !all_digits(cp) {
        return None;
    }
    if cp.len() + r.len() != total {
        return None;
    }
    if r.is_empty() {
        return allow_empty_ref.then_some(());
    }
    all_digits(r).then_some(())
}

fn gtin_of(cp: &str, ir: &str) -> String {
    let raw = format!("{}{}{}", &ir[..1], cp, &ir[1..]);
    let cd = check_digit(&raw);
    format!("{raw}{cd}")
}

fn with_cd(raw: &str) -> String {
    format!("{raw}{}", check_digit(raw))
}

/// EPC pure-identity / class / pattern URN to canonical DL (None if not a valid GS1 EPC URN).
pub(crate) fn epc_urn_to_dl(uri: &str) -> Option<String> {
    const DL: &str = "https://id.gs1.org/";
    if let Some(rest) = uri.strip_prefix("urn:epc:id:") {
        let (scheme, body) = rest.split_once(':')?;
        match scheme {
            "sgtin" | "upui" => {
                let mut it = body.splitn(3, '.');
                let (cp, ir, ser) = (it.next()?, it.next()?, it.next()?);
                cp_ref(cp, ir, 13, false)?;
                let max = if scheme == "sgtin" { 20 } else { 28 };
                let n = gs3a3_len(ser)?;
                if n == 0 || n > max {
                    return None;
                }
                let ai = if scheme == "sgtin" { "21" } else { "235" };
                Some(format!("{DL}01/{}/{ai}/{}", gtin_of(cp, ir), pct(ser)))
            }
            "sscc" | "gsrn" | "gsrnp" | "gsin" => {
                let (cp, r) = body.split_once('.')?;
                let total = if scheme == "gsin" { 16 } else { 17 };
                cp_ref(cp, r, total, false)?;
                Some(match scheme {
                    "sscc" => format!(
                        "{DL}00/{}",
                        with_cd(&format!("{}{}{}", &r[..1], cp, &r[1..]))
                    ),
                    "gsrn" => format!("{DL}8018/{}", with_cd(&format!("{cp}{r}"))),
                    "gsrnp" => format!("{DL}8017/{}", with_cd(&format!("{cp}{r}"))),
                    _ => format!("{DL}402/{}", with_cd(&format!("{cp}{r}"))),
                })
            }
            "sgln" | "grai" | "gdti" | "sgcn" => {
                let mut it = body.splitn(3, '.');
                let (cp, r, ser) = (it.next()?, it.next()?, it.next()?);
                cp_ref(cp, r, 12, true)?;
                let raw = with_cd(&format!("{cp}{r}"));
                match scheme {
                    "sgln" => {
                        let n = gs3a3_len(ser)?;
                        if n == 0 || n > 20 {
                            return None;
                        }
                        if ser == "0" {
                            Some(format!("{DL}414/{raw}"))
                        } else {
                            Some(format!("{DL}414/{raw}/254/{}", pct(ser)))
                        }
                    }
                    "grai" => {
                        let n = gs3a3_len(ser)?;
                        if n == 0 || n > 16 {
                            return None;
                        }
                        Some(format!(
                            "{DL}8003/{}{}",
                            with_cd(&format!("0{cp}{r}")),
                            pct(ser)
                        ))
                    }
                    "gdti" => {
                        let n = gs3a3_len(ser)?;
                        if n > 17 {
                            return None;
                        }
                        Some(format!("{DL}253/{raw}{}", pct(ser)))
                    }
                    _ => {
                        if ser.len() > 12 || !(ser.is_empty() || all_digits(ser)) || ser.is_empty()
                        {
                            return None;
                        }
                        Some(format!("{DL}255/{raw}{ser}"))
                    }
                }
            }
            "pgln" => {
                let (cp, r) = body.split_once('.')?;
                cp_ref(cp, r, 12, true)?;
                Some(format!("{DL}417/{}", with_cd(&format!("{cp}{r}"))))
            }
            "giai" | "ginc" => {
                let (cp, r) = body.split_once('.')?;
                if !(6..=12).contains(&cp.len()) || !all_digits(cp) {
                    return None;
                }
                let n = gs3a3_len(r)?;
                if n == 0 || n + cp.len() > 30 {
                    return None;
                }
                let ai = if scheme == "giai" { "8004" } else { "401" };
                Some(format!("{DL}{ai}/{cp}{}", pct(r)))
            }
            "cpi" => {
                let (cp, r) = body.split_once('.')?;
                let (cpref, ser) = r.rsplit_once('.')?;
                if !(6..=12).contains(&cp.len()) || !all_digits(cp) {
                    return None;
                }
                if cpref.is_empty() || cpref.len() + cp.len() > 30 {
                    return None;
                }
                let ok = cpref.bytes().all(|c| {
                    c.is_ascii_digit() || c.is_ascii_uppercase() || c == b'-' || c == b'%'
                });
                if !ok || !all_digits(ser) || ser.len() > 12 {
                    return None;
                }
                Some(format!(
                    "{DL}8010/{}/8011/{ser}",
                    pct(&format!("{cp}{cpref}"))
                ))
            }
            "itip" => {
                let mut it = body.splitn(5, '.');
                let (cp, ir, pp, tt, ser) =
                    (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
                cp_ref(cp, ir, 13, false)?;
                if pp.len() != 2 || tt.len() != 2 || !all_digits(pp) || !all_digits(tt) {
                    return None;
                }
                let n = gs3a3_len(ser)?;
                if n == 0 || n > 20 {
                    return None;
                }
                Some(format!(
                    "{DL}8006/{}{pp}{tt}/21/{}",
                    gtin_of(cp, ir),
                    pct(ser)
                ))
            }
            _ => None,
        }
    } else if let Some(rest) = uri.strip_prefix("urn:epc:class:lgtin:") {
        let mut it = rest.splitn(3, '.');
        let (cp, ir, lot) = (it.next()?, it.next()?, it.next()?);
        cp_ref(cp, ir, 13, false)?;
        let n = gs3a3_len(lot)?;
        if n == 0 || n > 20 {
            return None;
        }
        Some(format!("{DL}01/{}/10/{}", gtin_of(cp, ir), pct(lot)))
    } else if let Some(rest) = uri.strip_prefix("urn:epc:idpat:") {
        let (scheme, body) = rest.split_once(':')?;
        let parts: Vec<&str> = body.split('.').collect();
        if !parts.contains(&"*") {
            // A pattern naming every component denotes exactly one EPC: its instance's DL.
            return epc_urn_to_dl(&format!("urn:epc:id:{rest}"));
        }
        match (scheme, parts.as_slice()) {
            ("sgtin" | "upui", [cp, ir, "*"]) => {
                cp_ref(cp, ir, 13, false)?;
                Some(format!("{DL}01/{}", gtin_of(cp, ir)))
            }
            ("grai", [cp, r, "*"]) => {
                cp_ref(cp, r, 12, true)?;
                Some(format!("{DL}8003/{}", with_cd(&format!("0{cp}{r}"))))
            }
            ("gdti", [cp, r, "*"]) => {
                cp_ref(cp, r, 12, true)?;
                Some(format!("{DL}253/{}", with_cd(&format!("{cp}{r}"))))
            }
            ("sgcn", [cp, r, "*"]) => {
                cp_ref(cp, r, 12, true)?;
                Some(format!("{DL}255/{}", with_cd(&format!("{cp}{r}"))))
            }
            ("cpi", [cp, r, "*"]) => {
                if !(6..=12).contains(&cp.len()) || !all_digits(cp) {
                    return None;
                }
                let n = cpi_ref_len(r)?;
                if n == 0 || n + cp.len() > 30 {
                    return None;
                }
                Some(format!("{DL}8010/{}", pct(&format!("{cp}{r}"))))
            }
            ("itip", [cp, ir, pp, tt, "*"]) => {
                cp_ref(cp, ir, 13, false)?;
                if pp.len() != 2 || tt.len() != 2 || !all_digits(pp) || !all_digits(tt) {
                    return None;
                }
                Some(format!("{DL}8006/{}{pp}{tt}", gtin_of(cp, ir)))
            }
            _ => None,
        }
    } else {
        None
    }
}

struct DlRegexes {
    grammar: Regex,
    canonical_prefix: Regex,
    gtin14: Regex,
    gtin13: Regex,
    gtin12: Regex,
    gtin8: Regex,
    cpv_a: Regex,
    cpv_b: Regex,
    lot_serial: Regex,
    valid: Vec<Regex>,
}

const KEYS: &str = "01|gtin|8006|itip|8010|cpid|414|gln|417|party|8017|gsrnp|8018|gsrn|255|gcn|00|sscc|253|gdti|401|ginc|402|gsin|8003|grai|8004|giai";
const C20: &str = r"[\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]";

fn dl_regexes() -> &'static DlRegexes {
    static R: OnceLock<DlRegexes> = OnceLock::new();
    R.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("invariant: built-in GS1 DL pattern compiles");
        let c = C20;
        DlRegexes {
            grammar: re(&format!(
                r"^https?:(//((([^/?#]*)@)?([^/?#:]*)(:([^/?#]*))?))?((([^?#]*)(/({KEYS})/)(\d{{4}}[^/]+)(/[^/]+/[^/]+)?[/]?(\?([^?\n]*))?(#([^\n]*))?)|(/[A-Za-z_-]{{10}}$))"
            )),
            canonical_prefix: re(
                r"^(?:https://id.gs1.org/(01|8006|8010|414|417|8017|8018|255|00|253|401|402|8003|8004)/(\d{4}[^/]+)(/[^/]+/[^/]+)?[/]?(\?([^?\n]*))?(#([^\n]*))?|(/[A-Za-z_-]{10}$))",
            ),
            gtin14: re(r"^https://id.gs1.org/01/\d{14}"),
            gtin13: re(r"^https://id.gs1.org/01/\d{13}"),
            gtin12: re(r"^https://id.gs1.org/01/\d{12}"),
            gtin8: re(r"^https://id.gs1.org/01/\d{8}"),
            cpv_a: re(&format!(
                r"^(?:https://id.gs1.org/8006/\d{{18}}/22/({c}){{0,20}}$|https://id.gs1.org/01/\d{{14}}/22/({c}){{0,20}}$)"
            )),
            cpv_b: re(
                r"^(?:https://id.gs1.org/8006/\d{18}/22/([\x2F\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]){0,20}$|https://id.gs1.org/01/\d{14}/22/([\x2F\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]){0,20}$)",
            ),
            lot_serial: re(&format!(
                r"^(?:https://id.gs1.org/8006/\d{{18}}/10/({c}){{0,20}}/21/({c}){{0,20}}$|https://id.gs1.org/01/(\d{{14}})/10/({c}){{0,20}}/21/({c}){{0,20}}$)"
            )),
            valid: [
                r"^https://id.gs1.org/00/(\d{18})$".to_string(),
                format!(r"^https://id.gs1.org/01/(\d{{14}})/21/({c}{{0,20}})$"),
                format!(r"^https://id.gs1.org/01/(\d{{14}})/10/({c}{{0,20}})$"),
                r"^https://id.gs1.org/01/(\d{14})$".to_string(),
                format!(r"^https://id.gs1.org/01/(\d{{14}})/235/({c}{{0,28}})$"),
                format!(r"^https://id.gs1.org/253/(\d{{13}})({c}{{0,17}})$"),
                r"^https://id.gs1.org/255/(\d{13})(\d{0,12})$".to_string(),
                format!(r"^https://id.gs1.org/401/({c}{{0,30}})$"),
                r"^https://id.gs1.org/402/(\d{17})$".to_string(),
                r"^https://id.gs1.org/414/(\d{13})$".to_string(),
                format!(r"^https://id.gs1.org/414/(\d{{13}})/254/({c}{{0,20}})$"),
                r"^https://id.gs1.org/417/(\d{13})$".to_string(),
                format!(r"^https://id.gs1.org/8003/(\d{{14}})({c}{{0,16}})$"),
                format!(r"^https://id.gs1.org/8004/({c}{{0,30}})$"),
                format!(r"^https://id.gs1.org/8006/(\d{{18}})/21/({c}{{0,20}})$"),
                format!(r"^https://id.gs1.org/8006/(\d{{18}})/10/({c}{{0,20}})$"),
                r"^https://id.gs1.org/8006/(\d{18})$".to_string(),
                r"^https://id.gs1.org/8010/([\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30})/8011/(\d{0,12})$".to_string(),
                r"^https://id.gs1.org/8010/([\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30})$".to_string(),
                r"^https://id.gs1.org/8017/(\d{18})$".to_string(),
                r"^https://id.gs1.org/8018/(\d{18})$".to_string(),
            ]
            .iter()
            .map(|s| re(s))
            .collect(),
        }
    })
}

/// Fast check for the most frequent already-canonical forms (`/01/<14>/21/<ser>`, `/00/<18>`,
/// `/414/<13>[/254/<ext>]`) for which the reference normaliser is the identity.
fn is_simple_canonical(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("https://id.gs1.org/") else {
        return false;
    };
    let c20 = |s: &str| {
        s.len() <= 20
            && s.bytes().all(|b| {
                matches!(b, 0x22 | 0x27 | 0x2D | 0x2E | 0x30..=0x39 | 0x3B..=0x3F | 0x41..=0x5A | 0x5F | 0x61..=0x7A)
            })
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["01", g, "21", s] => g.len() == 14 && all_digits(g) && c20(s),
        ["00", s] => s.len() == 18 && all_digits(s),
        ["414", g] => g.len() == 13 && all_digits(g),
        ["414", g, "254", e] => g.len() == 13 && all_digits(g) && c20(e),
        _ => false,
    }
}

/// Port of the reference tool's `normaliser` for any string (None: not a normalisable GS1 id).
pub(crate) fn reference_normalise(uri: &str) -> Option<String> {
    if !uri.contains('.') {
        return None;
    }
    if uri.starts_with("urn:epc:") {
        return epc_urn_to_dl(uri);
    }
    if !uri.starts_with("http") {
        return None;
    }
    if is_simple_canonical(uri) {
        return Some(uri.to_string());
    }
    let r = dl_regexes();
    if !r.grammar.is_match(uri) {
        return None;
    }
    let mut uri = match uri.find('?') {
        Some(i) => uri[..i].to_string(),
        None => uri.to_string(),
    };
    for (from, to) in [
        ("/gtin/", "/01/"),
        ("/itip/", "/8006/"),
        ("/cpid/", "/8010/"),
        ("/gln/", "/414/"),
        ("/party/", "/417/"),
        ("/gsrnp/", "/8017/"),
        ("/gsrn/", "/8018/"),
        ("/gcn/", "/255/"),
        ("/sscc/", "/00/"),
        ("/gdti/", "/253/"),
        ("/ginc/", "/401/"),
        ("/gsin/", "/402/"),
        ("/grai/", "/8003/"),
        ("/giai/", "/8004/"),
        ("/cpv/", "/22/"),
        ("/lot/", "/10/"),
        ("/ser/", "/21/"),
    ] {
        if uri.contains(from) {
            uri = uri.replace(from, to);
        }
    }
    if !r.canonical_prefix.is_match(&uri) {
        for key in [
            "/00/", "/01/", "/253/", "/255/", "/401/", "/402/", "/414/", "/417/", "/8003/",
            "/8004/", "/8006/", "/8010/", "/8017/", "/8018/",
        ] {
            if let Some(i) = uri.find(key) {
                uri = format!("https://id.gs1.org{}", &uri[i..]);
                break;
            }
        }
    }
    if !r.gtin14.is_match(&uri) {
        if r.gtin13.is_match(&uri) {
            uri = uri.replace("/01/", "/01/0");
        } else if r.gtin12.is_match(&uri) {
            uri = uri.replace("/01/", "/01/00");
        } else if r.gtin8.is_match(&uri) {
            uri = uri.replace("/01/", "/01/000000");
        }
    }
    if r.cpv_a.is_match(&uri) {
        if let Some(i) = uri.find("/22/") {
            uri.truncate(i);
        }
    } else if r.cpv_b.is_match(&uri) {
        if let Some(i) = uri.find("/22/") {
            let x = uri[i + 4..].to_string();
            let tail = match x.find('/') {
                Some(j) => x[j..].to_string(),
                None => x[x.len().saturating_sub(1)..].to_string(),
            };
            uri = format!("{}{}", &uri[..i], tail);
        }
    }
    if r.lot_serial.is_match(&uri) {
        if let Some(i) = uri.find("/10/") {
            let y = uri[i + 4..].to_string();
            let tail = match y.find('/') {
                Some(j) => y[j..].to_string(),
                None => y[y.len().saturating_sub(1)..].to_string(),
            };
            uri = format!("{}{}", &uri[..i], tail);
        }
    }
    r.valid.iter().any(|v| v.is_match(&uri)).then_some(uri)
}

/// Verifies the check digit of the primary key of a canonical DL URI (GTIN, SSCC, GLN, GSRN,
/// GSIN, GDTI, GCN, GRAI, ITIP); Err names the problem.
fn verify_dl_check_digit(dl: &str) -> Result<(), String> {
    let Some(rest) = dl.strip_prefix("https://id.gs1.org/") else {
        return Ok(());
    };
    let (ai, val) = rest.split_once('/').unwrap_or((rest, ""));
    let val = val.split('/').next().unwrap_or("");
    let key_len = match ai {
        "01" => 14,
        "00" | "8017" | "8018" => 18,
        "414" | "417" | "253" | "255" => 13,
        "402" => 17,
        "8003" | "8006" => 14,
        _ => return Ok(()),
    };
    let key = val.get(..key_len).unwrap_or("");
    if key.len() != key_len || !all_digits(key) {
        return Err(format!(
            "GS1 key of AI ({ai}) must start with {key_len} digits"
        ));
    }
    let (body, cd) = key.split_at(key_len - 1);
    let want = check_digit(body);
    if cd.as_bytes()[0] - b'0' != want {
        return Err(format!(
            "bad check digit in AI ({ai}) key {key}: expected {want}"
        ));
    }
    Ok(())
}

fn has_uri_scheme(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut b = scheme.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'-' || c == b'.')
        && !rest.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `true` if `s` is an absolute URI (scheme, non-empty rest, no whitespace).
pub(crate) fn is_absolute_uri(s: &str) -> bool {
    s.len() <= IDENTIFIER_BYTES_MAX && has_uri_scheme(s)
}

const GS1_EPC_SCHEMES: &[&str] = &[
    "sgtin", "sscc", "sgln", "grai", "giai", "gsrn", "gsrnp", "gdti", "cpi", "sgcn", "ginc",
    "gsin", "itip", "upui", "pgln",
];

/// Normalises one identifier (EPC, class, location, party …). GS1 keys become canonical DL
/// URIs (check digits verified); other absolute URIs are kept verbatim. Err is a message.
pub(crate) fn normalise_identifier(s: &str) -> Result<String, String> {
    if s.len() > IDENTIFIER_BYTES_MAX {
        return Err(format!(
            "identifier longer than {IDENTIFIER_BYTES_MAX} bytes"
        ));
    }
    if let Some(rest) = s.strip_prefix("urn:epc:") {
        let gs1 = if let Some(r) = rest.strip_prefix("id:") {
            GS1_EPC_SCHEMES
                .iter()
                .any(|k| r.split(':').next() == Some(k))
        } else {
            rest.starts_with("class:") || rest.starts_with("idpat:")
        };
        if gs1 {
            if let Some(dl) = epc_urn_to_dl(s) {
                return Ok(dl);
            }
            // A pattern with a wildcard that has no Digital Link form (any SSCC of a company
            // prefix, any extension of a GLN …) or of a non-GS1 scheme is kept as it is, as the
            // reference hash tool does; a GS1 pattern naming every component must convert.
            if let Some(pat) = rest.strip_prefix("idpat:") {
                let (scheme, body) = pat.split_once(':').unwrap_or((pat, ""));
                let keep = body.split('.').any(|c| c == "*") || !GS1_EPC_SCHEMES.contains(&scheme);
                if keep
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b":.*".contains(&b))
                {
                    return Ok(s.to_string());
                }
            }
            return Err(format!("invalid GS1 EPC URI {s:?}"));
        }
        if !has_uri_scheme(s) {
            return Err(format!("not an absolute URI: {s:?}"));
        }
        return Ok(s.to_string());
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        if !has_uri_scheme(s) {
            return Err(format!("not an absolute URI: {s:?}"));
        }
        let r = dl_regexes();
        let looks_gs1 =
            is_simple_canonical(s) || (r.grammar.is_match(s) && !s.ends_with('/') && gs1_path(s));
        if looks_gs1 {
            return match reference_normalise(s) {
                Some(dl) => {
                    verify_dl_check_digit(&dl)?;
                    Ok(dl)
                }
                // Valid DL the reference normaliser leaves alone (e.g. percent-escapes such as
                // `/254/123%29`, which our own EPC URN conversion produces): keep verbatim so
                // normalisation stays idempotent, but still verify the key's check digit.
                None => {
                    verify_dl_check_digit(s)?;
                    Ok(s.to_string())
                }
            };
        }
        return Ok(s.to_string());
    }
    if has_uri_scheme(s) {
        Ok(s.to_string())
    } else {
        Err(format!("not an absolute URI: {s:?}"))
    }
}

/// `true` if the URI path carries a GS1 primary key segment `/<ai>/<digits…>`.
fn gs1_path(s: &str) -> bool {
    let path_start = s.find("://").map(|i| i + 3).unwrap_or(0);
    let after = &s[path_start..];
    let path = match after.find('/') {
        Some(i) => &after[i..],
        None => return false,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').collect();
    segs.windows(2).any(|w| {
        KEYS.split('|').any(|k| k == w[0])
            && w[1].len() >= 5
            && w[1].bytes().take(4).all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgtin_urn_becomes_canonical_digital_link() {
        assert_eq!(
            normalise_identifier("urn:epc:id:sgtin:0614141.107346.2017").unwrap(),
            "https://id.gs1.org/01/10614141073464/21/2017"
        );
    }

    #[test]
    fn sscc_sgln_and_lgtin_convert() {
        assert_eq!(
            epc_urn_to_dl("urn:epc:id:sscc:0614141.1234567890").unwrap(),
            "https://id.gs1.org/00/106141412345678908"
        );
        assert_eq!(
            epc_urn_to_dl("urn:epc:id:sgln:0614141.07346.1234").unwrap(),
            "https://id.gs1.org/414/0614141073467/254/1234"
        );
        assert_eq!(
            epc_urn_to_dl("urn:epc:id:sgln:0012345.11111.0").unwrap(),
            "https://id.gs1.org/414/0012345111112"
        );
        assert_eq!(
            epc_urn_to_dl("urn:epc:class:lgtin:4012345.012345.998877").unwrap(),
            "https://id.gs1.org/01/04012345123456/10/998877"
        );
        assert_eq!(
            epc_urn_to_dl("urn:epc:idpat:sgtin:4012345.066666.*").unwrap(),
            "https://id.gs1.org/01/04012345666663"
        );
    }

    /// The reference tool's own cases (`tests/dl_normaliser_test.py` of
    /// epcis-event-hash-generator): every class-level pattern with a Digital Link form.
    #[test]
    fn every_class_level_pattern_converts_like_the_reference_tool() {
        for (pattern, dl) in [
            (
                "urn:epc:idpat:sgtin:4012345.012345.*",
                "https://id.gs1.org/01/04012345123456",
            ),
            (
                "urn:epc:idpat:grai:4012345.99999.*",
                "https://id.gs1.org/8003/04012345999990",
            ),
            (
                "urn:epc:idpat:gdti:4012345.11111.*",
                "https://id.gs1.org/253/4012345111118",
            ),
            (
                "urn:epc:idpat:sgcn:4012345.22222.*",
                "https://id.gs1.org/255/4012345222227",
            ),
            (
                "urn:epc:idpat:cpi:4012345.AB12.*",
                "https://id.gs1.org/8010/4012345AB12",
            ),
            (
                "urn:epc:idpat:itip:4012345.012345.01.02.*",
                "https://id.gs1.org/8006/040123451234560102",
            ),
            (
                "urn:epc:idpat:upui:4012345.012345.*",
                "https://id.gs1.org/01/04012345123456",
            ),
        ] {
            assert_eq!(
                normalise_identifier(pattern).as_deref(),
                Ok(dl),
                "{pattern}"
            );
            assert_eq!(
                reference_normalise(pattern).as_deref(),
                Some(dl),
                "{pattern}"
            );
        }
        assert_eq!(
            normalise_identifier("urn:epc:idpat:cpi:4012345.AB%2F12.*").as_deref(),
            Ok("https://id.gs1.org/8010/4012345AB%2F12")
        );
        for bad in [
            "urn:epc:idpat:cpi:4012345.ab12.*",
            "urn:epc:idpat:cpi:4012345.AB%2012.*",
            "urn:epc:idpat:cpi:4012345.ABCDEFGHIJKLMNOPQRSTUVWX.*",
        ] {
            assert_eq!(epc_urn_to_dl(bad), None, "{bad}");
        }
    }

    /// A pattern URI with no wildcard names one EPC, of every GS1 scheme.
    #[test]
    fn a_pattern_naming_every_component_converts_like_its_instance() {
        for id in [
            "sgtin:0614141.107346.2017",
            "sscc:0614141.1234567890",
            "sgln:0614141.07346.1234",
            "sgln:0614141.07346.0",
            "grai:0614141.12345.400",
            "giai:0614141.12345400",
            "gsrn:0614141.1234567890",
            "gsrnp:0614141.1234567890",
            "gdti:0614141.12345.400",
            "cpi:0614141.123ABC.123456789",
            "sgcn:4012345.67890.04711",
            "ginc:0614141.xyz47%2F11",
            "gsin:0614141.123456789",
            "itip:4012345.012345.01.02.987",
            "upui:1234567.089456.51qIgY)%3C%26Jp3*j7'SDB",
            "pgln:1234567.89012",
        ] {
            let instance = normalise_identifier(&format!("urn:epc:id:{id}")).unwrap();
            assert!(instance.starts_with("https://id.gs1.org/"), "{id}");
            assert_eq!(
                normalise_identifier(&format!("urn:epc:idpat:{id}")),
                Ok(instance.clone()),
                "{id}"
            );
            assert_eq!(
                reference_normalise(&format!("urn:epc:idpat:{id}")),
                Some(instance),
                "{id}"
            );
        }
        assert!(normalise_identifier("urn:epc:idpat:sgtin:0614141.10734.2017").is_err());
        assert!(normalise_identifier("urn:epc:idpat:sscc:0614141.123").is_err());
    }

    #[test]
    fn wildcard_patterns_without_a_digital_link_form_are_kept_verbatim() {
        for p in [
            "urn:epc:idpat:sscc:0614141.*",
            "urn:epc:idpat:sgln:0614141.07346.*",
            "urn:epc:idpat:giai:0614141.*",
            "urn:epc:idpat:gsrn:0614141.*",
            "urn:epc:idpat:sgtin:0614141.*.*",
            "urn:epc:idpat:sgtin:*.*.*",
            "urn:epc:idpat:gid:95100000.12345.*",
            "urn:epc:idpat:gid:95100000.12345.400",
        ] {
            assert_eq!(normalise_identifier(p).as_deref(), Ok(p), "{p}");
        }
    }

    #[test]
    fn digital_link_on_other_host_and_short_names_is_canonicalised() {
        assert_eq!(
            normalise_identifier("https://example.com/gtin/10614141073464/ser/2017?x=1").unwrap(),
            "https://id.gs1.org/01/10614141073464/21/2017"
        );
        assert_eq!(
            normalise_identifier("https://id.gs1.org/01/10614141073464/10/LOT/21/2017").unwrap(),
            "https://id.gs1.org/01/10614141073464/21/2017"
        );
    }

    #[test]
    fn normalisation_is_idempotent_for_percent_escaped_extensions() {
        let dl = normalise_identifier("urn:epc:id:sgln:0614141.07346.123)").unwrap();
        assert_eq!(dl, "https://id.gs1.org/414/0614141073467/254/123%29");
        assert_eq!(normalise_identifier(&dl).unwrap(), dl);
        assert!(normalise_identifier("https://id.gs1.org/01/12345/21/x").is_err());
    }

    #[test]
    fn bad_check_digit_is_rejected() {
        for bad in [
            "https://id.gs1.org/01/10614141073465/21/2017",
            "https://id.gs1.org/00/106141412345678909",
            "https://id.gs1.org/414/0614141073468",
        ] {
            let e = normalise_identifier(bad).unwrap_err();
            assert!(e.contains("bad check digit"), "{bad}: {e}");
        }
    }

    #[test]
    fn invalid_epc_urn_is_rejected_and_other_uris_kept() {
        let e = normalise_identifier("urn:epc:id:sgtin:0614141.10734.2017").unwrap_err();
        assert!(e.starts_with("invalid GS1 EPC URI"), "{e}");
        let e = normalise_identifier("not a uri").unwrap_err();
        assert!(e.starts_with("not an absolute URI"), "{e}");
        assert_eq!(
            normalise_identifier("urn:example:thing:1").unwrap(),
            "urn:example:thing:1"
        );
        assert_eq!(
            normalise_identifier("https://example.com/item/1").unwrap(),
            "https://example.com/item/1"
        );
    }

    mod parsers {
        use super::super::*;
        use crate::fuzz_inputs::{mutated, nasty_char};
        use proptest::prelude::*;

        const VALID: &[&str] = &[
            "urn:epc:id:sgtin:0614141.107346.2017",
            "urn:epc:id:sscc:0614141.1234567890",
            "urn:epc:id:sgln:0614141.07346.1234",
            "urn:epc:id:sgln:0012345.11111.0",
            "urn:epc:id:grai:4012345.99999.1",
            "urn:epc:id:giai:4012345.A1",
            "urn:epc:id:gsrn:4012345.1234567890",
            "urn:epc:id:gsrnp:4012345.1234567890",
            "urn:epc:id:gdti:4012345.11111.7",
            "urn:epc:id:cpi:4012345.AB12.5",
            "urn:epc:id:sgcn:4012345.22222.04",
            "urn:epc:id:ginc:4012345.ABC",
            "urn:epc:id:gsin:4012345.222333444",
            "urn:epc:id:itip:4012345.012345.01.02.987",
            "urn:epc:id:upui:4012345.012345.a1",
            "urn:epc:id:pgln:4012345.00001",
            "urn:epc:class:lgtin:4012345.012345.998877",
            "urn:epc:idpat:sgtin:4012345.012345.*",
            "urn:epc:idpat:sscc:0614141.*",
            "urn:epc:idpat:cpi:4012345.AB%2F12.*",
            "urn:epc:idpat:itip:4012345.012345.01.02.*",
            "urn:epc:idpat:gid:95100000.12345.*",
            "https://id.gs1.org/01/10614141073464/21/2017",
            "https://id.gs1.org/01/04012345123456/10/998877",
            "https://id.gs1.org/00/106141412345678908",
            "https://id.gs1.org/414/0614141073467/254/1234",
            "https://id.gs1.org/8003/04012345999990",
            "https://id.gs1.org/8006/040123451234560102",
            "https://id.gs1.org/8010/4012345AB%2F12",
            "https://id.gs1.org/255/4012345222227",
            "https://example.com/gtin/10614141073464/ser/2017?x=1",
            "https://id.gs1.org/01/10614141073464/22/2A/10/LOT/21/2017",
            "urn:example:thing:1",
            "https://example.com/item/1",
        ];

        /// EPC URN-shaped text: a scheme and dotted components of digits, wildcards, escapes
        /// and GS3A3 characters, some of them very long.
        fn epc_like() -> impl Strategy<Value = String> {
            let component = prop_oneof![
                "[0-9]{0,14}",
                Just("*".to_string()),
                "[A-Za-z0-9!'()*+,:;=_-]{0,24}",
                "(%[0-9A-Fa-f+]{0,2}){1,3}",
                "[0-9]{30,60}",
                "[!]{0,700}",
            ];
            (
                prop::sample::select(vec!["urn:epc:id:", "urn:epc:class:", "urn:epc:idpat:"]),
                prop::sample::select(vec![
                    "sgtin", "sscc", "sgln", "grai", "giai", "gsrn", "gsrnp", "gdti", "cpi",
                    "sgcn", "ginc", "gsin", "itip", "upui", "pgln", "lgtin", "gid", "x",
                ]),
                prop::collection::vec(component, 0..6),
            )
                .prop_map(|(p, s, c)| format!("{p}{s}:{}", c.join(".")))
        }

        /// Digital Link-shaped text: any host, primary keys by code or short name, with
        /// qualifiers, queries and fragments.
        fn dl_like() -> impl Strategy<Value = String> {
            let key = prop::sample::select(vec![
                "01", "gtin", "00", "sscc", "414", "gln", "417", "8003", "8004", "8006", "8010",
                "8017", "8018", "253", "255", "401", "402", "22", "10", "21", "254", "235",
            ]);
            (
                prop::sample::select(vec![
                    "https://id.gs1.org",
                    "http://example.com",
                    "https://a.b:8/x",
                ]),
                prop::collection::vec(
                    (
                        key,
                        prop_oneof!["[0-9]{1,20}", "[0-9A-Za-z%.'\"-]{0,22}", "[٠-٩0-9]{8,14}"],
                    ),
                    1..4,
                ),
                prop_oneof![
                    Just(String::new()),
                    "\\?[a-z=&]{0,10}",
                    "#[a-z]{0,5}",
                    Just("/".to_string())
                ],
            )
                .prop_map(|(h, parts, tail)| {
                    let path: String = parts.iter().map(|(k, v)| format!("/{k}/{v}")).collect();
                    format!("{h}{path}{tail}")
                })
        }

        fn any_identifier() -> impl Strategy<Value = String> {
            prop_oneof![
                "\\PC{0,80}",
                epc_like(),
                dl_like(),
                mutated(prop::sample::select(VALID).prop_map(str::to_string)),
                mutated(epc_like()),
                mutated(dl_like()),
            ]
        }

        /// What capture and a later re-read of the stored event must agree on: a normalised
        /// identifier normalises to itself.
        fn check(s: &str) -> Result<(), TestCaseError> {
            if let Ok(n) = normalise_identifier(s) {
                prop_assert_eq!(normalise_identifier(&n), Ok(n.clone()), "{:?}", s);
                prop_assert!(has_uri_scheme(&n), "{:?} -> {:?}", s, n);
                if n.starts_with("https://id.gs1.org/") && n != s {
                    prop_assert!(n.is_ascii(), "{:?} -> {:?}", s, n);
                }
            }
            if let Some(dl) = epc_urn_to_dl(s) {
                prop_assert!(
                    dl.starts_with("https://id.gs1.org/") && dl.is_ascii(),
                    "{:?}",
                    dl
                );
            }
            let _ = reference_normalise(s);
            let _ = is_absolute_uri(s);
            Ok(())
        }

        proptest! {
            #[test]
            fn any_identifier_normalises_to_a_fixed_point_or_is_refused(s in any_identifier()) {
                check(&s)?;
            }

            #[test]
            fn every_valid_identifier_normalises_and_any_character_anywhere_is_handled(
                i in 0usize..VALID.len(),
                at in any::<prop::sample::Index>(),
                c in nasty_char(),
            ) {
                prop_assert!(normalise_identifier(VALID[i]).is_ok(), "{}", VALID[i]);
                check(VALID[i])?;
                let mut chars: Vec<char> = VALID[i].chars().collect();
                chars.insert(at.index(chars.len() + 1), c);
                check(&chars.into_iter().collect::<String>())?;
            }
        }
    }
}
