//! `controller trail`: the access log the police ask for (上网日志):
//! search it (root on the appliance, or an officer's token through the
//! API; every search is logged) and check its chain.

use super::{fail, print_json, print_table};
use clap::Subcommand;
use controller::control::{self, Reply, Request};
use std::path::Path;

#[derive(Subcommand)]
pub enum TrailCmd {
    /// The sessions online in a window, or behind a public address and
    /// source port, a MAC or an identity (every part given must hold).
    Search {
        /// From (UTC ms, or `YYYY-MM-DD HH:MM` in the site's zone).
        #[arg(long)]
        from: Option<String>,
        /// To (as `--from`).
        #[arg(long)]
        to: Option<String>,
        /// The public address a connection came from.
        #[arg(long)]
        address: Option<String>,
        /// Its source port.
        #[arg(long)]
        port: Option<u16>,
        /// The device.
        #[arg(long)]
        mac: Option<String>,
        /// The identity, or part of it (a phone number, an account).
        #[arg(long)]
        identity: Option<String>,
        /// CSV for the police instead of a table.
        #[arg(long)]
        csv: bool,
    },
    /// Checks the log's hash chain and names the first row that does not match.
    Verify,
}

/// `YYYY-MM-DD HH:MM` in a zone `offset` hours ahead of UTC, or UTC ms.
fn when(text: &str, offset: i64) -> anyhow::Result<i64> {
    if let Ok(ms) = text.trim().parse::<i64>() {
        return Ok(ms);
    }
    let (day, time) = text.trim().split_once([' ', 'T']).unwrap_or((text.trim(), "00:00"));
    let start = controller::kit::time::day_start(day, offset)
        .ok_or_else(|| anyhow::anyhow!("{text:?}: a time is YYYY-MM-DD HH:MM or UTC milliseconds"))?;
    let (h, m) = time.split_once(':').unwrap_or((time, "0"));
    let (h, m): (i64, i64) = (h.parse()?, m.parse()?);
    Ok(start + (h * 3600 + m * 60) * 1000)
}

pub async fn trail(command: TrailCmd, socket: &Path, zone: i64, json: bool) -> anyhow::Result<()> {
    match command {
        TrailCmd::Search { from, to, address, port, mac, identity, csv } => {
            let query = controller::trail::Query {
                from: from.as_deref().map(|t| when(t, zone)).transpose()?,
                to: to.as_deref().map(|t| when(t, zone)).transpose()?,
                public_addr: address,
                port,
                mac,
                identity,
            };
            match control::call(socket, &Request::AccessLogSearch { query }).await? {
                Reply::AccessLog { rows } if json => print_json(&rows)?,
                Reply::AccessLog { rows } if csv => print!("{}", controller::trail::csv(&rows, zone)),
                Reply::AccessLog { rows } => {
                    let at = |ms: i64| controller::trail::csv_time(ms, zone);
                    let rows = rows
                        .into_iter()
                        .map(|r| {
                            vec![
                                r.identity,
                                r.mac,
                                r.ip,
                                format!("{}:{}-{}", r.public_addr, r.port_lo, r.port_hi),
                                at(r.login_at),
                                r.logout_at.map(at).unwrap_or_else(|| "online".into()),
                                r.ap,
                            ]
                        })
                        .collect();
                    print_table(&["IDENTITY", "MAC", "IP", "PUBLIC", "LOGIN", "LOGOUT", "AP"], rows);
                }
                other => fail(other)?,
            }
        }
        TrailCmd::Verify => match control::call(socket, &Request::AccessLogVerify).await? {
            Reply::AccessLogVerdict { verdict } if json => print_json(&verdict)?,
            Reply::AccessLogVerdict { verdict } => match &verdict.broken {
                None => {
                    println!("the access log's chain holds: {} rows, {} not sealed yet", verdict.rows, verdict.pending)
                }
                Some((seq, why)) => {
                    println!("the access log's chain is broken at row {seq}: {why}");
                    std::process::exit(1);
                }
            },
            other => fail(other)?,
        },
    }
    Ok(())
}
