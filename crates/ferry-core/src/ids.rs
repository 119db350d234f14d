//! Identifiers in CodeDeploy's forms, so the AWS API can expose them unchanged.

const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A deployment id: `d-` and nine characters from `[A-Z0-9]`, from random bytes.
pub fn deployment_id(random: [u8; 9]) -> String {
    let mut id = String::with_capacity(11);
    id.push_str("d-");
    id.extend(random.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char));
    id
}

/// True for ids of the form `d-XXXXXXXXX`.
pub fn is_deployment_id(id: &str) -> bool {
    id.len() == 11 && id.starts_with("d-") && id[2..].bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A UUID (version 4) from 16 random bytes, for application, group and config ids.
pub fn uuid_v4(mut random: [u8; 16]) -> String {
    random[6] = (random[6] & 0x0f) | 0x40;
    random[8] = (random[8] & 0x3f) | 0x80;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// CodeDeploy's resource-name rule: 1–100 characters of `[A-Za-z0-9+=,.@_-]`.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 100 {
        return Err(format!("name must be 1 to 100 characters long (got {})", name.len()));
    }
    match name.chars().find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))) {
        Some(c) => Err(format!("name {name:?} contains {c:?}; allowed are letters, digits and +=,.@_-")),
        None if is_dot_name(name) => Err(format!("{name:?} cannot be a name (URLs and paths could not reach it)")),
        None => Ok(()),
    }
}

/// `.` and `..`: allowed by CodeDeploy's character rule, but a URL path or
/// a file path cannot name them, so ferry refuses them everywhere.
pub fn is_dot_name(name: &str) -> bool {
    name == "." || name == ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_ids_have_codedeploys_form() {
        let id = deployment_id([0, 1, 25, 26, 35, 36, 255, 7, 8]);
        assert_eq!(id, "d-ABZ09ADHI");
        assert!(is_deployment_id(&id));
        assert!(!is_deployment_id("d-abc"));
        assert!(!is_deployment_id("d-ABCDEFGHi"));
    }

    #[test]
    fn uuids_are_version_4() {
        let id = uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    }

    #[test]
    fn names() {
        assert!(validate_name("my-app_1.0@x").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name(&"a".repeat(101)).is_err());
        assert!(validate_name(".").is_err());
        assert!(validate_name("..").is_err());
        assert!(validate_name("...").is_ok());
    }
}
