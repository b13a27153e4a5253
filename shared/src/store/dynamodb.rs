//! The DynamoDB store: the single table of `infra/template.yaml` (`pk`, `sk` strings),
//! each item holding its JSON body, a version for conditional writes and an optional TTL.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, KeySchemaElement,
    KeyType, Put, ScalarAttributeType, TransactWriteItem,
};

use super::backend::{Backend, BackendError, Condition, Item, Key, Order, Page, Write, now_secs};

#[derive(Clone)]
pub struct DynamoBackend {
    client: Client,
    table: String,
}

fn other(error: impl std::fmt::Display) -> BackendError {
    BackendError::Other(error.to_string())
}

/// Turns an SDK error into ours, keeping "a condition failed" distinct.
fn sdk_error<E, R>(error: SdkError<E, R>, is_condition: impl Fn(&E) -> bool) -> BackendError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match error.as_service_error() {
        Some(e) if is_condition(e) => BackendError::ConditionFailed,
        _ => BackendError::Other(aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string()),
    }
}

/// How often a write is tried while DynamoDB refuses it for a conflict with another
/// transaction, and the first wait between tries (doubled each time, about 0.3 s in all).
const CONFLICT_ATTEMPTS: u32 = 5;
const CONFLICT_FIRST_WAIT: Duration = Duration::from_millis(20);

/// Why DynamoDB refused a write.
enum WriteError {
    /// Another transaction was changing one of its items. DynamoDB cancels such a write
    /// rather than wait, so it did not happen, and trying it again checks its conditions
    /// anew: it is safe to retry as it is.
    Conflict,
    Backend(BackendError),
}

impl From<BackendError> for WriteError {
    fn from(e: BackendError) -> Self {
        Self::Backend(e)
    }
}

/// Turns a write's SDK error into ours; `refusal` picks out the refusals of the
/// operation (a condition that failed, a conflict).
fn write_error<E, R>(
    error: SdkError<E, R>,
    refusal: impl Fn(&E) -> Option<WriteError>,
) -> WriteError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match error.as_service_error().and_then(refusal) {
        Some(refused) => refused,
        None => WriteError::Backend(sdk_error(error, |_| false)),
    }
}

/// The refusal of a PutItem or DeleteItem, given its two tests.
fn item_refusal(condition_failed: bool, conflict: bool) -> Option<WriteError> {
    if condition_failed {
        Some(WriteError::Backend(BackendError::ConditionFailed))
    } else if conflict {
        Some(WriteError::Conflict)
    } else {
        None
    }
}

/// The refusal of a cancelled transaction: a failed condition decides, else a conflict.
fn transaction_refusal(error: &TransactWriteItemsError) -> Option<WriteError> {
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = error else {
        return None;
    };
    let reasons = cancelled.cancellation_reasons();
    let any = |code: &str| reasons.iter().any(|r| r.code() == Some(code));
    item_refusal(any("ConditionalCheckFailed"), any("TransactionConflict"))
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The condition expression and its values for a write, if it has one.
fn condition_expression(
    condition: Condition,
) -> Option<(&'static str, Option<HashMap<String, AttributeValue>>)> {
    match condition {
        Condition::Always => None,
        Condition::Absent => Some(("attribute_not_exists(pk)", None)),
        Condition::Version(v) => Some((
            "version = :expected",
            Some(HashMap::from([(":expected".to_owned(), n(v))])),
        )),
    }
}

fn key_attributes(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(&key.pk)), ("sk".to_owned(), s(&key.sk))])
}

fn item_attributes(
    key: &Key,
    body: &serde_json::Value,
    version: u64,
    expires_at: Option<i64>,
) -> HashMap<String, AttributeValue> {
    let mut attributes = key_attributes(key);
    attributes.insert("body".to_owned(), s(&body.to_string()));
    attributes.insert("version".to_owned(), n(version));
    if let Some(at) = expires_at {
        attributes.insert("expires_at".to_owned(), n(at));
    }
    attributes
}

