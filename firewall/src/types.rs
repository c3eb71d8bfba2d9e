use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// A session's bandwidth limits, kbit/s; 0 is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Towards the guest.
    pub down_kbps: u32,
    /// From the guest.
    pub up_kbps: u32,
}

impl Rate {
    /// No limit either way.
    pub const UNLIMITED: Rate = Rate { down_kbps: 0, up_kbps: 0 };

    /// Whether there is no limit either way.
    pub fn is_unlimited(self) -> bool {
        self.down_kbps == 0 && self.up_kbps == 0
    }
}

/// An Ethernet address, as the kernel's neighbour table reports it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

/// A MAC address string that is not six hex octets separated by colons.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a MAC address (expected six hex octets like 02:00:00:00:00:01)")]
pub struct ParseMacError;

impl MacAddr {
    /// The all-zero address the kernel shows for an unresolved neighbour.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl FromStr for MacAddr {
    type Err = ParseMacError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or(ParseMacError)?;
            if part.len() != 2 {
                return Err(ParseMacError);
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ParseMacError)?;
        }
        if parts.next().is_some() {
            return Err(ParseMacError);
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A guest device as the filter sees it: the pair of its MAC and IP address.
/// Another device cloning only one of the two matches nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Client {
    /// From the kernel's neighbour table, never from the guest's word.
    pub mac: MacAddr,
    /// The socket's peer address.
    pub ip: IpAddr,
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} . {}", self.mac, self.ip)
    }
}

/// One authorised client with what the kernel counted for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCounters {
    /// The client.
    pub client: Client,
    /// Packets the client sent through the gateway.
    pub packets: u64,
    /// Bytes the client sent through the gateway.
    pub bytes: u64,
    /// Bytes the gateway forwarded to it (IPv4; its session's download).
    pub bytes_down: u64,
    /// Time left before the kernel drops the element by itself.
    pub expires_in: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trips_and_rejects_garbage() {
        let mac: MacAddr = "02:AB:00:00:00:0f".parse().unwrap();
        assert_eq!(mac.to_string(), "02:ab:00:00:00:0f");
        for bad in ["", "02:ab", "02:ab:00:00:00:0f:11", "zz:ab:00:00:00:0f", "2:ab:00:00:00:0f0"] {
            assert_eq!(bad.parse::<MacAddr>(), Err(ParseMacError), "{bad}");
        }
    }
}
