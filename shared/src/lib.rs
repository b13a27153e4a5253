//! kafka-sync's core library. Every rule of the product contract lives here, one module
//! per concern; the Lambda functions in `functions/` and `kafka-sync local` only trigger it.

pub mod api;
pub mod assignment;
pub mod connection;
pub mod dispatcher;
pub mod error_policy;
pub mod jobs;
pub mod kafka;
pub mod kafka_admin;
pub mod lambda;
pub mod lifecycle;
pub mod local;
pub mod metadata_sync;
pub mod metrics;
pub mod names;
pub mod offset_sync;
pub mod offset_translation;
pub mod processing;
pub mod progress;
pub mod replicator;
pub mod runtime;
pub mod secrets;
pub mod services;
pub mod shared_clients;
pub mod store;
pub mod task;
pub mod telemetry;
pub mod topic_metadata;
pub mod topology;
pub mod validation;
