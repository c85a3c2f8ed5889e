//! Disk I/O on the raw block device with O_DIRECT: every request goes to the
//! virtio-blk device (and so through the IOMMU), none is served from the page
//! cache.
//!
//! Layout on the disk: the pattern region is `[0, pattern_bytes)`; the
//! benchmark uses `[BENCH_OFFSET, BENCH_OFFSET + bench_bytes)`, so a benchmark
//! run does not destroy a pattern written by an earlier boot.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::pattern::{self, Checksum};

/// O_DIRECT needs buffers, offsets and lengths aligned to the logical block
/// size; a page covers every block size Linux supports for virtio-blk.
pub const ALIGN: usize = 4096;
/// Where the benchmark region starts.
pub const BENCH_OFFSET: u64 = 16 << 20;
/// The pattern is written and read in chunks of this size.
const CHUNK: usize = 1 << 20;

/// An `ALIGN`-aligned byte buffer (an over-allocated Vec, sliced) whose pages
/// are already faulted in: every guest page fault is expensive on PVM hosts
/// and must not land inside a timed benchmark loop.
#[derive(Debug)]
pub struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

/// Byte the buffers are initialised with. Not zero: a zeroed allocation may
/// come from untouched calloc/mmap pages that would fault later.
const FILL_BYTE: u8 = 0xa5;

impl AlignedBuf {
    pub fn new(len: usize) -> AlignedBuf {
        let storage = vec![FILL_BYTE; len + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN);
        AlignedBuf {
            storage,
            start,
            len,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// The block device opened for O_DIRECT reads and writes.
#[derive(Debug)]
pub struct Disk {
    file: File,
    size: u64,
}

impl Disk {
    /// Waits up to `wait` for `path` to appear (the driver may probe late),
    /// then opens it with O_DIRECT.
    pub fn open(path: &str, wait: Duration) -> io::Result<Disk> {
        let deadline = Instant::now() + wait;
        while !Path::new(path).exists() && Instant::now() < deadline {
            sleep(Duration::from_millis(100));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)?;
        let size = std::io::Seek::seek(&mut &file, io::SeekFrom::End(0))?;
        Ok(Disk { file, size })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    fn check_region(&self, offset: u64, bytes: u64) -> io::Result<()> {
        let aligned = offset.is_multiple_of(ALIGN as u64) && bytes.is_multiple_of(ALIGN as u64);
        if !aligned {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("region {offset:#x}+{bytes:#x} is not {ALIGN}-byte aligned"),
            ));
        }
        match offset.checked_add(bytes) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "region {offset:#x}+{bytes:#x} does not fit the disk ({} bytes)",
                    self.size
                ),
            )),
        }
    }

    /// Writes the seeded pattern over `[0, bytes)` and flushes the device cache.
    pub fn write_pattern(&self, seed: u64, bytes: u64) -> io::Result<()> {
        self.check_region(0, bytes)?;
        let mut buf = AlignedBuf::new(CHUNK);
        let mut offset = 0;
        while offset < bytes {
            let len = chunk_len(bytes - offset);
            let data = &mut buf.as_mut_slice()[..len];
            pattern::fill(data, seed, offset);
            self.file.write_all_at(data, offset)?;
            offset += len as u64;
        }
        self.file.sync_all()
    }

    /// Reads `[0, bytes)` back from the device and compares it with the seeded
    /// pattern. Returns the checksum of what was read and the mismatches.
    pub fn verify_pattern(&self, seed: u64, bytes: u64) -> io::Result<Verification> {
        self.check_region(0, bytes)?;
        let mut buf = AlignedBuf::new(CHUNK);
        let mut expected = vec![0u8; CHUNK];
        let mut result = Verification {
            checksum: Checksum::default(),
            mismatched_words: 0,
            first_mismatch: None,
        };
        let mut offset = 0;
        while offset < bytes {
            let len = chunk_len(bytes - offset);
            let data = &mut buf.as_mut_slice()[..len];
            self.file.read_exact_at(data, offset)?;
            result.checksum.update(data);
            let expected = &mut expected[..len];
            pattern::fill(expected, seed, offset);
            for (word, (got, want)) in
                (0u64..).zip(data.chunks_exact(8).zip(expected.chunks_exact(8)))
            {
                if got != want {
                    result.mismatched_words += 1;
                    result.first_mismatch.get_or_insert(offset + word * 8);
                }
            }
            offset += len as u64;
        }
        Ok(result)
    }

    /// Sequentially writes `bytes` at `offset` in `block`-sized requests, then
    /// flushes the device cache; the flush is part of the measured time.
    pub fn timed_write(&self, offset: u64, bytes: u64, block: usize) -> io::Result<Duration> {
        self.check_region(offset, bytes)?;
        let mut buf = AlignedBuf::new(block);
        pattern::fill(buf.as_mut_slice(), 0xbe9c, offset);
        let start = Instant::now();
        for request in block_offsets(offset, bytes, block) {
            self.file.write_all_at(buf.as_slice(), request)?;
        }
        self.file.sync_all()?;
        Ok(start.elapsed())
    }

    /// Sequentially reads `bytes` at `offset` in `block`-sized requests.
    pub fn timed_read(&self, offset: u64, bytes: u64, block: usize) -> io::Result<Duration> {
        self.check_region(offset, bytes)?;
        let mut buf = AlignedBuf::new(block);
        let start = Instant::now();
        for request in block_offsets(offset, bytes, block) {
            self.file.read_exact_at(buf.as_mut_slice(), request)?;
        }
        Ok(start.elapsed())
    }
}

