//! Finding the virtio-mmio devices and their endpoint IDs: the `virtio_mmio.device=` arguments of
//! the command line (or, without any, a scan of the virtio-mmio window), and the ACPI VIOT.

use crate::mmio::{self, MmioDevice, MmioSlot, Probed};
use crate::viot::Viot;

/// Most devices kept.
pub const MAX_DEVICES: usize = 32;

/// How the devices were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `virtio_mmio.device=` arguments.
    Cmdline,
    /// Reading `MagicValue` slot by slot in the virtio-mmio window.
    WindowScan,
}

/// The virtio devices of the VM.
#[derive(Debug, Clone, Copy)]
pub struct Platform {
    devices: [Option<Probed>; MAX_DEVICES],
    /// Where they came from.
    pub source: Source,
    /// `virtio_mmio.device=` arguments without a virtio device behind them.
    pub missing: usize,
    /// The VIOT, if the ACPI tables have one.
    pub viot: Option<Viot>,
}

impl Platform {
    /// Finds the devices: from the command line when it names any, else by scanning the window.
    pub fn discover(cmdline: &str, viot: Option<Viot>) -> Self {
        let mut p = Platform {
            devices: [None; MAX_DEVICES],
            source: Source::Cmdline,
            missing: 0,
            viot,
        };
        let mut n = 0;
        for slot in mmio::cmdline_devices(cmdline) {
            match mmio::probe(slot) {
                Some(found) if n < MAX_DEVICES => {
                    p.devices[n] = Some(found);
                    n += 1;
                }
                Some(_) => {}
                None => p.missing += 1,
            }
        }
        if n == 0 && p.missing == 0 {
            p.source = Source::WindowScan;
            mmio::scan_window(|found| {
                if n < MAX_DEVICES {
                    p.devices[n] = Some(found);
                    n += 1;
                }
            });
        }
        p
    }

    /// Every device found, in order.
    pub fn devices(&self) -> impl Iterator<Item = Probed> + '_ {
        self.devices.iter().flatten().copied()
    }

    /// The `n`-th device (from 0) with `device_id`.
    pub fn find_nth(&self, device_id: u32, n: usize) -> Option<Probed> {
        self.devices().filter(|d| d.device_id == device_id).nth(n)
    }

    /// The first device with `device_id`.
    pub fn find(&self, device_id: u32) -> Option<Probed> {
        self.find_nth(device_id, 0)
    }

    /// The first device with `device_id`, as a driver handle.
    pub fn device(&self, device_id: u32) -> Option<MmioDevice> {
        self.find(device_id).map(|d| MmioDevice::new(d.slot.base))
    }

    /// The endpoint ID the VIOT gives the device at `base`.
    pub fn endpoint_of(&self, slot: MmioSlot) -> Option<u32> {
        self.viot?.endpoint_at(slot.base).map(|e| e.endpoint)
    }
}
