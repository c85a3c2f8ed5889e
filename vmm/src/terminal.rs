//! Puts an interactive terminal into non-canonical, no-echo mode for the run and restores it.
//! ISIG stays on, so Ctrl-C still ends the VMM.

use std::io::IsTerminal;
use std::os::fd::AsRawFd;

/// Restores the terminal settings of stdin when dropped.
#[derive(Debug)]
pub struct TerminalGuard {
    saved: libc::termios,
}

impl TerminalGuard {
    /// Switches stdin to non-canonical, no-echo mode if it is a terminal.
    pub fn stdin_raw() -> Option<Self> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let fd = stdin.as_raw_fd();
        // SAFETY: termios is plain data; an all-zero value is valid and is overwritten below.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is stdin, open for the life of the process; `saved` is a valid termios.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        raw.c_lflag &= !(libc::ICANON | libc::ECHO);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: as above; `raw` is a valid termios derived from the current one.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(Self { saved })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let fd = std::io::stdin().as_raw_fd();
        // SAFETY: restores settings previously read from the same descriptor.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &self.saved) };
    }
}