/// The outcome of comparing the disk with the pattern.
#[derive(Debug)]
pub struct Verification {
    pub checksum: Checksum,
    pub mismatched_words: u64,
    pub first_mismatch: Option<u64>,
}

fn chunk_len(remaining: u64) -> usize {
    usize::try_from(remaining).map_or(CHUNK, |remaining| remaining.min(CHUNK))
}

/// Offsets of the `block`-sized requests covering `[offset, offset + bytes)`
/// (a trailing partial block is not issued).
fn block_offsets(offset: u64, bytes: u64, block: usize) -> impl Iterator<Item = u64> {
    let block = block as u64;
    (0..bytes / block).map(move |i| offset + i * block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buf_is_aligned_and_sized() {
        for len in [1, 4096, 3 * 4096 + 5] {
            let mut buf = AlignedBuf::new(len);
            assert_eq!(buf.as_slice().as_ptr() as usize % ALIGN, 0);
            assert_eq!(buf.as_mut_slice().len(), len);
            assert!(buf.as_slice().iter().all(|&byte| byte == FILL_BYTE));
        }
    }

    #[test]
    fn block_offsets_cover_region_in_order() {
        let offsets: Vec<u64> = block_offsets(8192, 16384, 4096).collect();
        assert_eq!(offsets, vec![8192, 12288, 16384, 20480]);
        assert_eq!(block_offsets(0, 4095, 4096).count(), 0);
    }

    #[test]
    fn pattern_round_trips_through_a_file() {
        // A regular file stands in for the block device (tmpfs may refuse
        // O_DIRECT, so open it without).
        let dir = std::env::temp_dir().join(format!("guest-init-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("disk.img");
        let file = File::create(&path).unwrap();
        file.set_len(3 << 20).unwrap();
        let disk = Disk {
            file: OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap(),
            size: 3 << 20,
        };
        let bytes = (2 << 20) + 4096;
        disk.write_pattern(9, bytes).unwrap();
        let good = disk.verify_pattern(9, bytes).unwrap();
        assert_eq!(good.mismatched_words, 0);
        assert_eq!(good.first_mismatch, None);

        let mut expected = vec![0u8; bytes as usize];
        pattern::fill(&mut expected, 9, 0);
        let mut checksum = Checksum::default();
        checksum.update(&expected);
        assert_eq!(good.checksum, checksum);

        let other_seed = disk.verify_pattern(10, bytes).unwrap();
        assert_eq!(other_seed.first_mismatch, Some(0));
        assert!(
            disk.write_pattern(9, 4 << 20).is_err(),
            "region larger than the disk"
        );
        assert!(
            disk.timed_read(100, 4096, 4096).is_err(),
            "unaligned region"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
