//! The harness works: two distinct real Kafka clusters and DynamoDB Local answer, and
//! what goes in comes back out unchanged.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_two_clusters_are_distinct_and_answer() {
    let source = harness::source().describe(TIMEOUT).await.unwrap();
    let target = harness::target().describe(TIMEOUT).await.unwrap();
    assert_ne!(source.cluster_id, target.cluster_id);
    assert_eq!(source.brokers, vec![harness::source().bootstrap]);
    assert_eq!(target.brokers, vec![harness::target().bootstrap]);
}

#[tokio::test]
async fn keyed_records_with_headers_read_back_byte_identical() {
    let topic = harness::unique_name("smoke-records");
    harness::records::create_topic(&harness::source(), &topic, 1).await;

    let producer: FutureProducer = harness::source()
        .client_config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let sent: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = (0..1000u32)
        .map(|i| {
            (
                format!("key-{i}").into_bytes(),
                // Arbitrary bytes, not only UTF-8, including zero bytes.
                (0..(i % 97)).map(|b| (b * 7 + i) as u8).collect(),
                i.to_be_bytes().to_vec(),
            )
        })
        .collect();
    let deliveries: Vec<_> = sent
        .iter()
        .map(|(key, value, header)| {
            producer.send(
                FutureRecord::to(&topic).key(key).payload(value).headers(
                    OwnedHeaders::new().insert(Header {
                        key: "seq",
                        value: Some(header),
                    }),
                ),
                TIMEOUT,
            )
        })
        .collect();
    for delivery in deliveries {
        delivery.await.map_err(|(e, _)| e).unwrap();
    }

    let consumer: BaseConsumer = harness::source()
        .client_config()
        .set("group.id", harness::unique_name("smoke-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let received = tokio::task::spawn_blocking(move || {
        let mut received = Vec::new();
        let deadline = std::time::Instant::now() + TIMEOUT;
        while received.len() < 1000 && std::time::Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                let message = message.unwrap();
                let headers = message.headers().unwrap();
                assert_eq!(headers.count(), 1);
                let header = headers.get(0);
                assert_eq!(header.key, "seq");
                received.push((
                    message.key().unwrap().to_vec(),
                    message.payload().unwrap_or_default().to_vec(),
                    header.value.unwrap().to_vec(),
                ));
            }
        }
        received
    })
    .await
    .unwrap();
    assert_eq!(received, sent);
}

#[tokio::test]
async fn a_topic_created_with_configs_reads_back_with_them() {
    let topic = harness::unique_name("smoke-configs");
    let admin: AdminClient<DefaultClientContext> =
        harness::target().client_config().create().unwrap();
    let wanted = [
        ("retention.ms", "3600000"),
        ("cleanup.policy", "compact"),
        ("max.message.bytes", "2097152"),
        ("min.insync.replicas", "1"),
    ];
    harness::records::create_topic_with(&harness::target(), &topic, 3, &wanted).await;

    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic(&topic)], &AdminOptions::new())
        .await
        .unwrap();
    let resource = described.into_iter().next().unwrap().unwrap();
    let configs: HashMap<String, String> = resource
        .entries
        .into_iter()
        .filter_map(|entry| Some((entry.name, entry.value?)))
        .collect();
    for (name, value) in wanted {
        assert_eq!(configs.get(name).map(String::as_str), Some(value), "{name}");
    }

    let metadata = admin.inner().fetch_metadata(Some(&topic), TIMEOUT).unwrap();
    assert_eq!(metadata.topics()[0].partitions().len(), 3);
}

#[tokio::test]
async fn a_dynamodb_conditional_put_fails_the_second_time() {
    let client = harness::dynamodb().await;
    let table = harness::unique_name("smoke-table");
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let put = || {
        client
            .put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S("lease#1".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
    };
    put().await.unwrap();
    let second = put().await.unwrap_err().into_service_error();
    assert!(second.is_conditional_check_failed_exception(), "{second:?}");
    client
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}
