//! Connections per peer address, capped: one device (a guest's phone, an
//! AP, or something pretending to be one) cannot fill a listener that
//! everybody shares. The portal, the AP port and DNS over TCP use it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The open connections of every address, and the most one may hold.
#[derive(Clone, Debug)]
pub struct PerAddress {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place under its address's cap; given back on drop.
#[derive(Debug)]
pub struct Slot {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl PerAddress {
    /// At most `max` connections an address (at least one).
    pub fn new(max: usize) -> Self {
        PerAddress { max: max.max(1), open: Arc::default() }
    }

    /// A place for one more connection from `ip`, or None when it holds `max`.
    pub fn take(&self, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap();
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot { open: self.open.clone(), ip })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap();
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_places_back_when_connections_end() {
        let cap = PerAddress::new(2);
        let ip: IpAddr = "192.0.2.5".parse().unwrap();
        let (a, b) = (cap.take(ip).unwrap(), cap.take(ip).unwrap());
        assert!(cap.take(ip).is_none(), "a third is refused");
        assert!(cap.take("192.0.2.6".parse().unwrap()).is_some(), "another address is not affected");
        drop(a);
        assert!(cap.take(ip).is_some(), "room again");
        drop(b);
        assert!(cap.open.lock().unwrap().is_empty(), "nothing is kept for an address with no connection");
    }
}
