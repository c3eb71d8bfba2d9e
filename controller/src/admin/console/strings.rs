//! Every string a console page shows, zh-CN and English, read once from
//! `console-templates/i18n/`.

use crate::portal::i18n::Lang;
use serde::Deserialize;
use std::sync::LazyLock;

/// Every string a console page shows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Strings {
    pub lang: String,
    pub switch_to: String,
    pub switch_label: String,
    pub console: String,
    pub nav_dashboard: String,
    pub nav_guests: String,
    pub nav_vouchers: String,
    pub nav_users: String,
    pub nav_audit: String,
    pub logout: String,
    pub back: String,
    pub setup_title: String,
    pub setup_hint: String,
    pub setup_code: String,
    pub setup_button: String,
    pub setup_done: String,
    pub username: String,
    pub password: String,
    pub login_title: String,
    pub login_button: String,
    pub guests_online: String,
    pub aps_online: String,
    pub feed_waiting: String,
    pub recent_logins: String,
    pub when: String,
    pub method: String,
    pub identity: String,
    pub outcome: String,
    pub search: String,
    pub search_hint: String,
    pub minutes_left: String,
    pub kick: String,
    pub kicked: String,
    pub none: String,
    pub voucher_count: String,
    pub voucher_chain_title: String,
    pub voucher_chain_hint: String,
    pub voucher_chain_scope: String,
    pub voucher_chain_valid: String,
    pub voucher_chain_offline: String,
    pub voucher_chain_hours: String,
    pub voucher_chain_revoked: String,
    pub voucher_chain_brand: String,
    pub voucher_chain_region: String,
    pub voucher_chain_site: String,
    pub voucher_hours: String,
    pub voucher_valid_days: String,
    pub voucher_devices: String,
    pub voucher_note: String,
    pub voucher_create: String,
    pub voucher_created: String,
    pub voucher_batches: String,
    pub voucher_batch: String,
    pub voucher_cards: String,
    pub voucher_used: String,
    pub voucher_print: String,
    pub voucher_revoke: String,
    pub voucher_revoked: String,
    pub nav_forbidden: String,
    pub forbidden_body: String,
    pub csrf_title: String,
    pub csrf_body: String,
    pub wrong_credentials: String,
    pub locked_out: String,
    pub setup_wrong: String,
    pub error_title: String,
    pub error_body: String,
    pub bad_input: String,
    pub role: String,
    pub role_admin: String,
    pub role_marketer: String,
    pub role_frontdesk: String,
    pub role_officer: String,
    pub user_create: String,
    pub user_created: String,
    pub disable: String,
    pub disabled: String,
    pub audit_filter: String,
    pub action: String,
    pub target: String,
    pub before: String,
    pub after: String,
    pub from: String,
    pub nav_members: String,
    pub member_search_hint: String,
    pub member_tier: String,
    pub member_balance: String,
    pub member_points: String,
    pub member_visits: String,
    pub member_card: String,
    pub member_state: String,
    pub card_active: String,
    pub card_frozen: String,
    pub card_lost: String,
    pub member_not_found: String,
    pub card_changed: String,
    pub nav_marketing: String,
    pub sent_twice: String,
    pub stats_per_ap: String,
    pub method_countdown: String,
    pub method_voucher: String,
    pub method_account: String,
    pub method_counter_qr: String,
    pub method_sms: String,
    pub method_wechat: String,
    pub method_weibo: String,
    pub method_card: String,
    pub nav_settings: String,
    pub settings_venue: String,
    pub settings_tagline: String,
    pub settings_info_url: String,
    pub settings_session: String,
    pub settings_methods: String,
    pub settings_garden: String,
    pub settings_garden_hint: String,
    pub settings_saved: String,
    pub settings_restarting: String,
    pub nav_hq: String,
    pub hq_url: String,
    pub hq_site: String,
    pub hq_ca: String,
    pub hq_code: String,
    pub hq_join: String,
    pub hq_join_hint: String,
    pub hq_joined: String,
    pub hq_joined_restarting: String,
    pub hq_join_refused: String,
    pub hq_standalone: String,
    pub hq_reachable: String,
    pub hq_unreachable_since: String,
    pub hq_heartbeat: String,
    pub hq_bundle: String,
    pub hq_refused: String,
    pub hq_not_in_use: String,
    pub settings_pending: String,
    pub settings_pinned: String,
    pub settings_readonly: String,
    pub nav_ssids: String,
    pub nav_plan: String,
    pub nav_firmware: String,
    pub ssid_hint: String,
    pub ssid_name: String,
    pub ssid_security: String,
    pub ssid_open: String,
    pub ssid_key: String,
    pub ssid_bands: String,
    pub ssid_flags: String,
    pub ssid_hidden: String,
    pub ssid_isolation: String,
    pub ssid_portal: String,
    pub ssid_put: String,
    pub ssid_saved: String,
    pub plan_hint: String,
    pub plan_now: String,
    pub plan_applied: String,
    pub plan_radio: String,
    pub plan_channel: String,
    pub plan_power: String,
    pub plan_why: String,
    pub plan_heard: String,
    pub plan_shares: String,
    pub firmware_upload: String,
    pub firmware_version: String,
    pub firmware_image: String,
    pub firmware_signature: String,
    pub firmware_accepted: String,
    pub rollout_title: String,
    pub rollout_upgraded: String,
    pub rollout_remaining: String,
    pub rollout_halt: String,
    pub rollout_halted: String,
    pub rollout_start: String,
    pub rollout_started: String,
    pub rollout_downgrade: String,
    pub too_large: String,
    pub added: String,
    pub saved: String,
    pub brand_title: String,
    pub member_day: String,
    pub save: String,
    pub promotions_title: String,
    pub products_title: String,
    pub ad_title: String,
    pub landing_title: String,
    pub preview_title: String,
    pub unpublished: String,
    pub version_shows: String,
    pub dishes_draft: String,
    pub remove: String,
    pub publish: String,
    pub published: String,
    pub versions: String,
    pub dishes_count: String,
    pub rollback: String,
    pub empty_page: String,
    pub upload_refused: String,
    pub nav_stats: String,
    pub stats_from: String,
    pub stats_to: String,
    pub stats_views: String,
    pub stats_logins: String,
    pub stats_conversion: String,
    pub stats_new: String,
    pub stats_returning: String,
    pub stats_dwell: String,
    pub stats_peak: String,
    pub stats_by_day: String,
    pub stats_by_hour: String,
    pub stats_by_method: String,
    pub stats_guests: String,
    pub stats_refusals: String,
    pub stats_top: String,
    pub stats_bad_range: String,
    pub nav_aps: String,
    pub ac_off: String,
    pub ap_device: String,
    pub ap_model: String,
    pub ap_firmware: String,
    pub ap_clients: String,
    pub ap_fingerprint: String,
    pub ap_fingerprint_hint: String,
    pub ap_adopt: String,
    pub ap_online: String,
    pub ap_adopted: String,
    pub nav_tokens: String,
    pub tokens_hint: String,
    pub token_once: String,
    pub token_name: String,
    pub token_used: String,
    pub token_create: String,
    pub nav_accounts: String,
    pub account_created: String,
    pub account_id_number: String,
    pub account_passport: String,
    pub account_name: String,
    pub account_id_last4: String,
    pub account_create: String,
    pub managed_by_hq: String,
    pub own_offered: String,
    pub own_use: String,
    pub own_in_use: String,
    pub own_back_to_hq: String,
    pub managed_badge: String,
    pub draft_changed: String,
    pub settings_hq_managed: String,
    pub group_desk: String,
    pub group_marketing: String,
    pub group_network: String,
    pub group_people: String,
    pub my_tokens: String,
    pub event_portal_view: String,
    pub event_promotion_impression: String,
    pub event_promotion_click: String,
    pub event_ad_impression: String,
    pub event_ad_click: String,
    pub event_dish_impression: String,
    pub event_menu_view: String,
    pub outcome_login: String,
    pub outcome_refused: String,
    pub ago_now: String,
    pub ago_seconds: String,
    pub ago_minutes: String,
    pub ago_hours: String,
    pub ago_days: String,
    pub version_counts: String,
    pub version_ad: String,
    pub version_rollback: String,
    pub settings_first_method: String,
    pub settings_first_auto: String,
    pub settings_first_hint: String,
    pub glance_now: String,
    pub glance_guests_today: String,
    pub glance_logins_today: String,
    pub glance_vs_last_week: String,
    pub glance_methods: String,
    pub attention_title: String,
    pub attention_none: String,
    pub attention_ap_offline: String,
    pub attention_hq_unreachable: String,
    pub attention_bundle_refused: String,
    pub attention_feed_lag: String,
    pub attention_sms_budget: String,
    pub for_minutes: String,
    pub for_hours: String,
}

