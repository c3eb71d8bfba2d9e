//! `guestwifi-hq`: the chain's headquarters. `run` serves the sites; the
//! other commands are the HQ admin's (sites and their claim codes,
//! revocation, publishing blocks and photos), each straight on the chain's
//! PostgreSQL, which every replica shares.

use clap::{Parser, Subcommand};
use guestwifi_core::hq::protocol::Scope;
use guestwifi_hq::{api, ca::Ca, config::Config, db::Db, metrics::Metrics, server};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "guestwifi-hq",
    version,
    about = "Guest Wi-Fi headquarters: the chain's service that restaurants enrol with, feed and take their portal from"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, default_value = "/etc/guestwifi-hq/hq.toml", env = "GUESTWIFI_HQ_CONFIG")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the sites (any number of replicas on one PostgreSQL).
    Run,
    /// Makes HQ's CA (the two `[ca]` files); once, before the first run.
    Init {
        /// The chain's name, in the CA's name.
        #[arg(long, default_value = "Chain")]
        name: String,
    },
    /// Brings the database's schema up to date (`run` does it too).
    Migrate,
    /// Sites: add one (with its claim code), a new code, revoke, list.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Publishes a marketing block for a scope (or withdraws it).
    Publish {
        /// The brand.
        #[arg(long)]
        brand: String,
        /// `brand`, `region:ID` or `site:ID`.
        #[arg(long)]
        scope: String,
        /// `brand`, `dishes`, `promotions`, `products`, `ad`, `landing`.
        #[arg(long)]
        block: String,
        /// The block as JSON (as the site's content holds it).
        #[arg(long, conflicts_with = "withdraw")]
        file: Option<PathBuf>,
        /// Withdraws the scope's block: the next scope's shows.
        #[arg(long)]
        withdraw: bool,
        /// Stages it: this site of the scope takes it first, then (for the
        /// brand) its region, then the scope, each step once the sites
        /// online have applied it; a refusal puts every scope back.
        #[arg(long)]
        canary: Option<String>,
    },
    /// Stores a photo for the brand; prints the id blocks name it by.
    Photo {
        /// The brand.
        #[arg(long)]
        brand: String,
        /// A JPEG, PNG or WebP file.
        file: PathBuf,
    },
    /// HQ's people: the brand's first owner, and accounts for the console.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Chain voucher batches: make one (prints its codes), revoke a card or a batch.
    #[command(subcommand)]
    Vouchers(VouchersCommand),
    /// Prints the bundle a site gets now.
    Bundle {
        /// `BRAND/SITE`.
        site: String,
    },
}

