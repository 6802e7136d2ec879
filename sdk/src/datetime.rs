//! XEP-0082 timestamps, written and read without a date library.

/// `ms` since the Unix epoch as an XEP-0082 DateTime in UTC, with
/// millisecond precision: `2024-02-29T23:59:59.123Z`.
pub fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date, by counting whole
/// 400-year eras (146097 days each) from 0000-03-01 so leap days fall last.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Milliseconds since the Unix epoch of `CCYY-MM-DDThh:mm:ss[.sss](Z|±hh:mm)`.
pub fn parse_utc(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let first3: String = frac[..digits].chars().chain("000".chars()).take(3).collect();
        millis = first3.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let t = &rest[1..];
            if t.len() != 5 || t.as_bytes()[2] != b':' {
                return None;
            }
            let (oh, om): (i64, i64) = (t[..2].parse().ok()?, t[3..].parse().ok()?);
            sign * (oh * 60 + om)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    u64::try_from(secs * 1000 + millis).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// [`civil_from_days`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_format_utc_writes_and_offsets() {
        for ms in [0u64, 951_782_400_123, 1_764_720_000_000, 1_709_251_199_999, 1_166_551_115_000, 4_102_444_800_000] {
            assert_eq!(parse_utc(&format_utc(ms)), Some(ms), "{ms}");
        }
        assert_eq!(parse_utc("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_utc("1970-01-01T00:00:00-00:30"), Some(1_800_000));
        assert_eq!(parse_utc("2002-09-10T23:08:25Z"), Some(1_031_699_305_000));
        assert_eq!(parse_utc("2006-12-19T18:58:35.5+01:00"), Some(1_166_551_115_500));
    }

    #[test]
    fn refuses_what_is_not_a_datetime() {
        for bad in [
            "",
            "yesterday",
            "2006-12-19",
            "2002-09-10 23:08:25Z",
            "2002-13-10T23:08:25Z",
            "2002-09-10T23:08:25",
            "2002-09-10T23:08:25.Z",
            "2002-09-10T23:08:25+1:00",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_utc(1_709_251_199_123), "2024-02-29T23:59:59.123Z");
        assert_eq!(format_utc(1_709_251_200_000), "2024-03-01T00:00:00.000Z");
        assert_eq!(format_utc(4_102_444_800_000), "2100-01-01T00:00:00.000Z");
        assert_eq!(format_utc(1_166_551_115_000), "2006-12-19T17:58:35.000Z");
    }
}
