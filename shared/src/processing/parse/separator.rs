//! `separator` mode: the message is text split on a literal separator into fields `"0"`,
//! `"1"`, …. Every piece is a field, empty ones included (`"a,,b"` has three fields, `"a,"`
//! two), and nothing is trimmed: a trailing newline belongs to the last field.

use crate::processing::record::Record;

pub(in crate::processing) fn parse<'a>(text: &'a str, separator: &str) -> Record<'a> {
    Record::Positional(text.split(separator).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(text: &'a str, separator: &str) -> Vec<&'a str> {
        match parse(text, separator) {
            Record::Positional(values) => values,
            other => panic!("positional: {other:?}"),
        }
    }

    #[test]
    fn splits_on_the_literal_separator_keeping_empty_pieces() {
        assert_eq!(fields("a,,b,", ","), ["a", "", "b", ""]);
        assert_eq!(fields("a b  c", " "), ["a", "b", "", "c"]);
        assert_eq!(fields("a||b|c", "||"), ["a", "b|c"]);
        assert_eq!(fields("no separator", ";"), ["no separator"]);
        assert_eq!(fields("a.b", "."), ["a", "b"], "not a regex");
    }
}
