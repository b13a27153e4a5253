//! `kafka-sync local`: one process running what the Lambda functions run in AWS.

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
    Local,
}

fn main() -> std::process::ExitCode {
    kafka_sync::telemetry::init();
    match Cli::parse().command {
        Command::Local => {
            eprintln!("kafka-sync local is not built yet (issue #3)");
            std::process::ExitCode::from(2)
        }
    }
}
