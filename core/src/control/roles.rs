//! The one role table: which roles may do what. Every door asks it — the
//! console for its pages and forms, the JSON API and the CLI for each
//! request — so a marketer's token and a marketer's console session are
//! refused the same things for the same reason.

use super::Request;
use crate::staff::Role;

/// A part of the restaurant's work, as the role table grants it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// The home page's figures; one's own API tokens; signing out.
    Everyone,
    /// Guests online: list, kick.
    Guests,
    /// Voucher cards, front-desk accounts, the counter's QR, an SMS return revoked.
    FrontDesk,
    /// A member looked up (phone masked), a card frozen, lost or reactivated.
    Members,
    /// Members imported or erased, tiers, a member's full phone number.
    MemberAdmin,
    /// The member feed's backlog and lag.
    Feed,
    /// The logins and refusals trail.
    Trail,
    /// Statistics.
    Statistics,
    /// The portal's marketing pages.
    Marketing,
    /// APs, SSIDs, the channel plan, firmware, the gateway.
    Radio,
    /// Staff accounts and the staff audit log.
    People,
    /// The appliance's settings.
    Settings,
    /// The access log the police ask for: searched and exported.
    AccessLog,
    /// The access log's chain checked (nothing of its rows shown).
    AccessLogCheck,
}

impl Task {
    /// The table.
    pub fn allows(self, role: Role) -> bool {
        use Role::{Admin, FrontDesk, Marketer, Officer};
        let roles: &[Role] = match self {
            Task::Everyone => &[Admin, Marketer, FrontDesk, Officer],
            Task::Feed => &[Admin, Marketer, FrontDesk],
            Task::AccessLog => &[Officer],
            Task::AccessLogCheck => &[Admin, Officer],
            Task::Guests | Task::FrontDesk | Task::Members => &[Admin, FrontDesk],
            Task::Trail | Task::Statistics | Task::Marketing => &[Admin, Marketer],
            Task::MemberAdmin | Task::Radio | Task::People | Task::Settings => &[Admin],
        };
        roles.contains(&role)
    }

    /// What it is, for a refusal: "the marketer role may not manage APs".
    pub fn describe(self) -> &'static str {
        match self {
            Task::Everyone => "do this",
            Task::Guests => "manage guests online",
            Task::FrontDesk => "do front-desk work",
            Task::Members => "look up members",
            Task::MemberAdmin => "administer the member store",
            Task::Feed => "see the member feed",
            Task::Trail => "read the login trail",
            Task::Statistics => "see statistics",
            Task::Marketing => "edit the marketing pages",
            Task::Radio => "manage APs, SSIDs and firmware",
            Task::People => "manage staff",
            Task::Settings => "change settings",
            Task::AccessLog => "read the access log",
            Task::AccessLogCheck => "check the access log",
        }
    }
}

impl Request {
    /// The task a request belongs to.
    pub fn task(&self) -> Task {
        use Request as R;
        match self {
            R::Dashboard => Task::Everyone,
            R::SessionsList | R::SessionsKick { .. } => Task::Guests,
            R::VouchersCreate { .. }
            | R::VouchersList { .. }
            | R::ChainVouchers
            | R::VouchersRevoke { .. }
            | R::VouchersSheet { .. }
            | R::VouchersCsv { .. }
            | R::AccountsCreate { .. }
            | R::AccountsList { .. }
            | R::AccountsRevoke { .. }
            | R::CounterUrl
            | R::SmsForget { .. } => Task::FrontDesk,
            R::MembersShow { full: false, .. } | R::CardsState { .. } => Task::Members,
            R::MembersShow { full: true, .. }
            | R::MembersImport { .. }
            | R::MembersErase { .. }
            | R::MembersTier { .. } => Task::MemberAdmin,
            R::FeedStatus => Task::Feed,
            R::AuthLog { .. } => Task::Trail,
            R::AccessLogSearch { .. } | R::AccessLogCsv { .. } | R::AccessLogDomains { .. } => Task::AccessLog,
            R::AccessLogVerify => Task::AccessLogCheck,
            R::StatsReport { .. } => Task::Statistics,
            R::Marketing { .. } => Task::Marketing,
            R::FirewallReload
            | R::ApsList
            | R::ApsAdopt { .. }
            | R::ApsAdoptMany { .. }
            | R::ApsForget { .. }
            | R::ApsShow { .. }
            | R::StationsList
            | R::ApsPlan
            | R::ApsSet { .. }
            | R::Radios
            | R::FirmwareUpload { .. }
            | R::FirmwareImage { .. }
            | R::FirmwareRollout { .. }
            | R::FirmwareStatus
            | R::FirmwareHalt
            | R::SsidsList
            | R::SsidsPut { .. }
            | R::SsidsRemove { .. } => Task::Radio,
            R::UsersList | R::UsersCreate { .. } | R::UsersDisable { .. } | R::StaffLog { .. } => Task::People,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_desk_sees_members_masked_and_only_admins_in_full() {
        let masked = Request::MembersShow { key: "13800138000".into(), full: false };
        let full = Request::MembersShow { key: "13800138000".into(), full: true };
        assert!(masked.task().allows(Role::FrontDesk));
        assert!(!full.task().allows(Role::FrontDesk), "a full phone number is for admins");
        assert!(full.task().allows(Role::Admin));
        assert!(!masked.task().allows(Role::Marketer));
    }

    #[test]
    fn marketers_get_statistics_and_the_trail_but_no_radio_or_guests() {
        assert!(Request::StatsReport { from: String::new(), to: String::new() }.task().allows(Role::Marketer));
        assert!(Request::AuthLog { limit: 5 }.task().allows(Role::Marketer));
        assert!(!Request::ApsPlan.task().allows(Role::Marketer));
        assert!(!Request::SessionsList.task().allows(Role::Marketer));
        assert!(!Request::MembersErase { key: "x".into() }.task().allows(Role::FrontDesk));
        let search = Request::AccessLogSearch { query: Default::default() };
        for role in [Role::Admin, Role::Marketer, Role::FrontDesk] {
            assert!(!search.task().allows(role), "only the officer reads the access log");
        }
        assert!(search.task().allows(Role::Officer));
        assert!(!Request::StatsReport { from: String::new(), to: String::new() }.task().allows(Role::Officer));
        assert!(Request::Dashboard.task().allows(Role::FrontDesk));
    }
}
