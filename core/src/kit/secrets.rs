//! Secrets on disk and in memory: files only their owner reads, compared in
//! constant time, and the random codes people type and scan.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A secret file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}")]
pub struct SecretError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Writes a secret file readable by its owner only.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), SecretError> {
    // Written beside the target and renamed over it: a crash never leaves half a key.
    let err = |source| SecretError { path: path.to_path_buf(), source };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(err)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Whether `given` is `secret`, compared in constant time (a token or key
/// cannot be guessed byte by byte from how long a refusal takes).
pub fn same_secret(given: &str, secret: &str) -> bool {
    given.len() == secret.len() && given.bytes().zip(secret.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A secret file's text, trimmed; a file others can read is refused (a
/// secret that leaked is no secret to fix by chmod afterwards).
pub fn read_private(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!("{} is readable by others: make it mode 0600", path.display()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(text)
}

/// Codes people type and scan: no 0/O, 1/I/L; 31 symbols, ~4.95 bits each.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A random code of `len` symbols from [`CODE_ALPHABET`] (CSPRNG, no bias).
pub fn random_code(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
}

/// A typed code as stored: upper case, spaces and dashes dropped. None when
/// it holds anything not in the alphabet (it cannot be a code of ours).
pub fn normalize_code(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    (!code.is_empty() && code.len() <= 32 && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_typeable_and_typing_is_forgiving() {
        let code = random_code(10);
        assert_eq!(code.len(), 10);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        assert_eq!(normalize_code(" ab2c-d3ef "), Some("AB2CD3EF".into()));
        assert_eq!(normalize_code("AB0C"), None, "0 is never in a code");
        assert_eq!(normalize_code("'; DROP"), None);
        assert_eq!(normalize_code(""), None);
    }

    #[test]
    fn ten_symbols_carry_at_least_40_bits() {
        let bits = 10.0 * (CODE_ALPHABET.len() as f64).log2();
        assert!(bits >= 40.0, "{bits}");
    }
}
