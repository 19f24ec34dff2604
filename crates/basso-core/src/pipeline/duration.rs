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
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit_millis: u128 = match &rest[..unit_end] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "" => return Err(format!("`{amount}` has no unit (use s, m, h, d or w)")),
            unit => return Err(format!("unknown unit `{unit}` (use s, m, h, d or w)")),
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
}
