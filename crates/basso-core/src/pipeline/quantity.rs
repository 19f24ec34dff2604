//! Kubernetes resource quantities for `resources.limits.memory` and `cpu`.
//!
//! Memory accepts an integer or fixed-point number with an optional decimal
//! suffix (`k`, `M`, `G`, `T`, `P`, `E`), binary suffix (`Ki`, `Mi`, `Gi`,
//! `Ti`, `Pi`, `Ei`) or exponent (`1e9`), with no spaces, as Kubernetes'
//! `resource.Quantity` does. CPU accepts cores (`2`, `0.1`) or millicores
//! (`100m`).

/// Why a quantity was rejected; the text completes "invalid memory `X`: ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError(pub String);

struct Parsed<'a> {
    /// Digits before the decimal point.
    whole: &'a str,
    /// Digits after the decimal point.
    fraction: &'a str,
    suffix: &'a str,
}

fn split_number(text: &str) -> Result<Parsed<'_>, QuantityError> {
    if text.is_empty() {
        return Err(QuantityError("the value is empty".into()));
    }
    if text.chars().any(char::is_whitespace) {
        return Err(QuantityError("spaces are not allowed".into()));
    }
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(QuantityError(
            "expected a number such as `512` or `1.5`".into(),
        ));
    }
    Ok(Parsed {
        whole,
        fraction,
        suffix,
    })
}

/// Multiplies `whole.fraction` by `numerator / denominator`, rounding up as
/// Kubernetes does for fractional bytes and millicores.
fn scale(parsed: &Parsed<'_>, numerator: u128, denominator: u128) -> Option<u64> {
    let digits = format!("{}{}", parsed.whole, parsed.fraction);
    let mantissa: u128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let fraction_scale = 10u128.checked_pow(parsed.fraction.len() as u32)?;
    let product = mantissa.checked_mul(numerator)?;
    let divisor = fraction_scale.checked_mul(denominator)?;
    u64::try_from(product.div_ceil(divisor)).ok()
}

fn exponent(suffix: &str) -> Option<i32> {
    let rest = suffix.strip_prefix(['e', 'E'])?;
    rest.parse::<i32>().ok()
}

/// Parses a memory quantity into bytes: `500Mi`, `1G`, `1.5Gi`, `1048576`.
pub fn parse_memory(text: &str) -> Result<u64, QuantityError> {
    let parsed = split_number(text)?;
    let multiplier: (u128, u128) = match parsed.suffix {
        "" => (1, 1),
        "k" => (1_000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (10u128.pow(12), 1),
        "P" => (10u128.pow(15), 1),
        "E" => (10u128.pow(18), 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        "m" => (1, 1_000),
        suffix => match exponent(suffix) {
            Some(power @ 0..=18) => (10u128.pow(power as u32), 1),
            _ => return Err(QuantityError(format!("unknown suffix `{suffix}`"))),
        },
    };
    let bytes = scale(&parsed, multiplier.0, multiplier.1)
        .ok_or_else(|| QuantityError("the value is too large".into()))?;
    if bytes == 0 {
        return Err(QuantityError("the limit must be greater than 0".into()));
    }
    Ok(bytes)
}

/// Parses a CPU quantity into millicores: `2` → 2000, `0.1` → 100, `100m` → 100.
pub fn parse_cpu(text: &str) -> Result<u64, QuantityError> {
    let parsed = split_number(text)?;
    let (numerator, denominator) = match parsed.suffix {
        "" => (1_000, 1),
        "m" => (1, 1),
        suffix => return Err(QuantityError(format!("unknown suffix `{suffix}`"))),
    };
    let millis = scale(&parsed, numerator, denominator)
        .ok_or_else(|| QuantityError("the value is too large".into()))?;
    if millis == 0 {
        return Err(QuantityError("the limit must be at least `1m`".into()));
    }
    Ok(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_suffixes() {
        assert_eq!(parse_memory("500Mi"), Ok(500 * 1024 * 1024));
        assert_eq!(parse_memory("1G"), Ok(1_000_000_000));
        assert_eq!(parse_memory("1.5Gi"), Ok(1_610_612_736));
        assert_eq!(parse_memory("2M"), Ok(2_000_000));
        assert_eq!(parse_memory("4096"), Ok(4096));
        assert_eq!(parse_memory("128974848"), Ok(128_974_848));
        assert_eq!(parse_memory("129e6"), Ok(129_000_000));
        assert_eq!(parse_memory("1Ki"), Ok(1024));
    }

    #[test]
    fn memory_rejects_bad_text() {
        assert!(parse_memory("500 Mi").is_err());
        assert!(parse_memory("500MB").is_err());
        assert!(parse_memory("").is_err());
        assert!(parse_memory("1.2.3G").is_err());
        assert!(parse_memory("Gi").is_err());
        assert!(parse_memory("0").is_err());
        assert!(parse_memory("-1G").is_err());
    }

    #[test]
    fn cpu_forms() {
        assert_eq!(parse_cpu("0.1"), Ok(100));
        assert_eq!(parse_cpu("100m"), Ok(100));
        assert_eq!(parse_cpu("2"), Ok(2000));
        assert_eq!(parse_cpu("1.5"), Ok(1500));
        assert!(parse_cpu("2 cores").is_err());
        assert!(parse_cpu("100M").is_err());
        assert!(parse_cpu("0").is_err());
    }
}
