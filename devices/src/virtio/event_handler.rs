//! Queue notifications through `event_manager`: an `Arc<MmioTransport>` is an
//! [`EventSubscriber`] that watches its queue eventfds (the ioeventfds KVM signals on a
//! QueueNotify write, or the transport itself when the write reaches it) and processes the
//! notified queue.
//!
//! The VMM adds `Arc::clone(&transport)` to its `EventManager`; `init` registers one event per
//! queue with the queue index as data.

use event_manager::{EventOps, EventSet, EventSubscriber, Events};
use log::warn;

use super::mmio::MmioTransport;

impl EventSubscriber for MmioTransport {
    fn process(&self, events: Events, _ops: &mut EventOps) {
        let index = events.data() as usize;
        let Some(evt) = self.queue_events().get(index) else {
            return;
        };
        // Drain the counter first: a notification arriving while the queue is processed then
        // fires again instead of being lost.
        if let Err(e) = evt.read()
            && e.kind() != std::io::ErrorKind::WouldBlock
        {
            warn!("virtio-mmio: cannot read queue {index} eventfd: {e}");
        }
        self.process_queue(index);
    }

    fn init(&self, ops: &mut EventOps) {
        for (index, evt) in self.queue_events().iter().enumerate() {
            let Ok(data) = u32::try_from(index) else {
                break;
            };
            if let Err(e) = ops.add(Events::with_data(evt, data, EventSet::IN)) {
                warn!("virtio-mmio: cannot watch queue {index}: {e:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use event_manager::{EventManager, SubscriberOps};
    use vm_memory::GuestAddress;

    use crate::virtio::mmio::{MmioTransport, regs};
    use crate::virtio::rng::VirtioRng;
    use crate::virtio::test_utils::{DriverQueue, negotiate_and_activate, test_ram};
    use crate::virtio::{GuestRam, TestInterrupt};

    #[test]
    fn queue_notification_through_event_manager_processes_the_queue() {
        let mem: GuestRam = test_ram();
        let irq = Arc::new(vmm_sys_util::eventfd::EventFd::new(libc::EFD_NONBLOCK).unwrap());
        let transport = Arc::new(
            MmioTransport::new(
                Box::new(VirtioRng::new(None).unwrap()),
                mem.clone(),
                irq.clone(),
            )
            .unwrap(),
        );
        let mut q = DriverQueue::new(&mem, GuestAddress(0x10000), 16);
        negotiate_and_activate(&transport, &[&q], 0);
        let mut manager = EventManager::<Arc<MmioTransport>>::new().unwrap();
        manager.add_subscriber(Arc::clone(&transport));

        q.add(&[(0x40000, 32, true)]);
        crate::bus::BusDevice::write(&*transport, regs::QUEUE_NOTIFY, &0u32.to_le_bytes());
        manager.run_with_timeout(1000).unwrap();

        let used = q.used();
        assert_eq!(used.len(), 1);
        assert_eq!(used[0].1, 32);
        assert_eq!(irq.read().unwrap(), 1);
        let _ = TestInterrupt::new();
    }
}
