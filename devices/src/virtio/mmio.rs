//! The virtio-mmio transport, version 2 (modern only): virtio 1.2 §4.2.
//!
//! [`MmioTransport`] is a [`BusDevice`] of [`MMIO_WINDOW_SIZE`] bytes: control registers at
//! 0x000–0x0ff, the device configuration space from 0x100. It decodes every register of the
//! "MMIO Device Register Layout" table, runs the device-status state machine, negotiates
//! features, keeps the queue configuration, and activates the [`VirtioDevice`] on DRIVER_OK.
//!
//! For the VMM:
//! - put it on the MMIO bus at `base` with length [`MMIO_WINDOW_SIZE`];
//! - register each [`MmioTransport::queue_events`]`()[i]` as an ioeventfd at
//!   `base + QUEUE_NOTIFY_OFFSET` (4 bytes) with datamatch `i`, and add the `Arc<MmioTransport>`
//!   as an `event_manager` subscriber (see [`crate::virtio::event_handler`]), which processes the
//!   queue when the eventfd fires. Without ioeventfds a QueueNotify write reaching the transport
//!   signals the same eventfd;
//! - pass an [`IrqLine`] (an `EventFd` registered as irqfd for the device's GSI).
//!
//! Guest accesses are hostile: wrong widths, unaligned offsets, reads of write-only registers,
//! writes to read-only ones and out-of-order status writes are ignored (reads return zero) and
//! counted; nothing panics.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use log::{debug, warn};
use parking_lot::Mutex;
use virtio_queue::{Queue, QueueT};
use vm_memory::GuestAddress;
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use super::features::{self, bit};
use super::{ActivateContext, GuestRam, Interrupt, IrqLine, VirtioDevice, status};
use crate::bus::BusDevice;

/// Size of a virtio-mmio device's MMIO window.
pub const MMIO_WINDOW_SIZE: u64 = 0x200;
/// Offset of QueueNotify, where the VMM registers the queues' ioeventfds.
pub const QUEUE_NOTIFY_OFFSET: u64 = 0x50;
/// "0x74726976 (a Little Endian equivalent of the "virt" string)".
pub const MMIO_MAGIC_VALUE: u32 = 0x7472_6976;
/// "The device MUST return value 0x2 in Version."
pub const MMIO_VERSION: u32 = 2;
/// Our virtio subsystem vendor ID ("RVMM").
pub const VENDOR_ID: u32 = 0x4D4D_5652;

/// `InterruptStatus` bit 0: "the device has used a buffer in at least one of the active virtual
/// queues".
pub const INT_USED_RING: u32 = 1;
/// `InterruptStatus` bit 1: "the configuration of the device has changed".
pub const INT_CONFIG: u32 = 2;

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
    /// R: 32 device feature bits selected by `DEVICE_FEATURES_SEL`.
    pub const DEVICE_FEATURES: u64 = 0x010;
    /// W: device feature word selection.
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    /// W: 32 driver feature bits selected by `DRIVER_FEATURES_SEL`.
    pub const DRIVER_FEATURES: u64 = 0x020;
    /// W: driver feature word selection.
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    /// W: queue selection.
    pub const QUEUE_SEL: u64 = 0x030;
    /// R: maximum size of the selected queue (0: not available).
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
    /// W: driver area, low 32 bits.
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    /// W: driver area, high 32 bits.
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    /// W: device area, low 32 bits.
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    /// W: device area, high 32 bits.
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    /// W: shared memory region selection.
    pub const SHM_SEL: u64 = 0x0ac;
    /// R: shared memory length, low.
    pub const SHM_LEN_LOW: u64 = 0x0b0;
    /// R: shared memory length, high.
    pub const SHM_LEN_HIGH: u64 = 0x0b4;
    /// R: shared memory base, low.
    pub const SHM_BASE_LOW: u64 = 0x0b8;
    /// R: shared memory base, high.
    pub const SHM_BASE_HIGH: u64 = 0x0bc;
    /// RW: queue reset (only with `VIRTIO_F_RING_RESET`, never offered here).
    pub const QUEUE_RESET: u64 = 0x0c0;
    /// R: configuration atomicity value.
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    /// Start of the device configuration space.
    pub const CONFIG: u64 = 0x100;
}

/// The transport's [`Interrupt`]: sets `InterruptStatus` bits, then pulses the IRQ line. Lock
/// free, so any thread may signal while another holds the transport.
struct MmioInterrupt {
    status: Arc<AtomicU32>,
    config_generation: Arc<AtomicU32>,
    irq: Arc<dyn IrqLine>,
    trigger_errors: AtomicU64,
}

