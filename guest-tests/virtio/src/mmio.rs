//! The driver side of the virtio-mmio transport, version 2 (virtio 1.2 §4.2): register access,
//! the device-status sequence, feature negotiation and queue setup, and finding devices — from
//! the Linux `virtio_mmio.device=<size>@<base>:<irq>` command-line arguments, or by reading
//! `MagicValue` in the slots of the virtio-mmio window (docs/PLATFORM.md §5).
//!
//! Every register access is an MMIO exit (~35 µs under PVM): the drivers touch registers only
//! to set a device up and to notify a queue, and poll used rings in memory.

use crate::Error;
use crate::queue::SplitQueue;

/// "0x74726976 (a Little Endian equivalent of the "virt" string)".
pub const MAGIC_VALUE: u32 = 0x7472_6976;
/// "The device MUST return value 0x2 in Version."
pub const VERSION: u32 = 2;

/// The virtio-mmio window of docs/PLATFORM.md §5: 256 slots of 4 KiB from 0xd0000000.
pub const WINDOW_BASE: u64 = 0xd000_0000;
/// Size of one slot of the window.
pub const SLOT_SIZE: u64 = 0x1000;
/// Number of slots in the window.
pub const WINDOW_SLOTS: u64 = 256;

/// Register offsets (virtio 1.2 §4.2.2, "MMIO Device Register Layout").
pub mod regs {
    /// R: magic value.
    pub const MAGIC_VALUE: u64 = 0x000;
    /// R: version.
    pub const VERSION: u64 = 0x004;
    /// R: device ID.
    pub const DEVICE_ID: u64 = 0x008;
    /// R: vendor ID.
    pub const VENDOR_ID: u64 = 0x00c;
    /// R: device features, 32 bits selected by `DEVICE_FEATURES_SEL`.
    pub const DEVICE_FEATURES: u64 = 0x010;
    /// W: device feature word selection.
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    /// W: driver features, 32 bits selected by `DRIVER_FEATURES_SEL`.
    pub const DRIVER_FEATURES: u64 = 0x020;
    /// W: driver feature word selection.
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    /// W: queue selection.
    pub const QUEUE_SEL: u64 = 0x030;
    /// R: maximum size of the selected queue.
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    /// W: size of the selected queue.
    pub const QUEUE_NUM: u64 = 0x038;
    /// RW: ready bit of the selected queue.
    pub const QUEUE_READY: u64 = 0x044;
    /// W: queue notifier.
    pub const QUEUE_NOTIFY: u64 = 0x050;
    /// R: interrupt status.
    pub const INTERRUPT_STATUS: u64 = 0x060;
    /// W: interrupt acknowledge.
    pub const INTERRUPT_ACK: u64 = 0x064;
    /// RW: device status.
    pub const STATUS: u64 = 0x070;
    /// W: descriptor area, low 32 bits.
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    /// W: descriptor area, high 32 bits.
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    /// W: driver (available) area, low 32 bits.
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    /// W: driver area, high 32 bits.
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    /// W: device (used) area, low 32 bits.
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    /// W: device area, high 32 bits.
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    /// R: configuration atomicity value.
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    /// Start of the device configuration space.
    pub const CONFIG: u64 = 0x100;
}

/// Device status bits (virtio 1.2 §2.1).
pub mod status {
    /// The guest has found the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest knows how to drive it.
    pub const DRIVER: u32 = 2;
    /// The driver is ready.
    pub const DRIVER_OK: u32 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u32 = 8;
    /// The device needs a reset.
    pub const DEVICE_NEEDS_RESET: u32 = 64;
    /// The driver gave up.
    pub const FAILED: u32 = 128;
}

/// Feature bits of the virtio core (virtio 1.2 §6), as masks.
pub mod features {
    /// `VIRTIO_F_INDIRECT_DESC` (28).
    pub const INDIRECT_DESC: u64 = 1 << 28;
    /// `VIRTIO_F_VERSION_1` (32).
    pub const VERSION_1: u64 = 1 << 32;
    /// `VIRTIO_F_ACCESS_PLATFORM` (33): the device's DMA goes through the platform IOMMU.
    pub const ACCESS_PLATFORM: u64 = 1 << 33;
}

/// Virtio device IDs.
pub mod device_id {
    /// Block device.
    pub const BLOCK: u32 = 2;
    /// Entropy source.
    pub const RNG: u32 = 4;
    /// IOMMU.
    pub const IOMMU: u32 = 23;
    /// The project's DMA test device (docs/PLATFORM.md "DMA test device").
    pub const DMA_TEST: u32 = 0xFFF1;

