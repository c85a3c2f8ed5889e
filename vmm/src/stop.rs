//! The one place a run's ending is recorded: the first reason wins, every vCPU sees the stop
//! flag before its next KVM_RUN, and the event loop is woken through an eventfd.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use devices::legacy::{StopRequest, StopRequester};
use parking_lot::Mutex;
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use crate::exit::ExitReason;

/// Shared by the vCPU threads, the devices and the event loop.
#[derive(Debug)]
pub struct VmStop {
    stopping: AtomicBool,
    reason: Mutex<Option<ExitReason>>,
    exit_evt: EventFd,
}

impl VmStop {
    /// A VM that has not stopped.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            stopping: AtomicBool::new(false),
            reason: Mutex::new(None),
            exit_evt: EventFd::new(EFD_NONBLOCK)?,
        })
    }

    /// Records `reason` if none is recorded yet, and stops the VM. Returns whether this call's
    /// reason is the one that counts.
    pub fn record(&self, reason: ExitReason) -> bool {
        let first = {
            let mut slot = self.reason.lock();
            if slot.is_none() {
                *slot = Some(reason);
                true
            } else {
                false
            }
        };
        self.stopping.store(true, Ordering::SeqCst);
        if let Err(e) = self.exit_evt.write(1) {
            log::error!("failed to signal VM exit: {e}");
        }
        first
    }

    /// Whether the VM is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The recorded reason.
    pub fn reason(&self) -> Option<ExitReason> {
        self.reason.lock().clone()
    }

    /// Readable once the VM stops.
    pub fn exit_evt(&self) -> &EventFd {
        &self.exit_evt
    }
}

impl StopRequester for VmStop {
    fn request_stop(&self, request: StopRequest) {
        self.record(match request {
            StopRequest::ExitPort(v) => ExitReason::ExitPort(v),
            StopRequest::Reset => ExitReason::Reset,
            StopRequest::Poweroff => ExitReason::Poweroff,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_wins_and_the_event_fires() {
        let stop = VmStop::new().unwrap();
        assert!(!stop.is_stopping());

        stop.request_stop(StopRequest::ExitPort(7));
        let second = stop.record(ExitReason::Timeout);

        assert!(!second);
        assert!(stop.is_stopping());
        assert_eq!(stop.reason(), Some(ExitReason::ExitPort(7)));
        assert!(stop.exit_evt().read().unwrap() >= 1);
    }
}
