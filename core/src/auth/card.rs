//! Membership card login (会员卡): the card's number and PIN, checked
//! against the member store; the member's tier sets how long and how fast.
//!
//! The store is asked first (a frozen or reported-lost card is refused at
//! once, wherever it was frozen). While it cannot be reached the local copy
//! of the cards seen at this site is used (a card goes in when it logs in
//! here), refreshed in the background and never older than
//! `members.cache_max_age_hours`; past that, card logins wait for the
//! store. A card never seen here waits for the store too. Wrong PINs are limited per card (whatever the device) as
//! well as per device.
//!
//! A site enrolled with headquarters sends the card and PIN to HQ, which
//! checks the PIN and returns the card's hash only for a right one; so the
//! site's copy holds the cards that logged in here, as without HQ.

use super::lockout::Lockout;
use super::{AuthError, Bandwidth, Grant, Identity, Method, Refusal};
use crate::kit::time::now_ms;
use crate::members::cards::CardCache;
use crate::members::{CardRecord, MembersError, Store};
use sqlx::SqlitePool;
use std::time::Duration;

/// How long the card login waits for the store before it uses the cache.
const STORE_WAIT: Duration = Duration::from_secs(2);
/// How long it waits for HQ's check (HQ runs the slow PIN check itself).
const HQ_WAIT: Duration = Duration::from_secs(4);

