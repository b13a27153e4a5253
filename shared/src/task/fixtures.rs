//! The request bodies the task tests start from, and the edits they make to them.

use serde_json::{Value, json};

use super::{TaskSpec, parse_task_spec};

/// The instance-level example of DESIGN §5.
pub fn instance_body() -> Value {
    json!({"name": "dr-east", "kind": "instance", "source": "conn-a", "target": "conn-b",
           "sync": "metadata+messages+offsets", "start_offset": "earliest",
           "topics": {"all": true}, "same_partition": true})
}

/// The topic-level example of DESIGN §5.
pub fn topic_body() -> Value {
    json!({"name": "orders-flat", "kind": "topic",
           "source": "conn-a", "source_topic": "orders", "target": "conn-b", "target_topic": "orders-flat",
           "start_offset": {"timestamp_ms": 1767225600000_i64},
           "processing": {
             "parse": {"mode": "json"},
             "fields": [{"name": "id", "op": "jsonpath", "path": "$.order.id"},
                        {"name": "who", "op": "mapping", "from": "user"},
                        {"name": "at", "op": "system_time"},
                        {"name": "region", "op": "custom", "value": "eu"}],
             "output": {"format": "key_value", "kv_separator": "=", "separator": "&"}},
           "on_error": {"dead_letter_topic": "orders-dlq"}})
}

/// `body` with `key` set to `value` (`key` may be `a.b` for a nested object).
pub fn with(mut body: Value, key: &str, value: Value) -> Value {
    let mut target = &mut body;
    let mut keys: Vec<&str> = key.split('.').collect();
    let last = keys.pop().unwrap();
    for key in keys {
        target = &mut target[key];
    }
    target[last] = value;
    body
}

pub fn without(mut body: Value, key: &str) -> Value {
    body.as_object_mut().unwrap().remove(key);
    body
}

pub fn instance() -> TaskSpec {
    parse_task_spec(&instance_body()).unwrap()
}

pub fn topic() -> TaskSpec {
    parse_task_spec(&topic_body()).unwrap()
}

/// The field named by the error of a body that must be rejected.
pub fn field_of(body: Value) -> String {
    parse_task_spec(&body)
        .expect_err("body must be rejected")
        .field
}