    /// A short name for reports.
    pub fn name(id: u32) -> &'static str {
        match id {
            BLOCK => "virtio-blk",
            RNG => "virtio-rng",
            IOMMU => "virtio-iommu",
            DMA_TEST => "dma-test",
            _ => "unknown",
        }
    }
}

/// Where a virtio-mmio device is: MMIO base and size, interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioSlot {
    /// MMIO base address.
    pub base: u64,
    /// Size of its register window.
    pub size: u64,
    /// Its interrupt (GSI); 0 when found by scanning the window.
    pub irq: u32,
}

/// Linux's `memparse`: a number (`0x` hex, `0` octal, else decimal) with an optional K/M/G/T
/// suffix.
fn memparse(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        b't' | b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    parse_number(digits)?.checked_mul(1u64 << shift)
}

/// `simple_strtoull(s, NULL, 0)` over the whole string.
fn parse_number(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

/// Parses one `<size>@<base>:<irq>[:<id>]` value (Linux `vm_cmdline_set`).
pub fn parse_device_arg(value: &str) -> Option<MmioSlot> {
    let (size, rest) = value.split_once('@')?;
    let (base, rest) = rest.split_once(':')?;
    let irq = rest.split(':').next()?;
    Some(MmioSlot {
        size: memparse(size)?,
        base: parse_number(base)?,
        irq: u32::try_from(parse_number(irq)?).ok()?,
    })
}

/// The devices named by `virtio_mmio.device=` arguments on the command line, in order.
pub fn cmdline_devices(cmdline: &str) -> impl Iterator<Item = MmioSlot> + '_ {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|t| t.strip_prefix("virtio_mmio.device="))
        .filter_map(parse_device_arg)
}

/// A virtio-mmio device's register window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioDevice {
    base: u64,
}

impl MmioDevice {
    /// The device at `base` (identity-mapped MMIO). The caller vouches that `base` is a
    /// virtio-mmio register window (e.g. it read [`MAGIC_VALUE`] there, see [`probe`]).
    pub const fn new(base: u64) -> Self {
        MmioDevice { base }
    }