fn decode(attributes: &HashMap<String, AttributeValue>) -> Result<Item, BackendError> {
    let string = |name: &str| {
        attributes
            .get(name)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| other(format!("item without string attribute {name}")))
    };
    let number = |name: &str| -> Result<Option<i64>, BackendError> {
        attributes
            .get(name)
            .map(|v| {
                v.as_n()
                    .map_err(|_| other(format!("attribute {name} is not a number")))?
                    .parse::<i64>()
                    .map_err(other)
            })
            .transpose()
    };
    Ok(Item {
        key: Key::new(string("pk")?, string("sk")?),
        body: serde_json::from_str(string("body")?).map_err(other)?,
        version: number("version")?.unwrap_or(0) as u64,
        expires_at: number("expires_at")?,
    })
}

impl DynamoBackend {
    /// Uses `table`, creating it (on-demand billing, `pk`/`sk`) when it does not exist —
    /// which happens against DynamoDB Local; in AWS the SAM template creates it.
    pub async fn connect(client: Client, table: impl Into<String>) -> Result<Self, BackendError> {
        let backend = Self {
            client,
            table: table.into(),
        };
        backend.ensure_table().await?;
        Ok(backend)
    }

    /// A client from the environment; `DYNAMODB_ENDPOINT` points it at DynamoDB Local.
    pub async fn client_from_env() -> Client {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Ok(endpoint) = std::env::var("DYNAMODB_ENDPOINT") {
            loader = loader.endpoint_url(endpoint);
        }
        Client::new(&loader.load().await)
    }

    async fn ensure_table(&self) -> Result<(), BackendError> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
        match described {
            Ok(_) => return Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(e) => return Err(sdk_error(e, |_| false)),
        }
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(other)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(other)
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await;
        match created {
            // Another process created it first.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            other_result => other_result
                .map(|_| ())
                .map_err(|e| sdk_error(e, |_| false)),
        }
    }

    async fn write_one(&self, write: Write) -> Result<(), WriteError> {
        let condition = condition_expression(write.condition());
        match write {
            Write::Put {
                key,
                body,
                expires_at,
                condition: c,
            } => {
                let mut request = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item_attributes(
                        &key,
                        &body,
                        c.next_version(),
                        expires_at,
                    )));
                if let Some((expression, values)) = condition {
                    request = request
                        .condition_expression(expression)
                        .set_expression_attribute_values(values);
                }
                request.send().await.map(|_| ()).map_err(|e| {
                    write_error(e, |e| {
                        item_refusal(
                            e.is_conditional_check_failed_exception(),
                            e.is_transaction_conflict_exception(),
                        )
                    })
                })
            }
            Write::Delete { key, .. } => {
                let mut request = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)));
                if let Some((expression, values)) = condition {
                    request = request
                        .condition_expression(expression)
                        .set_expression_attribute_values(values);
                }
                request.send().await.map(|_| ()).map_err(|e| {
                    write_error(e, |e| {
                        item_refusal(
                            e.is_conditional_check_failed_exception(),
                            e.is_transaction_conflict_exception(),
                        )
                    })
                })
            }
            Write::Check { .. } => self.write_many(vec![write]).await,
        }
    }

    async fn write_many(&self, writes: Vec<Write>) -> Result<(), WriteError> {
        let mut items = Vec::with_capacity(writes.len());
        for write in writes {
            let condition = condition_expression(write.condition());
            let (expression, values) = match condition {
                Some((e, v)) => (Some(e.to_owned()), v),
                None => (None, None),
            };
            let item = match write {
                Write::Put {
                    key,
                    body,
                    expires_at,
                    condition: c,
                } => TransactWriteItem::builder().put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item_attributes(
                            &key,
                            &body,
                            c.next_version(),
                            expires_at,
                        )))
                        .set_condition_expression(expression)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(other)?,
                ),
                Write::Delete { key, .. } => TransactWriteItem::builder().delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attributes(&key)))
                        .set_condition_expression(expression)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(other)?,
                ),
                Write::Check { key, .. } => TransactWriteItem::builder().condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attributes(&key)))
                        // A check with no condition is meaningless; `Always` checks existence-agnostic.
                        .condition_expression(expression.unwrap_or_else(|| {
                            "attribute_exists(pk) OR attribute_not_exists(pk)".to_owned()
                        }))
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(other)?,
                ),
            };
            items.push(item.build());
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| write_error(e, transaction_refusal))
    }

    async fn write_once(&self, mut writes: Vec<Write>) -> Result<(), WriteError> {
        match writes.len() {
            0 => Ok(()),
            1 => self.write_one(writes.remove(0)).await,
            _ => self.write_many(writes).await,
        }
    }
}

