//! The controller <-> AP agent protocol: versioned messages, one JSON
//! document per length-delimited frame, over TLS 1.3.
//!
//! Compatibility rules: unknown fields are ignored and unknown message
//! types decode as `Unknown`, so either side can be newer; the protocol
//! version itself is agreed in Hello / Welcome.

pub mod config;
mod frame;
pub mod hex;
pub mod logging;
pub mod trust;

pub use config::{ApConfig, Band, Radio, Roaming, Security, Ssid, SsidError};
pub use frame::{Connection, FrameError, MAX_FRAME};

use serde::{Deserialize, Serialize};

/// The newest protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// The oldest protocol version this build still speaks.
pub const MIN_PROTOCOL_VERSION: u16 = 1;

/// The version both sides speak: the newest in both ranges, if any.
pub fn negotiate(min: u16, max: u16) -> Option<u16> {
    let version = max.min(PROTOCOL_VERSION);
    (version >= min.max(MIN_PROTOCOL_VERSION)).then_some(version)
}

/// What an AP agent says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// First message on every connection.
    Hello(Hello),
    /// Answer to the controller's echo.
    EchoReply {
        /// The echo's number.
        seq: u64,
    },
    /// The agent now runs this config version.
    ConfigApplied {
        /// The version.
        version: u64,
    },
    /// The agent could not apply a config version; it keeps the old one.
    ConfigRejected {
        /// The version.
        version: u64,
        /// Why, for the admin.
        reason: String,
    },
    /// A guest's device associated.
    StationJoined(StationEvent),
    /// A guest's device left.
    StationLeft(StationEvent),
    /// What a radio heard around it.
    NeighbourScan(NeighbourScan),
    /// How a firmware offer ended on the AP (on success it then reboots and
    /// says hello with the new version).
    FirmwareResult {
        /// The offered version.
        version: String,
        /// Installed.
        installed: bool,
        /// Why not, when not.
        #[serde(default)]
        reason: String,
    },
    /// A message type from a newer agent.
    #[serde(other)]
    Unknown,
}

/// What the controller says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControllerMessage {
    /// Answer to Hello.
    Welcome(Welcome),
    /// The controller refuses the connection (no common version, forgotten
    /// device); it closes the connection after this.
    Refused {
        /// Why, for the AP's log.
        reason: String,
    },
    /// The admin adopted the AP: its client certificate from the controller's CA.
    Adopted {
        /// PEM certificate chain for the agent's key.
        certificate_pem: String,
        /// PEM of the controller CA, to pin.
        ca_pem: String,
    },
    /// Are you there? (every 10 s)
    Echo {
        /// Echo number.
        seq: u64,
    },
    /// The configuration to run.
    Config(ApConfig),
    /// A firmware image follows in chunks.
    FirmwareOffer(FirmwareOffer),
    /// Part of the offered image.
    FirmwareChunk {
        /// Where it goes in the image.
        offset: u64,
        /// The bytes, base64.
        data: String,
    },
    /// A message type from a newer controller.
    #[serde(other)]
    Unknown,
}

/// A firmware image on offer. The agent checks the SHA-256 of the bytes and
/// the ed25519 signature of the manifest (version, model, size, SHA-256:
/// see [`trust::firmware_manifest`]) with the key it was configured with,
/// and refuses a version not above the one it runs unless the rollout
/// allows a downgrade.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareOffer {
    /// Version the image installs.
    pub version: String,
    /// The AP model it is built for.
    #[serde(default)]
    pub model: String,
    /// Image size in bytes.
    pub size: u64,
    /// SHA-256 of the image, hex.
    pub sha256: String,
    /// ed25519 signature of the manifest, hex.
    pub signature: String,
    /// The admin allowed this rollout to go to an older version.
    #[serde(default)]
    pub allow_downgrade: bool,
}

/// Bytes of firmware per chunk (well under the frame cap once base64'd).
pub const FIRMWARE_CHUNK: usize = 256 * 1024;

/// Hello: who the AP is and what it can do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Oldest protocol version the agent speaks.
    pub min_version: u16,
    /// Newest protocol version the agent speaks.
    pub max_version: u16,
    /// Stable device id (e.g. from the board's serial).
    pub device_id: String,
    /// Hardware model.
    pub model: String,
    /// Base MAC address.
    pub mac: String,
    /// Running firmware version.
    pub firmware: String,
    /// Radios the AP has.
    #[serde(default)]
    pub radios: Vec<RadioInfo>,
    /// The agent's public key (PEM, SubjectPublicKeyInfo) its certificate will be for.
    pub public_key_pem: String,
    /// The config version it runs now (0: none).
    #[serde(default)]
    pub config_version: u64,
    /// Whether the agent was provisioned with the controller CA's
    /// fingerprint (else it trusted the first controller it met).
    #[serde(default)]
    pub controller_pinned: bool,
}

/// One radio of an AP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RadioInfo {
    /// Interface name, e.g. `wlan0`.
    pub interface: String,
    /// The band it works in.
    pub band: Band,
    /// The radio's BSSID, as its neighbours hear it.
    #[serde(default)]
    pub bssid: Option<String>,
}

/// Welcome: the agreed version and what the controller thinks of the AP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// Agreed protocol version.
    pub version: u16,
    /// Whether an admin has adopted the AP.
    pub adopted: bool,
}

/// A station (guest device) event on one radio.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationEvent {
    /// The radio's interface.
    pub interface: String,
    /// The guest device's MAC.
    pub station: String,
    /// When, UTC ms.
    pub at_ms: i64,
}

/// Neighbouring BSSs one radio heard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighbourScan {
    /// The radio's interface.
    pub interface: String,
    /// What it heard.
    pub neighbours: Vec<Neighbour>,
}

/// One heard BSS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbour {
    /// Its BSSID.
    pub bssid: String,
    /// Its channel.
    pub channel: u16,
    /// Signal strength, dBm.
    pub rssi: i16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_common_version_is_chosen() {
        assert_eq!(negotiate(1, 1), Some(1));
        assert_eq!(negotiate(1, 9), Some(PROTOCOL_VERSION));
        assert_eq!(negotiate(PROTOCOL_VERSION + 1, PROTOCOL_VERSION + 3), None);
    }

    #[test]
    fn unknown_fields_and_message_types_are_tolerated() {
        let newer = r#"{"type":"echo_reply","seq":7,"added_in_v2":"x"}"#;
        assert_eq!(serde_json::from_str::<AgentMessage>(newer).unwrap(), AgentMessage::EchoReply { seq: 7 });
        let unknown = r#"{"type":"spectrum_report","bins":[1,2,3]}"#;
        assert_eq!(serde_json::from_str::<AgentMessage>(unknown).unwrap(), AgentMessage::Unknown);
    }
}
