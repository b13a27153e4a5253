//! The pipeline end to end: config JSON and message bytes in, exact output bytes out.

use serde_json::{Value, json};

use crate::processing::{CompiledProcessing, Output, ProcessingError, compile, from_json};

const NOW: i64 = 1_767_225_600_000;

fn processing(config: Value) -> CompiledProcessing {
    let config = from_json(&config, "processing").expect("config parses");
    compile(&config, "processing").expect("config compiles")
}

/// The output values of `message` (keyed `k`), as text; every output keeps the key.
fn run(config: &Value, message: &str) -> Vec<String> {
    let outputs = processing(config.clone())
        .run(Some(b"k"), Some(message.as_bytes()), NOW)
        .unwrap_or_else(|err| panic!("{message:?}: {} ({})", err.reason, err.kind));
    outputs
        .into_iter()
        .map(|Output { key, value }| {
            assert_eq!(key.as_deref(), Some(&b"k"[..]));
            String::from_utf8(value).expect("UTF-8 output")
        })
        .collect()
}

/// The one output value of `message`.
fn one(config: &Value, message: &str) -> String {
    let mut outputs = run(config, message);
    assert_eq!(outputs.len(), 1, "one output: {outputs:?}");
    outputs.remove(0)
}

fn error(config: &Value, message: &[u8]) -> ProcessingError {
    processing(config.clone())
        .run(None, Some(message), NOW)
        .expect_err("the message must be rejected")
}

fn with(parse: Value, fields: Option<Value>, output: Value) -> Value {
    let mut config = json!({"parse": parse, "output": output});
    if let Some(fields) = fields {
        config["fields"] = fields;
    }
    config
}

fn json_out() -> Value {
    json!({"format": "json"})
}

fn value_out(separator: &str) -> Value {
    json!({"format": "value", "separator": separator})
}

fn kv_out() -> Value {
    json!({"format": "key_value", "kv_separator": "=", "separator": "&"})
}