/// The card method.
pub struct Cards {
    store: Store,
    cache: CardCache,
    /// Wrong PINs per card.
    pub per_card: Lockout<String>,
    /// Wrong PINs of the whole site in an hour.
    site: Lockout<()>,
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
        site: Lockout<()>,
        length: Duration,
        bandwidth: Bandwidth,
        max_age: Duration,
    ) -> Self {
        Cards { store, cache: CardCache::new(local), per_card, site, length, bandwidth, max_age }
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
        // Counted before the slow check: PINs at once cannot all be checked.
        // The site's hour of wrong PINs first: spraying many cards from
        // fresh MACs meets it. Counted before the check, like the card's.
        let site = self.site.reserve(()).map_err(|retry_after| Refusal::Limited { retry_after })?;
        let reserved = match self.per_card.reserve(card_no.clone()) {
            Ok(reserved) => reserved,
            Err(retry_after) => {
                site.give_back();
                return Err(Refusal::LockedOut { retry_after }.into());
            }
        };
        // An enrolled site has HQ check the PIN (HQ gives the hash only for
        // a right one); while HQ cannot answer, the cards seen here are.
        let remote = self.store.remote().is_some();
        if let Some(hq) = self.store.remote() {
            match tokio::time::timeout(HQ_WAIT, hq.check_card(&card_no, pin)).await {
                Ok(Ok(Some(card))) => {
                    reserved.clear();
                    site.give_back();
                    self.seen(&card).await;
                    return Ok(self.grant_of(card)?);
                }
                Ok(Ok(None)) => {
                    reserved.keep();
                    site.keep();
                    return Err(Refusal::WrongCredentials.into());
                }
                Ok(Err(err)) if err.status == Some(429) => {
                    reserved.give_back();
                    site.give_back();
                    return Err(Refusal::Limited { retry_after: Duration::from_secs(60) }.into());
                }
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "headquarters did not check the card: checked against the cache")
                }
                Err(_) => tracing::warn!("headquarters slow: card checked against the cache"),
            }
        }
        let found = if remote { self.cached(&card_no).await } else { self.find(&card_no).await };
        let card = match found {
            Ok(card) => card,
            Err(err) => {
                reserved.give_back();
                site.give_back();
                return Err(err);
            }
        };
        // An unknown card costs the same argon2 time as a wrong PIN.
        let hash = card.as_ref().and_then(|c| c.pin_hash.clone()).unwrap_or_else(crate::kit::passwords::unusable_hash);
        let Ok(good) = crate::kit::passwords::verify_password(pin.to_string(), hash).await else {
            reserved.give_back();
            site.give_back();
            return Err(Refusal::Limited { retry_after: Duration::from_secs(1) }.into());
        };
        let Some(card) = card.filter(|c| good && c.pin_hash.is_some()) else {
            reserved.keep();
            site.keep();
            return Err(Refusal::WrongCredentials.into());
        };
        reserved.clear();
        // A right PIN is no wrong one; it does not clear the others' count.
        site.give_back();
        self.seen(&card).await;
        Ok(self.grant_of(card)?)
    }

    /// A member's one-tap return with a card their device logged in with
    /// at a site of the brand: no PIN, but the card's state and tier as now.
    pub async fn grant_for(&self, card_no: &str) -> Result<Grant, AuthError> {
        match self.find(card_no).await? {
            Some(card) => {
                self.seen(&card).await;
                Ok(self.grant_of(card)?)
            }
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

    /// A card that logged in here goes into (or stays in) the local copy.
    async fn seen(&self, card: &CardRecord) {
        if let Err(err) = self.cache.keep(card).await {
            tracing::warn!(%err, "a card seen here not kept in the card cache");
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
                data_mb: u32::try_from(card.data_mb.max(0)).unwrap_or(u32::MAX),
                data_daily: true,
            },
        })
    }

    /// The card from the local copy, if that copy is young enough.
    async fn cached(&self, card_no: &str) -> Result<Option<CardRecord>, AuthError> {
        let age = self.cache.refreshed_at().await?.map(|at| now_ms() - at);
        if age.is_none_or(|age| age > self.max_age.as_millis() as i64) {
            return Err(Refusal::Unavailable.into());
        }
        Ok(self.cache.card(card_no).await?)
    }

    /// Brings the cards seen here up to date from the store (state, tier,
    /// PIN) and lets go of the ones not seen for long; returns how many
    /// the copy holds.
    pub async fn refresh(&self) -> Result<usize, MembersError> {
        let asked = self.cache.seen().await.map_err(MembersError::Local)?;
        let cards = self.store.cards(&asked).await?;
        self.cache.replace(&asked, &cards).await.map_err(MembersError::Local)?;
        Ok(cards.len())
    }

    /// The local copy (the staff's card changes write it at once).
    pub fn cache(&self) -> &CardCache {
        &self.cache
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn cards() -> (Cards, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&crate::config::MembersSettings::default(), dir.path()).unwrap();
        store.prepare("Brand", "Site", "").await.unwrap();
        let csv = "phone,name,card,tier,pin\n13800138000,A,8800001,gold,2468\n13900139000,B,8800002,gold,1357\n";
        store.import(csv).await.unwrap();
        let local = crate::store::memory().await.unwrap();
        let cards = Cards::new(
            store,
            local,
            Lockout::new(5, Duration::from_secs(900)),
            Lockout::new(3, Duration::from_secs(3600)),
            Duration::from_secs(3600),
            Bandwidth::default(),
            Duration::from_secs(86_400),
        );
        (cards, dir)
    }

    #[tokio::test]
    async fn the_cache_holds_the_cards_seen_here_not_the_brand() {
        let (cards, _dir) = cards().await;
        assert_eq!(cards.refresh().await.unwrap(), 0, "no card has logged in here: nothing copied");
        assert_eq!(cards.cache().count().await.unwrap(), 0);
        cards.login("8800001", "2468").await.expect("a card logs in");
        assert_eq!(cards.cache().count().await.unwrap(), 1, "the card seen here is kept");
        assert_eq!(cards.refresh().await.unwrap(), 1, "and refreshed; the brand's other card is not copied");
        assert!(cards.cache().card("8800002").await.unwrap().is_none());
        // Frozen at the store: the refresh brings the state down for the store's next absence.
        cards.store.set_card_state("8800001", "frozen").await.unwrap();
        cards.refresh().await.unwrap();
        assert_eq!(cards.cache().card("8800001").await.unwrap().unwrap().state, "frozen");
    }

    #[tokio::test]
    async fn pins_sprayed_over_many_cards_meet_the_sites_hourly_budget() {
        let (cards, _dir) = cards().await;
        // Wrong PINs on three different cards (a fresh device each: no per-device limit here).
        for card in ["8800001", "8800002", "8800099"] {
            assert!(matches!(cards.login(card, "0000").await, Err(AuthError::Refused(Refusal::WrongCredentials))));
        }
        let next = cards.login("8800002", "1357").await;
        let Err(AuthError::Refused(Refusal::Limited { retry_after })) = next else { panic!("{next:?}") };
        assert!(retry_after > Duration::from_secs(3500), "the hour's budget of 3 is spent: {retry_after:?}");
    }
}