impl MmioInterrupt {
    fn raise(&self, bit: u32) {
        // "The device MUST present each event by setting the corresponding bit in
        // InterruptStatus from the moment it takes place, until the driver acknowledges the
        // interrupt by writing a corresponding bit mask to the InterruptACK register."
        self.status.fetch_or(bit, Ordering::SeqCst);
        if let Err(e) = self.irq.trigger() {
            self.trigger_errors.fetch_add(1, Ordering::Relaxed);
            warn!("virtio-mmio: cannot raise the interrupt: {e}");
        }
    }
}

impl Interrupt for MmioInterrupt {
    fn signal_used_queue(&self, _queue_index: u16) {
        self.raise(INT_USED_RING);
    }

    fn signal_config(&self) {
        // "The device MUST change value returned in ConfigGeneration if there is any risk of a
        // driver seeing an inconsistent configuration state."
        self.config_generation.fetch_add(1, Ordering::SeqCst);
        self.raise(INT_CONFIG);
    }
}

/// The driver-written configuration of one queue.
#[derive(Clone, Copy, Debug)]
struct QueueRegs {
    max_size: u16,
    size: u32,
    ready: bool,
    desc: u64,
    driver: u64,
    device: u64,
}

impl QueueRegs {
    fn new(max_size: u16) -> Self {
        QueueRegs {
            max_size,
            size: u32::from(max_size),
            ready: false,
            desc: 0,
            driver: 0,
            device: 0,
        }
    }

    /// The virtio-queue `Queue` this configuration describes.
    fn build(&self) -> Result<Queue, virtio_queue::Error> {
        let mut q = Queue::new(self.max_size)?;
        if self.ready {
            let size = u16::try_from(self.size).map_err(|_| virtio_queue::Error::InvalidSize)?;
            q.try_set_size(size)?;
            q.try_set_desc_table_address(GuestAddress(self.desc))?;
            q.try_set_avail_ring_address(GuestAddress(self.driver))?;
            q.try_set_used_ring_address(GuestAddress(self.device))?;
            q.set_ready(true);
        }
        Ok(q)
    }
}

fn set_low(v: &mut u64, low: u32) {
    *v = (*v & !0xffff_ffff) | u64::from(low);
}

fn set_high(v: &mut u64, high: u32) {
    *v = (*v & 0xffff_ffff) | (u64::from(high) << 32);
}

struct TransportState {
    device: Box<dyn VirtioDevice>,
    status: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    queues: Vec<QueueRegs>,
}

impl TransportState {
    fn has(&self, bits: u32) -> bool {
        self.status & bits == bits
    }

    /// Queue registers may be written after FEATURES_OK and before DRIVER_OK, while the queue is
    /// not ready ("When QueueReady is not zero, the driver MUST NOT access QueueNum,
    /// QueueDescLow, ...").
    fn selected_queue_writable(&mut self) -> Option<&mut QueueRegs> {
        if !self.has(status::FEATURES_OK) || self.has(status::DRIVER_OK) {
            return None;
        }
        let sel = usize::try_from(self.queue_sel).ok()?;
        self.queues.get_mut(sel).filter(|q| !q.ready)
    }

    fn selected_queue(&self) -> Option<&QueueRegs> {
        usize::try_from(self.queue_sel)
            .ok()
            .and_then(|sel| self.queues.get(sel))
    }
}

/// A virtio device behind a virtio-mmio register window.
pub struct MmioTransport {
    state: Mutex<TransportState>,
    mem: GuestRam,
    interrupt: Arc<MmioInterrupt>,
    interrupt_status: Arc<AtomicU32>,
    config_generation: Arc<AtomicU32>,
    queue_evts: Vec<EventFd>,
    bad_accesses: AtomicU64,
}

impl fmt::Debug for MmioTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("MmioTransport")
            .field("device_type", &state.device.device_type())
            .field("status", &state.status)
            .field("queues", &state.queues)
            .finish_non_exhaustive()
    }
}

impl MmioTransport {
    /// A transport for `device`, whose queues live in `mem` and whose interrupt is `irq`.
    pub fn new(
        device: Box<dyn VirtioDevice>,
        mem: GuestRam,
        irq: Arc<dyn IrqLine>,
    ) -> io::Result<Self> {
        let queues: Vec<QueueRegs> = device
            .queue_max_sizes()
            .iter()
            .map(|&max| QueueRegs::new(max))
            .collect();
        let queue_evts = queues
            .iter()
            .map(|_| EventFd::new(EFD_NONBLOCK))
            .collect::<io::Result<Vec<_>>>()?;
        let interrupt_status = Arc::new(AtomicU32::new(0));
        let config_generation = Arc::new(AtomicU32::new(0));
        Ok(MmioTransport {
            state: Mutex::new(TransportState {
                device,
                status: 0,
                device_features_sel: 0,
                driver_features_sel: 0,
                driver_features: 0,
                queue_sel: 0,
                queues,
            }),
            mem,
            interrupt: Arc::new(MmioInterrupt {
                status: Arc::clone(&interrupt_status),
                config_generation: Arc::clone(&config_generation),
                irq,
                trigger_errors: AtomicU64::new(0),
            }),
            interrupt_status,
            config_generation,
            queue_evts,
            bad_accesses: AtomicU64::new(0),
        })
    }

