//! Time for timeouts and benchmarks: the TSC, and its frequency measured against the PIT.
//!
//! `rdtsc` runs at CPL3 (CR4.TSD is clear). Timeouts are in TSC cycles and need no calibration;
//! benchmarks convert cycles to seconds with [`tsc_hz`], measured once against the 8254 PIT
//! (1.193182 MHz, KVM's in-kernel PIT counts in host time).

use core::arch::asm;

/// A generous timeout for one request: 10^10 cycles, 2.5 s at 4 GHz or more at lower clocks.
/// The host's two cores are shared by several builds, so a device thread may wait for a core.
pub const REQUEST_TIMEOUT_CYCLES: u64 = 10_000_000_000;

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: rdtsc only reads the TSC.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// A point in TSC time after which waiting stops.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: u64,
}

impl Deadline {
    /// `cycles` TSC cycles from now.
    pub fn after_cycles(cycles: u64) -> Self {
        Deadline {
            end: rdtsc().saturating_add(cycles),
        }
    }

    /// The default request timeout ([`REQUEST_TIMEOUT_CYCLES`]).
    pub fn request() -> Self {
        Self::after_cycles(REQUEST_TIMEOUT_CYCLES)
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        rdtsc() >= self.end
    }
}

/// PIT input clock in Hz.
pub const PIT_HZ: u64 = 1_193_182;
const PIT_CHANNEL0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
/// Channel 0, lobyte/hibyte access, mode 2 (rate generator), binary.
const PIT_CH0_MODE2: u8 = 0b0011_0100;
/// Channel 0 counter latch.
const PIT_CH0_LATCH: u8 = 0b0000_0000;

fn outb(port: u16, value: u8) {
    // SAFETY: only called on the PIT's ports; at CPL3 under PVM the runtime's #GP handler
    // performs the access.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: as for `outb`.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags))
    };
    v
}

fn pit_count() -> u16 {
    outb(PIT_COMMAND, PIT_CH0_LATCH);
    let lo = inb(PIT_CHANNEL0);
    let hi = inb(PIT_CHANNEL0);
    u16::from_le_bytes([lo, hi])
}

/// Measures the TSC frequency against PIT channel 0 over about 100 ms (reprograms channel 0 as a
/// free-running 65536-count rate generator; programs run with interrupts off, so its IRQ 0 is
/// never taken). `None` if the PIT does not count.
pub fn measure_tsc_hz() -> Option<u64> {
    outb(PIT_COMMAND, PIT_CH0_MODE2);
    outb(PIT_CHANNEL0, 0);
    outb(PIT_CHANNEL0, 0);
    let target_ticks = PIT_HZ / 10;
    let mut prev = pit_count();
    let start = rdtsc();
    let mut ticks = 0u64;
    // The counter counts down and wraps every 65536 ticks (55 ms); each poll takes a few port
    // I/O exits, far less than that.
    let give_up = start.saturating_add(REQUEST_TIMEOUT_CYCLES);
    while ticks < target_ticks {
        let now = pit_count();
        ticks += u64::from(prev.wrapping_sub(now));
        prev = now;
        if rdtsc() > give_up {
            return None;
        }
    }
    let cycles = rdtsc() - start;
    u64::try_from(u128::from(cycles) * u128::from(PIT_HZ) / u128::from(ticks)).ok()
}

/// The TSC frequency the CPU reports (CPUID leaf 0x15, or the base frequency of leaf 0x16), if
/// it reports one; for cross-checking [`measure_tsc_hz`].
pub fn cpuid_tsc_hz() -> Option<u64> {
    let max = core::arch::x86_64::__cpuid(0).eax;
    if max >= 0x15 {
        let l = core::arch::x86_64::__cpuid(0x15);
        if l.eax != 0 && l.ebx != 0 && l.ecx != 0 {
            return Some(u64::from(l.ecx) * u64::from(l.ebx) / u64::from(l.eax));
        }
    }
    if max >= 0x16 {
        let mhz = core::arch::x86_64::__cpuid(0x16).eax & 0xffff;
        if mhz != 0 {
            return Some(u64::from(mhz) * 1_000_000);
        }
    }
    None
}

/// `count` events in `cycles` TSC cycles at `hz`, per second.
pub fn per_second(count: u64, cycles: u64, hz: u64) -> u64 {
    if cycles == 0 {
        return 0;
    }
    u64::try_from(u128::from(count) * u128::from(hz) / u128::from(cycles)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_second_scales_without_overflow() {
        assert_eq!(per_second(1000, 3_000_000_000, 3_000_000_000), 1000);
        assert_eq!(per_second(5, 1_500_000_000, 3_000_000_000), 10);
        assert_eq!(per_second(u64::MAX, 1, u64::MAX), u64::MAX);
        assert_eq!(per_second(1, 0, 1), 0);
    }

    #[test]
    fn tsc_moves_forward() {
        let a = rdtsc();
        let b = rdtsc();
        assert!(b >= a);
    }
}
