//! A Job Object as a container: every child is assigned before it runs
//! (`spawn.rs`), `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE` kills the whole job when its
//! last handle closes (our drop, or the owner's death: the OS closes the handles of
//! a dead process), and without `JOB_OBJECT_LIMIT_BREAKAWAY_OK` no descendant can
//! leave it. Limits are the job's own (job memory, active processes, CPU rate).

use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, OwnedHandle};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectBasicAccountingInformation, JobObjectBasicProcessIdList,
    JobObjectCpuRateControlInformation, JobObjectExtendedLimitInformation, QueryInformationJobObject,
    SetInformationJobObject, TerminateJobObject, JOBOBJECTINFOCLASS, JOBOBJECT_BASIC_ACCOUNTING_INFORMATION,
    JOBOBJECT_CPU_RATE_CONTROL_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JOB_OBJECT_CPU_RATE_CONTROL_ENABLE,
    JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP, JOB_OBJECT_LIMIT_ACTIVE_PROCESS, JOB_OBJECT_LIMIT_JOB_MEMORY,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::{OpenProcess, PROCESS_SET_QUOTA, PROCESS_TERMINATE};

use super::child::{alive, console_event, send_console_event, Child};
use super::{check, owned, threads, KILLED_EXIT_CODE};
use crate::limits::{Limits, Statistic, Stats};
use crate::signal::Signal;
use crate::sys::request::{SpawnFailure, SpawnRequest, Spawned};

/// A kill-on-close Job Object and the console process groups of the children
/// started into it.
pub(crate) struct Job {
    handle: OwnedHandle,
    /// With a memory limit: the completion port the job posts its messages to, and
    /// how many "memory limit reached" messages have been read from it.
    memory_port: Option<MemoryPort>,
    /// Each started child is the leader of a console process group (its pid is the
    /// group's id); our duplicate of its handle keeps that pid from being reused
    /// while we may send the group a console event.
    leaders: Mutex<Vec<(u32, OwnedHandle)>>,
}

