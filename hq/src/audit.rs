//! HQ's audit log: one row an action, whoever took it (a person through
//! the console or the CLI, or HQ itself taking a rollout's step), written
//! in the transaction of the change it records.

/// One audit row.
pub struct Entry<'a> {
    /// The brand it concerns.
    pub brand: &'a str,
    /// Who (a username, `cli:USER`, or `hq`).
    pub actor: &'a str,
    /// As what.
    pub role: &'a str,
    /// Over what scope.
    pub scope: String,
    /// By which door: `console`, `cli`, `hq`.
    pub door: &'a str,
    /// What.
    pub action: &'a str,
    /// On what.
    pub target: &'a str,
    /// Before.
    pub before: &'a str,
    /// After.
    pub after: &'a str,
    /// From where.
    pub address: &'a str,
}

impl<'a> Entry<'a> {
    /// HQ itself acting for `brand` (a rollout's step).
    pub fn hq(brand: &'a str, action: &'a str, target: &'a str, before: &'a str, after: &'a str) -> Entry<'a> {
        Entry {
            brand,
            actor: "hq",
            role: "owner",
            scope: "brand".into(),
            door: "hq",
            action,
            target,
            before,
            after,
            address: "local",
        }
    }
}

/// Writes `e` in `tx`.
pub async fn write(tx: &mut sqlx::AnyConnection, e: &Entry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO hq_audit (brand_id, at, actor, role, scope, door, action, target, before, after, address) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(e.brand)
    .bind(guestwifi_core::kit::time::now_ms())
    .bind(e.actor)
    .bind(e.role)
    .bind(&e.scope)
    .bind(e.door)
    .bind(e.action)
    .bind(e.target)
    .bind(e.before)
    .bind(e.after)
    .bind(e.address)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
