//! The naming rule shared by connections and tasks (DESIGN §3): letters, digits, `_`,
//! `-` and `.`, at most 128 characters.

use crate::validation::FieldError;

pub const MAX_NAME_CHARS: usize = 128;

/// The rule of [`validate_name`] as a regular expression, for the OpenAPI document.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9_.-]{1,128}$";

pub fn validate_name(field: &str, name: &str) -> Result<(), FieldError> {
    if name.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(FieldError::new(
            field,
            format!("may hold only letters, digits, '_', '-' and '.'; found {bad:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_charset_and_length_rule() {
        assert!(validate_name("name", "dr-east_1.a").is_ok());
        assert!(validate_name("name", &"a".repeat(128)).is_ok());
        assert!(validate_name("name", &"a".repeat(129)).is_err());
        assert!(validate_name("name", "").is_err());
        assert_eq!(
            validate_name("name", "a b").unwrap_err().field,
            "name".to_string()
        );
        assert!(validate_name("name", "é").is_err());
    }
}
