//! The member store's side of the portal in-process: cards and their
//! lock-outs, the welcome coupon, the feed delivering once, erasure, a bad
//! import, and the one-tap return at another site of the brand.

use super::*;

async fn count(h: &Harness, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(h.members.pool()).await.unwrap()
}

/// The outbox's rows (id, at, guest, body), oldest first.
async fn outbox(h: &Harness) -> Vec<(String, i64, String, String)> {
    let db = h.portal.auth.audit.db();
    sqlx::query_as("SELECT id, at, guest, body FROM outbox ORDER BY seq").fetch_all(&db).await.unwrap()
}

/// Puts `rows` back in the outbox (their ids with `suffix`): a batch
/// delivered again, or another site's copy of the same facts.
async fn replay(h: &Harness, rows: &[(String, i64, String, String)], suffix: &str) {
    let db = h.portal.auth.audit.db();
    for (id, at, guest, body) in rows {
        sqlx::query("INSERT INTO outbox (id, at, guest, body) VALUES (?, ?, ?, ?)")
            .bind(format!("{id}{suffix}"))
            .bind(at)
            .bind(guest)
            .bind(body)
            .execute(&db)
            .await
            .unwrap();
    }
}

/// Delivers the whole outbox.
async fn drain(h: &Harness) {
    while h.feed.deliver_once().await.unwrap() > 0 {}
}

#[tokio::test]
async fn a_member_card_logs_in_with_its_pin_for_its_tiers_time_and_a_frozen_or_lost_card_is_refused() {
    let h = harness(&[("GUESTWIFI_AUTH__CARD__ENABLED", "true")]).await;
    let imported = h.members.import("phone,name,card,tier,pin\n13800138000,王芳,8800123,gold,2468\n").await.unwrap();
    assert_eq!((imported.members, imported.cards), (1, 1));
    h.members.set_tier("gold", 240, 20_000, 5_000, 0).await.unwrap();
    let page = h.get(guest(1), "/").await;
    assert!(page.body.contains("card-card") && page.body.contains("会员卡号"), "the card form is offered");
    let token = page.field("token");
    let wrong = h.post(guest(1), "/login/card", &[("card", "8800123"), ("pin", "1357"), ("token", &token)]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(!h.filter.is_authorized(guest(1)));
    let ok = h
        .post(
            guest(1),
            "/login/card",
            &[("card", "8800 123"), ("pin", "2468"), ("token", &token), ("consent", "v1"), ("places", "v1")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let session = h.portal.sessions.current(guest(1)).await.unwrap().unwrap();
    assert_eq!(
        (session.granted_seconds, session.down_kbps, session.up_kbps),
        (240 * 60, 20_000, 5_000),
        "gold's worth"
    );
    assert_eq!(session.identity, "card:8800123");

    // The visit, its consent and the refusal land in the store, under the member.
    drain(&h).await;
    let member = h.members.find("8800123").await.unwrap().unwrap();
    let shown = h.members.show(&member, false).await.unwrap();
    assert_eq!(shown.phone, "138****8000");
    assert_eq!(shown.consent.as_deref(), Some("v1"), "consent with the text's version");
    assert!(shown.places_consent, "and to keeping the zones of the member's visits");
    assert_eq!(shown.visits, 1);
    assert!(shown.identities.contains(&format!("device:{}", guest(1).mac)), "{:?}", shown.identities);

    for (state, says) in [("frozen", "已冻结"), ("lost", "已挂失")] {
        assert!(h.members.set_card_state("8800123", state).await.unwrap());
        let token = h.get(guest(2), "/").await.field("token");
        let page = h.post(guest(2), "/login/card", &[("card", "8800123"), ("pin", "2468"), ("token", &token)]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{state}");
        assert!(page.body.contains(says), "{state}: {}", page.body);
        assert!(!h.filter.is_authorized(guest(2)));
    }
    assert!(h.audit().await.contains(&("card".into(), "refused".into(), "card_lost".into())));
}

#[tokio::test]
async fn wrong_pins_lock_the_card_whatever_the_device() {
    let h = harness(&[("GUESTWIFI_AUTH__CARD__ENABLED", "true"), ("GUESTWIFI_AUTH__CARD__WRONG_TRIES", "3")]).await;
    h.members.import("13800138001,,7700001,,1111\n").await.unwrap();
    for n in 1..=3 {
        let token = h.get(guest(n), "/").await.field("token");
        let page = h.post(guest(n), "/login/card", &[("card", "7700001"), ("pin", "9999"), ("token", &token)]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
    }
    // A fourth phone with the right PIN: the card is locked, not the phone.
    let token = h.get(guest(4), "/").await.field("token");
    let page = h.post(guest(4), "/login/card", &[("card", "7700001"), ("pin", "1111"), ("token", &token)]).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.headers.contains_key(header::RETRY_AFTER));
    assert!(!h.filter.is_authorized(guest(4)));
}

#[tokio::test]
async fn a_new_member_gets_one_welcome_coupon_and_the_page_says_so_once() {
    let h = harness(&[
        ("GUESTWIFI_MEMBERS__WELCOME_COUPON__ENABLED", "true"),
        ("GUESTWIFI_MEMBERS__WELCOME_COUPON__VALUE_CENTS", "1000"),
    ])
    .await;
    let sms_login = |n: u8| {
        let h = &h;
        async move {
            let token = h.get(guest(n), "/").await.field("token");
            h.post(guest(n), "/sms/send", &[("phone", "13600136000"), ("token", &token)]).await;
            let code = h.codes().pop().unwrap();
            h.post(guest(n), "/login/sms", &[("phone", "13600136000"), ("code", &code), ("token", &token)]).await
        }
    };
    let first = sms_login(1).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first.body.contains("id=\"coupon\"") && first.body.contains("10 元"), "{}", first.body);
    drain(&h).await;
    let second = sms_login(2).await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(!second.body.contains("id=\"coupon\""), "said once");
    drain(&h).await;
    assert_eq!(count(&h, "SELECT COUNT(*) FROM coupons WHERE rule = 'welcome' AND value_cents = 1000").await, 1);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM members").await, 1, "one member for the phone");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM visits").await, 2);
}

#[tokio::test]
async fn a_batch_delivered_twice_lands_once() {
    let h = harness(&[]).await;
    for n in 1..=5 {
        let page = h.get(guest(n), "/").await;
        let ticket = page.field("ticket");
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(h.post(guest(n), "/login", &[("ticket", &ticket)]).await.status, StatusCode::OK);
    }
    h.portal.sessions.logout(guest(1)).await.unwrap();
    // A crash after the store committed and before the outbox rows were
    // deleted: the same rows are delivered again.
    let rows = outbox(&h).await;
    assert_eq!(rows.len(), 5 + 5 + 1, "5 portal views, 5 logins, 1 visit end");
    drain(&h).await;
    replay(&h, &rows, "").await;
    drain(&h).await;
    assert_eq!(count(&h, "SELECT COUNT(*) FROM events").await, 11);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM visits").await, 5);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM visits WHERE end_reason = 'logout' AND ended_at IS NOT NULL").await, 1);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM identities WHERE kind = 'device'").await, 5);
    assert_eq!(h.feed.status().await.unwrap().backlog.waiting, 0);
}

