//! Lower-case hex, as keys, digests and signatures travel in messages and
//! config files.

/// Bytes as lower-case hex.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex (either case) as bytes; None if it is not whole hex bytes.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_refuses_odd_or_foreign_input() {
        assert_eq!(super::encode(&[0x0a, 0xff]), "0aff");
        assert_eq!(super::decode("0AfF"), Some(vec![0x0a, 0xff]));
        assert_eq!(super::decode("abc"), None);
        assert_eq!(super::decode("zz"), None);
        assert_eq!(super::decode("é0"), None);
    }
}
