//! Builds the guest programs of `guest-tests/` (a separate cargo workspace: they are linked
//! freestanding, see guest-tests/build.rs) in release mode into `$OUT_DIR/guest-target`, and
//! tells `src/lib.rs` where the images are and what their names are.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Variables of the outer build that must not leak into the guest build: they would change its
/// flags (RUSTFLAGS, profiles, target), its output directory, or run a wrapper such as
/// clippy-driver over it (`cargo clippy` sets RUSTC_WORKSPACE_WRAPPER and CLIPPY_ARGS).
const SCRUBBED_VARS: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CLIPPY_CONF_DIR",
    "CARGO_INCREMENTAL",
];
const SCRUBBED_PREFIXES: &[&str] = &["CARGO_BUILD_", "CARGO_PROFILE_", "CARGO_TARGET_"];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let guest_dir = manifest_dir
        .parent()
        .expect("resources/ is inside the repository")
        .join("guest-tests");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = out_dir.join("guest-target");

    for input in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "link.ld",
        ".cargo/config.toml",
        "src",
        "rt/Cargo.toml",
        "rt/src",
        "virtio/Cargo.toml",
        "virtio/src",
    ] {
        println!("cargo:rerun-if-changed={}", guest_dir.join(input).display());
    }

    let programs = program_names(&guest_dir.join("src/bin"));
    build_guests(&guest_dir, &target_dir);

    let image_dir = target_dir.join("release");
    for name in &programs {
        let image = image_dir.join(name);
        assert!(
            image.is_file(),
            "guest build did not produce {}",
            image.display()
        );
    }
    let list = programs
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let generated = format!(
        "/// Every guest program, by name (one per `guest-tests/src/bin/*.rs`), sorted.\n\
         pub const GUEST_PROGRAMS: &[&str] = &[{list}];\n"
    );
    fs::write(out_dir.join("programs.rs"), generated).expect("write programs.rs");
    println!("cargo:rustc-env=GUEST_IMAGE_DIR={}", image_dir.display());
}

/// The names of the `src/bin/*.rs` files, sorted.
fn program_names(bin_dir: &Path) -> Vec<String> {
    let entries =
        fs::read_dir(bin_dir).unwrap_or_else(|e| panic!("read {}: {e}", bin_dir.display()));
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .filter_map(|path| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "no guest programs in {}",
        bin_dir.display()
    );
    names
}

fn build_guests(guest_dir: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // Cargo finds guest-tests/.cargo/config.toml from the working directory.
    cmd.current_dir(guest_dir)
        .arg("build")
        .arg("--release")
        .arg("--bins")
        .arg("--manifest-path")
        .arg(guest_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if SCRUBBED_VARS.contains(&key.as_ref())
            || SCRUBBED_PREFIXES.iter().any(|p| key.starts_with(p))
        {
            cmd.env_remove(key.as_ref());
        }
    }
    // Captured: cargo reads this script's stdout for directives.
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("run cargo for guest-tests: {e}"));
    if !output.status.success() {
        panic!(
            "building guest-tests failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
