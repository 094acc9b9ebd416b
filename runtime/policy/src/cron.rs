//! Amazon EventBridge Scheduler expressions: `cron(…)` with six fields, `rate(N unit)` and
//! `at(yyyy-mm-ddThh:mm:ss)`. Syntax checks only; computing fire times is not done here.

/// Why an expression is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    /// What is wrong.
    pub message: String,
    /// What is expected.
    pub expected: Option<String>,
    /// A corrected expression, when one is obvious.
    pub suggestion: Option<String>,
}

fn err(message: impl Into<String>) -> ExprError {
    ExprError {
        message: message.into(),
        expected: None,
        suggestion: None,
    }
}

impl ExprError {
    fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = Some(e.into());
        self
    }
    fn suggest(mut self, s: impl Into<String>) -> Self {
        self.suggestion = Some(s.into());
        self
    }
}

const FORMS: &str = "cron(minutes hours day-of-month month day-of-week year), rate(N minutes|hours|days) or at(yyyy-mm-ddThh:mm:ss)";

/// Checks a schedule expression.
pub fn check_expression(expr: &str) -> Result<(), ExprError> {
    let e = expr.trim();
    if e != expr {
        return Err(err("leading or trailing spaces").suggest(e));
    }
    if let Some(inner) = e.strip_prefix("cron(").and_then(|s| s.strip_suffix(')')) {
        return check_cron(inner);
    }
    if let Some(inner) = e.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) {
        return check_rate(inner);
    }
    if let Some(inner) = e.strip_prefix("at(").and_then(|s| s.strip_suffix(')')) {
        return chrono::NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S")
            .map(|_| ())
            .map_err(|_| {
                err(format!("invalid date and time \"{inner}\" in at()"))
                    .expected("at(yyyy-mm-ddThh:mm:ss), e.g. at(2026-12-31T23:00:00)")
            });
    }
    let mut error = err("unknown schedule expression").expected(FORMS);
    let fields: Vec<&str> = e.split_whitespace().collect();
    if (fields.len() == 5 || fields.len() == 6) && check_cron(&fields.join(" ")).is_ok() {
        error = error.suggest(format!("cron({})", fields.join(" ")));
    } else if fields.len() == 5
        && let Some(s) = from_unix(&fields)
    {
        error = error.suggest(s);
    }
    Err(error)
}

/// A Unix 5-field cron turned into an EventBridge one, when that is mechanical.
fn from_unix(f: &[&str]) -> Option<String> {
    let (dom, dow) = match (f[2], f[4]) {
        (dom, "*") => (dom, "?"),
        ("*", dow)
            if dow
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == ',' || c == '-') =>
        {
            ("?", dow)
        }
        _ => return None,
    };
    let s = format!("cron({} {} {dom} {} {dow} *)", f[0], f[1], f[3]);
    check_expression(&s).ok().map(|()| s)
}

