//! RFC 3339 timestamps (offset mandatory) and `±hh:mm` time zone offsets.

/// A parsed instant: seconds since the Unix epoch (UTC) and microseconds (truncated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Instant {
    pub secs: i64,
    pub micros: u32,
}

/// Largest offset magnitude accepted, minutes (±14:00).
const OFFSET_MINUTES_MAX: i64 = 14 * 60;

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses `±hh:mm` into minutes east of UTC.
pub(crate) fn parse_offset(s: &str) -> Option<i64> {
    // ASCII only, so the slices below fall on character boundaries.
    if !s.is_ascii() {
        return None;
    }
    let b = s.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h = num(&s[1..3])?;
    let m = num(&s[4..6])?;
    if m >= 60 || h * 60 + m > OFFSET_MINUTES_MAX {
        return None;
    }
    Some(sign * (h * 60 + m))
}

/// Parses an RFC 3339 date-time with mandatory `Z` or `±hh:mm` offset.
pub(crate) fn parse_rfc3339(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    // Every fixed field is ASCII, so the slices below fall on character boundaries (a
    // multibyte character in one is refused, never split).
    if b.len() < 20
        || !b[..19].is_ascii()
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(&s[0..4])?, num(&s[5..7])?, num(&s[8..10])?);
    let (h, mi, se) = (num(&s[11..13])?, num(&s[14..16])?, num(&s[17..19])?);
    if !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > mdays[(mo - 1) as usize] {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0u32;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        let frac = &r[..n];
        let six: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        micros = six.parse().ok()?;
        rest = &r[n..];
    }
    let offset_min = if rest == "Z" || rest == "z" {
        0
    } else {
        parse_offset(rest)?
    };
    let secs =
        days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se.min(59) - offset_min * 60;
    Some(Instant { secs, micros })
}

impl Instant {
    /// Unix milliseconds (truncated).
    pub(crate) fn millis(&self) -> i64 {
        self.secs * 1000 + i64::from(self.micros / 1000)
    }

    /// UTC `YYYY-MM-DDTHH:MM:SS.mmmZ`, microseconds rounded half-to-even to milliseconds
    /// (as the reference hash tool does).
    pub(crate) fn to_utc_millis_string(self) -> String {
        let q = self.micros / 1000;
        let r = self.micros % 1000;
        let ms = if r > 500 || (r == 500 && q % 2 == 1) {
            q + 1
        } else {
            q
        };
        let mut secs = self.secs;
        let ms = if ms == 1000 {
            secs += 1;
            0
        } else {
            ms
        };
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_time_converts_to_utc_milliseconds() {
        let t = parse_rfc3339("2005-04-03T20:33:31.116000-06:00").unwrap();
        assert_eq!(t.to_utc_millis_string(), "2005-04-04T02:33:31.116Z");
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:01Z").unwrap().millis(),
            1000
        );
        assert_eq!(
            crate::format_utc_millis(1_112_560_411_116),
            "2005-04-03T20:33:31.116Z"
        );
        assert_eq!(crate::format_utc_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn time_without_offset_or_bad_date_is_rejected() {
        assert!(parse_rfc3339("2005-04-03T20:33:31.116").is_none());
        assert!(parse_rfc3339("2005-02-30T20:33:31Z").is_none());
        assert!(parse_rfc3339("2005-04-03 20:33:31Z").is_none());
        assert!(parse_offset("+1:00").is_none());
        assert_eq!(parse_offset("-06:30"), Some(-390));
    }

    #[test]
    fn a_multibyte_character_anywhere_is_refused_not_a_panic() {
        // Found by review: a slice at byte 17 split the `é`.
        assert!(parse_rfc3339("2024-01-01T00:00:0éZ").is_none());
        assert!(parse_rfc3339("2024-01-01T00:0é:00Z").is_none());
        assert!(parse_rfc3339("é024-01-01T00:00:00Z").is_none());
        assert!(parse_rfc3339("2024-01-01T00:00:00.1é").is_none());
        assert!(parse_rfc3339("2024-01-01T00:00:00+0é:00").is_none());
        assert!(parse_offset("+é:00").is_none());
        assert!(parse_offset("+00:é").is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_refused(s in "\\PC{0,40}") {
            let _ = parse_rfc3339(&s);
            let _ = parse_offset(&s);
        }

        #[test]
        fn timestamps_with_any_character_in_any_place_parse_or_are_refused(
            at in 0usize..26,
            c in proptest::char::any(),
        ) {
            let mut t: Vec<char> = "2024-01-01T00:00:00.123+01:00".chars().collect();
            t[at] = c;
            let s: String = t.into_iter().collect();
            let _ = parse_rfc3339(&s);
            let mut o: Vec<char> = "+01:00".chars().collect();
            o[at % 6] = c;
            let _ = parse_offset(&o.into_iter().collect::<String>());
        }
    }

    mod round_trips {
        use super::super::*;
        use crate::fuzz_inputs::mutated;
        use proptest::prelude::*;

        /// Milliseconds from year 0000 to 9999 (the range four-digit years can write).
        const MS_MIN: i64 = -62_167_219_200_000;
        const MS_MAX: i64 = 253_402_300_799_999;

        proptest! {
            #[test]
            fn printed_times_parse_back_to_the_same_millisecond(ms in MS_MIN..=MS_MAX) {
                let s = crate::format_utc_millis(ms);
                let t = parse_rfc3339(&s).unwrap();
                prop_assert_eq!(t.millis(), ms);
                prop_assert_eq!(t.to_utc_millis_string(), s);
            }

            #[test]
            fn any_millisecond_count_prints_without_panicking(ms in any::<i64>()) {
                let s = crate::format_utc_millis(ms);
                prop_assert!(s.ends_with('Z'));
            }

            #[test]
            fn offsets_round_trip(minutes in -OFFSET_MINUTES_MAX..=OFFSET_MINUTES_MAX) {
                let sign = if minutes < 0 { '-' } else { '+' };
                let s = format!("{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60);
                prop_assert_eq!(parse_offset(&s), Some(minutes));
            }

            #[test]
            fn mutated_times_parse_to_a_valid_instant_or_are_refused(
                s in mutated((MS_MIN..=MS_MAX).prop_map(crate::format_utc_millis)),
                o in mutated(Just("+05:30".to_string())),
            ) {
                if let Some(t) = parse_rfc3339(&s) {
                    // Whatever is accepted prints as a time that parses to the same instant.
                    let back = parse_rfc3339(&t.to_utc_millis_string()).unwrap();
                    prop_assert!((back.millis() - t.millis()).abs() <= 1);
                }
                if let Some(m) = parse_offset(&o) {
                    prop_assert!(m.abs() <= OFFSET_MINUTES_MAX);
                }
            }
        }
    }
}
