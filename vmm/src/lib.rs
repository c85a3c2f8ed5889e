//! A minimal KVM VMM: boots ELF64 programs (bare-metal guests, vmlinux) and Linux bzImages on
//! the platform described in docs/PLATFORM.md, and reports how the guest ended.
//!
//! ```no_run
//! use vmm::{KernelImage, SerialOutput, Vmm, VmmConfig};
//! let outcome = Vmm::new(VmmConfig {
//!     kernel: KernelImage::Path("guest.elf".into()),
//!     serial: SerialOutput::Capture,
//!     ..Default::default()
//! })?
//! .run()?;
//! println!("{} -> status {}", outcome.exit, outcome.exit.status());
//! # Ok::<(), vmm::Error>(())
//! ```
//!
//! Building a [`Vmm`] does all the setup (guest RAM, image, ACPI, KVM VM, devices, vCPUs);
//! [`Vmm::run`] starts the vCPU threads and runs the event loop until the guest ends. See
//! docs/DESIGN.md for the boot sequence, memory map and threads.

#![warn(missing_docs)]

pub mod acpi;
pub mod boot;
pub mod config;
pub mod cpu;
pub mod device_manager;
pub mod error;
pub mod event_loop;
pub mod exit;
pub mod host;
pub mod layout;
pub mod memory;
pub mod serial_sink;
pub mod stop;
pub mod terminal;
pub mod vm;

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kvm_bindings::CpuId;

pub use config::{KernelImage, SerialOutput, VmmConfig};
pub use error::Error;
pub use exit::ExitReason;
pub use host::HostKind;

use acpi::AcpiConfig;
use boot::{ImageKind, LoadedKernel};
use cpu::VcpuError;
use cpu::cpuid::{CpuidSpec, vcpu_cpuid};
use cpu::vcpu::{Vcpu, kick};
use device_manager::{DeviceError, DeviceManager};
use memory::GuestMemory;
use serial_sink::{Capture, SerialSink};
use stop::VmStop;
use vm::Vm;

/// How a run went.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// How the guest ended.
    pub exit: ExitReason,
    /// COM1 output, when [`SerialOutput::Capture`] was configured (else empty).
    pub serial: Vec<u8>,
    /// Time from [`Vmm::new`] being called to the guest's first serial byte.
    pub first_serial_byte: Option<Duration>,
    /// Time from [`Vmm::new`] being called to the end of the run.
    pub elapsed: Duration,
    /// The KVM the run used.
    pub host: HostKind,
}

/// What was booted, for `--verbose` and tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BootSummary {
    /// Image format.
    pub kind: ImageKind,
    /// Where the image went and where it is entered.
    pub kernel: LoadedKernel,
    /// Initramfs `(address, size)`.
    pub initramfs: Option<(u64, u64)>,
    /// RSDP address.
    pub rsdp: u64,
}

/// A VM ready to run.
pub struct Vmm {
    // Field order is drop order: vCPUs and devices go before the VM, the VM before its RAM.
    vcpus: Vec<Vcpu>,
    devices: DeviceManager,
    vm: Vm,
    memory: GuestMemory,
    stop: Arc<VmStop>,
    capture: Option<Capture>,
    first_byte: Arc<OnceLock<Instant>>,
    started: Instant,
    boot: BootSummary,
    timeout: Option<Duration>,
    interactive: bool,
    verbose: bool,
}

impl std::fmt::Debug for Vmm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vmm")
            .field("host", &self.vm.host)
            .field("boot", &self.boot)
            .field("vcpus", &self.vcpus.len())
            .field("devices", &self.devices)
            .finish_non_exhaustive()
    }
}

/// Reads a whole image file, but never more than `limit` bytes: a file that large cannot fit in
/// guest RAM anyway, and the path may name something endless such as `/dev/zero`.
fn read_file(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than the {limit}-byte guest memory"),
        ));
    }
    Ok(bytes)
}

impl Vmm {
    /// Builds the VM described by `config`: guest RAM, image, ACPI tables, KVM VM, devices and
    /// vCPUs. Image and configuration errors are reported before KVM is touched.
    pub fn new(config: VmmConfig) -> Result<Self, Error> {
        Self::with_devices(config, |_, _, _| Ok(()))
    }

