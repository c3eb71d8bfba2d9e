//! HQ's people: accounts with a role and a scope (the brand, a region, one
//! site), a password (argon2) and a TOTP second factor that every account
//! enrols before it can do anything; sessions kept in PostgreSQL (every
//! replica sees a sign-out at once); wrong tries counted in the account's
//! row, each reserved before its slow check, so a hundred tries at once get
//! no more checks than five one by one, whichever replicas they reach.
//!
//! Every action a person takes at HQ goes through [`Staff::act`], the HQ
//! console's one door: the role is checked against the one table
//! ([`Task::allows`]), the scope against the target, and the audit row
//! (actor, role, scope, before, after) is written in the same transaction.

mod seal;
mod signin;
mod who;

pub use who::{Actor, Person, Role, Task};

pub use seal::Sealer;

use guestwifi_core::auth::lockout::Lockout;
use guestwifi_core::hq::protocol::Scope;
use guestwifi_core::kit::passwords::hash_password;
use guestwifi_core::kit::secrets::{random_code, same_secret};
use guestwifi_core::kit::time::now_ms;
use serde::Serialize;
use sqlx::AnyPool;
use std::net::IpAddr;
use std::time::Duration;

/// Wrong passwords or codes an account takes before it is locked.
pub const MAX_TRIES: i64 = 5;
/// How long a locked account waits.
pub const LOCK: Duration = Duration::from_secs(15 * 60);
/// Between a right password and the second factor, at most.
pub const SECOND_FACTOR_WINDOW: Duration = Duration::from_secs(10 * 60);
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);
/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// The longest username.
pub const MAX_USERNAME: usize = 64;

/// Where a signed-in request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The password was right; the second factor (or its enrolment) is next.
    Password {
        /// The account has a confirmed second factor.
        enrolled: bool,
    },
    /// Signed in.
    Full,
}

/// A request's session.
#[derive(Clone, Debug)]
pub struct Signed {
    /// Who.
    pub person: Person,
    /// The token every form of this session carries.
    pub csrf: String,
    /// How far the sign-in went.
    pub stage: Stage,
}

/// Why a staff operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// Wrong username or password (which one is not said).
    #[error("wrong username or password")]
    WrongCredentials,
    /// A code that is not this account's now (or was used).
    #[error("wrong code")]
    WrongCode,
    /// Too many wrong tries for this account or from this address.
    #[error("too many tries")]
    LockedOut {
        /// When to try again.
        retry_after: Duration,
    },
    /// The session is not at the step this asks for (expired, signed out).
    #[error("sign in again")]
    Expired,
    /// The role or scope does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// Input that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// The store.
    #[error("staff store")]
    Store(#[from] sqlx::Error),
    /// Hashing a password failed.
    #[error("password hashing failed")]
    Hash,
}

/// An account as the people page lists it.
#[derive(Clone, Debug, Serialize)]
pub struct PersonRow {
    /// Username.
    pub username: String,
    /// Role.
    pub role: String,
    /// Scope (`brand`, `region:ID`, `site:ID`).
    pub scope: String,
    /// Second factor confirmed.
    pub enrolled: bool,
    /// Locked until (UTC ms), when it is.
    pub locked_until: Option<i64>,
    /// Disabled.
    pub disabled: bool,
    /// Made when, by whom.
    pub created_at: i64,
    /// Made by.
    pub created_by: String,
}

/// An audit row.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRow {
    /// When, UTC ms.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// As what.
    pub role: String,
    /// Over what.
    pub scope: String,
    /// By which door.
    pub door: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Before.
    pub before: String,
    /// After.
    pub after: String,
    /// From where.
    pub address: String,
}

