//! Links the `corral` binary at a fixed address on Linux (not position-independent).
//!
//! Why: a position-independent `corral` makes the dynamic loader patch about 17,000
//! pointers (clap's, tokio's and tracing's tables) at every start, writing some 80
//! pages that each cost a copy-on-write fault: a third of what GNU `timeout`'s whole
//! run costs (measured with `perf stat -e page-faults corral --version`: 227 faults
//! position-independent, 133 fixed; `compare --only startup`: 1.70× GNU timeout
//! position-independent, 1.51× fixed). The shared libraries, stack and heap are
//! still placed at random; only this binary's own code and data are not, as with
//! Go's default builds. `CORRAL_CLI_PIE=1` at build time keeps it
//! position-independent.

fn main() {
    println!("cargo:rerun-if-env-changed=CORRAL_CLI_PIE");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let pie = std::env::var_os("CORRAL_CLI_PIE").is_some_and(|v| v == "1");
    if os == "linux" && env == "gnu" && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
