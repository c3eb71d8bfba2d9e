//! What the staff audit log keeps of each request that changes something:
//! its action, target, before and after. Written by the one door, so a
//! change leaves its row whichever door it came by. Secrets (an SSID's key,
//! an ID number, a full phone number) never reach a row.

use super::{Handles, MarketingChange, Reply, Request};
use ap_protocol::Ssid;

/// A changing request's row, begun before it is carried out.
pub(super) struct Record {
    action: String,
    target: String,
    before: String,
    /// An after known before the request runs (a voucher batch's worth).
    after: Option<String>,
    /// For the after that needs the state (an SSID's new description).
    ssid: Option<Ssid>,
}

impl Record {
    /// The row a request will leave; None: it only reads.
    pub(super) async fn of(request: &Request, handles: &Handles) -> Option<Record> {
        use Request as R;
        let row = |action: &str, target: &str, before: &str| Record {
            action: action.to_string(),
            target: target.to_string(),
            before: before.to_string(),
            after: None,
            ssid: None,
        };
        Some(match request {
            R::SessionsKick { mac } => row("guest.kick", mac, "online"),
            R::FirewallReload => row("firewall.reload", "nftables", ""),
            R::ApsAdopt { device_id, fingerprint } => Record {
                after: Some(format!("adopted, key {}", fingerprint.as_deref().unwrap_or("any"))),
                ..row("ap.adopt", device_id, "pending")
            },
            R::ApsAdoptMany { aps } => Record {
                after: Some(format!(
                    "adopted with their keys' fingerprints: {}",
                    aps.iter().map(|(id, fp)| format!("{id} ({fp})")).collect::<Vec<_>>().join(", ")
                )),
                ..row("ap.adopt", &format!("{} APs", aps.len()), "pending")
            },
            R::ApsForget { device_id } => row("ap.forget", device_id, "known"),
            R::ApsSet { device_id, .. } => row("ap.set", device_id, ""),
            R::ApsPlan => row("plan.apply", "channels", &radios(handles).await),
            R::FirmwareUpload { version, model, .. } => {
                Record { after: Some(format!("{model} {version}")), ..row("firmware.upload", version, "") }
            }
            R::FirmwareImage { version, model, image, .. } => Record {
                after: Some(format!("{model} {version} ({} bytes)", image.len())),
                ..row("firmware.upload", version, "")
            },
            R::FirmwareRollout { version, .. } => row("firmware.rollout", version, ""),
            R::FirmwareHalt => row("firmware.halt", "", "running"),
            R::SsidsPut { ssid } => {
                let old = match &handles.ac {
                    Some(ac) => ac.ssids().await.unwrap_or_default().into_iter().find(|s| s.name == ssid.name),
                    None => None,
                };
                // An empty key keeps the old one (`perform`): it did not change.
                let key_changed = !ssid.key.is_empty() && old.as_ref().is_none_or(|o| o.key != ssid.key);
                let mut record =
                    row("ssid.put", &ssid.name, &old.as_ref().map(|s| describe(s, false)).unwrap_or_default());
                record.ssid =
                    Some(Ssid { key: if key_changed { "changed".into() } else { String::new() }, ..ssid.clone() });
                record
            }
            R::SsidsRemove { name } => row("ssid.remove", name, name),
            R::VouchersCreate { batch } => Record {
                after: Some(format!(
                    "{} x {} h, {} days, {} devices",
                    batch.count,
                    batch.duration_seconds / 3600,
                    batch.valid_days,
                    batch.devices
                )),
                ..row("voucher.create", "", "")
            },
            R::VouchersRevoke { code_or_batch } => row("voucher.revoke", code_or_batch, "valid"),
            R::AccountsCreate { .. } => row("account.create", "", ""),
            R::AccountsRevoke { username } => row("account.revoke", username, "live"),
            R::SmsForget { phone } => row("sms.forget", &masked(phone), ""),
            R::MembersImport { .. } => row("members.import", "", ""),
            R::MembersShow { key, full: true } => row("member.show_full", &masked(key), ""),
            R::MembersErase { key } => row("member.erase", &masked(key), ""),
            R::MembersTier { tier, minutes, down_kbps, up_kbps, data_mb } => Record {
                after: Some(format!("{minutes} min, {down_kbps}/{up_kbps} kbit/s, {data_mb} MB a day")),
                ..row("tier.set", tier, "")
            },
            R::CardsState { card, state } => Record { after: Some(state.clone()), ..row("card.state", card, "") },
            R::UsersCreate { username, role, .. } => Record {
                after: Some(role.as_str().to_string()),
                ..row("user.create", &username.trim().to_ascii_lowercase(), "")
            },
            R::UsersDisable { username } => {
                Record { after: Some("disabled".into()), ..row("user.disable", username, "active") }
            }
            R::Marketing { change } => return Some(marketing(change, handles).await),
            _ => return None,
        })
    }

