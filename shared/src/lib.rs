//! kafka-sync's core library. Every rule of the product contract lives here, one module
//! per concern; the Lambda functions in `functions/` and `kafka-sync local` only trigger it.

pub mod kafka;
pub mod lambda;
pub mod telemetry;
pub mod validation;
