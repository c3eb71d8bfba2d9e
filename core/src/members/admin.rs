//! What staff do with the member store: import members from CSV, set a
//! tier's Wi-Fi worth, freeze or report a card lost, find and show a member
//! with everything the Wi-Fi knows of them, and erase one on request.

use super::*;

impl Store {
    /// Imports members from CSV text: `phone,name,card,tier,pin` (a header
    /// line is skipped; card, tier and PIN may be empty). All or nothing: a
    /// bad line names itself and nothing is written.
    pub async fn import(&self, csv: &str) -> Result<Imported, MembersError> {
        struct Line {
            phone: String,
            name: String,
            card: String,
            tier: String,
            pin: String,
        }
        let mut lines = Vec::new();
        for (n, raw) in csv.lines().enumerate() {
            let raw = raw.trim().trim_start_matches('\u{feff}');
            if raw.is_empty() || (n == 0 && raw.to_ascii_lowercase().starts_with("phone")) {
                continue;
            }
            let cols: Vec<&str> = raw.split(',').map(str::trim).collect();
            let bad = |why: &str| MembersError::Invalid(format!("line {}: {why}", n + 1));
            if cols.len() < 2 || cols.len() > 5 {
                return Err(bad("expected phone,name,card,tier,pin"));
            }
            let phone = crate::kit::phones::member_phone(cols[0]).ok_or_else(|| bad("not a phone number"))?;
            let col = |i: usize| cols.get(i).map(|s| s.to_string()).unwrap_or_default();
            let (card, pin) = (col(2), col(4));
            if !card.is_empty() && !valid_card(&card) {
                return Err(bad("a card number is 4 to 32 letters or digits"));
            }
            if !pin.is_empty()
                && (card.is_empty() || !(4..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(bad("a PIN is 4 to 12 digits, on a line with a card"));
            }
            lines.push(Line { phone, name: col(1), card, tier: col(3), pin });
        }
        // argon2 is slow on purpose: hash on every core at once.
        let mut hashing = tokio::task::JoinSet::new();
        for (i, line) in lines.iter().enumerate().filter(|(_, l)| !l.pin.is_empty()) {
            let pin = line.pin.clone();
            hashing.spawn(async move { (i, crate::kit::passwords::hash_password(pin).await) });
        }
        let mut hashes: Vec<Option<String>> = vec![None; lines.len()];
        while let Some(done) = hashing.join_next().await {
            let (i, hash) = done.map_err(|_| MembersError::Invalid("cannot hash a PIN".into()))?;
            hashes[i] = Some(hash.map_err(|_| MembersError::Invalid("cannot hash a PIN".into()))?);
        }
        let now = now_ms();
        let mut done = Imported::default();
        let mut tx = self.pool.begin().await?;
        for (line, hash) in lines.iter().zip(hashes) {
            let existing: Option<String> =
                sqlx::query_scalar("SELECT member_id FROM members WHERE brand_id = $1 AND phone = $2")
                    .bind(&self.brand)
                    .bind(&line.phone)
                    .fetch_optional(&mut *tx)
                    .await?;
            let member = match existing {
                Some(id) => {
                    sqlx::query(
                        "UPDATE members SET name = CASE WHEN $3 = '' THEN name ELSE $3 END, \
                         tier = CASE WHEN $4 = '' THEN tier ELSE $4 END WHERE brand_id = $1 AND member_id = $2",
                    )
                    .bind(&self.brand)
                    .bind(&id)
                    .bind(&line.name)
                    .bind(&line.tier)
                    .execute(&mut *tx)
                    .await?;
                    done.updated += 1;
                    id
                }
                None => {
                    let id = uuid::Uuid::new_v4().to_string();
                    sqlx::query(
                        "INSERT INTO members (brand_id, member_id, phone, name, tier, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&self.brand)
                    .bind(&id)
                    .bind(&line.phone)
                    .bind(&line.name)
                    .bind(&line.tier)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    done.members += 1;
                    id
                }
            };
            if !line.tier.is_empty() {
                sqlx::query("INSERT INTO tiers (brand_id, tier, name) VALUES ($1, $2, $2) ON CONFLICT DO NOTHING")
                    .bind(&self.brand)
                    .bind(&line.tier)
                    .execute(&mut *tx)
                    .await?;
            }
            if !line.card.is_empty() {
                let owner: Option<String> =
                    sqlx::query_scalar("SELECT member_id FROM cards WHERE brand_id = $1 AND card_no = $2")
                        .bind(&self.brand)
                        .bind(&line.card)
                        .fetch_optional(&mut *tx)
                        .await?;
                if owner.as_ref().is_some_and(|o| *o != member) {
                    return Err(MembersError::Invalid(format!("card {} belongs to another member", line.card)));
                }
                sqlx::query(
                    "INSERT INTO cards (brand_id, card_no, member_id, pin_hash, tier, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (brand_id, card_no) DO UPDATE SET pin_hash = COALESCE(excluded.pin_hash, cards.pin_hash), \
                     tier = excluded.tier, updated_at = excluded.updated_at",
                )
                .bind(&self.brand)
                .bind(&line.card)
                .bind(&member)
                .bind(hash)
                .bind(&line.tier)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                done.cards += 1;
            }
        }
        tx.commit().await?;
        tracing::info!(members = done.members, updated = done.updated, cards = done.cards, "members imported");
        Ok(done)
    }

    /// Sets a tier's Wi-Fi worth (session minutes, kbit/s down and up, MB a day).
    pub async fn set_tier(
        &self,
        tier: &str,
        minutes: i64,
        down: i64,
        up: i64,
        data_mb: i64,
    ) -> Result<(), MembersError> {
        sqlx::query(
            "INSERT INTO tiers (brand_id, tier, name, session_minutes, down_kbps, up_kbps, data_mb) \
             VALUES ($1, $2, $2, $3, $4, $5, $6) ON CONFLICT (brand_id, tier) DO UPDATE SET \
             session_minutes = excluded.session_minutes, down_kbps = excluded.down_kbps, up_kbps = excluded.up_kbps, \
             data_mb = excluded.data_mb",
        )
        .bind(&self.brand)
        .bind(tier)
        .bind(minutes)
        .bind(down)
        .bind(up)
        .bind(data_mb)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets a card's state (`active`, `frozen`, `lost`); false when no such card.
    pub async fn set_card_state(&self, card_no: &str, state: &str) -> Result<bool, MembersError> {
        if !matches!(state, "active" | "frozen" | "lost") {
            return Err(MembersError::Invalid(format!("{state:?} is not active, frozen or lost")));
        }
        let done = sqlx::query("UPDATE cards SET state = $3, updated_at = $4 WHERE brand_id = $1 AND card_no = $2")
            .bind(&self.brand)
            .bind(card_no)
            .bind(state)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() > 0 {
            tracing::info!(card = %card_no, state, "card state changed");
        }
        Ok(done.rows_affected() > 0)
    }

    /// Finds a member by phone (as typed), card number or member id.
    pub async fn find(&self, key: &str) -> Result<Option<String>, MembersError> {
        let key = key.trim();
        if let Some(phone) = crate::kit::phones::member_phone(key) {
            let id: Option<String> =
                sqlx::query_scalar("SELECT member_id FROM members WHERE brand_id = $1 AND phone = $2")
                    .bind(&self.brand)
                    .bind(phone)
                    .fetch_optional(&self.pool)
                    .await?;
            if id.is_some() {
                return Ok(id);
            }
        }
        let id: Option<String> = sqlx::query_scalar(
            "SELECT member_id FROM cards WHERE brand_id = $1 AND card_no = $2 \
             UNION SELECT member_id FROM members WHERE brand_id = $1 AND member_id = $2",
        )
        .bind(&self.brand)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        // Else a WeChat openid (or any identity), bare or as `kind:value`.
        if id.is_some() {
            return Ok(id);
        }
        let (kind, value) = key.split_once(':').unwrap_or(("", key));
        let by_identity = "SELECT member_id FROM identities WHERE brand_id = $1 AND value = $2 \
                           AND ($3 = '' OR kind = $3) AND member_id IS NOT NULL LIMIT 1";
        let id: Option<Option<String>> =
            sqlx::query_scalar(by_identity).bind(&self.brand).bind(value).bind(kind).fetch_optional(&self.pool).await?;
        Ok(id.flatten())
    }

    /// A member with cards, balances, coupons and what the Wi-Fi knows.
    /// The phone is masked unless `full`.
    pub async fn show(&self, member_id: &str, full: bool) -> Result<MemberView, MembersError> {
        type MemberTuple = (Option<String>, String, String, i64, String, Option<i64>, Option<i64>, i64);
        let b = &self.brand;
        let m: Option<MemberTuple> = sqlx::query_as(
            "SELECT phone, name, tier, consent, consent_version, first_seen_at, last_seen_at, places_consent FROM members \
             WHERE brand_id = $1 AND member_id = $2",
        )
        .bind(b)
        .bind(member_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some((phone, name, tier, consent, consent_version, first_seen_at, last_seen_at, places)) = m else {
            return Err(MembersError::NotFound);
        };
        let cards: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT card_no, state, tier, pin_hash FROM cards WHERE brand_id = $1 AND member_id = $2 ORDER BY card_no",
        )
        .bind(b)
        .bind(member_id)
        .fetch_all(&self.pool)
        .await?;
        let balance: Option<(i64, i64)> =
            sqlx::query_as("SELECT stored_value_cents, points FROM balances WHERE brand_id = $1 AND member_id = $2")
                .bind(b)
                .bind(member_id)
                .fetch_optional(&self.pool)
                .await?;
        type CouponTuple = (String, i64, Option<String>, i64, Option<i64>);
        let coupons: Vec<CouponTuple> = sqlx::query_as(
            "SELECT kind, value_cents, rule, valid_until, redeemed_at FROM coupons \
             WHERE brand_id = $1 AND member_id = $2 ORDER BY issued_at",
        )
        .bind(b)
        .bind(member_id)
        .fetch_all(&self.pool)
        .await?;
        let identities: Vec<(String, String)> = sqlx::query_as(
            "SELECT kind, value FROM identities WHERE brand_id = $1 AND member_id = $2 ORDER BY kind, value",
        )
        .bind(b)
        .bind(member_id)
        .fetch_all(&self.pool)
        .await?;
        let (visits, events) = self.counts(&identities).await?;
        Ok(MemberView {
            member_id: member_id.to_string(),
            phone: phone.map(|p| if full { p } else { crate::kit::phones::mask_phone(&p) }).unwrap_or_default(),
            name,
            tier,
            consent: (consent != 0).then_some(consent_version),
            places_consent: places != 0,
            cards: cards
                .into_iter()
                .map(|(card_no, state, tier, pin)| CardView { card_no, state, tier, has_pin: pin.is_some() })
                .collect(),
            stored_value_cents: balance.map_or(0, |b| b.0),
            points: balance.map_or(0, |b| b.1),
            coupons: coupons
                .into_iter()
                .map(|(kind, value_cents, rule, valid_until, redeemed_at)| CouponView {
                    kind,
                    value_cents,
                    rule,
                    valid_until,
                    redeemed_at,
                })
                .collect(),
            identities: identities
                .iter()
                .map(|(kind, value)| Who { kind: kind.clone(), value: value.clone() })
                .map(|w| if full { format!("{}:{}", w.kind, w.value) } else { w.masked() })
                .collect(),
            visits,
            events,
            first_seen_at,
            last_seen_at,
        })
    }

    async fn counts(&self, identities: &[(String, String)]) -> Result<(i64, i64), MembersError> {
        let (mut visits, mut events) = (0, 0);
        for (kind, value) in identities {
            visits += sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM visits WHERE brand_id = $1 AND identity_kind = $2 AND identity_value = $3",
            )
            .bind(&self.brand)
            .bind(kind)
            .bind(value)
            .fetch_one(&self.pool)
            .await?;
            events += sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM events WHERE brand_id = $1 AND identity_kind = $2 AND identity_value = $3",
            )
            .bind(&self.brand)
            .bind(kind)
            .bind(value)
            .fetch_one(&self.pool)
            .await?;
        }
        Ok((visits, events))
    }

    /// Erases a member on request: their identities (and every visit and
    /// event filed under them or their devices), cards, the Wi-Fi's
    /// coupons and the member row, in one transaction; a tombstone for each
    /// identity drops the facts about them still on their way from any
    /// site. Returns the
    /// identities erased (`kind:value`) so the appliance can forget them too.
    pub async fn erase(&self, member_id: &str) -> Result<(Erased, Vec<Who>), MembersError> {
        let b = &self.brand;
        let mut tx = self.pool.begin().await?;
        let found: Option<Option<String>> =
            sqlx::query_scalar("SELECT phone FROM members WHERE brand_id = $1 AND member_id = $2")
                .bind(b)
                .bind(member_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(phone) = found else {
            return Err(MembersError::NotFound);
        };
        let mut who: Vec<Who> = sqlx::query_as::<_, (String, String)>(
            "SELECT kind, value FROM identities WHERE brand_id = $1 AND member_id = $2",
        )
        .bind(b)
        .bind(member_id)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(kind, value)| Who { kind, value })
        .collect();
        if let Some(phone) = phone.filter(|p| !who.iter().any(|w| w.kind == "phone" && w.value == *p)) {
            who.push(Who { kind: "phone".into(), value: phone });
        }
        let mut erased = Erased::default();
        for w in &who {
            for (table, count) in [("events", &mut erased.events), ("visits", &mut erased.visits)] {
                *count += sqlx::query(&format!(
                    "DELETE FROM {table} WHERE brand_id = $1 AND identity_kind = $2 AND identity_value = $3"
                ))
                .bind(b)
                .bind(&w.kind)
                .bind(&w.value)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            sqlx::query("DELETE FROM return_passes WHERE brand_id = $1 AND kind = $2 AND value = $3")
                .bind(b)
                .bind(&w.kind)
                .bind(&w.value)
                .execute(&mut *tx)
                .await?;
            if w.kind == "device" {
                // A device's events before login carry its MAC only.
                erased.events += sqlx::query("DELETE FROM events WHERE brand_id = $1 AND mac = $2")
                    .bind(b)
                    .bind(&w.value)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
        }
        let now = now_ms();
        for w in &who {
            sqlx::query(
                "INSERT INTO erasures (brand_id, kind, value, erased_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (brand_id, kind, value) DO UPDATE SET erased_at = excluded.erased_at",
            )
            .bind(b)
            .bind(&w.kind)
            .bind(&w.value)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        erased.identities = sqlx::query("DELETE FROM identities WHERE brand_id = $1 AND member_id = $2")
            .bind(b)
            .bind(member_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for table in ["cards", "coupons"] {
            erased.cards += sqlx::query(&format!("DELETE FROM {table} WHERE brand_id = $1 AND member_id = $2"))
                .bind(b)
                .bind(member_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        for table in ["balances", "members"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE brand_id = $1 AND member_id = $2"))
                .bind(b)
                .bind(member_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::info!(member = %member_id, identities = erased.identities, events = erased.events, "member erased");
        Ok((erased, who))
    }
}
