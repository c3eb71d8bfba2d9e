//! A site's bundle composed from the newest blocks of the scopes that cover
//! it, HQ's ticket key, the chain voucher batches good there and which
//! blocks the site may replace: what `Db::bundle` and `Db::bundles` serve.

use guestwifi_core::hq::protocol::{Block, Bundle, Scope};
use std::collections::BTreeMap;

/// The newest version of a block at a scope: kind, id, block, version, value.
pub type BlockRow = (String, String, String, i64, Option<String>);

/// `site`'s bundle from the newest blocks of the scopes that cover it: for
/// each block the nearest scope's (site, then region, then brand); settings
/// key by key, each from the nearest scope that sets it.
pub fn compose_bundle(
    brand: &str,
    site: &str,
    region: &str,
    rows: Vec<BlockRow>,
    ticket_key: Option<&str>,
    vouchers: &[crate::vouchers::Live],
    overridable: &crate::blocks::Overridable,
) -> Bundle {
    let rank = |kind: &str| match kind {
        "site" => 0,
        "region" => 1,
        _ => 2,
    };
    let mut nearest: BTreeMap<String, (u8, Block)> = BTreeMap::new();
    let mut settings: BTreeMap<String, (u8, serde_json::Value)> = BTreeMap::new();
    for (kind, id, block, version, value) in rows {
        let Some(value) = value.and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok()) else { continue };
        let r = rank(&kind);
        if block == guestwifi_core::hq::settings::BLOCK {
            for (key, v) in value.as_object().into_iter().flatten() {
                if settings.get(key).is_none_or(|(have, _)| r < *have) {
                    settings.insert(key.clone(), (r, v.clone()));
                }
            }
            continue;
        }
        if nearest.get(&block).is_none_or(|(have, _)| r < *have) {
            let overridable = overridable.contains(&(kind.clone(), id.clone(), block.clone()));
            let scope = crate::blocks::scope_of(&kind, &id);
            nearest.insert(block, (r, Block { scope, version, value, overridable }));
        }
    }
    let blocks: BTreeMap<String, Block> = nearest.into_iter().map(|(k, (_, b))| (k, b)).collect();
    let settings: BTreeMap<String, serde_json::Value> = settings.into_iter().map(|(k, (_, v))| (k, v)).collect();
    // A site checks chain vouchers with the ticket key: without it, none go.
    let here: Vec<&crate::vouchers::Live> = vouchers
        .iter()
        .filter(|_| ticket_key.is_some())
        .filter(|live| match &live.scope {
            Scope::Brand => true,
            Scope::Region(r) => !r.is_empty() && r == region,
            Scope::Site(s) => s == site,
        })
        .collect();
    let mut bundle = Bundle {
        version: String::new(),
        brand: brand.to_string(),
        site: site.to_string(),
        region: region.to_string(),
        blocks,
        settings,
        ticket_key: ticket_key.map(str::to_string),
        vouchers: here.iter().map(|live| live.signed.clone()).collect(),
        voucher_uses: here.iter().flat_map(|live| live.uses.iter().cloned()).collect(),
    };
    bundle.version = bundle.version_of();
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, id: &str, block: &str, version: i64, value: &str) -> BlockRow {
        (kind.into(), id.into(), block.into(), version, Some(value.into()))
    }

    #[test]
    fn the_nearest_scope_gives_each_block_and_each_setting() {
        let rows = vec![
            row("brand", "", "promotions", 3, r#"[{"id":"b"}]"#),
            row("region", "east", "promotions", 2, r#"[{"id":"r"}]"#),
            row("brand", "", "dishes", 1, "[]"),
            row("brand", "", "settings", 1, r#"{"auth.sms.enabled": false, "session.length_seconds": 3600}"#),
            row("site", "a", "settings", 4, r#"{"auth.sms.enabled": true}"#),
            (String::from("site"), "a".into(), "ad".into(), 5, None),
        ];
        let bundle = compose_bundle("chain", "a", "east", rows.clone(), None, &[], &Default::default());
        assert_eq!(bundle.blocks["promotions"].scope, Scope::Region("east".into()));
        assert_eq!(bundle.blocks["dishes"].scope, Scope::Brand);
        assert!(!bundle.blocks.contains_key("ad"), "a withdrawn block is none");
        assert_eq!(bundle.settings["auth.sms.enabled"], serde_json::json!(true));
        assert_eq!(bundle.settings["session.length_seconds"], serde_json::json!(3600));
        // The same rows in another order make the same bundle (its version is its hash).
        let reversed: Vec<BlockRow> = rows.into_iter().rev().collect();
        assert_eq!(
            compose_bundle("chain", "a", "east", reversed, None, &[], &Default::default()).version,
            bundle.version
        );
    }
}
