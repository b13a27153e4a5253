//! kafka-sync's core library. Every rule of the product contract lives here, one module
//! per concern; the Lambda functions in `functions/` and `kafka-sync local` only trigger it.

pub mod api;
pub mod connection;
pub mod kafka;
pub mod lambda;
pub mod lifecycle;
pub mod local;
pub mod names;
pub mod processing;
pub mod secrets;
pub mod services;
pub mod store;
pub mod task;
pub mod topic_metadata;
pub mod telemetry;
pub mod validation;
