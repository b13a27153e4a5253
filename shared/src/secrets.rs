//! Where connection passwords live: AWS Secrets Manager in AWS; locally, AES-256-GCM
//! ciphertext (with a key from the environment or a 0600 key file), never plain text.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret store: the key is not base64: {0}")]
    KeyNotBase64(#[from] base64::DecodeError),
    #[error("secret store: the key must be 32 bytes")]
    KeyLength,
    #[error("secret store: key file {}: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secret store: encryption failed")]
    Encrypt,
    #[error("secret store: not a local secret reference")]
    NotLocal,
    #[error("secret store: cannot decrypt: wrong key or damaged record")]
    Decrypt,
    #[error("secret store: secret is not UTF-8")]
    NotUtf8,
    /// A Secrets Manager request failed.
    #[error("secret store: {0}")]
    Aws(Box<dyn std::error::Error + Send + Sync>),
    /// Secrets Manager answered without what the request is for.
    #[error("secret store: Secrets Manager returned no {0}")]
    AwsAnswer(&'static str),
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Keeps a password for a connection and returns the reference to store with it.
    async fn put(
        &self,
        tenant: &str,
        connection_id: &str,
        password: &str,
    ) -> Result<String, SecretError>;
    async fn get(&self, secret_ref: &str) -> Result<String, SecretError>;
    async fn delete(&self, secret_ref: &str) -> Result<(), SecretError>;
}

/// The local secret store: the reference *is* the ciphertext (`aesgcm:<base64 nonce +
/// ciphertext>`), so it is kept in the embedded store, encrypted at rest.
pub struct LocalSecrets {
    cipher: Aes256Gcm,
}

const LOCAL_PREFIX: &str = "aesgcm:";
/// Environment variable with a base64-encoded 32-byte key.
pub const KEY_ENV: &str = "KAFKA_SYNC_SECRET_KEY";

impl LocalSecrets {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// The key from `KAFKA_SYNC_SECRET_KEY`, else from `key_file`, which is created with
    /// mode 0600 and a random key when missing.
    pub fn from_env_or_file(key_file: &Path) -> Result<Self, SecretError> {
        let encoded = match std::env::var(KEY_ENV) {
            Ok(value) => value,
            Err(_) => read_or_create_key_file(key_file)?,
        };
        let bytes = BASE64.decode(encoded.trim())?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::KeyLength)?;
        Ok(Self::from_key(&key))
    }
}

fn read_or_create_key_file(path: &Path) -> Result<String, SecretError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| SecretError::KeyFile {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(existing) => return Ok(existing),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        Err(_) => {}
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let encoded = BASE64.encode(key);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(encoded.as_bytes()).map_err(io)?;
    Ok(encoded)
}

#[async_trait]
impl SecretStore for LocalSecrets {
    async fn put(
        &self,
        _tenant: &str,
        _connection_id: &str,
        password: &str,
    ) -> Result<String, SecretError> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), password.as_bytes())
            .map_err(|_| SecretError::Encrypt)?;
        Ok(format!(
            "{LOCAL_PREFIX}{}",
            BASE64.encode([&nonce[..], &sealed].concat())
        ))
    }

    async fn get(&self, secret_ref: &str) -> Result<String, SecretError> {
        let sealed = secret_ref
            .strip_prefix(LOCAL_PREFIX)
            .and_then(|b| BASE64.decode(b).ok())
            .filter(|b| b.len() > 12)
            .ok_or(SecretError::NotLocal)?;
        let (nonce, ciphertext) = sealed.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| SecretError::NotUtf8)
    }

    async fn delete(&self, _secret_ref: &str) -> Result<(), SecretError> {
        // The ciphertext lives in the connection record and goes with it.
        Ok(())
    }
}

/// AWS Secrets Manager: one secret per connection, named `kafka-sync/<tenant>/<id>`
/// (the IAM policy grants `kafka-sync/*` only); the reference is the secret's ARN.
pub struct AwsSecrets {
    client: aws_sdk_secretsmanager::Client,
}

impl AwsSecrets {
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Self {
            client: aws_sdk_secretsmanager::Client::new(&config),
        }
    }
}

fn aws_error(e: impl std::error::Error + Send + Sync + 'static) -> SecretError {
    SecretError::Aws(Box::new(e))
}

/// Secret names allow `A-Za-z0-9/_+=.@-`; an IAM ARN's `:` becomes `_`.
fn secret_name(tenant: &str, connection_id: &str) -> String {
    let tenant: String = tenant
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "/_+=.@-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("kafka-sync/{tenant}/{connection_id}")
}

#[async_trait]
impl SecretStore for AwsSecrets {
    async fn put(
        &self,
        tenant: &str,
        connection_id: &str,
        password: &str,
    ) -> Result<String, SecretError> {
        let created = self
            .client
            .create_secret()
            .name(secret_name(tenant, connection_id))
            .secret_string(password)
            .send()
            .await
            .map_err(aws_error)?;
        created
            .arn()
            .map(str::to_owned)
            .ok_or(SecretError::AwsAnswer("ARN"))
    }

    async fn get(&self, secret_ref: &str) -> Result<String, SecretError> {
        let found = self
            .client
            .get_secret_value()
            .secret_id(secret_ref)
            .send()
            .await
            .map_err(aws_error)?;
        found
            .secret_string()
            .map(str::to_owned)
            .ok_or(SecretError::AwsAnswer("string value for the secret"))
    }

    async fn delete(&self, secret_ref: &str) -> Result<(), SecretError> {
        self.client
            .delete_secret()
            .secret_id(secret_ref)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(aws_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_secrets_round_trip_and_hide_the_password() {
        let secrets = LocalSecrets::from_key(&[7; 32]);
        let reference = secrets.put("t", "c", "hunter2").await.unwrap();
        assert!(!reference.contains("hunter2"));
        assert_eq!(secrets.get(&reference).await.unwrap(), "hunter2");
        let other_key = LocalSecrets::from_key(&[8; 32]);
        assert!(other_key.get(&reference).await.is_err());
    }

    #[test]
    fn a_new_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ksync-key-{}", uuid::Uuid::new_v4()));
        let path = dir.join("secret.key");
        let first = read_or_create_key_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_or_create_key_file(&path).unwrap(), first);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secret_names_are_valid_for_iam_callers() {
        assert_eq!(
            secret_name("arn:aws:iam::123:user/alice", "c1"),
            "kafka-sync/arn_aws_iam__123_user/alice/c1"
        );
    }
}