    /// One eventfd per queue: register `queue_events()[i]` as an ioeventfd at
    /// `base + QUEUE_NOTIFY_OFFSET` with datamatch `i` (4-byte access).
    pub fn queue_events(&self) -> &[EventFd] {
        &self.queue_evts
    }

    /// The virtio device ID of the device behind the transport.
    pub fn device_type(&self) -> u32 {
        self.state.lock().device.device_type()
    }

    /// The endpoint ID of the device if it is behind the IOMMU.
    pub fn endpoint(&self) -> Option<::iommu::EndpointId> {
        self.state.lock().device.endpoint()
    }

    /// The device status register.
    pub fn status(&self) -> u32 {
        self.state.lock().status
    }

    /// The `InterruptStatus` register.
    pub fn interrupt_status(&self) -> u32 {
        self.interrupt_status.load(Ordering::SeqCst)
    }

    /// Guest accesses that were ignored (bad width or offset, wrong direction, out-of-order).
    pub fn bad_accesses(&self) -> u64 {
        self.bad_accesses.load(Ordering::Relaxed)
    }

    /// The device's counters plus the transport's.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut v = self.state.lock().device.counters();
        v.push(("mmio_bad_accesses", self.bad_accesses()));
        v.push((
            "irq_trigger_errors",
            self.interrupt.trigger_errors.load(Ordering::Relaxed),
        ));
        v
    }

    /// Runs `f` on the device (for the VMM and tests).
    pub fn with_device<R>(&self, f: impl FnOnce(&mut dyn VirtioDevice) -> R) -> R {
        f(self.state.lock().device.as_mut())
    }

    /// Processes queue `index` after a notification: only while the device is active and the
    /// queue ready ("The device MUST NOT access virtual queue contents when QueueReady is zero").
    pub fn process_queue(&self, index: usize) {
        let mut state = self.state.lock();
        let ready = state.queues.get(index).is_some_and(|q| q.ready);
        if state.has(status::DRIVER_OK) && ready && state.device.is_active() {
            state.device.process_queue(index);
        }
    }

    fn bad_access(&self, what: &str, offset: u64, len: usize) {
        self.bad_accesses.fetch_add(1, Ordering::Relaxed);
        debug!("virtio-mmio: ignored {what} at {offset:#x} (width {len})");
    }

    fn read_register(&self, state: &TransportState, offset: u64) -> Option<u32> {
        let v = match offset {
            regs::MAGIC_VALUE => MMIO_MAGIC_VALUE,
            regs::VERSION => MMIO_VERSION,
            regs::DEVICE_ID => state.device.device_type(),
            regs::VENDOR_ID => VENDOR_ID,
            regs::DEVICE_FEATURES => match state.device_features_sel {
                0 => state.device.features() as u32,
                1 => (state.device.features() >> 32) as u32,
                _ => 0,
            },
            // "Reading from the register returns the maximum size (number of elements) of the
            // queue the device is ready to process or zero (0x0) if the queue is not available."
            regs::QUEUE_NUM_MAX => state.selected_queue().map_or(0, |q| u32::from(q.max_size)),
            // "Reading from this register returns the last value written to it."
            regs::QUEUE_READY => state.selected_queue().map_or(0, |q| u32::from(q.ready)),
            regs::INTERRUPT_STATUS => self.interrupt_status.load(Ordering::SeqCst),
            regs::STATUS => state.status,
            // No shared memory regions: "Reading from a non-existent region [...] results in a
            // length of -1" and "a base address of 0xffffffffffffffff".
            regs::SHM_LEN_LOW | regs::SHM_LEN_HIGH | regs::SHM_BASE_LOW | regs::SHM_BASE_HIGH => {
                u32::MAX
            }
            // VIRTIO_F_RING_RESET is never offered; the register reads 0.
            regs::QUEUE_RESET => 0,
            regs::CONFIG_GENERATION => self.config_generation.load(Ordering::SeqCst),
            _ => return None,
        };
        Some(v)
    }

    fn write_register(&self, state: &mut TransportState, offset: u64, v: u32) -> bool {
        match offset {
            regs::DEVICE_FEATURES_SEL => state.device_features_sel = v,
            regs::DRIVER_FEATURES_SEL => state.driver_features_sel = v,
            regs::DRIVER_FEATURES => {
                // Features may change only while negotiating: DRIVER set, FEATURES_OK not yet.
                if !state.has(status::DRIVER) || state.has(status::FEATURES_OK) {
                    return false;
                }
                match state.driver_features_sel {
                    0 => set_low(&mut state.driver_features, v),
                    1 => set_high(&mut state.driver_features, v),
                    _ => return false,
                }
            }
            regs::QUEUE_SEL => state.queue_sel = v,
            regs::QUEUE_NUM => match state.selected_queue_writable() {
                Some(q) => q.size = v,
                None => return false,
            },
            regs::QUEUE_READY => return self.write_queue_ready(state, v),
            regs::QUEUE_NOTIFY => return self.notify(state, v),
            regs::INTERRUPT_ACK => {
                // "notifies the device that events causing the interrupt have been handled".
                self.interrupt_status.fetch_and(!v, Ordering::SeqCst);
            }
            regs::STATUS => return self.write_status(state, v),
            regs::QUEUE_DESC_LOW
            | regs::QUEUE_DESC_HIGH
            | regs::QUEUE_DRIVER_LOW
            | regs::QUEUE_DRIVER_HIGH
            | regs::QUEUE_DEVICE_LOW
            | regs::QUEUE_DEVICE_HIGH => {
                let Some(q) = state.selected_queue_writable() else {
                    return false;
                };
                match offset {
                    regs::QUEUE_DESC_LOW => set_low(&mut q.desc, v),
                    regs::QUEUE_DESC_HIGH => set_high(&mut q.desc, v),
                    regs::QUEUE_DRIVER_LOW => set_low(&mut q.driver, v),
                    regs::QUEUE_DRIVER_HIGH => set_high(&mut q.driver, v),
                    regs::QUEUE_DEVICE_LOW => set_low(&mut q.device, v),
                    _ => set_high(&mut q.device, v),
                }
            }
            regs::SHM_SEL => {}
            _ => return false,
        }
        true
    }

    fn write_queue_ready(&self, state: &mut TransportState, v: u32) -> bool {
        let ready = v == 1;
        if state.has(status::DRIVER_OK) {
            // "To stop using the queue the driver MUST write zero (0x0) to this QueueReady":
            // the queue is no longer processed. Re-enabling needs a reset.
            let Some(q) = usize::try_from(state.queue_sel)
                .ok()
                .and_then(|sel| state.queues.get_mut(sel))
            else {
                return false;
            };
            if ready {
                return false;
            }
            q.ready = false;
            return true;
        }
        if !state.has(status::FEATURES_OK) {
            return false;
        }
        match usize::try_from(state.queue_sel)
            .ok()
            .and_then(|sel| state.queues.get_mut(sel))
        {
            Some(q) => {
                q.ready = ready;
                true
            }
            None => false,
        }
    }

    fn notify(&self, state: &TransportState, v: u32) -> bool {
        // "When VIRTIO_F_NOTIFICATION_DATA has not been negotiated, the value written is the
        // queue index." Signal the queue's eventfd, as an ioeventfd would have.
        let Some(evt) = usize::try_from(v).ok().and_then(|i| self.queue_evts.get(i)) else {
            return false;
        };
        if !state.has(status::DRIVER_OK) {
            return false;
        }
        if let Err(e) = evt.write(1) {
            warn!("virtio-mmio: cannot signal queue {v}: {e}");
        }
        true
    }

    /// The device-status state machine (virtio 1.2 §3.1.1): the driver sets ACKNOWLEDGE, DRIVER,
    /// FEATURES_OK and DRIVER_OK in this order, never clears a bit, and writes 0 to reset.
    fn write_status(&self, state: &mut TransportState, v: u32) -> bool {
        // "Writing zero (0x0) to this register triggers a device reset."
        if v == 0 {
            self.reset(state);
            return true;
        }
        // "The driver MUST NOT clear a device status bit."
        if v & state.status != state.status & !status::DEVICE_NEEDS_RESET {
            return false;
        }
        let added = v & !state.status & !status::DEVICE_NEEDS_RESET;
        let mut accepted = true;
        if added & status::FAILED != 0 {
            state.status |= status::FAILED;
        }
        for (bit, needs) in [
            (status::ACKNOWLEDGE, 0),
            (status::DRIVER, status::ACKNOWLEDGE),
            (status::FEATURES_OK, status::DRIVER),
            (status::DRIVER_OK, status::FEATURES_OK),
        ] {
            if added & bit == 0 {
                continue;
            }
            if !state.has(needs) || state.has(status::FAILED) {
                accepted = false;
                break;
            }
            match bit {
                // The driver re-reads the status and finds FEATURES_OK clear.
                status::FEATURES_OK if !self.features_ok(state) => {
                    accepted = false;
                    break;
                }
                status::DRIVER_OK => {
                    self.activate(state);
                    // activate() sets DRIVER_OK or DEVICE_NEEDS_RESET itself.
                    continue;
                }
                _ => {}
            }
            state.status |= bit;
        }
        accepted
    }

    /// Checks the features the driver accepted; on success tells the device.
    fn features_ok(&self, state: &mut TransportState) -> bool {
        let offered = state.device.features();
        let accepted = state.driver_features;
        // "The driver MUST NOT accept a feature which the device did not offer". This transport
        // has no legacy interface, so VERSION_1 is required.
        let ok = accepted & !offered == 0
            && accepted & bit(features::VERSION_1) != 0
            && state.device.features_acceptable(accepted);
        if ok {
            state.device.ack_features(accepted);
        } else {
            warn!("virtio-mmio: refusing driver features {accepted:#x} (offered {offered:#x})");
        }
        ok
    }

    fn activate(&self, state: &mut TransportState) {
        let queues: Result<Vec<Queue>, _> = state.queues.iter().map(QueueRegs::build).collect();
        let result = match queues {
            Ok(queues) => state
                .device
                .activate(ActivateContext {
                    mem: self.mem.clone(),
                    interrupt: Arc::clone(&self.interrupt) as Arc<dyn Interrupt>,
                    queues,
                })
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("invalid queue configuration: {e}")),
        };
        state.status |= status::DRIVER_OK;
        if let Err(e) = result {
            // "The device SHOULD set DEVICE_NEEDS_RESET when it enters an error state that a
            // reset is needed. If DRIVER_OK is set, after it sets DEVICE_NEEDS_RESET, the device
            // MUST send a device configuration change notification to the driver."
            warn!("virtio-mmio: activation failed: {e}");
            state.status |= status::DEVICE_NEEDS_RESET;
            self.interrupt.signal_config();
        }
    }

    fn reset(&self, state: &mut TransportState) {
        state.device.reset();
        state.status = 0;
        state.device_features_sel = 0;
        state.driver_features_sel = 0;
        state.driver_features = 0;
        state.queue_sel = 0;
        for q in &mut state.queues {
            *q = QueueRegs::new(q.max_size);
        }
        // "Upon reset, the device MUST clear all bits in InterruptStatus and ready bits in the
        // QueueReady register for all queues in the device."
        self.interrupt_status.store(0, Ordering::SeqCst);
        // Notifications that arrived before the reset belong to the old queues.
        for evt in &self.queue_evts {
            let _ = evt.read();
        }
    }
}

