//! The Lambda deployment on this machine: each function's real binary under AWS's
//! runtime interface emulator (RIE, one per function instance, with the template's
//! timeout and memory), DynamoDB Local as the table, moto's server as Secrets Manager,
//! and the two clusters. RIE runs one invocation at a time and knows no asynchronous
//! invoke, so the Lambda service's part of that is here: an Invoke API endpoint
//! (`AWS_ENDPOINT_URL_LAMBDA` of the dispatcher) that queues `Event` invocations of the
//! replicator and hands each to an idle replicator RIE, recording every invocation.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{dynamodb_endpoint, free_port, scratch_dir, unique_name};

/// The tenant every API event of [`Lambda::api`] is signed as (its IAM account).
pub const ACCOUNT: &str = "123456789012";

/// One replicator invocation, as the asynchronous queue ran it.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub slot: usize,
    pub started: Instant,
    /// When it returned, and what: `"Stopped"`, `"Idle"`, ... or an error.
    pub ended: Option<(Instant, String)>,
}

/// One function under its own RIE.
struct Rie {
    child: Child,
    url: String,
    /// What RIE and the function wrote: the function's log lines, RIE's REPORT lines.
    log: PathBuf,
    timeout: Duration,
}

impl Rie {
    fn start(binary: &Path, timeout_secs: u64, memory_mb: u32, env: &[(&str, String)]) -> Self {
        let (api_port, invoke_port) = (free_port(), free_port());
        let name = binary.file_name().unwrap().to_string_lossy().into_owned();
        let log = scratch_dir().join(format!("{}.log", unique_name(&format!("rie-{name}"))));
        let mut command = Command::new(rie_binary());
        command
            .args([
                "--runtime-api-address",
                &format!("127.0.0.1:{api_port}"),
                "--runtime-interface-emulator-address",
                &format!("127.0.0.1:{invoke_port}"),
            ])
            .arg(binary)
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_TIMEOUT", timeout_secs.to_string())
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
            ));
        // Its own process group, so the function process it starts is stopped with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .expect("aws-lambda-rie (scripts/setup.sh installs it)");
        wait_for_port(invoke_port);
        eprintln!(
            "{name} under RIE on 127.0.0.1:{invoke_port}, log {}",
            log.display()
        );
        Rie {
            child,
            url: format!(
                "http://127.0.0.1:{invoke_port}/2015-03-31/functions/function/invocations"
            ),
            log,
            timeout: Duration::from_secs(timeout_secs),
        }
    }

    async fn invoke(&self, http: &reqwest::Client, event: &Value) -> String {
        // RIE ends an invocation at its timeout; a margin past that is a hung emulator.
        let answer = http
            .post(&self.url)
            .timeout(self.timeout + Duration::from_secs(30))
            .json(event)
            .send()
            .await;
        match answer {
            Ok(answer) => answer.text().await.unwrap_or_default(),
            Err(e) => format!("invoke failed: {e}"),
        }
    }
}

