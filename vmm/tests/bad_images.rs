//! Bad images and bad configurations are clear errors, never panics. None of these reach KVM:
//! the image is checked before the VM is created, so they run without /dev/kvm.

mod common;

use std::path::PathBuf;

use common::*;
use proptest::prelude::*;
use vmm::boot::LoadError;
use vmm::memory::create_guest_memory;
use vmm::{Error, KernelImage, Vmm, VmmConfig};

fn build(kernel: Vec<u8>, memory_mib: u64) -> Result<Vmm, Error> {
    Vmm::new(VmmConfig {
        kernel: KernelImage::from_vec(kernel),
        memory_mib,
        serial: vmm::SerialOutput::Capture,
        ..Default::default()
    })
}

fn load_error(kernel: Vec<u8>, memory_mib: u64) -> LoadError {
    match build(kernel, memory_mib) {
        Err(Error::Load(e)) => e,
        other => panic!("expected a load error, got {other:?}"),
    }
}

#[test]
fn text_is_neither_elf_nor_bzimage() {
    let e = load_error(b"#!/bin/sh\necho hello\n".to_vec(), 64);
    assert!(matches!(e, LoadError::UnknownFormat));
    assert_eq!(
        e.to_string(),
        "the image is neither an ELF64 executable nor a bzImage"
    );
}

#[test]
fn an_empty_image_is_truncated() {
    assert!(matches!(
        load_error(Vec::new(), 64),
        LoadError::Truncated(_)
    ));
}

#[test]
fn truncated_elf_images_are_rejected() {
    let image = elf(&hex(HELLO));
    for cut in [10, 64, 100, image.len() - 1] {
        let e = load_error(image[..cut].to_vec(), 64);
        assert!(matches!(e, LoadError::Truncated(_)), "cut at {cut}: {e:?}");
    }
}

#[test]
fn a_segment_in_the_mmio_gap_lies_outside_ram() {
    let e = load_error(elf_at(0xc000_1000, &hex(HELLO), 0), 64);
    assert!(matches!(e, LoadError::SegmentOutsideRam { .. }), "{e:?}");
}

#[test]
fn a_segment_below_1_mib_would_overwrite_boot_structures() {
    let e = load_error(elf_at(0x8000, &hex(HELLO), 0), 64);
    assert!(
        matches!(e, LoadError::SegmentInReservedArea { .. }),
        "{e:?}"
    );
}

#[test]
fn an_image_larger_than_memory_says_to_increase_memory() {
    let e = load_error(elf_at(LOAD_ADDR, &hex(HELLO), 128 << 20), 64);
    assert!(matches!(e, LoadError::TooLargeForMemory { .. }), "{e:?}");
    assert!(e.to_string().contains("--memory"));
}

#[test]
fn elf_for_another_class_or_machine_is_rejected() {
    let mut elf32 = elf(&hex(HELLO));
    elf32[4] = 1;
    let mut arm = elf(&hex(HELLO));
    arm[18] = 183;
    assert!(matches!(load_error(elf32, 64), LoadError::BadElf(_)));
    assert!(matches!(load_error(arm, 64), LoadError::BadElf(_)));
}

#[test]
fn a_bzimage_without_a_64_bit_entry_point_is_rejected() {
    let mut image = vec![0u8; 0x2000];
    image[0x1f1] = 4; // setup_sects
    image[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
    image[0x201] = 0x6a; // header length
    image[0x202..0x206].copy_from_slice(b"HdrS");
    image[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    image[0x211] = 1; // LOADED_HIGH
    let e = load_error(image, 64);
    assert!(matches!(e, LoadError::BadBzImage(_)), "{e:?}");
}

#[test]
fn a_missing_kernel_file_names_the_file() {
    let err = Vmm::new(VmmConfig {
        kernel: KernelImage::Path(PathBuf::from("/nonexistent/guest.elf")),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, Error::ReadKernel { .. }));
    assert!(err.to_string().contains("/nonexistent/guest.elf"));
}

#[test]
fn a_missing_initramfs_file_is_an_error() {
    let err = Vmm::new(VmmConfig {
        kernel: KernelImage::from_vec(elf(&hex(HELLO))),
        initramfs: Some(PathBuf::from("/nonexistent/initrd")),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, Error::ReadInitramfs { .. }));
}

#[test]
fn too_little_memory_or_no_vcpus_is_a_config_error() {
    assert!(matches!(
        build(elf(&hex(HELLO)), 1).unwrap_err(),
        Error::Memory(_)
    ));
    let err = Vmm::new(VmmConfig {
        kernel: KernelImage::from_vec(elf(&hex(HELLO))),
        cpus: 0,
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, Error::BadCpuCount(0)));
}

#[test]
fn a_cmdline_with_a_nul_byte_is_rejected() {
    let err = Vmm::new(VmmConfig {
        kernel: KernelImage::from_vec(elf(&hex(HELLO))),
        cmdline: "a\0b".into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, Error::Load(LoadError::CmdlineNul)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary corruption of an ELF image's headers never panics the loader nor makes it
    /// write outside guest RAM (vm-memory would panic or error on that).
    #[test]
    fn corrupted_elf_headers_never_panic(
        edits in proptest::collection::vec((0usize..120, any::<u8>()), 1..8)
    ) {
        let mut image = elf(&hex(HELLO));
        for (offset, byte) in edits {
            image[offset] = byte;
        }
        let mem = create_guest_memory(8).unwrap();
        let _ = vmm::boot::load_kernel(&mem, &image, 8 << 20);
    }

    /// The same for a bzImage's setup header.
    #[test]
    fn corrupted_bzimage_headers_never_panic(
        edits in proptest::collection::vec((0x1f1usize..0x270, any::<u8>()), 1..8)
    ) {
        let mut image = vec![0u8; 0x3000];
        image[0x1f1] = 4;
        image[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
        image[0x201] = 0x6a;
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        image[0x211] = 1;
        image[0x236] = 1;
        for (offset, byte) in edits {
            image[offset] = byte;
        }
        let mem = create_guest_memory(8).unwrap();
        let _ = vmm::boot::load_kernel(&mem, &image, 8 << 20);
    }
}

#[test]
fn an_endless_kernel_file_is_refused_instead_of_read_forever() {
    let err = Vmm::new(VmmConfig {
        kernel: KernelImage::Path(PathBuf::from("/dev/zero")),
        memory_mib: 8,
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, Error::ReadKernel { .. }), "{err:?}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("larger than"), "{source}");
}

#[test]
fn a_config_debug_print_does_not_dump_the_image() {
    let config = VmmConfig {
        kernel: KernelImage::from_vec(vec![0u8; 4096]),
        ..Default::default()
    };
    assert!(format!("{config:?}").contains("Bytes(4096 bytes)"));
}
