//! What front-desk staff print: an A4 sheet of voucher cards (each with its
//! code and a QR code of a login link carrying it) and an account's slip.
//! Plain HTML with print CSS: any browser prints it.

use crate::auth::account::Created;
use crate::auth::counter::qr_svg;
use crate::auth::voucher::Voucher;
use askama::Template;

struct Card {
    code: String,
    qr: String,
    duration: String,
    devices: i64,
    valid_until: String,
    note: String,
}

#[derive(Template)]
#[template(path = "voucher_sheet.html")]
struct Sheet<'a> {
    batch: &'a str,
    cards: Vec<Card>,
}

#[derive(Template)]
#[template(path = "account_slip.html")]
struct Slip<'a> {
    account: &'a Created,
    online: String,
    expires: String,
}

/// `1小时 / 1 h`, `30天 / 30 d`, `90分钟 / 90 min`.
fn duration_text(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{}天 / {} d", s / 86_400, s / 86_400),
        s if s % 3600 == 0 => format!("{}小时 / {} h", s / 3600, s / 3600),
        s => format!("{}分钟 / {} min", (s + 59) / 60, (s + 59) / 60),
    }
}

/// A UTC ms time as a date in China (UTC+8), `2026-12-27`.
fn date(ms: i64) -> String {
    crate::kit::time::civil_date(ms.div_euclid(1000), 8)
}

/// The A4 sheet of `cards`; their QR codes open `portal_url/v?code=…`.
pub fn voucher_sheet(cards: &[Voucher], portal_url: &str) -> String {
    let batch = cards.first().map_or("", |c| c.batch.as_str());
    let cards = cards
        .iter()
        .map(|v| Card {
            code: v.display_code(),
            qr: qr_svg(&format!("{portal_url}/v?code={}", v.code)),
            duration: duration_text(v.duration_seconds),
            devices: v.devices,
            valid_until: date(v.valid_until),
            note: v.note.clone(),
        })
        .collect();
    Sheet { batch, cards }.render().unwrap_or_else(|err| format!("template failed: {err}"))
}

/// The slip handed to the guest with the account's credentials.
pub fn account_slip(account: &Created) -> String {
    Slip { account, online: duration_text(account.online_seconds as i64), expires: date(account.expires_at) }
        .render()
        .unwrap_or_else(|err| format!("template failed: {err}"))
}

/// The control door's [`crate::control::Printer`]: these templates.
pub struct Sheets;

impl crate::control::Printer for Sheets {
    fn voucher_sheet(&self, cards: &[Voucher], portal_url: &str) -> String {
        voucher_sheet(cards, portal_url)
    }

    fn account_slip(&self, account: &Created) -> String {
        account_slip(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations_read_as_people_write_them() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_798_732_800_000), "2027-01-01", "midnight UTC+8 on new year's day");
        assert_eq!(date(1_798_732_799_000), "2026-12-31");
        assert_eq!(duration_text(3600), "1小时 / 1 h");
        assert_eq!(duration_text(30 * 86_400), "30天 / 30 d");
        assert_eq!(duration_text(5400), "90分钟 / 90 min");
    }

    #[test]
    fn the_sheet_has_every_code_and_its_qr_link() {
        let card = |code: &str| Voucher {
            code: code.into(),
            batch: "BTEST".into(),
            duration_seconds: 3600,
            devices: 2,
            down_kbps: 0,
            up_kbps: 0,
            data_mb: 0,
            note: "<b>午市</b>".into(),
            created_at: 0,
            valid_until: 0,
            first_used_at: None,
            revoked_at: None,
            devices_used: 0,
        };
        let html = voucher_sheet(&[card("ABCDEFGHJK"), card("MNPQRSTUVW")], "http://portal.test");
        assert!(html.contains("ABCDE-FGHJK") && html.contains("MNPQR-STUVW"));
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(html.contains("@page") && html.contains("A4"));
        assert!(!html.contains("<b>午市</b>"), "staff's note is escaped");
    }
}
