//! The librados calls we need, over the raw declarations in `rados_sys.rs`.
//!
//! The `ceph` crate's safe helpers (used in an earlier version) were unsuitable:
//! `connect_to_ceph` leaked the handle when the connect failed, `Rados::config_set`
//! refused once connected, `ceph_mon_command_without_data` read a freed buffer on
//! error. Here every handle has an owner whose `Drop`
//! releases it, and every librados-allocated buffer is copied by length and then
//! freed exactly once.
#![allow(unsafe_code)] // the safe owners of librados handles and buffers; each call states its safety.

use std::ffi::{CStr, CString, c_char};
use std::marker::PhantomData;
use std::path::Path;
use std::ptr;

use super::rados_sys as sys;

/// Which step of a connect failed, with librados' (negative) return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectFailure {
    Create(i32),
    ReadConf(i32),
    Connect(i32),
}

/// A connected cluster handle. Not `Send` (it holds a raw pointer): it lives and dies
/// on the Ceph thread.
#[derive(Debug)]
pub(crate) struct Cluster {
    handle: sys::rados_t,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SAFETY: `handle` came from a successful rados_create2 and is shut down only
        // here, once. rados_shutdown also releases a handle whose connect failed
        // (librados frees the RadosClient and its context either way).
        unsafe { sys::rados_shutdown(self.handle) };
    }
}

impl Cluster {
    /// Creates a handle for `entity` (`client.admin`), reads `conf` (our generated
    /// client conf) and connects. On failure the handle is released before returning.
    pub fn connect(entity: &str, conf: &Path) -> Result<Cluster, ConnectFailure> {
        let cluster_name = CString::new("ceph").map_err(|_| ConnectFailure::Create(-22))?;
        let name = CString::new(entity).map_err(|_| ConnectFailure::Create(-22))?;
        let conf = conf
            .to_str()
            .and_then(|c| CString::new(c).ok())
            .ok_or(ConnectFailure::ReadConf(-22))?;
        let mut handle: sys::rados_t = ptr::null_mut();
        // SAFETY: all strings are valid NUL-terminated C strings that outlive the call;
        // `handle` is a valid out-pointer.
        let r = unsafe { sys::rados_create2(&mut handle, cluster_name.as_ptr(), name.as_ptr(), 0) };
        if r < 0 || handle.is_null() {
            return Err(ConnectFailure::Create(r.min(-1)));
        }
        // From here on, Drop shuts the handle down on every exit path.
        let cluster = Cluster { handle };
        // SAFETY: valid handle and C string.
        let r = unsafe { sys::rados_conf_read_file(cluster.handle, conf.as_ptr()) };
        if r < 0 {
            return Err(ConnectFailure::ReadConf(r));
        }
        // SAFETY: valid, configured, not yet connected handle.
        let r = unsafe { sys::rados_connect(cluster.handle) };
        if r < 0 {
            return Err(ConnectFailure::Connect(r));
        }
        Ok(cluster)
    }

    /// Our global id: the `N` of `client.N` in watcher and locker lists.
    pub(crate) fn instance_id(&self) -> u64 {
        // SAFETY: connected handle.
        unsafe { sys::rados_get_instance_id(self.handle) }
    }

    /// This client's own messenger addresses (e.g. `127.0.0.1:0/1234`, or a vector
    /// `[v2:...,v1:...]`), so we never blocklist ourselves.
    pub fn own_addrs(&self) -> Result<String, i32> {
        let mut out: *mut c_char = ptr::null_mut();
        // SAFETY: connected handle, valid out-pointer.
        let r = unsafe { sys::rados_getaddrs(self.handle, &mut out) };
        if r < 0 {
            return Err(r);
        }
        let buf = RadosString(out);
        Ok(buf.to_string_lossy())
    }

    /// Waits until we have the newest OSD map, so an operation after a blocklist
    /// change sees it.
    pub(crate) fn wait_for_latest_osdmap(&self) -> Result<(), i32> {
        // SAFETY: connected handle.
        let r = unsafe { sys::rados_wait_for_latest_osdmap(self.handle) };
        if r < 0 { Err(r) } else { Ok(()) }
    }

