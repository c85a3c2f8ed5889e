//! resources = guest images: how they are built and found.
//!
//! `build.rs` builds every guest program of `guest-tests/` (one `#![no_std]` binary per
//! `guest-tests/src/bin/<name>.rs`, on the `gtest-rt` runtime) in release mode as part of the
//! normal cargo build, into this crate's `OUT_DIR`. Each image is an ELF64 EXEC file following
//! the platform contract of docs/PLATFORM.md (loaded at 0x200000, 64-bit entry at `e_entry`), with
//! a PVH note so that `qemu-system-x86_64 -kernel` boots the same file.
//!
//! - [`GUEST_PROGRAMS`] lists them, [`guest_image`] gives the path of one;
//! - [`default_guest`] is the `demo` image, embedded in the `vmm` binary and booted when no
//!   `--kernel` is given.
//!
//! Adding a program: create `guest-tests/src/bin/<name>.rs` and add its line to
//! `vmm/tests/guest_tests.rs` (docs/TESTING.md).
//!
//! (Not to be confused with crosvm's `resources`, an address allocator.)

use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/programs.rs"));

/// The directory holding the built images.
const IMAGE_DIR: &str = env!("GUEST_IMAGE_DIR");

/// The program embedded as the default guest.
pub const DEFAULT_GUEST: &str = "demo";

/// The path of the built image of guest program `name`, `None` if there is no such program.
pub fn guest_image(name: &str) -> Option<PathBuf> {
    GUEST_PROGRAMS
        .contains(&name)
        .then(|| Path::new(IMAGE_DIR).join(name))
}

/// The default guest's image (the `demo` program), embedded at compile time.
pub fn default_guest() -> &'static [u8] {
    include_bytes!(concat!(env!("GUEST_IMAGE_DIR"), "/demo"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PT_LOAD: u32 = 1;
    const PT_NOTE: u32 = 4;
    const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

    fn u16_at(b: &[u8], o: usize) -> u16 {
        u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
    }
    fn u32_at(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], o: usize) -> u64 {
        u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
    }

    /// (p_type, p_offset, p_paddr, p_filesz) of every program header.
    fn program_headers(elf: &[u8]) -> Vec<(u32, usize, u64, usize)> {
        let phoff = u64_at(elf, 0x20) as usize;
        let phentsize = usize::from(u16_at(elf, 0x36));
        (0..usize::from(u16_at(elf, 0x38)))
            .map(|i| {
                let ph = &elf[phoff + i * phentsize..];
                (
                    u32_at(ph, 0),
                    u64_at(ph, 8) as usize,
                    u64_at(ph, 24),
                    u64_at(ph, 32) as usize,
                )
            })
            .collect()
    }

    #[test]
    fn every_program_has_an_image() {
        assert!(GUEST_PROGRAMS.contains(&DEFAULT_GUEST));
        for name in GUEST_PROGRAMS {
            let path = guest_image(name).unwrap();
            assert!(path.is_file(), "{}", path.display());
        }
        assert_eq!(guest_image("no-such-program"), None);
    }

    #[test]
    fn images_are_elf64_exec_loaded_at_or_above_2_mib() {
        for name in GUEST_PROGRAMS {
            let elf = std::fs::read(guest_image(name).unwrap()).unwrap();
            assert_eq!(&elf[..5], b"\x7fELF\x02", "{name}: ELF64");
            assert_eq!(u16_at(&elf, 0x10), 2, "{name}: ET_EXEC");
            assert_eq!(u16_at(&elf, 0x12), 0x3e, "{name}: x86-64");
            let loads: Vec<_> = program_headers(&elf)
                .into_iter()
                .filter(|ph| ph.0 == PT_LOAD)
                .collect();
            assert!(!loads.is_empty(), "{name}: PT_LOAD segments");
            assert!(
                loads.iter().all(|ph| ph.2 >= 0x20_0000),
                "{name}: loaded at >= 0x200000"
            );
            assert!(u64_at(&elf, 0x18) >= 0x20_0000, "{name}: entry");
        }
    }

    #[test]
    fn images_carry_a_pvh_entry_note() {
        for name in GUEST_PROGRAMS {
            let elf = std::fs::read(guest_image(name).unwrap()).unwrap();
            let note = program_headers(&elf).into_iter().find(|ph| ph.0 == PT_NOTE);
            let (_, offset, _, _) = note.unwrap_or_else(|| panic!("{name}: PT_NOTE"));
            let n = &elf[offset..];
            assert_eq!(
                (u32_at(n, 0), u32_at(n, 8)),
                (4, XEN_ELFNOTE_PHYS32_ENTRY),
                "{name}"
            );
            assert_eq!(&n[12..16], b"Xen\0", "{name}");
            assert!(u32_at(n, 16) >= 0x20_0000, "{name}: PVH entry address");
        }
    }

    #[test]
    fn default_guest_is_the_demo_image() {
        let on_disk = std::fs::read(guest_image(DEFAULT_GUEST).unwrap()).unwrap();
        assert_eq!(default_guest(), on_disk.as_slice());
    }
}
