//! Hand-written declarations of the librbd C API we use, checked against Pacific's
//! `/usr/include/rbd/librbd.h` (Ceph 16.2). Only declarations live here; the safe
//! wrappers are in `rbd`.
//!
//! librbd has no pkg-config file on Debian either; it is linked by name.
#![allow(unsafe_code)] // librbd declarations: the callers in rbd.rs state each call's safety.
#![allow(non_camel_case_types)]

use std::ffi::c_char;

use super::rados_sys::rados_ioctx_t;
use libc::{c_int, size_t, ssize_t};

/// `typedef void *rbd_image_t;`
pub(crate) type rbd_image_t = *mut libc::c_void;

/// `typedef enum { RBD_LOCK_MODE_EXCLUSIVE = 0, RBD_LOCK_MODE_SHARED = 1 } rbd_lock_mode_t;`
/// Kept as a C int: librbd writes it, and an unexpected value in a Rust enum would be
/// undefined behaviour.
pub(crate) type rbd_lock_mode_t = c_int;
pub(crate) const RBD_LOCK_MODE_EXCLUSIVE: rbd_lock_mode_t = 0;

/// `typedef struct { char *id; char *name; } rbd_image_spec_t;`
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct rbd_image_spec_t {
    pub id: *mut c_char,
    pub name: *mut c_char,
}

pub(crate) const RBD_MAX_BLOCK_NAME_SIZE: usize = 24;
pub(crate) const RBD_MAX_IMAGE_NAME_SIZE: usize = 96;

/// ```c
/// typedef struct {
///   uint64_t size; uint64_t obj_size; uint64_t num_objs; int order;
///   char block_name_prefix[RBD_MAX_BLOCK_NAME_SIZE]; /* deprecated */
///   int64_t parent_pool;                             /* deprecated */
///   char parent_name[RBD_MAX_IMAGE_NAME_SIZE];       /* deprecated */
/// } rbd_image_info_t;
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct rbd_image_info_t {
    pub size: u64,
    pub obj_size: u64,
    pub num_objs: u64,
    pub order: c_int,
    pub block_name_prefix: [c_char; RBD_MAX_BLOCK_NAME_SIZE],
    pub parent_pool: i64,
    pub parent_name: [c_char; RBD_MAX_IMAGE_NAME_SIZE],
}

/// `typedef struct { char *addr; int64_t id; uint64_t cookie; } rbd_image_watcher_t;`
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct rbd_image_watcher_t {
    pub addr: *mut c_char,
    pub id: i64,
    pub cookie: u64,
}

