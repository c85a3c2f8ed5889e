//! The ACPI Virtual I/O Translation table (VIOT, ACPI 6.5 §5.2.32): which IOMMU translates which
//! endpoint, and each endpoint's ID.
//!
//! Layout (reference virtio-iommu.md §2.2, ACPICA `actbl3.h`): the 36-byte header, `u16
//! node_count` @36, `u16 node_offset` @38, 8 reserved bytes; then nodes, each starting with
//! `u8 type; u8 reserved; u16 length`. Parsing works on the table's bytes, so it is testable on
//! the host.

/// Node type 1: a range of PCI endpoints.
pub const NODE_PCI_RANGE: u8 = 1;
/// Node type 2: one MMIO endpoint (endpoint ID u32 @4, base address u64 @8, output node @16).
pub const NODE_MMIO_ENDPOINT: u8 = 2;
/// Node type 3: a virtio-pci IOMMU.
pub const NODE_VIRTIO_PCI_IOMMU: u8 = 3;
/// Node type 4: a virtio-mmio IOMMU (base address u64 @8).
pub const NODE_VIRTIO_MMIO_IOMMU: u8 = 4;

/// Most nodes of each kind kept.
pub const MAX_NODES: usize = 32;

/// What is wrong with a VIOT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViotError {
    /// Shorter than its 48-byte fixed part.
    TooShort,
    /// The node at this offset has a length below 4 or runs past the table.
    BadNode(usize),
    /// A node of a known type is shorter than its type's fields.
    ShortNode(usize),
}

impl core::fmt::Display for ViotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooShort => f.write_str("VIOT shorter than 48 bytes"),
            Self::BadNode(at) => write!(f, "VIOT node at {at:#x} has a bad length"),
            Self::ShortNode(at) => write!(f, "VIOT node at {at:#x} is too short for its type"),
        }
    }
}

/// An MMIO endpoint node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioEndpoint {
    /// The endpoint ID the IOMMU knows the device by.
    pub endpoint: u32,
    /// The device's MMIO base address.
    pub base: u64,
    /// Offset (from the table start) of the IOMMU node that translates it.
    pub output_node: u16,
}

/// A virtio-mmio IOMMU node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioIommu {
    /// Its offset from the table start (what `output_node` fields name).
    pub offset: u16,
    /// The IOMMU's MMIO base address.
    pub base: u64,
}

/// The parsed VIOT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viot {
    /// `node_count` from the header.
    pub node_count: u16,
    /// Nodes actually walked.
    pub nodes_seen: u16,
    /// virtio-mmio IOMMU nodes (the first [`MAX_NODES`]).
    iommus: [Option<MmioIommu>; MAX_NODES],
    /// MMIO endpoint nodes (the first [`MAX_NODES`]).
    endpoints: [Option<MmioEndpoint>; MAX_NODES],
    /// PCI range and virtio-pci IOMMU nodes (not used on this platform).
    pub pci_nodes: u16,
    /// Nodes of unknown types.
    pub unknown_nodes: u16,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn push<T: Copy>(slots: &mut [Option<T>], value: T) {
    if let Some(free) = slots.iter_mut().find(|s| s.is_none()) {
        *free = Some(value);
    }
}

impl Viot {
    /// Parses a whole VIOT (header included; the checksum is the ACPI layer's business).
    pub fn parse(table: &[u8]) -> Result<Self, ViotError> {
        let node_count = le16(table, 36).ok_or(ViotError::TooShort)?;
        let node_offset = le16(table, 38).ok_or(ViotError::TooShort)?;
        if table.len() < 48 {
            return Err(ViotError::TooShort);
        }
        let mut viot = Viot {
            node_count,
            nodes_seen: 0,
            iommus: [None; MAX_NODES],
            endpoints: [None; MAX_NODES],
            pci_nodes: 0,
            unknown_nodes: 0,
        };
        let mut at = usize::from(node_offset);
        for _ in 0..node_count {
            let kind = *table.get(at).ok_or(ViotError::BadNode(at))?;
            let len = usize::from(le16(table, at + 2).ok_or(ViotError::BadNode(at))?);
            if len < 4 || at + len > table.len() {
                return Err(ViotError::BadNode(at));
            }
            let node = &table[at..at + len];
            match kind {
                NODE_MMIO_ENDPOINT => {
                    let short = ViotError::ShortNode(at);
                    let ep = MmioEndpoint {
                        endpoint: le32(node, 4).ok_or(short)?,
                        base: le64(node, 8).ok_or(short)?,
                        output_node: le16(node, 16).ok_or(short)?,
                    };
                    push(&mut viot.endpoints, ep);
                }
                NODE_VIRTIO_MMIO_IOMMU => {
                    let iommu = MmioIommu {
                        offset: at as u16,
                        base: le64(node, 8).ok_or(ViotError::ShortNode(at))?,
                    };
                    push(&mut viot.iommus, iommu);
                }
                NODE_PCI_RANGE | NODE_VIRTIO_PCI_IOMMU => viot.pci_nodes += 1,
                _ => viot.unknown_nodes += 1,
            }
            viot.nodes_seen += 1;
            at += len;
        }
        Ok(viot)
    }

