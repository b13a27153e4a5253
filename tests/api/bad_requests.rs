//! Bad input of every kind is a named 4xx, never a 5xx or a backend's own message.

use super::*;

/// At least 30 bad requests: each a 4xx whose message names the problem, never a 5xx.
pub(crate) async fn bad_requests_are_named_4xx(api: Api) {
    let source = api.connection(&harness::source().bootstrap).await;
    let target = api.connection(&harness::target().bootstrap).await;
    let instance = |extra: Value| {
        let mut body = json!({"name": "ok", "kind": "instance", "source": source,
            "target": target, "sync": "metadata+messages"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let topic = |processing: Value| {
        json!({"name": "ok", "kind": "topic", "source": source, "source_topic": "in",
            "target": target, "target_topic": "out", "processing": processing})
    };
    let long_name = "n".repeat(129);
    let json_body = |v: Value| Some(serde_json::to_vec(&v).unwrap());
    // (method, path, content type, body, expected status, text the message must hold)
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<Vec<u8>>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            Some(b"{not json".to_vec()),
            400,
            "not valid JSON",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            Some(b"[1,2]".to_vec()),
            400,
            "JSON object",
        ),
        (
            "POST",
            "/v1/connections",
            Some("text/plain"),
            json_body(json!({"name": "a", "bootstrap": "h:1"})),
            415,
            "Content-Type",
        ),
        (
            "POST",
            "/v1/connections",
            None,
            json_body(json!({"name": "a", "bootstrap": "h:1"})),
            415,
            "Content-Type",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            Some(vec![b' '; 5 * 1024 * 1024]),
            413,
            "exceeds",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"bootstrap": "h:1"})),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": "a"})),
            400,
            "bootstrap",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": 7, "bootstrap": "h:1"})),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": "a", "bootstrap": "h:1", "colour": 1})),
            400,
            "colour",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": "a b", "bootstrap": "h:1"})),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": "a", "bootstrap": "nohost"})),
            400,
            "bootstrap",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": "a", "bootstrap": "h:1", "security": {"protocol": "TLS"}})),
            400,
            "protocol",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(
                json!({"name": "a", "bootstrap": "h:1", "security": {"protocol": "SASL_SSL"}}),
            ),
            400,
            "security.sasl",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(
                json!({"name": "a", "bootstrap": "h:1", "security": {"protocol": "SASL_SSL", "sasl": {"mechanism": "MD5", "username": "u", "password": "p"}}}),
            ),
            400,
            "mechanism",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(
                json!({"name": "a", "bootstrap": "h:1", "security": {"protocol": "PLAINTEXT", "ca_pem": "x"}}),
            ),
            400,
            "ca_pem",
        ),
        ("GET", "/v1/connections/not-an-id", None, None, 400, "id"),
        ("DELETE", "/v1/connections/ZZZ", None, None, 400, "id"),
        (
            "GET",
            "/v1/connections/0123456789abcdef0123456789abcdef",
            None,
            None,
            404,
            "not found",
        ),
        ("GET", "/v1/tasks/xyz", None, None, 400, "id"),
        ("POST", "/v1/tasks/xyz/pause", None, None, 400, "id"),
        (
            "GET",
            "/v1/tasks/0123456789abcdef0123456789abcdef/events?limit=0",
            None,
            None,
            400,
            "limit",
        ),
        (
            "GET",
            "/v1/tasks/0123456789abcdef0123456789abcdef/events?limit=abc",
            None,
            None,
            400,
            "limit",
        ),
        (
            "GET",
            "/v1/nothing-here",
            None,
            None,
            404,
            "no such endpoint",
        ),
        ("PUT", "/v1/connections", None, None, 405, "method"),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"kind": "cluster"}))),
            400,
            "kind",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"name": null}))),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"name": "has space"}))),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"name": long_name}))),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"sync": "everything"}))),
            400,
            "sync",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"same_partition": "yes"}))),
            400,
            "same_partition",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"start_offset": "middle"}))),
            400,
            "start_offset",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"topics": {"regex": "("}}))),
            400,
            "topics.regex",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(
                json!({"sync": "metadata+messages+offsets", "topics": {"regex": "^a"}}),
            )),
            400,
            "sync",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(
                json!({"sync": "metadata+messages+offsets", "same_partition": false}),
            )),
            400,
            "sync",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(
                json!({"source": "0123456789abcdef0123456789abcdef"}),
            )),
            400,
            "source",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"extra": true}))),
            400,
            "extra",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(topic(json!({"parse": {"mode": "xml"}}))),
            400,
            "processing.parse.mode",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(topic(
                json!({"parse": {"mode": "json"}, "fields": [{"name": "a", "op": "upper"}]}),
            )),
            400,
            "processing.fields[0].op",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(topic(
                json!({"parse": {"mode": "json"}, "output": {"format": "key_value", "kv_separator": "", "separator": "&"}}),
            )),
            400,
            "kv_separator",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(topic(
                json!({"parse": {"mode": "json"}, "fields": [{"name": "a", "op": "jsonpath", "path": "$[?("}]}),
            )),
            400,
            "processing.fields[0].path",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(topic(
                json!({"parse": {"mode": "regex", "pattern": "(unclosed"}}),
            )),
            400,
            "processing.parse.pattern",
        ),
        (
            "PATCH",
            "/v1/tasks/0123456789abcdef0123456789abcdef",
            Some("application/json"),
            Some(b"nope".to_vec()),
            400,
            "not valid JSON",
        ),
    ];
    assert!(cases.len() >= 30);
    for (method, path, content_type, body, want_status, want_text) in cases {
        let (status, reply) = api.raw(method, path, content_type, body).await;
        let message = error_message(&reply);
        assert!(status < 500, "{method} {path}: {status} {reply}");
        assert_eq!(status, want_status, "{method} {path}: {reply}");
        assert!(
            message.to_lowercase().contains(&want_text.to_lowercase()),
            "{method} {path}: {message:?} should mention {want_text:?}"
        );
    }
}

/// Input too big for a store item or key is refused before the store, as a 400 that
/// names the field, and never as the backend's own error.
pub(crate) async fn oversized_input_is_a_400_naming_the_field(api: Api) {
    let source = api.connection(&harness::source().bootstrap).await;
    let target = api.connection(&harness::target().bootstrap).await;
    let topic_task = json!({"name": unique_name("big"), "kind": "topic", "source": source,
        "source_topic": "in", "target": target, "target_topic": "out"});
    let mut long_source = topic_task.clone();
    long_source["source"] = json!("s".repeat(1100));
    let mut big_processing = topic_task;
    big_processing["processing"] = json!({"parse": {"mode": "json"},
        "fields": [{"name": "big", "op": "custom", "value": "v".repeat(300 * 1024)}]});
    let long_bootstrap =
        json!({"name": unique_name("c"), "bootstrap": format!("{}:9092", "h".repeat(5000))});
    for (path, body, field) in [
        ("/v1/tasks", long_source, "source"),
        ("/v1/tasks", big_processing, "processing"),
        ("/v1/connections", long_bootstrap, "bootstrap"),
    ] {
        let (status, reply) = api.call("POST", path, Some(body)).await;
        assert_eq!(status, 400, "{field}: {reply}");
        let message = error_message(&reply);
        assert!(message.starts_with(&format!("{field}: ")), "{message}");
        assert!(!message.contains("ValidationException"), "{message}");
    }
}
