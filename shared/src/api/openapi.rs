//! `GET /v1/openapi.json`: the OpenAPI document of the route table ([`super::routes`]),
//! every schema in it derived from the types the handlers read and write.
//!
//! Each create (a 201) links to the operations on the record it made (`{path}/{id}…`),
//! with the new `id`, so a client generator or a stateful fuzzer can chain the calls.

use axum::Json;
use schemars::{SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use super::error::ErrorBody;
use super::routes::{Route, routes};

/// `GET /v1/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(build())
}

/// The statuses every authenticated operation may answer with the error body.
const ERRORS: [u16; 6] = [400, 401, 404, 409, 422, 429];
/// And those of an operation that takes a body: too large, not JSON.
const BODY_ERRORS: [u16; 2] = [413, 415];

fn build() -> Value {
    let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
    let error = json!({
        "description": "an error",
        "content": {"application/json": {"schema": generator.subschema_for::<ErrorBody>()}}
    });
    let routes = routes();
    let mut paths = Map::new();
    for route in &routes {
        let entry = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        entry[route.method] = operation(route, &routes, &mut generator, &error);
    }
    paths.insert(
        "/healthz".into(),
        json!({"get": {"operationId": "healthz", "summary": "Liveness; needs no auth",
                       "security": [], "responses": {"200": {"description": "ok"}}}}),
    );
    let schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
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

fn operation(
    route: &Route,
    routes: &[Route],
    generator: &mut SchemaGenerator,
    error: &Value,
) -> Value {
    let mut responses = Map::new();
    let body_errors = route.request.map_or(&[][..], |_| &BODY_ERRORS[..]);
    for status in ERRORS.iter().chain(body_errors) {
        responses.insert(status.to_string(), error.clone());
    }
    let mut success = json!({"description": "success"});
    if let Some(response) = route.response {
        success["content"] = json!({"application/json": {"schema": response(generator)}});
    }
    if let Some(links) = links(route, routes) {
        success["links"] = links;
    }
    responses.insert(route.success.to_string(), success);
    let mut operation = json!({
        "operationId": operation_id(route),
        "summary": route.summary,
        "security": [{"bearer": []}, {"iam": []}],
        "responses": responses,
    });
    let parameters = parameters(route, generator);
    if !parameters.is_empty() {
        operation["parameters"] = Value::Array(parameters);
    }
    if let Some(request) = route.request {
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": request(generator)}}
        });
    }
    operation
}

/// `post /v1/tasks/{id}/pause` → `post_tasks_id_pause`.
fn operation_id(route: &Route) -> String {
    let segments = route
        .path
        .split('/')
        .filter(|segment| !segment.is_empty() && *segment != "v1")
        .map(|segment| segment.trim_matches(['{', '}']));
    std::iter::once(route.method)
        .chain(segments)
        .collect::<Vec<_>>()
        .join("_")
}

/// The path's `{id}`, and each property of the route's query schema, as parameters.
fn parameters(route: &Route, generator: &mut SchemaGenerator) -> Vec<Value> {
    let mut parameters = Vec::new();
    if route.path.contains("{id}") {
        parameters.push(json!({
            "name": "id", "in": "path", "required": true,
            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}
        }));
    }
    let Some(query) = route.query else {
        return parameters;
    };
    let query = query(generator).to_value();
    let required = query.get("required").cloned().unwrap_or(json!([]));
    let properties = query.get("properties").and_then(Value::as_object);
    for (name, schema) in properties.into_iter().flatten() {
        parameters.push(json!({
            "name": name, "in": "query",
            "required": required.as_array().is_some_and(|r| r.contains(&json!(name))),
            "schema": schema
        }));
    }
    parameters
}

/// A create's links: every operation on what it made, `{path}/{id}` and below it, given
/// the new record's `id`.
fn links(route: &Route, routes: &[Route]) -> Option<Value> {
    if route.success != 201 {
        return None;
    }
    let record = format!("{}/{{id}}", route.path);
    let links: Map<String, Value> = routes
        .iter()
        .filter(|target| target.path == record || target.path.starts_with(&format!("{record}/")))
        .map(|target| {
            let id = operation_id(target);
            let link = json!({"operationId": id, "parameters": {"path.id": "$response.body#/id"}});
            (id, link)
        })
        .collect();
    Some(Value::Object(links))
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

    #[test]
    fn bodies_have_schemas_of_their_types() {
        let document = build();
        let schemas = &document["components"]["schemas"];
        for name in [
            "TaskSpec",
            "TaskPatch",
            "TaskView",
            "ProcessingConfig",
            "ErrorBody",
        ] {
            assert!(schemas[name].is_object(), "{name}");
        }
        let create = &document["paths"]["/v1/tasks"]["post"];
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/TaskSpec"
        );
        // Both kinds of task, each with its own fields.
        let kinds = schemas["TaskSpec"]["oneOf"].as_array().expect("oneOf");
        assert_eq!(kinds.len(), 2);
    }

    #[test]
    fn creates_link_to_the_operations_on_what_they_made() {
        let document = build();
        let links = &document["paths"]["/v1/tasks"]["post"]["responses"]["201"]["links"];
        for id in [
            "get_tasks_id",
            "patch_tasks_id",
            "delete_tasks_id",
            "post_tasks_id_pause",
            "get_tasks_id_events",
        ] {
            assert_eq!(links[id]["operationId"], id);
            assert_eq!(links[id]["parameters"]["path.id"], "$response.body#/id");
        }
        let links = &document["paths"]["/v1/connections"]["post"]["responses"]["201"]["links"];
        assert!(links["delete_connections_id"].is_object());
        assert!(links.get("get_tasks_id").is_none());
    }
}
