//! "Did you mean" suggestions by edit distance.

/// Returns the Levenshtein distance between two strings, in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b_chars: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b_chars.len()).collect();
    let mut current = vec![0; b_chars.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b_chars.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b_chars.len()]
}

/// Returns the closest candidate, preferring a case-insensitive match, if
/// it is close enough to be a likely typo.
pub fn closest<'c>(text: &str, candidates: &[&'c str]) -> Option<&'c str> {
    if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(text)) {
        return Some(exact);
    }
    let length = text.chars().count();
    let limit = if length <= 3 { 1 } else { (length / 3).max(2) };
    let text = text.to_lowercase();
    let text_length = text.chars().count();
    candidates
        .iter()
        .map(|candidate| (candidate.to_lowercase(), *candidate))
        // The distance is at least the difference in length, so a candidate
        // whose length differs by more than the limit needs no distance.
        .filter(|(lower, _)| lower.chars().count().abs_diff(text_length) <= limit)
        .map(|(lower, candidate)| (edit_distance(&text, &lower), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Formats "did you mean `X`?" for the closest candidate.
pub fn did_you_mean(text: &str, candidates: &[&str]) -> Option<String> {
    closest(text, candidates).map(|candidate| format!("did you mean `{candidate}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggest_case_and_typos() {
        assert_eq!(closest("sh", &["Sh", "Bash"]), Some("Sh"));
        assert_eq!(closest("Bassh", &["Sh", "Bash", "Pwsh"]), Some("Bash"));
        assert_eq!(closest("zzzzzz", &["Sh", "Bash"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
