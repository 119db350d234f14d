//! Randomness for identifiers and secrets (the OS generator).

/// `N` random bytes from the operating system.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    buf
}

/// A random string of `len` characters from `alphabet`.
pub fn string(len: usize, alphabet: &[u8]) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in bytes::<32>() {
            // Rejection sampling keeps the distribution uniform.
            let limit = 256 - (256 % alphabet.len());
            if usize::from(b) < limit && out.len() < len {
                out.push(alphabet[usize::from(b) % alphabet.len()] as char);
            }
        }
    }
    out
}

pub const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// An access key id: `prefix` then upper-case letters and digits, 20 characters in all.
pub fn access_key_id(prefix: &str) -> String {
    format!("{prefix}{}", string(20 - prefix.len(), UPPER_ALNUM))
}

/// A 40-character secret access key.
pub fn secret_key() -> String {
    string(40, SECRET_ALPHABET)
}

pub fn deployment_id() -> String {
    ferry_core::ids::deployment_id(bytes())
}

pub fn uuid() -> String {
    ferry_core::ids::uuid_v4(bytes())
}
