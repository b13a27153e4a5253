//! How kafka-sync reaches a cluster: one broker address plus security settings become a
//! librdkafka client configuration, and the cluster describes itself from there.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::shared_clients::SharedClients;
use crate::store::PartitionRef;

/// The metadata, watermark and offsets-for-times reads of each cluster share one client.
static METADATA_CLIENTS: SharedClients<BaseConsumer> = SharedClients::new();

/// How long one metadata, watermark or offsets-for-times request may take: every caller
/// of [`ClusterAccess`]'s reads uses this one value. Well under the jobs' per-task
/// budget ([`crate::jobs::TASK_BUDGET`], 45 s), so a slow cluster fails a run with this
/// error rather than the budget's time-out.
pub const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SecurityProtocol {
    #[default]
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
    #[serde(rename = "SSL")]
    Ssl,
    #[serde(rename = "SASL_PLAINTEXT")]
    SaslPlaintext,
    #[serde(rename = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    fn librdkafka_name(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    fn librdkafka_name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// SASL credentials. The password is only ever held here in memory; it is never
/// serialized, so it cannot leak through a reply or a log line.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaslCredentials {
    pub mechanism: SaslMechanism,
    pub username: String,
    /// Absent from stored records and replies; the secret store holds it.
    #[serde(default, skip_serializing)]
    pub password: String,
}

impl std::fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Security {
    #[serde(default)]
    pub protocol: SecurityProtocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<SaslCredentials>,
}

/// Everything a client needs to reach one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterAccess {
    pub bootstrap: String,
    pub security: Security,
}

/// What a cluster says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: String,
    /// Every broker, as `host:port`, sorted.
    pub brokers: Vec<String>,
}

/// The topics of a cluster as one metadata request shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterTopics {
    /// Each topic not in error: its partition count and replication factor (that of
    /// its first partition).
    pub topics: BTreeMap<String, TopicShape>,
    /// How many brokers the cluster has.
    pub brokers: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicShape {
    pub partitions: usize,
    pub replication_factor: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// librdkafka could not make a client, or a request failed or timed out.
    #[error("cannot reach the cluster at {bootstrap}: {context}: {source}")]
    Kafka {
        bootstrap: String,
        /// What was asked (`metadata`, `watermarks of t/0`, ...).
        context: String,
        /// Boxed: a `KafkaError` is large, and this error travels in every `Result`
        /// of the workers and jobs.
        source: Box<KafkaError>,
    },
    /// The blocking thread that ran the request panicked or was cancelled.
    #[error("request to the cluster at {bootstrap} did not finish: {source}")]
    Join {
        bootstrap: String,
        source: tokio::task::JoinError,
    },
    #[error("the cluster at {0} did not report a cluster id")]
    NoClusterId(String),
}

