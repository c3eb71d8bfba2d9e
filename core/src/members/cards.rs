//! The card cache: the appliance's own copy of the cards seen at this site
//! in the last [`SEEN_WITHIN`] (in its SQLite store), what the card login
//! falls back to while the member store cannot be reached. A card goes in
//! when it logs in here; the refresh brings those cards' state and tier
//! from the store and lets go of cards not seen for that long. Not a copy
//! of every card of the brand: a stolen appliance gives an offline guess at
//! this site's regulars' PINs, not the whole chain's. The member store's
//! side owns it: the card login reads and feeds it, its refresh and the
//! staff's card changes write it, the feed reports its age; none of them
//! holds its SQL.

use super::{card_of, CardRecord, CardTuple};
use crate::kit::time::now_ms;
use sqlx::SqlitePool;
use std::time::Duration;

/// How long a card seen here stays in the copy.
pub const SEEN_WITHIN: Duration = Duration::from_secs(90 * 86_400);

/// The local copy of the cards seen here.
#[derive(Clone)]
pub struct CardCache {
    local: SqlitePool,
}

impl CardCache {
    /// The copy in the appliance's store.
    pub fn new(local: SqlitePool) -> Self {
        CardCache { local }
    }

    /// When the copy was last refreshed (UTC ms); None: never.
    pub async fn refreshed_at(&self) -> Result<Option<i64>, sqlx::Error> {
        let at: Option<String> = sqlx::query_scalar("SELECT v FROM member_state WHERE k = 'cards_refreshed_at'")
            .fetch_optional(&self.local)
            .await?;
        Ok(at.and_then(|v| v.parse().ok()))
    }

    /// A card from the copy.
    pub async fn card(&self, card_no: &str) -> Result<Option<CardRecord>, sqlx::Error> {
        let row: Option<CardTuple> = sqlx::query_as(
            "SELECT card_no, member_id, pin_hash, state, tier, session_minutes, down_kbps, up_kbps, data_mb FROM member_cards \
             WHERE card_no = ?",
        )
        .bind(card_no)
        .fetch_optional(&self.local)
        .await?;
        Ok(row.map(card_of))
    }

    /// A card that logged in here (as the store has it): kept, seen now.
    pub async fn keep(&self, card: &CardRecord) -> Result<(), sqlx::Error> {
        let mut conn = self.local.acquire().await?;
        upsert(&mut conn, card, now_ms()).await
    }

    /// The numbers of the cards seen here within [`SEEN_WITHIN`]: what a
    /// refresh asks the store for.
    pub async fn seen(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT card_no FROM member_cards WHERE seen_at >= ? ORDER BY card_no")
            .bind(now_ms() - SEEN_WITHIN.as_millis() as i64)
            .fetch_all(&self.local)
            .await
    }

    /// The store's records `cards` of the cards `asked` for (those seen
    /// here) replace theirs in the copy, each keeping when it was seen; one
    /// the store no longer has goes, and so do cards not seen within
    /// [`SEEN_WITHIN`]. Stamped now, in one transaction.
    pub async fn replace(&self, asked: &[String], cards: &[CardRecord]) -> Result<(), sqlx::Error> {
        let mut tx = self.local.begin().await?;
        let found: std::collections::HashSet<&str> = cards.iter().map(|c| c.card_no.as_str()).collect();
        for card_no in asked.iter().filter(|c| !found.contains(c.as_str())) {
            sqlx::query("DELETE FROM member_cards WHERE card_no = ?").bind(card_no).execute(&mut *tx).await?;
        }
        // Seen at 0: a card dropped from the copy meanwhile (an erasure) is
        // not brought back; the clean-up below takes it out again.
        for c in cards {
            upsert(&mut tx, c, 0).await?;
        }
        sqlx::query("DELETE FROM member_cards WHERE seen_at < ?")
            .bind(now_ms() - SEEN_WITHIN.as_millis() as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO member_state (k, v) VALUES ('cards_refreshed_at', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
        )
        .bind(now_ms().to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// A card's new state, at once (a card reported lost is refused even if
    /// the store goes away before the next refresh).
    pub async fn set_state(&self, card_no: &str, state: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE member_cards SET state = ? WHERE card_no = ?")
            .bind(state)
            .bind(card_no)
            .execute(&self.local)
            .await
            .map(|_| ())
    }

    /// How many cards the copy holds.
    pub async fn count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM member_cards").fetch_one(&self.local).await
    }

    /// An erased member's cards, gone from the copy.
    pub async fn forget_member(&self, member_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM member_cards WHERE member_id = ?")
            .bind(member_id)
            .execute(&self.local)
            .await
            .map(|_| ())
    }
}

/// Puts `card` in the copy, seen at `seen_at` (a card already there keeps
/// the later of the two).
async fn upsert(conn: &mut sqlx::SqliteConnection, c: &CardRecord, seen_at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO member_cards (card_no, member_id, pin_hash, state, tier, session_minutes, down_kbps, up_kbps, seen_at, \
         data_mb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (card_no) DO UPDATE SET member_id = excluded.member_id, \
         pin_hash = excluded.pin_hash, state = excluded.state, tier = excluded.tier, \
         session_minutes = excluded.session_minutes, down_kbps = excluded.down_kbps, up_kbps = excluded.up_kbps, \
         data_mb = excluded.data_mb, \
         seen_at = max(member_cards.seen_at, excluded.seen_at)",
    )
    .bind(&c.card_no)
    .bind(&c.member_id)
    .bind(&c.pin_hash)
    .bind(&c.state)
    .bind(&c.tier)
    .bind(c.session_minutes)
    .bind(c.down_kbps)
    .bind(c.up_kbps)
    .bind(seen_at)
    .bind(c.data_mb)
    .execute(conn)
    .await
    .map(|_| ())
}
