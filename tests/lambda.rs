//! The serverless deployment end to end on this machine (DESIGN §8): the five functions'
//! real binaries under AWS's runtime interface emulator (tests/support/lambda.rs), driven
//! only by API Gateway events and schedule events, with DynamoDB Local, moto's Secrets
//! Manager and the two clusters.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harness::admin::delete_topic;
use harness::copies::assert_all_copied;
use harness::groups::{commit_on, offsets_on};
use harness::lambda::Lambda;
use harness::records::{create_topic, produce, read_all};
use harness::{env_or, lambda_source, source, target, unique_name};
use kafka_sync::kafka::TIMEOUT;
use kafka_sync::kafka_admin::GroupOffset;
use serde_json::{Value, json};

/// The replicator's timeout in the hand-over test: short, so invocations reach their
/// deadline (10 s of copying after the 2 s reserve) and the next one takes over.
const SHORT_TIMEOUT: Duration = Duration::from_secs(12);

/// A connection body for the SASL/SCRAM listener at `bootstrap`.
fn sasl_connection(bootstrap: &str) -> Value {
    json!({"name": "src", "bootstrap": bootstrap,
        "security": {"protocol": "SASL_PLAINTEXT", "sasl": {
            "mechanism": "SCRAM-SHA-512", "username": "ksync",
            "password": env_or("KSYNC_SASL_PASSWORD", "ksync-secret")}}})
}

/// Invocations per slot that ended at their deadline: each is a hand-over to the next.
fn hand_overs(lambda: &Lambda) -> BTreeMap<usize, usize> {
    let mut ended = BTreeMap::new();
    for invocation in lambda.invocations() {
        if let Some((_, answer)) = &invocation.ended
            && answer.contains("Stopped")
        {
            *ended.entry(invocation.slot).or_default() += 1;
        }
    }
    ended
}

