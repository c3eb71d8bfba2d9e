//! What each request does, once the role table has let its actor through.

use super::{failed, refused, ErrorKind, Handles, MarketingChange, Reply, Request, Staff};
use crate::ac::Ac;
use crate::staff::Actor;
use ap_protocol::Ssid;
use firewall::MacAddr;

/// Carries out one request whose actor the role table has let through.
pub(super) async fn perform(actor: &Actor, request: Request, handles: &Handles) -> Reply {
    let Handles { sessions, ac, .. } = handles;
    match request {
        Request::Dashboard => dashboard(handles).await,
        Request::StatsReport { from, to } => statistics(&from, &to, handles).await,
        Request::Marketing { change } => marketing(actor, change, &handles.marketing).await,
        people @ (Request::UsersList
        | Request::UsersCreate { .. }
        | Request::UsersDisable { .. }
        | Request::StaffLog { .. }) => handle_people(people, &handles.people).await,
        Request::SessionsList => match sessions.list().await {
            Ok(sessions) => Reply::Sessions { sessions },
            Err(e) => failed(&e),
        },
        Request::SessionsKick { mac } => match mac.parse::<MacAddr>() {
            Err(e) => failed(&e),
            Ok(mac) => match sessions.kick(mac).await {
                Ok(count) => Reply::Kicked { count },
                Err(e) => failed(&e),
            },
        },
        Request::AccessLogSearch { query } => {
            let who = format!("{} ({}, {})", actor.name, actor.door.as_str(), actor.from);
            match crate::trail::search(sessions.store(), &query, &who).await {
                Ok(rows) => Reply::AccessLog { rows },
                Err(e) => failed(&e),
            }
        }
        Request::AccessLogCsv { query } => {
            let who = format!("{} ({}, {}), CSV", actor.name, actor.door.as_str(), actor.from);
            match crate::trail::search(sessions.store(), &query, &who).await {
                Ok(rows) => {
                    let csv = crate::trail::csv(&rows, handles.zone_offset);
                    Reply::Text { text: crate::trail::sign(&csv, &handles.staff.trail_key) }
                }
                Err(e) => failed(&e),
            }
        }
        Request::AccessLogDomains { session } => {
            let who = format!("{} ({}, {})", actor.name, actor.door.as_str(), actor.from);
            match crate::trail::domains::of_session(sessions.store(), session, &who).await {
                Ok(names) => Reply::Domains { names },
                Err(e) => failed(&e),
            }
        }
        Request::AccessLogVerify => match crate::trail::verify(sessions.store()).await {
            Ok(verdict) => Reply::AccessLogVerdict { verdict },
            Err(e) => failed(&e),
        },
        Request::FirewallReload => match sessions.restore_filter().await {
            Ok(sessions) => Reply::Reloaded { sessions },
            Err(e) => failed(&e),
        },
        staff @ (Request::VouchersCreate { .. }
        | Request::VouchersList { .. }
        | Request::ChainVouchers
        | Request::VouchersRevoke { .. }
        | Request::VouchersSheet { .. }
        | Request::VouchersCsv { .. }
        | Request::AccountsCreate { .. }
        | Request::AccountsList { .. }
        | Request::AccountsRevoke { .. }
        | Request::AuthLog { .. }
        | Request::CounterUrl
        | Request::SmsForget { .. }) => handle_staff(staff, &handles.staff).await,
        members @ (Request::MembersImport { .. }
        | Request::MembersShow { .. }
        | Request::MembersErase { .. }
        | Request::MembersTier { .. }
        | Request::CardsState { .. }
        | Request::FeedStatus) => handle_members(members, &handles.staff).await,
        ac_request => match ac {
            Some(ac) => handle_ac(actor, ac_request, ac, handles).await,
            None => refused(ErrorKind::NotFound, "the AC is off (ac.listen is empty)"),
        },
    }
}