/// Every parse mode (without `fields`: every parsed field in parse order) in every output
/// format.
#[test]
fn every_parse_mode_in_every_output_format() {
    let cases = [
        (
            json!({"mode": "json"}),
            r#"{"b": 1, "a": {"y": 2, "x": [1, "s"]}, "s": "t\"q", "n": null, "f": 1.5, "t": true}"#,
            [
                r#"{"b":1,"a":{"x":[1,"s"],"y":2},"s":"t\"q","n":null,"f":1.5,"t":true}"#,
                r#"1|{"x":[1,"s"],"y":2}|t"q|null|1.5|true"#,
                r#"b=1&a={"x":[1,"s"],"y":2}&s=t"q&n=null&f=1.5&t=true"#,
            ],
        ),
        (
            json!({"mode": "separator", "separator": ","}),
            "a,b c,,\"d\"",
            [
                r#"{"0":"a","1":"b c","2":"","3":"\"d\""}"#,
                r#"a|b c||"d""#,
                r#"0=a&1=b c&2=&3="d""#,
            ],
        ),
        (
            json!({"mode": "regex", "pattern": r"^(?<level>[A-Z]+) (?P<code>\d+) (?<msg>.*)$"}),
            "WARN 42 disk \"sda\" full",
            [
                r#"{"level":"WARN","code":"42","msg":"disk \"sda\" full"}"#,
                r#"WARN|42|disk "sda" full"#,
                r#"level=WARN&code=42&msg=disk "sda" full"#,
            ],
        ),
        (
            json!({"mode": "regex", "pattern": r"\d+"}),
            "a1 b22 c333",
            [
                r#"{"0":"1","1":"22","2":"333"}"#,
                "1|22|333",
                "0=1&1=22&2=333",
            ],
        ),
        (
            json!({"mode": "json_array_single"}),
            r#"[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]"#,
            [r#"{"id":1,"v":"a"}"#, "1|a", "id=1&v=a"],
        ),
    ];
    for (parse, message, [as_json, as_value, as_key_value]) in cases {
        let mode = parse["mode"].clone();
        let config = with(parse.clone(), None, json_out());
        assert_eq!(one(&config, message), as_json, "{mode} json");
        let config = with(parse.clone(), None, value_out("|"));
        assert_eq!(one(&config, message), as_value, "{mode} value");
        let config = with(parse, None, kv_out());
        assert_eq!(one(&config, message), as_key_value, "{mode} key_value");
    }

    let multi = json!({"mode": "json_array_multi"});
    let message = r#"[{"id": 1, "v": "a"}, {"id": 2, "v": [true]}, {"v": null, "id": 3}]"#;
    assert_eq!(
        run(&with(multi.clone(), None, json_out()), message),
        [
            r#"{"id":1,"v":"a"}"#,
            r#"{"id":2,"v":[true]}"#,
            r#"{"v":null,"id":3}"#
        ]
    );
    assert_eq!(
        run(&with(multi.clone(), None, value_out("|")), message),
        ["1|a", "2|[true]", "null|3"]
    );
    assert_eq!(
        run(&with(multi, None, kv_out()), message),
        ["id=1&v=a", "id=2&v=[true]", "v=null&id=3"]
    );
}

/// The processing example of DESIGN §5: all four ops, `key_value` output.
#[test]
fn the_design_example() {
    let config = crate::processing::tests::design_example();
    let message = r#"{"user": "ann", "order": {"id": 7, "total": 9.5}}"#;
    assert_eq!(
        one(&config, message),
        "id=7&who=ann&at=1767225600000&region=eu"
    );
}

/// Every field op, in the order of `fields`, in each output format.
#[test]
fn every_field_op_in_every_output_format() {
    let fields = json!([
        {"name": "total", "op": "jsonpath", "path": "$.order.total"},
        {"name": "user", "op": "mapping", "from": "user"},
        {"name": "order", "op": "mapping", "from": "order"},
        {"name": "at", "op": "system_time"},
        {"name": "region", "op": "custom", "value": "eu"},
        {"name": "tags", "op": "custom", "value": {"b": [1, null], "a": false}},
        {"name": "none", "op": "custom", "value": null},
    ]);
    let message = r#"{"user": "ann", "order": {"total": 9.5, "id": "o-1"}, "unused": 1}"#;
    let parse = json!({"mode": "json"});
    assert_eq!(
        one(
            &with(parse.clone(), Some(fields.clone()), json_out()),
            message
        ),
        concat!(
            r#"{"total":9.5,"user":"ann","order":{"id":"o-1","total":9.5},"#,
            r#""at":1767225600000,"region":"eu","tags":{"a":false,"b":[1,null]},"none":null}"#
        )
    );
    assert_eq!(
        one(
            &with(parse.clone(), Some(fields.clone()), value_out("")),
            message
        ),
        r#"9.5ann{"id":"o-1","total":9.5}1767225600000eu{"a":false,"b":[1,null]}null"#
    );
    assert_eq!(
        one(&with(parse, Some(fields), kv_out()), message),
        concat!(
            r#"total=9.5&user=ann&order={"id":"o-1","total":9.5}&at=1767225600000"#,
            r#"&region=eu&tags={"a":false,"b":[1,null]}&none=null"#
        )
    );
}

#[test]
fn field_ops_on_text_modes_see_the_parsed_fields() {
    // Separator mode: fields by position; JSONPaths run on {"0": …, "1": …}.
    let config = with(
        json!({"mode": "separator", "separator": ";"}),
        Some(json!([
            {"name": "second", "op": "mapping", "from": "1"},
            {"name": "first", "op": "jsonpath", "path": "$['0']"},
            {"name": "all", "op": "jsonpath", "path": "$.*"},
        ])),
        json_out(),
    );
    assert_eq!(
        one(&config, "x;y"),
        r#"{"second":"y","first":"x","all":["x","y"]}"#
    );

    // Regex with named groups: by name; a group that takes no part in the match is null.
    let config = with(
        json!({"mode": "regex", "pattern": r"(?<user>\w+)@(?<host>[\w.]+)(:(?<port>\d+))?"}),
        Some(json!([
            {"name": "h", "op": "jsonpath", "path": "$.host"},
            {"name": "u", "op": "mapping", "from": "user"},
            {"name": "p", "op": "mapping", "from": "port"},
        ])),
        kv_out(),
    );
    assert_eq!(
        one(&config, "mail ann@example.org now"),
        "h=example.org&u=ann&p=null"
    );
    assert_eq!(
        one(&config, "ann@example.org:25"),
        "h=example.org&u=ann&p=25"
    );

    // Regex without named groups: by position.
    let config = with(
        json!({"mode": "regex", "pattern": r"[a-z]+"}),
        Some(json!([{"name": "third", "op": "mapping", "from": "2"}])),
        value_out(""),
    );
    assert_eq!(one(&config, "1 ab 2 cd 3 ef"), "ef");
}

#[test]
fn nested_json() {
    let config = with(
        json!({"mode": "json"}),
        Some(json!([
            {"name": "sku", "op": "jsonpath", "path": "$.order.lines[1].sku"},
            {"name": "skus", "op": "jsonpath", "path": "$.order.lines[*].sku"},
            {"name": "last", "op": "jsonpath", "path": "$.order.lines[-1]"},
            {"name": "cheap", "op": "jsonpath", "path": "$.order.lines[?@.price < 2].sku"},
            {"name": "deep", "op": "jsonpath", "path": "$..qty"},
            {"name": "customer", "op": "mapping", "from": "customer"},
        ])),
        kv_out(),
    );
    let message = r#"{
        "order": {"lines": [{"sku": "a", "price": 1, "qty": 2},
                            {"sku": "b", "price": 3.5, "qty": 1}]},
        "customer": {"name": "Ann", "address": {"city": "Lyon", "zip": "69001"}}
    }"#;
    assert_eq!(
        one(&config, message),
        concat!(
            r#"sku=b&skus=["a","b"]&last={"price":3.5,"qty":1,"sku":"b"}&cheap=a&deep=[2,1]"#,
            r#"&customer={"address":{"city":"Lyon","zip":"69001"},"name":"Ann"}"#
        )
    );
}

