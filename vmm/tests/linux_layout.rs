//! Loads real Debian kernels (bzImage) and checks what lands in guest memory against the Linux
//! x86 boot protocol (Documentation/arch/x86/boot.rst).
//!
//! The kernels are fetched by `vmm/tests/fetch-debian-kernel.sh` into `<repo>/target/debian-kernel`
//! (or the directory in `VMM_DEBIAN_KERNEL_DIR`); without them the test says so and passes,
//! unless `REQUIRE_DEBIAN_KERNEL=1`.

mod common;

use std::path::{Path, PathBuf};

use vm_memory::{Bytes, GuestAddress};
use vmm::acpi::{self, AcpiConfig, DsdtDevice};
use vmm::boot::{self, ImageKind, LoadedKernel};
use vmm::layout::{self, E820Type};
use vmm::memory::{GuestMemory, create_guest_memory};

const MEMORY_MIB: u64 = 512;
const CMDLINE: &str = "console=ttyS0 earlyprintk=serial nokaslr panic=-1";

fn kernels() -> Vec<PathBuf> {
    let dir = std::env::var_os("VMM_DEBIAN_KERNEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian-kernel"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("vmlinuz"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

fn read(mem: &GuestMemory, addr: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    mem.read_slice(&mut buf, GuestAddress(addr)).unwrap();
    buf
}

/// Lays the kernel out exactly as `Vmm::new` does (same functions, same order), without KVM.
fn lay_out(image: &[u8], initrd: &[u8]) -> (GuestMemory, LoadedKernel, (u64, u64)) {
    let size = MEMORY_MIB * layout::MIB;
    let mem = create_guest_memory(MEMORY_MIB).unwrap();
    let (kind, kernel) = boot::load_kernel(&mem, image, size).unwrap();
    assert_eq!(kind, ImageKind::BzImage);
    let ramdisk = boot::place_initramfs(&mem, initrd, &kernel, size).unwrap();
    boot::write_cmdline(&mem, CMDLINE).unwrap();
    let tables = acpi::build(&AcpiConfig {
        cpus: 1,
        devices: vec![DsdtDevice::com1()],
    })
    .unwrap();
    let rsdp = acpi::write(&mem, &tables).unwrap();
    boot::write_boot_structures(
        &mem,
        &kernel,
        CMDLINE.len(),
        Some(ramdisk),
        &layout::e820_map(size),
        rsdp,
    )
    .unwrap();
    (mem, kernel, ramdisk)
}

fn check(path: &Path) {
    let image = std::fs::read(path).unwrap();
    let initrd: Vec<u8> = (0..(1 << 20) + 123).map(|i: u32| (i * 7) as u8).collect();
    let (mem, kernel, (rd_addr, rd_size)) = lay_out(&image, &initrd);
    let zp = read(&mem, layout::ZERO_PAGE_START, 4096);
    let name = path.display();

    // "The end of setup header can be calculated as follows: 0x0202 + byte value at offset
    // 0x0201". Every header byte is the image's, except the fields the protocol marks "write"
    // (or "modify") for the boot loader that we fill in.
    let hdr_end = 0x202 + usize::from(image[0x201]);
    let written = [0x210..0x211, 0x214..0x220, 0x228..0x22c];
    for off in 0x1f1..hdr_end {
        if written.iter().any(|r| r.contains(&off)) {
            continue;
        }
        assert_eq!(zp[off], image[off], "{name}: setup header byte {off:#x}");
    }
    assert_eq!(u32_at(&zp, 0x202), 0x5372_6448, "{name}: HdrS");
    let version = u16_at(&zp, 0x206);
    assert!(version >= 0x020c, "{name}: protocol {version:#x}");
    // type_of_loader: "0xFF: undefined".
    assert_eq!(zp[0x210], 0xff, "{name}: type_of_loader");
    // loadflags: LOADED_HIGH.
    assert_ne!(zp[0x211] & 1, 0, "{name}: loadflags LOADED_HIGH");
    // xloadflags: XLF_KERNEL_64, "the legacy 64-bit entry point at 0x200".
    assert_ne!(u16_at(&zp, 0x236) & 1, 0, "{name}: XLF_KERNEL_64");
    // code32_start: where the protected-mode kernel was loaded.
    assert_eq!(u32_at(&zp, 0x214), 0x10_0000, "{name}: code32_start");
    assert_eq!(kernel.entry, 0x10_0200, "{name}: 64-bit entry");

    // The protected-mode kernel: everything after (setup_sects + 1) sectors.
    let setup_sects = match image[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let payload = &image[(setup_sects + 1) * 512..];
    assert!(
        read(&mem, 0x10_0000, payload.len()) == payload,
        "{name}: protected-mode kernel at 0x100000"
    );

    // cmd_line_ptr -> the NUL-terminated command line, within cmdline_size.
    let cmd_line_ptr = u64::from(u32_at(&zp, 0x228));
    assert_eq!(cmd_line_ptr, layout::CMDLINE_START);
    let mut expected = CMDLINE.as_bytes().to_vec();
    expected.push(0);
    assert_eq!(read(&mem, cmd_line_ptr, expected.len()), expected, "{name}");
    assert!(
        CMDLINE.len() as u32 <= u32_at(&zp, 0x238),
        "{name}: cmdline_size"
    );

    // ramdisk_image / ramdisk_size, below initrd_addr_max and above the kernel's
    // decompression area (runtime start + init_size).
    assert_eq!(
        u64::from(u32_at(&zp, 0x218)),
        rd_addr,
        "{name}: ramdisk_image"
    );
    assert_eq!(
        u64::from(u32_at(&zp, 0x21c)),
        rd_size,
        "{name}: ramdisk_size"
    );
    assert_eq!(rd_addr % 4096, 0, "{name}: ramdisk alignment");
    let initrd_addr_max = u64::from(u32_at(&zp, 0x22c));
    assert!(
        rd_addr + rd_size - 1 <= initrd_addr_max,
        "{name}: initrd_addr_max"
    );
    let kernel_alignment = u64::from(u32_at(&zp, 0x230));
    let pref_address = u64_at(&zp, 0x258);
    let init_size = u64::from(u32_at(&zp, 0x260));
    let runtime_start = if zp[0x234] != 0 {
        0x10_0000u64
            .max(pref_address)
            .next_multiple_of(kernel_alignment)
    } else {
        pref_address
    };
    assert!(
        rd_addr >= runtime_start + init_size,
        "{name}: ramdisk overlaps the kernel"
    );
    assert!(rd_addr + rd_size <= MEMORY_MIB * layout::MIB);
    assert_eq!(
        read(&mem, rd_addr, initrd.len()),
        initrd,
        "{name}: ramdisk bytes"
    );
    // Nothing above 4 GiB: the ext_ fields stay zero.
    assert_eq!(u32_at(&zp, 0x0c0), 0);
    assert_eq!(u32_at(&zp, 0x0c4), 0);
    assert_eq!(u32_at(&zp, 0x0c8), 0);

    // e820: entries at 0x2d0, 20 bytes each, count at 0x1e8.
    let map = layout::e820_map(MEMORY_MIB * layout::MIB);
    assert_eq!(usize::from(zp[0x1e8]), map.len(), "{name}: e820_entries");
    for (i, e) in map.iter().enumerate() {
        let off = 0x2d0 + 20 * i;
        assert_eq!(
            (
                u64_at(&zp, off),
                u64_at(&zp, off + 8),
                u32_at(&zp, off + 16)
            ),
            (e.addr, e.size, e.kind as u32),
            "{name}: e820[{i}]"
        );
    }
    let ram_below_4g: u64 = map
        .iter()
        .filter(|e| e.kind == E820Type::Ram)
        .map(|e| e.size)
        .sum();
    assert!(ram_below_4g > (MEMORY_MIB - 1) * layout::MIB);

    // acpi_rsdp_addr (0x070) -> "RSD PTR ".
    let rsdp = u64_at(&zp, 0x070);
    assert_eq!(rsdp, layout::ACPI_START);
    assert_eq!(read(&mem, rsdp, 8), b"RSD PTR ");
    // The sentinel must be 0, or the kernel wipes fields it thinks a loader left stale.
    assert_eq!(zp[0x1ef], 0, "{name}: sentinel");
}

#[test]
fn debian_kernels_are_laid_out_per_the_boot_protocol() {
    let kernels = kernels();
    if kernels.is_empty() {
        if std::env::var("REQUIRE_DEBIAN_KERNEL").as_deref() == Ok("1") {
            panic!(
                "REQUIRE_DEBIAN_KERNEL=1 but no kernel found; run vmm/tests/fetch-debian-kernel.sh"
            );
        }
        eprintln!(
            "skipped: no Debian kernel under target/debian-kernel; run vmm/tests/fetch-debian-kernel.sh"
        );
        return;
    }
    for kernel in &kernels {
        eprintln!("checking {}", kernel.display());
        check(kernel);
    }
}

#[test]
fn a_debian_kernel_boots_into_its_decompressor_and_is_stopped_by_the_timeout() {
    require_kvm!();
    let Some(path) = kernels().into_iter().next() else {
        eprintln!("skipped: no Debian kernel; run vmm/tests/fetch-debian-kernel.sh");
        return;
    };
    let outcome = common::run(vmm::VmmConfig {
        kernel: vmm::KernelImage::Path(path),
        cmdline: CMDLINE.into(),
        memory_mib: MEMORY_MIB,
        serial: vmm::SerialOutput::Capture,
        timeout: Some(std::time::Duration::from_secs(2)),
        ..Default::default()
    });
    // Under PVM the decompressor runs emulated and is still busy after 2 s; on hardware KVM the
    // kernel gets further. Either way the VMM must end the run itself, and the kernel must not
    // have died at its entry point.
    assert!(
        matches!(
            outcome.exit,
            vmm::ExitReason::Timeout | vmm::ExitReason::Poweroff | vmm::ExitReason::Reset
        ),
        "{:?}",
        outcome.exit
    );
}