/// An action a person takes at HQ (the door's requests).
#[derive(Clone, Debug)]
pub enum Action {
    /// A new account; its first password is made here and shown once.
    AddPerson {
        /// Username.
        username: String,
        /// Role.
        role: Role,
        /// Scope.
        scope: Scope,
    },
    /// An account can no longer sign in; its sessions end.
    DisablePerson {
        /// Username.
        username: String,
    },
    /// The account's second factor is forgotten: it enrols again at its next sign-in.
    ResetSecondFactor {
        /// Username.
        username: String,
    },
    /// Publishes `value` (None: withdraws it) as `block` at `scope`: at
    /// once, or staged by way of the canary site.
    Publish {
        /// Where.
        scope: Scope,
        /// Which block (or `settings`).
        block: String,
        /// What.
        value: Option<serde_json::Value>,
        /// A site of the scope to take it first.
        canary: Option<String>,
    },
    /// A member's card becomes `active`, `frozen` or `lost`, at every site
    /// (each asks HQ at its next card login).
    CardState {
        /// The card.
        card_no: String,
        /// The new state.
        state: String,
    },
    /// A member erased on request, once for every site: identities, visits,
    /// events, cards and coupons; tombstones drop the facts still on their way.
    Erase {
        /// The member.
        member_id: String,
    },
    /// A chain voucher batch: its codes made here, its manifest signed with
    /// the ticket key; every site of its scope takes it at its next bundle.
    VoucherBatch {
        /// What and where.
        batch: crate::vouchers::NewBatch,
    },
    /// Revokes one card of a chain batch (by code) or the whole batch; the
    /// manifest is signed again and the sites refuse the cards at their next bundle.
    RevokeVouchers {
        /// The batch.
        batch: String,
        /// One card's code (None: the batch).
        code: Option<String>,
    },
    /// Lets the sites of `scope` show their own `block` instead of HQ's (or not).
    AllowOwn {
        /// Where.
        scope: Scope,
        /// Which block.
        block: String,
        /// Sites may.
        allowed: bool,
    },
    /// The person's own recovery codes made anew (the old ones stop working),
    /// shown once: the way back when the codes of an enrolment were never seen.
    NewRecoveryCodes,
    /// Changes `scope`'s draft of the block `edit` names with the editor
    /// both consoles share (from what the scope shows when it has no draft).
    Edit {
        /// Where.
        scope: Scope,
        /// What (its photos already kept by id).
        edit: guestwifi_core::marketing::Edit,
    },
    /// Forgets `scope`'s draft of `block`.
    DiscardDraft {
        /// Where.
        scope: Scope,
        /// Which block.
        block: String,
    },
    /// Puts `block` at `scope` back as its version `version` was (a new version).
    Revert {
        /// Where.
        scope: Scope,
        /// Which block.
        block: String,
        /// The version to go back to.
        version: i64,
    },
}

/// What an action answers.
#[derive(Debug)]
pub enum Done {
    /// A new account and its first password (shown once).
    Added {
        /// The password.
        password: String,
    },
    /// Published at once: the scope's new version of the block.
    Published {
        /// Its version.
        version: i64,
    },
    /// A staged rollout started (its id).
    Staged {
        /// The rollout's id.
        id: String,
    },
    /// New recovery codes (shown once).
    RecoveryCodes {
        /// The codes.
        codes: Vec<String>,
    },
    /// A chain voucher batch made (its id).
    Batch {
        /// The batch's id.
        id: String,
    },
    /// Done.
    Ok,
}

/// The people store.
pub struct Staff {
    db: AnyPool,
    hq: crate::db::Db,
    by_address: Lockout<IpAddr>,
    /// HQ's ticket key: what signs chain voucher batches.
    tickets: Option<ed25519_dalek::SigningKey>,
    /// What seals TOTP secrets at rest (derived from the ticket key).
    sealer: Option<Sealer>,
}

impl Staff {
    /// On the chain's database.
    pub fn new(hq: crate::db::Db) -> Staff {
        Staff { db: hq.pool().clone(), hq, by_address: Lockout::new(30, LOCK), tickets: None, sealer: None }
    }

    /// Signs chain voucher batches with `key` and seals TOTP secrets with
    /// a key it derives (without one, no batch is made and new secrets are
    /// kept as they are, with a warning).
    pub fn with_ticket_key(mut self, key: Option<ed25519_dalek::SigningKey>) -> Staff {
        self.sealer = key.as_ref().map(Sealer::from_ticket_key);
        self.tickets = key;
        self
    }

