//! Who is who at HQ: a person's role and scope, the one table of which role
//! may do which task, and the actor an audit row names.

use guestwifi_core::hq::protocol::Scope;
use serde::Serialize;

/// What a person at HQ is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, people included, for the brand.
    Owner,
    /// The chain's IT: sites, people (below owner), the audit log.
    Admin,
    /// The portal's content and its statistics.
    Marketer,
    /// Statistics only.
    Analyst,
    /// The access log (the trails issue) and nothing else.
    Compliance,
    /// One site: what that site's own console does, from HQ.
    SiteManager,
}

impl Role {
    /// Every role, in the order the people page offers them.
    pub const ALL: [Role; 6] =
        [Role::Owner, Role::Admin, Role::Marketer, Role::Analyst, Role::Compliance, Role::SiteManager];

    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Marketer => "marketer",
            Role::Analyst => "analyst",
            Role::Compliance => "compliance",
            Role::SiteManager => "site_manager",
        }
    }

    /// From its stored name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// What a page or an action is for: the one table of who may.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// The overview: the scope's figures today.
    Overview,
    /// The sites page, a site's page, the alerts.
    Sites,
    /// People: accounts, their second factor.
    People,
    /// The audit log.
    Audit,
    /// The portal's content and settings for a scope: publish, stage, revert.
    Content,
    /// The chain's members: look up, cards' states, erasure.
    Members,
    /// Chain statistics: figures, sites compared, promotions; exports.
    Statistics,
    /// Chain voucher batches: make, print, revoke (within the scope).
    Vouchers,
    /// Each site's access log as it reports it: the chain's last check and
    /// its daily digests (the rows stay at the site).
    AccessLogs,
}

impl Task {
    /// Whether `role` may do this task (within its scope).
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Task::Overview => true,
            Task::Sites => matches!(role, Owner | Admin | Marketer | SiteManager),
            Task::People | Task::Audit => matches!(role, Owner | Admin),
            Task::Content => matches!(role, Owner | Admin | Marketer | SiteManager),
            Task::Members => matches!(role, Owner | Admin),
            Task::Statistics => !matches!(role, Compliance),
            Task::Vouchers => matches!(role, Owner | Admin | Marketer | SiteManager),
            Task::AccessLogs => matches!(role, Owner | Admin | Compliance),
        }
    }
}

/// A person at HQ: who, and over what.
#[derive(Clone, Debug)]
pub struct Person {
    /// Username.
    pub username: String,
    /// Brand.
    pub brand: String,
    /// Role.
    pub role: Role,
    /// What they see and act on.
    pub scope: Scope,
}

impl Person {
    /// Whether the site (in `region`) is within this person's scope.
    pub fn covers(&self, region: &str, site: &str) -> bool {
        match &self.scope {
            Scope::Brand => true,
            Scope::Region(r) => r == region,
            Scope::Site(s) => s == site,
        }
    }

    /// Whether `scope` lies within this person's (`region_of` names a site's region).
    pub fn covers_scope(&self, scope: &Scope, region_of: impl Fn(&str) -> Option<String>) -> bool {
        match (&self.scope, scope) {
            (Scope::Brand, _) => true,
            (Scope::Region(mine), Scope::Region(r)) => mine == r,
            (Scope::Region(mine), Scope::Site(s)) => region_of(s).is_some_and(|r| &r == mine),
            (Scope::Site(mine), Scope::Site(s)) => mine == s,
            _ => false,
        }
    }

    /// This person acting by `door` from `from`.
    pub fn actor(&self, door: &'static str, from: &str) -> Actor {
        Actor { person: self.clone(), door, from: from.to_string() }
    }
}

/// Who acts, by which door (`console`, `cli`), from where: what the audit row names.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The person.
    pub person: Person,
    /// `console` or `cli`.
    pub door: &'static str,
    /// The peer's address, or `local`.
    pub from: String,
}

impl Actor {
    /// The CLI on an HQ host: the brand's owner, for the brand.
    pub fn cli(brand: &str) -> Actor {
        let user = std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "root".into());
        Actor {
            person: Person {
                username: format!("cli:{user}"),
                brand: brand.into(),
                role: Role::Owner,
                scope: Scope::Brand,
            },
            door: "cli",
            from: "local".into(),
        }
    }
}

impl Actor {
    /// This actor's audit row for `action` on `target`.
    pub fn entry<'a>(
        &'a self,
        action: &'a str,
        target: &'a str,
        before: &'a str,
        after: &'a str,
    ) -> crate::audit::Entry<'a> {
        let p = &self.person;
        crate::audit::Entry {
            brand: &p.brand,
            actor: &p.username,
            role: p.role.as_str(),
            scope: p.scope.to_string(),
            door: self.door,
            action,
            target,
            before,
            after,
            address: &self.from,
        }
    }
}
