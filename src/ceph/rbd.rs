//! Safe wrappers over the librbd calls in `rbd_ffi`. Errors are librbd's negative
//! errno; `calls` adds what and where.
//!
//! Buffers handed to librbd are ours (sized vectors whose lengths we pass); strings
//! librbd allocates are copied and then released with the matching `*_cleanup` call
//! by a guard, so an early return cannot leak or double-free them. Calls that report
//! -ERANGE are retried with the size librbd says it needs (plus slack, since the set
//! can grow between two calls), a bounded number of times.
#![allow(unsafe_code)] // the safe wrappers over librbd; each call states its safety.

use std::ffi::{CStr, CString, c_char};
use std::marker::PhantomData;

use libc::{c_int, size_t};

use crate::ceph::rados::IoCtx;
use crate::ceph::rbd_ffi as ffi;

const ERANGE: i32 = -libc::ERANGE;
const ENOENT: i32 = -libc::ENOENT;
/// Retries of a call that keeps reporting -ERANGE (the list grows under us).
const MAX_TRIES: usize = 5;
/// Extra room on a retry, so one more entry arriving meanwhile does not cost a retry.
const SLACK_ENTRIES: usize = 8;
const SLACK_BYTES: usize = 256;
/// First-try sizes: enough for the common case (a few images, one lock, a watcher or
/// two), small enough that larger cases really take the -ERANGE path, which the tests
/// then cover with real data. A retry costs one extra round trip.
const FIRST_IMAGES: usize = 8;
const FIRST_WATCHERS: usize = 2;
const FIRST_OWNERS: usize = 1;
/// Tag, clients, cookies, addresses.
const FIRST_LOCKER_BYTES: [usize; 4] = [16, 64, 64, 64];

/// How to open an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// No watch on the header: invisible to other clients. Enough for stat, features,
    /// lockers, watchers and breaking advisory locks.
    ReadOnly,
    /// Registers a watch on the header (we show up in `rbd status` while open). Needed
    /// for exclusive-lock owner queries and `rbd_lock_break`.
    ReadWrite,
}

/// An open image, closed on drop; it cannot outlive the I/O context it came from.
pub(crate) struct Image<'io> {
    handle: ffi::rbd_image_t,
    _io: PhantomData<&'io ()>,
}

/// One entry of `rbd_list2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawSpec {
    pub id: String,
    pub name: String,
}

/// `rbd_stat` plus format and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawStat {
    pub size: u64,
    pub obj_size: u64,
    pub num_objs: u64,
    pub order: i32,
    pub block_name_prefix: String,
}

/// `rbd_list_lockers`: one tag and mode for the lock, then (client, cookie, address)
/// per holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawLockers {
    pub exclusive: bool,
    pub tag: String,
    pub lockers: Vec<(String, String, String)>,
}

/// One entry of `rbd_watchers_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawWatcher {
    pub addr: String,
    pub id: i64,
    pub cookie: u64,
}

fn cstring(s: &str) -> Result<CString, i32> {
    CString::new(s).map_err(|_| -libc::EINVAL)
}