    /// Seals the TOTP secrets kept from before sealing (at start, once a
    /// replica has the key); how many.
    pub async fn seal_secrets(&self) -> Result<u64, sqlx::Error> {
        let Some(sealer) = &self.sealer else { return Ok(0) };
        let plain: Vec<(String, String)> = sqlx::query_as(
            "SELECT username, totp_secret FROM hq_staff WHERE totp_secret IS NOT NULL AND totp_secret NOT LIKE 's1:%'",
        )
        .fetch_all(&self.db)
        .await?;
        let mut sealed = 0;
        for (username, secret) in plain {
            sealed += sqlx::query("UPDATE hq_staff SET totp_secret = $3 WHERE username = $1 AND totp_secret = $2")
                .bind(&username)
                .bind(&secret)
                .bind(sealer.seal(&username, &secret))
                .execute(&self.db)
                .await?
                .rows_affected();
        }
        Ok(sealed)
    }

    /// `secret` as `username`'s row keeps it.
    fn seal(&self, username: &str, secret: &str) -> String {
        match &self.sealer {
            Some(sealer) => sealer.seal(username, secret),
            None => {
                tracing::warn!(
                    username,
                    "no ticket key: a TOTP secret is kept unsealed (`guestwifi-hq init` makes the key)"
                );
                secret.to_string()
            }
        }
    }

    /// The TOTP secret `stored` in `username`'s row, opened (None: sealed
    /// with a key this replica does not have).
    fn open(&self, username: &str, stored: &str) -> Option<String> {
        match &self.sealer {
            Some(sealer) => sealer.open(username, stored),
            None if Sealer::is_sealed(stored) => None,
            None => Some(stored.to_string()),
        }
    }

    fn ticket_key(&self) -> Result<&ed25519_dalek::SigningKey, StaffError> {
        self.tickets.as_ref().ok_or_else(|| {
            StaffError::Invalid(
                "headquarters has no ticket key to sign chain vouchers with (`guestwifi-hq init`)".into(),
            )
        })
    }

