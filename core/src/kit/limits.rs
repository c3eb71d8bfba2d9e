//! Connections per device, capped: one device (a guest's phone, an AP, or
//! something pretending to be one) cannot fill a listener that everybody
//! shares. The portal, the AP port and DNS over TCP use it.
//!
//! On the guest network a device is its MAC, as the kernel's neighbour
//! table has it for the peer address ([`Device::of`]): twenty addresses on
//! one card are one device. Elsewhere (the uplink, the staff LAN, the APs'
//! network) it is the peer address.

use super::neighbours::Neighbours;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Who a per-device limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    /// A guest, by the MAC behind its address.
    Mac([u8; 6]),
    /// A peer whose MAC is not known (off the guest network, or not yet in
    /// the neighbour table), by its address.
    Address(IpAddr),
}

impl Device {
    /// The device behind `ip`: its MAC when `neighbours` (the guest
    /// network's table) knows it, else the address.
    pub fn of(neighbours: Option<&dyn Neighbours>, ip: IpAddr) -> Device {
        match neighbours.and_then(|n| n.client(ip)) {
            Some(client) => Device::Mac(client.mac.0),
            None => Device::Address(ip),
        }
    }
}

/// The open connections of every device, and the most one may hold.
#[derive(Clone, Debug)]
pub struct PerDevice {
    max: usize,
    open: Arc<Mutex<HashMap<Device, usize>>>,
}

/// One connection's place under its device's cap; given back on drop.
#[derive(Debug)]
pub struct Slot {
    open: Arc<Mutex<HashMap<Device, usize>>>,
    device: Device,
}

impl PerDevice {
    /// At most `max` connections a device (at least one).
    pub fn new(max: usize) -> Self {
        PerDevice { max: max.max(1), open: Arc::default() }
    }

    /// A place for one more connection of `device`, or None when it holds `max`.
    pub fn take(&self, device: Device) -> Option<Slot> {
        let mut open = self.open.lock().unwrap();
        let count = open.entry(device).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot { open: self.open.clone(), device })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap();
        if let Some(count) = open.get_mut(&self.device) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.device);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::neighbours::FixedNeighbours;

    #[test]
    fn a_device_gets_its_places_back_when_connections_end() {
        let cap = PerDevice::new(2);
        let ip: IpAddr = "192.0.2.5".parse().unwrap();
        let (a, b) = (cap.take(Device::Address(ip)).unwrap(), cap.take(Device::Address(ip)).unwrap());
        assert!(cap.take(Device::Address(ip)).is_none(), "a third is refused");
        assert!(cap.take(Device::Address("192.0.2.6".parse().unwrap())).is_some(), "another is not affected");
        drop(a);
        assert!(cap.take(Device::Address(ip)).is_some(), "room again");
        drop(b);
        assert!(cap.open.lock().unwrap().is_empty(), "nothing is kept for a device with no connection");
    }

    #[test]
    fn addresses_on_one_card_are_one_device() {
        let table = FixedNeighbours::default();
        let mac = "02:00:00:00:00:01".parse().unwrap();
        for n in [101, 210, 211] {
            table.insert(std::net::Ipv4Addr::new(192, 0, 2, n), mac);
        }
        let cap = PerDevice::new(2);
        let of = |n: u8| Device::of(Some(&table), IpAddr::from([192, 0, 2, n]));
        let _held = (cap.take(of(101)).unwrap(), cap.take(of(210)).unwrap());
        assert!(cap.take(of(211)).is_none(), "a third address of the same MAC is the same device");
        assert_eq!(of(7), Device::Address(IpAddr::from([192, 0, 2, 7])), "unknown to the table: its address");
        assert!(cap.take(of(7)).is_some());
    }
}
