//! The vCPU thread: KVM_RUN in a loop, exits dispatched through the buses, endings recorded in
//! the shared [`VmStop`].
//!
//! Stopping: whoever ends the run records a reason (which sets the stop flag); the main thread
//! then [`kick`]s every vCPU thread with a signal until it has returned. A signal makes KVM_RUN
//! return EINTR; the loop checks the stop flag before every KVM_RUN. A signal that lands just
//! before KVM_RUN is entered would be lost, which is why the main thread keeps kicking (every
//! millisecond) until the thread is done instead of kicking once.

use std::sync::{Arc, Once};
use std::thread::JoinHandle;

use devices::bus::Bus;
use kvm_bindings::{
    KVM_SYSTEM_EVENT_CRASH, KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN, kvm_run,
};
use kvm_ioctls::{VcpuExit, VcpuFd};
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::signal::{Killable, SIGRTMIN, register_signal_handler};

use super::VcpuError;
use super::dump::format_registers;
use crate::exit::ExitReason;
use crate::memory::GuestMemory;
use crate::stop::VmStop;

/// Largest port I/O transfer KVM reports in one exit (one page of string I/O data).
const PIO_MAX: usize = 4096;

/// The signal used to kick vCPU threads out of KVM_RUN.
pub fn kick_signal() -> i32 {
    SIGRTMIN()
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

/// Installs the (empty) kick handler once per process, so the kick signal interrupts KVM_RUN
/// instead of killing the process.
pub fn install_kick_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Err(e) = register_signal_handler(kick_signal(), on_kick) {
            log::error!("failed to install the vCPU kick handler: {e}");
        }
    });
}

/// Sends the kick signal to a vCPU thread.
pub fn kick(handle: &JoinHandle<()>) {
    if let Err(e) = handle.kill(kick_signal()) {
        log::debug!("kick failed: {e}");
    }
}

/// One vCPU and what its exits are dispatched to.
pub struct Vcpu {
    id: u8,
    fd: VcpuFd,
    pio_bus: Arc<Bus>,
    mmio_bus: Arc<Bus>,
    stop: Arc<VmStop>,
    mem: GuestMemory,
}

impl std::fmt::Debug for Vcpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vcpu")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What an exit asks the loop to do once the borrow of `kvm_run` has ended.
enum Pending {
    Continue,
    PioOut { port: u16, len: usize },
    PioIn { port: u16, len: usize },
    Stop(ExitReason),
    Crash(CrashKind),
}

enum CrashKind {
    TripleFault,
    InternalError,
    FailEntry(u64),
    Unhandled(String),
}

impl Vcpu {
    /// A configured vCPU.
    pub fn new(
        id: u8,
        fd: VcpuFd,
        pio_bus: Arc<Bus>,
        mmio_bus: Arc<Bus>,
        stop: Arc<VmStop>,
        mem: GuestMemory,
    ) -> Self {
        Self {
            id,
            fd,
            pio_bus,
            mmio_bus,
            stop,
            mem,
        }
    }

    /// Runs the vCPU on its own thread until the VM stops.
    pub fn spawn(self) -> Result<JoinHandle<()>, VcpuError> {
        install_kick_handler();
        let id = self.id;
        std::thread::Builder::new()
            .name(format!("vcpu{id}"))
            .spawn(move || self.run())
            .map_err(|source| VcpuError::Spawn { id, source })
    }

    fn run(mut self) {
        let mut out = [0u8; PIO_MAX];
        while !self.stop.is_stopping() {
            match self.run_once(&mut out) {
                Pending::Continue => {}
                Pending::PioOut { port, len } => self.finish_pio_out(port, &out[..len]),
                Pending::PioIn { port, len } => self.finish_pio_in(port, len),
                Pending::Stop(reason) => {
                    self.stop.record(reason);
                }
                Pending::Crash(kind) => {
                    let reason = self.crash_report(kind);
                    self.stop.record(reason);
                }
            }
        }
    }

    fn run_once(&mut self, out: &mut [u8; PIO_MAX]) -> Pending {
        match self.fd.run() {
            Ok(VcpuExit::IoOut(port, data)) => {
                let len = data.len().min(PIO_MAX);
                out[..len].copy_from_slice(&data[..len]);
                Pending::PioOut { port, len }
            }
            Ok(VcpuExit::IoIn(port, data)) => Pending::PioIn {
                port,
                len: data.len().min(PIO_MAX),
            },
            Ok(VcpuExit::MmioRead(addr, data)) => {
                if !self.mmio_bus.read(addr, data) {
                    log::debug!("vCPU {}: unhandled MMIO read at {addr:#x}", self.id);
                    data.fill(0xff);
                }
                Pending::Continue
            }
            Ok(VcpuExit::MmioWrite(addr, data)) => {
                if !self.mmio_bus.write(addr, data) {
                    log::debug!("vCPU {}: unhandled MMIO write at {addr:#x}", self.id);
                }
                Pending::Continue
            }
            Ok(VcpuExit::Shutdown) => Pending::Crash(CrashKind::TripleFault),
            Ok(VcpuExit::InternalError) => Pending::Crash(CrashKind::InternalError),
            Ok(VcpuExit::FailEntry(reason, _)) => Pending::Crash(CrashKind::FailEntry(reason)),
            Ok(VcpuExit::SystemEvent(kind, _)) => match kind {
                KVM_SYSTEM_EVENT_SHUTDOWN => Pending::Stop(ExitReason::Poweroff),
                KVM_SYSTEM_EVENT_RESET => Pending::Stop(ExitReason::Reset),
                KVM_SYSTEM_EVENT_CRASH => {
                    Pending::Crash(CrashKind::Unhandled("guest crash system event".into()))
                }
                other => Pending::Crash(CrashKind::Unhandled(format!("system event {other}"))),
            },
            Ok(VcpuExit::Intr) => Pending::Continue,
            Ok(other) => Pending::Crash(CrashKind::Unhandled(format!("{other:?}"))),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Pending::Continue,
            Err(e) => Pending::Crash(CrashKind::Unhandled(format!("KVM_RUN failed: {e}"))),
        }
    }

