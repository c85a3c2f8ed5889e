//! How devices notify the driver.
//!
//! A device calls [`Interrupt::signal_used_queue`] after adding used buffers and
//! [`Interrupt::signal_config`] after changing its configuration space. The virtio-mmio transport
//! implements [`Interrupt`] by setting the matching `InterruptStatus` bit and pulsing its
//! [`IrqLine`] (the VMM passes an `EventFd` registered as a KVM irqfd). Tests hand devices a
//! [`TestInterrupt`] that only counts.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use vmm_sys_util::eventfd::EventFd;

/// The notifications a virtio device sends to its driver.
pub trait Interrupt: Send + Sync {
    /// Used buffers were added to queue `queue_index`.
    fn signal_used_queue(&self, queue_index: u16);
    /// The device configuration space changed.
    fn signal_config(&self);
}

/// A wire that raises the device's interrupt in the guest (edge: one pulse per call).
pub trait IrqLine: Send + Sync {
    /// Raises the interrupt.
    fn trigger(&self) -> io::Result<()>;
}

/// An `EventFd` registered with `KVM_IRQFD` is an interrupt line: writing it injects the GSI.
impl IrqLine for EventFd {
    fn trigger(&self) -> io::Result<()> {
        self.write(1)
    }
}

/// An [`Interrupt`] that counts notifications, for tests and fuzzing without KVM.
#[derive(Debug, Default)]
pub struct TestInterrupt {
    used: [AtomicU64; 4],
    config: AtomicU64,
}

impl TestInterrupt {
    /// A fresh counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of used-buffer notifications for queue `index` (queues 0..=3 are counted).
    pub fn used_count(&self, index: u16) -> u64 {
        self.used
            .get(usize::from(index))
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }

    /// Number of configuration-change notifications.
    pub fn config_count(&self) -> u64 {
        self.config.load(Ordering::SeqCst)
    }
}

impl Interrupt for TestInterrupt {
    fn signal_used_queue(&self, queue_index: u16) {
        if let Some(counter) = self.used.get(usize::from(queue_index)) {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn signal_config(&self) {
        self.config.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_interrupt_counts_per_queue() {
        let irq = TestInterrupt::new();
        irq.signal_used_queue(1);
        irq.signal_used_queue(1);
        irq.signal_used_queue(9);
        irq.signal_config();

        assert_eq!(irq.used_count(0), 0);
        assert_eq!(irq.used_count(1), 2);
        assert_eq!(irq.used_count(9), 0);
        assert_eq!(irq.config_count(), 1);
    }

    #[test]
    fn eventfd_irq_line_counts_triggers() {
        let evt = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        evt.trigger().unwrap();
        evt.trigger().unwrap();
        assert_eq!(evt.read().unwrap(), 2);
    }
}
