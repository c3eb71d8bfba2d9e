//! The settings headquarters manages for its sites: the login methods, the
//! session's length, each method's time and bandwidth, the walled garden,
//! the consent text's version and the welcome coupon. A bundle carries them
//! as dotted keys (`auth.sms.enabled`); the site writes them as
//! `hq-settings.toml`, read over its own settings, after checking the whole
//! configuration they make.

use std::collections::BTreeMap;

/// The bundle block that holds them.
pub const BLOCK: &str = "settings";

/// Whether HQ may manage `key` (a dotted path into the configuration).
pub fn managed(key: &str) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        ["session", "length_seconds" | "idle_timeout_seconds"] => true,
        ["auth", method, "enabled" | "session_minutes" | "down_kbps" | "up_kbps"] => {
            crate::settings::METHODS.contains(method)
        }
        ["walled_garden", "names"] => true,
        ["members", "consent_version"] => true,
        ["members", "welcome_coupon", field] => {
            matches!(*field, "enabled" | "rule" | "kind" | "value_cents" | "valid_days" | "text_zh" | "text_en")
        }
        _ => false,
    }
}

/// The dotted keys headquarters manages at this site now: those of the
/// `hq-settings.toml` its last bundle wrote in `data_dir` (none without one).
pub fn managed_here(data_dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    fn walk(prefix: &str, table: &toml::Table, out: &mut std::collections::BTreeSet<String>) {
        for (k, v) in table {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                toml::Value::Table(t) => walk(&key, t, out),
                _ => {
                    out.insert(key);
                }
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    let path = data_dir.join(crate::config::HQ_SETTINGS_FILE);
    if let Some(table) = std::fs::read_to_string(path).ok().and_then(|t| t.parse::<toml::Table>().ok()) {
        walk("", &table, &mut out);
    }
    out
}

fn value(key: &str, v: &serde_json::Value) -> Result<toml::Value, String> {
    Ok(match v {
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => {
            toml::Value::Integer(n.as_i64().filter(|n| *n >= 0).ok_or_else(|| format!("{key}: a whole number"))?)
        }
        serde_json::Value::String(s) if s.len() <= 1000 => toml::Value::String(s.clone()),
        serde_json::Value::Array(items) if items.len() <= 200 => {
            toml::Value::Array(items.iter().map(|i| value(key, i)).collect::<Result<_, _>>()?)
        }
        _ => return Err(format!("{key}: not a value a setting takes")),
    })
}

/// The settings as the TOML overlay the site reads; refuses a key HQ may
/// not manage or a value no setting takes.
pub fn to_toml(settings: &BTreeMap<String, serde_json::Value>) -> Result<String, String> {
    let mut root = toml::Table::new();
    for (key, v) in settings {
        if !managed(key) {
            return Err(format!("{key}: not a setting headquarters manages"));
        }
        let parts: Vec<&str> = key.split('.').collect();
        let (last, sections) = parts.split_last().expect("a managed key has parts");
        let mut table = &mut root;
        for section in sections {
            table = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .expect("sections are tables");
        }
        table.insert(last.to_string(), value(key, v)?);
    }
    Ok(format!(
        "# Managed by headquarters (its bundle); the console's settings are read under these.\n{}",
        toml::to_string(&root).expect("a table serialises")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_managed_keys_go_in_and_they_read_as_the_configuration_s() {
        let settings: BTreeMap<String, serde_json::Value> = serde_json::from_str(
            r#"{"auth.sms.enabled": true, "session.length_seconds": 7200, "walled_garden.names": ["menu.example.com"]}"#,
        )
        .unwrap();
        let text = to_toml(&settings).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(table["auth"]["sms"]["enabled"].as_bool(), Some(true));
        assert_eq!(table["session"]["length_seconds"].as_integer(), Some(7200));
        for key in ["network.guest_interface", "auth.sms.gateway", "auth.nope.enabled", "admin.token_file"] {
            let one = BTreeMap::from([(key.to_string(), serde_json::json!("x"))]);
            assert!(to_toml(&one).is_err(), "{key} is the site's own");
        }
    }
}
