//! The route table: every authenticated endpoint once, with what it takes and returns.
//! The router ([`super::router`]) and `/v1/openapi.json` ([`super::openapi`]) are both
//! built from it, so the document cannot drift from what is served: a new endpoint is one
//! entry here, its schemas derived from the types its handler reads and writes.

use axum::routing::{MethodRouter, delete, get, patch, post};
use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::{Services, connections, failover, processing, tasks};
use crate::connection::{ConnectionRequest, ConnectionView};
use crate::lifecycle::TaskView;
use crate::task::{TaskPatch, TaskSpec};

pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub handler: MethodRouter<Services>,
    /// The JSON body it takes, if it takes one.
    pub request: Option<SchemaFn>,
    /// Its query parameters, as the properties of an object.
    pub query: Option<SchemaFn>,
    /// The status it answers on success.
    pub success: u16,
    /// The body it answers on success; `None`: no body, or one not described yet.
    pub response: Option<SchemaFn>,
}

/// A route that answers 200, without a described body until told otherwise.
fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    handler: MethodRouter<Services>,
) -> Route {
    Route {
        method,
        path,
        summary,
        handler,
        request: None,
        query: None,
        success: 200,
        response: None,
    }
}

impl Route {
    fn takes(self, request: SchemaFn) -> Self {
        Self {
            request: Some(request),
            ..self
        }
    }

    fn query(self, query: SchemaFn) -> Self {
        Self {
            query: Some(query),
            ..self
        }
    }

    fn returns(self, success: u16, response: SchemaFn) -> Self {
        Self {
            success,
            response: Some(response),
            ..self
        }
    }

    fn no_content(self) -> Self {
        Self {
            success: 204,
            ..self
        }
    }
}

/// The schema of `T`, a reference into the document's components when `T` is named.
fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The schema of `T` itself, never a reference: for query parameters, which the
/// document lists one by one.
fn inline<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    T::json_schema(generator)
}

/// Every route, by resource.
pub fn routes() -> Vec<Route> {
    [
        connection_routes(),
        task_routes(),
        task_action_routes(),
        processing_routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn connection_routes() -> Vec<Route> {
    vec![
        route(
            "post",
            "/v1/connections",
            "Register a cluster: discovers its brokers and cluster id",
            post(connections::create),
        )
        .takes(schema::<ConnectionRequest>)
        .returns(201, schema::<ConnectionView>),
        route(
            "get",
            "/v1/connections",
            "List the tenant's connections",
            get(connections::list),
        )
        .returns(200, schema::<connections::ConnectionList>),
        route(
            "get",
            "/v1/connections/{id}",
            "Read a connection (never its password)",
            get(connections::get),
        )
        .returns(200, schema::<ConnectionView>),
        route(
            "delete",
            "/v1/connections/{id}",
            "Delete a connection no task uses",
            delete(connections::delete),
        )
        .no_content(),
    ]
}

fn task_routes() -> Vec<Route> {
    vec![
        route(
            "post",
            "/v1/tasks",
            "Create an instance-level or topic-level task",
            post(tasks::create),
        )
        .takes(schema::<TaskSpec>)
        .returns(201, schema::<TaskView>),
        route(
            "get",
            "/v1/tasks",
            "List the tenant's tasks",
            get(tasks::list),
        )
        .returns(200, schema::<tasks::TaskList>),
        route("get", "/v1/tasks/{id}", "Read a task", get(tasks::get))
            .returns(200, schema::<TaskView>),
        route(
            "patch",
            "/v1/tasks/{id}",
            "Change a task's name, processing or error policy",
            patch(tasks::update),
        )
        .takes(schema::<TaskPatch>)
        .returns(200, schema::<TaskView>),
        route(
            "delete",
            "/v1/tasks/{id}",
            "Delete a task and everything kept for it",
            delete(tasks::delete),
        )
        .no_content(),
    ]
}

/// What can be done with, or learnt about, one task.
fn task_action_routes() -> Vec<Route> {
    vec![
        route(
            "post",
            "/v1/tasks/{id}/pause",
            "Pause a task",
            post(tasks::pause),
        )
        .returns(200, schema::<TaskView>),
        route(
            "post",
            "/v1/tasks/{id}/resume",
            "Resume a paused or failed task from its checkpoints",
            post(tasks::resume),
        )
        .returns(200, schema::<TaskView>),
        route(
            "get",
            "/v1/tasks/{id}/progress",
            "Per-partition progress of a task",
            get(tasks::progress),
        ),
        route(
            "get",
            "/v1/tasks/{id}/events",
            "The task's events, newest first",
            get(tasks::events),
        )
        .query(inline::<tasks::EventsQuery>)
        .returns(200, schema::<tasks::EventList>),
        route(
            "post",
            "/v1/tasks/{id}/failover",
            "What each consumer group gets on the target now; synced at once unless dry_run",
            post(failover::failover),
        )
        .takes(schema::<failover::FailoverRequest>),
        route(
            "get",
            "/v1/tasks/{id}/groups",
            "Each consumer group offset sync handles, and what it did last",
            get(failover::groups),
        ),
    ]
}

fn processing_routes() -> Vec<Route> {
    vec![
        route(
            "post",
            "/v1/processing/test",
            "Run a processing config on sample messages",
            post(processing::test),
        )
        .takes(schema::<processing::ProcessingTest>)
        .returns(200, schema::<processing::TestResults>),
        route(
            "post",
            "/v1/processing/regex",
            "Propose a regex with named groups that extracts the marked parts of a sample",
            post(processing::regex),
        )
        .takes(schema::<processing::RegexRequest>)
        .returns(200, schema::<processing::RegexSuggestion>),
    ]
}
