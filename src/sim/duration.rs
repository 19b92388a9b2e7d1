//! Durations as scenario files write them: a decimal number and a unit (`"250ms"`, `"1.5s"`,
//! `"2m"`), kept as whole microseconds so that simulated time never rounds. Also the
//! jittered form of a fault time (`"4s±500ms"`) and message rates (`"200/s"`).

use std::fmt;

/// A span of simulated time in microseconds. Signed because a clock skew may go back
/// (`"-5s"`); everything else is checked to be non-negative where it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDuration(pub i64);

/// Units in the order the canonical form prefers them (largest first).
const UNITS: &[(&str, i64)] = &[
    ("h", 3_600_000_000),
    ("m", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
];

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);

    pub fn from_micros(us: i64) -> Self {
        SimDuration(us)
    }

    pub fn from_millis(ms: i64) -> Self {
        SimDuration(ms.saturating_mul(1_000))
    }

    pub fn from_secs(s: i64) -> Self {
        SimDuration(s.saturating_mul(1_000_000))
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// Parses `[-]NUMBER UNIT` with unit `us` (or `µs`), `ms`, `s`, `m`, `h`. The number may
    /// have a fraction as long as the result is a whole number of microseconds; exact
    /// decimal arithmetic, so `"0.1s"` is exactly 100000us. Errors are sentences that fit
    /// after "expected ...".
    pub fn parse(text: &str) -> Result<SimDuration, String> {
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let split = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (number, unit) = body.split_at(split);
        if number.is_empty() {
            return Err(format!("{text:?} does not start with a number"));
        }
        let scale: i64 = match unit {
            "us" | "µs" => 1,
            "ms" => 1_000,
            "s" => 1_000_000,
            "m" => 60_000_000,
            "h" => 3_600_000_000,
            "" => return Err(format!("{text:?} has no unit")),
            other => return Err(format!("{text:?} has an unknown unit {other:?}")),
        };
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if int_part.is_empty() || frac_part.contains('.') || number.ends_with('.') {
            return Err(format!("{text:?} is not a decimal number with a unit"));
        }
        let too_big = || format!("{text:?} is too large");
        // Exact: value = int * scale + frac_digits * scale / 10^len(frac).
        let int: i128 = int_part.parse().map_err(|_| too_big())?;
        let mut us = int.checked_mul(scale as i128).ok_or_else(too_big)?;
        if !frac_part.is_empty() {
            if frac_part.len() > 18 {
                return Err(format!("{text:?} has too many decimal places"));
            }
            let frac: i128 = frac_part.parse().map_err(|_| too_big())?;
            let denom = 10i128.pow(frac_part.len() as u32);
            let scaled = frac * scale as i128;
            if scaled % denom != 0 {
                return Err(format!("{text:?} is finer than a microsecond"));
            }
            us += scaled / denom;
        }
        if negative {
            us = -us;
        }
        i64::try_from(us).map(SimDuration).map_err(|_| too_big())
    }
}

impl fmt::Display for SimDuration {
    /// The canonical form: the largest unit that states the value exactly (`"1500ms"`,
    /// `"2m"`, `"0s"`), so that `parse(display(d)) == d` and equal durations print alike.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        for (unit, scale) in UNITS {
            if self.0 % scale == 0 {
                return write!(f, "{}{unit}", self.0 / scale);
            }
        }
        unreachable!("every integer is a whole number of microseconds")
    }
}

/// A fault time: `base ± jitter`, with the offset drawn from the run's seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Jittered {
    pub base: SimDuration,
    /// Half-width of the window (non-negative); zero means exactly `base`.
    pub jitter: SimDuration,
}

impl Jittered {
    pub fn exact(base: SimDuration) -> Self {
        Jittered {
            base,
            jitter: SimDuration::ZERO,
        }
    }

    /// Earliest time the fault can fire.
    pub fn earliest(&self) -> SimDuration {
        SimDuration(self.base.0.saturating_sub(self.jitter.0))
    }

    /// Latest time the fault can fire.
    pub fn latest(&self) -> SimDuration {
        SimDuration(self.base.0.saturating_add(self.jitter.0))
    }

    /// Parses `"4s"`, `"4s±500ms"` or `"4s+-500ms"`. The jitter must not be negative.
    pub fn parse(text: &str) -> Result<Jittered, String> {
        let split = text
            .split_once('±')
            .or_else(|| text.split_once("+-"))
            .map(|(b, j)| (b.trim(), Some(j.trim())));
        let (base, jitter) = split.unwrap_or((text, None));
        let base = SimDuration::parse(base)?;
        let jitter = match jitter {
            None => SimDuration::ZERO,
            Some(j) => {
                let j = SimDuration::parse(j)?;
                if j.0 < 0 {
                    return Err(format!("{text:?} has a negative jitter"));
                }
                j
            }
        };
        Ok(Jittered { base, jitter })
    }
}

impl fmt::Display for Jittered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.jitter.0 == 0 {
            write!(f, "{}", self.base)
        } else {
            write!(f, "{}±{}", self.base, self.jitter)
        }
    }
}

/// A message rate: `count` messages per `per` (`"200/s"` is 200 per 1s, `"5/100ms"` is 5
/// per 100ms). Kept as a ratio, not a float, so the send schedule is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate {
    pub count: u64,
    pub per: SimDuration,
}

