//! The few system calls std has no wrapper for: mount(2), sync(2), reboot(2).

use std::ffi::CString;
use std::io;

/// Mounts a pseudo filesystem (`proc`, `sysfs`, `devtmpfs`) at `target`,
/// creating the directory if needed. Already mounted counts as success.
pub fn mount_pseudo(fstype: &str, target: &str) -> io::Result<()> {
    match std::fs::create_dir(target) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    let source = CString::new(fstype)?;
    let target_c = CString::new(target)?;
    // SAFETY: all pointers are NUL-terminated strings that outlive the call;
    // the data argument may be NULL for these filesystems.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target_c.as_ptr(),
            source.as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EBUSY) {
        return Ok(());
    }
    Err(error)
}

/// Flushes all filesystem and block-device buffers.
pub fn sync() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Powers the machine off (reboot(2) with RB_POWER_OFF). Returns only if the
/// kernel refused.
pub fn power_off() -> io::Error {
    // SAFETY: reboot(2) with a valid command and no pointer arguments; on
    // success it does not return.
    unsafe { libc::reboot(libc::RB_POWER_OFF) };
    io::Error::last_os_error()
}
