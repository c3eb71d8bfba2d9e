//! The command line's commands by family, and how they print: a table for
//! people, JSON with `--json`. Each command is one request to the daemon's
//! control socket (the one door; its actor is root on the appliance).

pub mod desk;
pub mod hq;
pub mod members;
pub mod radio;
pub mod trail;

use anyhow::bail;
use controller::control::Reply;

/// `90s`, `30m`, `2h`, `30d` (or plain seconds) as seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
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

pub fn control_now_ms() -> i64 {
    controller::kit::time::now_ms()
}

pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
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

pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Text from an AP, safe for a terminal: control characters (escape
/// sequences) are shown as `?`.
pub fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

pub fn fail(reply: Reply) -> anyhow::Result<()> {
    match reply {
        Reply::Error { message, .. } => bail!("{message}"),
        other => bail!("unexpected reply: {other:?}"),
    }
}
