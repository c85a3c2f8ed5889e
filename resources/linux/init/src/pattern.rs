//! The deterministic disk pattern and the checksum printed in report lines.
//!
//! Pattern: the little-endian u64 at byte offset `8 * i` of the disk is
//! `splitmix64(seed ^ i)` (i counted from offset 0 of the disk, so any region
//! can be generated independently). Checksum: FNV-1a over the region's
//! little-endian u64 words (`h = 0xcbf29ce484222325; h = (h ^ w) * 0x100000001b3`),
//! so a host-side test can recompute both from the seed alone.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// splitmix64's output function (Steele, Lea, Flood 2014).
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills `buf` with the pattern for disk offset `offset` (both multiples of 8).
pub fn fill(buf: &mut [u8], seed: u64, offset: u64) {
    let first_word = offset / 8;
    for (i, chunk) in (0u64..).zip(buf.chunks_exact_mut(8)) {
        chunk.copy_from_slice(&splitmix64(seed ^ (first_word + i)).to_le_bytes());
    }
}

/// Running FNV-1a checksum over little-endian u64 words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum(u64);

impl Default for Checksum {
    fn default() -> Self {
        Checksum(FNV_OFFSET)
    }
}

impl Checksum {
    /// Adds `data` (a multiple of 8 bytes long) to the checksum.
    pub fn update(&mut self, data: &[u8]) {
        for chunk in data.chunks_exact(8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word)).wrapping_mul(FNV_PRIME);
        }
    }

    pub fn value(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_reference_values() {
        // First outputs of the reference generator seeded with 0 (state += golden gamma).
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(0x9e37_79b9_7f4a_7c15), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn fill_is_position_independent() {
        let mut whole = vec![0u8; 64];
        fill(&mut whole, 7, 4096);
        let mut tail = vec![0u8; 32];
        fill(&mut tail, 7, 4096 + 32);
        assert_eq!(&whole[32..], &tail[..]);
        let mut other_seed = vec![0u8; 64];
        fill(&mut other_seed, 8, 4096);
        assert_ne!(whole, other_seed);
    }

    #[test]
    fn checksum_is_fnv1a_over_words_and_incremental() {
        let mut empty = Checksum::default();
        empty.update(&[]);
        assert_eq!(empty.value(), FNV_OFFSET);

        let mut one = Checksum::default();
        one.update(&1u64.to_le_bytes());
        assert_eq!(one.value(), (FNV_OFFSET ^ 1).wrapping_mul(FNV_PRIME));

        let mut data = vec![0u8; 256];
        fill(&mut data, 3, 0);
        let mut at_once = Checksum::default();
        at_once.update(&data);
        let mut in_parts = Checksum::default();
        in_parts.update(&data[..64]);
        in_parts.update(&data[64..]);
        assert_eq!(at_once, in_parts);
        data[100] ^= 1;
        let mut changed = Checksum::default();
        changed.update(&data);
        assert_ne!(changed, at_once);
    }
}
