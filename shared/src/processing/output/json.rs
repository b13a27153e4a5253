//! `json` output: a JSON object of the fields, in order, JSON types kept (text fields are
//! strings), written compactly.

use crate::processing::record::{FieldValue, Name};

pub(super) fn begin(out: &mut Vec<u8>) {
    out.push(b'{');
}

pub(super) fn field(out: &mut Vec<u8>, first: bool, name: Name<'_>, value: &FieldValue<'_>) {
    if !first {
        out.push(b',');
    }
    name.write_json(out);
    out.push(b':');
    value.write_json(out);
}

pub(super) fn end(out: &mut Vec<u8>) {
    out.push(b'}');
}
