//! `members` and `cards`: the member store's commands.

use super::{control_now_ms, fail, print_json};
use anyhow::Context;
use clap::Subcommand;
use controller::control::{self, Reply, Request};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum MembersCmd {
    /// Import members from a CSV file: phone,name,card,tier,pin (a header
    /// line is skipped; card, tier and PIN may be empty). All or nothing.
    Import {
        /// The CSV file (UTF-8).
        file: PathBuf,
    },
    /// One member: cards, balances, coupons, identities, visits.
    Show {
        /// Phone number, card number or member id.
        key: String,
        /// Show the phone and identities in full (masked otherwise).
        #[arg(long)]
        full: bool,
    },
    /// Erase a member on request: identities, visits, events, cards and the
    /// Wi-Fi's coupons, in the store and in this appliance's outbox.
    Erase {
        /// Phone number, card number or member id.
        key: String,
    },
    /// What a tier is worth on the Wi-Fi.
    Tier {
        /// The tier's name.
        tier: String,
        /// Session minutes (0: the card method's).
        #[arg(long, default_value_t = 0)]
        minutes: i64,
        /// Download limit, kbit/s (0: the card method's).
        #[arg(long, default_value_t = 0)]
        down_kbps: i64,
        /// Upload limit, kbit/s (0: the card method's).
        #[arg(long, default_value_t = 0)]
        up_kbps: i64,
        /// Data a member of the tier may move a day, MB (0: no allowance).
        #[arg(long, default_value_t = 0)]
        data_mb: i64,
    },
    /// The feed to the store: facts waiting, lag, last delivery, last error.
    Feed,
}

#[derive(Subcommand)]
pub enum CardsCmd {
    /// Freeze a card: its logins are refused until it is unfrozen.
    Freeze {
        /// The card number.
        card: String,
    },
    /// Report a card lost: its logins are refused.
    Lost {
        /// The card number.
        card: String,
    },
    /// Make a frozen or lost card active again.
    Unfreeze {
        /// The card number.
        card: String,
    },
}

/// A table whose columns line up whatever the script: the width of Chinese
/// text is measured as a terminal shows it (two columns a character).
pub async fn members(command: MembersCmd, socket: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let request = match &command {
        MembersCmd::Import { file } => Request::MembersImport {
            csv: std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?,
        },
        MembersCmd::Show { key, full } => Request::MembersShow { key: key.clone(), full: *full },
        MembersCmd::Erase { key } => Request::MembersErase { key: key.clone() },
        MembersCmd::Tier { tier, minutes, down_kbps, up_kbps, data_mb } => Request::MembersTier {
            tier: tier.clone(),
            minutes: *minutes,
            down_kbps: *down_kbps,
            up_kbps: *up_kbps,
            data_mb: *data_mb,
        },
        MembersCmd::Feed => Request::FeedStatus,
    };
    let ms_ago = |at: i64| format!("{}s ago", (control_now_ms() - at).max(0) / 1000);
    match control::call(socket, &request).await? {
        Reply::Imported { imported } if json => print_json(&imported)?,
        Reply::Imported { imported } => {
            println!("{} members added, {} updated, {} cards", imported.members, imported.updated, imported.cards)
        }
        Reply::Member { member } if json => print_json(&member)?,
        Reply::Member { member: m } => {
            println!("member   {}", m.member_id);
            println!("phone    {}", m.phone);
            println!("name     {}", m.name);
            println!("tier     {}", m.tier);
            println!("consent  {}", m.consent.as_deref().unwrap_or("no"));
            println!("balance  {:.2} yuan, {} points", m.stored_value_cents as f64 / 100.0, m.points);
            println!("visits   {} ({} events)", m.visits, m.events);
            if let Some(at) = m.last_seen_at {
                println!("seen     {}", ms_ago(at));
            }
            for c in &m.cards {
                println!("card     {} {} {}{}", c.card_no, c.state, c.tier, if c.has_pin { "" } else { " (no PIN)" });
            }
            for c in &m.coupons {
                let rule = c.rule.as_deref().unwrap_or("card system");
                println!("coupon   {} {:.2} ({rule})", c.kind, c.value_cents as f64 / 100.0);
            }
            for i in &m.identities {
                println!("identity {i}");
            }
        }
        Reply::Erased { erased, waiting } if json => {
            print_json(&serde_json::json!({ "erased": erased, "waiting": waiting }))?
        }
        Reply::Erased { erased, waiting } => println!(
            "erased: {} identities, {} visits, {} events, {} cards and coupons; {waiting} waiting facts dropped",
            erased.identities, erased.visits, erased.events, erased.cards
        ),
        Reply::Feed { status } if json => print_json(&status)?,
        Reply::Feed { status } => {
            println!("store      {} (brand {}, site {})", status.store, status.brand, status.site);
            println!("ready      {}", status.feed.ready);
            println!("waiting    {} facts, lag {:.1} s", status.backlog.waiting, status.backlog.lag_ms as f64 / 1000.0);
            println!("parked     {}", status.backlog.parked);
            println!("card cache {}", status.cards_cached_at.map(ms_ago).unwrap_or_else(|| "never refreshed".into()));
            println!(
                "delivered  {} since start{}",
                status.feed.delivered,
                status.feed.delivered_at.map(|at| format!(", last {}", ms_ago(at))).unwrap_or_default()
            );
            if let Some(err) = &status.feed.error {
                println!("error      {err}");
            }
        }
        Reply::Done => println!("done"),
        other => fail(other)?,
    }
    Ok(())
}