impl Drop for Rie {
    fn drop(&mut self) {
        // The group: RIE and the function process it started.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The five functions, wired as infra/template.yaml wires them.
pub struct Lambda {
    pub table: String,
    pub secrets_endpoint: String,
    api: Rie,
    metadata_sync: Rie,
    offset_sync: Rie,
    dispatcher: Rie,
    invocations: Arc<Mutex<Vec<Invocation>>>,
    replicators: Vec<Arc<Rie>>,
    _moto: Process,
    http: reqwest::Client,
}

impl Lambda {
    /// Starts everything with a fresh table; the replicator has `replicator_timeout`
    /// (the template: 900 s) and `replicators` instances to run at once.
    pub async fn start(replicator_timeout: Duration, replicators: usize) -> Lambda {
        let binaries = function_binaries();
        let secrets_port = free_port();
        let moto = Process::spawn(Command::new(venv_binary("moto_server")).args([
            "-H",
            "127.0.0.1",
            "-p",
            &secrets_port.to_string(),
        ]));
        wait_for_port(secrets_port);
        let secrets_endpoint = format!("http://127.0.0.1:{secrets_port}");
        let (queue, queued) = mpsc::unbounded_channel::<Bytes>();
        let lambda_endpoint = serve_invoke_api(queue).await;
        let table = unique_name("ksync-lambda");
        let env = vec![
            ("TABLE_NAME", table.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "ksynclocal".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "ksynclocal".to_owned()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_endpoint.clone()),
            ("AWS_ENDPOINT_URL_LAMBDA", lambda_endpoint),
            ("REPLICATOR_FUNCTION", "replicator".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ];
        let bin = |name: &str| binaries.join(name);
        let replicators: Vec<Arc<Rie>> = (0..replicators)
            .map(|_| {
                Arc::new(Rie::start(
                    &bin("replicator"),
                    replicator_timeout.as_secs(),
                    512,
                    &env,
                ))
            })
            .collect();
        let invocations = Arc::new(Mutex::new(Vec::new()));
        run_queue(queued, &replicators, &invocations);
        Lambda {
            table,
            secrets_endpoint,
            api: Rie::start(&bin("api"), 29, 256, &env),
            metadata_sync: Rie::start(&bin("metadata-sync"), 170, 256, &env),
            offset_sync: Rie::start(&bin("offset-sync"), 55, 256, &env),
            dispatcher: Rie::start(&bin("dispatcher"), 55, 256, &env),
            invocations,
            replicators,
            _moto: moto,
            http: reqwest::Client::new(),
        }
    }

    /// One API request as API Gateway (HTTP API, payload 2.0, IAM auth) hands it to the
    /// api function: the status and the JSON body of its answer.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let event = api_event(method, path, body);
        let answer = self.api.invoke(&self.http, &event).await;
        let answer: Value = serde_json::from_str(&answer).unwrap_or_else(|e| {
            panic!("the api function answered {answer:?}, not an API Gateway response: {e}")
        });
        let status = answer["statusCode"].as_u64().unwrap_or(0) as u16;
        let body = answer["body"]
            .as_str()
            .filter(|b| !b.is_empty())
            .map(|b| serde_json::from_str(b).unwrap_or(Value::String(b.to_owned())))
            .unwrap_or(Value::Null);
        (status, body)
    }

    /// Creates a connection from `source` (its body: name, bootstrap, security), one to
    /// the target cluster, and an instance task of `sync` over `topics` between them,
    /// through API events; the task's id.
    pub async fn create_task(&self, source: Value, topics: Value, sync: &str) -> String {
        let (status, source) = self.api("POST", "/v1/connections", Some(source)).await;
        assert_eq!(status, 201, "{source}");
        let target = json!({"name": "tgt", "bootstrap": crate::target().bootstrap});
        let (status, target) = self.api("POST", "/v1/connections", Some(target)).await;
        assert_eq!(status, 201, "{target}");
        let task = json!({"name": unique_name("lambda-task"), "kind": "instance",
            "source": source["id"], "target": target["id"], "sync": sync, "topics": topics});
        let (status, task) = self.api("POST", "/v1/tasks", Some(task)).await;
        assert_eq!(status, 201, "{task}");
        task["id"].as_str().unwrap().to_owned()
    }

    /// The task's total lag, from its progress endpoint.
    pub async fn lag(&self, task: &str) -> Option<i64> {
        let (status, progress) = self
            .api("GET", &format!("/v1/tasks/{task}/progress"), None)
            .await;
        assert_eq!(status, 200, "{progress}");
        progress["totals"]["lag"].as_i64()
    }

    /// Writes to the table so far: every item's version counts the writes it took
    /// (items deleted since are not counted).
    pub async fn table_writes(&self) -> u64 {
        let mut writes = 0;
        let mut pages = crate::dynamodb()
            .await
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.unwrap();
            if let Some(Ok(version)) = item.get("version").map(|v| v.as_n()) {
                writes += version.parse::<u64>().unwrap_or_default();
            }
        }
        writes
    }

    /// The schedules, one EventBridge scheduled event each: what each function returned.
    pub async fn metadata_sync(&self) -> String {
        self.metadata_sync
            .invoke(&self.http, &schedule_event())
            .await
    }

    pub async fn offset_sync(&self) -> String {
        self.offset_sync.invoke(&self.http, &schedule_event()).await
    }

    pub async fn dispatch(&self) -> Value {
        let answer = self.dispatcher.invoke(&self.http, &schedule_event()).await;
        serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("the dispatcher answered {answer:?}: {e}"))
    }

