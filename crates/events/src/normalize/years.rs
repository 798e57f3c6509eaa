//! The year of BSD syslog timestamps (`Dec 31 23:59:58`), which carry none.
//!
//! A fixed year reads a log that runs from December into January as stepping back
//! eleven months: its January lines get the wrong date, and every correlation window
//! open at midnight is dropped as if the clock had been reset (a brute force across New
//! Year went unseen). [`Years`] follows one input's lines instead and gives the year to
//! read each line in ([`Options::year`](super::Options::year)):
//!
//! - **Live** input (followed files, syslog listeners): the year that does not put the
//!   line more than a day in the future of the clock, so a December line read on 2
//!   January is last year's, and a server running across New Year moves on with it.
//! - **Archived** logs (`hunt`, `events send`): the first BSD line's year is the one
//!   given, or the live rule's; after that a month more than six months before the
//!   last line's begins the next year (December → January), and one more than six
//!   months after it goes back a year (a late December line just after midnight).
//!   Years stay within 0 to 9999, the years RFC 3339 writes: a log given `--year 9999`
//!   that runs into January stays in 9999 (its January lines then read as a step back).

use chrono::{Datelike, Duration, FixedOffset, NaiveDate, Utc};

use super::Options;
use super::header::bsd_month_day;

/// The years an event time can be written in (RFC 3339: four digits).
const YEARS: std::ops::RangeInclusive<i32> = 0..=9999;

/// Follows the year of one input's BSD timestamps (see the module documentation).
#[derive(Debug, Clone)]
pub struct Years {
    live: bool,
    /// The year of the last BSD line, and its month.
    year: Option<i32>,
    month: u32,
}

impl Years {
    /// For an input read as it is written: each line's year from the clock.
    pub fn live() -> Years {
        Years {
            live: true,
            year: None,
            month: 0,
        }
    }

    /// For a log read after the fact, starting in `first_year` (or, when `None`, in the
    /// year the live rule gives the first line).
    pub fn archive(first_year: Option<i32>) -> Years {
        Years {
            live: false,
            year: first_year,
            month: 0,
        }
    }

    /// Sets `options.year` to the year to read `line` in (unchanged for a line
    /// without a BSD timestamp).
    pub fn follow(&mut self, line: &[u8], options: &mut Options) {
        options.year = self.year_for(line, options.utc_offset(), options.year);
    }

    /// The year to read `line` in, its BSD time local at `offset`; `current` (the
    /// options' year) for a line without a BSD timestamp.
    fn year_for(&mut self, line: &[u8], offset: FixedOffset, current: i32) -> i32 {
        let Some((month, day)) = bsd_month_day(line) else {
            return current;
        };
        let year = match self.year {
            Some(year) if !self.live => {
                if self.month == 0 {
                    // The first BSD line: the year given.
                    year
                } else if month + 6 < self.month {
                    (year + 1).min(*YEARS.end())
                } else if self.month + 6 < month {
                    (year - 1).max(*YEARS.start())
                } else {
                    year
                }
            }
            _ => {
                let today = (Utc::now() + offset).date_naive();
                nearest_past(today, month, day)
            }
        };
        self.year = Some(year);
        self.month = month;
        year
    }
}