/// Copies a C string librbd gave us; null reads as empty.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string valid for the call.
unsafe fn copy_cstr(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// The text up to the first NUL of a fixed-size C char array.
fn fixed_cstr(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The first `n` NUL-terminated strings in `buf`; `None` when there are fewer.
pub(crate) fn split_nul(buf: &[u8], n: usize) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(n);
    let mut rest = buf;
    for _ in 0..n {
        let end = rest.iter().position(|&b| b == 0)?;
        out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
        rest = &rest[end + 1..];
    }
    Some(out)
}

/// Image specs from `rbd_list2`, released with `rbd_image_spec_list_cleanup`.
struct SpecList {
    items: Vec<ffi::rbd_image_spec_t>,
    filled: usize,
}

impl Drop for SpecList {
    fn drop(&mut self) {
        if self.filled > 0 {
            // SAFETY: the first `filled` entries were strdup'd by a successful
            // rbd_list2 and are freed once here.
            unsafe { ffi::rbd_image_spec_list_cleanup(self.items.as_mut_ptr(), self.filled) };
        }
    }
}

/// Names and ids of the images in the pool.
pub(crate) fn list_images(io: &IoCtx<'_>) -> Result<Vec<RawSpec>, i32> {
    let mut cap: usize = FIRST_IMAGES;
    for _ in 0..MAX_TRIES {
        let empty = ffi::rbd_image_spec_t {
            id: std::ptr::null_mut(),
            name: std::ptr::null_mut(),
        };
        let mut list = SpecList {
            items: vec![empty; cap],
            filled: 0,
        };
        let mut n: size_t = cap;
        // SAFETY: `items` has room for `n` entries; librbd zeroes them and fills at
        // most `n`, or reports the needed count with -ERANGE without allocating.
        let r = unsafe { ffi::rbd_list2(io.raw(), list.items.as_mut_ptr(), &mut n) };
        if r == ERANGE {
            tracing::trace!(needed = n, "rbd_list2: -ERANGE, retrying");
            cap = n.max(cap) + SLACK_ENTRIES;
            continue;
        }
        if r < 0 {
            return Err(r);
        }
        list.filled = n.min(cap);
        let out = list.items[..list.filled]
            .iter()
            .map(|s| RawSpec {
                // SAFETY: strdup'd by librbd (or null), freed only when `list` drops.
                id: unsafe { copy_cstr(s.id) },
                // SAFETY: as above.
                name: unsafe { copy_cstr(s.name) },
            })
            .collect();
        return Ok(out);
    }
    Err(ERANGE)
}

/// Watchers from `rbd_watchers_list`, released with `rbd_watchers_list_cleanup`.
struct WatcherList {
    items: Vec<ffi::rbd_image_watcher_t>,
    filled: usize,
}

impl Drop for WatcherList {
    fn drop(&mut self) {
        if self.filled > 0 {
            // SAFETY: the first `filled` entries were filled (addr strdup'd) by a
            // successful rbd_watchers_list and are freed once here.
            unsafe { ffi::rbd_watchers_list_cleanup(self.items.as_mut_ptr(), self.filled) };
        }
    }
}

/// Lock owners from `rbd_lock_get_owners`, released with
/// `rbd_lock_get_owners_cleanup`.
struct OwnerList {
    items: Vec<*mut c_char>,
    filled: usize,
}

impl Drop for OwnerList {
    fn drop(&mut self) {
        if self.filled > 0 {
            // SAFETY: the first `filled` pointers were strdup'd by a successful
            // rbd_lock_get_owners and are freed once here.
            unsafe { ffi::rbd_lock_get_owners_cleanup(self.items.as_mut_ptr(), self.filled) };
        }
    }
}

impl<'io> Image<'io> {
    pub fn open(io: &'io IoCtx<'_>, name: &str, mode: OpenMode) -> Result<Image<'io>, i32> {
        let name = cstring(name)?;
        let mut handle: ffi::rbd_image_t = std::ptr::null_mut();
        // SAFETY: valid ioctx, C string and out-pointer; no snapshot (null).
        let r = unsafe {
            match mode {
                OpenMode::ReadOnly => {
                    ffi::rbd_open_read_only(io.raw(), name.as_ptr(), &mut handle, std::ptr::null())
                }
                OpenMode::ReadWrite => {
                    ffi::rbd_open(io.raw(), name.as_ptr(), &mut handle, std::ptr::null())
                }
            }
        };
        if r < 0 {
            return Err(r);
        }
        if handle.is_null() {
            return Err(-libc::EIO);
        }
        Ok(Image {
            handle,
            _io: PhantomData,
        })
    }

    pub fn stat(&self) -> Result<RawStat, i32> {
        let mut info = ffi::rbd_image_info_t {
            size: 0,
            obj_size: 0,
            num_objs: 0,
            order: 0,
            block_name_prefix: [0; ffi::RBD_MAX_BLOCK_NAME_SIZE],
            parent_pool: 0,
            parent_name: [0; ffi::RBD_MAX_IMAGE_NAME_SIZE],
        };
        // SAFETY: open image; `info` is a properly sized, writable struct.
        let r = unsafe {
            ffi::rbd_stat(
                self.handle,
                &mut info,
                std::mem::size_of::<ffi::rbd_image_info_t>(),
            )
        };
        if r < 0 {
            return Err(r);
        }
        Ok(RawStat {
            size: info.size,
            obj_size: info.obj_size,
            num_objs: info.num_objs,
            order: info.order,
            block_name_prefix: fixed_cstr(&info.block_name_prefix),
        })
    }

    pub fn features(&self) -> Result<u64, i32> {
        let mut features: u64 = 0;
        // SAFETY: open image, valid out-pointer.
        let r = unsafe { ffi::rbd_get_features(self.handle, &mut features) };
        if r < 0 { Err(r) } else { Ok(features) }
    }

    /// 1 for the old format, 2 for the current one.
    pub fn format(&self) -> Result<u8, i32> {
        let mut old: u8 = 0;
        // SAFETY: open image, valid out-pointer.
        let r = unsafe { ffi::rbd_get_old_format(self.handle, &mut old) };
        if r < 0 {
            Err(r)
        } else if old != 0 {
            Ok(1)
        } else {
            Ok(2)
        }
    }

    pub fn id(&self) -> Result<String, i32> {
        let mut len = 64usize;
        for _ in 0..MAX_TRIES {
            let mut buf = vec![0u8; len];
            // SAFETY: `buf` has `len` writable bytes; librbd writes a NUL-terminated
            // id that fits, or returns -ERANGE.
            let r = unsafe { ffi::rbd_get_id(self.handle, buf.as_mut_ptr().cast(), buf.len()) };
            if r == ERANGE {
                len *= 4;
                continue;
            }
            if r < 0 {
                return Err(r);
            }
            return Ok(split_nul(&buf, 1)
                .and_then(|v| v.into_iter().next())
                .unwrap_or_default());
        }
        Err(ERANGE)
    }

    /// Advisory locks and the exclusive-lock owner's lock alike (the latter has tag
    /// `internal` and cookie `auto <handle>`).
    pub fn lockers(&self) -> Result<RawLockers, i32> {
        let mut sizes = FIRST_LOCKER_BYTES;
        for _ in 0..MAX_TRIES {
            let mut tag = vec![0u8; sizes[0]];
            let mut clients = vec![0u8; sizes[1]];
            let mut cookies = vec![0u8; sizes[2]];
            let mut addrs = vec![0u8; sizes[3]];
            let mut lens: [size_t; 4] = [tag.len(), clients.len(), cookies.len(), addrs.len()];
            let mut exclusive: c_int = 0;
            let [tag_len, clients_len, cookies_len, addrs_len] = &mut lens;
            // SAFETY: each buffer has the length we pass with it; librbd writes within
            // those lengths or returns -ERANGE after setting the needed lengths.
            let r = unsafe {
                ffi::rbd_list_lockers(
                    self.handle,
                    &mut exclusive,
                    tag.as_mut_ptr().cast(),
                    tag_len,
                    clients.as_mut_ptr().cast(),
                    clients_len,
                    cookies.as_mut_ptr().cast(),
                    cookies_len,
                    addrs.as_mut_ptr().cast(),
                    addrs_len,
                )
            };
            if r == ERANGE as isize {
                tracing::trace!(needed = ?lens, "rbd_list_lockers: -ERANGE, retrying");
                for (size, needed) in sizes.iter_mut().zip(lens) {
                    *size = (*size).max(needed + SLACK_BYTES);
                }
                continue;
            }
            if r < 0 {
                return Err(i32::try_from(r).unwrap_or(-libc::EIO));
            }
            let n = usize::try_from(r).map_err(|_| -libc::EIO)?;
            let bounded =
                |buf: &[u8], len: size_t| -> Vec<u8> { buf[..len.min(buf.len())].to_vec() };
            let tag = split_nul(&bounded(&tag, lens[0]), 1)
                .and_then(|v| v.into_iter().next())
                .unwrap_or_default();
            let malformed = -libc::EBADMSG;
            let clients = split_nul(&bounded(&clients, lens[1]), n).ok_or(malformed)?;
            let cookies = split_nul(&bounded(&cookies, lens[2]), n).ok_or(malformed)?;
            let addrs = split_nul(&bounded(&addrs, lens[3]), n).ok_or(malformed)?;
            let lockers = clients
                .into_iter()
                .zip(cookies)
                .zip(addrs)
                .map(|((c, k), a)| (c, k, a))
                .collect();
            return Ok(RawLockers {
                exclusive: exclusive != 0,
                tag,
                lockers,
            });
        }
        Err(ERANGE)
    }

    /// Clients watching the image header: each live user of the image (kernel map,
    /// rbd-nbd, a VM, `rbd watch`, a read-write open).
    pub fn watchers(&self) -> Result<Vec<RawWatcher>, i32> {
        let mut cap: usize = FIRST_WATCHERS;
        for _ in 0..MAX_TRIES {
            let empty = ffi::rbd_image_watcher_t {
                addr: std::ptr::null_mut(),
                id: 0,
                cookie: 0,
            };
            let mut list = WatcherList {
                items: vec![empty; cap],
                filled: 0,
            };
            let mut n: size_t = cap;
            // SAFETY: room for `n` entries; librbd fills at most `n` or reports the
            // needed count with -ERANGE without allocating.
            let r = unsafe { ffi::rbd_watchers_list(self.handle, list.items.as_mut_ptr(), &mut n) };
            if r == ERANGE {
                tracing::trace!(needed = n, "rbd_watchers_list: -ERANGE, retrying");
                cap = n.max(cap) + SLACK_ENTRIES;
                continue;
            }
            if r < 0 {
                return Err(r);
            }
            list.filled = n.min(cap);
            let out = list.items[..list.filled]
                .iter()
                .map(|w| RawWatcher {
                    // SAFETY: strdup'd by librbd, freed only when `list` drops.
                    addr: unsafe { copy_cstr(w.addr) },
                    id: w.id,
                    cookie: w.cookie,
                })
                .collect();
            return Ok(out);
        }
        Err(ERANGE)
    }

    /// Addresses owning the exclusive lock (empty when nobody does). Needs a
    /// read-write open.
    pub fn lock_owners(&self) -> Result<Vec<String>, i32> {
        let mut cap: usize = FIRST_OWNERS;
        for _ in 0..MAX_TRIES {
            let mut list = OwnerList {
                items: vec![std::ptr::null_mut(); cap],
                filled: 0,
            };
            let mut n: size_t = cap;
            let mut mode: ffi::rbd_lock_mode_t = ffi::RBD_LOCK_MODE_EXCLUSIVE;
            // SAFETY: room for `n` pointers; librbd zeroes them and strdup's at most
            // `n` owners, or reports the needed count with -ERANGE.
            let r = unsafe {
                ffi::rbd_lock_get_owners(self.handle, &mut mode, list.items.as_mut_ptr(), &mut n)
            };
            if r == ENOENT {
                return Ok(Vec::new());
            }
            if r == ERANGE {
                cap = n.max(cap) + SLACK_ENTRIES;
                continue;
            }
            if r < 0 {
                return Err(r);
            }
            list.filled = n.min(cap);
            let out = list.items[..list.filled]
                .iter()
                // SAFETY: strdup'd by librbd, freed only when `list` drops.
                .map(|&p| unsafe { copy_cstr(p) })
                .collect();
            return Ok(out);
        }
        Err(ERANGE)
    }

    /// Breaks the advisory (or exclusive-lock) lock `cookie` held by `client`
    /// (`client.4140`). librbd blocklists the holder's address first.
    pub fn break_lock(&self, client: &str, cookie: &str) -> Result<(), i32> {
        let client = cstring(client)?;
        let cookie = cstring(cookie)?;
        // SAFETY: open image, valid C strings.
        let r = unsafe { ffi::rbd_break_lock(self.handle, client.as_ptr(), cookie.as_ptr()) };
        if r < 0 { Err(r) } else { Ok(()) }
    }

    /// Breaks the exclusive lock owned by `owner` (an address from `lock_owners`).
    /// Needs a read-write open; librbd blocklists the owner first.
    pub(crate) fn lock_break(&self, owner: &str) -> Result<(), i32> {
        let owner = cstring(owner)?;
        // SAFETY: open image, valid C string.
        let r = unsafe {
            ffi::rbd_lock_break(self.handle, ffi::RBD_LOCK_MODE_EXCLUSIVE, owner.as_ptr())
        };
        if r < 0 { Err(r) } else { Ok(()) }
    }
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        // SAFETY: `handle` came from a successful open and is closed once here.
        let r = unsafe { ffi::rbd_close(self.handle) };
        if r < 0 {
            tracing::debug!(r, "rbd_close failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_separated_lists() {
        assert_eq!(
            split_nul(b"client.1\0client.22\0", 2),
            Some(vec!["client.1".to_string(), "client.22".to_string()])
        );
        assert_eq!(split_nul(b"a\0b", 2), None, "the last entry needs its NUL");
        assert_eq!(split_nul(b"", 0), Some(vec![]));
        assert_eq!(split_nul(b"only\0\0\0", 1), Some(vec!["only".to_string()]));
        let chars: Vec<c_char> = b"rbd_data.1f\0junk".iter().map(|&b| b as c_char).collect();
        assert_eq!(fixed_cstr(&chars), "rbd_data.1f");
    }
}