    /// Every replicator invocation so far, oldest first.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.invocations.lock().unwrap().clone()
    }

    /// What the replicator instances logged, one line each, as CloudWatch Logs would
    /// hold it.
    pub fn replicator_log(&self) -> Vec<String> {
        self.replicators
            .iter()
            .flat_map(|rie| {
                std::fs::read_to_string(&rie.log)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Replicator invocations running now.
    pub fn running(&self) -> usize {
        self.invocations()
            .iter()
            .filter(|i| i.ended.is_none())
            .count()
    }
}

/// A child process killed when dropped.
struct Process(Child);

impl Process {
    fn spawn(command: &mut Command) -> Self {
        Process(
            command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Invoke API of the Lambda service, for asynchronous (`Event`) invocations: 202 at
/// once, the payload queued. Its base URL.
async fn serve_invoke_api(queue: mpsc::UnboundedSender<Bytes>) -> String {
    let accept = move |headers: HeaderMap, payload: Bytes| {
        let queue = queue.clone();
        async move {
            let event = headers
                .get("x-amz-invocation-type")
                .is_some_and(|t| t == "Event");
            if !event {
                return StatusCode::BAD_REQUEST;
            }
            queue.send(payload).unwrap();
            StatusCode::ACCEPTED
        }
    };
    let app = axum::Router::new().route(
        "/2015-03-31/functions/{name}/invocations",
        axum::routing::post(accept),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// Each replicator RIE takes the next queued invocation once its last one returned.
fn run_queue(
    queued: mpsc::UnboundedReceiver<Bytes>,
    replicators: &[Arc<Rie>],
    invocations: &Arc<Mutex<Vec<Invocation>>>,
) {
    let queued = Arc::new(tokio::sync::Mutex::new(queued));
    for rie in replicators {
        let (rie, queued, invocations) = (rie.clone(), queued.clone(), invocations.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let Some(payload) = queued.lock().await.recv().await else {
                    return;
                };
                let event: Value = serde_json::from_slice(&payload).unwrap();
                let index = {
                    let mut all = invocations.lock().unwrap();
                    all.push(Invocation {
                        slot: event["slot"].as_u64().unwrap_or_default() as usize,
                        started: Instant::now(),
                        ended: None,
                    });
                    all.len() - 1
                };
                let answer = rie.invoke(&http, &event).await;
                invocations.lock().unwrap()[index].ended = Some((Instant::now(), answer));
            }
        });
    }
}

fn api_event(method: &str, path: &str, body: Option<Value>) -> Value {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": ACCOUNT, "apiId": "api", "domainName": "api.execute-api.local",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "kafka-sync-tests"},
            "requestId": uuid::Uuid::new_v4().to_string(), "routeKey": "$default",
            "stage": "$default", "time": "02/Dec/2026:00:00:00 +0000", "timeEpoch": 0,
            "authorizer": {"iam": {
                "accessKey": "AKIA", "accountId": ACCOUNT, "callerId": "AIDA",
                "userArn": format!("arn:aws:iam::{ACCOUNT}:user/operator"), "userId": "AIDA"
            }}
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

fn schedule_event() -> Value {
    json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": "2026-12-02T00:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {}
    })
}

/// The five function binaries, built on demand; the folder they are in.
fn function_binaries() -> PathBuf {
    crate::cargo_build(&[
        "api",
        "dispatcher",
        "metadata-sync",
        "offset-sync",
        "replicator",
    ])
}

fn cache_dir() -> PathBuf {
    std::env::var_os("KAFKA_SYNC_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/kafka-sync"))
}

fn rie_binary() -> PathBuf {
    cache_dir().join("bin/aws-lambda-rie")
}

fn venv_binary(name: &str) -> PathBuf {
    cache_dir().join("venv/bin").join(name)
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
