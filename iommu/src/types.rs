//! Plain value types of the translation core: identifiers, permissions, IOVA ranges, mappings,
//! translated segments and the engine configuration.

use std::ops::{BitAnd, BitOr, Deref};

/// A bus transaction initiator / virtio-iommu endpoint ID (same number as the Zircon BTI id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub u32);

/// A virtio-iommu domain ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainId(pub u32);

/// Access permissions, same bit layout as `ZX_BTI_PERM_*` and `VIRTIO_IOMMU_MAP_F_{READ,WRITE}`:
/// READ = 1, WRITE = 2, EXEC = 4. Used both for mapping permissions and for the access a DMA makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Perms(u8);

impl Perms {
    /// No access.
    pub const NONE: Perms = Perms(0);
    /// Device reads memory (`ZX_BTI_PERM_READ`, `VIRTIO_IOMMU_MAP_F_READ`).
    pub const READ: Perms = Perms(1);
    /// Device writes memory (`ZX_BTI_PERM_WRITE`, `VIRTIO_IOMMU_MAP_F_WRITE`).
    pub const WRITE: Perms = Perms(2);
    /// Device executes from memory (`ZX_BTI_PERM_EXECUTE`).
    pub const EXEC: Perms = Perms(4);
    /// READ | WRITE.
    pub const RW: Perms = Perms(3);
    /// Every permission bit this type knows.
    pub const ALL: Perms = Perms(7);

    /// The permissions with these bits, or `None` if a bit other than READ/WRITE/EXEC is set.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !Self::ALL.0 == 0 {
            Some(Perms(bits))
        } else {
            None
        }
    }

    /// The raw bits (READ = 1, WRITE = 2, EXEC = 4).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is also set in `self`.
    pub const fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Perms {
    type Output = Perms;
    fn bitor(self, rhs: Perms) -> Perms {
        Perms(self.0 | rhs.0)
    }
}

impl BitAnd for Perms {
    type Output = Perms;
    fn bitand(self, rhs: Perms) -> Perms {
        Perms(self.0 & rhs.0)
    }
}

/// An inclusive IOVA range `[start, last]` (inclusive so that ranges ending at 2^64-1 are
/// representable, exactly as virtio-iommu's `virt_start`/`virt_end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IovaRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub last: u64,
}

impl IovaRange {
    /// `[start, last]`.
    pub const fn new(start: u64, last: u64) -> Self {
        IovaRange { start, last }
    }

    /// The `len` bytes starting at `start`, or `None` if `len` is 0 or the range would end past
    /// 2^64-1.
    pub const fn from_start_len(start: u64, len: u64) -> Option<Self> {
        if len == 0 {
            return None;
        }
        match start.checked_add(len - 1) {
            Some(last) => Some(IovaRange { start, last }),
            None => None,
        }
    }

    /// Number of bytes (up to 2^64, hence `u128`); 0 if `start > last`.
    pub const fn len(&self) -> u128 {
        if self.start > self.last {
            0
        } else {
            (self.last - self.start) as u128 + 1
        }
    }

    /// Whether the range is malformed (`start > last`); a well-formed range holds at least one byte.
    pub const fn is_empty(&self) -> bool {
        self.start > self.last
    }

    /// Whether `addr` lies in the range.
    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr <= self.last
    }
}

/// Configuration of an [`Engine`](crate::Engine).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Smallest page: MAP/UNMAP boundaries and physical addresses must be multiples of it.
    /// A power of two, at least 4096 (default 4096).
    pub granule: u64,
    /// Accepted IOVAs for MAP (default `[0, u64::MAX]`).
    pub input_range: IovaRange,
    /// Accepted domain IDs, inclusive (default `(0, u32::MAX)`).
    pub domain_range: (u32, u32),
    /// Limit on live domains; attaching that would create one more fails with `Error::NoMemory`
    /// (default 4096).
    pub max_domains: usize,
    /// Limit on live mappings across all domains; MAP beyond it fails with `Error::NoMemory`
    /// (default 1 << 20).
    pub max_mappings: usize,
    /// Global bypass for endpoints not attached to any domain (default false).
    pub bypass: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            granule: 4096,
            input_range: IovaRange::new(0, u64::MAX),
            domain_range: (0, u32::MAX),
            max_domains: 4096,
            max_mappings: 1 << 20,
            bypass: false,
        }
    }
}

/// One live mapping of a domain: the region created by one MAP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// IOVA range covered.
    pub range: IovaRange,
    /// Physical address `range.start` translates to.
    pub paddr: u64,
    /// What a device may do through the mapping.
    pub perms: Perms,
}

/// A physically contiguous part of a translated DMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Segment {
    /// First IOVA of the part.
    pub iova: u64,
    /// Physical address `iova` translates to.
    pub paddr: u64,
    /// Length in bytes (never 0).
    pub len: u64,
}

/// Number of segments a [`Translation`] holds without a heap allocation.
const INLINE_SEGMENTS: usize = 2;

/// The result of a successful translation: physically contiguous segments in IOVA order.
///
/// Up to two segments are stored inline (no allocation); longer translations spill to a `Vec`.
/// Two translations are equal when their segments are.
#[derive(Clone, Debug, Default)]
pub struct Translation {
    inline: [Segment; INLINE_SEGMENTS],
    inline_len: u8,
    spilled: Vec<Segment>,
}

