//! A descriptor chain split into its device-readable and device-writable parts.
//!
//! virtio 1.2 §2.7.4.2: "The driver MUST place any device-writable descriptor elements after any
//! device-readable descriptor elements." A device sees a request as two byte streams — the
//! readable part and the writable part — however the driver cut them into descriptors, so every
//! device here addresses its buffers by offset into those streams ([`ChainBuffers::read_at`],
//! [`ChainBuffers::write_at`]) and never assumes a particular descriptor layout.
//!
//! Walking the chain (virtio-queue's `DescriptorChain`) follows indirect tables and stops after
//! as many descriptors as the queue (or the indirect table) has, so a looping chain ends; a
//! descriptor that cannot be read (outside RAM, or blocked by the IOMMU) ends the chain too. Every
//! buffer access is checked by `GuestMemory`, so nothing outside guest RAM (or outside the
//! endpoint's mappings) is ever touched.

use std::ops::Deref;

use virtio_queue::DescriptorChain;
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryError};

/// One descriptor's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Address in the device's address space (IOVA or guest-physical).
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
}

/// Why a chain cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A device-readable descriptor follows a device-writable one.
    #[error("device-readable descriptor after a device-writable one")]
    ReadableAfterWritable,
}

/// Why a buffer access failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The access falls outside the readable or writable part.
    #[error("access beyond the end of the buffers")]
    OutOfBounds,
    /// A buffer address plus offset overflows 64 bits.
    #[error("buffer address overflow")]
    Overflow,
    /// Guest memory refused the access (not RAM, or blocked by the IOMMU).
    #[error("guest memory access failed")]
    Memory(#[source] GuestMemoryError),
}

/// The buffers of one descriptor chain, split into readable and writable parts.
#[derive(Clone, Debug, Default)]
pub struct ChainBuffers {
    head: u16,
    readable: Vec<Buffer>,
    writable: Vec<Buffer>,
    readable_len: u64,
    writable_len: u64,
}

impl ChainBuffers {
    /// Empty buffers (reuse them across requests with [`ChainBuffers::load`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Walks `chain` and records its buffers, replacing what was loaded before.
    pub fn load<M>(&mut self, chain: DescriptorChain<M>) -> Result<(), ChainError>
    where
        M: Deref,
        M::Target: GuestMemory,
    {
        self.head = chain.head_index();
        self.readable.clear();
        self.writable.clear();
        self.readable_len = 0;
        self.writable_len = 0;
        for desc in chain {
            let buf = Buffer {
                addr: desc.addr().0,
                len: desc.len(),
            };
            if desc.is_write_only() {
                self.writable.push(buf);
                self.writable_len += u64::from(buf.len);
            } else {
                if !self.writable.is_empty() {
                    return Err(ChainError::ReadableAfterWritable);
                }
                self.readable.push(buf);
                self.readable_len += u64::from(buf.len);
            }
        }
        Ok(())
    }

    /// The chain's head descriptor index (for the used ring).
    pub fn head(&self) -> u16 {
        self.head
    }

    /// Total bytes of the device-readable part.
    pub fn readable_len(&self) -> u64 {
        self.readable_len
    }

    /// Total bytes of the device-writable part.
    pub fn writable_len(&self) -> u64 {
        self.writable_len
    }

    /// The device-readable buffers.
    pub fn readable(&self) -> &[Buffer] {
        &self.readable
    }

    /// The device-writable buffers.
    pub fn writable(&self) -> &[Buffer] {
        &self.writable
    }

    /// Reads up to `buf.len()` bytes of the readable part starting at `offset`; returns how many
    /// bytes were read (fewer when the readable part ends first).
    pub fn read_at<M: GuestMemory>(
        &self,
        mem: &M,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, AccessError> {
        let mut done = 0usize;
        for (addr, take) in spans(&self.readable, offset, buf.len() as u64) {
            // `take` fits in `buf` because the spans never exceed the requested length.
            let take = take as usize;
            mem.read_slice(&mut buf[done..done + take], GuestAddress(addr))
                .map_err(AccessError::Memory)?;
            done += take;
        }
        Ok(done)
    }

    /// Writes all of `data` into the writable part at `offset`.
    pub fn write_at<M: GuestMemory>(
        &self,
        mem: &M,
        offset: u64,
        data: &[u8],
    ) -> Result<(), AccessError> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(AccessError::Overflow)?;
        if end > self.writable_len {
            return Err(AccessError::OutOfBounds);
        }
        let mut done = 0usize;
        for (addr, take) in spans(&self.writable, offset, data.len() as u64) {
            let take = take as usize;
            mem.write_slice(&data[done..done + take], GuestAddress(addr))
                .map_err(AccessError::Memory)?;
            done += take;
        }
        if done != data.len() {
            return Err(AccessError::Overflow);
        }
        Ok(())
    }

    /// Writes `len` copies of `byte` into the writable part at `offset`.
    pub fn fill_at<M: GuestMemory>(
        &self,
        mem: &M,
        offset: u64,
        len: u64,
        byte: u8,
    ) -> Result<(), AccessError> {
        const CHUNK: u64 = 4096;
        if len == 0 {
            return Ok(());
        }
        let pattern = [byte; CHUNK as usize];
        let mut done = 0u64;
        while done < len {
            let take = (len - done).min(CHUNK);
            let at = offset.checked_add(done).ok_or(AccessError::Overflow)?;
            self.write_at(mem, at, &pattern[..take as usize])?;
            done += take;
        }
        Ok(())
    }
}

/// The `(address, length)` pieces of `buffers` that cover `[offset, offset + len)` of their
/// concatenation, in order; stops early where the buffers end. Addresses that would overflow
/// end the walk (the access then comes up short).
fn spans(buffers: &[Buffer], offset: u64, len: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
    let mut skip = offset;
    let mut left = len;
    buffers
        .iter()
        .map_while(move |b| {
            if left == 0 {
                return None;
            }
            let blen = u64::from(b.len);
            if skip >= blen {
                skip -= blen;
                return Some(None);
            }
            let take = (blen - skip).min(left);
            let addr = b.addr.checked_add(skip)?;
            skip = 0;
            left -= take;
            Some(Some((addr, take)))
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bufs(lens: &[u32]) -> Vec<Buffer> {
        let mut addr = 0x1000;
        lens.iter()
            .map(|&len| {
                let b = Buffer { addr, len };
                addr += 0x1000;
                b
            })
            .collect()
    }

    #[test]
    fn spans_cross_buffer_boundaries() {
        let b = bufs(&[4, 4, 8]);
        let got: Vec<_> = spans(&b, 2, 8).collect();
        assert_eq!(got, vec![(0x1002, 2), (0x2000, 4), (0x3000, 2)]);
    }

    #[test]
    fn spans_skip_empty_buffers_and_stop_at_the_end() {
        let b = bufs(&[0, 3, 0, 2]);
        let got: Vec<_> = spans(&b, 1, 100).collect();
        assert_eq!(got, vec![(0x2001, 2), (0x4000, 2)]);
    }

    #[test]
    fn spans_stop_on_address_overflow() {
        let b = [Buffer {
            addr: u64::MAX - 1,
            len: 16,
        }];
        let got: Vec<_> = spans(&b, 4, 4).collect();
        assert!(got.is_empty());
    }
}