/// The latest year in which `month`/`day` is not more than a day after `today`: next
/// year's 1 January on 31 December (a sender's clock a little ahead), else this year,
/// else last year. A day no month has gives this year.
fn nearest_past(today: NaiveDate, month: u32, day: u32) -> i32 {
    let this_year = today.year();
    let latest = today + Duration::days(1);
    // 29 February in a year without one: judged as 1 March.
    let date = |year| {
        NaiveDate::from_ymd_opt(year, month, day).or_else(|| match (month, day) {
            (2, 29) => NaiveDate::from_ymd_opt(year, 3, 1),
            _ => None,
        })
    };
    [this_year + 1, this_year, this_year - 1]
        .into_iter()
        .find(|&year| date(year).is_some_and(|d| d <= latest))
        .unwrap_or(this_year)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).unwrap()
    }

    fn years(follow: &mut Years, lines: &[&str], start: i32) -> Vec<i32> {
        lines
            .iter()
            .map(|l| follow.year_for(l.as_bytes(), utc(), start))
            .collect()
    }

    #[test]
    fn an_archived_log_moves_on_at_new_year_and_back_for_a_late_line() {
        let mut follow = Years::archive(Some(2026));
        let lines = [
            "Dec 31 23:59:58 h sshd[1]: a",
            "<38>Dec 31 23:59:59 h sshd[1]: b",
            "Jan  1 00:00:01 h sshd[1]: c",
            "Dec 31 23:59:59 h sshd[1]: late",
            "Jan  1 00:00:02 h sshd[1]: d",
            "2027-01-01T00:00:03Z h sshd[1]: not BSD",
            "{\"json\": true}",
            "Feb  1 00:00:00 h sshd[1]: e",
            "Jan 31 23:59:59 h sshd[1]: a little late",
            "Dec  1 00:00:00 h sshd[1]: back from January: last December",
            "Jan  1 00:00:00 h sshd[1]: g",
        ];
        assert_eq!(
            years(&mut follow, &lines, 2026),
            [
                2026, 2026, 2027, 2026, 2027, 2026, 2026, 2027, 2027, 2026, 2027
            ]
        );
    }

    /// Stop 20's review: `--year 9999` across New Year gave `10000-01-01T…`, which is
    /// not RFC 3339, and alert times fell back to the clock.
    #[test]
    fn years_stay_within_four_digits() {
        let new_year = [
            "Dec 31 23:59:59 h sshd[1]: a",
            "Jan  1 00:00:01 h sshd[1]: b",
        ];
        assert_eq!(
            years(&mut Years::archive(Some(9999)), &new_year, 9999),
            [9999, 9999]
        );
        let back = [
            "Jan  1 00:00:01 h sshd[1]: a",
            "Dec 31 23:59:59 h sshd[1]: b",
        ];
        assert_eq!(years(&mut Years::archive(Some(0)), &back, 0), [0, 0]);
    }

    #[test]
    fn a_live_line_is_never_more_than_a_day_ahead() {
        let on = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(nearest_past(on(2027, 1, 2), 12, 31), 2026);
        assert_eq!(nearest_past(on(2027, 1, 2), 1, 2), 2027);
        assert_eq!(
            nearest_past(on(2027, 1, 2), 1, 3),
            2027,
            "a day ahead: clock skew"
        );
        assert_eq!(nearest_past(on(2027, 1, 2), 1, 4), 2026);
        assert_eq!(
            nearest_past(on(2026, 12, 31), 1, 1),
            2027,
            "New Year's Eve, the sender's clock a little ahead"
        );
        assert_eq!(nearest_past(on(2026, 12, 31), 1, 2), 2026);
        assert_eq!(nearest_past(on(2026, 12, 31), 12, 31), 2026);
        assert_eq!(
            nearest_past(on(2027, 3, 1), 2, 29),
            2027,
            "no 29 February in 2027"
        );
        // Days no month has (the header reads any one or two digits): this year.
        assert_eq!(nearest_past(on(2027, 3, 1), 12, 0), 2027);
        assert_eq!(nearest_past(on(2027, 3, 1), 12, 99), 2027);
        let mut archive = Years::archive(Some(2026));
        assert_eq!(
            archive.year_for(b"Dec  0 00:00:00 h x: y", utc(), 2026),
            2026
        );
        // What the fuzzer found (a day of 0 read by the live rule).
        assert_eq!(
            Years::live().year_for(b"\x04Dec  0 10:0 roo", utc(), 7),
            7,
            "no BSD header"
        );
        let mut live = Years::live();
        let _ = live.year_for(b"Dec  0 10:00:00 h sshd[1]: x", utc(), 7);
        let mut live = Years::live();
        let now = Utc::now().date_naive();
        let line = format!("{} 12:00:00 h sshd[1]: x", now.format("%b %e"));
        assert_eq!(live.year_for(line.as_bytes(), utc(), 1999), now.year());
        assert_eq!(live.year_for(b"no time here", utc(), 1999), 1999);
    }

    #[test]
    fn without_a_first_year_the_first_line_is_placed_by_the_clock() {
        let now = Utc::now().date_naive();
        let ahead = now + Duration::days(40);
        let mut follow = Years::archive(None);
        let line = format!("{} 00:00:00 h sshd[1]: x", ahead.format("%b %e"));
        assert_eq!(
            follow.year_for(line.as_bytes(), utc(), 0),
            ahead.year() - 1,
            "a date 40 days ahead is last year's"
        );
    }
}
