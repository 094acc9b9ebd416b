//! "Did you mean …?": picks the closest known word for a misspelt one (strsim), and holds the
//! lists of known words that are not in the schema (AWS Regions).

/// AWS Region codes known when this was written; used for suggestions only (a Region that is
/// not listed but has the right shape is accepted).
pub const KNOWN_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// The candidate closest to `word`, if it is close enough to be a plausible typo: equal when
/// case, `-` and `_` are ignored, or within a small edit distance.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect()
    };
    let w = norm(word);
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let n = norm(c);
        let score = if n == w {
            2.0
        } else {
            let dist = strsim::damerau_levenshtein(&w, &n);
            let longest = w.chars().count().max(n.chars().count()).max(1);
            let allowed = (longest / 4).max(1);
            if dist > allowed && strsim::jaro_winkler(&w, &n) < 0.9 {
                continue;
            }
            1.0 - dist as f64 / longest as f64
        };
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_and_case_slips() {
        let props = ["timeZone", "expression", "enabled", "startWindowMinutes"];
        assert_eq!(closest("timezone", props).as_deref(), Some("timeZone"));
        assert_eq!(closest("time_zone", props).as_deref(), Some("timeZone"));
        assert_eq!(closest("expresion", props).as_deref(), Some("expression"));
        assert_eq!(closest("colour", props), None);
    }

    #[test]
    fn closest_region() {
        assert_eq!(
            closest("us-east1", KNOWN_REGIONS.iter().copied()).as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            closest("eu-centrl-1", KNOWN_REGIONS.iter().copied()).as_deref(),
            Some("eu-central-1")
        );
    }
}