impl BusDevice for MmioTransport {
    fn read(&self, offset: u64, data: &mut [u8]) {
        let state = self.state.lock();
        if offset >= regs::CONFIG {
            // "Device-specific configuration space starts at the offset 0x100 and is accessed
            // with byte alignment."
            state.device.read_config(offset - regs::CONFIG, data);
            return;
        }
        // "The driver MUST only use 32 bit wide and aligned reads and writes to access the
        // control registers".
        let value = if data.len() == 4 && offset.is_multiple_of(4) {
            self.read_register(&state, offset)
        } else {
            None
        };
        drop(state);
        match value {
            Some(v) => data.copy_from_slice(&v.to_le_bytes()),
            None => {
                data.fill(0);
                self.bad_access("read", offset, data.len());
            }
        }
    }

    fn write(&self, offset: u64, data: &[u8]) {
        let mut state = self.state.lock();
        if offset >= regs::CONFIG {
            state.device.write_config(offset - regs::CONFIG, data);
            return;
        }
        let handled = match <[u8; 4]>::try_from(data) {
            Ok(bytes) if offset.is_multiple_of(4) => {
                self.write_register(&mut state, offset, u32::from_le_bytes(bytes))
            }
            _ => false,
        };
        drop(state);
        if !handled {
            self.bad_access("write", offset, data.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::dma_test::VirtioDmaTest;
    use crate::virtio::iommu::{IommuConfig, VirtioIommu};
    use crate::virtio::rng::VirtioRng;
    use crate::virtio::test_utils::{
        DriverQueue, mmio_read, mmio_write, negotiate_and_activate, test_ram,
    };

    fn rng_transport(mem: &GuestRam) -> (MmioTransport, Arc<EventFd>) {
        let irq = Arc::new(EventFd::new(EFD_NONBLOCK).unwrap());
        let t = MmioTransport::new(
            Box::new(VirtioRng::new(None).unwrap()),
            mem.clone(),
            irq.clone(),
        )
        .unwrap();
        (t, irq)
    }

    fn features_accepted(t: &MmioTransport, accepted: u64) {
        mmio_write(t, regs::STATUS, 0);
        mmio_write(t, regs::STATUS, status::ACKNOWLEDGE);
        mmio_write(t, regs::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        mmio_write(t, regs::DRIVER_FEATURES_SEL, 0);
        mmio_write(t, regs::DRIVER_FEATURES, accepted as u32);
        mmio_write(t, regs::DRIVER_FEATURES_SEL, 1);
        mmio_write(t, regs::DRIVER_FEATURES, (accepted >> 32) as u32);
        mmio_write(
            t,
            regs::STATUS,
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
        );
    }

    #[test]
    fn identification_registers_read_as_specified() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        assert_eq!(mmio_read(&t, regs::MAGIC_VALUE), 0x7472_6976);
        assert_eq!(mmio_read(&t, regs::VERSION), 2);
        assert_eq!(mmio_read(&t, regs::DEVICE_ID), 4);
        assert_eq!(mmio_read(&t, regs::VENDOR_ID), VENDOR_ID);
        assert_eq!(mmio_read(&t, regs::STATUS), 0);
    }

    #[test]
    fn control_registers_accessed_with_a_bad_width_or_alignment_read_zero_and_ignore_writes() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        let mut b2 = [0xffu8; 2];
        t.read(regs::MAGIC_VALUE, &mut b2);
        assert_eq!(b2, [0, 0]);
        let mut b4 = [0xffu8; 4];
        t.read(regs::MAGIC_VALUE + 1, &mut b4);
        assert_eq!(b4, [0; 4]);
        t.write(regs::STATUS, &[1]);
        t.write(regs::STATUS, &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(mmio_read(&t, regs::STATUS), 0);
        assert_eq!(t.bad_accesses(), 4);
    }

    #[test]
    fn device_features_are_read_32_bits_at_a_time_by_selector() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        mmio_write(&t, regs::DEVICE_FEATURES_SEL, 1);
        assert_eq!(
            mmio_read(&t, regs::DEVICE_FEATURES),
            1,
            "VERSION_1 is bit 32"
        );
        mmio_write(&t, regs::DEVICE_FEATURES_SEL, 0);
        assert_eq!(
            mmio_read(&t, regs::DEVICE_FEATURES),
            1 << features::INDIRECT_DESC
        );
        mmio_write(&t, regs::DEVICE_FEATURES_SEL, 2);
        assert_eq!(mmio_read(&t, regs::DEVICE_FEATURES), 0);
    }

    #[test]
    fn features_without_version_1_keep_features_ok_clear() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        features_accepted(&t, 0);
        assert_eq!(
            mmio_read(&t, regs::STATUS),
            status::ACKNOWLEDGE | status::DRIVER
        );
    }

    #[test]
    fn accepting_a_feature_the_device_did_not_offer_keeps_features_ok_clear() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        features_accepted(
            &t,
            bit(features::VERSION_1) | bit(features::ACCESS_PLATFORM),
        );
        assert_eq!(mmio_read(&t, regs::STATUS) & status::FEATURES_OK, 0);
        features_accepted(&t, bit(features::VERSION_1));
        assert_ne!(mmio_read(&t, regs::STATUS) & status::FEATURES_OK, 0);
    }