#[tokio::test]
async fn an_erased_member_leaves_no_identity_visit_or_event_behind() {
    let h = harness(&[("GUESTWIFI_AUTH__CARD__ENABLED", "true")]).await;
    h.members.import("13800138002,李雷,6600001,,4321\n13800138003,韩梅梅,,,\n").await.unwrap();
    let token = h.get(guest(1), "/").await.field("token");
    let ok = h.post(guest(1), "/login/card", &[("card", "6600001"), ("pin", "4321"), ("token", &token)]).await;
    assert_eq!(ok.status, StatusCode::OK);
    // The same facts, as another site's outbox would still hold them.
    let elsewhere = outbox(&h).await;
    drain(&h).await;
    let id = h.members.find("13800138002").await.unwrap().unwrap();
    let (erased, who) = h.members.erase(&id).await.unwrap();
    assert!(erased.events >= 2 && erased.visits == 1 && erased.identities >= 2, "{erased:?}");
    assert!(who.iter().any(|w| w.kind == "phone"));
    assert!(h.members.find("13800138002").await.unwrap().is_none());
    assert!(h.members.find("6600001").await.unwrap().is_none(), "the card is gone too");
    let mac = guest(1).mac.to_string();
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE mac = $1 OR identity_value IN ($1, '6600001')")
            .bind(&mac)
            .fetch_one(h.members.pool())
            .await
            .unwrap();
    assert_eq!(left, 0);
    assert!(h.members.find("13800138003").await.unwrap().is_some(), "another member is untouched");
    // Facts from before the erasure arriving late (another site's outbox)
    // do not bring the member back.
    replay(&h, &elsewhere, "-late").await;
    drain(&h).await;
    assert_eq!(count(&h, "SELECT COUNT(*) FROM visits").await, 0);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM identities").await, 0);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM events").await, 0, "nothing of the device either");
}

