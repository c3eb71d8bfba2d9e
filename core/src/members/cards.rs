//! The card cache: the appliance's own copy of the brand's cards (in its
//! SQLite store), what the card login falls back to while the member store
//! cannot be reached. The member store's side owns it: the card login reads
//! it, its refresh and the staff's card changes write it, the feed reports
//! its age; none of them holds its SQL.

use super::{card_of, CardRecord, CardTuple};
use crate::kit::time::now_ms;
use sqlx::SqlitePool;

/// The local copy of the brand's cards.
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
            "SELECT card_no, member_id, pin_hash, state, tier, session_minutes, down_kbps, up_kbps FROM member_cards \
             WHERE card_no = ?",
        )
        .bind(card_no)
        .fetch_optional(&self.local)
        .await?;
        Ok(row.map(card_of))
    }

    /// The copy becomes `cards`, stamped now, in one transaction.
    pub async fn replace(&self, cards: &[CardRecord]) -> Result<(), sqlx::Error> {
        let mut tx = self.local.begin().await?;
        sqlx::query("DELETE FROM member_cards").execute(&mut *tx).await?;
        for c in cards {
            sqlx::query(
                "INSERT INTO member_cards (card_no, member_id, pin_hash, state, tier, session_minutes, down_kbps, up_kbps) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&c.card_no)
            .bind(&c.member_id)
            .bind(&c.pin_hash)
            .bind(&c.state)
            .bind(&c.tier)
            .bind(c.session_minutes)
            .bind(c.down_kbps)
            .bind(c.up_kbps)
            .execute(&mut *tx)
            .await?;
        }
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

    /// An erased member's cards, gone from the copy.
    pub async fn forget_member(&self, member_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM member_cards WHERE member_id = ?")
            .bind(member_id)
            .execute(&self.local)
            .await
            .map(|_| ())
    }
}
