//! `kafka-sync local` as a real child process, for tests that need the whole service.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::free_port;
use crate::http::Client;

pub const TOKEN: &str = "local-process-token";

/// The `kafka-sync` binary, built on demand beside this test's own binary.
pub fn binary() -> PathBuf {
    crate::cargo_build(&["kafka-sync"]).join("kafka-sync")
}

pub struct Local {
    pub child: Child,
    pub base: String,
    /// The API, with [`TOKEN`].
    pub http: Client,
}

impl Local {
    /// Starts `kafka-sync local` with no store flag, its home in `home`, logging at debug
    /// level into `log`.
    pub async fn start(binary: &Path, home: &Path, log: &Path) -> Local {
        Self::start_with(binary, home, log, &[]).await
    }

    /// As [`Local::start`], with more command-line arguments.
    pub async fn start_with(binary: &Path, home: &Path, log: &Path, args: &[&str]) -> Local {
        Self::start_logging(binary, home, log, args, "debug").await
    }

    /// As [`Local::start_with`], logging at `level` (`RUST_LOG`).
    pub async fn start_logging(
        binary: &Path,
        home: &Path,
        log: &Path,
        args: &[&str],
        level: &str,
    ) -> Local {
        Self::spawn(binary, home, log, args, level, &[]).await
    }

    /// As [`Local::start_logging`], with `env` added to the child's environment; returns
    /// once it answers `/healthz`.
    pub async fn spawn(
        binary: &Path,
        home: &Path,
        log: &Path,
        args: &[&str],
        level: &str,
        env: &[(&str, String)],
    ) -> Local {
        let port = free_port();
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(binary)
            .args(["local", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("KAFKA_SYNC_HOME", home)
            .env("KAFKA_SYNC_TOKEN", TOKEN)
            .env("RUST_LOG", level)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(format!("{base}/healthz")).await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "kafka-sync local did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let http = Client::new(&base, Some(TOKEN));
        Local { child, base, http }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        self.http.call_text(method, path, body).await
    }

    /// Connections to the source and the target cluster, named `names`; their ids.
    pub async fn connect_both(&self, names: [&str; 2]) -> [String; 2] {
        let mut ids = Vec::new();
        for (name, access) in names.into_iter().zip([crate::source(), crate::target()]) {
            let body = serde_json::json!({"name": name, "bootstrap": access.bootstrap});
            let reply = self
                .expect(201, "POST", "/v1/connections", Some(body))
                .await;
            ids.push(reply["id"].as_str().unwrap().to_owned());
        }
        <[String; 2]>::try_from(ids).unwrap()
    }

    /// A JSON call that must answer `status`; returns the reply.
    pub async fn expect(
        &self,
        status: u16,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let (got, text) = self.call(method, path, body).await;
        assert_eq!(got, status, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// Polls the task's progress until `done` holds, or fails after `limit`.
    pub async fn wait_progress(
        &self,
        task_id: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let (status, text) = self
                .call("GET", &format!("/v1/tasks/{task_id}/progress"), None)
                .await;
            let progress: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status == 200 && done(&progress) {
                return progress;
            }
            assert!(
                Instant::now() < deadline,
                "progress never got there: {text}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// SIGKILL: no chance to flush or shut down cleanly.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A test that fails midway still stops its `kafka-sync local`.
impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
