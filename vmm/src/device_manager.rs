//! Owns the buses and the devices on them, hands out MMIO slots and GSIs, wires interrupts
//! (irqfd) and queue notifications (ioeventfd), and describes every device for the DSDT.
//!
//! Legacy devices are fixed (docs/PLATFORM.md). virtio-mmio devices get the next 4 KiB slot of
//! the virtio-mmio window and the next free GSI, and appear both in the DSDT (`LNRO0005`) and,
//! for kernels without ACPI, as a `virtio_mmio.device=` command-line argument.

use std::sync::Arc;

use devices::bus::{Bus, BusDevice, BusError};
use devices::legacy::acpi_pm::{ACPI_PM_BASE, ACPI_PM_LEN};
use devices::legacy::exit_port::{EXIT_PORT, EXIT_PORT_LEN};
use devices::legacy::i8042::{I8042_BASE, I8042_LEN};
use devices::legacy::serial::{COM1_BASE, COM1_GSI, SERIAL_LEN};
use devices::legacy::{AcpiPmDevice, ExitPort, I8042, Serial, StopRequester};
use kvm_ioctls::{IoEventAddress, VmFd};
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use crate::acpi::DsdtDevice;
use crate::layout;
use crate::serial_sink::SerialSink;

/// GSIs handed to virtio-mmio devices, in order: the IOAPIC pins not used by COM1 or the timer.
pub const VIRTIO_GSIS: std::ops::RangeInclusive<u32> = 5..=23;
/// "QueueNotify 0x050: Queue notifier" (virtio 1.2 §4.2.2): the register whose writes become
/// ioeventfd notifications.
pub const VIRTIO_MMIO_QUEUE_NOTIFY: u64 = 0x50;

/// Why a device could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The bus refused the range.
    #[error("failed to place a device on the bus")]
    Bus(#[source] BusError),
    /// No virtio-mmio slot or GSI left.
    #[error("no free {0} for another virtio-mmio device")]
    Exhausted(&'static str),
    /// Creating an eventfd failed.
    #[error("failed to create an eventfd")]
    EventFd(#[source] std::io::Error),
    /// Registering an irqfd or ioeventfd failed.
    #[error("{0} failed")]
    Kvm(&'static str, #[source] kvm_ioctls::Error),
}

/// What the VMM needs from a virtio-mmio device to attach it.
pub struct VirtioMmioAttachment {
    /// The transport (register file) the MMIO bus dispatches to.
    pub device: Arc<dyn BusDevice>,
    /// The device writes 1 here to raise its interrupt; registered as an irqfd.
    pub interrupt: EventFd,
    /// `(queue index, eventfd)`: a guest write of the queue index to QueueNotify signals the
    /// eventfd in the kernel, without a VM exit to the vCPU thread.
    pub queue_notifiers: Vec<(u32, EventFd)>,
}

impl std::fmt::Debug for VirtioMmioAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioMmioAttachment")
            .field("queues", &self.queue_notifiers.len())
            .finish_non_exhaustive()
    }
}

/// Where a virtio-mmio device was placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioMmioSlot {
    /// Slot index in the window.
    pub index: u8,
    /// MMIO base.
    pub base: u64,
    /// MMIO size.
    pub size: u64,
    /// Interrupt.
    pub gsi: u32,
}

impl VirtioMmioSlot {
    /// The slot as Linux's `virtio_mmio.device=<size>@<base>:<irq>` argument.
    pub fn cmdline_arg(&self) -> String {
        format!(
            "virtio_mmio.device={}K@{:#x}:{}",
            self.size / layout::KIB,
            self.base,
            self.gsi
        )
    }

    /// The slot's DSDT entry.
    pub fn dsdt_device(&self) -> DsdtDevice {
        DsdtDevice::VirtioMmio {
            index: self.index,
            // Inside the 32-bit gap by construction.
            base: self.base as u32,
            size: self.size as u32,
            gsi: self.gsi,
        }
    }
}

/// The devices of a VM.
pub struct DeviceManager {
    pio_bus: Arc<Bus>,
    mmio_bus: Arc<Bus>,
    serial: Arc<Serial<SerialSink>>,
    virtio_slots: Vec<VirtioMmioSlot>,
    /// irqfds and ioeventfds stay registered while these live.
    event_fds: Vec<EventFd>,
}

impl std::fmt::Debug for DeviceManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceManager")
            .field("pio_bus", &self.pio_bus)
            .field("mmio_bus", &self.mmio_bus)
            .field("virtio_slots", &self.virtio_slots)
            .finish_non_exhaustive()
    }
}

