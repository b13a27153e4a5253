//! `/v1/tasks`: the lifecycle of both kinds of task.

use super::*;

pub(crate) async fn tasks_lifecycle(api: Api) {
    let source = api.connection(&harness::source().bootstrap).await;
    let target = api.connection(&harness::target().bootstrap).await;
    let name = unique_name("dr");
    let spec = json!({"name": name, "kind": "instance", "source": source, "target": target,
        "sync": "metadata+messages+offsets", "start_offset": "earliest",
        "topics": {"all": true}, "same_partition": true});
    let (status, created) = api.call("POST", "/v1/tasks", Some(spec.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["state"], "running");
    let id = created["id"].as_str().unwrap().to_owned();
    for (field, value) in spec.as_object().unwrap() {
        assert_eq!(&created[field], value, "{field}");
    }
    let task_path = format!("/v1/tasks/{id}");

    let (status, read) = api.call("GET", &task_path, None).await;
    assert_eq!((status, &read), (200, &created));
    let (status, listed) = api.call("GET", "/v1/tasks", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 1);

    let (status, duplicate) = api.call("POST", "/v1/tasks", Some(spec.clone())).await;
    assert_eq!(status, 409, "{duplicate}");

    let renamed = unique_name("dr-renamed");
    let (status, patched) = api
        .call("PATCH", &task_path, Some(json!({"name": renamed})))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], renamed.as_str());
    let (status, refused) = api
        .call("PATCH", &task_path, Some(json!({"sync": "metadata"})))
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(error_message(&refused).contains("sync"));

    let (status, paused) = api.call("POST", &format!("{task_path}/pause"), None).await;
    assert_eq!((status, paused["state"].as_str()), (200, Some("paused")));
    let (status, resumed) = api.call("POST", &format!("{task_path}/resume"), None).await;
    assert_eq!((status, resumed["state"].as_str()), (200, Some("running")));

    let (status, events) = api.call("GET", &format!("{task_path}/events"), None).await;
    assert_eq!(status, 200);
    let messages: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.first(), Some(&"state running"), "{messages:?}");
    assert!(messages.contains(&"state paused"));
    assert_eq!(messages.last(), Some(&"task created; state running"));
    let (status, limited) = api
        .call("GET", &format!("{task_path}/events?limit=1"), None)
        .await;
    assert_eq!(
        (status, limited["events"].as_array().unwrap().len()),
        (200, 1)
    );

    let (status, progress) = api
        .call("GET", &format!("{task_path}/progress"), None)
        .await;
    assert_eq!(status, 200, "{progress}");
    assert_eq!(progress["state"], "running");

    let (status, in_use) = api
        .call("DELETE", &format!("/v1/connections/{source}"), None)
        .await;
    assert_eq!(status, 409, "{in_use}");

    let (status, _) = api.call("DELETE", &task_path, None).await;
    assert_eq!(status, 204);
    let (status, _) = api.call("GET", &task_path, None).await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call("DELETE", &format!("/v1/connections/{source}"), None)
        .await;
    assert_eq!(status, 204);
}

pub(crate) async fn topic_task_needs_an_existing_source_topic(api: Api) {
    let source = api.connection(&harness::source().bootstrap).await;
    let target = api.connection(&harness::target().bootstrap).await;
    let missing = unique_name("missing");
    let body = |topic: &str| {
        json!({"name": unique_name("flat"), "kind": "topic", "source": source,
            "source_topic": topic, "target": target, "target_topic": "flat",
            "start_offset": {"timestamp_ms": 1767225600000u64},
            "processing": {"parse": {"mode": "json"},
                "fields": [{"name": "id", "op": "jsonpath", "path": "$.order.id"}],
                "output": {"format": "key_value", "kv_separator": "=", "separator": "&"}},
            "on_error": {"dead_letter_topic": "flat-dlq"}})
    };
    let (status, refused) = api.call("POST", "/v1/tasks", Some(body(&missing))).await;
    assert_eq!(status, 422, "{refused}");
    assert!(error_message(&refused).contains(&missing));

    let topic = create_source_topic(3).await;
    let (status, created) = api.call("POST", "/v1/tasks", Some(body(&topic))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["on_error"],
        json!({"dead_letter_topic": "flat-dlq"})
    );

    let (status, patched) = api
        .call(
            "PATCH",
            &format!("/v1/tasks/{}", created["id"].as_str().unwrap()),
            Some(json!({"on_error": "discard"})),
        )
        .await;
    assert_eq!((status, &patched["on_error"]), (200, &json!("discard")));
}
