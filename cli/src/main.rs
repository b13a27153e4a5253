//! `kafka-sync local`: one process running what the Lambda functions run in AWS.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "kafka-sync", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API, the schedules and the replicator workers in this process.
    Local {
        /// Address the HTTP API listens on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// An embedded database file, or dynamodb://TABLE (with DYNAMODB_ENDPOINT for
        /// DynamoDB Local). Default: $KAFKA_SYNC_HOME/store.redb.
        #[arg(long)]
        store: Option<kafka_sync::store::StoreLocation>,
        /// Seconds between metadata sync runs (as the template's `rate(3 minutes)`; new
        /// source topics are picked up within seconds regardless).
        #[arg(long, default_value_t = 180)]
        metadata_interval: u64,
        /// Seconds between consumer-group offset sync runs (as the template's
        /// `rate(1 minute)`).
        #[arg(long, default_value_t = 60)]
        offset_interval: u64,
    },
}

fn main() -> anyhow::Result<()> {
    kafka_sync::runtime::block_on(run())
}

async fn run() -> anyhow::Result<()> {
    kafka_sync::telemetry::init();
    match Cli::parse().command {
        Command::Local {
            listen,
            store,
            metadata_interval,
            offset_interval,
        } => {
            kafka_sync::local::run(kafka_sync::local::Options {
                listen,
                store: store.unwrap_or_else(kafka_sync::local::default_store),
                metadata_interval_secs: metadata_interval,
                offset_interval_secs: offset_interval,
            })
            .await
        }
    }
}
