//! Every string an HQ console page shows, zh-CN and English, read once
//! from `console-templates/i18n/hq.*.toml`; codes (roles, scopes, states)
//! become words here.

use crate::staff::Role;
use guestwifi_core::hq::protocol::Scope;
use serde::Deserialize;
use std::sync::LazyLock;

/// Every string an HQ console page shows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Strings {
    pub lang: String,
    pub switch_to: String,
    pub switch_label: String,
    pub title: String,
    pub nav_overview: String,
    pub nav_sites: String,
    pub nav_people: String,
    pub nav_audit: String,
    pub nav_stats: String,
    pub account_title: String,
    pub account_recovery_hint: String,
    pub account_recovery_new: String,
    pub source_site_instead: String,
    pub own_allowed: String,
    pub own_not_allowed: String,
    pub own_allow: String,
    pub own_forbid: String,
    pub nav_vouchers: String,
    pub vouchers_title: String,
    pub vouchers_intro: String,
    pub vouchers_new: String,
    pub vouchers_scope: String,
    pub vouchers_count: String,
    pub vouchers_hours_label: String,
    pub vouchers_valid_days: String,
    pub vouchers_devices: String,
    pub vouchers_offline_hours: String,
    pub vouchers_offline_hint: String,
    pub vouchers_note: String,
    pub vouchers_make: String,
    pub vouchers_batches: String,
    pub vouchers_none: String,
    pub vouchers_batch: String,
    pub vouchers_used: String,
    pub vouchers_over: String,
    pub vouchers_each: String,
    pub vouchers_first_use_by: String,
    pub vouchers_devices_n: String,
    pub vouchers_cards_revoked: String,
    pub vouchers_print: String,
    pub vouchers_code: String,
    pub vouchers_revoke_card: String,
    pub vouchers_revoke_batch: String,
    pub vouchers_cards: String,
    pub vouchers_first_used: String,
    pub vouchers_sites: String,
    pub vouchers_devices_used: String,
    pub vouchers_print_hint: String,
    pub vouchers_card_title: String,
    pub vouchers_card_how: String,
    pub vouchers_window: String,
    pub vouchers_revoked: String,
    pub vouchers_min: String,
    pub vouchers_hours: String,
    pub vouchers_not_a_number: String,
    pub vouchers_pick_scope: String,
    pub vouchers_state_revoked: String,
    pub vouchers_state_active: String,
    pub vouchers_state_used_up: String,
    pub vouchers_state_expired: String,
    pub vouchers_state_unused: String,
    pub stats_title: String,
    pub stats_bad_range: String,
    pub stats_minutes: String,
    pub stats_scope: String,
    pub stats_from: String,
    pub stats_to: String,
    pub stats_show: String,
    pub stats_today: String,
    pub stats_last7: String,
    pub stats_last30: String,
    pub stats_last365: String,
    pub stats_guests: String,
    pub stats_guests_hint: String,
    pub stats_new: String,
    pub stats_elsewhere: String,
    pub stats_returning: String,
    pub stats_returning_share: String,
    pub stats_logins: String,
    pub stats_views: String,
    pub stats_conversion: String,
    pub stats_dwell: String,
    pub stats_refusals: String,
    pub stats_by_day: String,
    pub stats_by_hour: String,
    pub stats_by_method: String,
    pub stats_dwell_buckets: String,
    pub stats_footfall: String,
    pub stats_footfall_hint: String,
    pub stats_zone: String,
    pub stats_heat: String,
    pub stats_moves: String,
    pub stats_no_zones: String,
    pub stats_visits: String,
    pub stats_promotions: String,
    pub stats_ads: String,
    pub stats_dishes: String,
    pub stats_shown: String,
    pub stats_taps: String,
    pub stats_rate: String,
    pub stats_days_table: String,
    pub stats_compare: String,
    pub stats_compare_hint: String,
    pub stats_region: String,
    pub stats_site: String,
    pub stats_none: String,
    pub stats_promotion_title: String,
    pub stats_total: String,
    pub group_chain: String,
    pub group_people: String,
    pub logout: String,
    pub username: String,
    pub password: String,
    pub login_title: String,
    pub login_button: String,
    pub wrong_credentials: String,
    pub locked_out: String,
    pub second_title: String,
    pub second_hint: String,
    pub code: String,
    pub second_button: String,
    pub wrong_code: String,
    pub enrol_title: String,
    pub enrol_hint: String,
    pub enrol_secret: String,
    pub enrol_button: String,
    pub recovery_title: String,
    pub recovery_hint: String,
    pub go_on: String,
    pub expired_title: String,
    pub expired_body: String,
    pub csrf_title: String,
    pub csrf_body: String,
    pub forbidden_title: String,
    pub forbidden_body: String,
    pub not_found: String,
    pub error_title: String,
    pub error_body: String,
    pub bad_input: String,
    pub scope_label: String,
    pub sites_total: String,
    pub sites_online: String,
    pub sites_offline: String,
    pub guests_online: String,
    pub aps_online: String,
    pub facts_waiting: String,
    pub alerts: String,
    pub no_alerts: String,
    pub filter_region: String,
    pub filter_state: String,
    pub all: String,
    pub filter_button: String,
    pub alerting: String,
    pub state_online: String,
    pub state_offline: String,
    pub state_pending: String,
    pub state_revoked: String,
    pub site: String,
    pub region: String,
    pub state: String,
    pub last_heartbeat: String,
    pub software: String,
    pub bundle: String,
    pub bundle_current: String,
    pub bundle_behind: String,
    pub bundle_refused: String,
    pub bundle_none: String,
    pub guests: String,
    pub aps: String,
    pub backlog: String,
    pub lag: String,
    pub never: String,
    pub alert_offline: String,
    pub alert_bundle_refused: String,
    pub alert_feed_lag: String,
    pub history: String,
    pub at: String,
    pub no_sites: String,
    pub people_title: String,
    pub role: String,
    pub scope: String,
    pub second_factor: String,
    pub enrolled: String,
    pub not_enrolled: String,
    pub locked: String,
    pub disabled: String,
    pub active: String,
    pub created: String,
    pub add_person: String,
    pub add_button: String,
    pub added: String,
    pub disable: String,
    pub reset_second_factor: String,
    pub done: String,
    pub role_owner: String,
    pub role_admin: String,
    pub role_marketer: String,
    pub role_analyst: String,
    pub role_compliance: String,
    pub role_site_manager: String,
    pub scope_brand: String,
    pub scope_region: String,
    pub scope_site: String,
    pub audit_title: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: String,
    pub after: String,
    pub address: String,
    pub ago_seconds: String,
    pub ago_minutes: String,
    pub ago_hours: String,
    pub ago_days: String,
    pub for_seconds: String,
    pub for_minutes: String,
    pub for_hours: String,
    pub for_days: String,
    pub action_sign_in: String,
    pub action_sign_out: String,
    pub action_enrol: String,
    pub action_person_add: String,
    pub action_person_disable: String,
    pub action_person_reset: String,
    pub action_content_publish: String,
    pub action_content_revert: String,
    pub action_rollout_start: String,
    pub action_rollout_step: String,
    pub action_rollout_halt: String,
    pub nav_content: String,
    pub group_marketing: String,
    pub content_title: String,
    pub block: String,
    pub show: String,
    pub block_brand: String,
    pub block_dishes: String,
    pub block_promotions: String,
    pub block_products: String,
    pub block_ad: String,
    pub block_landing: String,
    pub block_settings: String,
    pub source: String,
    pub source_own: String,
    pub version: String,
    pub published: String,
    pub at_this_scope: String,
    pub none_here: String,
    pub value_json: String,
    pub group_compliance: String,
    pub nav_access_logs: String,
    pub access_logs_hint: String,
    pub access_log_checked: String,
    pub access_log_rows: String,
    pub access_log_chain: String,
    pub access_log_holds: String,
    pub access_log_broken: String,
    pub access_log_unknown: String,
    pub access_log_digest: String,
    pub access_log_changed: String,
    pub saved: String,
    pub upload_refused: String,
    pub sent_twice: String,
    pub draft_differs: String,
    pub discard_draft: String,
    pub preview_title: String,
    pub publish_draft: String,
    pub canary: String,
    pub canary_none: String,
    pub publish: String,
    pub withdraw: String,
    pub revert: String,
    pub withdrawn: String,
    pub rollouts: String,
    pub stage: String,
    pub stage_canary: String,
    pub stage_region: String,
    pub stage_target: String,
    pub stage_done: String,
    pub stage_halted: String,
    pub published_now: String,
    pub staged_now: String,
    pub managed_here: String,
    pub nav_members: String,
    pub members_title: String,
    pub members_search: String,
    pub find: String,
    pub member_none: String,
    pub member_id: String,
    pub phone: String,
    pub name: String,
    pub tier: String,
    pub consent: String,
    pub consent_none: String,
    pub consent_given: String,
    pub places_consent: String,
    pub places_given: String,
    pub cards: String,
    pub card_no: String,
    pub card_state: String,
    pub card_active: String,
    pub card_frozen: String,
    pub card_lost: String,
    pub freeze: String,
    pub report_lost: String,
    pub reactivate: String,
    pub identities: String,
    pub visits: String,
    pub first_seen: String,
    pub last_seen: String,
    pub erase: String,
    pub erase_confirm: String,
    pub erased: String,
    pub action_card_state: String,
    pub action_member_erase: String,
    pub settings_form: String,
    pub settings_hint: String,
    pub site_decides: String,
    pub on: String,
    pub off: String,
    pub session_minutes: String,
    pub garden: String,
    pub consent_version: String,
    pub method_countdown: String,
    pub method_voucher: String,
    pub method_account: String,
    pub method_counter_qr: String,
    pub method_sms: String,
    pub method_wechat: String,
    pub method_qq: String,
    pub method_weibo: String,
    pub method_card: String,
}