    /// Sends one mon command (a JSON object) and returns librados' return code with
    /// the output and status copied out. With `sensitive`, librados' copies are
    /// zeroed before they are freed (for replies that carry keys).
    pub fn mon_command(&self, cmd: &str, sensitive: bool) -> Result<MonReply, i32> {
        let cmd = CString::new(cmd).map_err(|_| -libc::EINVAL)?;
        let mut cmds = [cmd.as_ptr()];
        let mut outbuf: *mut c_char = ptr::null_mut();
        let mut outbuf_len: libc::size_t = 0;
        let mut outs: *mut c_char = ptr::null_mut();
        let mut outs_len: libc::size_t = 0;
        // SAFETY: `cmds` holds one valid C string pointer and outlives the call; no
        // input buffer (null, length 0); the four out-pointers are valid. librados
        // sets the out buffers to malloc'd copies (or null when empty) on success and
        // on error alike; `RadosBuffer` frees them below.
        let ret = unsafe {
            sys::rados_mon_command(
                self.handle,
                cmds.as_mut_ptr(),
                1,
                ptr::null(),
                0,
                &mut outbuf,
                &mut outbuf_len,
                &mut outs,
                &mut outs_len,
            )
        };
        let out = RadosBuffer {
            ptr: outbuf,
            len: outbuf_len,
            sensitive,
        };
        let status = RadosBuffer {
            ptr: outs,
            len: outs_len,
            sensitive,
        };
        Ok(MonReply {
            ret,
            out: out.to_vec(),
            status: String::from_utf8_lossy(&status.to_vec()).into_owned(),
        })
    }

    /// An I/O context on `pool`, valid while the cluster lives.
    pub(crate) fn ioctx(&self, pool: &str) -> Result<IoCtx<'_>, i32> {
        let name = CString::new(pool).map_err(|_| -libc::EINVAL)?;
        let mut io: sys::rados_ioctx_t = ptr::null_mut();
        // SAFETY: connected handle, valid C string, valid out-pointer.
        let r = unsafe { sys::rados_ioctx_create(self.handle, name.as_ptr(), &mut io) };
        if r < 0 || io.is_null() {
            return Err(r.min(-1));
        }
        Ok(IoCtx {
            io,
            _cluster: PhantomData,
        })
    }
}

/// What a mon command returned: `ret` < 0 is a negative errno, `status` the mon's
/// explanation (`outs`), `out` the data (`outbuf`, JSON when asked for).
#[derive(Debug)]
pub(crate) struct MonReply {
    pub ret: i32,
    pub out: Vec<u8>,
    pub status: String,
}

/// A pool I/O context; borrowing the cluster keeps it from outliving the handle.
#[derive(Debug)]
pub(crate) struct IoCtx<'c> {
    io: sys::rados_ioctx_t,
    _cluster: PhantomData<&'c Cluster>,
}

impl IoCtx<'_> {
    pub fn raw(&self) -> sys::rados_ioctx_t {
        self.io
    }
}

impl Drop for IoCtx<'_> {
    fn drop(&mut self) {
        // SAFETY: `io` came from rados_ioctx_create and is destroyed once; images
        // opened on it borrow it, so they are closed first.
        unsafe { sys::rados_ioctx_destroy(self.io) };
    }
}

/// A librados-allocated buffer of known length, freed with `rados_buffer_free` on
/// drop. Copying uses the length librados reported: mon output is not
/// NUL-terminated.
struct RadosBuffer {
    ptr: *mut c_char,
    len: libc::size_t,
    sensitive: bool,
}

impl RadosBuffer {
    fn to_vec(&self) -> Vec<u8> {
        if self.ptr.is_null() || self.len == 0 {
            return Vec::new();
        }
        // SAFETY: librados malloc'd `len` bytes at `ptr` and we have not freed them.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }.to_vec()
    }
}

impl Drop for RadosBuffer {
    fn drop(&mut self) {
        if self.ptr.is_null() {
            return;
        }
        if self.sensitive {
            // SAFETY: `len` writable bytes at `ptr`, still allocated.
            unsafe { ptr::write_bytes(self.ptr, 0, self.len) };
        }
        // SAFETY: allocated by librados for us, freed exactly once here.
        unsafe { sys::rados_buffer_free(self.ptr) };
    }
}

/// A malloc'd NUL-terminated string from librados, freed on drop.
struct RadosString(*mut c_char);

impl RadosString {
    fn to_string_lossy(&self) -> String {
        if self.0.is_null() {
            return String::new();
        }
        // SAFETY: librados returned a valid NUL-terminated string, not yet freed.
        unsafe { CStr::from_ptr(self.0) }
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for RadosString {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: allocated by librados (strdup), freed once here.
            unsafe { sys::rados_buffer_free(self.0) };
        }
    }
}

/// Overwrites a buffer that held a secret before it is dropped.
pub(crate) fn wipe(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        // SAFETY: `b` is a valid, exclusive reference; volatile so the compiler does
        // not drop the write as dead.
        unsafe { ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}
