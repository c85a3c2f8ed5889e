//! The address-range bus that vCPU exits are dispatched through.
//!
//! A VM has two buses: one for port I/O (16-bit port numbers) and one for MMIO (guest-physical
//! addresses). A device claims a half-open range `[base, base + len)` on a bus; a vCPU exit for
//! an address inside that range is handed to the device with the offset from `base`.
//!
//! Devices take `&self`: every device guards its own state, so vCPU threads that hit different
//! devices never contend on a bus-wide lock. The bus itself only takes a read lock to find the
//! device and clones its `Arc` before calling it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;

/// A device that answers guest accesses to a range on a [`Bus`].
///
/// `offset` is relative to the start of the range the device was inserted at; the access never
/// crosses the end of that range (the bus checks this). `data.len()` is the access width in
/// bytes (1, 2, 4 or 8 for MMIO; 1, 2 or 4 for port I/O, times the repeat count of a string
/// instruction). Implementations must not panic on any offset or width: guests are hostile.
pub trait BusDevice: Send + Sync {
    /// A guest read: fill `data` with the value at `offset`.
    fn read(&self, offset: u64, data: &mut [u8]);
    /// A guest write of `data` at `offset`.
    fn write(&self, offset: u64, data: &[u8]);
}

/// A half-open address range `[base, base + len)` on a bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusRange {
    /// First address of the range.
    pub base: u64,
    /// Length in bytes; never zero.
    pub len: u64,
}

impl BusRange {
    /// The last address inside the range.
    pub fn last(&self) -> u64 {
        // `Bus::insert` guarantees `len >= 1` and no overflow.
        self.base + (self.len - 1)
    }

    /// Whether `[addr, addr + size)` lies entirely inside the range.
    pub fn contains_access(&self, addr: u64, size: u64) -> bool {
        if addr < self.base || size == 0 {
            return false;
        }
        let offset = addr - self.base;
        offset < self.len && size <= self.len - offset
    }
}

/// Why a range could not be inserted on a bus.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    /// The range has no bytes.
    #[error("zero-length bus range at {base:#x}")]
    ZeroLength {
        /// Base of the rejected range.
        base: u64,
    },
    /// `base + len` does not fit in 64 bits.
    #[error("bus range at {base:#x} with length {len:#x} overflows the address space")]
    Overflow {
        /// Base of the rejected range.
        base: u64,
        /// Length of the rejected range.
        len: u64,
    },
    /// The range overlaps one that is already taken.
    #[error("bus range {new:x?} overlaps {existing:x?}")]
    Overlap {
        /// The rejected range.
        new: BusRange,
        /// The range already on the bus.
        existing: BusRange,
    },
}

/// A device and the range it occupies.
type Entry = (BusRange, Arc<dyn BusDevice>);

/// An address-range bus: ranges mapped to devices.
#[derive(Default)]
pub struct Bus {
    /// Keyed by range base.
    devices: RwLock<BTreeMap<u64, Entry>>,
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges: Vec<BusRange> = self.devices.read().values().map(|(r, _)| *r).collect();
        f.debug_struct("Bus").field("ranges", &ranges).finish()
    }
}

