//! Fixed-point decimals: numeric inputs and bin bounds, read from decimal strings without floats.

use std::fmt;

/// Decimals kept by [`Fixed`].
pub const FIXED_DECIMALS: u32 = 6;
/// `10^FIXED_DECIMALS`: the integer that stands for 1.
pub const FIXED_SCALE: i128 = 1_000_000;
/// Most digits before the decimal point that a value may have.
const INTEGER_DIGITS_MAX: usize = 24;

/// A decimal number with [`FIXED_DECIMALS`] decimals, held as the integer `value · 10^6`.
///
/// Read from plain decimal strings: an optional sign, digits, optionally a point and more digits
/// (`"12"`, `"-0.5"`, `"3."`, `".25"`); at most 24 digits before the point. Digits past the sixth
/// decimal are rounded half away from zero. Exponents (`1e5`), `inf` and `NaN` are not numbers
/// here. Written back as the shortest decimal string (`"12"`, `"-0.5"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed(pub i128);

impl Fixed {
    /// Parses a decimal string (surrounding spaces allowed); `None` when it is not a number.
    pub fn parse(s: &str) -> Option<Fixed> {
        let s = s.trim();
        let (neg, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = match body.find('.') {
            Some(p) => (&body[..p], &body[p + 1..]),
            None => (body, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let int = int.trim_start_matches('0');
        if int.len() > INTEGER_DIGITS_MAX {
            return None;
        }
        let mut v: i128 = 0;
        for b in int.bytes() {
            v = v * 10 + i128::from(b - b'0');
        }
        v *= FIXED_SCALE;
        let mut f: i128 = 0;
        let mut scale = FIXED_SCALE;
        let fb = frac.as_bytes();
        for &b in fb.iter().take(FIXED_DECIMALS as usize) {
            scale /= 10;
            f += i128::from(b - b'0') * scale;
        }
        v += f;
        if fb.len() > FIXED_DECIMALS as usize && fb[FIXED_DECIMALS as usize] >= b'5' {
            v += 1;
        }
        Some(Fixed(if neg { -v } else { v }))
    }

    /// The value as a float, for training statistics only (never for scoring).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / FIXED_SCALE as f64
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        let scale = FIXED_SCALE as u128;
        let (int, frac) = (a / scale, a % scale);
        if frac == 0 {
            write!(f, "{sign}{int}")
        } else {
            let digits = format!("{frac:06}");
            write!(f, "{sign}{int}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl serde::Serialize for Fixed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fixed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fixed, D::Error> {
        let s = String::deserialize(d)?;
        Fixed::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{s:?} is not a decimal number (digits, an optional point and at most 24 integer digits, as a string)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_parse_to_six_decimals_and_print_back() {
        assert_eq!(Fixed::parse("12"), Some(Fixed(12_000_000)));
        assert_eq!(Fixed::parse("-0.5"), Some(Fixed(-500_000)));
        assert_eq!(Fixed::parse(" 3. "), Some(Fixed(3_000_000)));
        assert_eq!(Fixed::parse(".25"), Some(Fixed(250_000)));
        assert_eq!(Fixed::parse("1.0000005"), Some(Fixed(1_000_001)));
        assert_eq!(Fixed::parse("-1.0000005"), Some(Fixed(-1_000_001)));
        for bad in ["", "-", ".", "1e5", "abc", "1.2.3", "NaN", "inf", "1,5"] {
            assert_eq!(Fixed::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Fixed(12_000_000).to_string(), "12");
        assert_eq!(Fixed(-500_000).to_string(), "-0.5");
        assert_eq!(Fixed(1_000_001).to_string(), "1.000001");
    }

    #[test]
    fn too_many_integer_digits_are_not_a_number() {
        assert!(Fixed::parse(&"9".repeat(24)).is_some());
        assert_eq!(Fixed::parse(&"9".repeat(25)), None);
    }
}
