//! Membership card login (会员卡): the card's number and PIN, checked
//! against the member store; the member's tier sets how long and how fast.
//!
//! The store is asked first (a frozen or reported-lost card is refused at
//! once, wherever it was frozen). While it cannot be reached the local copy
//! of the brand's cards is used, refreshed in the background and never
//! older than `members.cache_max_age_hours`; past that, card logins wait
//! for the store. Wrong PINs are limited per card (whatever the device) as
//! well as per device.

use super::lockout::Lockout;
use super::{AuthError, Bandwidth, Grant, Identity, Method, Refusal};
use crate::kit::time::now_ms;
use crate::members::{CardRecord, MembersError, Store};
use sqlx::SqlitePool;
use std::time::Duration;

/// How long the card login waits for the store before it uses the cache.
const STORE_WAIT: Duration = Duration::from_secs(2);

/// The card method.
pub struct Cards {
    store: Store,
    local: SqlitePool,
    /// Wrong PINs per card.
    pub per_card: Lockout<String>,
    length: Duration,
    bandwidth: Bandwidth,
    max_age: Duration,
}

impl Cards {
    /// Cards in `store`, cached in `local`; a tier without its own worth
    /// gets `length` and `bandwidth`.
    pub fn new(
        store: Store,
        local: SqlitePool,
        per_card: Lockout<String>,
        length: Duration,
        bandwidth: Bandwidth,
        max_age: Duration,
    ) -> Self {
        Cards { store, local, per_card, length, bandwidth, max_age }
    }

    /// A card number as typed: spaces dropped, upper case; None if it cannot be one.
    pub fn normalize(typed: &str) -> Option<String> {
        let card: String =
            typed.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_ascii_uppercase();
        crate::members::valid_card(&card).then_some(card)
    }

    /// Checks a card and PIN; the grant its tier is worth.
    pub async fn login(&self, typed_card: &str, pin: &str) -> Result<Grant, AuthError> {
        let Some(card_no) = Self::normalize(typed_card) else {
            return Err(Refusal::WrongCredentials.into());
        };
        if let Some(retry_after) = self.per_card.check(card_no.clone()) {
            return Err(Refusal::LockedOut { retry_after }.into());
        }
        let card = self.find(&card_no).await?;
        // An unknown card costs the same argon2 time as a wrong PIN.
        let hash = card.as_ref().and_then(|c| c.pin_hash.clone()).unwrap_or_else(crate::kit::passwords::unusable_hash);
        let good = crate::kit::passwords::verify_password(pin.to_string(), hash).await;
        let Some(card) = card.filter(|c| good && c.pin_hash.is_some()) else {
            self.per_card.fail(card_no);
            return Err(Refusal::WrongCredentials.into());
        };
        self.per_card.clear(card_no.clone());
        Ok(self.grant_of(card)?)
    }

    /// A member's one-tap return with a card their device logged in with
    /// at a site of the brand: no PIN, but the card's state and tier as now.
    pub async fn grant_for(&self, card_no: &str) -> Result<Grant, AuthError> {
        match self.find(card_no).await? {
            Some(card) => Ok(self.grant_of(card)?),
            None => Err(Refusal::Expired.into()),
        }
    }

    /// The card from the store, else (store unreachable or slow) the cache.
    async fn find(&self, card_no: &str) -> Result<Option<CardRecord>, AuthError> {
        match tokio::time::timeout(STORE_WAIT, self.store.card(card_no)).await {
            Ok(Ok(card)) => Ok(card),
            Ok(Err(err)) => {
                tracing::warn!(error = %crate::error_chain(&err), "member store unreachable: card checked against the cache");
                self.cached(card_no).await
            }
            Err(_) => {
                tracing::warn!("member store slow: card checked against the cache");
                self.cached(card_no).await
            }
        }
    }

    /// What an active card is worth: its tier's time and bandwidth.
    fn grant_of(&self, card: CardRecord) -> Result<Grant, Refusal> {
        match card.state.as_str() {
            "frozen" => return Err(Refusal::CardFrozen),
            "lost" => return Err(Refusal::CardLost),
            _ => {}
        }
        let card_no = card.card_no.clone();
        let minutes = u64::try_from(card.session_minutes).unwrap_or(0);
        let kbps = |v: i64, default: u32| if v > 0 { u32::try_from(v).unwrap_or(u32::MAX) } else { default };
        Ok(Grant {
            method: Method::Card,
            identity: Identity::Card(card_no),
            duration: if minutes > 0 { Duration::from_secs(minutes * 60) } else { self.length },
            bandwidth: Bandwidth {
                down_kbps: kbps(card.down_kbps, self.bandwidth.down_kbps),
                up_kbps: kbps(card.up_kbps, self.bandwidth.up_kbps),
            },
        })
    }

    /// The card from the local copy, if that copy is young enough.
    async fn cached(&self, card_no: &str) -> Result<Option<CardRecord>, AuthError> {
        let refreshed: Option<String> = sqlx::query_scalar("SELECT v FROM member_state WHERE k = 'cards_refreshed_at'")
            .fetch_optional(&self.local)
            .await?;
        let age = refreshed.and_then(|v| v.parse::<i64>().ok()).map(|at| now_ms() - at);
        if age.is_none_or(|age| age > self.max_age.as_millis() as i64) {
            return Err(Refusal::Unavailable.into());
        }
        let row: Option<crate::members::CardTuple> = sqlx::query_as(
            "SELECT card_no, member_id, pin_hash, state, tier, session_minutes, down_kbps, up_kbps FROM member_cards \
             WHERE card_no = ?",
        )
        .bind(card_no)
        .fetch_optional(&self.local)
        .await?;
        Ok(row.map(crate::members::card_of))
    }

    /// Copies every card of the brand into the local cache (one transaction);
    /// returns how many.
    pub async fn refresh(&self) -> Result<usize, MembersError> {
        let cards = self.store.all_cards().await?;
        let mut tx = self.local.begin().await.map_err(MembersError::Local)?;
        let local = async {
            sqlx::query("DELETE FROM member_cards").execute(&mut *tx).await?;
            for c in &cards {
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
            Ok::<_, sqlx::Error>(())
        };
        local.await.map_err(MembersError::Local)?;
        tx.commit().await.map_err(MembersError::Local)?;
        Ok(cards.len())
    }

    /// Puts a card's new state in the local copy at once (a card reported
    /// lost is refused even if the store goes away before the next refresh).
    pub async fn cache_state(&self, card_no: &str, state: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE member_cards SET state = ? WHERE card_no = ?")
            .bind(state)
            .bind(card_no)
            .execute(&self.local)
            .await
            .map(|_| ())
    }

    /// Drops an erased member's cards from the local copy.
    pub async fn forget_member(&self, member_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM member_cards WHERE member_id = ?")
            .bind(member_id)
            .execute(&self.local)
            .await
            .map(|_| ())
    }

    /// Refreshes the cache every `every`, for ever.
    pub async fn keep_fresh(self: std::sync::Arc<Self>, every: Duration) {
        loop {
            // Until the first copy, and while the store is away, try often.
            let wait = match self.refresh().await {
                Ok(n) => {
                    tracing::debug!(cards = n, "card cache refreshed");
                    every
                }
                Err(err) => {
                    tracing::debug!(error = %crate::error_chain(&err), "card cache not refreshed");
                    every.min(Duration::from_secs(5))
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}
