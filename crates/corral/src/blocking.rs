//! The verbs for synchronous code. Each call runs on a private current-thread tokio
//! runtime; do not call these from inside an async runtime (use the async verbs).
//!
//! ```no_run
//! let out = corral::blocking::output(&corral::Command::new("uname").arg("-r"))?;
//! println!("{}", out.stdout_str());
//! # Ok::<(), corral::Error>(())
//! ```

use std::future::Future;

use crate::command::Command;
use crate::error::{Error, Result};
use crate::run::Output;

fn block_on<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting a runtime for corral::blocking", e))?
        .block_on(f)
}

/// [`Command::output`], blocking.
pub fn output(cmd: &Command) -> Result<Output> {
    block_on(cmd.output())
}

/// [`Command::run`], blocking.
pub fn run(cmd: &Command) -> Result<String> {
    block_on(cmd.run())
}

/// [`Command::exit_code`], blocking.
pub fn exit_code(cmd: &Command) -> Result<i32> {
    block_on(cmd.exit_code())
}

/// [`Command::test`], blocking.
pub fn test(cmd: &Command) -> Result<bool> {
    block_on(cmd.test())
}
