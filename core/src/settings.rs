//! The settings an admin changes in the console: the venue, the session
//! length, which login methods are on, the walled garden. They are kept in
//! `settings.toml` in the data dir, read over the configuration file at
//! start (the file stays the operator's; the environment's overrides stay
//! above both). A change is checked as the whole configuration it makes
//! before it is written, and applies when the controller restarts (guests
//! online stay online across a restart).

use crate::config::{Config, ConfigError, SETTINGS_FILE};
use std::path::Path;

/// Every login method, as `[auth.*]` names them (the configuration's list).
pub use crate::config::METHODS;

/// What the settings page edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `venue.name`.
    pub venue_name: String,
    /// `venue.tagline_zh`.
    pub tagline_zh: String,
    /// `venue.tagline_en`.
    pub tagline_en: String,
    /// `venue.info_url`.
    pub info_url: String,
    /// `session.length_seconds`, in minutes.
    pub session_minutes: u64,
    /// Each of [`METHODS`]: on or off.
    pub methods: Vec<(&'static str, bool)>,
    /// `walled_garden.names`.
    pub garden: Vec<String>,
    /// `portal.first_method`: the way the login page offers first (empty: the first on).
    pub first_method: String,
}

/// Why settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A field is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The configuration they make does not check.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Settings {
    /// The settings `config` runs with.
    pub fn of(config: &Config) -> Settings {
        let a = &config.auth;
        let on = [
            a.countdown.enabled,
            a.voucher.enabled,
            a.account.enabled,
            a.counter_qr.enabled,
            a.sms.enabled,
            a.wechat.enabled,
            a.qq.enabled,
            a.weibo.enabled,
            a.card.enabled,
        ];
        Settings {
            venue_name: config.venue.name.clone(),
            tagline_zh: config.venue.tagline_zh.clone(),
            tagline_en: config.venue.tagline_en.clone(),
            info_url: config.venue.info_url.clone(),
            session_minutes: config.session.length_seconds.div_ceil(60),
            methods: METHODS.into_iter().zip(on).collect(),
            garden: config.walled_garden.names.clone(),
            first_method: config.portal.first_method.clone(),
        }
    }

    /// Checks each field on its own (the whole configuration is checked on save).
    pub fn check(&self) -> Result<(), SettingsError> {
        let bad = |m: &str| Err(SettingsError::Invalid(m.to_string()));
        let name = self.venue_name.trim();
        if name.is_empty() || name.chars().count() > 40 {
            return bad("the venue's name is 1 to 40 characters");
        }
        if self.tagline_zh.chars().count() > 60 || self.tagline_en.chars().count() > 120 {
            return bad("a tagline is 60 characters at most (English 120)");
        }
        let url = self.info_url.trim();
        let web = url.starts_with("https://") || url.starts_with("http://");
        if !(url.is_empty() || web) || url.len() > 300 {
            return bad("the venue's page is an http:// or https:// address");
        }
        if !(1..=7 * 24 * 60).contains(&self.session_minutes) {
            return bad("a session is 1 minute to 7 days");
        }
        if !self.methods.iter().any(|(_, on)| *on) {
            return bad("leave at least one login method on");
        }
        if !self.first_method.is_empty() && !METHODS.contains(&self.first_method.as_str()) {
            return bad("the first way to log in is one of the login methods");
        }
        if self.garden.len() > 200 {
            return bad("200 walled-garden names at most");
        }
        if let Some(name) = self.garden.iter().find(|n| !crate::config::valid_hostname(n)) {
            return Err(SettingsError::Invalid(format!("{name:?} is not a host name")));
        }
        if [&self.venue_name, &self.tagline_zh, &self.tagline_en].iter().any(|t| t.chars().any(char::is_control)) {
            return bad("no control characters");
        }
        Ok(())
    }

    /// The overlay file's text.
    pub fn to_toml(&self) -> String {
        let mut root = toml::Table::new();
        let mut venue = toml::Table::new();
        venue.insert("name".into(), self.venue_name.trim().into());
        venue.insert("tagline_zh".into(), self.tagline_zh.trim().into());
        venue.insert("tagline_en".into(), self.tagline_en.trim().into());
        venue.insert("info_url".into(), self.info_url.trim().into());
        root.insert("venue".into(), venue.into());
        let mut session = toml::Table::new();
        session.insert("length_seconds".into(), toml::Value::Integer((self.session_minutes * 60) as i64));
        root.insert("session".into(), session.into());
        let mut auth = toml::Table::new();
        for (method, on) in &self.methods {
            let mut t = toml::Table::new();
            t.insert("enabled".into(), (*on).into());
            auth.insert(method.to_string(), t.into());
        }
        root.insert("auth".into(), auth.into());
        let mut garden = toml::Table::new();
        garden.insert(
            "names".into(),
            self.garden.iter().map(|n| toml::Value::from(n.as_str())).collect::<Vec<_>>().into(),
        );
        root.insert("walled_garden".into(), garden.into());
        let mut portal = toml::Table::new();
        portal.insert("first_method".into(), self.first_method.as_str().into());
        root.insert("portal".into(), portal.into());
        format!(
            "# Written by the console's settings page; read over the configuration file at start.\n{}",
            toml::to_string(&root).expect("settings serialise")
        )
    }

    /// What changed from `before`, for the audit log: (before, after).
    pub fn changes(before: &Settings, after: &Settings) -> (String, String) {
        let fields = |s: &Settings| {
            let mut f = vec![
                ("venue", s.venue_name.clone()),
                ("tagline_zh", s.tagline_zh.clone()),
                ("tagline_en", s.tagline_en.clone()),
                ("info_url", s.info_url.clone()),
                ("session_minutes", s.session_minutes.to_string()),
            ];
            f.extend(s.methods.iter().map(|(m, on)| (*m, on.to_string())));
            f.push(("walled_garden", s.garden.join(" ")));
            f.push(("first_method", s.first_method.clone()));
            f
        };
        let (b, a) = (fields(before), fields(after));
        let changed: Vec<usize> = (0..b.len()).filter(|i| b[*i] != a[*i]).collect();
        let show = |f: &[(&str, String)]| {
            changed.iter().map(|i| format!("{}={}", f[*i].0, f[*i].1)).collect::<Vec<_>>().join("; ")
        };
        (show(&b), show(&a))
    }

    /// Checks the configuration these settings make over the file at
    /// `config_path` (with the process's `GUESTWIFI_*` overrides), then
    /// writes them to `data_dir` (a new file renamed over the old: a crash
    /// leaves one or the other). Returns that configuration.
    pub fn save(&self, config_path: &Path, data_dir: &Path) -> Result<Config, SettingsError> {
        self.check()?;
        let text = std::fs::read_to_string(config_path)
            .map_err(|source| ConfigError::Read { path: config_path.to_path_buf(), source })?;
        let overlay = self.to_toml();
        // Checked with headquarters' settings over them, as they will run.
        let hq = Config::overlays_in(data_dir, SETTINGS_FILE);
        let mut layers = vec![(overlay.as_str(), SETTINGS_FILE)];
        layers.extend(hq.iter().map(|(t, o)| (t.as_str(), o.as_str())));
        let config = Config::parse_layers(&text, &config_path.display().to_string(), &layers, std::env::vars())?;
        let path = data_dir.join(SETTINGS_FILE);
        let tmp = data_dir.join(format!("{SETTINGS_FILE}.new"));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file =
                std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o640).open(&tmp)?;
            file.write_all(overlay.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|source| SettingsError::Write { path: path.clone(), source })?;
        tracing::info!(path = %path.display(), "settings saved; they apply at the next start");
        Ok(config)
    }

    /// The settings saved in `data_dir` that the running configuration
    /// does not have yet (a restart is pending), if any.
    pub fn pending(running: &Config) -> Option<Settings> {
        let path = running.source.as_ref()?;
        let saved = Config::load(path, std::env::vars()).ok()?;
        let saved = Settings::of(&saved);
        (saved != Settings::of(running)).then_some(saved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../image/controller.example.toml");

    #[test]
    fn saved_settings_are_read_over_the_file_and_the_environment_stays_above_them() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let text = EXAMPLE.replace("/var/lib/guestwifi", &data.display().to_string());
        let path = dir.path().join("controller.toml");
        std::fs::write(&path, &text).unwrap();
        let config = Config::load(&path, Vec::new()).unwrap();
        let mut settings = Settings::of(&config);
        settings.venue_name = "川味小馆 · 二店".into();
        settings.session_minutes = 90;
        settings.garden = vec!["menu.example.cn".into()];
        settings.methods.iter_mut().for_each(|(m, on)| *on = *m == "countdown" || *m == "voucher");
        let made = settings.save(&path, &data).unwrap();
        assert_eq!(made.session.length_seconds, 5400);
        let again = Config::load(&path, Vec::new()).unwrap();
        assert_eq!(Settings::of(&again), settings, "read back over the file");
        assert!(again.auth.voucher.enabled && !again.auth.account.enabled);
        let pinned = Config::load(&path, vec![("GUESTWIFI_VENUE__NAME".into(), "Env".into())]).unwrap();
        assert_eq!(pinned.venue.name, "Env", "the environment is above the console");

        // Refused: nothing written.
        let before = std::fs::read_to_string(data.join(SETTINGS_FILE)).unwrap();
        for bad in [
            Settings { venue_name: " ".into(), ..settings.clone() },
            Settings { session_minutes: 0, ..settings.clone() },
            Settings { garden: vec!["bad name;rm -rf".into()], ..settings.clone() },
            Settings { info_url: "javascript:alert(1)".into(), ..settings.clone() },
            Settings { methods: settings.methods.iter().map(|(m, _)| (*m, false)).collect(), ..settings.clone() },
        ] {
            assert!(matches!(bad.save(&path, &data), Err(SettingsError::Invalid(_))), "{bad:?}");
        }
        assert_eq!(std::fs::read_to_string(data.join(SETTINGS_FILE)).unwrap(), before);
        let (b, a) = Settings::changes(&Settings::of(&config), &settings);
        assert!(b.contains("session_minutes=") && a.contains("session_minutes=90") && !a.contains("tagline"));
    }
}