impl ClusterAccess {
    pub fn plaintext(bootstrap: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            security: Security::default(),
        }
    }

    /// A librdkafka configuration with the address and security settings; callers add
    /// what their role (producer, consumer, admin) needs.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set(
                "security.protocol",
                self.security.protocol.librdkafka_name(),
            )
            // Never print the configuration (it holds the password) from librdkafka.
            .set("log_level", "3")
            // Brokers run with Kafka's default `auto.create.topics.enable=true`: a
            // metadata request for a missing topic must never create it with broker
            // defaults (DESIGN §3), from any kind of client.
            .set("allow.auto.create.topics", "false");
        if let Some(ca) = &self.security.ca_pem {
            config.set("ssl.ca.pem", ca);
        }
        if let Some(sasl) = &self.security.sasl {
            config
                .set("sasl.mechanism", sasl.mechanism.librdkafka_name())
                .set("sasl.username", &sasl.username)
                .set("sasl.password", &sasl.password);
        }
        config
    }

    /// Connects through the one bootstrap broker and asks the cluster for its id and
    /// every broker it has, giving up after `timeout`.
    pub async fn describe(&self, timeout: Duration) -> Result<ClusterDescription, AccessError> {
        self.request(move |access, consumer| access.describe_blocking(consumer, timeout))
            .await
    }

    /// The partition count of `topic`, or `None` when the cluster has no such topic.
    pub async fn topic_partition_count(
        &self,
        topic: &str,
        timeout: Duration,
    ) -> Result<Option<usize>, AccessError> {
        let topic = topic.to_owned();
        self.request(move |access, consumer| {
            let metadata = consumer
                .fetch_metadata(Some(&topic), timeout)
                .map_err(access.failed("metadata"))?;
            Ok(metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len()))
        })
        .await
    }

    /// The next offset a new record of the partition would get (its high watermark).
    pub async fn end_offset(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> Result<i64, AccessError> {
        let topic = topic.to_owned();
        self.request(move |access, consumer| {
            let (_, high) = consumer
                .fetch_watermarks(&topic, partition, timeout)
                .map_err(access.failed("watermarks"))?;
            Ok(high)
        })
        .await
    }

    /// Every topic of the cluster with its partition count (topics in error left out).
    pub async fn topic_partitions(
        &self,
        timeout: Duration,
    ) -> Result<BTreeMap<String, usize>, AccessError> {
        let topics = self.topics(timeout).await?.topics;
        Ok(topics
            .into_iter()
            .map(|(name, shape)| (name, shape.partitions))
            .collect())
    }

    /// Every topic with its partition count and replication factor, and the number of
    /// brokers, from one metadata request.
    pub async fn topics(&self, timeout: Duration) -> Result<ClusterTopics, AccessError> {
        self.request(move |access, consumer| {
            let metadata = consumer
                .fetch_metadata(None, timeout)
                .map_err(access.failed("metadata"))?;
            let topics = metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| {
                    let replication_factor =
                        t.partitions().first().map_or(1, |p| p.replicas().len());
                    let shape = TopicShape {
                        partitions: t.partitions().len(),
                        replication_factor,
                    };
                    (t.name().to_owned(), shape)
                })
                .collect();
            Ok(ClusterTopics {
                topics,
                brokers: metadata.brokers().len(),
            })
        })
        .await
    }

    /// The low and high watermarks of each partition, through one client.
    pub async fn watermarks(
        &self,
        partitions: Vec<PartitionRef>,
        timeout: Duration,
    ) -> Result<BTreeMap<PartitionRef, (i64, i64)>, AccessError> {
        self.request(move |access, consumer| {
            partitions
                .into_iter()
                .map(|p| {
                    let marks = consumer
                        .fetch_watermarks(&p.topic, p.partition, timeout)
                        .map_err(|source| AccessError::Kafka {
                            bootstrap: access.bootstrap.clone(),
                            context: format!("watermarks of {}/{}", p.topic, p.partition),
                            source: Box::new(source),
                        })?;
                    Ok((p, marks))
                })
                .collect()
        })
        .await
    }

    /// Per partition, the first offset whose record timestamp is at or after `ms`, or
    /// `None` when there is no such record.
    pub async fn offsets_for_time(
        &self,
        partitions: Vec<PartitionRef>,
        ms: i64,
        timeout: Duration,
    ) -> Result<BTreeMap<PartitionRef, Option<i64>>, AccessError> {
        self.request(move |access, consumer| {
            let mut query = TopicPartitionList::new();
            for p in &partitions {
                query
                    .add_partition_offset(&p.topic, p.partition, Offset::Offset(ms))
                    .map_err(access.failed("offsets-for-times query"))?;
            }
            let found = consumer
                .offsets_for_times(query, timeout)
                .map_err(access.failed("offsets for times"))?;
            Ok(found
                .elements()
                .iter()
                .map(|e| {
                    let offset = match e.offset() {
                        Offset::Offset(o) if o >= 0 => Some(o),
                        _ => None,
                    };
                    let p = PartitionRef {
                        topic: e.topic().to_owned(),
                        partition: e.partition(),
                    };
                    (p, offset)
                })
                .collect())
        })
        .await
    }

    /// Each partition's log start and end, by two batched ListOffsets requests (earliest,
    /// latest) where [`ClusterAccess::watermarks`] asks partition by partition: what a
    /// metrics scrape asks of every partition of a task. `None` where the cluster did not
    /// answer for a partition.
    pub async fn log_bounds(
        &self,
        partitions: Vec<PartitionRef>,
        timeout: Duration,
    ) -> Result<BTreeMap<PartitionRef, (Option<i64>, Option<i64>)>, AccessError> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        self.request(move |access, consumer| {
            let list = |at: Offset| -> Result<BTreeMap<PartitionRef, Option<i64>>, AccessError> {
                let mut query = TopicPartitionList::new();
                for p in &partitions {
                    query
                        .add_partition_offset(&p.topic, p.partition, at)
                        .map_err(access.failed("list-offsets query"))?;
                }
                let found = consumer
                    .offsets_for_times(query, timeout)
                    .map_err(access.failed("list offsets"))?;
                Ok(found
                    .elements()
                    .iter()
                    .map(|e| {
                        let p = PartitionRef {
                            topic: e.topic().to_owned(),
                            partition: e.partition(),
                        };
                        let offset = match e.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        };
                        (p, offset)
                    })
                    .collect())
            };
            let starts = list(Offset::Beginning)?;
            Ok(list(Offset::End)?
                .into_iter()
                .map(|(p, end)| {
                    let start = starts.get(&p).copied().flatten();
                    (p, (start, end))
                })
                .collect())
        })
        .await
    }

    /// The timestamp of the first record at or after each position, for the partitions
    /// that have one within `timeout`.
    pub async fn first_timestamps(
        &self,
        positions: Vec<(PartitionRef, i64)>,
        timeout: Duration,
    ) -> Result<BTreeMap<PartitionRef, i64>, AccessError> {
        if positions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let access = self.clone();
        self.blocking(move || {
            let mut config = access.client_config();
            config
                .set("group.id", "ksync-timestamps")
                .set("enable.auto.commit", "false")
                .set("enable.partition.eof", "false");
            let consumer: BaseConsumer = config.create().map_err(access.failed("client"))?;
            let mut assignment = TopicPartitionList::new();
            for (p, offset) in &positions {
                assignment
                    .add_partition_offset(&p.topic, p.partition, Offset::Offset(*offset))
                    .map_err(access.failed("positions"))?;
            }
            consumer
                .assign(&assignment)
                .map_err(access.failed("assign"))?;
            let mut found = BTreeMap::new();
            let deadline = std::time::Instant::now() + timeout;
            while found.len() < positions.len() && std::time::Instant::now() < deadline {
                let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
                    continue;
                };
                use rdkafka::message::Message;
                let p = PartitionRef {
                    topic: message.topic().to_owned(),
                    partition: message.partition(),
                };
                if let Some(ms) = message.timestamp().to_millis() {
                    found.entry(p).or_insert(ms);
                }
            }
            Ok(found)
        })
        .await
    }

    /// Runs `job` off the async runtime through the process's metadata client for this
    /// cluster ([`SharedClients`]): made on first use, let go when a request fails.
    async fn request<T: Send + 'static>(
        &self,
        job: impl FnOnce(&ClusterAccess, &BaseConsumer) -> Result<T, AccessError> + Send + 'static,
    ) -> Result<T, AccessError> {
        let access = self.clone();
        self.blocking(move || {
            let make = || {
                access
                    .client_config()
                    .create()
                    .map_err(access.failed("client"))
            };
            METADATA_CLIENTS.request(&access, make, |consumer| job(&access, consumer))
        })
        .await
    }

    /// Runs blocking librdkafka calls off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, AccessError> + Send + 'static,
    ) -> Result<T, AccessError> {
        tokio::task::spawn_blocking(job)
            .await
            .unwrap_or_else(|source| {
                Err(AccessError::Join {
                    bootstrap: self.bootstrap.clone(),
                    source,
                })
            })
    }

    /// Files a librdkafka error under this cluster and what was asked.
    fn failed(&self, context: &'static str) -> impl Fn(KafkaError) -> AccessError + '_ {
        move |source| AccessError::Kafka {
            bootstrap: self.bootstrap.clone(),
            context: context.to_owned(),
            source: Box::new(source),
        }
    }

    fn describe_blocking(
        &self,
        consumer: &BaseConsumer,
        timeout: Duration,
    ) -> Result<ClusterDescription, AccessError> {
        let metadata = consumer
            .fetch_metadata(None, timeout)
            .map_err(self.failed("metadata"))?;
        let mut brokers: Vec<String> = metadata
            .brokers()
            .iter()
            .map(|b| format!("{}:{}", b.host(), b.port()))
            .collect();
        brokers.sort();
        let cluster_id = consumer
            .client()
            .fetch_cluster_id(timeout)
            .ok_or_else(|| AccessError::NoClusterId(self.bootstrap.clone()))?;
        Ok(ClusterDescription {
            cluster_id,
            brokers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_settings_reach_the_client_config() {
        let access = ClusterAccess {
            bootstrap: "b:9092".into(),
            security: Security {
                protocol: SecurityProtocol::SaslSsl,
                ca_pem: Some("PEM".into()),
                sasl: Some(SaslCredentials {
                    mechanism: SaslMechanism::ScramSha512,
                    username: "u".into(),
                    password: "p".into(),
                }),
            },
        };
        let config = access.client_config();
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.password"), Some("p"));
        assert_eq!(config.get("ssl.ca.pem"), Some("PEM"));
    }

    #[test]
    fn password_is_neither_serialized_nor_debug_printed() {
        let creds = SaslCredentials {
            mechanism: SaslMechanism::Plain,
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!serde_json::to_string(&creds).unwrap().contains("hunter2"));
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
