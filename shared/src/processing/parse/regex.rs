//! `regex` mode. With named groups (`(?<name>…)` / `(?P<name>…)`), the first match of the
//! pattern gives one field per named group; a group that takes no part in that match is
//! `null`. Without named groups, every match of the whole pattern is a field, `"0"`, `"1"`,
//! …. Either way a message the pattern does not match is an error. The pattern is not
//! anchored: write `^…$` to match whole messages.

use ::regex::Regex;

use crate::processing::error::ProcessingError;
use crate::processing::record::Record;

/// A pattern with named groups; `names` are those groups in pattern order.
pub(in crate::processing) fn named_groups<'a>(
    text: &'a str,
    regex: &Regex,
    names: &'a [String],
) -> Result<Record<'a>, ProcessingError> {
    let captures = regex.captures(text).ok_or_else(|| no_match(regex))?;
    let values = regex
        .capture_names()
        .enumerate()
        .filter(|(_, name)| name.is_some())
        .map(|(index, _)| captures.get(index).map(|found| found.as_str()))
        .collect();
    Ok(Record::Named { names, values })
}

/// A pattern without named groups.
pub(in crate::processing) fn matches<'a>(
    text: &'a str,
    regex: &Regex,
) -> Result<Record<'a>, ProcessingError> {
    let values: Vec<&str> = regex.find_iter(text).map(|found| found.as_str()).collect();
    if values.is_empty() {
        return Err(no_match(regex));
    }
    Ok(Record::Positional(values))
}

fn no_match(regex: &Regex) -> ProcessingError {
    ProcessingError::new(
        ProcessingError::NO_MATCH,
        format!(
            "the message does not match the pattern `{}`",
            regex.as_str()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_groups_in_pattern_order_with_null_for_a_group_not_taken() {
        let regex = Regex::new(r"(?<a>x)?(y)(?P<b>z+)").unwrap();
        let names = ["a".to_owned(), "b".to_owned()];
        let Record::Named { values, .. } = named_groups("-yzz-", &regex, &names).unwrap() else {
            panic!("named")
        };
        assert_eq!(values, [None, Some("zz")]);
        let err = named_groups("xy", &regex, &names).unwrap_err();
        assert_eq!(
            (err.kind, err.reason.as_str()),
            (
                "no_match",
                "the message does not match the pattern `(?<a>x)?(y)(?P<b>z+)`"
            )
        );
    }

    #[test]
    fn without_named_groups_every_match_is_a_field_and_none_is_an_error() {
        let regex = Regex::new(r"(\d)(\d)?").unwrap();
        let Record::Positional(values) = matches("a12b3c", &regex).unwrap() else {
            panic!("positional")
        };
        assert_eq!(values, ["12", "3"]);
        assert_eq!(matches("abc", &regex).unwrap_err().kind, "no_match");
    }
}
