//! Puts an interactive terminal into non-canonical, no-echo mode for the run and restores it.
//! ISIG stays on, so Ctrl-C still ends the VMM; a SIGINT/SIGTERM/SIGHUP handler restores the
//! terminal before the signal's default action runs, so the shell is not left without echo.

use std::io::IsTerminal;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

/// The settings to restore, kept where a signal handler can read them without locking.
static SAVED: OnceLock<libc::termios> = OnceLock::new();

const RESTORING_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn restore_and_reraise(signal: libc::c_int) {
    if let Some(saved) = SAVED.get() {
        // SAFETY: tcsetattr, signal and raise are async-signal-safe; `saved` is a valid termios
        // for stdin, initialised before this handler was installed.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved);
        }
    }
    // SAFETY: as above; restores the default action and re-delivers the signal.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

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
        let saved = *SAVED.get_or_init(|| saved);
        let handler = restore_and_reraise as extern "C" fn(libc::c_int);
        for signal in RESTORING_SIGNALS {
            // SAFETY: installs a handler that only calls async-signal-safe functions.
            unsafe { libc::signal(signal, handler as libc::sighandler_t) };
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
        for signal in RESTORING_SIGNALS {
            // SAFETY: puts back the default action of a signal this guard took over.
            unsafe { libc::signal(signal, libc::SIG_DFL) };
        }
    }
}
