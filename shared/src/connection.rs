//! Connections: how a tenant tells kafka-sync where a cluster is and how to log in.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kafka::{ClusterAccess, Security};
use crate::names::{NAME_PATTERN, validate_name};
use crate::validation::FieldError;

/// The longest `bootstrap`: room for dozens of broker addresses.
pub const MAX_BOOTSTRAP_CHARS: usize = 4096;
/// The longest `security.ca_pem`: room for a long certificate chain.
pub const MAX_CA_PEM_CHARS: usize = 64 * 1024;
/// The longest SASL username or password.
pub const MAX_SASL_CHARS: usize = 1024;

/// The body of `POST /v1/connections`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionRequest {
    #[schemars(pattern(NAME_PATTERN))]
    pub name: String,
    #[schemars(length(min = 1, max = MAX_BOOTSTRAP_CHARS))]
    pub bootstrap: String,
    #[serde(default)]
    pub security: Security,
}

/// A stored connection. The SASL password is not in it: `secret_ref` points at the
/// secret store entry that holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub id: String,
    pub name: String,
    pub bootstrap: String,
    pub security: Security,
    pub brokers: Vec<String>,
    pub cluster_id: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
}

/// What the API shows of a connection: the request minus the password, plus what the
/// cluster said about itself.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ConnectionView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub bootstrap: &'a str,
    pub security: &'a Security,
    pub brokers: &'a [String],
    pub cluster_id: &'a str,
    pub created_at: DateTime<Utc>,
}

impl ConnectionRecord {
    pub fn view(&self) -> ConnectionView<'_> {
        ConnectionView {
            id: &self.id,
            name: &self.name,
            bootstrap: &self.bootstrap,
            security: &self.security,
            brokers: &self.brokers,
            cluster_id: &self.cluster_id,
            created_at: self.created_at,
        }
    }

    /// How to reach the cluster, given the password read back from the secret store.
    pub fn access(&self, password: Option<String>) -> ClusterAccess {
        let mut security = self.security.clone();
        if let (Some(sasl), Some(password)) = (security.sasl.as_mut(), password) {
            sasl.password = password;
        }
        ClusterAccess {
            bootstrap: self.bootstrap.clone(),
            security,
        }
    }
}

impl ConnectionRequest {
    /// Checks the request's rules, and bounds what it stores: the record (with the
    /// local secret store's ciphertext of the password) must fit a DynamoDB item, 400 KB.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name("name", &self.name)?;
        at_most("bootstrap", &self.bootstrap, MAX_BOOTSTRAP_CHARS)?;
        validate_bootstrap(&self.bootstrap)?;
        if let Some(ca) = &self.security.ca_pem {
            at_most("security.ca_pem", ca, MAX_CA_PEM_CHARS)?;
        }
        if let Some(sasl) = &self.security.sasl {
            at_most("security.sasl.username", &sasl.username, MAX_SASL_CHARS)?;
            at_most("security.sasl.password", &sasl.password, MAX_SASL_CHARS)?;
        }
        let protocol = self.security.protocol;
        match (&self.security.sasl, protocol.uses_sasl()) {
            (None, true) => {
                return Err(FieldError::new(
                    "security.sasl",
                    "is required with a SASL_PLAINTEXT or SASL_SSL protocol",
                ));
            }
            (Some(_), false) => {
                return Err(FieldError::new(
                    "security.sasl",
                    "applies only to the SASL_PLAINTEXT and SASL_SSL protocols",
                ));
            }
            (Some(sasl), true) => {
                if sasl.username.is_empty() {
                    return Err(FieldError::new(
                        "security.sasl.username",
                        "must not be empty",
                    ));
                }
                if sasl.password.is_empty() {
                    return Err(FieldError::new(
                        "security.sasl.password",
                        "must not be empty",
                    ));
                }
            }
            (None, false) => {}
        }
        if let Some(ca) = &self.security.ca_pem {
            if !protocol.uses_tls() {
                return Err(FieldError::new(
                    "security.ca_pem",
                    "applies only to the SSL and SASL_SSL protocols",
                ));
            }
            if !ca.contains("-----BEGIN CERTIFICATE-----") {
                return Err(FieldError::new(
                    "security.ca_pem",
                    "must be a PEM certificate (-----BEGIN CERTIFICATE-----)",
                ));
            }
        }
        Ok(())
    }
}

fn at_most(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    let chars = value.chars().count();
    if chars > max {
        return Err(FieldError::new(
            field,
            format!("is {chars} characters long; at most {max} are allowed"),
        ));
    }
    Ok(())
}