fn check_rate(inner: &str) -> Result<(), ExprError> {
    let expected = "rate(N minutes|hours|days), singular for 1: rate(1 hour)";
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let [n, unit] = parts.as_slice() else {
        return Err(err(format!("invalid rate \"{inner}\"")).expected(expected));
    };
    let n: u32 = match n.parse() {
        Ok(n) if n >= 1 => n,
        _ => {
            return Err(
                err(format!("rate value \"{n}\" is not a positive whole number"))
                    .expected(expected),
            );
        }
    };
    let (singular, plural, minutes) = match *unit {
        "minute" | "minutes" => ("minute", "minutes", 1),
        "hour" | "hours" => ("hour", "hours", 60),
        "day" | "days" => ("day", "days", 1440),
        "week" | "weeks" => {
            return Err(err("rate() has no unit week")
                .expected(expected)
                .suggest(format!("rate({} days)", n.saturating_mul(7))));
        }
        "second" | "seconds" => {
            return Err(err("rate() cannot be shorter than one minute").expected(expected));
        }
        other => return Err(err(format!("unknown rate unit \"{other}\"")).expected(expected)),
    };
    let want = if n == 1 { singular } else { plural };
    if *unit != want {
        return Err(err(format!("use \"{want}\" with the value {n}"))
            .expected(expected)
            .suggest(format!("rate({n} {want})")));
    }
    if u64::from(n) * minutes > 366 * 1440 {
        return Err(err("a rate longer than a year is not a schedule").expected(expected));
    }
    Ok(())
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [Field; 6] = [
    Field {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hours",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
    },
    Field {
        name: "day-of-week",
        min: 1,
        max: 7,
        names: DAYS,
    },
    Field {
        name: "year",
        min: 1970,
        max: 2199,
        names: &[],
    },
];

fn check_cron(inner: &str) -> Result<(), ExprError> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    if fields.len() != 6 {
        let mut e = err(format!("cron() needs 6 fields, found {}", fields.len()))
            .expected("cron(minutes hours day-of-month month day-of-week year)");
        if fields.len() == 5
            && let Some(s) = from_unix(&fields)
        {
            e = e.suggest(s);
        }
        return Err(e);
    }
    for (i, (text, field)) in fields.iter().zip(FIELDS.iter()).enumerate() {
        check_field(text, field, i).map_err(|m| {
            err(format!("{} field \"{text}\": {m}", field.name)).expected(format!(
                "{}–{}{}",
                field.min,
                field.max,
                extra_syntax(i)
            ))
        })?;
    }
    match (fields[2] == "?", fields[4] == "?") {
        (true, true) => Err(err("only one of day-of-month and day-of-week can be ?")
            .expected("a value in one of them and ? in the other")),
        (false, false) => {
            let mut f = fields.clone();
            if f[4] == "*" {
                f[4] = "?";
            } else if f[2] == "*" {
                f[2] = "?";
            } else {
                return Err(err("one of day-of-month and day-of-week must be ?")
                    .expected("a value in one of them and ? in the other"));
            }
            Err(err("one of day-of-month and day-of-week must be ?")
                .expected("a value in one of them and ? in the other")
                .suggest(format!("cron({})", f.join(" "))))
        }
        _ => Ok(()),
    }
}

fn extra_syntax(i: usize) -> &'static str {
    match i {
        2 => " with , - * / ? L W",
        3 => " or JAN–DEC with , - * /",
        4 => " or SUN–SAT with , - * ? L #",
        _ => " with , - * /",
    }
}

fn check_field(text: &str, f: &Field, i: usize) -> Result<(), String> {
    if text == "?" {
        return if i == 2 || i == 4 {
            Ok(())
        } else {
            Err("? is only allowed in day-of-month and day-of-week".into())
        };
    }
    for item in text.split(',') {
        check_item(item, f, i)?;
    }
    Ok(())
}

fn check_item(item: &str, f: &Field, i: usize) -> Result<(), String> {
    if item.is_empty() {
        return Err("empty list item".into());
    }
    if item.contains('?') {
        return Err("? must stand alone".into());
    }
    // Day-of-month specials: L, LW, nW.
    if i == 2 {
        if item == "L" || item == "LW" {
            return Ok(());
        }
        if let Some(n) = item.strip_suffix('W') {
            return value(n, f).map(|_| ());
        }
    }
    // Day-of-week specials: L, nL, n#k.
    if i == 4 {
        if item == "L" {
            return Ok(());
        }
        if let Some(n) = item.strip_suffix('L') {
            return value(n, f).map(|_| ());
        }
        if let Some((n, k)) = item.split_once('#') {
            value(n, f)?;
            return match k.parse::<u32>() {
                Ok(1..=5) => Ok(()),
                _ => Err(format!("\"#{k}\" must be #1 to #5")),
            };
        }
    }
    if item.contains(['L', 'W', '#'])
        && !f
            .names
            .iter()
            .any(|n| item.to_ascii_uppercase().contains(n))
    {
        return Err(format!("\"{item}\" uses L, W or # where it is not allowed"));
    }
    let (base, step) = match item.split_once('/') {
        Some((b, s)) => (b, Some(s)),
        None => (item, None),
    };
    if let Some(s) = step {
        match s.parse::<u32>() {
            Ok(n) if n >= 1 && n <= f.max => {}
            _ => {
                return Err(format!(
                    "step \"/{s}\" must be a whole number from 1 to {}",
                    f.max
                ));
            }
        }
    }
    if base == "*" {
        return Ok(());
    }
    match base.split_once('-') {
        Some((a, b)) => {
            value(a, f)?;
            value(b, f)?;
        }
        None => {
            value(base, f)?;
        }
    }
    Ok(())
}