    #[test]
    fn device_behind_the_iommu_refuses_features_ok_without_access_platform() {
        let mem = test_ram();
        let iommu = VirtioIommu::new(IommuConfig::default()).unwrap();
        let ep = iommu.endpoint(::iommu::EndpointId(5)).unwrap();
        let t = MmioTransport::new(
            Box::new(VirtioDmaTest::new(Some(ep))),
            mem.clone(),
            Arc::new(EventFd::new(EFD_NONBLOCK).unwrap()),
        )
        .unwrap();
        features_accepted(&t, bit(features::VERSION_1));
        assert_eq!(mmio_read(&t, regs::STATUS) & status::FEATURES_OK, 0);
        features_accepted(
            &t,
            bit(features::VERSION_1) | bit(features::ACCESS_PLATFORM),
        );
        assert_ne!(mmio_read(&t, regs::STATUS) & status::FEATURES_OK, 0);
        assert_eq!(t.endpoint(), Some(::iommu::EndpointId(5)));
    }

    #[test]
    fn status_bits_set_out_of_order_are_ignored() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        mmio_write(&t, regs::STATUS, status::DRIVER);
        assert_eq!(mmio_read(&t, regs::STATUS), 0);
        mmio_write(&t, regs::STATUS, status::ACKNOWLEDGE);
        mmio_write(
            &t,
            regs::STATUS,
            status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK,
        );
        // DRIVER accepted, DRIVER_OK refused (no FEATURES_OK).
        assert_eq!(
            mmio_read(&t, regs::STATUS),
            status::ACKNOWLEDGE | status::DRIVER
        );
        assert!(!t.with_device(|d| d.is_active()));
    }

    #[test]
    fn clearing_a_status_bit_is_ignored() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        mmio_write(&t, regs::STATUS, status::ACKNOWLEDGE);
        mmio_write(&t, regs::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        mmio_write(&t, regs::STATUS, status::DRIVER);
        assert_eq!(
            mmio_read(&t, regs::STATUS),
            status::ACKNOWLEDGE | status::DRIVER
        );
    }

    #[test]
    fn driver_ok_activates_the_device_and_notifications_reach_it() {
        let mem = test_ram();
        let (t, irq) = rng_transport(&mem);
        let mut q = DriverQueue::new(&mem, GuestAddress(0x1_0000), 16);
        negotiate_and_activate(&t, &[&q], 0);
        assert_eq!(
            mmio_read(&t, regs::STATUS) & status::DRIVER_OK,
            status::DRIVER_OK
        );
        assert!(t.with_device(|d| d.is_active()));

        q.add(&[(0x4_0000, 64, true)]);
        mmio_write(&t, regs::QUEUE_NOTIFY, 0);
        assert_eq!(
            t.queue_events()[0].read().unwrap(),
            1,
            "notify signals the eventfd"
        );
        t.process_queue(0);

        assert_eq!(q.used(), vec![(0, 64)]);
        assert_eq!(irq.read().unwrap(), 1);
        assert_eq!(mmio_read(&t, regs::INTERRUPT_STATUS), INT_USED_RING);
        mmio_write(&t, regs::INTERRUPT_ACK, INT_USED_RING);
        assert_eq!(mmio_read(&t, regs::INTERRUPT_STATUS), 0);
    }

    #[test]
    fn queue_num_max_is_zero_for_a_queue_that_does_not_exist() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        mmio_write(&t, regs::QUEUE_SEL, 0);
        assert_eq!(mmio_read(&t, regs::QUEUE_NUM_MAX), 64);
        mmio_write(&t, regs::QUEUE_SEL, 1);
        assert_eq!(mmio_read(&t, regs::QUEUE_NUM_MAX), 0);
        mmio_write(&t, regs::QUEUE_SEL, u32::MAX);
        assert_eq!(mmio_read(&t, regs::QUEUE_READY), 0);
    }

    #[test]
    fn queue_registers_are_not_writable_before_features_ok_or_while_ready() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        mmio_write(&t, regs::QUEUE_READY, 1);
        assert_eq!(mmio_read(&t, regs::QUEUE_READY), 0, "before FEATURES_OK");
        features_accepted(&t, bit(features::VERSION_1));
        mmio_write(&t, regs::QUEUE_READY, 1);
        assert_eq!(mmio_read(&t, regs::QUEUE_READY), 1);
        let before = t.bad_accesses();
        mmio_write(&t, regs::QUEUE_NUM, 8);
        mmio_write(&t, regs::QUEUE_DESC_LOW, 0x1000);
        assert_eq!(t.bad_accesses(), before + 2, "ignored while ready");
    }

    #[test]
    fn invalid_queue_configuration_at_driver_ok_sets_device_needs_reset() {
        let mem = test_ram();
        let (t, irq) = rng_transport(&mem);
        features_accepted(&t, bit(features::VERSION_1));
        mmio_write(&t, regs::QUEUE_SEL, 0);
        mmio_write(&t, regs::QUEUE_NUM, 3); // not a power of two
        mmio_write(&t, regs::QUEUE_READY, 1);
        let gen_before = mmio_read(&t, regs::CONFIG_GENERATION);
        mmio_write(
            &t,
            regs::STATUS,
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK,
        );
        let s = mmio_read(&t, regs::STATUS);
        assert_ne!(s & status::DEVICE_NEEDS_RESET, 0);
        assert!(!t.with_device(|d| d.is_active()));
        assert_eq!(mmio_read(&t, regs::INTERRUPT_STATUS), INT_CONFIG);
        assert_ne!(mmio_read(&t, regs::CONFIG_GENERATION), gen_before);
        assert_eq!(irq.read().unwrap(), 1);
    }

    #[test]
    fn reset_clears_status_interrupts_and_queue_ready_and_resets_the_device() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        let mut q = DriverQueue::new(&mem, GuestAddress(0x1_0000), 16);
        negotiate_and_activate(&t, &[&q], 0);
        q.add(&[(0x4_0000, 8, true)]);
        t.process_queue(0);
        assert_eq!(q.used().len(), 1);
        assert_ne!(mmio_read(&t, regs::INTERRUPT_STATUS), 0);

        mmio_write(&t, regs::STATUS, 0);

        assert_eq!(mmio_read(&t, regs::STATUS), 0);
        assert_eq!(mmio_read(&t, regs::INTERRUPT_STATUS), 0);
        mmio_write(&t, regs::QUEUE_SEL, 0);
        assert_eq!(mmio_read(&t, regs::QUEUE_READY), 0);
        assert!(!t.with_device(|d| d.is_active()));
        // A notification after reset does nothing.
        q.add(&[(0x4_0000, 8, true)]);
        t.process_queue(0);
        assert!(q.used().is_empty());
    }

    #[test]
    fn queue_ready_cleared_after_driver_ok_stops_processing() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        let mut q = DriverQueue::new(&mem, GuestAddress(0x1_0000), 16);
        negotiate_and_activate(&t, &[&q], 0);
        mmio_write(&t, regs::QUEUE_SEL, 0);
        mmio_write(&t, regs::QUEUE_READY, 0);
        assert_eq!(mmio_read(&t, regs::QUEUE_READY), 0);
        q.add(&[(0x4_0000, 8, true)]);
        t.process_queue(0);
        assert!(q.used().is_empty());
    }

    #[test]
    fn notify_before_driver_ok_or_for_a_missing_queue_is_ignored() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        mmio_write(&t, regs::QUEUE_NOTIFY, 0);
        assert!(t.queue_events()[0].read().is_err(), "no notification");
        let q = DriverQueue::new(&mem, GuestAddress(0x1_0000), 16);
        negotiate_and_activate(&t, &[&q], 0);
        let before = t.bad_accesses();
        mmio_write(&t, regs::QUEUE_NOTIFY, 7);
        assert_eq!(t.bad_accesses(), before + 1);
    }

    #[test]
    fn shared_memory_registers_report_no_region() {
        let mem = test_ram();
        let (t, _) = rng_transport(&mem);
        mmio_write(&t, regs::SHM_SEL, 0);
        for r in [
            regs::SHM_LEN_LOW,
            regs::SHM_LEN_HIGH,
            regs::SHM_BASE_LOW,
            regs::SHM_BASE_HIGH,
        ] {
            assert_eq!(mmio_read(&t, r), u32::MAX);
        }
        assert_eq!(mmio_read(&t, regs::QUEUE_RESET), 0);
    }

    #[test]
    fn config_space_is_at_0x100_with_byte_access() {
        let mem = test_ram();
        let iommu = VirtioIommu::new(IommuConfig {
            probe_size: 96,
            ..Default::default()
        })
        .unwrap();
        let t = MmioTransport::new(
            Box::new(iommu),
            mem.clone(),
            Arc::new(EventFd::new(EFD_NONBLOCK).unwrap()),
        )
        .unwrap();
        let mut b = [0u8; 4];
        t.read(regs::CONFIG + 0x20, &mut b);
        assert_eq!(u32::from_le_bytes(b), 96);
        let mut one = [0u8; 1];
        t.read(regs::CONFIG + 0x1, &mut one);
        assert_eq!(one[0], 0xf0, "byte 1 of page_size_mask !0xfff");
        let req = DriverQueue::new(&mem, GuestAddress(0x1_0000), 16);
        let evq = DriverQueue::new(&mem, GuestAddress(0x2_0000), 16);
        negotiate_and_activate(&t, &[&req, &evq], 0);
        t.write(regs::CONFIG + 0x24, &[1]);
        t.read(regs::CONFIG + 0x24, &mut one);
        assert_eq!(one[0], 1);
    }

    #[test]
    fn hostile_register_traffic_never_panics() {
        let mem = test_ram();
        let iommu = VirtioIommu::new(IommuConfig::default()).unwrap();
        let t = MmioTransport::new(
            Box::new(iommu),
            mem.clone(),
            Arc::new(EventFd::new(EFD_NONBLOCK).unwrap()),
        )
        .unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            let r = next();
            let offset = (r % MMIO_WINDOW_SIZE) & !(r >> 60 & 3);
            let width = [1usize, 2, 4, 8][(r >> 20) as usize % 4];
            let offset = offset.min(MMIO_WINDOW_SIZE - width as u64);
            let value = next();
            // Bias towards the registers that drive the state machine.
            let offset = match r >> 40 & 7 {
                0 => regs::STATUS,
                1 => regs::QUEUE_READY,
                2 => regs::QUEUE_NOTIFY,
                _ => offset,
            };
            if r >> 50 & 1 == 0 {
                let bytes = value.to_le_bytes();
                t.write(offset, &bytes[..width]);
            } else {
                let mut bytes = [0u8; 8];
                t.read(offset, &mut bytes[..width]);
            }
            if r >> 32 & 0xff == 0 {
                t.process_queue((r >> 8) as usize % 3);
            }
        }
    }
}