#[test]
fn each_named_delimiter_and_multi_character_ones() {
    for separator in [" ", "\t", ",", ";", "|", ":", "||", "<>", " :: "] {
        let config = with(
            json!({"mode": "separator", "separator": separator}),
            None,
            json_out(),
        );
        let message = ["x1", "y-2", "", "z3"].join(separator);
        assert_eq!(
            one(&config, &message),
            r#"{"0":"x1","1":"y-2","2":"","3":"z3"}"#,
            "{separator:?}"
        );
    }
    // A multi-character separator is matched whole, never by its characters.
    let config = with(
        json!({"mode": "separator", "separator": "||"}),
        None,
        value_out("/"),
    );
    assert_eq!(one(&config, "a|b||c|||d"), "a|b/c/|d");
    let config = with(
        json!({"mode": "separator", "separator": "<>"}),
        None,
        kv_out(),
    );
    assert_eq!(one(&config, "1<>2<3>4<>"), "0=1&1=2<3>4&2=");
}

#[test]
fn regex_group_spellings_and_several_matches() {
    let angle = with(
        json!({"mode": "regex", "pattern": r"id=(?<id>\d+)"}),
        None,
        json_out(),
    );
    assert_eq!(
        one(&angle, "x id=12 id=34"),
        r#"{"id":"12"}"#,
        "the first match"
    );
    let python = with(
        json!({"mode": "regex", "pattern": r"id=(?P<id>\d+)"}),
        None,
        json_out(),
    );
    assert_eq!(one(&python, "x id=12 id=34"), r#"{"id":"12"}"#);
    // Unnamed groups do not name fields: every whole match is one.
    let matches = with(
        json!({"mode": "regex", "pattern": r"id=(\d+)"}),
        None,
        json_out(),
    );
    assert_eq!(
        one(&matches, "x id=12 id=34 id=5"),
        r#"{"0":"id=12","1":"id=34","2":"id=5"}"#
    );

    for config in [angle, python, matches] {
        let err = error(&config, b"no ids here");
        assert_eq!(err.kind, ProcessingError::NO_MATCH);
        assert!(
            err.reason
                .starts_with("the message does not match the pattern `id=")
        );
    }
}

#[test]
fn a_json_array_of_three_objects_is_one_or_three_messages() {
    let message = r#"[{"n": 1}, {"n": 2}, {"n": 3}]"#;
    let fields = json!([
        {"name": "n", "op": "jsonpath", "path": "$.n"},
        {"name": "m", "op": "mapping", "from": "n"},
    ]);
    let single = with(
        json!({"mode": "json_array_single"}),
        Some(fields.clone()),
        kv_out(),
    );
    assert_eq!(run(&single, message), ["n=1&m=1"]);
    let multi = with(json!({"mode": "json_array_multi"}), Some(fields), kv_out());
    assert_eq!(run(&multi, message), ["n=1&m=1", "n=2&m=2", "n=3&m=3"]);

    // Each output keeps the source key, even when there is none.
    let outputs = processing(multi.clone())
        .run(None, Some(message.as_bytes()), NOW)
        .unwrap();
    assert_eq!(outputs.len(), 3);
    assert!(outputs.iter().all(|output| output.key.is_none()));

    // An empty array: no output for multi, an error for single.
    assert!(
        processing(multi)
            .run(None, Some(b"[]"), NOW)
            .unwrap()
            .is_empty()
    );
    let err = error(&single, b" [ ] ");
    assert_eq!(err.kind, ProcessingError::EMPTY_JSON_ARRAY);
}

#[test]
fn a_jsonpath_that_finds_nothing_is_an_error() {
    let config = with(
        json!({"mode": "json"}),
        Some(json!([
            {"name": "id", "op": "mapping", "from": "id"},
            {"name": "city", "op": "jsonpath", "path": "$.address.city"},
        ])),
        json_out(),
    );
    assert_eq!(
        one(&config, r#"{"id": 1, "address": {"city": null}}"#),
        r#"{"id":1,"city":null}"#,
        "null is a value found"
    );
    let err = error(&config, br#"{"id": 1, "address": {"zip": "1"}}"#);
    assert_eq!(
        (err.kind, err.reason.as_str()),
        (
            "jsonpath_no_match",
            "the JSONPath `$.address.city` finds nothing in the message"
        )
    );
    assert_eq!(err.to_string(), err.reason);
    let multi = with(
        json!({"mode": "json_array_multi"}),
        Some(json!([{"name": "id", "op": "jsonpath", "path": "$.id"}])),
        json_out(),
    );
    let err = error(&multi, br#"[{"id": 1}, {"no": 2}]"#);
    assert_eq!(
        err.kind, "jsonpath_no_match",
        "one bad element fails the message"
    );
}

#[test]
fn a_mapping_from_a_missing_key_is_an_error() {
    let config = with(
        json!({"mode": "json"}),
        Some(json!([{"name": "who", "op": "mapping", "from": "user"}])),
        json_out(),
    );
    let err = error(&config, br#"{"User": "ann"}"#);
    assert_eq!(
        (err.kind, err.reason.as_str()),
        ("missing_key", "the message has no key `user`")
    );
    let config = with(
        json!({"mode": "separator", "separator": ","}),
        Some(json!([{"name": "c", "op": "mapping", "from": "2"}])),
        json_out(),
    );
    let err = error(&config, b"a,b");
    assert_eq!(
        (err.kind, err.reason.as_str()),
        (
            "missing_key",
            "the message has no field `2`: it has 2 fields (`0` to `1`)"
        )
    );
}

#[test]
fn unicode() {
    let config = with(json!({"mode": "json"}), None, json_out());
    assert_eq!(
        one(
            &config,
            r#"{"名前": "José 🚀", "e": "\u00e9\n", "ctl": "\u0001"}"#
        ),
        "{\"名前\":\"José 🚀\",\"e\":\"é\\n\",\"ctl\":\"\\u0001\"}"
    );
    let config = with(json!({"mode": "json"}), None, kv_out());
    assert_eq!(one(&config, r#"{"名前": "José 🚀"}"#), "名前=José 🚀");

    let config = with(
        json!({"mode": "separator", "separator": "→"}),
        None,
        value_out("·"),
    );
    assert_eq!(one(&config, "α→βγ→🚀"), "α·βγ·🚀");

    let config = with(
        json!({"mode": "regex", "pattern": r"(?<word>\p{L}+) (?<n>\d+)"}),
        None,
        json_out(),
    );
    assert_eq!(one(&config, "« ñandú 42 »"), r#"{"word":"ñandú","n":"42"}"#);
}

#[test]
fn an_empty_message_is_an_error_in_every_mode() {
    for parse in [
        json!({"mode": "json"}),
        json!({"mode": "separator", "separator": ","}),
        json!({"mode": "regex", "pattern": ".*"}),
        json!({"mode": "json_array_single"}),
        json!({"mode": "json_array_multi"}),
    ] {
        // Even when no field depends on the message.
        let config = with(
            parse,
            Some(json!([{"name": "c", "op": "custom", "value": 1}])),
            json_out(),
        );
        let err = error(&config, b"");
        assert_eq!(
            (err.kind, err.reason.as_str()),
            ("empty_message", "the message value is empty")
        );
        let err = processing(config).run(Some(b"k"), None, NOW).unwrap_err();
        assert_eq!(
            (err.kind, err.reason.as_str()),
            ("empty_message", "the message has no value (a tombstone)")
        );
    }
}

#[test]
fn a_message_that_is_not_utf8_is_an_error() {
    for parse in [
        json!({"mode": "json"}),
        json!({"mode": "separator", "separator": ","}),
        json!({"mode": "regex", "pattern": ".*"}),
    ] {
        let err = error(&with(parse, None, json_out()), b"ab,\xff\xfe");
        assert_eq!(
            (err.kind, err.reason.as_str()),
            (
                "not_utf8",
                "the message value is not UTF-8 text: invalid byte at offset 3"
            )
        );
    }
}

#[test]
fn json_that_is_invalid_or_of_the_wrong_shape_is_an_error() {
    let json = with(json!({"mode": "json"}), None, json_out());
    let multi = with(json!({"mode": "json_array_multi"}), None, json_out());
    for (config, message, kind, reason) in [
        (
            &json,
            &br#"{"a": 1"#[..],
            "invalid_json",
            "not valid JSON: EOF while parsing an object at line 1 column 7",
        ),
        (
            &json,
            b"[{}]",
            "not_json_object",
            "expected a JSON object, found an array",
        ),
        (
            &multi,
            b"{}",
            "not_json_array",
            "expected a JSON array of objects, found an object",
        ),
        (
            &multi,
            br#"[{}, "x"]"#,
            "not_json_object",
            "element 1 of the JSON array is a string, not an object",
        ),
    ] {
        let err = error(config, message);
        assert_eq!((err.kind, err.reason.as_str()), (kind, reason));
        assert!(ProcessingError::KINDS.contains(&err.kind));
    }
}

#[test]
fn the_key_is_kept_as_it_is() {
    let config = processing(with(json!({"mode": "json"}), None, json_out()));
    let outputs = config.run(Some(b"\x00\xffkey"), Some(b"{}"), NOW).unwrap();
    assert_eq!(
        outputs,
        [Output {
            key: Some(b"\x00\xffkey".to_vec()),
            value: b"{}".to_vec()
        }]
    );
    let outputs = config.run(None, Some(b"{}"), NOW).unwrap();
    assert_eq!(outputs[0].key, None);
}

#[test]
fn a_one_mib_message() {
    let blob = "0123456789abcdef".repeat(1 << 16);
    assert_eq!(blob.len(), 1 << 20);
    let message = format!(r#"{{"z":1,"blob":"{blob}","a":[true,null]}}"#);

    // Without fields the output is the (compact) message itself.
    let config = with(json!({"mode": "json"}), None, json_out());
    assert_eq!(one(&config, &message), message);

    let config = with(
        json!({"mode": "json"}),
        Some(json!([
            {"name": "a", "op": "mapping", "from": "a"},
            {"name": "len", "op": "jsonpath", "path": "$.blob"},
        ])),
        kv_out(),
    );
    assert_eq!(one(&config, &message), format!("a=[true,null]&len={blob}"));

    let lines = vec!["a line of text"; 1 << 16].join("\n");
    assert!(lines.len() > 900_000);
    let config = with(
        json!({"mode": "separator", "separator": "\n"}),
        Some(json!([{"name": "last", "op": "mapping", "from": "65535"}])),
        value_out(""),
    );
    assert_eq!(one(&config, &lines), "a line of text");
}

/// JSON read lazily (fields that need no whole document) gives exactly what a whole
/// `serde_json::Value` gives: values, errors and their reasons.
#[test]
fn lazily_read_json_gives_what_a_whole_value_gives() {
    use crate::processing::parse::{JsonAs, Records};

    let fields = json!([
        {"name": "a", "op": "mapping", "from": "a"},
        {"name": "s", "op": "mapping", "from": "s"},
        {"name": "ab", "op": "jsonpath", "path": "$.a.b"},
        {"name": "last", "op": "jsonpath", "path": "$.arr[-1]"},
        {"name": "x", "op": "jsonpath", "path": "$['arr'][0].x"},
        {"name": "all", "op": "jsonpath", "path": "$"},
        {"name": "at", "op": "system_time"},
    ]);
    let messages = [
        r#"{"a": {"b": 1}, "s": "t", "arr": [{"x": 1}]}"#,
        r#"{"a": {"b": 1, "b": [2, {"z": 1, "y": 2}]}, "s": "q\"\u00e9\ud83d\ude80", "arr": [{"x": "1"}, 2.50, -0, 1e3, 18446744073709551615, -9223372036854775808]}"#,
        r#"{"a": 1, "a": {"b": null}, "\u0073": "escaped key", "arr": [{"x": {"y": []}}], "s": "last wins"}"#,
        r#"{"a": {"b": 1}, "s": "t", "arr": []}"#,
        r#"{"a": {"c": 1}, "s": "t", "arr": [{"x": 1}]}"#,
        r#"{"a": [{"b": 1}], "s": "t", "arr": [{"x": 1}]}"#,
        r#"{"s": "t"}"#,
        r#"{"a": {"b": 1e999}, "s": "t", "arr": [{"x": 1}]}"#,
    ];
    for output in [json_out(), value_out(","), kv_out()] {
        let config = processing(with(json!({"mode": "json"}), Some(fields.clone()), output));
        assert!(config.fields.iter().flatten().all(|f| f.op.reads_lazily()));
        for message in messages {
            let run = |json_as| match config.parse.parse(message, json_as) {
                Ok(Records::One(record)) => config
                    .render(&record, NOW, message.len())
                    .map(|value| String::from_utf8(value).unwrap()),
                Ok(Records::Many(_)) => panic!("one record"),
                Err(err) => Err(err),
            };
            match (run(JsonAs::Raw), run(JsonAs::Value)) {
                // A number out of range is only found where it is used, and the position
                // serde_json gives is then within the value.
                (Err(lazy), Err(whole)) if lazy.reason.contains("out of range") => {
                    assert_eq!(lazy.reason, "not valid JSON: number out of range");
                    assert_eq!(lazy.kind, whole.kind);
                }
                (lazy, whole) => assert_eq!(lazy, whole, "{message}"),
            }
        }
    }
}