/// Vouchers, accounts and the audit trail.
async fn handle_staff(request: Request, staff: &Staff) -> Reply {
    match request {
        Request::VouchersCreate { batch } => match staff.vouchers.create(&batch).await {
            Ok(vouchers) => Reply::Vouchers { vouchers },
            Err(e) => failed(&e),
        },
        Request::VouchersList { batch } => match staff.vouchers.list(batch.as_deref()).await {
            Ok(vouchers) => Reply::Vouchers { vouchers },
            Err(e) => failed(&e),
        },
        Request::ChainVouchers => match staff.vouchers.chain_batches().await {
            Ok(batches) => Reply::ChainVouchers { batches },
            Err(e) => failed(&e),
        },
        Request::VouchersRevoke { code_or_batch } => match staff.vouchers.revoke(&code_or_batch).await {
            Ok(0) => refused(ErrorKind::NotFound, format!("no card or batch {code_or_batch:?} to revoke")),
            Ok(count) => Reply::Revoked { count },
            Err(e) => failed(&e),
        },
        Request::VouchersSheet { batch } => match staff.vouchers.list(Some(&batch)).await {
            Ok(cards) if cards.is_empty() => refused(ErrorKind::NotFound, format!("no batch {batch:?}")),
            Ok(cards) => Reply::Text { text: staff.printer.voucher_sheet(&cards, &staff.portal_url) },
            Err(e) => failed(&e),
        },
        Request::VouchersCsv { batch } => match staff.vouchers.list(batch.as_deref()).await {
            Ok(cards) => Reply::Text { text: crate::auth::voucher::csv(&cards) },
            Err(e) => failed(&e),
        },
        Request::AccountsCreate { account } => match staff.accounts.create(&account).await {
            Ok(account) => {
                let slip = staff.printer.account_slip(&account);
                Reply::AccountCreated { account, slip }
            }
            Err(e) => failed(&e),
        },
        Request::AccountsList { id_number } => match staff.accounts.list(id_number.as_deref()).await {
            Ok(accounts) => Reply::Accounts { accounts },
            Err(e) => failed(&e),
        },
        Request::AccountsRevoke { username } => match staff.accounts.revoke(&username).await {
            Ok(true) => Reply::Done,
            Ok(false) => refused(ErrorKind::NotFound, format!("no live account {username:?}")),
            Err(e) => failed(&e),
        },
        Request::AuthLog { limit } => match staff.audit.recent(limit.min(10_000)).await {
            Ok(rows) => Reply::AuthLog { rows },
            Err(e) => failed(&e),
        },
        Request::CounterUrl => Reply::Text { text: staff.counter_url.clone() },
        Request::SmsForget { phone } => match staff.sms.parse_phone(&phone) {
            Some(phone) => {
                let who = crate::members::Who { kind: "phone".into(), value: phone };
                if let Err(e) = staff.passes.revoke(&who).await {
                    return failed(&e);
                }
                // The brand's other sites learn it from the store; a store
                // away now is said, and this site's passes are revoked anyway.
                match staff.members.revoke_passes(&who).await {
                    Ok(_) => Reply::Text { text: crate::kit::phones::mask_phone(&who.value) },
                    Err(e) => failed(&e),
                }
            }
            None => refused(ErrorKind::Invalid, format!("{phone:?} is not a phone number we send to")),
        },
        _ => refused(ErrorKind::Invalid, "not a staff request"),
    }
}

/// The member store: import, look up, erase, tiers, cards, the feed.
async fn handle_members(request: Request, staff: &Staff) -> Reply {
    let store = &staff.members;
    let find = |key: String| async move {
        match store.find(&key).await {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(refused(ErrorKind::NotFound, format!("no member with phone, card or id {key:?}"))),
            Err(e) => Err(failed(&e)),
        }
    };
    match request {
        Request::MembersImport { csv } => match store.import(&csv).await {
            Ok(imported) => Reply::Imported { imported },
            Err(e) => failed(&e),
        },
        Request::MembersShow { key, full } => match find(key).await {
            Ok(id) => match store.show(&id, full).await {
                Ok(member) => Reply::Member { member: Box::new(member) },
                Err(e) => failed(&e),
            },
            Err(reply) => reply,
        },
        Request::MembersErase { key } => match find(key).await {
            Ok(id) => match store.erase(&id).await {
                Ok((erased, who)) => {
                    let waiting = crate::members::outbox::forget(&staff.db, &who).await.unwrap_or_else(|err| {
                        tracing::error!(error = %crate::error_chain(&err), "an erased member's waiting facts not dropped");
                        0
                    });
                    for w in &who {
                        if let Err(err) = staff.passes.revoke(w).await {
                            tracing::error!(error = %crate::error_chain(&err), "an erased member's passes not revoked here");
                        }
                    }
                    if let Err(err) = staff.cards.cache().forget_member(&id).await {
                        tracing::error!(error = %crate::error_chain(&err), "an erased member's cards left in the card cache");
                    }
                    Reply::Erased { erased, waiting }
                }
                Err(e) => failed(&e),
            },
            Err(reply) => reply,
        },
        Request::MembersTier { tier, minutes, down_kbps, up_kbps, data_mb } => {
            if tier.is_empty() || minutes < 0 || down_kbps < 0 || up_kbps < 0 || !(0..=1_000_000).contains(&data_mb) {
                return refused(ErrorKind::Invalid, "a tier name, and minutes, kbit/s and MB a day of 0 or more");
            }
            match store.set_tier(&tier, minutes, down_kbps, up_kbps, data_mb).await {
                Ok(()) => Reply::Done,
                Err(e) => failed(&e),
            }
        }
        Request::CardsState { card, state } => {
            let Some(card_no) = crate::auth::card::Cards::normalize(&card) else {
                return refused(ErrorKind::Invalid, format!("{card:?} is not a card number"));
            };
            match store.set_card_state(&card_no, &state).await {
                Ok(true) => {
                    if let Err(err) = staff.cards.cache().set_state(&card_no, &state).await {
                        tracing::error!(card = %card_no, error = %crate::error_chain(&err), "card cache not updated: the next refresh will");
                    }
                    Reply::Done
                }
                Ok(false) => refused(ErrorKind::NotFound, format!("no card {card_no}")),
                Err(e) => failed(&e),
            }
        }
        Request::FeedStatus => match staff.feed.status().await {
            Ok(status) => Reply::Feed { status: Box::new(status) },
            Err(e) => failed(&e),
        },
        _ => refused(ErrorKind::Invalid, "not a member store request"),
    }
}