fn value(text: &str, f: &Field) -> Result<u32, String> {
    if let Some(pos) = f.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return u32::try_from(pos + 1).map_err(|e| e.to_string());
    }
    match text.parse::<u32>() {
        Ok(n) if (f.min..=f.max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is out of range {}–{}", f.min, f.max)),
        Err(_) => Err(format!(
            "\"{text}\" is not a number{}",
            if f.names.is_empty() { "" } else { " or name" }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_expressions_pass() {
        for e in [
            "cron(0 2 * * ? *)",
            "cron(15 10 ? * 6L 2026-2030)",
            "cron(0/15 * * * ? *)",
            "cron(0 8 1 * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0 0 L * ? *)",
            "cron(0 0 15W * ? *)",
            "cron(0,30 1-5 ? JAN,JUL SUN *)",
            "rate(1 hour)",
            "rate(5 minutes)",
            "rate(2 days)",
            "at(2026-12-31T23:00:00)",
        ] {
            assert_eq!(check_expression(e), Ok(()), "{e}");
        }
    }

    #[test]
    fn question_mark_rule_is_enforced_with_a_fix() {
        let e = check_expression("cron(0 2 * * * *)").unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("cron(0 2 * * ? *)"));
        assert!(check_expression("cron(0 2 ? * ? *)").is_err());
    }

    #[test]
    fn unix_cron_gets_converted_in_the_suggestion() {
        let e = check_expression("cron(0 2 * * *)").unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("cron(0 2 * * ? *)"));
        let e = check_expression("0 2 * * *").unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("cron(0 2 * * ? *)"));
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let e = check_expression("cron(0 24 * * ? *)").unwrap_err();
        assert!(
            e.message
                .starts_with("hours field \"24\": 24 is out of range 0–23"),
            "{e:?}"
        );
        assert!(check_expression("cron(60 1 * * ? *)").is_err());
        assert!(check_expression("cron(0 1 32 * ? *)").is_err());
        assert!(check_expression("cron(0 1 ? 13 * *)").is_err());
        assert!(check_expression("cron(0 1 ? * 8 *)").is_err());
        assert!(check_expression("cron(0 1 ? * 1 1969)").is_err());
        assert!(check_expression("cron(0/0 1 ? * 1 *)").is_err());
        assert!(check_expression("cron(0 1 ? * 1#6 *)").is_err());
    }

    #[test]
    fn rate_units_must_agree_with_the_value() {
        let e = check_expression("rate(1 hours)").unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("rate(1 hour)"));
        let e = check_expression("rate(6 hour)").unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("rate(6 hours)"));
        assert!(check_expression("rate(0 minutes)").is_err());
        assert!(check_expression("rate(30 seconds)").is_err());
        assert_eq!(
            check_expression("rate(1 week)")
                .unwrap_err()
                .suggestion
                .as_deref(),
            Some("rate(7 days)")
        );
    }

    #[test]
    fn at_needs_a_full_local_date_time() {
        assert!(check_expression("at(2026-12-31)").is_err());
        assert!(check_expression("at(2026-02-30T00:00:00)").is_err());
    }
}
