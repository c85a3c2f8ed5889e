//! Zircon syscall surface (owned by the zx engineer).
