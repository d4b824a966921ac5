//! Billing-date arithmetic for the trial rule.

use crate::domain::BillingDay;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

/// Length of the free trial before the first bill.
pub const TRIAL_DAYS: i64 = 30;

/// End of a trial that started at `started_at`: the first billing date (day `billing_day` of a
/// month, 00:00 UTC) strictly after `started_at` + 30 days. A trial so lasts 31 to 61 days.
pub fn trial_end(started_at: DateTime<Utc>, billing_day: BillingDay) -> DateTime<Utc> {
    let earliest = started_at + Duration::days(TRIAL_DAYS);
    let (mut year, mut month) = (earliest.year(), earliest.month());
    loop {
        let candidate = billing_date(year, month, billing_day);
        if candidate > earliest {
            return candidate;
        }
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
    }
}

fn billing_date(year: i32, month: u32, day: BillingDay) -> DateTime<Utc> {
    // Days 1 to 28 exist in every month of every year chrono can represent, so the date is
    // always valid; the fallback only keeps this function total.
    let date = NaiveDate::from_ymd_opt(year, month, u32::from(day.get()))
        .unwrap_or(NaiveDate::MAX)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    Utc.from_utc_datetime(&date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("RFC 3339")
    }

    fn day(d: i64) -> BillingDay {
        BillingDay::try_from(d).expect("1..=28")
    }

    #[test]
    fn contract_example_trial_ends_on_the_fifth_of_october() {
        assert_eq!(
            trial_end(at("2026-09-01T10:15:00Z"), day(5)),
            at("2026-10-05T00:00:00Z")
        );
    }

    #[test]
    fn a_billing_date_exactly_thirty_days_later_is_not_strictly_after() {
        // 2026-09-01T00:00 + 30 days = 2026-10-01T00:00, which is billing day 1 itself.
        assert_eq!(
            trial_end(at("2026-09-01T00:00:00Z"), day(1)),
            at("2026-11-01T00:00:00Z")
        );
    }

    #[test]
    fn the_trial_rolls_over_the_year_end() {
        assert_eq!(
            trial_end(at("2026-12-10T00:00:00Z"), day(3)),
            at("2027-02-03T00:00:00Z")
        );
    }

    proptest! {
        #[test]
        fn a_trial_lasts_31_to_61_days_and_ends_on_its_billing_day(
            secs in 0i64..4_000_000_000,
            d in 1i64..=28,
        ) {
            let start = DateTime::from_timestamp(secs, 0).expect("in range");
            let end = trial_end(start, day(d));
            let length = end - start;
            prop_assert!(length > Duration::days(30), "{start} -> {end}");
            prop_assert!(length <= Duration::days(61), "{start} -> {end}");
            prop_assert_eq!(i64::from(end.day()), d);
            prop_assert_eq!(end.time(), chrono::NaiveTime::MIN);
            // No earlier billing date qualifies: the one a month before is not after start+30d.
            let prev = end.checked_sub_months(chrono::Months::new(1)).expect("in range");
            prop_assert!(prev <= start + Duration::days(30));
        }
    }
}