#[tokio::test]
async fn a_bad_import_names_its_line_and_writes_nothing() {
    let h = harness(&[]).await;
    let err = h.members.import("13800138004,甲,,,\nnot-a-phone,乙,,,\n").await.unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = h.members.import("13800138004,甲,5500001,,12\n").await.unwrap_err();
    assert!(err.to_string().contains("PIN"), "{err}");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM members").await, 0);
}

#[tokio::test]
async fn a_phone_known_at_one_site_returns_with_one_tap_at_another_site_of_the_brand() {
    let dir = tempfile::tempdir().unwrap();
    let first = harness_at(&[("GUESTWIFI_MEMBERS__SITE", "shanghai-1")], dir.path(), None).await;
    let token = first.get(guest(1), "/").await.field("token");
    first.post(guest(1), "/sms/send", &[("phone", "13700137000"), ("token", &token)]).await;
    let code = first.codes().pop().unwrap();
    let ok = first.post(guest(1), "/login/sms", &[("phone", "13700137000"), ("code", &code), ("token", &token)]).await;
    assert_eq!(ok.status, StatusCode::OK);
    let cookie = pass_cookie(&ok);
    drain(&first).await;

    // The second site: its own appliance and passes, the brand's store.
    let second = harness_at(&[("GUESTWIFI_MEMBERS__SITE", "shanghai-2")], dir.path(), None).await;
    let bare = second.get(guest(1), "/").await;
    assert!(!bare.body.contains("member-return") && !bare.body.contains("7000"), "the MAC alone shows nothing");
    let refused = second.post(guest(1), "/login/return", &[("token", &bare.field("token"))]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "the MAC alone logs nobody in");
    let page = second.send_with(guest(1), "GET", "/", &[], "zh-CN", Some(&cookie)).await;
    assert!(page.body.contains("member-return") && page.body.contains("137****7000"), "{}", page.body);
    let sent = second.codes().len();
    let form = [("token", page.field("token"))];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let back = second.send_with(guest(1), "POST", "/login/return", &form, "zh-CN", Some(&cookie)).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(second.session_identity(guest(1)).await.unwrap(), "phone:137****7000");
    assert_eq!(second.codes().len(), sent, "no SMS");
    // A device the brand never saw gets no such offer, and a forged tap is refused.
    let stranger = second.get(guest(5), "/").await;
    assert!(!stranger.body.contains("member-return"));
    let forged = second.post(guest(5), "/login/return", &[("token", &stranger.field("token"))]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    drain(&second).await;
    assert_eq!(count(&second, "SELECT COUNT(*) FROM visits WHERE site_id = 'shanghai-2'").await, 1);
}

#[tokio::test]
async fn a_member_card_returns_with_one_tap_at_another_site_unless_it_was_reported_lost() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("GUESTWIFI_AUTH__CARD__ENABLED", "true")];
    let first = harness_at(&[env[0], ("GUESTWIFI_MEMBERS__SITE", "beijing-1")], dir.path(), None).await;
    first.members.import("13500135000,赵六,9900123,silver,8642\n").await.unwrap();
    first.members.set_tier("silver", 90, 0, 0, 0).await.unwrap();
    let token = first.get(guest(2), "/").await.field("token");
    let ok = first.post(guest(2), "/login/card", &[("card", "9900123"), ("pin", "8642"), ("token", &token)]).await;
    assert_eq!(ok.status, StatusCode::OK);
    let cookie = pass_cookie(&ok);
    drain(&first).await;

    let second = harness_at(&[env[0], ("GUESTWIFI_MEMBERS__SITE", "beijing-2")], dir.path(), None).await;
    let page = second.send_with(guest(2), "GET", "/", &[], "zh-CN", Some(&cookie)).await;
    assert!(page.body.contains("member-return") && page.body.contains("会员卡 ****0123"), "{}", page.body);
    let token = page.field("token");
    let back = second.send_with(guest(2), "POST", "/login/return", &[("token", &token)], "zh-CN", Some(&cookie)).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let session = second.portal.sessions.current(guest(2)).await.unwrap().unwrap();
    assert_eq!((session.identity.as_str(), session.granted_seconds), ("card:9900123", 90 * 60), "the tier's time");
    second.portal.sessions.logout(guest(2)).await.unwrap();

    // Reported lost since: the tap is refused with the card's page.
    second.members.set_card_state("9900123", "lost").await.unwrap();
    let back_again = Some(cookie.as_str());
    let refused = second.send_with(guest(2), "POST", "/login/return", &[("token", &token)], "zh-CN", back_again).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("已挂失"));
    assert!(!second.filter.is_authorized(guest(2)));
}
