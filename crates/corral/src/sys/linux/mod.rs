//! Linux: cgroup v2 containment and the kernel feature self-tests `corral doctor` reports.

pub(crate) mod cgroup;
pub(crate) mod clone3;
pub(crate) mod pidfd;
pub(crate) mod selftest;
pub(crate) mod warden;

/// The text of a kernel-generated file (`/proc`, cgroupfs). Such files report a size
/// of 0, so `fs::read_to_string` starts with a 32-byte read and doubles: eight reads
/// for a mount table. One page-sized buffer takes it in one read and the end-of-file
/// read.
pub(crate) fn read_kernel_text(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(4096);
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

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
