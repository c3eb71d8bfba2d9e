//! Portal strings, zh-CN first, English by Accept-Language or the switch.
//! The strings live in `portal-templates/i18n/`, one TOML file a language.

use serde::Deserialize;
use std::sync::LazyLock;

/// Every string a portal page shows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Strings {
    pub lang: String,
    pub switch_label: String,
    pub switch_to: String,
    pub connect_title: String,
    pub countdown: String,
    pub countdown_done: String,
    pub connect_button: String,
    pub noscript: String,
    pub success_title: String,
    pub success_body: String,
    pub continue_to: String,
    pub online_title: String,
    pub remaining: String,
    pub minutes: String,
    pub logout_button: String,
    pub logged_out_title: String,
    pub logged_out_body: String,
    pub venue_link: String,
    pub back: String,
    pub error_title: String,
    pub error_no_device: String,
    pub error_ticket_invalid: String,
    /// Another device's session holds the guest's address.
    pub error_address_in_use: String,
    pub error_data_used: String,
    pub error_data_used_today: String,
    pub session_data_used: String,
    pub error_ticket_replayed: String,
    pub error_too_early: String,
    pub error_too_many: String,
    pub error_bad_host: String,
    pub error_url_too_long: String,
    pub error_internal: String,
    pub error_not_found: String,
    pub ad_label: String,
    pub voucher_title: String,
    pub voucher_label: String,
    pub voucher_placeholder: String,
    pub voucher_button: String,
    pub account_title: String,
    pub card_title: String,
    pub dishes_title: String,
    pub promotions_title: String,
    pub promotions_none: String,
    pub promotions_all: String,
    pub promotion_until: String,
    pub menu_title: String,
    pub menu_all: String,
    pub menu_none: String,
    pub menu_link: String,
    pub story_title: String,
    pub member_return_title: String,
    pub member_return_as: String,
    pub member_return_wechat: String,
    pub member_return_card: String,
    pub card_label: String,
    pub pin_label: String,
    pub card_button: String,
    pub consent_label: String,
    pub places_label: String,
    pub error_card_frozen: String,
    pub error_card_lost: String,
    pub error_members_unavailable: String,
    pub error_chain_voucher_offline: String,
    pub username_label: String,
    pub password_label: String,
    pub account_button: String,
    pub counter_hint_title: String,
    pub other_ways: String,
    pub counter_hint: String,
    pub counter_title: String,
    pub counter_body: String,
    pub scan_title: String,
    pub error_method_off: String,
    pub error_code_invalid: String,
    pub error_link_invalid: String,
    pub error_link_expired: String,
    pub error_wrong_credentials: String,
    pub error_locked_out: String,
    pub error_expired: String,
    pub error_revoked: String,
    pub error_device_limit: String,
    pub qq_button: String,
    pub weibo_button: String,
    pub oauth_title: String,
    pub error_oauth_state: String,
    pub error_provider: String,
    pub wechat_title: String,
    pub wechat_hint: String,
    pub wechat_hint_after: String,
    pub error_wechat_link: String,
    pub sms_title: String,
    pub phone_label: String,
    pub phone_placeholder: String,
    pub send_code_button: String,
    pub code_label: String,
    pub code_sent: String,
    pub sms_login_button: String,
    pub resend_button: String,
    pub resend_wait: String,
    pub return_button: String,
    pub error_bad_phone: String,
    pub error_limited: String,
    pub error_wrong_code: String,
    pub error_code_burnt: String,
    pub error_code_other_device: String,
    pub error_code_expired: String,
    pub error_return_expired: String,
    pub error_sms_gateway: String,
}

static ZH: LazyLock<Strings> =
    LazyLock::new(|| toml::from_str(include_str!("../../portal-templates/i18n/zh-CN.toml")).expect("zh-CN strings"));
static EN: LazyLock<Strings> =
    LazyLock::new(|| toml::from_str(include_str!("../../portal-templates/i18n/en.toml")).expect("en strings"));

/// A portal language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文 (default).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The strings of this language.
    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    /// `zh` or `en`, as in the switch link and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The switch (`?lang=`) wins, then the cookie, then the browser's
    /// first language we have; Chinese otherwise.
    pub fn choose(switch: Option<&str>, cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = switch.and_then(Lang::from_code).or_else(|| cookie.and_then(Lang::from_code)) {
            return lang;
        }
        let Some(header) = accept_language else {
            return Lang::Zh;
        };
        let mut ranked: Vec<(f32, &str)> = header
            .split(',')
            .filter_map(|part| {
                let mut it = part.split(';');
                let tag = it.next()?.trim();
                let q = it.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
                Some((q, tag))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        for (_, tag) in ranked {
            let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            match primary.as_str() {
                "zh" => return Lang::Zh,
                "en" => return Lang::En,
                _ => {}
            }
        }
        Lang::Zh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_load() {
        assert_eq!(Lang::Zh.strings().connect_button, "连接上网");
        assert_eq!(Lang::En.strings().connect_button, "Connect");
    }

    #[test]
    fn chinese_unless_the_guest_prefers_english() {
        assert_eq!(Lang::choose(None, None, None), Lang::Zh);
        assert_eq!(Lang::choose(None, None, Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::choose(None, None, Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::choose(None, None, Some("fr-FR, en;q=0.5, zh;q=0.4")), Lang::En);
        assert_eq!(Lang::choose(None, Some("en"), Some("zh-CN")), Lang::En);
        assert_eq!(Lang::choose(Some("zh"), Some("en"), Some("en")), Lang::Zh);
    }
}