#[derive(Subcommand)]
enum SiteCommand {
    /// Adds a site and prints its one-time claim code.
    Add {
        /// The brand's id.
        #[arg(long)]
        brand: String,
        /// The brand's name (when the brand is new).
        #[arg(long, default_value = "")]
        brand_name: String,
        /// The region's id (optional).
        #[arg(long, default_value = "")]
        region: String,
        /// The site's id (a site that fed the store directly keeps its id).
        #[arg(long)]
        id: String,
        /// The site's name.
        #[arg(long)]
        name: String,
    },
    /// A new claim code for a site (re-enrolment after a revocation).
    Code {
        /// `BRAND/SITE`.
        site: String,
    },
    /// Revokes a site: its certificate stops working at its next call.
    Revoke {
        /// `BRAND/SITE`.
        site: String,
    },
    /// Every site with what it last said.
    List {
        /// Only this brand.
        #[arg(long)]
        brand: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum VouchersCommand {
    /// Makes a batch good at every site of a scope and prints its codes, one a line.
    Create {
        /// The brand.
        #[arg(long)]
        brand: String,
        /// `brand`, `region:ID` or `site:ID`.
        #[arg(long, default_value = "brand")]
        scope: String,
        /// Cards (1-1000).
        #[arg(long, default_value_t = 10)]
        count: u32,
        /// Online minutes a card gives from its first use.
        #[arg(long, default_value_t = 120)]
        minutes: u32,
        /// Days within which a card must be first used.
        #[arg(long, default_value_t = 30)]
        valid_days: u32,
        /// Devices one card serves.
        #[arg(long, default_value_t = 1)]
        devices: u32,
        /// A site cut off from HQ longer than this refuses the cards.
        #[arg(long, default_value_t = guestwifi_hq::vouchers::DEFAULT_OFFLINE_HOURS)]
        offline_hours: u32,
        /// A note on the batch.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Revokes one card of a batch, or the whole batch.
    Revoke {
        /// The brand.
        #[arg(long)]
        brand: String,
        /// The batch.
        #[arg(long)]
        batch: String,
        /// One card's code (without it: the whole batch).
        #[arg(long)]
        code: Option<String>,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Adds an account and prints its first password (once); it enrols its
    /// second factor (TOTP) at its first sign-in to the console.
    Add {
        /// The brand.
        #[arg(long)]
        brand: String,
        /// The username.
        #[arg(long)]
        username: String,
        /// owner, admin, marketer, analyst, compliance, site_manager.
        #[arg(long)]
        role: String,
        /// `brand`, `region:ID` or `site:ID`.
        #[arg(long, default_value = "brand")]
        scope: String,
    },
    /// Every account of a brand.
    List {
        /// The brand.
        #[arg(long)]
        brand: String,
    },
}

fn site_arg(text: &str) -> anyhow::Result<(String, String)> {
    let (brand, site) = text.split_once('/').ok_or_else(|| anyhow::anyhow!("{text:?}: BRAND/SITE"))?;
    Ok((brand.into(), site.into()))
}

fn print_claim(
    config: &Config,
    ca: Option<&Ca>,
    site: &str,
    claim: &guestwifi_core::hq::protocol::Claim,
    expires_at: i64,
) {
    let url = format!("https://{}:{}", config.server.names[0], config.server.listen.port());
    println!("claim code for {site}: {}", claim.display());
    println!(
        "valid until: {} (UTC ms {expires_at}), once",
        guestwifi_core::kit::time::civil_date(expires_at / 1000, 0)
    );
    if let Some(ca) = ca {
        println!("HQ's CA fingerprint (the join prints it too): {}", ca.fingerprint);
    }
    println!("on the appliance: controller hq join {url} {}", claim.display());
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let verbose = matches!(cli.command, Command::Run);
    if verbose {
        ap_protocol::logging::init("info");
    }
    match go(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("guestwifi-hq: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn go(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli.config, std::env::vars())?;
    let ca = || Ca::load(&config.ca.cert, &config.ca.key);
    if let Command::Init { name } = &cli.command {
        // An HQ made before the ticket key gets just that.
        if !config.ca.cert.exists() || !config.ca.key.exists() {
            let ca = Ca::init(&config.ca.cert, &config.ca.key, name)?;
            println!("HQ's CA made: {} (key {}, mode 0600)", config.ca.cert.display(), config.ca.key.display());
            println!("fingerprint: {}", ca.fingerprint);
        }
        let tickets = config.ca.ticket_key_path();
        anyhow::ensure!(!tickets.exists(), "{} exists already", tickets.display());
        let key = guestwifi_core::hq::tickets::new_key();
        let seed = ap_protocol::hex::encode(key.as_bytes());
        guestwifi_core::kit::secrets::write_secret(&tickets, seed.as_bytes())?;
        println!("ticket key made: {} (mode 0600)", tickets.display());
        return Ok(());
    }
    let db = Db::connect(&config.database)?;
    match cli.command {
        Command::Run => run(config, db).await,
        Command::Init { .. } => unreachable!("handled above"),
        Command::Migrate => db.migrate().await,
        Command::Site(command) => {
            db.migrate().await?;
            match command {
                SiteCommand::Add { brand, brand_name, region, id, name } => {
                    let (claim, expires) =
                        db.add_site(&brand, &brand_name, &region, &id, &name, config.enrol.code_hours).await?;
                    print_claim(&config, ca().ok().as_ref(), &format!("{brand}/{id}"), &claim, expires);
                }
                SiteCommand::Code { site } => {
                    let (brand, id) = site_arg(&site)?;
                    let (claim, expires) = db.new_claim(&brand, &id, config.enrol.code_hours).await?;
                    print_claim(&config, ca().ok().as_ref(), &site, &claim, expires);
                }
                SiteCommand::Revoke { site } => {
                    let (brand, id) = site_arg(&site)?;
                    db.revoke(&brand, &id).await?;
                    println!("{site} revoked: its next call gets nothing; `site code {site}` to enrol it again");
                }
                SiteCommand::List { brand, json } => {
                    let sites = db.sites(brand.as_deref()).await?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&sites)?);
                    } else {
                        println!(
                            "{:<24} {:<10} {:<9} {:<26} {:>6} {:>7} {:>8}",
                            "site", "region", "state", "bundle", "guests", "aps", "backlog"
                        );
                        for s in sites {
                            println!(
                                "{:<24} {:<10} {:<9} {:<26} {:>6} {:>7} {:>8}",
                                format!("{}/{}", s.brand, s.site),
                                s.region,
                                s.state,
                                if s.refused.is_empty() || s.refused == s.applied {
                                    s.applied
                                } else {
                                    format!("{} (refused {})", s.applied, s.refused)
                                },
                                s.guests_online,
                                format!("{}/{}", s.aps.0, s.aps.1),
                                s.backlog.0
                            );
                        }
                    }
                }
            }
            Ok(())
        }
        Command::Publish { brand, scope, block, file, withdraw, canary } => {
            db.migrate().await?;
            let scope =
                Scope::parse(&scope).ok_or_else(|| anyhow::anyhow!("{scope:?}: brand, region:ID or site:ID"))?;
            let value = match (file, withdraw) {
                (_, true) => None,
                (Some(file), false) => Some(serde_json::from_str(&std::fs::read_to_string(&file)?)?),
                (None, false) => anyhow::bail!("--file or --withdraw"),
            };
            let staff = guestwifi_hq::staff::Staff::new(db.clone());
            let action =
                guestwifi_hq::staff::Action::Publish { scope: scope.clone(), block: block.clone(), value, canary };
            match staff.act(&guestwifi_hq::staff::Actor::cli(&brand), action).await? {
                guestwifi_hq::staff::Done::Staged { id } => println!(
                    "{block} for {scope} of {brand}: rollout {id} started at its canary; HQ takes each step as the sites apply it"
                ),
                guestwifi_hq::staff::Done::Published { version } => {
                    println!("{block} for {scope} of {brand}: version {version}; the sites it covers take it at once")
                }
                _ => {}
            }
            Ok(())
        }
        Command::Photo { brand, file } => {
            db.migrate().await?;
            let id = db.add_photo(&brand, std::fs::read(&file)?).await?;
            println!("{id}");
            Ok(())
        }
        Command::Staff(command) => {
            db.migrate().await?;
            let staff = guestwifi_hq::staff::Staff::new(db.clone());
            match command {
                StaffCommand::Add { brand, username, role, scope } => {
                    let role = guestwifi_hq::staff::Role::parse(&role).ok_or_else(|| {
                        anyhow::anyhow!("{role:?}: owner, admin, marketer, analyst, compliance or site_manager")
                    })?;
                    let scope = Scope::parse(&scope)
                        .ok_or_else(|| anyhow::anyhow!("{scope:?}: brand, region:ID or site:ID"))?;
                    let password = staff.add_from_cli(&brand, &username, role, scope.clone()).await?;
                    println!("{username} ({}, {scope}) added to {brand}", role.as_str());
                    println!("first password (shown once): {password}");
                    match &config.console {
                        Some(c) => println!(
                            "sign in at https://{}:{}/ and set up two-step verification",
                            config.server.names[0],
                            c.listen.port()
                        ),
                        None => println!("the console is off: add a [console] section to serve it"),
                    }
                }
                StaffCommand::List { brand } => {
                    let owner = guestwifi_hq::staff::Actor::cli(&brand).person;
                    for p in staff.people(&owner).await? {
                        println!(
                            "{:<24} {:<13} {:<20} {:<9} {}",
                            p.username,
                            p.role,
                            p.scope,
                            if p.enrolled { "totp" } else { "no-totp" },
                            if p.disabled {
                                "disabled"
                            } else if p.locked_until.is_some() {
                                "locked"
                            } else {
                                "active"
                            }
                        );
                    }
                }
            }
            Ok(())
        }
        Command::Vouchers(command) => {
            db.migrate().await?;
            let staff =
                guestwifi_hq::staff::Staff::new(db.clone()).with_ticket_key(guestwifi_hq::api::ticket_key(&config)?);
            match command {
                VouchersCommand::Create { brand, scope, count, minutes, valid_days, devices, offline_hours, note } => {
                    let scope = Scope::parse(&scope)
                        .ok_or_else(|| anyhow::anyhow!("{scope:?}: brand, region:ID or site:ID"))?;
                    let batch = guestwifi_hq::vouchers::NewBatch {
                        scope,
                        count,
                        duration_seconds: i64::from(minutes) * 60,
                        valid_days,
                        devices,
                        down_kbps: 0,
                        up_kbps: 0,
                        offline_hours,
                        note,
                        once: String::new(),
                    };
                    let action = guestwifi_hq::staff::Action::VoucherBatch { batch };
                    let actor = guestwifi_hq::staff::Actor::cli(&brand);
                    if let guestwifi_hq::staff::Done::Batch { id } = staff.act(&actor, action).await? {
                        eprintln!("batch {id}:");
                        for card in guestwifi_hq::vouchers::cards(db.pool(), &brand, &id).await? {
                            println!("{}", card.display_code());
                        }
                    }
                }
                VouchersCommand::Revoke { brand, batch, code } => {
                    let action = guestwifi_hq::staff::Action::RevokeVouchers { batch: batch.clone(), code };
                    staff.act(&guestwifi_hq::staff::Actor::cli(&brand), action).await?;
                    println!("revoked in {batch}: the sites refuse it at their next bundle");
                }
            }
            Ok(())
        }
        Command::Bundle { site } => {
            let (brand, id) = site_arg(&site)?;
            let region: String = sqlx::query_scalar("SELECT region_id FROM sites WHERE brand_id = $1 AND site_id = $2")
                .bind(&brand)
                .bind(&id)
                .fetch_optional(db.pool())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no site {site}"))?;
            let tickets = guestwifi_hq::api::ticket_key(&config)?.map(|k| guestwifi_core::hq::tickets::public_hex(&k));
            let bundle = db.bundle(&guestwifi_hq::db::SiteRef { brand, site: id, region }, tickets.as_deref()).await?;
            println!("{}", serde_json::to_string_pretty(&bundle)?);
            Ok(())
        }
    }
}

/// Serves until SIGTERM or Ctrl-C.
async fn run(config: Config, db: Db) -> anyhow::Result<()> {
    let ca = Arc::new(Ca::load(&config.ca.cert, &config.ca.key)?);
    let mut wait = Duration::from_secs(1);
    loop {
        match db.migrate().await {
            Ok(()) => break,
            Err(err) => {
                tracing::warn!(store = %db.location, error = %format!("{err:#}"), "the chain's PostgreSQL is not ready; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
    let metrics = Arc::new(Metrics::default());
    let hq = api::Hq::new(db.clone(), ca.clone(), metrics.clone(), &config)?;
    let acceptor = server::acceptor(&ca, &config.server.names)?;
    let listener = tokio::net::TcpListener::bind(config.server.listen).await?;
    let metrics_listener = tokio::net::TcpListener::bind(config.server.metrics_listen).await?;
    tracing::info!(listen = %config.server.listen, metrics = %config.server.metrics_listen, store = %db.location,
        ca = %ca.fingerprint, "headquarters serving");
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(guestwifi_hq::listen(db.clone(), hq.wakes.clone()));
    tasks.spawn(server::serve(
        listener,
        acceptor,
        api::router(hq),
        config.server.max_connections,
        config.server.max_connections_per_address,
    ));
    if let Some(console) = &config.console {
        let (chain, key) = match (&console.cert, &console.key) {
            (Some(cert), Some(key)) => server::identity_from_files(cert, key)?,
            _ => ca.server_identity(&config.server.names)?,
        };
        let acceptor = server::plain_acceptor(chain, key)?;
        let listener = tokio::net::TcpListener::bind(console.listen).await?;
        let app_state = Arc::new(guestwifi_hq::console::Console::new(db.clone(), &config)?);
        match app_state.staff().seal_secrets().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(accounts = n, "TOTP secrets from before sealing sealed"),
            Err(err) => tracing::warn!(error = %err, "TOTP secrets from before sealing not sealed yet"),
        }
        let app = guestwifi_hq::console::router(app_state);
        tracing::info!(listen = %console.listen, "HQ console serving");
        tasks.spawn(server::serve(
            listener,
            acceptor,
            app,
            config.server.max_connections,
            config.server.max_connections_per_address,
        ));
    }
    let thresholds = guestwifi_hq::health::Thresholds::of(config.console.as_ref());
    let tickets = guestwifi_hq::api::ticket_key(&config)?.as_ref().map(guestwifi_core::hq::tickets::public_hex);
    tasks.spawn(guestwifi_hq::rollouts::drive(db.clone(), tickets, thresholds));
    tasks.spawn(guestwifi_hq::rollup::drive(db.clone(), config.zone()));
    tasks.spawn(guestwifi_hq::serve_metrics(metrics_listener, metrics, db, thresholds));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("stopping"),
        _ = tasks.join_next() => anyhow::bail!("a task ended"),
    }
    Ok(())
}
