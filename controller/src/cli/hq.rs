//! `controller hq`: join the chain's headquarters, see the link, leave.

use super::{control_now_ms, fail, print_json};
use clap::Subcommand;
use controller::config::Config;
use controller::control::{self, Reply, Request};

#[derive(Subcommand)]
pub enum HqCmd {
    /// Enrols this site with HQ: a key made here, the claim code proved
    /// (never sent), a certificate from HQ's CA, and that CA pinned. Prints
    /// the CA's fingerprint; the controller uses the enrolment from its
    /// next start.
    Join {
        /// HQ's URL (`https://hq.example.com:8443`).
        url: String,
        /// The one-time claim code HQ's admin gave (`ABC234-DEFGH-...`).
        code: String,
        /// Replace an existing enrolment.
        #[arg(long)]
        force: bool,
    },
    /// The link: HQ's URL, since when it is unreachable, the bundle applied
    /// or refused, the facts waiting.
    Status,
    /// Forgets the enrolment (the site stands alone from its next start;
    /// facts still waiting stay in the outbox).
    Leave,
}

pub async fn hq(command: HqCmd, config: &Config, json: bool) -> anyhow::Result<()> {
    match command {
        HqCmd::Join { url, code, force } => {
            let joined = controller::hq::join::join(&url, &code, &config.data.dir, force).await?;
            let e = &joined.enrolment;
            if json {
                return print_json(e);
            }
            println!("joined {} as site {} of brand {} (region {:?}, {:?})", e.url, e.site, e.brand, e.region, e.name);
            println!("HQ's CA, pinned from now on: {}", e.ca_fingerprint);
            println!("restart the controller to use it: systemctl restart guestwifi-controller");
            Ok(())
        }
        HqCmd::Leave => {
            controller::hq::site::Identity::remove(&config.data.dir)?;
            println!("enrolment forgotten; restart the controller to stand alone");
            Ok(())
        }
        HqCmd::Status => {
            let enrolled = controller::hq::site::Identity::load(&config.data.dir).map_err(anyhow::Error::msg)?;
            let status = match control::call(&config.data.control_socket(), &Request::FeedStatus).await {
                Ok(Reply::Feed { status }) => Some(status),
                Ok(other) => return fail(other),
                // The daemon is not running: say what the files say.
                Err(_) => None,
            };
            if json {
                return print_json(&serde_json::json!({
                    "enrolment": enrolled.as_ref().map(|i| &i.enrolment),
                    "link": status.as_ref().and_then(|s| s.hq.clone()),
                    "backlog": status.as_ref().map(|s| &s.backlog),
                }));
            }
            let Some(identity) = enrolled else {
                println!("not enrolled: this site stands alone (`controller hq join URL CODE`)");
                return Ok(());
            };
            let e = &identity.enrolment;
            let ago = |at: i64| format!("{}s ago", (control_now_ms() - at).max(0) / 1000);
            println!("hq         {} (brand {}, site {}, region {:?})", e.url, e.brand, e.site, e.region);
            println!("ca         {}", e.ca_fingerprint);
            let Some(status) = status else {
                println!("link       the controller is not running");
                return Ok(());
            };
            match &status.hq {
                None => println!("link       not in use yet: restart the controller"),
                Some(link) => {
                    match link.unreachable_since {
                        Some(since) => println!(
                            "link       UNREACHABLE since {} ({})",
                            ago(since),
                            link.error.clone().unwrap_or_default()
                        ),
                        None => println!(
                            "link       up{}",
                            link.last_ok_at.map(|at| format!(", last answer {}", ago(at))).unwrap_or_default()
                        ),
                    }
                    let applied = link.bundle_applied_at.map(|at| format!(", applied {}", ago(at))).unwrap_or_default();
                    println!("bundle     {}{applied}", if link.bundle.is_empty() { "none yet" } else { &link.bundle });
                    if let Some((version, why)) = &link.refused {
                        println!("refused    {version}: {why} (the last good one stays)");
                    }
                    println!("heartbeat  {}", link.heartbeat_at.map(ago).unwrap_or_else(|| "none yet".into()));
                }
            }
            println!("waiting    {} facts, lag {:.1} s", status.backlog.waiting, status.backlog.lag_ms as f64 / 1000.0);
            Ok(())
        }
    }
}
