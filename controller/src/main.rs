//! `controller`: the appliance daemon and its command line.

use anyhow::{bail, Context};
use clap::{CommandFactory, Parser, Subcommand};
use controller::config::Config;
use controller::control::{self, Reply, Request};
use std::path::{Path, PathBuf};

const DEFAULT_CONFIG: &str = "/etc/guestwifi/controller.toml";

/// Guest Wi-Fi controller for restaurants.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    /// Print lists and states as JSON (for scripts) instead of tables.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the appliance: firewall, DHCP/DNS, portal.
    Run {
        /// The configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Put the firewall table back, with every live session, after nftables
    /// was flushed or restarted.
    FirewallReload {
        /// The configuration file of the running controller.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Take the guest firewall table out of the kernel (uninstall). A stop
    /// leaves it in place on purpose; refused while the controller runs.
    FirewallRemove {
        /// The configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Guest sessions of the running controller.
    Sessions {
        #[command(subcommand)]
        command: SessionsCmd,
        /// The configuration file of the running controller.
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// The restaurant's access points (the running controller's AC).
    Aps {
        #[command(subcommand)]
        command: ApsCmd,
        /// The configuration file of the running controller.
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// The fingerprint of the controller's AP CA, to provision APs with
    /// (`controller_ca_sha256`, or DHCP option 43 sub-option 2).
    Ca {
        /// The configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Checks a configuration file (and `GUESTWIFI_*` overrides) without
    /// starting anything: names the first bad key, exits non-zero.
    CheckConfig {
        /// The configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Shell completions for bash, zsh, fish, elvish or powershell, on stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The manual page (roff), on stdout.
    #[command(name = "man")]
    Manual,
    /// The SSIDs every AP broadcasts.
    Ssids {
        #[command(subcommand)]
        command: SsidsCmd,
        /// The configuration file of the running controller.
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Voucher cards (小时卡/包月卡): create batches, print them, revoke, export.
    Vouchers {
        #[command(subcommand)]
        command: VouchersCmd,
        /// The configuration file of the running controller.
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Front-desk guest accounts opened from an ID card.
    Accounts {
        #[command(subcommand)]
        command: AccountsCmd,
        /// The configuration file of the running controller.
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// The newest logins and refused logins, every method (the audit trail).
    AuthLog {
        /// How many rows.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The configuration file of the running controller.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// The shared member store: import members, look one up, erase one,
    /// tiers, and the feed's backlog.
    Members {
        #[command(subcommand)]
        command: MembersCmd,
        /// The configuration file of the running controller.
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Membership cards: freeze, report lost, reactivate.
    Cards {
        #[command(subcommand)]
        command: CardsCmd,
        /// The configuration file of the running controller.
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// SMS login: revoke a phone's one-tap return (`sms forget PHONE`).
    Sms {
        #[command(subcommand)]
        command: SmsCmd,
        /// The configuration file of the running controller.
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// The console's one-time first-run setup code (until the first admin exists).
    SetupCode {
        /// The configuration file of the running controller.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// The URL to open on the counter's tablet for the rotating QR code
    /// (it carries the tablet's key: keep it off the guest network's pages).
    CounterUrl {
        /// The configuration file of the running controller.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// AP firmware: upload a signed image, roll it out in stages.
    Firmware {
        #[command(subcommand)]
        command: FirmwareCmd,
        /// The configuration file of the running controller.
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum ApsCmd {
    /// Every AP: pending or adopted, online, config version.
    List,
    /// Adopt a pending AP: it gets its certificate and the configuration.
    /// Compare the key fingerprint `aps list` shows with the AP's own (its
    /// log or label) and give its first 8 characters.
    Adopt {
        /// Its device id.
        device_id: String,
        /// The first 8 (or more) characters of its key's fingerprint.
        #[arg(long, required_unless_present = "any_key")]
        fingerprint: Option<String>,
        /// Adopt whatever key it said hello with (an impostor with its id
        /// would get the certificate, the SSIDs' keys and the roaming keys).
        #[arg(long, conflicts_with = "fingerprint")]
        any_key: bool,
    },
    /// Forget an AP: its certificate opens nothing any more.
    Forget {
        /// Its device id.
        device_id: String,
    },
    /// One AP and the configuration it should run (keys hidden).
    Show {
        /// Its device id.
        device_id: String,
    },
    /// Guest devices associated now, and to which AP.
    Stations,
    /// Plan channels (2.4 GHz 1/6/11, 5 GHz non-DFS) and power from the APs'
    /// neighbour scans, push it, and explain it.
    Plan,
    /// Per-AP settings: its floor, a radio's fixed channel or TX power (0 clears).
    Set {
        /// Its device id.
        device_id: String,
        /// The floor it is on (0 = ground), for the planner.
        #[arg(long)]
        floor: Option<i64>,
        /// The radio `--channel` and `--tx-power` apply to, e.g. wlan1.
        #[arg(long)]
        radio: Option<String>,
        /// Fixed channel (0: back to the planner's choice).
        #[arg(long)]
        channel: Option<u16>,
        /// Fixed TX power in dBm (0: back to the planner's choice).
        #[arg(long)]
        tx_power: Option<u8>,
    },
}

#[derive(Subcommand)]
enum FirmwareCmd {
    /// Check an image's ed25519 signature and keep it for rollouts.
    Upload {
        /// The image file.
        image: PathBuf,
        /// The ed25519 signature of its manifest (64 bytes raw, or 128 hex
        /// digits); the manifest names version, model, size and SHA-256.
        #[arg(long)]
        signature: PathBuf,
        /// The version it installs.
        #[arg(long)]
        version: String,
        /// The AP model it is built for.
        #[arg(long)]
        model: String,
    },
    /// Roll an uploaded version out: one canary AP, then batches.
    Rollout {
        /// The version.
        version: String,
        /// Let APs go to a version older than theirs (they refuse otherwise).
        #[arg(long)]
        allow_downgrade: bool,
    },
    /// Where the rollout is.
    Status,
}

#[derive(Subcommand)]
enum SsidsCmd {
    /// The SSIDs (keys hidden).
    List,
    /// Add or change an SSID; every AP gets it.
    Add {
        /// The network name guests see.
        name: String,
        /// open, wpa2_psk, wpa3_sae or wpa2_wpa3.
        #[arg(long, default_value = "open")]
        security: String,
        /// The passphrase (read from GUESTWIFI_SSID_KEY when not given, so it stays out of shell history).
        #[arg(long, env = "GUESTWIFI_SSID_KEY", hide_env_values = true, default_value = "")]
        key: String,
        /// Bands: 2.4, 5 or both (comma separated).
        #[arg(long, default_value = "2.4,5")]
        bands: String,
        /// VLAN to bridge the SSID to.
        #[arg(long)]
        vlan: Option<u16>,
        /// Do not broadcast the name.
        #[arg(long)]
        hidden: bool,
        /// Let guests on this SSID reach each other.
        #[arg(long)]
        no_isolation: bool,
        /// No captive portal for this SSID (staff networks; needs --vlan).
        #[arg(long)]
        no_portal: bool,
    },
    /// Remove an SSID from every AP.
    Remove {
        /// Its name.
        name: String,
    },
}

#[derive(Subcommand)]
enum VouchersCmd {
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
enum MembersCmd {
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
    },
    /// The feed to the store: facts waiting, lag, last delivery, last error.
    Feed,
}

#[derive(Subcommand)]
enum CardsCmd {
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

#[derive(Subcommand)]
enum SmsCmd {
    /// Revoke every one-tap return cookie of a phone (a lost phone, a
    /// guest's request); the next login needs a new code.
    Forget {
        /// The phone number.
        phone: String,
    },
}

#[derive(Subcommand)]
enum AccountsCmd {
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

/// `90s`, `30m`, `2h`, `30d` (or plain seconds) as seconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| format!("{text:?}: give a number with s, m, h or d (e.g. 1h)"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    n.checked_mul(scale).filter(|s| *s > 0).ok_or_else(|| format!("{text:?} is not a usable duration"))
}

#[derive(Subcommand)]
enum SessionsCmd {
    /// Live sessions with what each guest sent.
    List,
    /// End every session of a device.
    Kick {
        /// The device's MAC address.
        mac: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ap_protocol::logging::init("info,sqlx=warn,hickory=warn");
    let cli = Cli::parse();
    if !matches!(cli.command, Cmd::Run { .. }) {
        // A command's output piped into `head` or `grep -q`: end quietly when
        // the reader goes, as other command-line tools do, instead of a panic.
        // SAFETY: restoring the default disposition of one signal, before any thread writes.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let json = cli.json;
    match cli.command {
        Cmd::Run { config } => match controller::daemon::run(load(&config)?).await? {
            controller::daemon::Exit::Stopped => Ok(()),
            controller::daemon::Exit::Restart => {
                // Everything the run held (listeners, dnsmasq, the data dir's
                // lock) is released: start again in place, same pid and arguments.
                use std::os::unix::process::CommandExt;
                let err = std::process::Command::new("/proc/self/exe").args(std::env::args_os().skip(1)).exec();
                Err(anyhow::anyhow!("cannot restart: {err}"))
            }
        },
        Cmd::FirewallReload { config } => {
            match control::call(&load(&config)?.data.control_socket(), &Request::FirewallReload).await? {
                Reply::Reloaded { sessions } => {
                    println!("firewall reloaded with {sessions} live sessions")
                }
                other => fail(other)?,
            }
            Ok(())
        }
        Cmd::FirewallRemove { config } => {
            controller::daemon::remove_firewall(&load(&config)?)?;
            println!("firewall table removed: the guest network is no longer filtered by the controller");
            Ok(())
        }
        Cmd::Sessions { command, config } => sessions(command, &load(&config)?.data.control_socket(), json).await,
        Cmd::Aps { command, config } => aps(command, &load(&config)?.data.control_socket(), json).await,
        Cmd::Ca { config } => {
            let dir = load(&config)?.data.dir;
            let fingerprint = controller::ac::ca::Ca::fingerprint_in(&dir)
                .with_context(|| format!("no AP CA in {} yet: start the controller once", dir.display()))?;
            println!("{fingerprint}");
            Ok(())
        }
        Cmd::Ssids { command, config } => ssids(command, &load(&config)?.data.control_socket(), json).await,
        Cmd::Firmware { command, config } => firmware(command, &load(&config)?.data.control_socket(), json).await,
        Cmd::Vouchers { command, config } => vouchers(command, &load(&config)?.data.control_socket(), json).await,
        Cmd::Accounts { command, config } => accounts(command, &load(&config)?.data.control_socket(), json).await,
        Cmd::AuthLog { limit, config } => {
            match control::call(&load(&config)?.data.control_socket(), &Request::AuthLog { limit }).await? {
                Reply::AuthLog { rows } if json => print_json(&rows)?,
                Reply::AuthLog { rows } => {
                    let rows = rows
                        .into_iter()
                        .map(|r| {
                            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(r.at as u64);
                            let ago = at.elapsed().map(|d| d.as_secs()).unwrap_or(0);
                            vec![format!("{ago}s ago"), r.method, r.mac, r.ip, r.identity, r.outcome, r.reason]
                        })
                        .collect();
                    print_table(&["WHEN", "METHOD", "MAC", "IP", "IDENTITY", "OUTCOME", "REASON"], rows);
                }
                other => fail(other)?,
            }
            Ok(())
        }
        Cmd::Members { command, config } => members(command, &load(&config)?.data.control_socket(), json).await,
        Cmd::Cards { command, config } => {
            let (card, state) = match command {
                CardsCmd::Freeze { card } => (card, "frozen"),
                CardsCmd::Lost { card } => (card, "lost"),
                CardsCmd::Unfreeze { card } => (card, "active"),
            };
            let request = Request::CardsState { card: card.clone(), state: state.into() };
            match control::call(&load(&config)?.data.control_socket(), &request).await? {
                Reply::Done => println!("card {card}: {state}"),
                other => fail(other)?,
            }
            Ok(())
        }
        Cmd::Sms { command: SmsCmd::Forget { phone }, config } => {
            match control::call(&load(&config)?.data.control_socket(), &Request::SmsForget { phone }).await? {
                Reply::Text { text } => println!("{text}: one-tap return revoked"),
                other => fail(other)?,
            }
            Ok(())
        }
        Cmd::SetupCode { config } => {
            let path = load(&config)?.data.dir.join(controller::staff::SETUP_CODE_FILE);
            match std::fs::read_to_string(&path) {
                Ok(code) => println!("{}", code.trim()),
                Err(_) => {
                    bail!("no setup code: the first admin exists already (or the controller has not started yet)")
                }
            }
            Ok(())
        }
        Cmd::CounterUrl { config } => {
            match control::call(&load(&config)?.data.control_socket(), &Request::CounterUrl).await? {
                Reply::Text { text } => println!("{text}"),
                other => fail(other)?,
            }
            Ok(())
        }
        Cmd::CheckConfig { config } => {
            let loaded = load(&config)?;
            println!(
                "{}: ok (guest network {} on {}, portal {})",
                config.display(),
                loaded.network.guest_address,
                loaded.network.guest_interface,
                loaded.portal_url()
            );
            Ok(())
        }
        Cmd::Completions { shell } => {
            let name = invoked_as();
            clap_complete::generate(shell, &mut Cli::command().name(name), name, &mut std::io::stdout());
            Ok(())
        }
        Cmd::Manual => Ok(clap_mangen::Man::new(Cli::command().name(invoked_as())).render(&mut std::io::stdout())?),
    }
}

/// The name this binary was run by (`controller` in the tree,
/// `guestwifi-controller` as packaged): completions and the manual use it.
fn invoked_as() -> &'static str {
    let name = std::env::args_os()
        .next()
        .and_then(|a| Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "controller".into());
    // Asked once, for a command that then ends.
    Box::leak(name.into_boxed_str())
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Ok(Config::load(path, std::env::vars())?)
}

/// A table whose columns line up whatever the script: the width of Chinese
/// text is measured as a terminal shows it (two columns a character).
async fn members(command: MembersCmd, socket: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let request = match &command {
        MembersCmd::Import { file } => Request::MembersImport {
            csv: std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?,
        },
        MembersCmd::Show { key, full } => Request::MembersShow { key: key.clone(), full: *full },
        MembersCmd::Erase { key } => Request::MembersErase { key: key.clone() },
        MembersCmd::Tier { tier, minutes, down_kbps, up_kbps } => {
            Request::MembersTier { tier: tier.clone(), minutes: *minutes, down_kbps: *down_kbps, up_kbps: *up_kbps }
        }
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

fn control_now_ms() -> i64 {
    controller::kit::time::now_ms()
}

fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING).set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    for line in table.lines() {
        // Every line starts with the first column's padding: drop it.
        println!("{}", line.strip_prefix(' ').unwrap_or(&line).trim_end());
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Text from an AP, safe for a terminal: control characters (escape
/// sequences) are shown as `?`.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

fn fail(reply: Reply) -> anyhow::Result<()> {
    match reply {
        Reply::Error { message, .. } => bail!("{message}"),
        other => bail!("unexpected reply: {other:?}"),
    }
}

async fn aps(command: ApsCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
    let request = match &command {
        ApsCmd::List => Request::ApsList,
        ApsCmd::Stations => Request::StationsList,
        ApsCmd::Plan => Request::ApsPlan,
        ApsCmd::Set { device_id, floor, radio, channel, tx_power } => Request::ApsSet {
            device_id: device_id.clone(),
            floor: *floor,
            radio: radio.clone(),
            channel: *channel,
            tx_power_dbm: *tx_power,
        },
        ApsCmd::Adopt { device_id, fingerprint, any_key } => {
            if *any_key {
                eprintln!(
                    "warning: adopting {device_id} without checking its key: a device that took its id \
                     would get the certificate and every SSID's key"
                );
            }
            Request::ApsAdopt { device_id: device_id.clone(), fingerprint: fingerprint.clone() }
        }
        ApsCmd::Forget { device_id } => Request::ApsForget { device_id: device_id.clone() },
        ApsCmd::Show { device_id } => Request::ApsShow { device_id: device_id.clone() },
    };
    match control::call(socket, &request).await? {
        Reply::Aps { aps } if json => print_json(&aps)?,
        Reply::Stations { stations } if json => print_json(&stations)?,
        Reply::Aps { aps } => {
            let mut rows = Vec::new();
            let mut conflicts = Vec::new();
            for ap in aps {
                let outdated = ap.wants_version.map(|w| format!(" (wants {w})")).unwrap_or_default();
                if let Some(other) = &ap.key_conflict {
                    conflicts.push(format!(
                        "warning: {} was also seen with another key {} (an impostor, or a replaced board: \
                         forget it and adopt it again)",
                        printable(&ap.device_id),
                        &other[..16.min(other.len())]
                    ));
                }
                rows.push(vec![
                    printable(&ap.device_id),
                    ap.state.clone(),
                    if ap.online { "online" } else { "offline" }.to_string(),
                    printable(&ap.model),
                    printable(&ap.mac),
                    printable(&ap.firmware),
                    format!(
                        "{}{}",
                        &ap.fingerprint[..16.min(ap.fingerprint.len())],
                        if ap.key_conflict.is_some() { "!" } else { "" }
                    ),
                    if ap.controller_pinned { "pinned" } else { "first-use" }.to_string(),
                    format!("{}{outdated}", ap.applied_version),
                ]);
            }
            print_table(
                &["DEVICE", "STATE", "ONLINE", "MODEL", "MAC", "FIRMWARE", "KEY", "CONTROLLER", "CONFIG"],
                rows,
            );
            for line in conflicts {
                println!("{line}");
            }
        }
        Reply::Ap { ap, config } => {
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "access_point": ap, "config": config }))?)
        }
        Reply::Done => println!("done"),
        Reply::Plan { text } => print!("{text}"),
        Reply::ConfigVersion { version } => println!("configuration version {version} is being pushed to every AP"),
        Reply::Stations { stations } => {
            let rows =
                stations.into_iter().map(|(station, ap, radio, _)| vec![station, printable(&ap), radio]).collect();
            print_table(&["STATION", "AP", "RADIO"], rows);
        }
        other => fail(other)?,
    }
    Ok(())
}

async fn firmware(command: FirmwareCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
    let absolute = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    let request = match command {
        FirmwareCmd::Upload { image, signature, version, model } => {
            Request::FirmwareUpload { version, model, image: absolute(image), signature: absolute(signature) }
        }
        FirmwareCmd::Rollout { version, allow_downgrade } => Request::FirmwareRollout { version, allow_downgrade },
        FirmwareCmd::Status => Request::FirmwareStatus,
    };
    match control::call(socket, &request).await? {
        Reply::Rollout { status } if json => print_json(&status)?,
        Reply::Done => println!("image accepted: signature checked"),
        Reply::Rollout { status: None } => println!("no rollout yet"),
        Reply::Rollout { status: Some(s) } => {
            println!("firmware {}: {}", s.version, s.stage);
            println!("upgraded: {}", s.upgraded.join(" "));
            println!("remaining: {}", s.remaining.join(" "));
            if let Some(reason) = s.failure {
                println!("failed: {reason}");
            }
        }
        other => fail(other)?,
    }
    Ok(())
}

async fn ssids(command: SsidsCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
    let request = match command {
        SsidsCmd::List => Request::SsidsList,
        SsidsCmd::Remove { name } => Request::SsidsRemove { name },
        SsidsCmd::Add { name, security, key, bands, vlan, hidden, no_isolation, no_portal } => {
            let security = serde_json::from_value(serde_json::Value::String(security.clone()))
                .map_err(|_| anyhow::anyhow!("--security {security:?}: use open, wpa2_psk, wpa3_sae or wpa2_wpa3"))?;
            let bands = bands
                .split(',')
                .map(|b| serde_json::from_value(serde_json::Value::String(b.trim().to_string())))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| anyhow::anyhow!("--bands {bands:?}: use 2.4, 5 or 2.4,5"))?;
            Request::SsidsPut {
                ssid: ap_protocol::Ssid {
                    name,
                    security,
                    key,
                    vlan,
                    hidden,
                    client_isolation: !no_isolation,
                    captive_portal: !no_portal,
                    bands,
                },
            }
        }
    };
    match control::call(socket, &request).await? {
        Reply::Ssids { ssids } if json => print_json(&ssids)?,
        Reply::Ssids { ssids } => {
            let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
            let rows = ssids
                .into_iter()
                .map(|s| {
                    let security = serde_json::to_value(s.security).ok().and_then(|v| v.as_str().map(str::to_string));
                    let bands: Vec<String> = s
                        .bands
                        .iter()
                        .filter_map(|b| serde_json::to_value(b).ok()?.as_str().map(str::to_string))
                        .collect();
                    vec![
                        s.name,
                        security.unwrap_or_default(),
                        bands.join(","),
                        s.vlan.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
                        yes(s.hidden),
                        yes(s.client_isolation),
                        yes(s.captive_portal),
                    ]
                })
                .collect();
            print_table(&["NAME", "SECURITY", "BANDS", "VLAN", "HIDDEN", "ISOLATED", "PORTAL"], rows);
        }
        Reply::ConfigVersion { version } => {
            println!("configuration version {version} is being pushed to every AP")
        }
        other => fail(other)?,
    }
    Ok(())
}

async fn sessions(command: SessionsCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
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

async fn vouchers(command: VouchersCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
    use controller::auth::voucher::NewBatch;
    let request = match command {
        VouchersCmd::Create { count, duration, valid_days, devices, down_kbps, up_kbps, note } => {
            Request::VouchersCreate {
                batch: NewBatch {
                    count,
                    duration_seconds: duration,
                    valid_days,
                    devices,
                    bandwidth: controller::auth::Bandwidth { down_kbps, up_kbps },
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

async fn accounts(command: AccountsCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
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