/// The AC's requests, once it is known to run.
async fn handle_ac(actor: &Actor, request: Request, ac: &Ac, handles: &Handles) -> Reply {
    match request {
        Request::Radios => ac.radios().await.map_or_else(|e| failed(&e), |radios| Reply::Radios { radios }),
        Request::FirmwareImage { version, model, image, signature } => {
            upload(ac, version, model, image, signature).await
        }
        Request::FirmwareHalt => {
            ac.halt_rollout(&actor.name).map_or_else(|e| failed(&e), |status| Reply::Rollout { status: Some(status) })
        }
        Request::ApsList => match ac.list().await {
            Ok(aps) => Reply::Aps { aps },
            Err(e) => failed(&e),
        },
        Request::ApsAdopt { device_id, fingerprint } => {
            ac.adopt(&device_id, fingerprint.as_deref()).await.map_or_else(|e| failed(&e), |()| Reply::Done)
        }
        Request::ApsAdoptMany { aps } => {
            let asked: Vec<(String, Option<String>)> = aps.into_iter().map(|(id, fp)| (id, Some(fp))).collect();
            match ac.adopt_many(&asked).await {
                Ok(done) => Reply::Adopted {
                    results: asked
                        .into_iter()
                        .zip(done)
                        .map(|((id, _), r)| (id, r.err().map(|e| crate::error_chain(&e))))
                        .collect(),
                },
                Err(e) => failed(&e),
            }
        }
        Request::ApsForget { device_id } => ac.forget(&device_id).await.map_or_else(|e| failed(&e), |()| Reply::Done),
        Request::ApsShow { device_id } => {
            let found = ac.list().await.map(|aps| aps.into_iter().find(|a| a.device_id == device_id));
            match (found, ac.config_for(&device_id).await) {
                (Ok(Some(ap)), Ok(mut config)) => {
                    config.ssids.iter_mut().for_each(mask);
                    config.roaming.ft_key = "***".into();
                    Reply::Ap { ap: Box::new(ap), config: Box::new(config) }
                }
                (Err(e), _) => failed(&e),
                (_, Err(e)) => failed(&e),
                (Ok(None), _) => refused(ErrorKind::NotFound, format!("no access point {device_id:?}")),
            }
        }
        Request::FirmwareUpload { version, model, image, signature } => {
            match (std::fs::read(&image), std::fs::read(&signature)) {
                (Ok(image), Ok(signature)) => upload(ac, version, model, image, signature).await,
                (Err(e), _) | (_, Err(e)) => failed(&e),
            }
        }
        Request::FirmwareRollout { version, allow_downgrade } => {
            match ac.start_rollout(&version, handles.firmware_batch, handles.firmware_wait, allow_downgrade).await {
                Ok(status) => Reply::Rollout { status: Some(status) },
                Err(e) => failed(&e),
            }
        }
        Request::FirmwareStatus => Reply::Rollout { status: ac.rollout_status() },
        Request::ApsPlan => ac.plan().await.map_or_else(|e| failed(&e), |plan| Reply::Plan { text: plan.to_string() }),
        Request::ApsSet { device_id, floor, zone, radio, channel, tx_power_dbm } => {
            let radio = radio.as_deref().map(|r| (r, channel, tx_power_dbm));
            if radio.is_none() && (channel.is_some() || tx_power_dbm.is_some()) {
                refused(ErrorKind::Invalid, "--channel and --tx-power need --radio")
            } else if zone.as_deref().is_some_and(|z| z.trim().chars().count() > 24 || z.chars().any(char::is_control))
            {
                refused(ErrorKind::Invalid, "a zone's name is at most 24 characters, on one line")
            } else {
                ac.set_ap(&device_id, floor, zone.as_deref(), radio)
                    .await
                    .map_or_else(|e| failed(&e), |version| Reply::ConfigVersion { version })
            }
        }
        Request::StationsList => {
            ac.stations().await.map_or_else(|e| failed(&e), |stations| Reply::Stations { stations })
        }
        Request::SsidsList => match ac.ssids().await {
            Ok(mut ssids) => {
                ssids.iter_mut().for_each(mask);
                Reply::Ssids { ssids }
            }
            Err(e) => failed(&e),
        },
        Request::SsidsPut { mut ssid } => {
            // An empty key keeps the SSID's key (a form never shows it back).
            if ssid.key.is_empty() && ssid.security != ap_protocol::Security::Open {
                if let Some(old) = ac.ssids().await.ok().and_then(|l| l.into_iter().find(|s| s.name == ssid.name)) {
                    ssid.key = old.key;
                }
            }
            ac.put_ssid(&ssid).await.map_or_else(|e| failed(&e), |version| Reply::ConfigVersion { version })
        }
        Request::SsidsRemove { name } => {
            ac.remove_ssid(&name).await.map_or_else(|e| failed(&e), |version| Reply::ConfigVersion { version })
        }
        _ => refused(ErrorKind::Invalid, "not an AC request"),
    }
}