impl Translation {
    /// An empty translation (a zero-length DMA).
    pub const fn new() -> Self {
        Translation {
            inline: [Segment {
                iova: 0,
                paddr: 0,
                len: 0,
            }; INLINE_SEGMENTS],
            inline_len: 0,
            spilled: Vec::new(),
        }
    }

    pub(crate) const fn single(segment: Segment) -> Self {
        let mut t = Self::new();
        t.inline[0] = segment;
        t.inline_len = 1;
        t
    }

    /// Appends a segment, merging it into the last one when it continues it both in IOVA and in
    /// physical address space.
    #[inline]
    pub(crate) fn push_merge(&mut self, seg: Segment) {
        if let Some(last) = self.last_mut()
            && last.iova.wrapping_add(last.len) == seg.iova
            && last.paddr.checked_add(last.len) == Some(seg.paddr)
            && last.len.checked_add(seg.len).is_some()
        {
            last.len += seg.len;
            return;
        }
        if self.spilled.is_empty() && (self.inline_len as usize) < INLINE_SEGMENTS {
            self.inline[self.inline_len as usize] = seg;
            self.inline_len += 1;
        } else {
            if self.spilled.is_empty() {
                self.spilled
                    .extend_from_slice(&self.inline[..self.inline_len as usize]);
            }
            self.spilled.push(seg);
        }
    }

    fn last_mut(&mut self) -> Option<&mut Segment> {
        if self.spilled.is_empty() {
            let n = self.inline_len as usize;
            self.inline[..n].last_mut()
        } else {
            self.spilled.last_mut()
        }
    }

    /// Total number of bytes translated.
    pub fn total_len(&self) -> u128 {
        self.iter().map(|s| u128::from(s.len)).sum()
    }
}

impl PartialEq for Translation {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Translation {}

impl Deref for Translation {
    type Target = [Segment];
    fn deref(&self) -> &[Segment] {
        if self.spilled.is_empty() {
            &self.inline[..self.inline_len as usize]
        } else {
            &self.spilled
        }
    }
}

impl<'a> IntoIterator for &'a Translation {
    type Item = &'a Segment;
    type IntoIter = std::slice::Iter<'a, Segment>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for Translation {
    type Item = Segment;
    type IntoIter = TranslationIntoIter;
    fn into_iter(self) -> TranslationIntoIter {
        TranslationIntoIter {
            translation: self,
            next: 0,
        }
    }
}

/// Owning iterator over the segments of a [`Translation`].
#[derive(Clone, Debug)]
pub struct TranslationIntoIter {
    translation: Translation,
    next: usize,
}

impl Iterator for TranslationIntoIter {
    type Item = Segment;
    fn next(&mut self) -> Option<Segment> {
        let seg = self.translation.get(self.next).copied();
        self.next += 1;
        seg
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.translation.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for TranslationIntoIter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_bits_and_contains() {
        assert_eq!(Perms::from_bits(0), Some(Perms::NONE));
        assert_eq!(Perms::from_bits(3), Some(Perms::RW));
        assert_eq!(Perms::from_bits(7), Some(Perms::ALL));
        assert_eq!(Perms::from_bits(8), None);
        assert_eq!(Perms::from_bits(0x81), None);
        assert_eq!(Perms::READ | Perms::WRITE, Perms::RW);
        assert!(Perms::RW.contains(Perms::READ));
        assert!(!Perms::READ.contains(Perms::WRITE));
        assert!(Perms::READ.contains(Perms::NONE));
        assert_eq!(Perms::EXEC.bits(), 4);
    }

    #[test]
    fn iova_range_len_at_the_top() {
        assert_eq!(IovaRange::new(0, u64::MAX).len(), 1u128 << 64);
        assert_eq!(
            IovaRange::from_start_len(u64::MAX, 1),
            Some(IovaRange::new(u64::MAX, u64::MAX))
        );
        assert_eq!(IovaRange::from_start_len(u64::MAX, 2), None);
        assert_eq!(IovaRange::from_start_len(5, 0), None);
        assert!(IovaRange::new(2, 1).is_empty());
    }

    #[test]
    fn translation_merges_and_spills() {
        let mut t = Translation::new();
        assert!(t.is_empty());
        t.push_merge(Segment {
            iova: 0,
            paddr: 100,
            len: 10,
        });
        t.push_merge(Segment {
            iova: 10,
            paddr: 110,
            len: 5,
        });
        assert_eq!(
            &*t,
            &[Segment {
                iova: 0,
                paddr: 100,
                len: 15
            }]
        );
        t.push_merge(Segment {
            iova: 15,
            paddr: 0,
            len: 1,
        });
        t.push_merge(Segment {
            iova: 16,
            paddr: 7,
            len: 1,
        });
        t.push_merge(Segment {
            iova: 17,
            paddr: 8,
            len: 1,
        });
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[2],
            Segment {
                iova: 16,
                paddr: 7,
                len: 2
            }
        );
        assert_eq!(t.total_len(), 18);
        let owned: Vec<Segment> = t.clone().into_iter().collect();
        assert_eq!(owned.as_slice(), &*t);
    }
}
