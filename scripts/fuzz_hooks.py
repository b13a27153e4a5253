"""Schemathesis hooks for scripts/fuzz-api.sh: a fixture of real resources, and the
requests pointed at it, so generated calls get past "no such connection" into the code
behind it (and the stateful phase has tasks to chain calls on).

The fixture, on the API under test (KSYNC_FUZZ_API, token KAFKA_SYNC_TOKEN): a topic of
one partition on the source cluster, and a connection to each cluster. Before
each call whose body was generated to fit the schema (bodies generated to break it are
sent as they are):

- POST /v1/connections goes to the source cluster, in PLAINTEXT: discovery answers at
  once, where TLS or SASL against the plaintext listener, or an address that is not a
  broker, would wait out the API's 10 s discovery timeout on every example.
- POST /v1/tasks uses the fixture's connections and topic. An instance task selects
  only the fixture topic and a topic task writes only under its name: the clusters are
  shared with the integration tests, and a fuzzed task must never copy their topics.
"""

import os
import uuid

import requests
import schemathesis
from confluent_kafka.admin import AdminClient, NewTopic
from schemathesis.core.parameters import ParameterLocation

API = os.environ["KSYNC_FUZZ_API"]
HEADERS = {"Authorization": f"Bearer {os.environ['KAFKA_SYNC_TOKEN']}"}
SOURCE_BOOTSTRAP = os.environ.get("KSYNC_SOURCE_BOOTSTRAP", "127.0.0.1:19092")
TARGET_BOOTSTRAP = os.environ.get("KSYNC_TARGET_BOOTSTRAP", "127.0.0.1:29092")
# Kafka's longest topic name, and what is kept of a generated one under the fixture's.
MAX_TOPIC = 249


def create_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    futures[name].result(timeout=30)


def create_connection(bootstrap: str) -> str:
    body = {"name": f"fuzz-{uuid.uuid4().hex[:12]}", "bootstrap": bootstrap}
    reply = requests.post(f"{API}/v1/connections", json=body, headers=HEADERS, timeout=30)
    reply.raise_for_status()
    return reply.json()["id"]


CONNECTIONS: dict[str, str] = {}


def connection(bootstrap: str) -> str:
    """The fixture's connection to a cluster, made again when the fuzzer has deleted it
    (the stateful phase deletes what it lists). When it cannot be made again (a broker
    slow to answer), the old id stays: the call is then a 400 that names `source`, which
    tests less but is still an answer to check."""
    known = CONNECTIONS.get(bootstrap)
    if known is not None:
        reply = requests.get(f"{API}/v1/connections/{known}", headers=HEADERS, timeout=30)
        if reply.status_code != 404:
            return known
    try:
        CONNECTIONS[bootstrap] = create_connection(bootstrap)
    except requests.RequestException as error:
        if known is None:
            raise
        print(f"fuzz_hooks: cannot make the connection to {bootstrap} again: {error}")
    return CONNECTIONS[bootstrap]


TOPIC = f"ksync-fuzz-{uuid.uuid4().hex[:12]}"
create_topic(SOURCE_BOOTSTRAP, TOPIC)
connection(SOURCE_BOOTSTRAP)
connection(TARGET_BOOTSTRAP)


def under_fixture(topic: object) -> object:
    """A generated topic name, kept apart from every other topic by the fixture's prefix."""
    if not isinstance(topic, str):
        return topic
    return f"{TOPIC}.{topic}"[:MAX_TOPIC]


def point_connection(body: dict) -> None:
    body["bootstrap"] = SOURCE_BOOTSTRAP
    security = body.get("security")
    if isinstance(security, dict) and security.get("protocol", "PLAINTEXT") != "PLAINTEXT":
        del body["security"]


def point_task(body: dict) -> None:
    body["source"] = connection(SOURCE_BOOTSTRAP)
    body["target"] = connection(TARGET_BOOTSTRAP)
    if body.get("kind") == "instance":
        body["topics"] = {"regex": f"^{TOPIC}$"}
        return
    body["source_topic"] = TOPIC
    body["target_topic"] = under_fixture(body.get("target_topic"))
    on_error = body.get("on_error")
    if isinstance(on_error, dict) and "dead_letter_topic" in on_error:
        on_error["dead_letter_topic"] = under_fixture(on_error["dead_letter_topic"])


POINTERS = {
    ("POST", "/v1/connections"): point_connection,
    ("POST", "/v1/tasks"): point_task,
}


@schemathesis.hook
def before_call(context, case, kwargs):
    point = POINTERS.get((case.operation.method.upper(), case.operation.path))
    meta = case.meta
    negative = meta is not None and meta.is_negative_at(ParameterLocation.BODY)
    if point is not None and isinstance(case.body, dict) and not negative:
        point(case.body)