static ZH: LazyLock<Strings> = LazyLock::new(|| {
    toml::from_str(include_str!("../../../../console-templates/i18n/zh-CN.toml")).expect("zh-CN strings")
});
static EN: LazyLock<Strings> =
    LazyLock::new(|| toml::from_str(include_str!("../../../../console-templates/i18n/en.toml")).expect("en strings"));

impl Strings {
    /// A role in words.
    pub fn role_name<'a>(&'a self, role: &'a str) -> &'a str {
        match role {
            "admin" => &self.role_admin,
            "marketer" => &self.role_marketer,
            "frontdesk" => &self.role_frontdesk,
            "officer" => &self.role_officer,
            other => other,
        }
    }

    /// A login method in words.
    pub fn method_name<'a>(&'a self, method: &'a str) -> &'a str {
        match method {
            "countdown" => &self.method_countdown,
            "voucher" => &self.method_voucher,
            "account" => &self.method_account,
            "counter_qr" | "counter" => &self.method_counter_qr,
            "sms" => &self.method_sms,
            "wechat" => &self.method_wechat,
            "qq" => "QQ",
            "weibo" => &self.method_weibo,
            "card" => &self.method_card,
            other => other,
        }
    }

    /// A portal event's kind in words.
    pub fn event_name<'a>(&'a self, kind: &'a str) -> &'a str {
        match kind {
            "portal_view" => &self.event_portal_view,
            "promotion_impression" => &self.event_promotion_impression,
            "promotion_click" => &self.event_promotion_click,
            "ad_impression" => &self.event_ad_impression,
            "ad_click" => &self.event_ad_click,
            "dish_impression" => &self.event_dish_impression,
            "menu_view" => &self.event_menu_view,
            other => other,
        }
    }

