//! `controller`: the appliance daemon and its command line.

use anyhow::{bail, Context};
use clap::{CommandFactory, Parser, Subcommand};
use controller::config::Config;
use controller::control::{self, Reply, Request};
use std::path::{Path, PathBuf};

mod cli;

use cli::desk::{accounts, sessions, vouchers, AccountsCmd, SessionsCmd, SmsCmd, VouchersCmd};
use cli::hq::{hq, HqCmd};
use cli::members::{members, CardsCmd, MembersCmd};
use cli::radio::{aps, firmware, ssids, ApsCmd, FirmwareCmd, SsidsCmd};
use cli::trail::{trail, TrailCmd};
use cli::{fail, print_json, print_table};

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
    /// The access log the police ask for (上网日志): search it, export it
    /// as CSV, check its hash chain.
    Trail {
        #[command(subcommand)]
        command: TrailCmd,
        /// The configuration file of the running controller.
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
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
    /// The chain's headquarters: join it with a claim code, see the link, leave.
    Hq {
        #[command(subcommand)]
        command: HqCmd,
        /// The configuration file.
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
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
        Cmd::Hq { command, config } => hq(command, &load(&config)?, json).await,
        Cmd::Trail { command, config } => trail(command, &load(&config)?, json).await,
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