    /// The row for what happened: (action, target, before, after).
    pub(super) async fn finish(mut self, reply: &Reply, handles: &Handles) -> (String, String, String, String) {
        use Reply as P;
        let mut target = self.target;
        let after = match (self.action.as_str(), reply) {
            ("guest.kick", P::Kicked { count }) => format!("{count} sessions ended"),
            ("firewall.reload", P::Reloaded { sessions }) => format!("{sessions} sessions put back"),
            ("ap.forget", _) => "forgotten".to_string(),
            ("plan.apply", _) => radios(handles).await,
            ("ssid.put", _) => self.ssid.as_ref().map(|s| describe(s, !s.key.is_empty())).unwrap_or_default(),
            ("ssid.remove", _) => String::new(),
            (_, P::ConfigVersion { version }) => format!("configuration v{version}"),
            ("firmware.rollout", P::Rollout { status: Some(s) }) => {
                format!("{} → {} APs", s.version, s.remaining.len())
            }
            ("firmware.halt", P::Rollout { status: Some(s) }) => {
                target = s.version.clone();
                format!("{} upgraded, {} kept", s.upgraded.len(), s.remaining.len())
            }
            ("voucher.create", P::Vouchers { vouchers }) => {
                target = vouchers.first().map(|v| v.batch.clone()).unwrap_or_default();
                self.after.unwrap_or_default()
            }
            ("voucher.revoke", P::Revoked { count }) => format!("{count} revoked"),
            ("account.create", P::AccountCreated { account, .. }) => {
                target = account.username.clone();
                format!("ID ****{}, {} h", account.id_last4, account.online_seconds / 3600)
            }
            ("account.revoke", _) => "revoked".to_string(),
            ("sms.forget", _) => "one-tap returns revoked".to_string(),
            ("members.import", P::Imported { imported }) => {
                format!("{} new, {} updated, {} cards", imported.members, imported.updated, imported.cards)
            }
            ("member.erase", P::Erased { erased, waiting }) => format!(
                "erased: {} identities, {} events, {} visits, {} cards; {waiting} waiting facts dropped",
                erased.identities, erased.events, erased.visits, erased.cards
            ),
            (_, P::Changed { what }) => what.clone(),
            (_, P::Published { version }) => {
                target = match self.after.take() {
                    Some(asked) => format!("{version} (= {asked})"),
                    None => version.to_string(),
                };
                handles.marketing.published().summary()
            }
            _ => self.after.unwrap_or_default(),
        };
        (self.action, target, self.before, after)
    }
}

/// A marketing change's row: the draft's summary before (the brand, the
/// ad's line or the landing for those), the change's words after; a publish
/// or rollback from the published summary to the new one.
async fn marketing(change: &MarketingChange, handles: &Handles) -> Record {
    use MarketingChange as C;
    let m = &handles.marketing;
    let draft = m.draft().await.ok();
    let summary = draft.as_ref().map(|d| d.summary()).unwrap_or_default();
    // A kind as the log names it (`promotion`), however the route spelt it.
    let kind = |k: &str| {
        crate::marketing::Kind::parse(k).map_or_else(|| k.chars().take(20).collect(), |k| k.name().to_string())
    };
    let (action, before, asked) = match change {
        C::Add { kind: k, .. } => (format!("marketing.{}.add", kind(k)), summary, None),
        C::Remove { kind: k, .. } => (format!("marketing.{}.remove", kind(k)), summary, None),
        C::Up { kind: k, .. } => (format!("marketing.{}.up", kind(k)), summary, None),
        C::Brand { .. } => {
            ("marketing.brand".into(), draft.map(|d| format!("{:?}", d.brand)).unwrap_or_default(), None)
        }
        C::Ad { .. } => ("marketing.ad".into(), draft.and_then(|d| d.ad).map(|a| a.text_zh).unwrap_or_default(), None),
        C::Landing { .. } => {
            ("marketing.landing".into(), draft.map(|d| d.landing.name().to_string()).unwrap_or_default(), None)
        }
        C::Publish => ("marketing.publish".into(), m.published().summary(), None),
        C::Rollback { version } => ("marketing.rollback".into(), m.published().summary(), Some(version.to_string())),
        C::KeepOwn { block, own } => {
            let was = if m.managed().own.contains(block) { "own" } else { "headquarters'" };
            let now = if *own { "own" } else { "headquarters'" };
            (format!("marketing.{}.source", kind(block)), was.into(), Some(now.into()))
        }
    };
    let target = match change {
        C::Publish | C::Rollback { .. } => "",
        C::KeepOwn { .. } => "portal",
        _ => "draft",
    };
    Record { action, target: target.into(), before, after: asked, ssid: None }
}

/// Radios, channels and power: the plan's before and after.
async fn radios(handles: &Handles) -> String {
    let Some(ac) = &handles.ac else { return String::new() };
    ac.radios()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| format!("{} ch{} -{}dB", r.id, r.channel.unwrap_or(0), r.power_reduction_db))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An SSID for the log: everything but its key, which is only said to change.
fn describe(s: &Ssid, key_changed: bool) -> String {
    let bands: Vec<&str> =
        s.bands.iter().map(|b| if *b == ap_protocol::Band::G2_4 { "2.4 GHz" } else { "5 GHz" }).collect();
    // As the forms name it (`wpa2_psk`), from its serde name.
    let security = serde_json::to_value(s.security).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    format!(
        "{security} · {} · VLAN {:?} · hidden {} · isolation {} · portal {}{}",
        bands.join(" + "),
        s.vlan,
        s.hidden,
        s.client_isolation,
        s.captive_portal,
        if key_changed { " · key changed" } else { "" }
    )
}

/// A member key as the log keeps it: a phone masked, a card or id as given.
fn masked(key: &str) -> String {
    match crate::kit::phones::member_phone(key) {
        Some(phone) => crate::kit::phones::mask_phone(&phone),
        None => key.chars().take(64).collect(),
    }
}