    /// A login's outcome in words (a refusal's reason stays as it is told).
    pub fn outcome_name<'a>(&'a self, outcome: &'a str) -> &'a str {
        match outcome {
            "login" => &self.outcome_login,
            "refused" => &self.outcome_refused,
            other => other,
        }
    }

    /// How long ago a UTC ms time was, in words.
    pub fn ago(&self, at_ms: i64) -> String {
        let secs = (crate::kit::time::now_ms() - at_ms).max(0) / 1000;
        let (text, n) = match secs {
            0..=4 => return self.ago_now.clone(),
            5..=59 => (&self.ago_seconds, secs),
            60..=3599 => (&self.ago_minutes, secs / 60),
            3600..=86_399 => (&self.ago_hours, secs / 3600),
            _ => (&self.ago_days, secs / 86_400),
        };
        text.replace("{n}", &n.to_string())
    }

    /// A length of time in words (minutes up to two hours, then hours).
    pub fn duration(&self, ms: i64) -> String {
        let minutes = ms.max(0) / 60_000;
        match minutes {
            0..=119 => self.for_minutes.replace("{n}", &minutes.to_string()),
            _ => self.for_hours.replace("{n}", &(minutes / 60).to_string()),
        }
    }

    /// What a published version shows, counted, in words.
    pub fn version_summary(&self, v: &crate::marketing::Version) -> String {
        let mut text = self
            .version_counts
            .replace("{dishes}", &v.counts[0].to_string())
            .replace("{promotions}", &v.counts[1].to_string())
            .replace("{products}", &v.counts[2].to_string());
        if v.ad {
            text.push_str(&self.version_ad);
        }
        if let Some(n) = v.note.strip_prefix("rollback to ") {
            text.push_str(&self.version_rollback.replace("{n}", n));
        }
        text
    }
}

pub fn strings(lang: Lang) -> &'static Strings {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}