impl Bus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Claims `[base, base + len)` for `device`.
    pub fn insert(&self, base: u64, len: u64, device: Arc<dyn BusDevice>) -> Result<(), BusError> {
        if len == 0 {
            return Err(BusError::ZeroLength { base });
        }
        if base.checked_add(len - 1).is_none() {
            return Err(BusError::Overflow { base, len });
        }
        let new = BusRange { base, len };
        let mut devices = self.devices.write();
        // The only candidates for overlap are the nearest range starting at or below the new
        // range's last byte.
        if let Some((_, (existing, _))) = devices.range(..=new.last()).next_back()
            && existing.last() >= new.base
        {
            return Err(BusError::Overlap {
                new,
                existing: *existing,
            });
        }
        devices.insert(base, (new, device));
        Ok(())
    }

    /// Removes the device whose range starts at `base`.
    pub fn remove(&self, base: u64) -> Option<Arc<dyn BusDevice>> {
        self.devices.write().remove(&base).map(|(_, d)| d)
    }

    /// The range and device that cover all of `[addr, addr + size)`, if one does.
    pub fn resolve(&self, addr: u64, size: u64) -> Option<(BusRange, Arc<dyn BusDevice>)> {
        let devices = self.devices.read();
        let (_, (range, device)) = devices.range(..=addr).next_back()?;
        range
            .contains_access(addr, size)
            .then(|| (*range, Arc::clone(device)))
    }

    /// Dispatches a guest read. Returns `false`, leaving `data` untouched, when no device covers
    /// the whole access.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        match self.resolve(addr, data.len() as u64) {
            Some((range, device)) => {
                device.read(addr - range.base, data);
                true
            }
            None => false,
        }
    }

    /// Dispatches a guest write. Returns `false` when no device covers the whole access.
    pub fn write(&self, addr: u64, data: &[u8]) -> bool {
        match self.resolve(addr, data.len() as u64) {
            Some((range, device)) => {
                device.write(addr - range.base, data);
                true
            }
            None => false,
        }
    }

    /// The ranges on the bus, in address order.
    pub fn ranges(&self) -> Vec<BusRange> {
        self.devices.read().values().map(|(r, _)| *r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    /// Records every access it gets.
    #[derive(Default)]
    struct Recorder {
        reads: Mutex<Vec<(u64, usize)>>,
        writes: Mutex<Vec<(u64, Vec<u8>)>>,
    }

    impl BusDevice for Recorder {
        fn read(&self, offset: u64, data: &mut [u8]) {
            self.reads.lock().push((offset, data.len()));
            data.fill(0xab);
        }
        fn write(&self, offset: u64, data: &[u8]) {
            self.writes.lock().push((offset, data.to_vec()));
        }
    }

    #[test]
    fn access_inside_a_range_reaches_the_device_with_its_offset() {
        let bus = Bus::new();
        let dev = Arc::new(Recorder::default());
        bus.insert(0x3f8, 8, dev.clone()).unwrap();

        let mut data = [0u8; 1];
        assert!(bus.read(0x3fd, &mut data));
        assert!(bus.write(0x3f8, &[0x41]));

        assert_eq!(data, [0xab]);
        assert_eq!(*dev.reads.lock(), vec![(5, 1)]);
        assert_eq!(*dev.writes.lock(), vec![(0, vec![0x41])]);
    }

    #[test]
    fn access_outside_every_range_is_not_handled() {
        let bus = Bus::new();
        bus.insert(0x3f8, 8, Arc::new(Recorder::default())).unwrap();

        let mut data = [0x11u8; 1];
        assert!(!bus.read(0x3f7, &mut data));
        assert!(!bus.write(0x400, &[0]));
        assert_eq!(data, [0x11]);
    }

    #[test]
    fn access_straddling_the_end_of_a_range_is_not_handled() {
        let bus = Bus::new();
        let dev = Arc::new(Recorder::default());
        bus.insert(0xf4, 4, dev.clone()).unwrap();

        assert!(!bus.write(0xf6, &[1, 2, 3, 4]));
        assert!(bus.write(0xf4, &[1, 2, 3, 4]));
        assert_eq!(dev.writes.lock().len(), 1);
    }

    #[test]
    fn overlapping_ranges_are_rejected() {
        let bus = Bus::new();
        bus.insert(0x1000, 0x1000, Arc::new(Recorder::default()))
            .unwrap();

        let below = bus.insert(0x800, 0x801, Arc::new(Recorder::default()));
        let inside = bus.insert(0x1800, 0x10, Arc::new(Recorder::default()));
        let adjacent_below = bus.insert(0x800, 0x800, Arc::new(Recorder::default()));
        let adjacent_above = bus.insert(0x2000, 0x10, Arc::new(Recorder::default()));

        assert!(matches!(below, Err(BusError::Overlap { .. })));
        assert!(matches!(inside, Err(BusError::Overlap { .. })));
        assert_eq!(adjacent_below, Ok(()));
        assert_eq!(adjacent_above, Ok(()));
    }

    #[test]
    fn zero_length_and_overflowing_ranges_are_rejected() {
        let bus = Bus::new();
        assert_eq!(
            bus.insert(0x10, 0, Arc::new(Recorder::default())),
            Err(BusError::ZeroLength { base: 0x10 })
        );
        assert!(matches!(
            bus.insert(u64::MAX, 2, Arc::new(Recorder::default())),
            Err(BusError::Overflow { .. })
        ));
        assert_eq!(
            bus.insert(u64::MAX, 1, Arc::new(Recorder::default())),
            Ok(())
        );
    }

    #[test]
    fn removed_device_no_longer_receives_accesses() {
        let bus = Bus::new();
        bus.insert(0x60, 5, Arc::new(Recorder::default())).unwrap();

        assert!(bus.remove(0x60).is_some());

        assert!(!bus.write(0x64, &[0xfe]));
        assert!(bus.ranges().is_empty());
    }
}
