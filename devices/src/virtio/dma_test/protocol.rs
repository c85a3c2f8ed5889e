//! DMA test device wire formats (docs/PLATFORM.md, "DMA test device").
//!
//! Request (device-readable, 40 bytes, little-endian):
//! `le32 op | le32 flags (0) | le64 src | le64 dst | le64 len | u8 pattern | u8 reserved[7]`.
//! Reply (device-writable, 24 bytes):
//! `u8 status | u8 reserved[3] | le32 fault_flags | le64 fault_addr | le64 result`.

/// Copy `len` bytes from `src` to `dst`.
pub const OP_COPY: u32 = 1;
/// Write `len` copies of `pattern` at `dst`.
pub const OP_FILL: u32 = 2;
/// Compare `len` bytes at `src` and `dst`; `result` = number of equal leading bytes.
pub const OP_COMPARE: u32 = 3;

/// Done.
pub const S_OK: u8 = 0;
/// A DMA was blocked by the IOMMU: `fault_flags`/`fault_addr` say which access.
pub const S_FAULT: u8 = 1;
/// Bad request: unknown op, non-zero flags or reserved bytes, `len` 0 or above [`MAX_LEN`],
/// or a request shorter than 40 bytes.
pub const S_INVAL: u8 = 2;
/// A DMA hit an address that is not guest RAM (without an IOMMU fault).
pub const S_IOERR: u8 = 3;

/// `fault_flags`: the blocked access was a read.
pub const FAULT_F_READ: u32 = 1;
/// `fault_flags`: the blocked access was a write.
pub const FAULT_F_WRITE: u32 = 2;

/// Largest `len` of one request.
pub const MAX_LEN: u64 = 1 << 20;
/// Size of the request.
pub const REQUEST_SIZE: usize = 40;
/// Size of the reply.
pub const REPLY_SIZE: usize = 24;

/// A decoded request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaTestRequest {
    /// `OP_*`.
    pub op: u32,
    /// Must be 0.
    pub flags: u32,
    /// Source IOVA (COPY, COMPARE).
    pub src: u64,
    /// Destination IOVA (COPY, FILL; second operand of COMPARE).
    pub dst: u64,
    /// Bytes.
    pub len: u64,
    /// FILL byte.
    pub pattern: u8,
    /// Must be zero.
    pub reserved: [u8; 7],
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

impl DmaTestRequest {
    /// Decodes the first [`REQUEST_SIZE`] bytes.
    pub fn decode(b: &[u8; REQUEST_SIZE]) -> Self {
        let mut reserved = [0u8; 7];
        reserved.copy_from_slice(&b[33..40]);
        DmaTestRequest {
            op: le32(b, 0),
            flags: le32(b, 4),
            src: le64(b, 8),
            dst: le64(b, 16),
            len: le64(b, 24),
            pattern: b[32],
            reserved,
        }
    }

    /// Encodes the request (for drivers and tests).
    pub fn encode(&self) -> [u8; REQUEST_SIZE] {
        let mut b = [0u8; REQUEST_SIZE];
        b[0..4].copy_from_slice(&self.op.to_le_bytes());
        b[4..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..16].copy_from_slice(&self.src.to_le_bytes());
        b[16..24].copy_from_slice(&self.dst.to_le_bytes());
        b[24..32].copy_from_slice(&self.len.to_le_bytes());
        b[32] = self.pattern;
        b[33..40].copy_from_slice(&self.reserved);
        b
    }
}

/// The reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DmaTestReply {
    /// `S_*`.
    pub status: u8,
    /// `FAULT_F_*` for `S_FAULT`.
    pub fault_flags: u32,
    /// IOVA of the first byte of the blocked access, for `S_FAULT`.
    pub fault_addr: u64,
    /// COPY/FILL: bytes written to `dst` before completion or the error; COMPARE: number of
    /// equal leading bytes (`len` if equal).
    pub result: u64,
}

impl DmaTestReply {
    /// Encodes the reply.
    pub fn encode(&self) -> [u8; REPLY_SIZE] {
        let mut b = [0u8; REPLY_SIZE];
        b[0] = self.status;
        b[4..8].copy_from_slice(&self.fault_flags.to_le_bytes());
        b[8..16].copy_from_slice(&self.fault_addr.to_le_bytes());
        b[16..24].copy_from_slice(&self.result.to_le_bytes());
        b
    }

    /// Decodes a reply (for drivers and tests).
    pub fn decode(b: &[u8; REPLY_SIZE]) -> Self {
        DmaTestReply {
            status: b[0],
            fault_flags: le32(b, 4),
            fault_addr: le64(b, 8),
            result: le64(b, 16),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_reply_round_trip() {
        let r = DmaTestRequest {
            op: OP_FILL,
            flags: 0,
            src: 1,
            dst: 0x1000,
            len: 42,
            pattern: 0x5a,
            reserved: [0; 7],
        };
        assert_eq!(DmaTestRequest::decode(&r.encode()), r);
        let p = DmaTestReply {
            status: S_FAULT,
            fault_flags: FAULT_F_WRITE,
            fault_addr: 0xdead_0000,
            result: 7,
        };
        assert_eq!(DmaTestReply::decode(&p.encode()), p);
    }
}