#[tokio::test(flavor = "multi_thread")]
async fn schedules_and_api_events_copy_records_and_group_offsets_across_hand_overs() {
    // Topics an earlier run left would be copied too: the task takes every topic.
    let earlier = lambda_source().topic_partitions(TIMEOUT).await.unwrap();
    for topic in earlier.keys().filter(|t| !t.starts_with("__")) {
        delete_topic(&lambda_source(), topic).await;
    }
    let lambda = Lambda::start(SHORT_TIMEOUT, 3).await;
    let topic = unique_name("lambda");
    create_topic(&lambda_source(), &topic, 3).await;
    produce(&lambda_source(), &topic, 3, 0, 300, 200).await;
    let group = unique_name("lambda-group");
    let committed: Vec<GroupOffset> = (0..3)
        .map(|partition| GroupOffset {
            topic: topic.clone(),
            partition,
            offset: 40,
        })
        .collect();
    commit_on(&lambda_source(), &group, &committed).await;
    let sasl = sasl_connection(&env_or("KSYNC_LAMBDA_SASL_BOOTSTRAP", "127.0.0.1:39094"));
    let all = json!({"all": true});
    let task = lambda
        .create_task(sasl, all, "metadata+messages+offsets")
        .await;

    // The schedules, faster than in AWS (the dispatcher every 3 s), while records keep
    // arriving for longer than three replicator timeouts.
    let (mut produced, started) = (300u64, Instant::now());
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not copied in 5 minutes: lag {:?}, hand-overs {:?}, invocations {:?}",
            lambda.lag(&task).await,
            hand_overs(&lambda),
            lambda.invocations()
        );
        let round = lambda.dispatch().await;
        assert_eq!(round["failed"], 0, "{round}");
        lambda.offset_sync().await;
        if produced < 900 && started.elapsed() > Duration::from_secs(produced / 100 * 6) {
            produce(&lambda_source(), &topic, 3, produced, 100, 200).await;
            produced += 100;
        }
        let handed_over: usize = hand_overs(&lambda).values().sum();
        if produced == 900 && handed_over >= 3 && lambda.lag(&task).await == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let duplicates = assert_all_copied(
        &read_all(&lambda_source(), &topic).await,
        &read_all(&target(), &topic).await,
    );
    eprintln!(
        "copied 900 records in {:?}: hand-overs per slot {:?}, duplicates per partition {duplicates:?}, {} invocations",
        started.elapsed(),
        hand_overs(&lambda),
        lambda.invocations().len()
    );

    // The group's offsets reach the target, translated: the target partitions held
    // nothing before the copy, so offset 40 is offset 40 there.
    let wanted: BTreeMap<i32, i64> = (0..3).map(|p| (p, 40)).collect();
    let synced = Instant::now();
    while offsets_on(&target(), &group).await != wanted {
        assert!(
            synced.elapsed() < Duration::from_secs(60),
            "group offsets on the target: {:?}",
            offsets_on(&target(), &group).await
        );
        lambda.offset_sync().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    assert_password_only_in_secrets_manager(&lambda).await;
    // An invocation logs its metric lines as it ends: the last ones end at their
    // deadline, as nothing is left to copy.
    let ending = Instant::now();
    while lambda.running() > 0 {
        assert!(
            ending.elapsed() < SHORT_TIMEOUT * 2,
            "invocations still running"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_replicator_metrics_logged(&lambda, 900);
}

/// The SASL password is in Secrets Manager and nowhere in the table.
async fn assert_password_only_in_secrets_manager(lambda: &Lambda) {
    let password = env_or("KSYNC_SASL_PASSWORD", "ksync-secret");
    let items = harness::dynamodb()
        .await
        .scan()
        .table_name(&lambda.table)
        .send()
        .await
        .unwrap();
    let table = format!("{:?}", items.items());
    assert!(
        table.contains("connection#"),
        "the table holds the connections"
    );
    assert!(
        !table.contains(&password),
        "a table item holds the password"
    );
    let secrets: Value = reqwest::Client::new()
        .post(&lambda.secrets_endpoint)
        .header("X-Amz-Target", "secretsmanager.ListSecrets")
        .header("Content-Type", "application/x-amz-json-1.1")
        // moto picks the service from the credential scope; it checks no signature.
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=ksynclocal/20261202/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body("{}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        secrets["SecretList"].as_array().map(Vec::len),
        Some(1),
        "one secret, the SASL connection's: {secrets}"
    );
}

/// The replicator's CloudWatch embedded-metric lines parse, carry the names MSK
/// Replicator users know, and count at least every record copied.
fn assert_replicator_metrics_logged(lambda: &Lambda, records: u64) {
    let mut copied = 0.0;
    let mut names = std::collections::BTreeSet::new();
    for line in lambda.replicator_log() {
        let Ok(metric) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(definitions) = metric["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array() else {
            continue;
        };
        names.extend(
            definitions
                .iter()
                .filter_map(|d| d["Name"].as_str().map(str::to_owned)),
        );
        copied += metric["RecordsCopied"].as_f64().unwrap_or_default();
    }
    for name in ["ReplicatorThroughput", "MessageLag", "ReplicationLatency"] {
        assert!(names.contains(name), "no {name} in {names:?}");
    }
    assert!(
        copied >= records as f64,
        "the invocations' RecordsCopied add up to {copied}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_task_runs_no_invocation_and_new_records_start_one() {
    // The template's replicator timeout: only the idle exit ends these invocations.
    let lambda = Lambda::start(Duration::from_secs(900), 2).await;
    let topic = unique_name("lambda-idle");
    create_topic(&source(), &topic, 2).await;
    produce(&source(), &topic, 2, 0, 50, 100).await;
    let sasl = sasl_connection(&env_or("KSYNC_SOURCE_SASL_BOOTSTRAP", "127.0.0.1:19094"));
    let topics = json!({"regex": format!("^{topic}$")});
    let task = lambda.create_task(sasl, topics, "metadata+messages").await;
    let started = Instant::now();
    lambda.dispatch().await;
    while lambda.lag(&task).await != Some(0) {
        assert!(started.elapsed() < Duration::from_secs(60), "not copied");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Two idle minutes, the dispatcher every 10 s: the invocations end on their own and
    // no new one starts.
    let idle = Instant::now();
    while idle.elapsed() < Duration::from_secs(120) {
        lambda.dispatch().await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    let invocations = lambda.invocations();
    assert_eq!(lambda.running(), 0, "still running: {invocations:?}");
    for invocation in &invocations {
        let (ended, answer) = invocation.ended.as_ref().unwrap();
        assert!(
            answer.contains("Idle"),
            "not ended by the idle exit: {answer}"
        );
        assert!(
            ended.duration_since(idle) < Duration::from_secs(70),
            "an invocation ran past a minute of no lag"
        );
    }
    assert!(
        invocations
            .iter()
            .all(|i| i.started < idle + Duration::from_secs(10)),
        "an invocation started while the task was idle: {invocations:?}"
    );

    // Records produced now are copied within about one dispatcher period.
    produce(&source(), &topic, 2, 50, 20, 100).await;
    let produced = Instant::now();
    lambda.dispatch().await;
    while lambda.lag(&task).await != Some(0) {
        assert!(
            produced.elapsed() < Duration::from_secs(30),
            "not copied 30 s after the dispatch"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "{} invocations while idle for 2 minutes; new records copied {:?} after they were produced",
        invocations.len(),
        produced.elapsed()
    );
    assert_all_copied(
        &read_all(&source(), &topic).await,
        &read_all(&target(), &topic).await,
    );
}
