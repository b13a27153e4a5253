//! Where a store lives, parsed once from what the CLI or the environment says.

use std::convert::Infallible;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use super::backend::Backend;
use super::{Result, Store, dynamodb, embedded};

const DYNAMODB_SCHEME: &str = "dynamodb://";

/// `dynamodb://TABLE`, or else the path of an embedded database file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// A DynamoDB table (DynamoDB Local when `DYNAMODB_ENDPOINT` is set). Shared by
    /// every process that names it, so its leases may be another process's.
    DynamoDb { table: String },
    /// An embedded database file, which only the process that opened it uses.
    Embedded(PathBuf),
}

impl StoreLocation {
    /// Whether this process is the store's only user, so any lease in it is a dead
    /// process's.
    pub fn is_private(&self) -> bool {
        matches!(self, Self::Embedded(_))
    }

    pub async fn open(&self) -> Result<Store> {
        let backend: Arc<dyn Backend> = match self {
            Self::DynamoDb { table } => {
                let client = dynamodb::DynamoBackend::client_from_env().await;
                Arc::new(dynamodb::DynamoBackend::connect(client, table).await?)
            }
            Self::Embedded(path) => Arc::new(embedded::EmbeddedBackend::open(path)?),
        };
        Ok(Store::new(backend))
    }
}

impl FromStr for StoreLocation {
    type Err = Infallible;

    fn from_str(location: &str) -> std::result::Result<Self, Infallible> {
        Ok(match location.strip_prefix(DYNAMODB_SCHEME) {
            Some(table) => Self::DynamoDb {
                table: table.to_owned(),
            },
            None => Self::Embedded(PathBuf::from(location)),
        })
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DynamoDb { table } => write!(f, "{DYNAMODB_SCHEME}{table}"),
            Self::Embedded(path) => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_a_table_or_a_file_and_prints_as_it_was_given() {
        for (given, parsed) in [
            (
                "dynamodb://ksync",
                StoreLocation::DynamoDb {
                    table: "ksync".into(),
                },
            ),
            (
                "/var/lib/ks/store.redb",
                StoreLocation::Embedded("/var/lib/ks/store.redb".into()),
            ),
        ] {
            let location: StoreLocation = given.parse().unwrap();
            assert_eq!(location, parsed);
            assert_eq!(location.to_string(), given);
        }
        assert!(
            !"dynamodb://t"
                .parse::<StoreLocation>()
                .unwrap()
                .is_private()
        );
    }
}
