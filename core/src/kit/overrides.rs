//! Configuration overrides from the environment, the same for every binary
//! of ours: `PREFIX_SECTION__KEY=value` (deeper: `PREFIX_A__B__KEY`), the
//! value read as TOML when it parses as TOML, else as a plain string.

/// Puts each of `env`'s `prefix`ed variables into `root`, except those in
/// `skip` (one ending in `_` skips every variable it starts); an error names
/// the variable.
pub fn apply(
    root: &mut toml::Table,
    prefix: &str,
    skip: &[&str],
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), (String, String)> {
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        if skip.iter().any(|s| name == *s || (s.ends_with('_') && name.starts_with(s))) {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let [sections @ .., key] = path.as_slice() else { unreachable!("split yields one part at least") };
        if sections.is_empty() || path.iter().any(String::is_empty) {
            return Err((name, format!("expected {prefix}<SECTION>__<KEY>")));
        }
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value));
        let mut table = &mut *root;
        for section in sections {
            table = match table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
            {
                Some(t) => t,
                None => return Err((name, format!("`{section}` is not a section"))),
            };
        }
        table.insert(key.clone(), parsed);
    }
    Ok(())
}
