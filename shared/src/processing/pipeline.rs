//! The message pipeline: a message value in, its output messages or the reason it cannot
//! be processed out. Pure: no I/O, no clock (the caller passes the time), nothing compiled
//! per message.

use std::cell::OnceCell;

use super::CompiledProcessing;
use super::error::ProcessingError;
use super::output::Renderer;
use super::parse::{JsonAs, Records};
use super::record::{Name, Record};

/// One output message: the source record's key, as it is, and the processed value. The
/// caller keeps the source record's timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

impl CompiledProcessing {
    /// Processes one message: parse (DESIGN §4 step 1), fields (step 2), output (step 3).
    /// `now_ms` is the time of processing, in milliseconds since the Unix epoch, for
    /// `system_time` fields.
    ///
    /// Every mode gives one output, but `json_array_multi`, which gives one per element of
    /// the array (none for `[]`). A message with no value (a tombstone) or an empty one is
    /// an error (`empty_message`) in every mode, as is one that is not UTF-8 (`not_utf8`).
    pub fn run(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<Vec<Output>, ProcessingError> {
        let text = text(value)?;
        // Without `fields` JSON objects are output whole, in document order. With them only
        // the values the fields use are decoded, unless a JSONPath needs the whole document.
        let json_as = match &self.fields {
            None => JsonAs::Ordered,
            Some(fields) if fields.iter().all(|field| field.op.reads_lazily()) => JsonAs::Raw,
            Some(_) => JsonAs::Value,
        };
        // Each record's share of the message: about the size of its output without fields.
        let output = |record: &Record<'_>, share: usize| {
            self.render(record, now_ms, share).map(|value| Output {
                key: key.map(<[u8]>::to_vec),
                value,
            })
        };
        match self.parse.parse(text, json_as)? {
            Records::One(record) => Ok(vec![output(&record, text.len())?]),
            Records::Many(records) => {
                let share = text.len() / records.len().max(1);
                records.iter().map(|record| output(record, share)).collect()
            }
        }
    }

    fn render(
        &self,
        record: &Record<'_>,
        now_ms: i64,
        size_hint: usize,
    ) -> Result<Vec<u8>, ProcessingError> {
        match &self.fields {
            None => {
                let mut out = Renderer::new(&self.output, size_hint + 2);
                record.for_each_field(|name, value| out.field(name, &value))?;
                Ok(out.finish())
            }
            Some(fields) => {
                let mut out = Renderer::new(&self.output, 32 * fields.len());
                let document = OnceCell::new();
                for field in fields {
                    let value = field.op.evaluate(record, &document, now_ms)?;
                    out.field(Name::Str(&field.name), &value);
                }
                Ok(out.finish())
            }
        }
    }
}

/// The message value as text.
fn text(value: Option<&[u8]>) -> Result<&str, ProcessingError> {
    let value = match value {
        None => {
            return Err(ProcessingError::new(
                ProcessingError::EMPTY_MESSAGE,
                "the message has no value (a tombstone)",
            ));
        }
        Some([]) => {
            return Err(ProcessingError::new(
                ProcessingError::EMPTY_MESSAGE,
                "the message value is empty",
            ));
        }
        Some(value) => value,
    };
    std::str::from_utf8(value).map_err(|err| {
        ProcessingError::new(
            ProcessingError::NOT_UTF8,
            format!(
                "the message value is not UTF-8 text: invalid byte at offset {}",
                err.valid_up_to()
            ),
        )
    })
}

#[cfg(test)]
mod tests;