impl Job {
    /// A new job with kill-on-close and `limits`; on a limit Windows refuses, that
    /// limit's name and why (the job is closed, empty).
    pub fn create(limits: &Limits) -> Result<Job, Result<(&'static str, String), io::Error>> {
        // SAFETY: null attributes and name are allowed; the result is checked.
        let handle = owned(unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) }).map_err(Err)?;
        let mut job = Job { handle, leaders: Mutex::new(Vec::new()), memory_port: None };
        // SAFETY: JOBOBJECT_EXTENDED_LIMIT_INFORMATION is plain data; zeroes are valid.
        let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        job.set(JobObjectExtendedLimitInformation, &info).map_err(Err)?;
        if let Some(bytes) = limits.memory_max {
            info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_JOB_MEMORY;
            info.JobMemoryLimit = usize::try_from(bytes).unwrap_or(usize::MAX);
            job.set(JobObjectExtendedLimitInformation, &info)
                .map_err(|e| Ok(("memory_max", format!("the job memory limit was refused: {e}"))))?;
            // Without the port the limit still holds; only its attribution is lost.
            match MemoryPort::associate(&job) {
                Ok(port) => job.memory_port = Some(port),
                Err(e) => tracing::debug!(error = %e, "no completion port for the job's memory-limit messages"),
            }
        }
        if let Some(n) = limits.max_processes {
            info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_ACTIVE_PROCESS;
            info.BasicLimitInformation.ActiveProcessLimit = u32::try_from(n).unwrap_or(u32::MAX);
            job.set(JobObjectExtendedLimitInformation, &info)
                .map_err(|e| Ok(("max_processes", format!("the job's active-process limit was refused: {e}"))))?;
        }
        if let Some(cores) = limits.cpu_quota {
            // The rate is a share of the whole machine, in 1/100 of a percent.
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            let rate = ((cores / cpus) * 10_000.0).round().clamp(1.0, 10_000.0) as u32;
            // SAFETY: plain data; zeroes are valid.
            let mut cpu: JOBOBJECT_CPU_RATE_CONTROL_INFORMATION = unsafe { std::mem::zeroed() };
            cpu.ControlFlags = JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP;
            cpu.Anonymous.CpuRate = rate;
            job.set(JobObjectCpuRateControlInformation, &cpu)
                .map_err(|e| Ok(("cpu_quota", format!("the job CPU rate limit was refused: {e}"))))?;
        }
        Ok(job)
    }

    fn set<T>(&self, class: JOBOBJECTINFOCLASS, info: &T) -> io::Result<()> {
        // SAFETY: `info` is the structure `class` names, of the size we pass.
        check(unsafe {
            SetInformationJobObject(
                self.handle.as_raw_handle(),
                class,
                (info as *const T).cast(),
                std::mem::size_of::<T>() as u32,
            )
        })
    }

    fn query<T>(&self, class: JOBOBJECTINFOCLASS, info: &mut T) -> io::Result<()> {
        // SAFETY: `info` is the structure `class` names, of the size we pass.
        check(unsafe {
            QueryInformationJobObject(
                self.handle.as_raw_handle(),
                class,
                (info as *mut T).cast(),
                std::mem::size_of::<T>() as u32,
                std::ptr::null_mut(),
            )
        })
    }

    /// Starts `req` in the job.
    pub fn spawn(&self, req: SpawnRequest<'_>) -> Result<Spawned, SpawnFailure> {
        super::spawn::spawn(req, self)
    }

    /// Assigns a process to the job.
    pub(super) fn assign(&self, process: BorrowedHandle<'_>) -> io::Result<()> {
        // SAFETY: two live handles of ours.
        check(unsafe { AssignProcessToJobObject(self.handle.as_raw_handle(), process.as_raw_handle()) })
    }

    /// Remembers a started child as a console process-group leader.
    pub(super) fn add_leader(&self, child: &Child) -> io::Result<()> {
        let handle = child.handle().try_clone_to_owned()?;
        let mut leaders = self.leaders.lock().unwrap_or_else(|e| e.into_inner());
        leaders.retain(|(_, h)| alive(h.as_handle()));
        leaders.push((child.pid(), handle));
        Ok(())
    }

    /// SIGKILL: `TerminateJobObject`, every process at once. SIGSTOP and SIGCONT:
    /// every thread of every process suspended or resumed. SIGINT, SIGTERM, SIGHUP
    /// and SIGQUIT: `CTRL_BREAK_EVENT` to each live child's console process group.
    /// Anything else is `Unsupported`.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        match sig {
            Signal::Stop => return self.suspend(true),
            Signal::Cont => return self.suspend(false),
            _ => {}
        }
        match console_event(sig)? {
            None => self.kill(),
            Some(event) => {
                let leaders = self.leaders.lock().unwrap_or_else(|e| e.into_inner());
                let mut result = Ok(());
                for (pid, handle) in leaders.iter() {
                    // Only a live leader: its group id is still its own.
                    if alive(handle.as_handle()) {
                        if let Err(e) = send_console_event(event, *pid) {
                            result = result.and(Err(e));
                        }
                    }
                }
                result
            }
        }
    }

    /// Terminates every process in the job, with corral's kill code.
    pub fn kill(&self) -> io::Result<()> {
        // SAFETY: our live job handle.
        check(unsafe { TerminateJobObject(self.handle.as_raw_handle(), KILLED_EXIT_CODE) })
    }

    fn accounting(&self) -> io::Result<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION> {
        // SAFETY: plain data; zeroes are valid.
        let mut info: JOBOBJECT_BASIC_ACCOUNTING_INFORMATION = unsafe { std::mem::zeroed() };
        self.query(JobObjectBasicAccountingInformation, &mut info)?;
        Ok(info)
    }

    /// Whether no process is left in the job.
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.accounting()?.ActiveProcesses == 0)
    }

    /// Waits until the job is empty, or `limit` passes; returns whether it is empty.
    /// (Polls with a growing interval: the completion-port notification needs a port
    /// per job and a thread to read it.)
    pub async fn wait_empty(&self, limit: Option<Duration>) -> io::Result<bool> {
        let deadline = limit.map(|l| Instant::now() + l);
        let mut pause = Duration::from_millis(1);
        loop {
            if self.is_empty()? {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Suspends (or resumes) every thread of every process in the job.
    pub fn suspend(&self, suspend: bool) -> io::Result<()> {
        for pid in self.pids()? {
            threads::suspend_or_resume(pid, !suspend)?;
        }
        Ok(())
    }

    /// Pulls a running process into the job.
    pub fn adopt(&self, pid: u32) -> io::Result<()> {
        // SAFETY: no pointer arguments; the result is checked by `owned`.
        let process = owned(unsafe { OpenProcess(PROCESS_SET_QUOTA | PROCESS_TERMINATE, 0, pid) })?;
        self.assign(process.as_handle())
    }

    /// The processes in the job.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        // JOBOBJECT_BASIC_PROCESS_ID_LIST: two u32 counts, then the ids (ULONG_PTR).
        let mut room = 64usize;
        loop {
            let mut buf = vec![0usize; 1 + room];
            let bytes = (buf.len() * std::mem::size_of::<usize>()) as u32;
            // SAFETY: the buffer is as large as we say and aligned for the structure.
            let ok = unsafe {
                QueryInformationJobObject(
                    self.handle.as_raw_handle(),
                    JobObjectBasicProcessIdList,
                    buf.as_mut_ptr().cast(),
                    bytes,
                    std::ptr::null_mut(),
                )
            };
            let assigned = (buf[0] & 0xFFFF_FFFF) as usize;
            let listed = (buf[0] >> 32) as usize;
            if ok != 0 && listed >= assigned {
                return Ok(buf[1..1 + listed].iter().map(|&p| p as u32).collect());
            }
            let err = io::Error::last_os_error();
            if ok == 0 && err.raw_os_error() != Some(windows_sys::Win32::Foundation::ERROR_MORE_DATA as i32) {
                return Err(err);
            }
            room = assigned.max(room * 2);
        }
    }

    /// The job's figures: processes, CPU time from its accounting, its peak memory.
    pub fn stats(&self) -> io::Result<Stats> {
        let acct = self.accounting()?;
        // SAFETY: plain data; zeroes are valid.
        let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        let peak =
            self.query(JobObjectExtendedLimitInformation, &mut limits).ok().map(|()| limits.PeakJobMemoryUsed as u64);
        let cpu = (acct.TotalUserTime + acct.TotalKernelTime).max(0) as u64;
        Ok(Stats {
            processes: acct.ActiveProcesses as usize,
            cpu_time: Some(Duration::from_nanos(cpu * 100)),
            memory_peak: peak.filter(|&p| p > 0),
            ..Stats::default()
        })
    }

    /// How many times a process of the job reached the job memory limit (each time
    /// Windows failed an allocation of it), where a memory limit is set and its
    /// messages can be read.
    pub fn memory_limit_hits(&self) -> Option<u64> {
        self.memory_port.as_ref().map(MemoryPort::hits)
    }

    /// Where each statistic comes from, or why it is unavailable.
    pub fn stat_source(&self, stat: Statistic) -> Result<String, String> {
        match stat {
            Statistic::Processes => Ok("the job's accounting (ActiveProcesses)".into()),
            Statistic::CpuTime => Ok("the job's accounting (TotalUserTime + TotalKernelTime)".into()),
            Statistic::MemoryCurrent => Err("a Job Object reports no current memory of the job".into()),
            Statistic::MemoryPeak => Ok("the job's PeakJobMemoryUsed (committed memory)".into()),
            Statistic::OomKills if self.memory_port.is_some() => Ok("the job memory limit's messages on the job's \
                completion port (JOB_OBJECT_MSG_JOB_MEMORY_LIMIT): Windows fails the allocation rather than killing"
                .into()),
            Statistic::OomKills => Err("counted only under a job memory limit (Windows fails an allocation at the \
                limit rather than killing, and says so on the job's completion port)"
                .into()),
        }
    }
}

/// A completion port associated with a job: the job posts a message there for each
/// event of its processes; the memory-limit ones are counted, the rest dropped.
struct MemoryPort {
    port: OwnedHandle,
    hits: Mutex<u64>,
}

impl MemoryPort {
    fn associate(job: &Job) -> io::Result<MemoryPort> {
        use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
        use windows_sys::Win32::System::JobObjects::{
            JobObjectAssociateCompletionPortInformation, JOBOBJECT_ASSOCIATE_COMPLETION_PORT,
        };
        use windows_sys::Win32::System::IO::CreateIoCompletionPort;
        // SAFETY: a new port, associated with no file; the result is checked.
        let port = owned(unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, std::ptr::null_mut(), 0, 1) })?;
        let info = JOBOBJECT_ASSOCIATE_COMPLETION_PORT {
            CompletionKey: std::ptr::null_mut(),
            CompletionPort: port.as_raw_handle(),
        };
        job.set(JobObjectAssociateCompletionPortInformation, &info)?;
        Ok(MemoryPort { port, hits: Mutex::new(0) })
    }

    /// Reads every message waiting on the port, without blocking, and returns the
    /// memory-limit messages counted so far.
    fn hits(&self) -> u64 {
        use windows_sys::Win32::System::SystemServices::{
            JOB_OBJECT_MSG_JOB_MEMORY_LIMIT, JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT,
        };
        use windows_sys::Win32::System::IO::{GetQueuedCompletionStatus, OVERLAPPED};
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let (mut message, mut key, mut overlapped) = (0u32, 0usize, std::ptr::null_mut::<OVERLAPPED>());
            // SAFETY: our port and three out-values on the stack; a zero timeout only
            // polls.
            let got = unsafe {
                GetQueuedCompletionStatus(self.port.as_raw_handle(), &mut message, &mut key, &mut overlapped, 0)
            };
            if got == 0 {
                return *hits;
            }
            if message == JOB_OBJECT_MSG_JOB_MEMORY_LIMIT || message == JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT {
                *hits += 1;
            }
        }
    }
}

