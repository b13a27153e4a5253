//! Regular-expression auto-generation (`POST /v1/processing/regex`, the seed console's
//! feature): from one sample message and the parts of it to extract, each named, a
//! pattern for `regex` parse mode with one named group per part that matches the whole
//! sample and yields exactly those parts.
//!
//! Each part is found in the sample (in the order given, else anywhere it does not
//! overlap another). The pattern is then built as generally as still works: a group
//! takes what its text is made of (`\d+` for digits, else anything up to the character
//! that follows it), and the text between parts keeps its letters and punctuation while
//! its numbers become `\d+`, so the other lines of a log shaped like the sample match
//! too. Every candidate is checked on the sample; when a general one would split it
//! differently, a more literal one is taken, down to the sample itself escaped, which
//! always yields the parts.

use ::regex::{Regex, escape};

use crate::validation::FieldError;

/// The longest sample taken, and the most parts.
pub const MAX_SAMPLE_BYTES: usize = 64 * 1024;
pub const MAX_EXTRACTS: usize = 64;

/// A part of the sample to extract, under a group name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extract {
    pub name: String,
    pub text: String,
}

/// Where a part is in the sample, by its index in the request.
#[derive(Clone, Copy, Debug)]
struct Span {
    index: usize,
    start: usize,
    end: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Generality {
    /// General groups and numbers between them.
    Shape,
    /// General groups, the text between them as it is.
    Groups,
    /// The sample itself, escaped.
    Literal,
}

/// A pattern that matches `sample` and whose named groups yield exactly the parts.
pub fn suggest(sample: &str, extract: &[Extract]) -> Result<String, FieldError> {
    check(sample, extract)?;
    let spans = locate(sample, extract)?;
    [Generality::Shape, Generality::Groups, Generality::Literal]
        .into_iter()
        .map(|generality| pattern(sample, extract, &spans, generality))
        .find(|candidate| yields(candidate, sample, extract))
        .ok_or_else(|| {
            // The escaped sample always yields its parts; this is a bug if reached.
            FieldError::new("extract", "no pattern yields these parts of the sample")
        })
}

fn check(sample: &str, extract: &[Extract]) -> Result<(), FieldError> {
    if sample.is_empty() || sample.len() > MAX_SAMPLE_BYTES {
        return Err(FieldError::new(
            "sample",
            format!("must be 1 to {MAX_SAMPLE_BYTES} bytes"),
        ));
    }
    if extract.is_empty() || extract.len() > MAX_EXTRACTS {
        return Err(FieldError::new(
            "extract",
            format!("must name 1 to {MAX_EXTRACTS} parts of the sample"),
        ));
    }
    for (i, part) in extract.iter().enumerate() {
        let name = &part.name;
        let valid = name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(FieldError::new(
                format!("extract[{i}].name"),
                format!(
                    "{name:?} is not a group name (a letter or _, then letters, digits or _; at most 64)"
                ),
            ));
        }
        if extract[..i].iter().any(|earlier| earlier.name == *name) {
            return Err(FieldError::new(
                format!("extract[{i}].name"),
                format!("{name:?} is named twice"),
            ));
        }
        if part.text.is_empty() {
            return Err(FieldError::new(format!("extract[{i}].text"), "is empty"));
        }
    }
    Ok(())
}

/// Each part's place in the sample, in sample order.
fn locate(sample: &str, extract: &[Extract]) -> Result<Vec<Span>, FieldError> {
    let mut spans: Vec<Span> = Vec::new();
    let mut cursor = 0;
    for (index, part) in extract.iter().enumerate() {
        let free = |start: usize| {
            let end = start + part.text.len();
            spans.iter().all(|s| end <= s.start || start >= s.end)
        };
        let after = sample[cursor..]
            .match_indices(part.text.as_str())
            .map(|(at, _)| cursor + at)
            .find(|&at| free(at));
        let start = after.or_else(|| {
            sample
                .match_indices(part.text.as_str())
                .map(|(at, _)| at)
                .find(|&at| free(at))
        });
        let Some(start) = start else {
            let why = if sample.contains(part.text.as_str()) {
                "is in the sample only where another part is"
            } else {
                "is not in the sample"
            };
            return Err(FieldError::new(
                format!("extract[{index}].text"),
                format!("{:?} {why}", part.text),
            ));
        };
        let end = start + part.text.len();
        cursor = end;
        spans.push(Span { index, start, end });
    }
    spans.sort_by_key(|s| s.start);
    Ok(spans)
}

fn pattern(sample: &str, extract: &[Extract], spans: &[Span], generality: Generality) -> String {
    let mut pattern = String::from("^");
    let mut at = 0;
    for span in spans {
        pattern.push_str(&between(&sample[at..span.start], generality));
        let text = &extract[span.index].text;
        let next = sample[span.end..].chars().next();
        let group = match generality {
            Generality::Literal => escape(text),
            _ => group(text, next),
        };
        pattern.push_str(&format!("(?P<{}>{group})", extract[span.index].name));
        at = span.end;
    }
    pattern.push_str(&between(&sample[at..], generality));
    pattern.push('$');
    pattern
}

/// What a part is made of, up to the character after it (`None`: the end).
fn group(text: &str, next: Option<char>) -> String {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return r"\d+".into();
    }
    match next {
        Some(c) if !text.contains(c) && c != '\n' => format!("[^{}]+", escape(&c.to_string())),
        Some(_) => ".+?".into(),
        None => ".+".into(),
    }
}

/// The text between parts: as it is, with each number as `\d+` at `Shape`.
fn between(text: &str, generality: Generality) -> String {
    if generality != Generality::Shape {
        return escape(text);
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&escape(&rest[..start]));
        let digits = rest[start..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(rest.len(), |n| start + n);
        out.push_str(r"\d+");
        rest = &rest[digits..];
    }
    out.push_str(&escape(rest));
    out
}

