//! virtio-blk wire formats: feature bits, the configuration space, the request header and
//! status codes.

/// `VIRTIO_BLK_F_SEG_MAX`: `seg_max` is valid.
pub const F_SEG_MAX: u32 = 2;
/// `VIRTIO_BLK_F_RO`: the device is read-only.
pub const F_RO: u32 = 5;
/// `VIRTIO_BLK_F_BLK_SIZE`: `blk_size` is valid.
pub const F_BLK_SIZE: u32 = 6;
/// `VIRTIO_BLK_F_FLUSH`: cache flush command support.
pub const F_FLUSH: u32 = 9;

/// `VIRTIO_BLK_T_IN`: read.
pub const T_IN: u32 = 0;
/// `VIRTIO_BLK_T_OUT`: write.
pub const T_OUT: u32 = 1;
/// `VIRTIO_BLK_T_FLUSH`.
pub const T_FLUSH: u32 = 4;
/// `VIRTIO_BLK_T_GET_ID`: fetch the device ID string.
pub const T_GET_ID: u32 = 8;

/// `VIRTIO_BLK_S_OK`.
pub const S_OK: u8 = 0;
/// `VIRTIO_BLK_S_IOERR`: device or driver error.
pub const S_IOERR: u8 = 1;
/// `VIRTIO_BLK_S_UNSUPP`: request unsupported by the device.
pub const S_UNSUPP: u8 = 2;

/// The protocol's sector size ("always 512 bytes").
pub const SECTOR_SIZE: u64 = 512;
/// Size of the device-readable request header (type, reserved, sector).
pub const HEADER_SIZE: usize = 16;
/// "The device ID string is a NUL-padded ASCII string up to 20 bytes long."
pub const ID_LEN: usize = 20;
/// Bytes of configuration space presented (through `blk_size` and the topology fields; the
/// rest of `struct virtio_blk_config` reads as zero).
pub const CONFIG_SIZE: usize = 64;

/// `struct virtio_blk_req` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    /// `VIRTIO_BLK_T_*`.
    pub req_type: u32,
    /// Offset in 512-byte sectors.
    pub sector: u64,
}

impl RequestHeader {
    /// Decodes the first 16 bytes.
    pub fn decode(b: &[u8; HEADER_SIZE]) -> Self {
        let mut t = [0u8; 4];
        t.copy_from_slice(&b[0..4]);
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[8..16]);
        RequestHeader {
            req_type: u32::from_le_bytes(t),
            sector: u64::from_le_bytes(s),
        }
    }

    /// Encodes the header (for drivers and tests).
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        b[0..4].copy_from_slice(&self.req_type.to_le_bytes());
        b[8..16].copy_from_slice(&self.sector.to_le_bytes());
        b
    }
}

/// The configuration space: `capacity` (512-byte sectors), `size_max` 0, `seg_max`,
/// `geometry` 0, `blk_size`, the rest zero.
pub fn config_space(capacity: u64, seg_max: u32, blk_size: u32) -> [u8; CONFIG_SIZE] {
    let mut b = [0u8; CONFIG_SIZE];
    b[0..8].copy_from_slice(&capacity.to_le_bytes());
    b[12..16].copy_from_slice(&seg_max.to_le_bytes());
    b[20..24].copy_from_slice(&blk_size.to_le_bytes());
    b
}
