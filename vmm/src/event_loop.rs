//! The main thread's event loop (event-manager): waits for the VM to stop, fires the timeout,
//! and forwards host stdin to COM1.

use std::cell::Cell;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use devices::legacy::Serial;
use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;
use vmm_sys_util::timerfd::TimerFd;

use crate::exit::ExitReason;
use crate::serial_sink::SerialSink;
use crate::stop::VmStop;

/// Why the event loop failed.
#[derive(Debug, thiserror::Error)]
pub enum EventLoopError {
    /// epoll/eventfd/timerfd setup failed.
    #[error("failed to set up the event loop")]
    Setup(#[source] std::io::Error),
    /// The timeout timer could not be set up.
    #[error("failed to set up the timeout timer")]
    Timer(#[source] vmm_sys_util::errno::Error),
    /// epoll_wait failed.
    #[error("the event loop failed")]
    Run(#[source] event_manager::Error),
}

/// Ends the loop when the VM stops.
struct ExitSubscriber {
    evt: EventFd,
    done: Rc<Cell<bool>>,
}

impl MutEventSubscriber for ExitSubscriber {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.evt, EventSet::IN)) {
            log::error!("event loop: cannot watch the exit event: {e}");
            self.done.set(true);
        }
    }
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.evt.read();
        self.done.set(true);
    }
}

/// Records [`ExitReason::Timeout`] when the timer fires.
struct TimeoutSubscriber {
    timer: TimerFd,
    stop: Arc<VmStop>,
}

impl MutEventSubscriber for TimeoutSubscriber {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.timer, EventSet::IN)) {
            log::error!("event loop: cannot watch the timeout timer: {e}");
        }
    }
    fn process(&mut self, _events: Events, ops: &mut EventOps) {
        let _ = self.timer.wait();
        self.stop.record(ExitReason::Timeout);
        let _ = ops.remove(Events::new(&self.timer, EventSet::IN));
    }
}

/// Forwards stdin to COM1's receive FIFO.
struct StdinSubscriber {
    serial: Arc<Serial<SerialSink>>,
}

impl MutEventSubscriber for StdinSubscriber {
    fn init(&mut self, ops: &mut EventOps) {
        let stdin = std::io::stdin();
        if let Err(e) = ops.add(Events::new(&stdin.as_raw_fd(), EventSet::IN)) {
            // e.g. stdin is a regular file or /dev/null, which epoll refuses.
            log::debug!("serial input disabled: cannot watch stdin: {e}");
        }
    }
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let mut buf = [0u8; 64];
        let n = if events.event_set().contains(EventSet::IN) {
            std::io::stdin().lock().read(&mut buf).unwrap_or(0)
        } else {
            0
        };
        if n == 0 {
            // EOF or hang-up: stop watching.
            let _ = ops.remove(Events::new(&std::io::stdin().as_raw_fd(), EventSet::IN));
            return;
        }
        let queued = self.serial.enqueue_input(&buf[..n]);
        if queued < n {
            log::debug!(
                "serial input: receive FIFO full, {} bytes dropped",
                n - queued
            );
        }
    }
}

/// Runs until the VM stops (`stop` records a reason).
pub fn run_until_stopped(
    stop: &Arc<VmStop>,
    timeout: Option<Duration>,
    stdin_to: Option<Arc<Serial<SerialSink>>>,
) -> Result<(), EventLoopError> {
    let mut manager: EventManager<Box<dyn MutEventSubscriber>> =
        EventManager::new().map_err(EventLoopError::Run)?;
    let done = Rc::new(Cell::new(false));
    manager.add_subscriber(Box::new(ExitSubscriber {
        evt: stop.exit_evt().try_clone().map_err(EventLoopError::Setup)?,
        done: done.clone(),
    }));
    if let Some(timeout) = timeout {
        let mut timer = TimerFd::new().map_err(EventLoopError::Timer)?;
        // A zero duration would disarm the timer.
        timer
            .reset(timeout.max(Duration::from_nanos(1)), None)
            .map_err(EventLoopError::Timer)?;
        manager.add_subscriber(Box::new(TimeoutSubscriber {
            timer,
            stop: stop.clone(),
        }));
    }
    if let Some(serial) = stdin_to {
        manager.add_subscriber(Box::new(StdinSubscriber { serial }));
    }
    // The exit eventfd stays readable until read, so a stop recorded before the loop started
    // still wakes it.
    while !done.get() {
        match manager.run() {
            Ok(_) => {}
            Err(event_manager::Error::Epoll(e)) if e.errno() == libc::EINTR => {}
            Err(e) => return Err(EventLoopError::Run(e)),
        }
    }
    Ok(())
}
