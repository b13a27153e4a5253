//! `key_value` output: `key<kv_separator>value` pairs joined by the separator, the key and
//! the value written as text as in `value` output. Nothing is escaped: a key or value that
//! contains a separator is written as it is.

use crate::processing::record::{FieldValue, Name};

pub(super) fn field(
    out: &mut Vec<u8>,
    first: bool,
    kv_separator: &str,
    separator: &str,
    name: Name<'_>,
    value: &FieldValue<'_>,
) {
    if !first {
        out.extend_from_slice(separator.as_bytes());
    }
    name.write_text(out);
    out.extend_from_slice(kv_separator.as_bytes());
    value.write_text(out);
}