static ZH: LazyLock<Strings> = LazyLock::new(|| {
    toml::from_str(include_str!("../../../console-templates/i18n/hq.zh-CN.toml")).expect("zh-CN strings")
});
static EN: LazyLock<Strings> = LazyLock::new(|| {
    toml::from_str(include_str!("../../../console-templates/i18n/hq.en.toml")).expect("English strings")
});

/// The strings of `lang` (`en`, else zh-CN).
pub fn strings(lang: &str) -> &'static Strings {
    if lang == "en" {
        &EN
    } else {
        &ZH
    }
}

impl Strings {
    /// A role in words.
    pub fn role_name(&self, role: Role) -> &str {
        match role {
            Role::Owner => &self.role_owner,
            Role::Admin => &self.role_admin,
            Role::Marketer => &self.role_marketer,
            Role::Analyst => &self.role_analyst,
            Role::Compliance => &self.role_compliance,
            Role::SiteManager => &self.role_site_manager,
        }
    }

    /// A scope in words.
    pub fn scope_name(&self, scope: &Scope) -> String {
        match scope {
            Scope::Brand => self.scope_brand.clone(),
            Scope::Region(id) => self.scope_region.replace("{id}", id),
            Scope::Site(id) => self.scope_site.replace("{id}", id),
        }
    }