    /// The one door: checks the actor's role and scope, performs `action`
    /// and writes its audit row in one transaction.
    pub async fn act(&self, actor: &Actor, action: Action) -> Result<Done, StaffError> {
        let me = &actor.person;
        let task = match &action {
            Action::Publish { .. }
            | Action::Revert { .. }
            | Action::AllowOwn { .. }
            | Action::Edit { .. }
            | Action::DiscardDraft { .. } => Task::Content,
            Action::CardState { .. } | Action::Erase { .. } => Task::Members,
            Action::VoucherBatch { .. } | Action::RevokeVouchers { .. } => Task::Vouchers,
            Action::NewRecoveryCodes => Task::Overview,
            _ => Task::People,
        };
        if !task.allows(me.role) {
            return Err(StaffError::Forbidden(format!("{} may not do this", me.role.as_str())));
        }
        match action {
            Action::CardState { card_no, state } => {
                let store = self.members(&me.brand);
                let before = store.card(&card_no).await.map_err(members_error)?.map(|c| c.state).unwrap_or_default();
                if !store.set_card_state(&card_no, &state).await.map_err(members_error)? {
                    return Err(StaffError::Invalid(format!("no card {card_no}")));
                }
                self.audit_row(actor, "card.state", &card_no, &before, &state).await?;
                Ok(Done::Ok)
            }
            Action::Erase { member_id } => {
                let store = self.members(&me.brand);
                let (erased, who) = store.erase(&member_id).await.map_err(members_error)?;
                // The statistics keep each device's first day only as a
                // hash; a member erased leaves none of theirs either.
                let devices: Vec<&str> = who.iter().filter(|w| w.kind == "device").map(|w| w.value.as_str()).collect();
                crate::rollup::forget(&self.hq, &me.brand, &devices).await?;
                let after = format!(
                    "{} identities, {} visits, {} events, {} cards and coupons",
                    erased.identities, erased.visits, erased.events, erased.cards
                );
                self.audit_row(actor, "member.erase", &member_id, "", &after).await?;
                Ok(Done::Ok)
            }
            Action::Publish { scope, block, value, canary } => {
                self.within(me, &scope).await?;
                if let Some(canary) = canary.filter(|c| !c.is_empty()) {
                    let (what, after) = (format!("{block} → {scope}"), format!("canary {canary}"));
                    let entry = actor.entry("rollout.start", &what, "", &after);
                    let started = crate::rollouts::start(&self.hq, &entry, &block, value, &scope, &canary).await;
                    let id = started.map_err(|e| match e {
                        crate::rollouts::RolloutError::Invalid(why) => StaffError::Invalid(why),
                        crate::rollouts::RolloutError::Store(e) => StaffError::Store(e),
                    })?;
                    // The draft is on its way: the rollout carries it now.
                    let mut tx = self.db.begin().await?;
                    crate::drafts::drop_in(&mut tx, &me.brand, &scope, &block).await?;
                    tx.commit().await?;
                    return Ok(Done::Staged { id });
                }
                crate::blocks::check_block(&block, value.as_ref())
                    .map_err(|e| StaffError::Invalid(format!("{e:#}")))?;
                let version = self.publish(actor, &scope, &block, value.as_ref(), "content.publish").await?;
                Ok(Done::Published { version })
            }
            Action::Edit { scope, edit } => {
                self.within(me, &scope).await?;
                let block = edit.block();
                let mut tx = self.db.begin().await?;
                crate::drafts::lock_in(&mut tx, &me.brand, &scope, block).await?;
                let (mut content, _) = crate::drafts::content(&self.hq, &me.brand, &scope).await?;
                let what = edit.apply(&mut content).map_err(|e| StaffError::Invalid(e.to_string()))?;
                let value = content.block(block).unwrap_or_default();
                crate::blocks::check_block(block, Some(&value)).map_err(|e| StaffError::Invalid(format!("{e:#}")))?;
                crate::drafts::save_in(&mut tx, &me.brand, &scope, block, &value, &me.username).await?;
                audit_in(&mut tx, actor, "content.edit", &format!("{block} @ {scope}"), "", &what).await?;
                tx.commit().await?;
                Ok(Done::Ok)
            }
            Action::DiscardDraft { scope, block } => {
                self.within(me, &scope).await?;
                let mut tx = self.db.begin().await?;
                if crate::drafts::drop_in(&mut tx, &me.brand, &scope, &block).await? {
                    audit_in(&mut tx, actor, "content.discard", &format!("{block} @ {scope}"), "draft", "").await?;
                }
                tx.commit().await?;
                Ok(Done::Ok)
            }
            Action::VoucherBatch { batch } => {
                self.within(me, &batch.scope).await?;
                let mut conn = self.db.acquire().await?;
                if let Some(id) = crate::vouchers::made_by(&mut conn, &me.brand, &batch.once).await? {
                    return Ok(Done::Batch { id });
                }
                drop(conn);
                let prepared = crate::vouchers::prepare(self.ticket_key()?, &me.brand, &batch)
                    .await
                    .map_err(StaffError::Invalid)?;
                let after = format!(
                    "{} cards for {}, {} min, {} devices, first use within {} days, offline bound {} h",
                    batch.count,
                    batch.scope,
                    batch.duration_seconds / 60,
                    batch.devices,
                    batch.valid_days,
                    batch.offline_hours
                );
                let mut tx = self.db.begin().await?;
                if !crate::vouchers::store(&mut tx, &prepared, &me.username, &batch.once).await? {
                    // The same form, sent twice at once: the other made it.
                    drop(tx);
                    let mut conn = self.db.acquire().await?;
                    let id = crate::vouchers::made_by(&mut conn, &me.brand, &batch.once).await?;
                    return Ok(Done::Batch { id: id.unwrap_or_default() });
                }
                audit_in(&mut tx, actor, "vouchers.create", prepared.id(), "", &after).await?;
                tx.commit().await?;
                self.hq.published(&me.brand).await?;
                Ok(Done::Batch { id: prepared.id().to_string() })
            }
            Action::RevokeVouchers { batch, code } => {
                let Some(row) = crate::vouchers::batch(&self.db, &me.brand, &batch).await? else {
                    return Err(StaffError::Invalid(format!("no batch {batch}")));
                };
                self.within(me, &row.scope()).await?;
                let code = code.and_then(|c| guestwifi_core::kit::secrets::normalize_code(&c));
                let key = self.ticket_key()?;
                let mut tx = self.db.begin().await?;
                let Some(what) = crate::vouchers::revoke(&mut tx, key, &me.brand, &batch, code.as_deref()).await?
                else {
                    return Err(StaffError::Invalid(format!("nothing of {batch} left to revoke there")));
                };
                audit_in(&mut tx, actor, "vouchers.revoke", &batch, "", &format!("revoked {what}")).await?;
                tx.commit().await?;
                self.hq.published(&me.brand).await?;
                Ok(Done::Ok)
            }
            Action::NewRecoveryCodes => {
                let codes: Vec<String> =
                    (0..RECOVERY_CODES).map(|_| format!("{}-{}", random_code(5), random_code(5))).collect();
                let mut tx = self.db.begin().await?;
                let left: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM hq_staff_recovery WHERE username = $1 AND used_at IS NULL",
                )
                .bind(&me.username)
                .fetch_one(&mut *tx)
                .await?;
                signin::replace_recovery_codes(&mut tx, &me.username, &codes).await?;
                let (before, after) = (format!("{left} codes left"), format!("{} new codes", codes.len()));
                audit_in(&mut tx, actor, "second_factor.recovery_codes", &me.username, &before, &after).await?;
                tx.commit().await?;
                Ok(Done::RecoveryCodes { codes })
            }
            Action::AllowOwn { scope, block, allowed } => {
                self.within(me, &scope).await?;
                if !guestwifi_core::hq::protocol::BLOCKS.contains(&block.as_str()) {
                    return Err(StaffError::Invalid(format!("{block:?} is not a marketing block")));
                }
                let mut tx = self.db.begin().await?;
                let before = crate::blocks::may_override_in(&mut tx, &me.brand, &scope, &block).await?;
                crate::blocks::set_may_override_in(&mut tx, &me.brand, &scope, &block, allowed, &me.username).await?;
                let say = |b: bool| if b { "sites may use their own" } else { "headquarters' only" };
                audit_in(&mut tx, actor, "content.allow_own", &format!("{block} @ {scope}"), say(before), say(allowed))
                    .await?;
                tx.commit().await?;
                self.hq.published(&me.brand).await?;
                Ok(Done::Ok)
            }
            Action::Revert { scope, block, version } => {
                self.within(me, &scope).await?;
                let history = self.hq.block_history(&me.brand, &scope, &block).await?;
                let Some((_, value, _, _)) = history.into_iter().find(|h| h.0 == version) else {
                    return Err(StaffError::Invalid(format!("{block} at {scope} has no version {version}")));
                };
                let value = value.and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok());
                let version = self.publish(actor, &scope, &block, value.as_ref(), "content.revert").await?;
                Ok(Done::Published { version })
            }
            Action::AddPerson { username, role, scope } => {
                let username = username.trim().to_ascii_lowercase();
                let valid = !username.is_empty()
                    && username.len() <= MAX_USERNAME
                    && username.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
                if !valid {
                    return Err(StaffError::Invalid(format!(
                        "a username is 1 to {MAX_USERNAME} letters, digits, dots, dashes, underscores or @"
                    )));
                }
                if role == Role::SiteManager && !matches!(scope, Scope::Site(_)) {
                    return Err(StaffError::Invalid("a site manager's scope is one site".into()));
                }
                if matches!(role, Role::Owner | Role::Admin) && me.role != Role::Owner {
                    return Err(StaffError::Forbidden("only an owner makes owners and admins".into()));
                }
                self.within(me, &scope).await?;
                let password = format!("{}-{}-{}", random_code(5), random_code(5), random_code(5));
                let hash = hash_password(password.clone()).await.map_err(|_| StaffError::Hash)?;
                let (kind, id) = scope.parts();
                let mut tx = self.db.begin().await?;
                let added = sqlx::query(
                    "INSERT INTO hq_staff (username, brand_id, role, scope_kind, scope_id, password_hash, created_at, created_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (username) DO NOTHING",
                )
                .bind(&username)
                .bind(&me.brand)
                .bind(role.as_str())
                .bind(kind)
                .bind(id)
                .bind(hash)
                .bind(now_ms())
                .bind(&me.username)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if added == 0 {
                    return Err(StaffError::Invalid(format!("username {username} is taken")));
                }
                let after = format!("{} {scope}", role.as_str());
                audit_in(&mut tx, actor, "person.add", &username, "", &after).await?;
                tx.commit().await?;
                Ok(Done::Added { password })
            }
            Action::DisablePerson { username } => {
                let mut tx = self.db.begin().await?;
                let before = self.managed(&mut tx, me, &username).await?;
                sqlx::query("UPDATE hq_staff SET disabled_at = $2 WHERE username = $1 AND disabled_at IS NULL")
                    .bind(&username)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                end_sessions(&mut tx, &username).await?;
                audit_in(&mut tx, actor, "person.disable", &username, &before, "disabled").await?;
                tx.commit().await?;
                Ok(Done::Ok)
            }
            Action::ResetSecondFactor { username } => {
                let mut tx = self.db.begin().await?;
                let before = self.managed(&mut tx, me, &username).await?;
                sqlx::query(
                    "UPDATE hq_staff SET totp_secret = NULL, totp_enrolled_at = NULL, tries = 0, locked_until = 0 WHERE username = $1",
                )
                .bind(&username)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM hq_staff_recovery WHERE username = $1")
                    .bind(&username)
                    .execute(&mut *tx)
                    .await?;
                end_sessions(&mut tx, &username).await?;
                audit_in(&mut tx, actor, "person.reset_second_factor", &username, &before, "enrols again").await?;
                tx.commit().await?;
                Ok(Done::Ok)
            }
        }
    }

    /// The brand's member store, as HQ holds it (the chain's PostgreSQL).
    pub fn members(&self, brand: &str) -> guestwifi_core::members::Store {
        guestwifi_core::members::Store::on(self.db.clone(), brand, "hq", &self.hq.location)
    }

    /// An audit row in a transaction of its own.
    async fn audit_row(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        before: &str,
        after: &str,
    ) -> Result<(), StaffError> {
        let mut tx = self.db.begin().await?;
        audit_in(&mut tx, actor, action, target, before, after).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Refused unless `scope` is within `me`'s.
    async fn within(&self, me: &Person, scope: &Scope) -> Result<(), StaffError> {
        let regions = self.regions(&me.brand).await?;
        let exists = match scope {
            Scope::Brand => true,
            Scope::Region(r) => regions.iter().any(|(_, region)| region == r),
            Scope::Site(s) => regions.iter().any(|(site, _)| site == s),
        };
        if !exists {
            return Err(StaffError::Invalid(format!("{scope} is no scope of brand {}", me.brand)));
        }
        if !covered(me, scope, &regions) {
            return Err(StaffError::Forbidden(format!("{scope} is outside your scope {}", me.scope)));
        }
        Ok(())
    }

    /// Publishes at once, with its audit row (before and after: the block's
    /// text, cut to 500 characters), and wakes the sites.
    async fn publish(
        &self,
        actor: &Actor,
        scope: &Scope,
        block: &str,
        value: Option<&serde_json::Value>,
        action: &str,
    ) -> Result<i64, StaffError> {
        let brand = &actor.person.brand;
        let cut =
            |v: Option<&serde_json::Value>| v.map_or("—".to_string(), |v| v.to_string().chars().take(500).collect());
        let mut tx = self.db.begin().await?;
        let before = crate::blocks::current_in(&mut tx, brand, scope, block).await?;
        let version = crate::blocks::publish_in(&mut tx, brand, scope, block, value, &actor.person.username).await?;
        // Whatever the scope's draft was, the block is this version now.
        crate::drafts::drop_in(&mut tx, brand, scope, block).await?;
        let target = format!("{block} @ {scope} v{version}");
        audit_in(&mut tx, actor, action, &target, &cut(before.as_ref()), &cut(value)).await?;
        tx.commit().await?;
        self.hq.published(brand).await?;
        Ok(version)
    }

    /// The account `username` if `me` may manage it (same brand, within
    /// the scope, an owner's or admin's only by an owner): its role and scope.
    async fn managed(&self, tx: &mut sqlx::AnyConnection, me: &Person, username: &str) -> Result<String, StaffError> {
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT brand_id, role, scope_kind, scope_id FROM hq_staff WHERE username = $1 AND disabled_at IS NULL",
        )
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((brand, role, kind, id)) = row.filter(|r| r.0 == me.brand) else {
            return Err(StaffError::Invalid(format!("no account {username}")));
        };
        let scope = crate::blocks::scope_of(&kind, &id);
        let role = Role::parse(&role).unwrap_or(Role::Analyst);
        if matches!(role, Role::Owner | Role::Admin) && me.role != Role::Owner {
            return Err(StaffError::Forbidden("only an owner manages owners and admins".into()));
        }
        if !covered(me, &scope, &self.regions(&brand).await?) {
            return Err(StaffError::Forbidden(format!("{username} is outside your scope")));
        }
        Ok(format!("{} {scope}", role.as_str()))
    }

    /// Every site of `brand` with its region.
    async fn regions(&self, brand: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as("SELECT site_id, region_id FROM sites WHERE brand_id = $1").bind(brand).fetch_all(&self.db).await
    }

    /// The accounts `me` may see (their brand, within their scope).
    pub async fn people(&self, me: &Person) -> Result<Vec<PersonRow>, StaffError> {
        type Row = (String, String, String, String, Option<i64>, i64, Option<i64>, i64, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT username, role, scope_kind, scope_id, totp_enrolled_at, locked_until, disabled_at, created_at, created_by \
             FROM hq_staff WHERE brand_id = $1 ORDER BY username",
        )
        .bind(&me.brand)
        .fetch_all(&self.db)
        .await?;
        let regions = self.regions(&me.brand).await?;
        let now = now_ms();
        Ok(rows
            .into_iter()
            .filter(|r| covered(me, &crate::blocks::scope_of(&r.2, &r.3), &regions))
            .map(|r| PersonRow {
                username: r.0,
                role: r.1,
                scope: crate::blocks::scope_of(&r.2, &r.3).to_string(),
                enrolled: r.4.is_some(),
                locked_until: (r.5 > now).then_some(r.5),
                disabled: r.6.is_some(),
                created_at: r.7,
                created_by: r.8,
            })
            .collect())
    }

    /// The audit log of `me`'s brand, newest first (owners and admins).
    pub async fn audit_log(&self, me: &Person, limit: i64) -> Result<Vec<AuditRow>, StaffError> {
        type Row = (i64, String, String, String, String, String, String, String, String, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT at, actor, role, scope, door, action, target, before, after, address FROM hq_audit \
             WHERE brand_id = $1 ORDER BY at DESC LIMIT $2",
        )
        .bind(&me.brand)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditRow {
                at: r.0,
                actor: r.1,
                role: r.2,
                scope: r.3,
                door: r.4,
                action: r.5,
                target: r.6,
                before: r.7,
                after: r.8,
                address: r.9,
            })
            .collect())
    }

    /// Writes an audit row of its own (sign-in, sign-out, enrolment).
    pub async fn audit(&self, actor: &Actor, action: &str, target: &str, after: &str) {
        let result = async {
            let mut tx = self.db.begin().await?;
            audit_in(&mut tx, actor, action, target, "", after).await?;
            tx.commit().await
        }
        .await;
        if let Err(err) = result {
            tracing::error!(error = %err, action, "could not write the audit row");
        }
    }

    /// Adds an account from the CLI (the brand's first owner): its first password.
    pub async fn add_from_cli(
        &self,
        brand: &str,
        username: &str,
        role: Role,
        scope: Scope,
    ) -> Result<String, StaffError> {
        let brand_known: Option<String> = sqlx::query_scalar("SELECT brand_id FROM brands WHERE brand_id = $1")
            .bind(brand)
            .fetch_optional(&self.db)
            .await?;
        if brand_known.is_none() {
            return Err(StaffError::Invalid(format!("no brand {brand}: add a site of it first")));
        }
        match self.act(&Actor::cli(brand), Action::AddPerson { username: username.into(), role, scope }).await? {
            Done::Added { password } => Ok(password),
            _ => unreachable!("adding answers the password"),
        }
    }
}

