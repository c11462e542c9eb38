//! "Did you mean ...?": the nearest known name to a misspelt one.

/// Edit distance (insertions, deletions, substitutions and adjacent
/// transpositions), counted in characters, ignoring ASCII case differences
/// at half cost (rounded up by the caller's threshold).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Two-row-plus-one DP (optimal string alignment), costs doubled so a
    // case-only change costs 1 and any other edit 2.
    let n = b.len();
    let mut prev2 = vec![0usize; n + 1];
    let mut prev: Vec<usize> = (0..=n).map(|j| 2 * j).collect();
    let mut cur = vec![0usize; n + 1];
    for i in 1..=a.len() {
        cur[0] = 2 * i;
        for j in 1..=n {
            let sub = if a[i - 1] == b[j - 1] {
                0
            } else if a[i - 1].eq_ignore_ascii_case(&b[j - 1]) {
                1
            } else {
                2
            };
            let mut best = (prev[j] + 2).min(cur[j - 1] + 2).min(prev[j - 1] + sub);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(prev2[j - 2] + 2);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[n]
}

/// The candidate closest to `name`, if it is close enough to be a likely
/// typo (see `limit` below, or a prefix of at least 3 characters). Ties go
/// to the earlier candidate.
pub(crate) fn nearest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    // Names longer than this are never typos of a short name worth the cost.
    const MAX_LEN: usize = 64;
    if name.chars().count() > MAX_LEN {
        return None;
    }
    let len = name.chars().count();
    // Allowed edits: none for one character (a case change only), one up
    // to three characters, then a third of the length, at least two.
    let limit = match len {
        0 | 1 => 1,
        2 | 3 => 2,
        _ => 2 * (len / 3).max(2),
    };
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == name || c.chars().count() > MAX_LEN {
            continue;
        }
        let mut d = distance(name, c);
        // A prefix of a longer name (`dose` for `dosage`) is a likely slip.
        if len >= 3 && (c.starts_with(name) || name.starts_with(c)) {
            d = d.min(limit);
        }
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos() {
        let funcs = ["sin", "sinh", "sigmoid", "sqrt", "exp"];
        assert_eq!(nearest("sine", funcs), Some("sin"));
        assert_eq!(nearest("sqr", funcs), Some("sqrt"));
        assert_eq!(nearest("Exp", funcs), Some("exp"));
        assert_eq!(nearest("sigmiod", funcs), Some("sigmoid"));
        assert_eq!(nearest("banana", funcs), None);
        assert_eq!(nearest("q", ["m", "b"]), None);
        assert_eq!(nearest("M", ["m", "b"]), Some("m"));
        assert_eq!(nearest("dose", ["dosage", "forgetfulness"]), Some("dosage"));
    }
}
