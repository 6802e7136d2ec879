//! XEP-0082 timestamps, computed from the host clock without a date library.

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

#[cfg(test)]
mod tests {
    use super::*;

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