impl DeviceManager {
    /// The legacy devices: COM1 (irqfd on GSI 4), the i8042 reset line, the exit port and the
    /// ACPI power-management registers.
    pub fn new(
        vm: &VmFd,
        stop: Arc<dyn StopRequester>,
        serial_out: SerialSink,
    ) -> Result<Self, DeviceError> {
        let pio_bus = Arc::new(Bus::new());
        let mmio_bus = Arc::new(Bus::new());

        let serial_irq = EventFd::new(EFD_NONBLOCK).map_err(DeviceError::EventFd)?;
        vm.register_irqfd(&serial_irq, COM1_GSI)
            .map_err(|e| DeviceError::Kvm("KVM_IRQFD", e))?;
        let serial = Arc::new(Serial::new(
            serial_irq.try_clone().map_err(DeviceError::EventFd)?,
            serial_out,
        ));
        let insert = |base: u16, len: u64, dev: Arc<dyn BusDevice>| {
            pio_bus
                .insert(u64::from(base), len, dev)
                .map_err(DeviceError::Bus)
        };
        insert(COM1_BASE, SERIAL_LEN, serial.clone())?;
        insert(I8042_BASE, I8042_LEN, Arc::new(I8042::new(stop.clone())))?;
        insert(
            EXIT_PORT,
            EXIT_PORT_LEN,
            Arc::new(ExitPort::new(stop.clone())),
        )?;
        insert(ACPI_PM_BASE, ACPI_PM_LEN, Arc::new(AcpiPmDevice::new(stop)))?;
        Ok(Self {
            pio_bus,
            mmio_bus,
            serial,
            virtio_slots: Vec::new(),
            event_fds: vec![serial_irq],
        })
    }

    /// The next free slot, without taking it.
    pub fn next_virtio_slot(&self) -> Result<VirtioMmioSlot, DeviceError> {
        let n = self.virtio_slots.len();
        let index = u8::try_from(n).map_err(|_| DeviceError::Exhausted("MMIO slot"))?;
        let base = layout::VIRTIO_MMIO_START + n as u64 * layout::VIRTIO_MMIO_SLOT_SIZE;
        if base + layout::VIRTIO_MMIO_SLOT_SIZE
            > layout::VIRTIO_MMIO_START + layout::VIRTIO_MMIO_WINDOW_SIZE
        {
            return Err(DeviceError::Exhausted("MMIO slot"));
        }
        let gsi = VIRTIO_GSIS
            .clone()
            .nth(n)
            .ok_or(DeviceError::Exhausted("GSI"))?;
        Ok(VirtioMmioSlot {
            index,
            base,
            size: layout::VIRTIO_MMIO_SLOT_SIZE,
            gsi,
        })
    }

    /// Places a virtio-mmio device in the next slot: MMIO range on the bus, irqfd on its GSI,
    /// one ioeventfd per queue on QueueNotify (datamatch = queue index).
    pub fn attach_virtio_mmio(
        &mut self,
        vm: &VmFd,
        attachment: VirtioMmioAttachment,
    ) -> Result<VirtioMmioSlot, DeviceError> {
        let slot = self.next_virtio_slot()?;
        vm.register_irqfd(&attachment.interrupt, slot.gsi)
            .map_err(|e| DeviceError::Kvm("KVM_IRQFD", e))?;
        self.event_fds.push(attachment.interrupt);
        for (queue, evt) in attachment.queue_notifiers {
            vm.register_ioevent(
                &evt,
                &IoEventAddress::Mmio(slot.base + VIRTIO_MMIO_QUEUE_NOTIFY),
                queue,
            )
            .map_err(|e| DeviceError::Kvm("KVM_IOEVENTFD", e))?;
            self.event_fds.push(evt);
        }
        self.mmio_bus
            .insert(slot.base, slot.size, attachment.device)
            .map_err(DeviceError::Bus)?;
        self.virtio_slots.push(slot);
        Ok(slot)
    }

    /// Every device the DSDT must describe.
    pub fn dsdt_devices(&self) -> Vec<DsdtDevice> {
        std::iter::once(DsdtDevice::com1())
            .chain(self.virtio_slots.iter().map(VirtioMmioSlot::dsdt_device))
            .collect()
    }

    /// `virtio_mmio.device=` arguments for kernels that do not read the DSDT.
    pub fn virtio_mmio_cmdline_args(&self) -> Vec<String> {
        self.virtio_slots
            .iter()
            .map(VirtioMmioSlot::cmdline_arg)
            .collect()
    }

    /// The virtio-mmio slots in use.
    pub fn virtio_slots(&self) -> &[VirtioMmioSlot] {
        &self.virtio_slots
    }

    /// The port I/O bus.
    pub fn pio_bus(&self) -> &Arc<Bus> {
        &self.pio_bus
    }

    /// The MMIO bus.
    pub fn mmio_bus(&self) -> &Arc<Bus> {
        &self.mmio_bus
    }

    /// COM1.
    pub fn serial(&self) -> &Arc<Serial<SerialSink>> {
        &self.serial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_cmdline_argument_has_linux_syntax() {
        let slot = VirtioMmioSlot {
            index: 0,
            base: 0xd000_0000,
            size: 0x1000,
            gsi: 5,
        };
        assert_eq!(slot.cmdline_arg(), "virtio_mmio.device=4K@0xd0000000:5");
    }
}