    /// An audit row's action in words (an action without words shows its code).
    pub fn action_name<'a>(&'a self, action: &'a str) -> &'a str {
        match action {
            "sign_in" => &self.action_sign_in,
            "sign_out" => &self.action_sign_out,
            "second_factor.enrol" => &self.action_enrol,
            "person.add" => &self.action_person_add,
            "person.disable" => &self.action_person_disable,
            "person.reset_second_factor" => &self.action_person_reset,
            "content.publish" => &self.action_content_publish,
            "content.revert" => &self.action_content_revert,
            "rollout.start" => &self.action_rollout_start,
            "rollout.step" => &self.action_rollout_step,
            "rollout.halt" => &self.action_rollout_halt,
            "card.state" => &self.action_card_state,
            "member.erase" => &self.action_member_erase,
            other => other,
        }
    }

    /// A block's name in words.
    pub fn block_name<'a>(&'a self, block: &'a str) -> &'a str {
        match block {
            "brand" => &self.block_brand,
            "dishes" => &self.block_dishes,
            "promotions" => &self.block_promotions,
            "products" => &self.block_products,
            "ad" => &self.block_ad,
            "landing" => &self.block_landing,
            "settings" => &self.block_settings,
            other => other,
        }
    }

    /// A login method in words.
    pub fn method_name<'a>(&'a self, method: &'a str) -> &'a str {
        match method {
            "countdown" => &self.method_countdown,
            "voucher" => &self.method_voucher,
            "account" => &self.method_account,
            "counter_qr" => &self.method_counter_qr,
            "sms" => &self.method_sms,
            "wechat" => &self.method_wechat,
            "qq" => &self.method_qq,
            "weibo" => &self.method_weibo,
            "card" => &self.method_card,
            other => other,
        }
    }

    /// A card's state in words.
    pub fn card_state_name<'a>(&'a self, state: &'a str) -> &'a str {
        match state {
            "active" => &self.card_active,
            "frozen" => &self.card_frozen,
            "lost" => &self.card_lost,
            other => other,
        }
    }

    /// A rollout's stage in words.
    pub fn stage_name(&self, stage: crate::rollouts::Stage) -> &str {
        use crate::rollouts::Stage;
        match stage {
            Stage::Canary => &self.stage_canary,
            Stage::Region => &self.stage_region,
            Stage::Target => &self.stage_target,
            Stage::Done => &self.stage_done,
            Stage::Halted => &self.stage_halted,
        }
    }

    /// A site's state in words.
    pub fn state_name(&self, state: crate::health::State) -> &str {
        use crate::health::State;
        match state {
            State::Online => &self.state_online,
            State::Offline => &self.state_offline,
            State::Pending => &self.state_pending,
            State::Revoked => &self.state_revoked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_load_and_name_every_role() {
        for lang in ["zh-CN", "en"] {
            let t = strings(lang);
            for role in Role::ALL {
                assert!(!t.role_name(role).is_empty());
                assert_ne!(t.role_name(role), role.as_str(), "a word, not the code");
            }
            assert!(t.scope_name(&Scope::Region("east".into())).contains("east"));
        }
        assert_eq!(strings("en").lang, "en");
        assert_eq!(strings("zh-CN").lang, "zh-CN");
    }
}
