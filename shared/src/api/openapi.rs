//! The route table: every authenticated endpoint once, with what it takes and returns.
//! The router is built from it and `/v1/openapi.json` is generated from it, so the
//! document cannot drift from what is served.

use axum::Json;
use axum::routing::{MethodRouter, delete, get, patch, post};
use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use super::{Services, connections, failover, tasks};
use crate::connection::ConnectionRequest;

type SchemaFn = fn(&mut SchemaGenerator) -> schemars::Schema;

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub request: Option<SchemaFn>,
    pub success: u16,
    pub handler: MethodRouter<Services>,
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}

pub fn routes() -> Vec<Route> {
    let route = |method, path, summary, request: Option<SchemaFn>, success, handler| Route {
        method,
        path,
        summary,
        request,
        success,
        handler,
    };
    vec![
        route(
            "post",
            "/v1/connections",
            "Register a cluster: discovers its brokers and cluster id",
            Some(schema::<ConnectionRequest>),
            201,
            post(connections::create),
        ),
        route(
            "get",
            "/v1/connections",
            "List the tenant's connections",
            None,
            200,
            get(connections::list),
        ),
        route(
            "get",
            "/v1/connections/{id}",
            "Read a connection (never its password)",
            None,
            200,
            get(connections::get),
        ),
        route(
            "delete",
            "/v1/connections/{id}",
            "Delete a connection no task uses",
            None,
            204,
            delete(connections::delete),
        ),
        route(
            "post",
            "/v1/tasks",
            "Create an instance-level or topic-level task",
            Some(schema::<Map<String, Value>>),
            201,
            post(tasks::create),
        ),
        route(
            "get",
            "/v1/tasks",
            "List the tenant's tasks",
            None,
            200,
            get(tasks::list),
        ),
        route(
            "get",
            "/v1/tasks/{id}",
            "Read a task",
            None,
            200,
            get(tasks::get),
        ),
        route(
            "patch",
            "/v1/tasks/{id}",
            "Change a task's name, processing or error policy",
            Some(schema::<Map<String, Value>>),
            200,
            patch(tasks::update),
        ),
        route(
            "delete",
            "/v1/tasks/{id}",
            "Delete a task and everything kept for it",
            None,
            204,
            delete(tasks::delete),
        ),
        route(
            "post",
            "/v1/tasks/{id}/pause",
            "Pause a task",
            None,
            200,
            post(tasks::pause),
        ),
        route(
            "post",
            "/v1/tasks/{id}/resume",
            "Resume a paused or failed task from its checkpoints",
            None,
            200,
            post(tasks::resume),
        ),
        route(
            "get",
            "/v1/tasks/{id}/progress",
            "Per-partition progress of a task",
            None,
            200,
            get(tasks::progress),
        ),
        route(
            "get",
            "/v1/tasks/{id}/events",
            "The task's events, newest first",
            None,
            200,
            get(tasks::events),
        ),
        route(
            "post",
            "/v1/processing/test",
            "Run a processing config on sample messages",
            Some(schema::<Map<String, Value>>),
            200,
            post(tasks::processing_test),
        ),
        route(
            "post",
            "/v1/tasks/{id}/failover",
            "What each consumer group gets on the target now; synced at once unless dry_run",
            Some(schema::<failover::FailoverRequest>),
            200,
            post(failover::failover),
        ),
        route(
            "get",
            "/v1/tasks/{id}/groups",
            "Each consumer group offset sync handles, and what it did last",
            None,
            200,
            get(failover::groups),
        ),
    ]
}

/// `GET /v1/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(build())
}

fn build() -> Value {
    let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
    let error = json!({
        "description": "an error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    });
    let mut paths = Map::new();
    for route in routes() {
        let mut operation = json!({
            "summary": route.summary,
            "security": [{"bearer": []}, {"iam": []}],
            "responses": {
                route.success.to_string(): {"description": "success"},
                "400": error.clone(), "401": error.clone(), "404": error.clone(),
                "409": error.clone(), "422": error.clone(), "429": error.clone()
            }
        });
        if route.path.contains("{id}") {
            operation["parameters"] = json!([{
                "name": "id", "in": "path", "required": true,
                "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}
            }]);
        }
        if let Some(request) = route.request {
            let schema = request(&mut generator);
            operation["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": schema}}
            });
        }
        let entry = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        entry[route.method] = operation;
    }
    paths.insert(
        "/healthz".into(),
        json!({"get": {"summary": "Liveness; needs no auth", "security": [], "responses": {"200": {"description": "ok"}}}}),
    );
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object", "required": ["error"],
            "properties": {"error": {"type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}
        }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {"title": "kafka-sync", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "iam": {"type": "apiKey", "in": "header", "name": "Authorization",
                        "description": "AWS SigV4 (API Gateway IAM authorization)"}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_its_method() {
        let document = build();
        for route in routes() {
            assert!(
                document["paths"][route.path][route.method].is_object(),
                "{} {}",
                route.method,
                route.path
            );
        }
        assert!(document["components"]["schemas"]["ConnectionRequest"].is_object());
    }
}