    /// The virtio-mmio IOMMU nodes.
    pub fn iommus(&self) -> impl Iterator<Item = MmioIommu> + '_ {
        self.iommus.iter().flatten().copied()
    }

    /// The MMIO endpoint nodes.
    pub fn endpoints(&self) -> impl Iterator<Item = MmioEndpoint> + '_ {
        self.endpoints.iter().flatten().copied()
    }

    /// The endpoint node of the device at MMIO `base` (Linux matches "the platform device's
    /// first MEM resource start == base_address").
    pub fn endpoint_at(&self, base: u64) -> Option<MmioEndpoint> {
        self.endpoints().find(|e| e.base == base)
    }

    /// The IOMMU node an endpoint's `output_node` names.
    pub fn iommu_of(&self, ep: &MmioEndpoint) -> Option<MmioIommu> {
        self.iommus().find(|i| i.offset == ep.output_node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(nodes: &[Vec<u8>]) -> Vec<u8> {
        let mut t = vec![0u8; 48];
        t[..4].copy_from_slice(b"VIOT");
        t[36..38].copy_from_slice(&(nodes.len() as u16).to_le_bytes());
        t[38..40].copy_from_slice(&48u16.to_le_bytes());
        for n in nodes {
            t.extend_from_slice(n);
        }
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        t
    }

    fn mmio_iommu(base: u64) -> Vec<u8> {
        let mut n = vec![0u8; 16];
        n[0] = NODE_VIRTIO_MMIO_IOMMU;
        n[2..4].copy_from_slice(&16u16.to_le_bytes());
        n[8..16].copy_from_slice(&base.to_le_bytes());
        n
    }

    fn mmio_ep(ep: u32, base: u64, out: u16) -> Vec<u8> {
        let mut n = vec![0u8; 24];
        n[0] = NODE_MMIO_ENDPOINT;
        n[2..4].copy_from_slice(&24u16.to_le_bytes());
        n[4..8].copy_from_slice(&ep.to_le_bytes());
        n[8..16].copy_from_slice(&base.to_le_bytes());
        n[16..18].copy_from_slice(&out.to_le_bytes());
        n
    }

    #[test]
    fn iommu_and_endpoints_are_found_and_linked() {
        let t = table(&[
            mmio_iommu(0xd000_0000),
            mmio_ep(1, 0xd000_1000, 48),
            mmio_ep(2, 0xd000_2000, 48),
        ]);
        let v = Viot::parse(&t).unwrap();
        assert_eq!(v.nodes_seen, 3);
        let iommu = v.iommus().next().unwrap();
        assert_eq!((iommu.offset, iommu.base), (48, 0xd000_0000));
        let ep = v.endpoint_at(0xd000_2000).unwrap();
        assert_eq!(ep.endpoint, 2);
        assert_eq!(v.iommu_of(&ep), Some(iommu));
        assert_eq!(v.endpoint_at(0xd000_3000), None);
    }

    #[test]
    fn malformed_nodes_are_errors() {
        let mut t = table(&[mmio_iommu(0xd000_0000)]);
        t[48 + 2] = 2; // length 2
        assert_eq!(Viot::parse(&t), Err(ViotError::BadNode(48)));
        let mut t = table(&[mmio_iommu(0xd000_0000)]);
        t[36] = 2; // claims two nodes
        assert_eq!(Viot::parse(&t), Err(ViotError::BadNode(64)));
        assert_eq!(Viot::parse(&[0u8; 40]), Err(ViotError::TooShort));
    }
}
