//! Kernel command line parsing: whitespace-separated `key=value` or bare `word` tokens, as
//! Linux and kvm-unit-tests pass them. Keys used by the runtime and the runner start `gtest.`.

/// The value of the last `key=value` token for `key`, if any.
pub fn get<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    tokens(cmdline)
        .filter_map(|token| token.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, value)| value)
        .last()
}

/// Whether `word` appears as a bare token or as the key of a `key=value` token.
pub fn has(cmdline: &str, word: &str) -> bool {
    tokens(cmdline)
        .any(|token| token == word || token.split_once('=').is_some_and(|(k, _)| k == word))
}

/// The whitespace-separated tokens.
pub fn tokens(cmdline: &str) -> impl Iterator<Item = &str> {
    cmdline.split_ascii_whitespace()
}

/// Parses a decimal `u64` value of `key`.
pub fn get_u64(cmdline: &str, key: &str) -> Option<u64> {
    get(cmdline, key)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_returns_last_value_of_key() {
        let cmdline = "console=ttyS0 gtest.nonce=abc quiet gtest.nonce=def";
        assert_eq!(get(cmdline, "gtest.nonce"), Some("def"));
    }

    #[test]
    fn get_ignores_bare_words_and_prefix_matches() {
        assert_eq!(get("gtest gtest.cpusx=3", "gtest.cpus"), None);
    }

    #[test]
    fn has_matches_words_and_keys() {
        assert!(has("quiet a=b", "quiet"));
        assert!(has("quiet a=b", "a"));
        assert!(!has("quiet a=b", "b"));
    }

    #[test]
    fn get_u64_parses_decimal() {
        assert_eq!(get_u64("gtest.cpus=2", "gtest.cpus"), Some(2));
        assert_eq!(get_u64("gtest.cpus=two", "gtest.cpus"), None);
    }
}