impl Rate {
    /// Parses `COUNT/UNIT` or `COUNT/DURATION` with a whole positive count and a positive
    /// period.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let Some((count, per)) = text.split_once('/') else {
            return Err(format!("{text:?} is not COUNT/UNIT like \"200/s\""));
        };
        let count: u64 = match count.trim().parse() {
            Ok(c) if c > 0 => c,
            _ => return Err(format!("{text:?} needs a whole positive count before '/'")),
        };
        let per = per.trim();
        // A bare unit means one of it.
        let per = if per.starts_with(|c: char| c.is_ascii_alphabetic() || c == 'µ') {
            SimDuration::parse(&format!("1{per}"))?
        } else {
            SimDuration::parse(per)?
        };
        if per.0 <= 0 {
            return Err(format!("{text:?} needs a positive period after '/'"));
        }
        Ok(Rate { count, per })
    }

    /// The gap between two sends, in microseconds (rounded down, at least 1).
    pub fn interval_micros(&self) -> i64 {
        (self.per.0 / self.count.min(i64::MAX as u64) as i64).max(1)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = self.per.to_string();
        match per.strip_prefix('1') {
            // "1s" -> "200/s"; but "10s" must stay "10s".
            Some(unit) if unit.starts_with(|c: char| c.is_ascii_alphabetic()) => {
                write!(f, "{}/{unit}", self.count)
            }
            _ => write!(f, "{}/{per}", self.count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn us(text: &str) -> i64 {
        SimDuration::parse(text).unwrap().0
    }

    #[test]
    fn every_unit_is_understood() {
        assert_eq!(us("7us"), 7);
        assert_eq!(us("7µs"), 7);
        assert_eq!(us("250ms"), 250_000);
        assert_eq!(us("5s"), 5_000_000);
        assert_eq!(us("2m"), 120_000_000);
        assert_eq!(us("1h"), 3_600_000_000);
    }

    #[test]
    fn fractions_are_exact_and_signs_allowed() {
        assert_eq!(us("1.5s"), 1_500_000);
        assert_eq!(us("0.1s"), 100_000);
        assert_eq!(us("0.001ms"), 1);
        assert_eq!(us("-5s"), -5_000_000);
        assert_eq!(us("0s"), 0);
    }

    #[test]
    fn malformed_durations_say_why() {
        for (text, why) in [
            ("5", "no unit"),
            ("s", "does not start with a number"),
            ("5 s", "unknown unit"),
            ("5sec", "unknown unit"),
            ("1.5us", "finer than a microsecond"),
            ("1.s", "not a decimal"),
            (".5s", "not a decimal"),
            ("1.2.3s", "not a decimal"),
            ("99999999999999999999h", "too large"),
            ("9999999999h", "too large"),
            ("", "does not start with a number"),
            ("--5s", "does not start with a number"),
        ] {
            let e = SimDuration::parse(text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn canonical_form_uses_the_largest_exact_unit() {
        assert_eq!(SimDuration(1_500_000).to_string(), "1500ms");
        assert_eq!(SimDuration(120_000_000).to_string(), "2m");
        assert_eq!(SimDuration(-5_000_000).to_string(), "-5s");
        assert_eq!(SimDuration(0).to_string(), "0s");
        assert_eq!(SimDuration(3).to_string(), "3us");
    }

    #[test]
    fn jitter_accepts_both_spellings() {
        let j = Jittered::parse("4s±500ms").unwrap();
        assert_eq!(j, Jittered::parse("4s+-500ms").unwrap());
        assert_eq!(j.earliest(), SimDuration(3_500_000));
        assert_eq!(j.latest(), SimDuration(4_500_000));
        assert_eq!(j.to_string(), "4s±500ms");
        assert_eq!(Jittered::parse("4s").unwrap().jitter, SimDuration::ZERO);
        assert!(Jittered::parse("4s±-1s")
            .unwrap_err()
            .contains("negative jitter"));
        assert!(Jittered::parse("4s±").is_err());
    }

    #[test]
    fn rates_are_ratios() {
        let r = Rate::parse("200/s").unwrap();
        assert_eq!((r.count, r.per), (200, SimDuration(1_000_000)));
        assert_eq!(r.interval_micros(), 5_000);
        assert_eq!(r.to_string(), "200/s");
        let r = Rate::parse("5/100ms").unwrap();
        assert_eq!(r.to_string(), "5/100ms");
        assert_eq!(Rate::parse("600/m").unwrap().to_string(), "600/m");
        assert_eq!(Rate::parse("1/10s").unwrap().to_string(), "1/10s");
        for bad in [
            "200", "0/s", "-1/s", "1.5/s", "200/", "200/0s", "200/-1s", "x/s",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_parses_back(us in any::<i64>()) {
            let d = SimDuration(us);
            prop_assert_eq!(SimDuration::parse(&d.to_string()), Ok(d));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,24}") {
            let _ = SimDuration::parse(&text);
            let _ = Jittered::parse(&text);
            let _ = Rate::parse(&text);
        }

        #[test]
        fn rate_display_parses_back(count in 1u64..1_000_000, per in 1i64..10_000_000_000) {
            let r = Rate { count, per: SimDuration(per) };
            prop_assert_eq!(Rate::parse(&r.to_string()), Ok(r));
        }
    }
}
