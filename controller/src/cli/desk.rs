//! `sessions`, `vouchers`, `accounts` and `sms`: the front desk's commands.

use super::{fail, parse_duration, print_json, print_table, printable};
use anyhow::Context;
use clap::Subcommand;
use controller::control::{self, Reply, Request};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum VouchersCmd {
    /// Make a batch of cards; prints their codes and the batch id.
    Create {
        /// How many cards.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Online time each card gives from its first use: 30m, 1h, 30d.
        #[arg(long, value_parser = parse_duration)]
        duration: u64,
        /// Days within which a card must be first used.
        #[arg(long, default_value_t = 30)]
        valid_days: u32,
        /// Devices one card may log in.
        #[arg(long, default_value_t = 1)]
        devices: u32,
        /// Download limit of its sessions, kbit/s (0: the method's default).
        #[arg(long, default_value_t = 0)]
        down_kbps: u32,
        /// Upload limit of its sessions, kbit/s (0: the method's default).
        #[arg(long, default_value_t = 0)]
        up_kbps: u32,
        /// Data each card allows over its life, every device together, MB (0: no allowance).
        #[arg(long, default_value_t = 0)]
        data_mb: u32,
        /// A note printed on the cards and kept with the batch.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Cards with their state and use.
    List {
        /// Only this batch.
        #[arg(long)]
        batch: Option<String>,
    },
    /// Revoke a card (its code) or a whole batch (its id).
    Revoke {
        /// A code or a batch id.
        code_or_batch: String,
    },
    /// A printable A4 sheet (HTML) of a batch's cards with their QR codes, on stdout.
    Sheet {
        /// The batch id.
        batch: String,
    },
    /// Cards as CSV on stdout.
    Export {
        /// Only this batch.
        #[arg(long)]
        batch: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum AccountsCmd {
    /// Open an account; prints the username and password (shown only now).
    Create {
        /// The guest's ID card number (18 characters), or passport number with --passport.
        #[arg(long)]
        id_number: String,
        /// The number is a passport's.
        #[arg(long)]
        passport: bool,
        /// The guest's name (optional).
        #[arg(long, default_value = "")]
        name: String,
        /// A username (default: one is made).
        #[arg(long, default_value = "")]
        username: String,
        /// Online time from the first login: 30m, 2h, 1d.
        #[arg(long, value_parser = parse_duration, default_value = "2h")]
        online: u64,
        /// Days the account lives.
        #[arg(long, default_value_t = 1)]
        valid_days: u32,
        /// Devices it may log in at once.
        #[arg(long, default_value_t = 1)]
        devices: u32,
        /// Also write the printable slip (HTML) here.
        #[arg(long)]
        slip: Option<PathBuf>,
    },
    /// Accounts (no passwords, no ID numbers: their last four only).
    List {
        /// Only the accounts of this ID number.
        #[arg(long)]
        id_number: Option<String>,
    },
    /// Revoke an account.
    Revoke {
        /// Its username.
        username: String,
    },
}

#[derive(Subcommand)]
pub enum SessionsCmd {
    /// Live sessions with what each guest sent.
    List,
    /// End every session of a device.
    Kick {
        /// The device's MAC address.
        mac: String,
    },
}

#[derive(Subcommand)]
pub enum SmsCmd {
    /// Revoke every one-tap return cookie of a phone (a lost phone, a
    /// guest's request); the next login needs a new code.
    Forget {
        /// The phone number.
        phone: String,
    },
}

pub async fn sessions(command: SessionsCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
    match command {
        SessionsCmd::List => match control::call(socket, &Request::SessionsList).await? {
            Reply::Sessions { sessions } if json => print_json(&sessions),
            Reply::Sessions { sessions } => {
                let rows = sessions
                    .into_iter()
                    .map(|s| {
                        vec![
                            s.mac.to_string(),
                            s.ip.to_string(),
                            s.method.clone(),
                            s.identity.clone(),
                            s.granted_seconds.div_euclid(60).to_string(),
                            s.remaining().as_secs().div_ceil(60).to_string(),
                            match (s.down_kbps, s.up_kbps) {
                                (0, 0) => "-".to_string(),
                                (d, u) => format!("{d}/{u}"),
                            },
                            s.bytes_up.to_string(),
                            s.packets_up.to_string(),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "MAC",
                        "IP",
                        "METHOD",
                        "IDENTITY",
                        "MIN GRANTED",
                        "MIN LEFT",
                        "KBIT/S DOWN/UP",
                        "BYTES UP",
                        "PACKETS",
                    ],
                    rows,
                );
                Ok(())
            }
            other => fail(other),
        },
        SessionsCmd::Kick { mac } => match control::call(socket, &Request::SessionsKick { mac: mac.clone() }).await? {
            Reply::Kicked { count } => {
                println!("{mac}: {count} session(s) ended");
                Ok(())
            }
            other => fail(other),
        },
    }
}

pub async fn vouchers(command: VouchersCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
    use controller::auth::voucher::NewBatch;
    let request = match command {
        VouchersCmd::Create { count, duration, valid_days, devices, down_kbps, up_kbps, data_mb, note } => {
            Request::VouchersCreate {
                batch: NewBatch {
                    count,
                    duration_seconds: duration,
                    valid_days,
                    devices,
                    bandwidth: controller::auth::Bandwidth { down_kbps, up_kbps, data_mb, data_daily: false },
                    note,
                },
            }
        }
        VouchersCmd::List { batch } => Request::VouchersList { batch },
        VouchersCmd::Revoke { code_or_batch } => Request::VouchersRevoke { code_or_batch },
        VouchersCmd::Sheet { batch } => Request::VouchersSheet { batch },
        VouchersCmd::Export { batch } => Request::VouchersCsv { batch },
    };
    match control::call(socket, &request).await? {
        Reply::Vouchers { vouchers } if json => print_json(&vouchers)?,
        Reply::Vouchers { vouchers } => {
            let now = controller::kit::time::now_ms();
            let rows = vouchers
                .iter()
                .map(|v| {
                    vec![
                        v.display_code(),
                        v.batch.clone(),
                        v.state(now).to_string(),
                        format!("{}m", v.duration_seconds / 60),
                        format!("{}/{}", v.devices_used, v.devices),
                        printable(&v.note),
                    ]
                })
                .collect();
            print_table(&["CODE", "BATCH", "STATE", "TIME", "DEVICES", "NOTE"], rows);
        }
        Reply::Revoked { count } => println!("{count} card(s) revoked"),
        Reply::Text { text } => print!("{text}"),
        other => fail(other)?,
    }
    Ok(())
}

pub async fn accounts(command: AccountsCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
    let mut slip_path = None;
    let request = match command {
        AccountsCmd::Create { id_number, passport, name, username, online, valid_days, devices, slip } => {
            slip_path = slip;
            Request::AccountsCreate {
                account: controller::auth::account::NewAccount {
                    username,
                    id_number,
                    id_type: if passport { "passport" } else { "id_card" }.into(),
                    name,
                    online_seconds: online,
                    valid_days,
                    devices,
                },
            }
        }
        AccountsCmd::List { id_number } => Request::AccountsList { id_number },
        AccountsCmd::Revoke { username } => Request::AccountsRevoke { username },
    };
    match control::call(socket, &request).await? {
        Reply::AccountCreated { account, slip } => {
            if let Some(path) = slip_path {
                std::fs::write(&path, slip).with_context(|| format!("cannot write {}", path.display()))?;
            }
            if json {
                print_json(&account)?;
            } else {
                println!("username: {}\npassword: {}", account.username, account.password);
            }
        }
        Reply::Accounts { accounts } if json => print_json(&accounts)?,
        Reply::Accounts { accounts } => {
            let rows = accounts
                .iter()
                .map(|a| {
                    let state = if a.revoked_at.is_some() {
                        "revoked"
                    } else if a.expires_at <= controller::kit::time::now_ms() {
                        "expired"
                    } else {
                        "live"
                    };
                    vec![
                        a.username.clone(),
                        printable(&a.name),
                        format!("{} …{}", a.id_type, a.id_last4),
                        state.to_string(),
                        format!("{}m", a.online_seconds / 60),
                    ]
                })
                .collect();
            print_table(&["USERNAME", "NAME", "ID", "STATE", "ONLINE"], rows);
        }
        Reply::Done => println!("done"),
        other => fail(other)?,
    }
    Ok(())
}