    /// Size of one element of the current port I/O exit (1, 2 or 4).
    fn pio_size(&mut self) -> usize {
        // SAFETY: called only right after KVM_RUN returned KVM_EXIT_IO, so `io` is the union
        // member the kernel filled in.
        let size = unsafe { self.fd.get_kvm_run().__bindgen_anon_1.io.size };
        usize::from(size.max(1))
    }

    /// String I/O (`rep outs`) repeats the access on the same port, element by element.
    fn finish_pio_out(&mut self, port: u16, data: &[u8]) {
        let size = self.pio_size();
        for element in data.chunks(size) {
            if !self.pio_bus.write(u64::from(port), element) {
                log::debug!("vCPU {}: unhandled OUT to port {port:#x}", self.id);
            }
        }
    }

    fn finish_pio_in(&mut self, port: u16, len: usize) {
        let size = self.pio_size();
        let mut buf = [0xffu8; PIO_MAX];
        for element in buf[..len].chunks_mut(size) {
            if !self.pio_bus.read(u64::from(port), element) {
                log::debug!("vCPU {}: unhandled IN from port {port:#x}", self.id);
                element.fill(0xff);
            }
        }
        let run: *mut kvm_run = self.fd.get_kvm_run();
        // SAFETY: the last exit was KVM_EXIT_IO (IN), so `io` is the active union member and
        // the kernel placed its `size * count` (= len, at most one page) data bytes at
        // `data_offset` inside the kvm_run mapping this vCPU owns; the kernel reads them from
        // there on the next KVM_RUN. This is the same arithmetic kvm-ioctls uses to hand out
        // the data slice.
        unsafe {
            let offset = (*run).__bindgen_anon_1.io.data_offset as usize;
            std::ptr::copy_nonoverlapping(buf.as_ptr(), run.cast::<u8>().add(offset), len);
        }
    }

    fn crash_report(&mut self, kind: CrashKind) -> ExitReason {
        let regs = self.fd.get_regs().ok();
        let sregs = self.fd.get_sregs().ok();
        let code = regs.as_ref().and_then(|r| self.code_at(r.rip));
        let registers = format_registers(regs.as_ref(), sregs.as_ref(), code.as_deref());
        match kind {
            CrashKind::TripleFault => ExitReason::TripleFault(format!(
                "vCPU {}: triple fault (KVM_EXIT_SHUTDOWN)\n{registers}",
                self.id
            )),
            CrashKind::InternalError => {
                // SAFETY: the last exit was KVM_EXIT_INTERNAL_ERROR, so `internal` is the
                // active union member.
                let internal = unsafe { self.fd.get_kvm_run().__bindgen_anon_1.internal };
                let n = (internal.ndata as usize).min(internal.data.len());
                let suberror = match internal.suberror {
                    1 => "emulation failure",
                    2 => "simultaneous exceptions",
                    3 => "exception during event delivery",
                    4 => "unexpected exit reason",
                    _ => "unknown",
                };
                ExitReason::InternalError(format!(
                    "vCPU {}: KVM internal error, suberror {} ({suberror}), data {:x?}\n{registers}",
                    self.id,
                    internal.suberror,
                    &internal.data[..n]
                ))
            }
            CrashKind::FailEntry(reason) => ExitReason::InternalError(format!(
                "vCPU {}: VM entry failed, hardware reason {reason:#x}\n{registers}",
                self.id
            )),
            CrashKind::Unhandled(what) => {
                ExitReason::Unhandled(format!("vCPU {}: {what}\n{registers}", self.id))
            }
        }
    }

    /// Up to 16 bytes at `rip`, if the guest's paging maps it to RAM.
    fn code_at(&self, rip: u64) -> Option<Vec<u8>> {
        let t = self.fd.translate_gva(rip).ok()?;
        if t.valid == 0 {
            return None;
        }
        let mut bytes = vec![0u8; 16];
        self.mem
            .read_slice(&mut bytes, GuestAddress(t.physical_address))
            .ok()?;
        Some(bytes)
    }
}
