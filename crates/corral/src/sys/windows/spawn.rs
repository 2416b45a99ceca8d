//! Starting a child inside a Job Object before it runs a single instruction of its
//! own: created suspended (and as the leader of a new console process group, for
//! Ctrl-Break), assigned to the job, then resumed. std cannot pass
//! `PROC_THREAD_ATTRIBUTE_JOB_LIST` on stable Rust, so this is the suspended path
//! the Job Object documentation describes.

use std::io;

use windows_sys::Win32::System::Threading::{CREATE_NEW_PROCESS_GROUP, CREATE_SUSPENDED};

use super::child::{terminate, Child};
use super::job::Job;
use super::threads;
use crate::sys::request::{ChildIo, SpawnFailure, SpawnRequest, Spawned};

pub(super) fn spawn(req: SpawnRequest<'_>, job: &Job) -> Result<Spawned, SpawnFailure> {
    let unsupported = |what: &str| {
        SpawnFailure::Other(io::Error::new(io::ErrorKind::Unsupported, format!("{what} is not available on Windows")))
    };
    if req.uid.is_some() || req.gid.is_some() {
        return Err(unsupported("running as another user or group id"));
    }
    if !req.resources.is_empty() {
        return Err(unsupported("setting a process's rlimits, nice value or umask"));
    }
    if req.pty_slave.is_some() {
        return Err(unsupported("PTY mode (ConPTY)"));
    }
    let mut c = tokio::process::Command::new(req.program);
    c.args(req.args).env_clear().envs(req.env.pairs()).kill_on_drop(false);
    c.creation_flags(CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP);
    if let Some(dir) = req.cwd {
        c.current_dir(dir);
    }
    let to_std = |io: ChildIo| -> std::process::Stdio {
        match io {
            ChildIo::Inherit => std::process::Stdio::inherit(),
            ChildIo::Null => std::process::Stdio::null(),
            ChildIo::Pipe => std::process::Stdio::piped(),
            ChildIo::Fd(handle) => handle.into(),
            // Refused above: there is no PTY.
            ChildIo::Pty => std::process::Stdio::null(),
        }
    };
    c.stdin(to_std(req.stdin));
    c.stdout(to_std(req.stdout));
    c.stderr(to_std(req.stderr));
    let mut started = c.spawn().map_err(|e| match req.cwd {
        Some(dir) if !dir.is_dir() => SpawnFailure::WorkingDir(e),
        _ => SpawnFailure::Other(e),
    })?;
    let (stdin, stdout, stderr) = (started.stdin.take(), started.stdout.take(), started.stderr.take());
    let child = match Child::new(started) {
        Ok(child) => child,
        Err(e) => return Err(SpawnFailure::Other(e)),
    };
    // In the job, or it never runs: a suspended process that is not ours to contain
    // is terminated before its first instruction.
    if let Err(e) = job.assign(child.handle()) {
        let _ = terminate(child.handle());
        return Err(SpawnFailure::Placement(e));
    }
    match threads::suspend_or_resume(child.pid(), true) {
        Ok(n) if n > 0 => {}
        Ok(_) => {
            let _ = terminate(child.handle());
            return Err(SpawnFailure::Other(io::Error::other("the new process had no thread to resume")));
        }
        Err(e) => {
            let _ = terminate(child.handle());
            return Err(SpawnFailure::Other(e));
        }
    }
    if let Err(e) = job.add_leader(&child) {
        let _ = terminate(child.handle());
        return Err(SpawnFailure::Other(e));
    }
    Ok(Spawned { child, stdin, stdout, stderr })
}
