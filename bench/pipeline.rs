//! Throughput of the message pipeline alone, on one core, against a plain serde_json parse
//! and serialize of the same messages, measured in the same run.
//!
//! `cargo bench -p kafka-sync-shared --bench pipeline`
//!
//! The pipeline is the processing example of DESIGN §5: `json` parse, four fields (jsonpath,
//! mapping, system_time, custom) and `key_value` output, over realistic ~300-byte orders.
//! Each figure is the best of several rounds over all messages, the two interleaved so that
//! both see the same machine state.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kafka_sync::processing::{CompiledProcessing, ProcessingConfig, compile, from_json};
use serde_json::{Value, json};

const MESSAGES: usize = 200_000;
const ROUNDS: usize = 7;
const NOW_MS: i64 = 1_767_225_600_000;

fn main() {
    let messages = messages(MESSAGES);
    let bytes: usize = messages.iter().map(Vec::len).sum();
    println!(
        "{} messages, {:.0} bytes on average",
        messages.len(),
        bytes as f64 / messages.len() as f64
    );

    let design = processing(
        serde_json::from_str(include_str!("../shared/src/processing/design_example.json")).unwrap(),
    );
    let whole = processing(json!({"parse": {"mode": "json"}}));

    let sample = design.run(Some(b"k"), Some(&messages[0]), NOW_MS).unwrap();
    println!(
        "sample output: {}",
        String::from_utf8_lossy(&sample[0].value)
    );

    let mut best_pipeline = Duration::MAX;
    let mut best_serde = Duration::MAX;
    let mut best_whole = Duration::MAX;
    for _ in 0..ROUNDS {
        best_pipeline = best_pipeline.min(time(|| {
            for message in &messages {
                black_box(design.run(Some(b"k"), Some(black_box(message)), NOW_MS)).unwrap();
            }
        }));
        best_serde = best_serde.min(time(|| {
            for message in &messages {
                let value: Value = serde_json::from_slice(black_box(message)).unwrap();
                black_box(serde_json::to_vec(&value).unwrap());
            }
        }));
        best_whole = best_whole.min(time(|| {
            for message in &messages {
                black_box(whole.run(Some(b"k"), Some(black_box(message)), NOW_MS)).unwrap();
            }
        }));
    }

    let rate = |elapsed: Duration| messages.len() as f64 / elapsed.as_secs_f64();
    let (pipeline, serde) = (rate(best_pipeline), rate(best_serde));
    println!(
        "pipeline (json + jsonpath, mapping, system_time, custom + key_value): {:>9.0} messages/s",
        pipeline
    );
    println!(
        "serde_json from_slice::<Value> + to_vec (baseline):                   {:>9.0} messages/s",
        serde
    );
    println!(
        "ratio pipeline / baseline:                                            {:>9.2}",
        pipeline / serde
    );
    println!(
        "(for reference) json without fields, json output:                    {:>9.0} messages/s",
        rate(best_whole)
    );
}

fn processing(config: Value) -> CompiledProcessing {
    let config: ProcessingConfig = from_json(&config, "processing").unwrap();
    compile(&config, "processing").unwrap()
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// `count` order messages of about 300 bytes, varied by a fixed-seed generator.
fn messages(count: usize) -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    const STATUSES: [&str; 4] = ["created", "paid", "shipped", "delivered"];
    const SOURCES: [&str; 3] = ["web", "ios", "android"];
    (0..count)
        .map(|_| {
            let user = next(100_000);
            let lines: Vec<Value> = (0..1 + next(3))
                .map(|_| {
                    json!({
                        "sku": format!("SKU-{:05}", next(100_000)),
                        "qty": 1 + next(5),
                        "price": next(100_000) as f64 / 100.0
                    })
                })
                .collect();
            let message = format!(
                concat!(
                    r#"{{"order":{{"id":{},"status":"{}","total":{},"currency":"EUR","lines":{}}},"#,
                    r#""user":"user-{}","email":"user{}@example.com","#,
                    r#""created_at":"2026-11-{:02}T{:02}:{:02}:{:02}Z","source":"{}","tags":["priority","gift"]}}"#
                ),
                next(10_000_000),
                STATUSES[next(4) as usize],
                next(1_000_000) as f64 / 100.0,
                Value::Array(lines),
                user,
                user,
                1 + next(30),
                next(24),
                next(60),
                next(60),
                SOURCES[next(3) as usize],
            );
            message.into_bytes()
        })
        .collect()
}