    /// The MMIO base address.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Reads the 32-bit register at `offset`.
    pub fn read(&self, offset: u64) -> u32 {
        // SAFETY: a register of this device's window (see `new`), identity-mapped uncached and
        // user-accessible by the runtime; a read has no effect on memory.
        unsafe { ((self.base + offset) as *const u32).read_volatile() }
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write(&self, offset: u64, value: u32) {
        // SAFETY: as for `read`; the device decides what the write does, never to our memory
        // except through DMA into buffers the driver handed it.
        unsafe { ((self.base + offset) as *mut u32).write_volatile(value) };
    }

    /// `DeviceID`.
    pub fn device_id(&self) -> u32 {
        self.read(regs::DEVICE_ID)
    }

    /// `VendorID`.
    pub fn vendor_id(&self) -> u32 {
        self.read(regs::VENDOR_ID)
    }

    /// `Status`.
    pub fn status(&self) -> u32 {
        self.read(regs::STATUS)
    }

    /// Writes `Status`.
    pub fn set_status(&self, value: u32) {
        self.write(regs::STATUS, value);
    }

    /// "Writing zero (0x0) to this register triggers a device reset." Waits until the device
    /// reads back 0 ("The driver [...] should read back the Status register until it returns
    /// zero").
    pub fn reset(&self) -> Result<(), Error> {
        self.set_status(0);
        for _ in 0..1000 {
            if self.status() == 0 {
                return Ok(());
            }
        }
        Err(Error::Timeout)
    }

    /// The 64 feature bits the device offers.
    pub fn device_features(&self) -> u64 {
        self.write(regs::DEVICE_FEATURES_SEL, 0);
        let low = self.read(regs::DEVICE_FEATURES);
        self.write(regs::DEVICE_FEATURES_SEL, 1);
        let high = self.read(regs::DEVICE_FEATURES);
        (u64::from(high) << 32) | u64::from(low)
    }

    fn write_driver_features(&self, accepted: u64) {
        self.write(regs::DRIVER_FEATURES_SEL, 0);
        self.write(regs::DRIVER_FEATURES, accepted as u32);
        self.write(regs::DRIVER_FEATURES_SEL, 1);
        self.write(regs::DRIVER_FEATURES, (accepted >> 32) as u32);
    }

    /// Steps 1–6 of virtio 1.2 §3.1.1 with exactly the features `accepted` (even ones the device
    /// did not offer, for negative tests): reset, ACKNOWLEDGE, DRIVER, write the features, set
    /// FEATURES_OK and re-read it. On refusal the device is left with FEATURES_OK clear (the
    /// driver has not set FAILED, so a test can try again after a reset).
    pub fn negotiate_exact(&self, accepted: u64) -> Result<(), Error> {
        self.reset()?;
        self.set_status(status::ACKNOWLEDGE);
        self.set_status(status::ACKNOWLEDGE | status::DRIVER);
        self.write_driver_features(accepted);
        self.set_status(status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
        // "Re-read device status to ensure the FEATURES_OK bit is still set: otherwise, the
        // device does not support our subset of features and the device is unusable."
        if self.status() & status::FEATURES_OK == 0 {
            return Err(Error::FeaturesRefused(accepted));
        }
        Ok(())
    }

    /// Checks identification, then negotiates `offered & wanted` (VERSION_1 required). Returns
    /// the negotiated features; next come [`MmioDevice::setup_queue`] and
    /// [`MmioDevice::driver_ok`].
    pub fn negotiate(&self, wanted: u64) -> Result<u64, Error> {
        let magic = self.read(regs::MAGIC_VALUE);
        if magic != MAGIC_VALUE {
            return Err(Error::BadMagic(magic));
        }
        let version = self.read(regs::VERSION);
        if version != VERSION {
            return Err(Error::BadVersion(version));
        }
        self.reset()?;
        let offered = self.device_features();
        if offered & features::VERSION_1 == 0 {
            return Err(Error::NoVersion1);
        }
        let accepted = offered & (wanted | features::VERSION_1);
        self.negotiate_exact(accepted)?;
        Ok(accepted)
    }

    /// Tells the device where `queue`'s areas are and enables it (virtio 1.2 §4.2.3.2).
    pub fn setup_queue(&self, queue: &SplitQueue) -> Result<(), Error> {
        let index = queue.index();
        self.write(regs::QUEUE_SEL, u32::from(index));
        // "Read maximum queue size (number of elements) from QueueNumMax. If the returned value
        // is zero (0x0) the queue is not available."
        let max = self.read(regs::QUEUE_NUM_MAX);
        if max == 0 {
            return Err(Error::NoQueue(index));
        }
        if u32::from(queue.size()) > max {
            return Err(Error::QueueSize(queue.size(), max));
        }
        self.write(regs::QUEUE_NUM, u32::from(queue.size()));
        let [desc, driver, device] = [queue.desc_addr(), queue.avail_addr(), queue.used_addr()];
        self.write(regs::QUEUE_DESC_LOW, desc as u32);
        self.write(regs::QUEUE_DESC_HIGH, (desc >> 32) as u32);
        self.write(regs::QUEUE_DRIVER_LOW, driver as u32);
        self.write(regs::QUEUE_DRIVER_HIGH, (driver >> 32) as u32);
        self.write(regs::QUEUE_DEVICE_LOW, device as u32);
        self.write(regs::QUEUE_DEVICE_HIGH, (device >> 32) as u32);
        self.write(regs::QUEUE_READY, 1);
        Ok(())
    }

    /// `QueueNumMax` of queue `index` (0: no such queue).
    pub fn queue_num_max(&self, index: u16) -> u32 {
        self.write(regs::QUEUE_SEL, u32::from(index));
        self.read(regs::QUEUE_NUM_MAX)
    }

    /// Sets DRIVER_OK and checks that the device took it without asking for a reset.
    pub fn driver_ok(&self) -> Result<(), Error> {
        self.set_status(
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK,
        );
        let s = self.status();
        if s & status::DEVICE_NEEDS_RESET != 0 {
            return Err(Error::NeedsReset(s));
        }
        if s & status::DRIVER_OK == 0 {
            return Err(Error::NotLive(s));
        }
        Ok(())
    }

    /// Notifies the device that queue `index` has new buffers.
    pub fn notify(&self, index: u16) {
        self.write(regs::QUEUE_NOTIFY, u32::from(index));
    }

    /// `ConfigGeneration`.
    pub fn config_generation(&self) -> u32 {
        self.read(regs::CONFIG_GENERATION)
    }

    /// The configuration byte at `offset`.
    pub fn config_u8(&self, offset: u64) -> u8 {
        // SAFETY: the configuration space of this device's window; "accessed with byte
        // alignment".
        unsafe { ((self.base + regs::CONFIG + offset) as *const u8).read_volatile() }
    }

    /// Writes the configuration byte at `offset`.
    pub fn set_config_u8(&self, offset: u64, value: u8) {
        // SAFETY: as for `config_u8`.
        unsafe { ((self.base + regs::CONFIG + offset) as *mut u8).write_volatile(value) };
    }

    /// The 32-bit configuration field at `offset` (4-byte aligned), one access.
    pub fn config_u32(&self, offset: u64) -> u32 {
        // SAFETY: as for `config_u8`.
        unsafe { ((self.base + regs::CONFIG + offset) as *const u32).read_volatile() }
    }

    /// Reads `out.len()` configuration bytes from `offset` in 32-bit accesses, retrying until
    /// `ConfigGeneration` is the same before and after (virtio 1.2 §2.5.1: "Drivers MUST NOT
    /// assume reads from fields greater than 32 bits wide are atomic").
    pub fn read_config(&self, offset: u64, out: &mut [u8]) {
        loop {
            let before = self.config_generation();
            let mut at = 0;
            while at < out.len() {
                let word = self.config_u32(offset + at as u64).to_le_bytes();
                let n = (out.len() - at).min(4);
                out[at..at + n].copy_from_slice(&word[..n]);
                at += 4;
            }
            if self.config_generation() == before {
                return;
            }
        }
    }
}

/// What [`probe`] found at one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probed {
    /// Where.
    pub slot: MmioSlot,
    /// Its `DeviceID` (0 means "no device behind this transport").
    pub device_id: u32,
    /// Its `VendorID`.
    pub vendor_id: u32,
    /// Its `Version`.
    pub version: u32,
}

/// Reads `MagicValue`, `Version`, `DeviceID` and `VendorID` at `slot.base`; `None` without the
/// magic value.
pub fn probe(slot: MmioSlot) -> Option<Probed> {
    let dev = MmioDevice::new(slot.base);
    if dev.read(regs::MAGIC_VALUE) != MAGIC_VALUE {
        return None;
    }
    Some(Probed {
        slot,
        version: dev.read(regs::VERSION),
        device_id: dev.device_id(),
        vendor_id: dev.vendor_id(),
    })
}

/// Scans the virtio-mmio window from slot 0 and stops at the first slot without a device (the
/// VMM fills slots in order): one MMIO exit per slot, plus three per device.
pub fn scan_window(mut found: impl FnMut(Probed)) {
    for n in 0..WINDOW_SLOTS {
        let slot = MmioSlot {
            base: WINDOW_BASE + n * SLOT_SIZE,
            size: SLOT_SIZE,
            irq: 0,
        };
        match probe(slot) {
            Some(p) => found(p),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_args_parse_like_linux() {
        assert_eq!(
            parse_device_arg("4K@0xd0000000:5"),
            Some(MmioSlot {
                size: 4096,
                base: 0xd000_0000,
                irq: 5
            })
        );
        assert_eq!(
            parse_device_arg("0x200@0xd0001000:6:3"),
            Some(MmioSlot {
                size: 0x200,
                base: 0xd000_1000,
                irq: 6
            })
        );
        assert_eq!(parse_device_arg("4K@0xd0000000"), None);
        assert_eq!(parse_device_arg("4Q@0xd0000000:5"), None);
        assert_eq!(parse_device_arg("@0xd0000000:5"), None);
    }

    #[test]
    fn cmdline_devices_are_found_among_other_tokens() {
        let cmdline = "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 quiet \
                       virtio_mmio.device=4K@0xd0001000:6 virtio_mmio.device=bad";
        let found: Vec<u64> = cmdline_devices(cmdline).map(|s| s.base).collect();
        assert_eq!(found, vec![0xd000_0000, 0xd000_1000]);
    }

    #[test]
    fn memparse_handles_suffixes_and_bases() {
        assert_eq!(memparse("1M"), Some(1 << 20));
        assert_eq!(memparse("010"), Some(8));
        assert_eq!(memparse("10"), Some(10));
        assert_eq!(memparse("0x10k"), Some(16 << 10));
        assert_eq!(memparse(""), None);
    }
}