    /// [`Vmm::new`], with `attach` called once the legacy devices exist and before the ACPI
    /// tables are built, so that devices it attaches (e.g. with
    /// [`DeviceManager::attach_virtio_mmio`]) are described in the DSDT.
    pub fn with_devices<F>(config: VmmConfig, attach: F) -> Result<Self, Error>
    where
        F: FnOnce(&mut DeviceManager, &kvm_ioctls::VmFd, &GuestMemory) -> Result<(), DeviceError>,
    {
        let started = Instant::now();
        if config.cpus == 0 || config.cpus > 254 {
            return Err(Error::BadCpuCount(config.cpus));
        }
        // Neither file can be larger than guest RAM and still fit in it.
        let limit = config.memory_mib.saturating_mul(layout::MIB);
        let image: Cow<'_, [u8]> = match &config.kernel {
            KernelImage::Path(path) => {
                Cow::Owned(read_file(path, limit).map_err(|source| Error::ReadKernel {
                    path: path.clone(),
                    source,
                })?)
            }
            KernelImage::Bytes(bytes) => Cow::Borrowed(bytes.as_ref()),
        };
        let initramfs = match &config.initramfs {
            Some(path) => Some(
                read_file(path, limit).map_err(|source| Error::ReadInitramfs {
                    path: path.clone(),
                    source,
                })?,
            ),
            None => None,
        };

        let memory = memory::create_guest_memory(config.memory_mib)?;
        let mem_size = config.memory_mib * layout::MIB;
        let (kind, kernel) = boot::load_kernel(&memory, &image, mem_size)?;
        let initramfs = match &initramfs {
            Some(bytes) => Some(boot::place_initramfs(&memory, bytes, &kernel, mem_size)?),
            None => None,
        };
        boot::write_cmdline(&memory, &config.cmdline)?;

        let vm = Vm::new(&memory, config.cpus)?;
        let stop = Arc::new(VmStop::new().map_err(Error::EventFd)?);
        let (sink, capture) = SerialSink::new(&config.serial).map_err(Error::SerialOutput)?;
        let first_byte = sink.first_byte();
        let mut devices = DeviceManager::new(&vm.fd, stop.clone(), sink)?;
        attach(&mut devices, &vm.fd, &memory)?;

        let tables = acpi::build(&AcpiConfig {
            cpus: config.cpus,
            devices: devices.dsdt_devices(),
        })?;
        let rsdp = acpi::write(&memory, &tables)?;
        boot::write_boot_structures(
            &memory,
            &kernel,
            config.cmdline.len(),
            initramfs,
            &layout::e820_map(mem_size),
            rsdp,
        )?;

        let vcpus = create_vcpus(&vm, &devices, &stop, &memory, config.cpus, kernel.entry)?;
        let boot = BootSummary {
            kind,
            kernel,
            initramfs,
            rsdp,
        };
        let vmm = Self {
            vcpus,
            devices,
            vm,
            memory,
            stop,
            capture,
            first_byte,
            started,
            boot,
            timeout: config.timeout,
            interactive: config.interactive,
            verbose: config.verbose,
        };
        if vmm.verbose {
            vmm.print_setup(&config);
        }
        Ok(vmm)
    }

    /// The KVM this VM runs on.
    pub fn host(&self) -> HostKind {
        self.vm.host
    }

    /// What was booted.
    pub fn boot_summary(&self) -> BootSummary {
        self.boot
    }

    /// Guest RAM.
    pub fn memory(&self) -> &GuestMemory {
        &self.memory
    }

    /// The devices.
    pub fn devices(&self) -> &DeviceManager {
        &self.devices
    }

    fn print_setup(&self, config: &VmmConfig) {
        let b = &self.boot;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "vmm: host: {}", self.vm.host);
        let _ = writeln!(
            err,
            "vmm: memory: {} MiB, regions {:x?}",
            config.memory_mib,
            layout::ram_regions(config.memory_mib * layout::MIB)
        );
        let _ = writeln!(
            err,
            "vmm: image: {:?} at {:#x}..{:#x}, entry {:#x}",
            b.kind, b.kernel.load_addr, b.kernel.end, b.kernel.entry
        );
        if let Some((addr, size)) = b.initramfs {
            let _ = writeln!(err, "vmm: initramfs: {size} bytes at {addr:#x}");
        }
        let _ = writeln!(err, "vmm: cmdline: {:?}", config.cmdline);
        let _ = writeln!(
            err,
            "vmm: vCPUs: {}, ACPI RSDP at {:#x}, zero page at {:#x}",
            self.vcpus.len(),
            b.rsdp,
            layout::ZERO_PAGE_START
        );
        let _ = writeln!(
            err,
            "vmm: setup took {:.3} ms",
            self.started.elapsed().as_secs_f64() * 1e3
        );
    }

    /// Runs the guest until it ends.
    pub fn run(self) -> Result<RunOutcome, Error> {
        let Self {
            vcpus,
            devices,
            vm,
            memory,
            stop,
            capture,
            first_byte,
            started,
            timeout,
            interactive,
            verbose,
            ..
        } = self;
        let _terminal = interactive
            .then(terminal::TerminalGuard::stdin_raw)
            .flatten();

        let mut handles = Vec::with_capacity(vcpus.len());
        let mut spawn_error = None;
        for vcpu in vcpus {
            match vcpu.spawn() {
                Ok(h) => handles.push(h),
                Err(e) => {
                    spawn_error = Some(e);
                    break;
                }
            }
        }
        let loop_result = match spawn_error {
            Some(e) => Err(Error::Vcpu(e)),
            None => event_loop::run_until_stopped(
                &stop,
                timeout,
                interactive.then(|| devices.serial().clone()),
            )
            .map_err(Error::EventLoop),
        };
        if loop_result.is_err() {
            stop.record(ExitReason::Unhandled("the VMM's event loop failed".into()));
        }
        stop_vcpus(handles);
        devices.serial().with_writer(|w| {
            let _ = w.flush();
        });
        loop_result?;

        let exit = stop
            .reason()
            .unwrap_or_else(|| ExitReason::Unhandled("the VM stopped without a reason".into()));
        let outcome = RunOutcome {
            serial: capture.map(|c| c.lock().clone()).unwrap_or_default(),
            first_serial_byte: first_byte.get().map(|t| t.duration_since(started)),
            elapsed: started.elapsed(),
            host: vm.host,
            exit,
        };
        if verbose {
            let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
            eprintln!(
                "vmm: exit: {} (status {}) after {}; first serial byte after {}",
                outcome.exit,
                outcome.exit.status(),
                ms(outcome.elapsed),
                outcome
                    .first_serial_byte
                    .map(ms)
                    .unwrap_or_else(|| "-".into())
            );
        }
        drop(devices);
        drop(vm);
        drop(memory);
        Ok(outcome)
    }
}

