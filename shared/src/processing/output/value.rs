//! `value` output: only the values, joined by the separator (which may be empty). A string
//! is written as it is, a number, boolean or null as its JSON text, an object or array as
//! compact JSON.

use crate::processing::record::FieldValue;

pub(super) fn field(out: &mut Vec<u8>, first: bool, separator: &str, value: &FieldValue<'_>) {
    if !first {
        out.extend_from_slice(separator.as_bytes());
    }
    value.write_text(out);
}
