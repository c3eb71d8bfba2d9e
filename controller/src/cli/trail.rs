//! `controller trail`: the access log the police ask for (上网日志):
//! search it (root on the appliance, or an officer's token through the
//! API; every search is logged) and check its chain.

use super::{fail, print_json, print_table};
use clap::Subcommand;
use controller::control::{self, Reply, Request};

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
        /// CSV for the police instead of a table, signed with the
        /// appliance's key (its last line).
        #[arg(long)]
        csv: bool,
    },
    /// Checks the log's hash chain and names the first row that does not match.
    Verify,
    /// The names a session resolved (with `trail.domains` on; the look is logged).
    Domains {
        /// The session's id (`trail search --json` gives it).
        session: i64,
    },
    /// The public key the appliance signs exports with (for the police to pin).
    Key,
    /// Checks a signed export (no controller needed): prints the key that
    /// signed it, or why it does not hold.
    Check {
        /// The CSV file.
        file: std::path::PathBuf,
    },
}

/// A time as the CLI takes it.
fn when(text: &str, offset: i64) -> anyhow::Result<i64> {
    controller::trail::parse_time(text, offset)
        .ok_or_else(|| anyhow::anyhow!("{text:?}: a time is YYYY-MM-DD HH:MM or UTC milliseconds"))
}

pub async fn trail(command: TrailCmd, config: &controller::config::Config, json: bool) -> anyhow::Result<()> {
    let (socket, zone) = (&config.data.control_socket(), controller::kit::time::zone_offset(&config.venue.time_zone));
    match command {
        TrailCmd::Key => {
            let key = controller::trail::signing_key(&config.data.dir).map_err(anyhow::Error::msg)?;
            println!("{}", ap_protocol::hex::encode(key.verifying_key().as_bytes()));
        }
        TrailCmd::Check { file } => {
            let text = std::fs::read_to_string(&file)?;
            match controller::trail::check_signed(&text) {
                Ok(key) => println!("signed by {key}; compare it with the appliance's (`controller trail key`)"),
                Err(why) => {
                    println!("{}: {why}", file.display());
                    std::process::exit(1);
                }
            }
        }
        TrailCmd::Search { from, to, address, port, mac, identity, csv } => {
            let query = controller::trail::Query {
                from: from.as_deref().map(|t| when(t, zone)).transpose()?,
                to: to.as_deref().map(|t| when(t, zone)).transpose()?,
                public_addr: address,
                port,
                mac,
                identity,
            };
            if csv {
                match control::call(socket, &Request::AccessLogCsv { query }).await? {
                    Reply::Text { text } => print!("{text}"),
                    other => fail(other)?,
                }
                return Ok(());
            }
            match control::call(socket, &Request::AccessLogSearch { query }).await? {
                Reply::AccessLog { rows } if json => print_json(&rows)?,
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
        TrailCmd::Domains { session } => match control::call(socket, &Request::AccessLogDomains { session }).await? {
            Reply::Domains { names } if json => print_json(&names)?,
            Reply::Domains { names } => {
                let at = |ms: i64| controller::trail::csv_time(ms, zone);
                print_table(&["FIRST ASKED", "NAME"], names.into_iter().map(|(n, t)| vec![at(t), n]).collect());
            }
            other => fail(other)?,
        },
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
