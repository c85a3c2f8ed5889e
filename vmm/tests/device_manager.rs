//! The device manager's virtio-mmio plumbing, end to end with a stand-in transport: MMIO slot on
//! the bus, ioeventfd on QueueNotify, DSDT entry and command-line form.

mod common;

use std::sync::Arc;

use common::*;
use devices::bus::BusDevice;
use parking_lot::Mutex;
use vm_memory::{Bytes, GuestAddress};
use vmm::device_manager::VirtioMmioAttachment;
use vmm::{ExitReason, Vmm, layout};
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

/// Answers "virt" at offset 0 and records every write.
#[derive(Default)]
struct FakeTransport {
    writes: Mutex<Vec<(u64, Vec<u8>)>>,
}

impl BusDevice for FakeTransport {
    fn read(&self, offset: u64, data: &mut [u8]) {
        let value: u32 = if offset == 0 { 0x7472_6976 } else { 0 };
        let bytes = value.to_le_bytes();
        let n = data.len().min(4);
        data[..n].copy_from_slice(&bytes[..n]);
    }
    fn write(&self, offset: u64, data: &[u8]) {
        self.writes.lock().push((offset, data.to_vec()));
    }
}

#[test]
fn a_virtio_mmio_device_gets_a_slot_an_ioeventfd_and_a_dsdt_entry() {
    require_kvm!();
    let transport = Arc::new(FakeTransport::default());
    let notify = EventFd::new(EFD_NONBLOCK).unwrap();
    let notify_seen = notify.try_clone().unwrap();
    let dev: Arc<dyn BusDevice> = transport.clone();
    let vmm = Vmm::with_devices(config(VIRTIO_SLOT0), |dm, vm, _mem| {
        dm.attach_virtio_mmio(
            vm,
            VirtioMmioAttachment {
                device: dev,
                interrupt: EventFd::new(EFD_NONBLOCK).unwrap(),
                queue_notifiers: vec![(0, notify)],
            },
        )
        .map(|_| ())
    })
    .unwrap();

    let slots = vmm.devices().virtio_slots().to_vec();
    assert_eq!(slots.len(), 1);
    assert_eq!(
        (slots[0].base, slots[0].gsi),
        (layout::VIRTIO_MMIO_START, 5)
    );
    assert_eq!(
        vmm.devices().virtio_mmio_cmdline_args(),
        vec!["virtio_mmio.device=4K@0xd0000000:5".to_string()]
    );
    let mut acpi_area = vec![0u8; (layout::ACPI_END - layout::ACPI_START) as usize];
    vmm.memory()
        .read_slice(&mut acpi_area, GuestAddress(layout::ACPI_START))
        .unwrap();
    assert!(
        acpi_area.windows(4).any(|w| w == b"VR00"),
        "DSDT lacks VR00"
    );
    assert!(acpi_area.windows(8).any(|w| w == b"LNRO0005"));

    let outcome = vmm.run().unwrap();

    assert_eq!(outcome.exit, ExitReason::ExitPort(0x7472_6976));
    // The QueueNotify write went to the ioeventfd, not to the device.
    assert_eq!(notify_seen.read().unwrap(), 1);
    assert_eq!(
        *transport.writes.lock(),
        vec![(0x70, 0xfu32.to_le_bytes().to_vec())]
    );
}

#[test]
fn the_virtio_window_runs_out_of_gsis_before_slots() {
    require_kvm!();
    let result = Vmm::with_devices(config(HELLO), |dm, vm, _mem| {
        for _ in 0..=19 {
            dm.attach_virtio_mmio(
                vm,
                VirtioMmioAttachment {
                    device: Arc::new(FakeTransport::default()),
                    interrupt: EventFd::new(EFD_NONBLOCK).unwrap(),
                    queue_notifiers: vec![],
                },
            )?;
        }
        Ok(())
    });
    // GSIs 5..=23 give 19 devices; the 20th is refused with a clear error.
    let err = result.unwrap_err();
    assert!(err.to_string().contains("devices"), "{err}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("no free GSI"), "{source}");
}