fn create_vcpus(
    vm: &Vm,
    devices: &DeviceManager,
    stop: &Arc<VmStop>,
    memory: &GuestMemory,
    cpus: u8,
    entry: u64,
) -> Result<Vec<Vcpu>, Error> {
    let mut vcpus = Vec::with_capacity(usize::from(cpus));
    for id in 0..cpus {
        let ioctl = |what| move |source| VcpuError::Ioctl { what, id, source };
        let fd = vm
            .fd
            .create_vcpu(u64::from(id))
            .map_err(ioctl("KVM_CREATE_VCPU"))?;
        let entries = vcpu_cpuid(
            vm.supported_cpuid.as_slice(),
            &CpuidSpec {
                apic_id: id,
                cpu_count: cpus,
                host: vm.host,
            },
        );
        let cpuid = CpuId::from_entries(&entries)
            .map_err(|_| ioctl("KVM_SET_CPUID2")(kvm_ioctls::Error::new(libc::E2BIG)))?;
        fd.set_cpuid2(&cpuid).map_err(ioctl("KVM_SET_CPUID2"))?;
        cpu::regs::setup_common(&fd, id)?;
        if id == 0 {
            cpu::regs::setup_boot_vcpu(&fd, entry)?;
        } else {
            cpu::regs::setup_application_vcpu(&fd, id)?;
        }
        vcpus.push(Vcpu::new(
            id,
            fd,
            devices.pio_bus().clone(),
            devices.mmio_bus().clone(),
            stop.clone(),
            memory.clone(),
        ));
    }
    Ok(vcpus)
}

/// Kicks every vCPU thread out of KVM_RUN until it returns, then joins it. A thread that does
/// not return within 5 s is left behind (and reported) rather than hanging the VMM.
fn stop_vcpus(handles: Vec<std::thread::JoinHandle<()>>) {
    const GIVE_UP: Duration = Duration::from_secs(5);
    const POLL: Duration = Duration::from_micros(50);
    const KICK_EVERY: u32 = 20; // polls, i.e. about every millisecond
    for handle in &handles {
        kick(handle);
    }
    let deadline = Instant::now() + GIVE_UP;
    for handle in handles {
        let mut polls = 0u32;
        while !handle.is_finished() {
            if Instant::now() > deadline {
                log::error!("a vCPU thread did not stop within {GIVE_UP:?}; leaving it");
                break;
            }
            polls += 1;
            if polls.is_multiple_of(KICK_EVERY) {
                kick(&handle);
            }
            std::thread::sleep(POLL);
        }
        if handle.is_finished() && handle.join().is_err() {
            log::error!("a vCPU thread panicked");
        }
    }
}
