//! One HTTP client for the API under test, whether the router runs in the test process
//! (`tests/api`) or in a `kafka-sync local` child ([`crate::local::Local`]).

use serde_json::Value;

#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client of `base` (e.g. `http://127.0.0.1:8080`) sending `token` as a bearer token.
    pub fn new(base: impl Into<String>, token: Option<&str>) -> Client {
        Client {
            base: base.into(),
            token: token.map(str::to_owned),
            http: reqwest::Client::new(),
        }
    }

    /// The same server with another token, or none.
    pub fn with_token(&self, token: Option<&str>) -> Client {
        Client {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }

    /// Any request; the reply's status and text.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Any request; the reply as JSON, or as a JSON string when it is not JSON.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let (status, text) = self.send(method, path, content_type, body).await;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// A request with an optional JSON body; the reply's status and text.
    pub async fn call_text(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        let content_type = bytes.as_ref().map(|_| "application/json");
        self.send(method, path, content_type, bytes).await
    }

    /// A request with an optional JSON body; the reply as [`Client::raw`] gives it.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        let content_type = bytes.as_ref().map(|_| "application/json");
        self.raw(method, path, content_type, bytes).await
    }
}