/// Keys never leave the daemon through the control socket.
pub(super) fn mask(ssid: &mut Ssid) {
    if !ssid.key.is_empty() {
        ssid.key = "***".into();
    }
}

/// A marketer's change: photos are sniffed and re-encoded before the draft
/// names them; one draft change at a time (the store's lock).
async fn marketing(actor: &Actor, change: MarketingChange, m: &crate::marketing::Marketing) -> Reply {
    use crate::marketing::{Kind, MarketingError as E};
    // A block headquarters manages is its, whichever door asks: a local
    // edit would be hidden under the bundle's and fight it silently.
    if let Some(block) = change.block().filter(|b| m.managed().in_force().contains_key(*b)) {
        return Reply::Error {
            kind: ErrorKind::Conflict,
            message: format!("the {block} block is managed by headquarters: change it there"),
        };
    }
    let kind = |name: &str| Kind::parse(name).ok_or(E::NotFound);
    let photo = |bytes: Option<Vec<u8>>| async move {
        match bytes {
            Some(bytes) => m.store_image(bytes).await.map(Some),
            None => Ok(None),
        }
    };
    let changed = match change {
        MarketingChange::Add { kind: k, fields, photo: bytes } => match (kind(&k), photo(bytes).await) {
            (Ok(k), Ok(image)) => m.add(k, &fields, image).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        MarketingChange::Remove { kind: k, id } => match kind(&k) {
            Ok(k) => m.remove(k, &id).await.map(|()| id),
            Err(e) => Err(e),
        },
        MarketingChange::Up { kind: k, id } => match kind(&k) {
            Ok(k) => m.move_up(k, &id).await.map(|()| id),
            Err(e) => Err(e),
        },
        MarketingChange::Brand { fields, logo, background } => match (photo(logo).await, photo(background).await) {
            (Ok(logo), Ok(background)) => m.set_brand(&fields, logo, background).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        MarketingChange::Ad { fields, photo: bytes } => match photo(bytes).await {
            Ok(image) => m.set_ad(&fields, image).await,
            Err(e) => Err(e),
        },
        MarketingChange::Landing { landing } => m.set_landing(&landing).await,
        MarketingChange::KeepOwn { block, own } => {
            return match m.keep_own(&block, own, &actor.name).await {
                Ok(_) => Reply::Done,
                Err(e) => failed(&e),
            }
        }
        MarketingChange::Publish => {
            return m.publish(&actor.name).await.map_or_else(|e| failed(&e), |version| Reply::Published { version })
        }
        MarketingChange::Rollback { version } => {
            return m
                .rollback(version, &actor.name)
                .await
                .map_or_else(|e| failed(&e), |version| Reply::Published { version })
        }
    };
    changed.map_or_else(|e| failed(&e), |what| Reply::Changed { what })
}

/// Staff accounts and the audit log.
async fn handle_people(request: Request, people: &crate::staff::Staff) -> Reply {
    match request {
        Request::UsersList => people.users().await.map_or_else(|e| failed(&e), |users| Reply::Users { users }),
        Request::UsersCreate { username, password, role } => {
            let username = username.trim().to_ascii_lowercase();
            people
                .create_user(&username, &password, role)
                .await
                .map_or_else(|e| failed(&e), |user| Reply::UserCreated { user })
        }
        Request::UsersDisable { username } => match people.disable(&username).await {
            Ok(true) => Reply::Done,
            Ok(false) => refused(ErrorKind::NotFound, format!("no staff account {username:?}")),
            Err(e) => failed(&e),
        },
        Request::StaffLog { filter, limit } => {
            let filter = Some(filter.trim()).filter(|f| !f.is_empty());
            people.audit_log(filter, limit).await.map_or_else(|e| failed(&e), |entries| Reply::StaffLog { entries })
        }
        _ => refused(ErrorKind::Invalid, "not a staff accounts request"),
    }
}

/// The home page's figures.
async fn dashboard(handles: &Handles) -> Reply {
    let adopted: Vec<(String, bool)> = match &handles.ac {
        Some(ac) => ac
            .list()
            .await
            .map(|aps| aps.into_iter().filter(|a| a.state == "adopted").map(|a| (a.device_id, a.online)).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let aps_online = adopted.iter().filter(|(_, on)| *on).count();
    let offline = adopted.iter().filter(|(_, on)| !on).map(|(id, _)| id.clone()).collect();
    let status = handles.staff.feed.status().await.ok();
    let waiting = status.as_ref().map_or(0, |s| s.backlog.waiting);
    let lag_ms = status.as_ref().map_or(0, |s| s.backlog.lag_ms);
    let hq = status.and_then(|s| s.hq).map(Box::new);
    let glance = match crate::stats::glance(&handles.staff.db, handles.zone_offset).await {
        Ok(glance) => glance,
        Err(e) => return failed(&e),
    };
    match handles.staff.audit.recent(10).await {
        Ok(recent) => Reply::Dashboard {
            guests: handles.sessions.live_count(),
            aps_online,
            waiting,
            recent,
            glance,
            sms_hour: handles.staff.sms.site_hour().await.unwrap_or_default(),
            aps: (adopted.len(), offline),
            hq,
            lag_ms,
        },
        Err(e) => failed(&e),
    }
}

/// Statistics for `from..=to` (dates in the site's zone; both empty: the
/// last 7 days), slots named as the marketer named them, guests per AP now.
async fn statistics(from: &str, to: &str, handles: &Handles) -> Reply {
    let range = if from.is_empty() && to.is_empty() {
        crate::stats::Range::last_days(7, handles.zone_offset)
    } else {
        match crate::stats::Range::parse(from, to, handles.zone_offset) {
            Some(r) => r,
            None => return refused(ErrorKind::Invalid, format!("{from:?} to {to:?} is not a range of a year at most")),
        }
    };
    // Today's footfall as of now, not as of the last roll.
    let today = crate::stats::Range::last_days(1, handles.zone_offset).start;
    if range.end > today {
        if let Err(e) = crate::stats::footfall::roll_day(&handles.staff.db, today, handles.zone_offset).await {
            return failed(&e);
        }
    }
    let mut report = match crate::stats::report(&handles.staff.db, &range).await {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    // An id no version has any more stays an id.
    let names = handles.marketing.names().await;
    for (_, what, _) in &mut report.top {
        let id = what.strip_prefix("promotion:").unwrap_or(what);
        if let Some(name) = names.get(id) {
            *what = format!("{name} ({what})");
        }
    }
    let mut per_ap: Vec<(String, i64)> = Vec::new();
    if let Some(ac) = &handles.ac {
        for (_, ap, _, _) in ac.stations().await.unwrap_or_default() {
            match per_ap.iter_mut().find(|(a, _)| *a == ap) {
                Some((_, n)) => *n += 1,
                None => per_ap.push((ap, 1)),
            }
        }
        per_ap.sort();
    }
    Reply::Report { report: Box::new(report), range, per_ap }
}

/// A firmware image checked against its signed manifest (off the async
/// threads: hashing and the signature take a while) and kept.
async fn upload(ac: &Ac, version: String, model: String, image: Vec<u8>, signature: Vec<u8>) -> Reply {
    let ac = ac.clone();
    match tokio::task::spawn_blocking(move || ac.upload_firmware(&version, &model, image, &signature)).await {
        Ok(result) => result.map_or_else(|e| failed(&e), |()| Reply::Done),
        Err(_) => refused(ErrorKind::Unavailable, "the firmware check did not finish"),
    }
}
