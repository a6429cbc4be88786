//! "Did you mean …?" suggestions for misspelled names in configuration files.

/// Returns the candidate closest to `input`, if it is close enough to be a plausible misspelling.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Formats the suffix `; did you mean "x"?` or nothing.
pub fn did_you_mean<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match closest(input, candidates) {
        Some(c) => format!("; did you mean \"{c}\"?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_near_names_only() {
        let names = ["manage-api-tokens", "list-accts", "all"];
        assert_eq!(closest("manage-api-token", names), Some("manage-api-tokens"));
        assert_eq!(closest("list-acct", names), Some("list-accts"));
        assert_eq!(closest("zzzzzz", names), None);
    }
}