#[link(name = "rbd")]
unsafe extern "C" {
    /// `int rbd_list2(rados_ioctx_t io, rbd_image_spec_t* images, size_t *max_images);`
    /// Zeroes `*max_images` entries first; -ERANGE with the needed count in
    /// `*max_images`; on success strdup'd id/name per entry, freed by
    /// `rbd_image_spec_list_cleanup`.
    pub(crate) fn rbd_list2(
        io: rados_ioctx_t,
        images: *mut rbd_image_spec_t,
        max_images: *mut size_t,
    ) -> c_int;

    /// `void rbd_image_spec_list_cleanup(rbd_image_spec_t *images, size_t num_images);`
    pub(crate) fn rbd_image_spec_list_cleanup(images: *mut rbd_image_spec_t, num_images: size_t);

    /// `int rbd_open(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name);`
    /// Read-write: registers a watch on the image header (we show up as a watcher).
    pub(crate) fn rbd_open(
        io: rados_ioctx_t,
        name: *const c_char,
        image: *mut rbd_image_t,
        snap_name: *const c_char,
    ) -> c_int;

    /// `int rbd_open_read_only(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name);`
    /// No watch is established.
    pub(crate) fn rbd_open_read_only(
        io: rados_ioctx_t,
        name: *const c_char,
        image: *mut rbd_image_t,
        snap_name: *const c_char,
    ) -> c_int;

    /// `int rbd_close(rbd_image_t image);`
    pub(crate) fn rbd_close(image: rbd_image_t) -> c_int;

    /// `int rbd_stat(rbd_image_t image, rbd_image_info_t *info, size_t infosize);`
    pub(crate) fn rbd_stat(
        image: rbd_image_t,
        info: *mut rbd_image_info_t,
        infosize: size_t,
    ) -> c_int;

    /// `int rbd_get_old_format(rbd_image_t image, uint8_t *old);`
    pub(crate) fn rbd_get_old_format(image: rbd_image_t, old: *mut u8) -> c_int;

    /// `int rbd_get_features(rbd_image_t image, uint64_t *features);`
    pub(crate) fn rbd_get_features(image: rbd_image_t, features: *mut u64) -> c_int;

    /// `int rbd_get_id(rbd_image_t image, char *id, size_t id_len);` (-ERANGE when
    /// `id_len` is too small; the id is NUL-terminated).
    pub(crate) fn rbd_get_id(image: rbd_image_t, id: *mut c_char, id_len: size_t) -> c_int;

    /// ```c
    /// ssize_t rbd_list_lockers(rbd_image_t image, int *exclusive,
    ///     char *tag, size_t *tag_len, char *clients, size_t *clients_len,
    ///     char *cookies, size_t *cookies_len, char *addrs, size_t *addrs_len);
    /// ```
    /// Returns the number of lockers; each list is NUL-separated. All four lengths are
    /// set to the sizes needed, and -ERANGE returned when any buffer is too short.
    pub(crate) fn rbd_list_lockers(
        image: rbd_image_t,
        exclusive: *mut c_int,
        tag: *mut c_char,
        tag_len: *mut size_t,
        clients: *mut c_char,
        clients_len: *mut size_t,
        cookies: *mut c_char,
        cookies_len: *mut size_t,
        addrs: *mut c_char,
        addrs_len: *mut size_t,
    ) -> ssize_t;

    /// `int rbd_break_lock(rbd_image_t image, const char *client, const char *cookie);`
    /// With `rbd_blocklist_on_break_lock` (default true) it blocklists the locker's
    /// address first.
    pub(crate) fn rbd_break_lock(
        image: rbd_image_t,
        client: *const c_char,
        cookie: *const c_char,
    ) -> c_int;

    /// ```c
    /// int rbd_lock_get_owners(rbd_image_t image, rbd_lock_mode_t *lock_mode,
    ///                         char **lock_owners, size_t *max_lock_owners);
    /// ```
    /// Needs an image opened read-write (a read-only open has no exclusive-lock state:
    /// -EINVAL). -ENOENT when nobody owns the lock; -ERANGE with the needed count.
    /// Owners are strdup'd; freed by `rbd_lock_get_owners_cleanup`.
    pub(crate) fn rbd_lock_get_owners(
        image: rbd_image_t,
        lock_mode: *mut rbd_lock_mode_t,
        lock_owners: *mut *mut c_char,
        max_lock_owners: *mut size_t,
    ) -> c_int;

    /// `void rbd_lock_get_owners_cleanup(char **lock_owners, size_t lock_owner_count);`
    pub(crate) fn rbd_lock_get_owners_cleanup(
        lock_owners: *mut *mut c_char,
        lock_owner_count: size_t,
    );

    /// `int rbd_lock_break(rbd_image_t image, rbd_lock_mode_t lock_mode, const char *lock_owner);`
    /// Read-write open required; blocklists the owner first (by default).
    pub(crate) fn rbd_lock_break(
        image: rbd_image_t,
        lock_mode: rbd_lock_mode_t,
        lock_owner: *const c_char,
    ) -> c_int;

    /// `int rbd_watchers_list(rbd_image_t image, rbd_image_watcher_t *watchers, size_t *max_watchers);`
    /// Zeroes `*max_watchers` entries first; -ERANGE with the needed count; on success
    /// strdup'd addresses, freed by `rbd_watchers_list_cleanup`.
    pub(crate) fn rbd_watchers_list(
        image: rbd_image_t,
        watchers: *mut rbd_image_watcher_t,
        max_watchers: *mut size_t,
    ) -> c_int;

    /// `void rbd_watchers_list_cleanup(rbd_image_watcher_t *watchers, size_t num_watchers);`
    pub(crate) fn rbd_watchers_list_cleanup(
        watchers: *mut rbd_image_watcher_t,
        num_watchers: size_t,
    );
}