/// How each limit is set on a job (whether the OS enforces it is another matter:
/// Wine accepts some and enforces none).
pub(crate) const LIMITS: &[(&str, &str)] = &[
    ("memory_max", "Job Object's job memory limit (JOB_OBJECT_LIMIT_JOB_MEMORY)"),
    ("max_processes", "Job Object's active-process limit (JOB_OBJECT_LIMIT_ACTIVE_PROCESS)"),
    ("cpu_quota", "Job Object's CPU rate hard cap, a share of the whole machine"),
];

/// What `corral doctor` reports of Job Objects here, found by trying: whether the
/// owner is in a job itself, and whether a process can be in two jobs (nested jobs,
/// Windows 8 and later), tried on a suspended `cmd.exe` that never runs.
pub(crate) fn facts() -> Vec<(&'static str, String)> {
    use windows_sys::Win32::System::JobObjects::IsProcessInJob;
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, CREATE_SUSPENDED};
    let mut facts = Vec::new();
    let mut in_job = 0;
    // SAFETY: the pseudo-handle of our own process, a null job (any job) and a BOOL.
    let owner = match unsafe { IsProcessInJob(GetCurrentProcess(), std::ptr::null_mut(), &mut in_job) } {
        0 => format!("unknown ({})", io::Error::last_os_error()),
        _ if in_job != 0 => "yes: corral's jobs nest inside it".to_string(),
        _ => "no".to_string(),
    };
    facts.push(("owner in a job", owner));
    let nested = (|| -> io::Result<String> {
        let limits = Limits::default();
        let (a, b) = (Job::create(&limits).map_err(job_error)?, Job::create(&limits).map_err(job_error)?);
        let cmd = std::path::Path::new(&std::env::var_os("SystemRoot").unwrap_or_else(|| "C:\\Windows".into()))
            .join("System32")
            .join("cmd.exe");
        let mut c = std::process::Command::new(cmd);
        std::os::windows::process::CommandExt::creation_flags(&mut c, CREATE_SUSPENDED);
        let mut child = c.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).spawn()?;
        let process = child.as_handle();
        let first = a.assign(process);
        let second = first.as_ref().ok().map(|()| b.assign(process));
        let _ = child.kill();
        let _ = child.wait();
        Ok(match (first, second) {
            (Err(e), _) => format!("unknown: the first assignment failed ({e})"),
            (Ok(()), Some(Ok(()))) => "yes".to_string(),
            (Ok(()), Some(Err(e))) => format!("no ({e})"),
            (Ok(()), None) => unreachable!("the second assignment follows a first that worked"),
        })
    })()
    .unwrap_or_else(|e| format!("unknown ({e})"));
    facts.push(("nested jobs", nested));
    facts.push(("breakaway", "refused: corral's jobs never set JOB_OBJECT_LIMIT_BREAKAWAY_OK".to_string()));
    facts
}

fn job_error(e: Result<(&'static str, String), io::Error>) -> io::Error {
    match e {
        Ok((limit, why)) => io::Error::other(format!("{limit}: {why}")),
        Err(e) => e,
    }
}
