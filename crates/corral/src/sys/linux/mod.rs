//! Linux: cgroup v2 containment and the kernel feature self-tests `corral doctor` reports.

pub(crate) mod cgroup;
pub(crate) mod clone3;
pub(crate) mod pidfd;
pub(crate) mod selftest;
pub(crate) mod warden;

/// Maps `len` bytes of private anonymous memory for a child's stack (the clone3 spawn
/// path's and the warden's).
pub(crate) fn map_stack(len: usize) -> std::io::Result<*mut std::ffi::c_void> {
    map_anonymous(len, libc::MAP_STACK)
}

/// Maps `len` bytes of private anonymous memory, zero-filled: the kernel gives a page
/// only when it is first touched, so an untouched part costs nothing.
pub(crate) fn map_zeroed(len: usize) -> std::io::Result<*mut std::ffi::c_void> {
    map_anonymous(len, 0)
}

fn map_anonymous(len: usize, extra: libc::c_int) -> std::io::Result<*mut std::ffi::c_void> {
    // SAFETY: a fresh private anonymous mapping that nothing else refers to; the caller
    // owns it from here.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(base)
}
