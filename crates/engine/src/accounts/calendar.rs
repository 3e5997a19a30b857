//! UTC calendar months for cohorts, survey tallies and usage buckets
//! (Howard Hinnant's civil-from-days algorithms: no time-zone crate needed
//! for UTC dates).

use crate::time::Timestamp;

const DAY_MS: i64 = 86_400_000;

/// UTC (year, month) of `t`.
pub(crate) fn year_month(t: Timestamp) -> (i64, u32) {
    let days = t.millis().div_euclid(DAY_MS);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32)
}

/// Months since January 1970 of `t`'s UTC month (negative before).
pub(crate) fn month_index(t: Timestamp) -> i32 {
    let (year, month) = year_month(t);
    i32::try_from((year - 1970) * 12 + i64::from(month) - 1).unwrap_or(0)
}

/// The first instant of month number `index` (see [`month_index`]).
pub(crate) fn month_start_of_index(index: i64) -> Timestamp {
    let (year, month) = (1970 + index.div_euclid(12), index.rem_euclid(12) + 1);
    Timestamp(days_from_civil(year, month, 1) * DAY_MS)
}

/// The first instant of the month `months` after (`year`, `month`), UTC.
pub(crate) fn month_start(year: i64, month: u32, months: usize) -> Timestamp {
    month_start_of_index((year - 1970) * 12 + i64::from(month) - 1 + months as i64)
}

/// `YYYY-MM` of `t`'s UTC month.
pub(crate) fn month_name(t: Timestamp) -> String {
    let (year, month) = year_month(t);
    format!("{year:04}-{month:02}")
}

/// Days since 1970-01-01 of a UTC date.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_starts_cross_years_and_leap_februaries() {
        assert_eq!(month_start(1970, 1, 0), Timestamp(0));
        assert_eq!(month_start(2026, 1, 0), Timestamp(1_767_225_600_000));
        assert_eq!(month_start(2025, 12, 1), Timestamp(1_767_225_600_000));
        let feb = month_start(2024, 2, 0).millis();
        assert_eq!(month_start(2024, 1, 2).millis() - feb, 29 * DAY_MS);
        assert_eq!(year_month(month_start(2024, 11, 3)), (2025, 2));
        assert_eq!(year_month(Timestamp(0)), (1970, 1));
        assert_eq!(year_month(Timestamp(951_782_400_000)), (2000, 2)); // 2000-02-29
        let t = Timestamp(1_767_225_600_000 + 40 * DAY_MS);
        assert_eq!(month_start_of_index(i64::from(month_index(t))), month_start(2026, 2, 0));
        assert_eq!(month_name(t), "2026-02");
        assert_eq!(month_index(Timestamp(-1)), -1);
    }
}
