//! Times a VM run from the outside: from spawning the command to the first byte on its stdout
//! (the guest's first serial byte) and to its exit. Used for docs/PERFORMANCE.md "## VMM boot".
//!
//! ```text
//! cargo run --release -p vmm --example measure_boot -- [--runs N] -- COMMAND [ARGS...]
//! ```
//! e.g. `-- target/release/vmm --kernel guest.elf` or `-- qemu-system-x86_64 -M microvm ...`.
//! Prints min / median / max of both figures over N runs (default 20) and the exit statuses.
//!
//! `measure_boot --write-hello-guest PATH` writes the minimal guest used for "## VMM boot" in
//! docs/PERFORMANCE.md (the `HELLO` guest of vmm/tests/common/mod.rs: prints "hi", exits 42).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn summary(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.sort();
    format!(
        "min {:.2} ms, median {:.2} ms, max {:.2} ms",
        ms(v[0]),
        ms(v[v.len() / 2]),
        ms(v[v.len() - 1])
    )
}

/// `mov dx, 0x3f8; mov al, 'h'; out dx, al; mov al, 'i'; out dx, al; mov al, 42; out 0xf4, al;
/// hlt`, as an ELF64 executable with one PT_LOAD at 0x100000.
fn hello_guest() -> Vec<u8> {
    let code = [
        0x66, 0xba, 0xf8, 0x03, 0xb0, 0x68, 0xee, 0xb0, 0x69, 0xee, 0xb0, 0x2a, 0xe6, 0xf4, 0xf4,
    ];
    let paddr: u64 = 0x10_0000;
    let mut v = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    let fields: [(u64, usize); 21] = [
        (2, 2),
        (62, 2),
        (1, 4),
        (paddr, 8),
        (64, 8),
        (0, 8),
        (0, 4),
        (64, 2),
        (56, 2),
        (1, 2),
        (0, 2),
        (0, 2),
        (0, 2),
        (1, 4),
        (7, 4),
        (120, 8),
        (paddr, 8),
        (paddr, 8),
        (code.len() as u64, 8),
        (code.len() as u64, 8),
        (0x1000, 8),
    ];
    for (val, size) in fields {
        v.extend_from_slice(&val.to_le_bytes()[..size]);
    }
    v.extend_from_slice(&code);
    v
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--write-hello-guest") {
        let Some(path) = args.get(i + 1) else {
            eprintln!("--write-hello-guest needs a path");
            std::process::exit(2);
        };
        if let Err(e) = std::fs::write(path, hello_guest()) {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let (opts, cmd) = (&args[..split], args.get(split + 1..).unwrap_or(&[]));
    let runs: usize = opts
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| opts.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let Some((program, rest)) = cmd.split_first() else {
        eprintln!("usage: measure_boot [--runs N] -- COMMAND [ARGS...]");
        std::process::exit(2);
    };

    let mut first = Vec::new();
    let mut exit = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut child = match Command::new(program)
            .args(rest)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("cannot run {program}: {e}");
                std::process::exit(1);
            }
        };
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut byte = [0u8; 1];
        if matches!(stdout.read(&mut byte), Ok(1)) {
            first.push(start.elapsed());
        }
        let mut rest_out = Vec::new();
        let _ = stdout.read_to_end(&mut rest_out);
        let status = child.wait().expect("wait");
        exit.push(start.elapsed());
        statuses.push(status.code().unwrap_or(-1));
    }
    statuses.sort();
    statuses.dedup();
    println!("command: {}", cmd.join(" "));
    println!("runs: {runs}, exit statuses seen: {statuses:?}");
    println!("first serial byte: {}", summary(first));
    println!("exit:              {}", summary(exit));
}