/// One or more `host:port` addresses, comma-separated; one is enough.
fn validate_bootstrap(bootstrap: &str) -> Result<(), FieldError> {
    let bad = |message: String| FieldError::new("bootstrap", message);
    if bootstrap.trim().is_empty() {
        return Err(bad("must name a broker as host:port".into()));
    }
    for address in bootstrap.split(',').map(str::trim) {
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| bad(format!("{address:?} is not host:port")))?;
        if host.is_empty() || host.chars().any(char::is_whitespace) {
            return Err(bad(format!("{address:?} has no valid host")));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(bad(format!("{address:?} has no valid port (1-65535)"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: serde_json::Value) -> Result<(), FieldError> {
        let request: ConnectionRequest = serde_json::from_value(body).unwrap();
        request.validate()
    }

    #[test]
    fn bootstrap_must_be_host_port() {
        let field = |b: &str| {
            request(serde_json::json!({"name": "a", "bootstrap": b}))
                .err()
                .map(|e| e.field)
        };
        assert_eq!(field("127.0.0.1:9092"), None);
        assert_eq!(field("a:1,b:2"), None);
        assert_eq!(field("127.0.0.1"), Some("bootstrap".into()));
        assert_eq!(field("h:0"), Some("bootstrap".into()));
        assert_eq!(field("h:99999"), Some("bootstrap".into()));
        assert_eq!(field(""), Some("bootstrap".into()));
    }

    #[test]
    fn what_is_stored_is_bounded() {
        let field = |body: serde_json::Value| request(body).err().map(|e| e.field);
        let long = "h".repeat(MAX_BOOTSTRAP_CHARS);
        assert_eq!(
            field(serde_json::json!({"name": "a", "bootstrap": format!("{long}:1")})),
            Some("bootstrap".into())
        );
        let sasl = serde_json::json!({"mechanism": "PLAIN", "username": "u", "password": "p".repeat(MAX_SASL_CHARS + 1)});
        assert_eq!(
            field(serde_json::json!({"name": "a", "bootstrap": "h:1",
                "security": {"protocol": "SASL_SSL", "sasl": sasl}})),
            Some("security.sasl.password".into())
        );
        let pem = format!(
            "-----BEGIN CERTIFICATE-----{}",
            "A".repeat(MAX_CA_PEM_CHARS)
        );
        assert_eq!(
            field(serde_json::json!({"name": "a", "bootstrap": "h:1",
                "security": {"protocol": "SSL", "ca_pem": pem}})),
            Some("security.ca_pem".into())
        );
    }

    #[test]
    fn sasl_goes_with_sasl_protocols_only() {
        let sasl = serde_json::json!({"mechanism": "PLAIN", "username": "u", "password": "p"});
        let with = |protocol: &str, sasl: Option<&serde_json::Value>| {
            let mut security = serde_json::json!({"protocol": protocol});
            if let Some(s) = sasl {
                security["sasl"] = s.clone();
            }
            request(serde_json::json!({"name": "a", "bootstrap": "h:1", "security": security}))
                .err()
                .map(|e| e.field)
        };
        assert_eq!(with("SASL_SSL", Some(&sasl)), None);
        assert_eq!(with("SASL_PLAINTEXT", None), Some("security.sasl".into()));
        assert_eq!(with("PLAINTEXT", Some(&sasl)), Some("security.sasl".into()));
        let empty_password = serde_json::json!({"mechanism": "PLAIN", "username": "u"});
        assert_eq!(
            with("SASL_SSL", Some(&empty_password)),
            Some("security.sasl.password".into())
        );
    }

    #[test]
    fn the_view_and_the_record_hold_no_password() {
        let record = ConnectionRecord {
            id: "c1".into(),
            name: "a".into(),
            bootstrap: "h:1".into(),
            security: serde_json::from_value(serde_json::json!({
                "protocol": "SASL_PLAINTEXT",
                "sasl": {"mechanism": "PLAIN", "username": "u", "password": "s3cret"}
            }))
            .unwrap(),
            brokers: vec!["h:1".into()],
            cluster_id: "x".into(),
            created_at: Utc::now(),
            secret_ref: Some("ref".into()),
        };
        assert!(!serde_json::to_string(&record).unwrap().contains("s3cret"));
        let view = serde_json::to_string(&record.view()).unwrap();
        assert!(!view.contains("s3cret") && !view.contains("ref"));
    }
}
