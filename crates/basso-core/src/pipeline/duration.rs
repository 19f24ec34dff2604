//! Harness timeout durations: `5s`, `10m`, `1h30m`, `2h 30m`, `1d`, `1w`.

/// Parses a duration into whole seconds. Components are a positive integer
/// followed by `ms`, `s`, `m`, `h`, `d` or `w`, optionally separated by
/// spaces. Milliseconds round up to whole seconds. An empty text is `None`
/// (no timeout); a malformed text is `Err` with the reason.
pub fn parse_duration(text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let mut rest = text;
    let mut millis: u128 = 0;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let amount: u128 = rest[..digits_end]
            .parse()
            .map_err(|_| "the number is too large".to_string())?;
        rest = &rest[digits_end..];
        if let Some(fraction) = rest.strip_prefix('.') {
            return Err(fraction_error(
                &text[..text.len() - fraction.len() - 1],
                fraction,
            ));
        }
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let Some(unit_millis) = unit_millis(&rest[..unit_end]) else {
            return Err(match &rest[..unit_end] {
                "" => format!("`{amount}` has no unit (use s, m, h, d or w)"),
                unit => format!("unknown unit `{unit}` (use s, m, h, d or w)"),
            });
        };
        millis = millis.saturating_add(amount.saturating_mul(unit_millis));
        rest = &rest[unit_end..];
    }
    if millis == 0 {
        return Err("the duration must be greater than 0".to_string());
    }
    let seconds = millis.div_ceil(1000);
    if seconds > MAX_SECONDS {
        return Err(format!(
            "the duration is longer than the maximum of {MAX_SECONDS} seconds"
        ));
    }
    Ok(Some(seconds as u64))
}

fn unit_millis(unit: &str) -> Option<u128> {
    match unit {
        "ms" => Some(1),
        "s" => Some(1_000),
        "m" => Some(60_000),
        "h" => Some(3_600_000),
        "d" => Some(86_400_000),
        "w" => Some(604_800_000),
        _ => None,
    }
}

/// Returns the error for a component with a decimal fraction, such as `1.5h`,
/// and suggests the same length in whole units when it is a whole number of
/// seconds. `before` is the text up to the `.` and `after` the text after it.
fn fraction_error(before: &str, after: &str) -> String {
    let whole = before
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("");
    let digits_end = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    let unit_end = after[digits_end..]
        .find(|c: char| !c.is_ascii_alphabetic())
        .map_or(after.len(), |end| digits_end + end);
    let written = format!("{whole}.{}", &after[..unit_end]);
    let suggestion = fraction_millis(whole, &after[..digits_end], &after[digits_end..unit_end])
        .filter(|millis| millis % 1_000 == 0 && *millis > 0)
        .map(|millis| format!(", so write `{}` instead", whole_units(millis / 1_000)))
        .unwrap_or_default();
    format!("fractions such as `{written}` are not allowed{suggestion}")
}

/// Returns the length of `whole.fraction` units in milliseconds, or `None`
/// when the unit is unknown, the number is too long or the result has a
/// fraction of a millisecond.
fn fraction_millis(whole: &str, fraction: &str, unit: &str) -> Option<u128> {
    let scale = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
    let numerator = format!("{whole}{fraction}").parse::<u128>().ok()?;
    let total = numerator.checked_mul(unit_millis(unit)?)?;
    (total % scale == 0).then_some(total / scale)
}

/// Writes a number of seconds with the largest units first: 5400 is `1h30m`.
fn whole_units(mut seconds: u128) -> String {
    let mut text = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if seconds >= size {
            text.push_str(&format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    text
}

/// Maximum duration in seconds, 2^53 - 1: the largest integer that
/// JavaScript's `JSON.parse` (in the npm package) reads exactly.
const MAX_SECONDS: u128 = (1 << 53) - 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_forms() {
        assert_eq!(parse_duration("5s"), Ok(Some(5)));
        assert_eq!(parse_duration("10m"), Ok(Some(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Some(5400)));
        assert_eq!(parse_duration("2h 30m"), Ok(Some(9000)));
        assert_eq!(parse_duration("1d"), Ok(Some(86_400)));
        assert_eq!(parse_duration("1w"), Ok(Some(604_800)));
        assert_eq!(parse_duration("1500ms"), Ok(Some(2)));
        assert_eq!(parse_duration(""), Ok(None));
    }

    #[test]
    fn duration_rejects_bad_text() {
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10 minutes").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
        assert!(parse_duration("340282366920938463463374607431768211455w").is_err());
    }

    #[test]
    fn duration_fraction_suggests_whole_units() {
        let error = parse_duration("1.5h").unwrap_err();
        assert!(
            error.contains("fractions such as `1.5h` are not allowed"),
            "{error}"
        );
        assert!(error.contains("`1h30m`"), "{error}");
        let error = parse_duration("2h 0.25m").unwrap_err();
        assert!(error.contains("`0.25m`"), "{error}");
        assert!(error.contains("`15s`"), "{error}");
        let error = parse_duration("0.1s").unwrap_err();
        assert!(
            error.contains("fractions such as `0.1s` are not allowed"),
            "{error}"
        );
        assert!(!error.contains("so write"), "{error}");
    }

    #[test]
    fn duration_repeated_unit_adds_up() {
        // Harness's `Timeout.fromString` (harness-core, io.harness.yaml.core.timeout)
        // adds every number-unit pair, so a repeated unit counts twice.
        assert_eq!(parse_duration("1m1m"), Ok(Some(120)));
    }
}