/// Whether `pattern` compiles and yields exactly each part's text from the sample.
fn yields(pattern: &str, sample: &str, extract: &[Extract]) -> bool {
    let Ok(regex) = Regex::new(pattern) else {
        return false;
    };
    let Some(captures) = regex.captures(sample) else {
        return false;
    };
    extract
        .iter()
        .all(|part| captures.name(&part.name).map(|m| m.as_str()) == Some(part.text.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(pairs: &[(&str, &str)]) -> Vec<Extract> {
        pairs
            .iter()
            .map(|(name, text)| Extract {
                name: (*name).into(),
                text: (*text).into(),
            })
            .collect()
    }

    /// The pattern for `sample`, checked to yield the parts, and what it yields from
    /// `other` (a line of the same shape), by group name in the parts' order.
    fn generalizes(sample: &str, pairs: &[(&str, &str)], other: &str) -> Vec<String> {
        let extract = parts(pairs);
        let pattern = suggest(sample, &extract).unwrap();
        let regex = Regex::new(&pattern).unwrap();
        let own = regex.captures(sample).unwrap();
        for (name, text) in pairs {
            assert_eq!(&own[*name], *text, "{pattern}");
        }
        let captures = regex
            .captures(other)
            .unwrap_or_else(|| panic!("{pattern} does not match {other:?}"));
        pairs
            .iter()
            .map(|(name, _)| captures[*name].to_owned())
            .collect()
    }

    #[test]
    fn an_access_log_line() {
        let got = generalizes(
            "GET /a 200 12ms",
            &[("path", "/a"), ("status", "200")],
            "GET /orders/7 404 1530ms",
        );
        assert_eq!(got, ["/orders/7", "404"]);
    }

    #[test]
    fn an_apache_combined_log_line() {
        let got = generalizes(
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
            &[
                ("ip", "127.0.0.1"),
                ("user", "frank"),
                ("time", "10/Oct/2000:13:55:36 -0700"),
                ("request", "GET /apache_pb.gif HTTP/1.0"),
                ("status", "200"),
                ("bytes", "2326"),
            ],
            r#"10.1.2.3 - - [11/Oct/2000:08:01:02 +0200] "POST /login HTTP/1.1" 302 0"#,
        );
        assert_eq!(
            got,
            [
                "10.1.2.3",
                "-",
                "11/Oct/2000:08:01:02 +0200",
                "POST /login HTTP/1.1",
                "302",
                "0"
            ]
        );
    }

    #[test]
    fn a_key_value_line_with_a_quoted_message() {
        let got = generalizes(
            r#"ts=2024-05-01T10:00:00Z level=info msg="user logged in" user=alice"#,
            &[
                ("level", "info"),
                ("msg", "user logged in"),
                ("user", "alice"),
            ],
            r#"ts=2024-05-02T23:59:59Z level=error msg="disk full" user=bob"#,
        );
        assert_eq!(got, ["error", "disk full", "bob"]);
    }

    #[test]
    fn a_syslog_line() {
        let got = generalizes(
            "May  1 10:00:00 web01 sshd[1234]: Failed password for root from 10.0.0.5 port 22 ssh2",
            &[
                ("host", "web01"),
                ("pid", "1234"),
                ("user", "root"),
                ("ip", "10.0.0.5"),
            ],
            "May  1 10:00:07 db02 sshd[77]: Failed password for admin from 192.168.1.20 port 22 ssh2",
        );
        assert_eq!(got, ["db02", "77", "admin", "192.168.1.20"]);
    }

    #[test]
    fn parts_out_of_order_repeated_or_at_the_ends() {
        // The same text twice is two parts; parts may be listed in any order.
        let got = generalizes(
            "ok,ok,3",
            &[("count", "3"), ("first", "ok"), ("second", "ok")],
            "no,ok,12",
        );
        assert_eq!(got, ["12", "no", "ok"]);
    }

    #[test]
    fn a_general_pattern_that_would_split_differently_falls_back() {
        // A part holding the character after it cannot be `[^-]+`: what is taken still
        // yields the parts exactly.
        let extract = parts(&[("x", "1-2"), ("y", "3")]);
        let pattern = suggest("1-2-3", &extract).unwrap();
        let captures = Regex::new(&pattern).unwrap().captures("1-2-3").unwrap();
        assert_eq!((&captures["x"], &captures["y"]), ("1-2", "3"));
    }

    #[test]
    fn a_part_not_in_the_sample_names_its_field() {
        let error =
            suggest("GET /a 200", &parts(&[("path", "/a"), ("status", "500")])).unwrap_err();
        assert_eq!(error.field, "extract[1].text");
        assert!(error.message.contains("not in the sample"), "{error}");
        let error = suggest("a b", &parts(&[("x", "a b"), ("y", "b")])).unwrap_err();
        assert_eq!(error.field, "extract[1].text");
        assert!(error.message.contains("another part"), "{error}");
    }

    #[test]
    fn names_and_sizes_are_checked() {
        let bad = |pairs: &[(&str, &str)]| suggest("a b", &parts(pairs)).unwrap_err().field;
        assert_eq!(bad(&[("1x", "a")]), "extract[0].name");
        assert_eq!(bad(&[("x", "a"), ("x", "b")]), "extract[1].name");
        assert_eq!(bad(&[("x(", "a")]), "extract[0].name");
        assert_eq!(bad(&[("x", "")]), "extract[0].text");
        assert_eq!(bad(&[]), "extract");
        assert_eq!(
            suggest("", &parts(&[("x", "a")])).unwrap_err().field,
            "sample"
        );
    }
}