/// Every session of `username` ends (disabled, or its second factor reset).
async fn end_sessions(tx: &mut sqlx::AnyConnection, username: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM hq_staff_sessions WHERE username = $1").bind(username).execute(&mut *tx).await?;
    Ok(())
}

/// Whether `scope` lies within `me`'s, `regions` being the brand's sites and their regions.
fn covered(me: &Person, scope: &Scope, regions: &[(String, String)]) -> bool {
    me.covers_scope(scope, |s| regions.iter().find(|(site, _)| site == s).map(|(_, r)| r.clone()))
}

/// A member store's refusal as the door tells it.
fn members_error(err: guestwifi_core::members::MembersError) -> StaffError {
    use guestwifi_core::members::MembersError as E;
    match err {
        E::NotFound => StaffError::Invalid("no such member".into()),
        E::Invalid(why) => StaffError::Invalid(why),
        E::Store(e) | E::Local(e) => StaffError::Store(e),
        other => StaffError::Invalid(format!("the member store: {other}")),
    }
}

/// Writes `actor`'s audit row in `tx`.
async fn audit_in(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    action: &str,
    target: &str,
    before: &str,
    after: &str,
) -> Result<(), sqlx::Error> {
    crate::audit::write(tx, &actor.entry(action, target, before, after)).await
}

