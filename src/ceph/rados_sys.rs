//! The eleven librados entry points kcops calls, declared from librados.h (Pacific
//! and later; the signatures have been stable since Luminous).
//!
//! kcops used to take these from the `ceph` crate, which it used for nothing else:
//! that crate pins nom 5 and nix 0.18, and every build printed their
//! future-incompatibility warning. Declaring the calls here keeps the dependency
//! tree current and puts every foreign signature we rely on in one file, next to
//! the librbd ones in `rbd_ffi.rs`.
#![allow(unsafe_code)] // FFI declarations: the callers in rados.rs state each call's safety.

use std::ffi::{c_char, c_int, c_void};

/// `rados_t`: an opaque cluster handle.
#[allow(non_camel_case_types)]
pub(crate) type rados_t = *mut c_void;
/// `rados_ioctx_t`: an opaque I/O context on one pool.
#[allow(non_camel_case_types)]
pub(crate) type rados_ioctx_t = *mut c_void;

#[link(name = "rados")]
unsafe extern "C" {
    pub(crate) fn rados_create2(
        pcluster: *mut rados_t,
        clustername: *const c_char,
        name: *const c_char,
        flags: u64,
    ) -> c_int;
    pub(crate) fn rados_conf_read_file(cluster: rados_t, path: *const c_char) -> c_int;
    pub(crate) fn rados_connect(cluster: rados_t) -> c_int;
    pub(crate) fn rados_shutdown(cluster: rados_t);
    pub(crate) fn rados_get_instance_id(cluster: rados_t) -> u64;
    pub(crate) fn rados_wait_for_latest_osdmap(cluster: rados_t) -> c_int;
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rados_mon_command(
        cluster: rados_t,
        cmd: *mut *const c_char,
        cmdlen: libc::size_t,
        inbuf: *const c_char,
        inbuflen: libc::size_t,
        outbuf: *mut *mut c_char,
        outbuflen: *mut libc::size_t,
        outs: *mut *mut c_char,
        outslen: *mut libc::size_t,
    ) -> c_int;
    pub(crate) fn rados_ioctx_create(
        cluster: rados_t,
        pool_name: *const c_char,
        ioctx: *mut rados_ioctx_t,
    ) -> c_int;
    pub(crate) fn rados_ioctx_destroy(io: rados_ioctx_t);
    pub(crate) fn rados_buffer_free(buf: *mut c_char);
    /// `*addrs` is a malloc'd NUL-terminated string the caller frees with
    /// `rados_buffer_free`.
    pub(crate) fn rados_getaddrs(cluster: rados_t, addrs: *mut *mut c_char) -> c_int;
}
