//! `POST /v1/processing/test`: a processing config tried on sample messages.

use super::*;

#[tokio::test]
async fn the_processing_test_endpoint_runs_a_config_on_samples() {
    let api = start(StoreKind::Embedded).await;
    let (status, reply) = api
        .call(
            "POST",
            "/v1/processing/test",
            Some(json!({
                "processing": {"parse": {"mode": "json"},
                    "fields": [{"name": "id", "op": "jsonpath", "path": "$.order.id"},
                               {"name": "who", "op": "mapping", "from": "user"},
                               {"name": "region", "op": "custom", "value": "eu"}],
                    "output": {"format": "key_value", "kv_separator": "=", "separator": "&"}},
                "messages": [
                    {"key": "k1", "value": "{\"order\": {\"id\": 7}, \"user\": \"ann\"}"},
                    {"value": "not json"},
                    {"key": "k3", "value": "{\"order\": {\"id\": 9}}"}
                ]
            })),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let results = reply["results"].as_array().unwrap();
    assert_eq!(
        results[0],
        json!({"ok": true, "outputs": [{"key": "k1", "value": "id=7&who=ann&region=eu"}]})
    );
    assert_eq!(results[1]["ok"], false);
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid_json")
    );
    assert_eq!(results[2]["ok"], false);
    assert!(results[2]["error"].as_str().unwrap().contains("user"));

    let (status, bad) = api
        .call(
            "POST",
            "/v1/processing/test",
            Some(json!({"processing": {"parse": {"mode": "xml"}}, "messages": []})),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert!(error_message(&bad).contains("processing.parse.mode"));
}