/// Whether two secrets are the same (constant time), for the console's CSRF check.
pub fn same(given: &str, secret: &str) -> bool {
    !given.is_empty() && same_secret(given, secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_table_keeps_analysts_and_compliance_off_sites_and_people() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert!(Task::Overview.allows(role));
        }
        assert!(!Task::Sites.allows(Role::Analyst));
        assert!(!Task::Sites.allows(Role::Compliance));
        assert!(Task::Sites.allows(Role::SiteManager));
        assert!(!Task::People.allows(Role::Marketer));
        assert!(!Task::People.allows(Role::SiteManager));
        assert!(Task::People.allows(Role::Admin));
        assert!(Task::Statistics.allows(Role::Analyst));
        assert!(
            !Task::Statistics.allows(Role::Compliance),
            "the compliance officer reads the access log, not marketing"
        );
    }

    #[test]
    fn a_scope_covers_its_own_sites_only() {
        let regional = Person {
            username: "e".into(),
            brand: "chain".into(),
            role: Role::Admin,
            scope: Scope::Region("east".into()),
        };
        assert!(regional.covers("east", "a"));
        assert!(!regional.covers("west", "c"));
        let region_of = |s: &str| Some(if s == "c" { "west" } else { "east" }.to_string());
        assert!(regional.covers_scope(&Scope::Site("a".into()), region_of));
        assert!(!regional.covers_scope(&Scope::Site("c".into()), region_of));
        assert!(!regional.covers_scope(&Scope::Brand, region_of));
        let manager = Person { scope: Scope::Site("a".into()), role: Role::SiteManager, ..regional };
        assert!(manager.covers("east", "a"));
        assert!(!manager.covers("east", "b"));
    }
}