#[async_trait]
impl Backend for DynamoBackend {
    async fn get(&self, key: &Key) -> Result<Option<Item>, BackendError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(e, |_| false))?;
        let item = found.item().map(decode).transpose()?;
        Ok(item.filter(|item| !item.expired(now_secs())))
    }

    /// Retries a write DynamoDB refused for a conflict with another transaction; one
    /// still refused after [`CONFLICT_ATTEMPTS`] is a backend error, never a failed
    /// condition, which callers read as "someone else holds it".
    async fn write(&self, writes: Vec<Write>) -> Result<(), BackendError> {
        let mut wait = CONFLICT_FIRST_WAIT;
        for attempt in 1..=CONFLICT_ATTEMPTS {
            match self.write_once(writes.clone()).await {
                Ok(()) => return Ok(()),
                Err(WriteError::Backend(e)) => return Err(e),
                Err(WriteError::Conflict) if attempt < CONFLICT_ATTEMPTS => {
                    // Jitter, so writers that collided do not collide again in step.
                    tokio::time::sleep(wait.mul_f64(rand::random_range(0.5..1.5))).await;
                    wait *= 2;
                }
                Err(WriteError::Conflict) => break,
            }
        }
        Err(BackendError::Other(format!(
            "DynamoDB refused the write {CONFLICT_ATTEMPTS} times for conflicts with other transactions"
        )))
    }

    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        order: Order,
        limit: usize,
    ) -> Result<Page, BackendError> {
        let start = after.map(|sk| key_attributes(&Key::new(pk, sk)));
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", s(pk));
        // DynamoDB refuses an empty string in begins_with: no prefix means the whole pk.
        request = if prefix.is_empty() {
            request.key_condition_expression("pk = :pk")
        } else {
            request
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix))
        };
        let found = request
            .scan_index_forward(order == Order::Ascending)
            .consistent_read(true)
            .limit(limit.min(i32::MAX as usize) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error(e, |_| false))?;
        let now = now_secs();
        let mut items = found
            .items()
            .iter()
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        // TTL deletes late; `next` still resumes after the last item read, kept or not.
        items.retain(|item| !item.expired(now));
        let next = found
            .last_evaluated_key()
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok(Page { items, next })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;

    use super::*;

    fn cancelled(codes: &[&str]) -> TransactWriteItemsError {
        let mut exception = TransactionCanceledException::builder();
        for code in codes {
            exception =
                exception.cancellation_reasons(CancellationReason::builder().code(*code).build());
        }
        TransactWriteItemsError::TransactionCanceledException(exception.build())
    }

    #[test]
    fn a_conflict_is_retried_and_a_failed_condition_decides() {
        assert!(matches!(
            transaction_refusal(&cancelled(&["None", "TransactionConflict"])),
            Some(WriteError::Conflict)
        ));
        assert!(matches!(
            transaction_refusal(&cancelled(&[
                "TransactionConflict",
                "ConditionalCheckFailed"
            ])),
            Some(WriteError::Backend(BackendError::ConditionFailed))
        ));
        assert!(transaction_refusal(&cancelled(&["ValidationError"])).is_none());
    }
}
