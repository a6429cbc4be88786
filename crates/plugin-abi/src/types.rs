//! The `#[repr(C)]` data that crosses the boundary between the host and a plugin library.
//!
//! Nothing here owns memory: every pointer borrows from the side that allocated it, and that side frees it.
//! Enumerations are integer newtypes, never Rust enums, so a value from a newer peer is an unknown value rather than undefined behaviour.

use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;

/// The version of this contract. Bump it on any change to a type in this module or to the meaning of a field.
///
/// - 1: the first contract.
/// - 2: [`AbiRequest`] gained `csrf_token` and `full_access` at its end; [`HostApi`] gained `call_api` at its end.
/// - 3: [`AbiFeature`] gained `requires` ([`Requires`]: root only, a full-access credential) in what was padding
///   after `deprecated_since`; no size or offset changed, so a host of version 3 still loads version 2 plugins (their
///   features require neither).
/// - 4: [`AbiPluginInfo`] gained `api0_functions` at its end (the functions that also answer legacy WHM API 0); the
///   host hands `describe` a zeroed [`AbiPluginInfo`] and reads the new field only from plugins of version 4 or later,
///   so plugins of versions 2 and 3 (which write the shorter struct) still load. Since version 4 the host also fills
///   [`AbiRequest::body`] (it was always empty before) and no longer passes `api.version` among the parameters.
/// - 5: [`HostApi`] gained `caller_key` at its end (the access key of the request's user as the host holds it). The
///   host writes [`HostApi`] and the plugin reads it: a plugin of an earlier version reads the struct without the new
///   field, and a host of an earlier version refuses a version 5 plugin before calling it, so a plugin never reads the
///   field from a host that did not write it. A host that does not answer for a request leaves it null, or answers
///   [`Status::UNSUPPORTED`], and the plugin reads the key file itself.
pub const ABI_VERSION: u32 = 5;

/// The oldest plugin version a host of [`ABI_VERSION`] loads: every type it reads has the same layout since then.
pub const MIN_ABI_VERSION: u32 = 2;

/// What a feature needs beyond an ACL, as bits ([`AbiFeature::requires`]); unknown bits make the plugin invalid.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requires(pub u32);

impl Requires {
    pub const NOTHING: Requires = Requires(0);
    /// Only root uses it: resellers, even with `all`, do not see it.
    pub const ROOT: Requires = Requires(1);
    /// Only a credential with every privilege of its user uses it (no API token narrowed by a list, no limited
    /// session): what it hands out would be more than a narrowed credential holds.
    pub const FULL_ACCESS: Requires = Requires(2);
    /// Every bit this version knows.
    pub const KNOWN: Requires = Requires(3);

    pub fn has(self, bit: Requires) -> bool {
        self.0 & bit.0 == bit.0
    }
}

/// The symbol every plugin exports: a static [`PluginEntry`], NUL-terminated for `dlsym`.
pub const ENTRY_SYMBOL: &[u8] = b"TWEAKGATE_PLUGIN\0";

/// Borrowed UTF-8 text (or bytes): a pointer and a length, not NUL-terminated.
///
/// A null pointer with length 0 is the empty string.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct AbiStr {
    pub ptr: *const u8,
    pub len: usize,
}

impl AbiStr {
    /// The empty string.
    pub const EMPTY: AbiStr = AbiStr {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrows `s`; the result is valid only while `s` is.
    pub const fn new(s: &str) -> AbiStr {
        AbiStr {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// Borrows raw bytes, for data such as Unix paths that need not be UTF-8.
    pub const fn from_bytes(b: &[u8]) -> AbiStr {
        AbiStr {
            ptr: b.as_ptr(),
            len: b.len(),
        }
    }

    /// The bytes this string points at, or `None` when the pointer is null but the length is not 0.
    ///
    /// # Safety
    /// `ptr` must be null or point at `len` initialised bytes that stay valid and unchanged for `'a`.
    pub unsafe fn as_bytes<'a>(self) -> Option<&'a [u8]> {
        if self.len == 0 {
            Some(&[])
        } else if self.ptr.is_null() {
            None
        } else {
            // SAFETY: non-null, and the caller promises `len` valid bytes for 'a.
            Some(unsafe { std::slice::from_raw_parts(self.ptr, self.len) })
        }
    }

    /// The text, or `None` when the pointer is invalid or the bytes are not UTF-8.
    ///
    /// # Safety
    /// As for [`as_bytes`](Self::as_bytes).
    pub unsafe fn as_str<'a>(self) -> Option<&'a str> {
        // SAFETY: same contract as ours.
        std::str::from_utf8(unsafe { self.as_bytes() }?).ok()
    }
}

impl fmt::Debug for AbiStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AbiStr({:p}, {})", self.ptr, self.len)
    }
}

/// Borrowed bytes (a request body, a response body). Same layout as [`AbiStr`], but no promise of UTF-8.
pub type AbiBytes = AbiStr;

/// A borrowed array of `T`: a pointer and an element count.
#[repr(C)]
pub struct AbiSlice<T> {
    pub ptr: *const T,
    pub len: usize,
    _marker: PhantomData<*const T>,
}

impl<T> Clone for AbiSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for AbiSlice<T> {}

impl<T> fmt::Debug for AbiSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AbiSlice({:p}, {})", self.ptr, self.len)
    }
}

impl<T> AbiSlice<T> {
    /// The empty array.
    pub const EMPTY: AbiSlice<T> = AbiSlice {
        ptr: std::ptr::null(),
        len: 0,
        _marker: PhantomData,
    };

    /// Borrows `items`; valid only while `items` is.
    pub const fn new(items: &[T]) -> AbiSlice<T> {
        AbiSlice {
            ptr: items.as_ptr(),
            len: items.len(),
            _marker: PhantomData,
        }
    }

    /// The elements, or `None` when the pointer is null but the length is not 0.
    ///
    /// # Safety
    /// `ptr` must be null or point at `len` initialised `T`s that stay valid and unchanged for `'a`.
    pub unsafe fn as_slice<'a>(self) -> Option<&'a [T]> {
        if self.len == 0 {
            Some(&[])
        } else if self.ptr.is_null() {
            None
        } else {
            // SAFETY: non-null, and the caller promises `len` valid elements for 'a.
            Some(unsafe { std::slice::from_raw_parts(self.ptr, self.len) })
        }
    }
}

macro_rules! abi_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$cmeta:meta])* $konst:ident = $value:expr, $text:expr;)* }) => {
        $(#[$meta])*
        #[repr(transparent)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "wire", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name(pub u32);

        impl $name {
            $($(#[$cmeta])* pub const $konst: $name = $name($value);)*

            /// The lowercase name of a known value, `None` for a value this build does not know.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $($name::$konst => Some($text),)*
                    _ => None,
                }
            }

            /// Whether this build knows the value.
            pub fn is_known(self) -> bool {
                self.name().is_some()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({n})", stringify!($name)),
                    None => write!(f, "{}(unknown {})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "unknown {} {}", stringify!($name).to_lowercase(), self.0),
                }
            }
        }
    };
}

abi_enum! {
    /// The outcome of a call across the boundary.
    Status {
        OK = 0, "ok";
        /// The callee failed and says why (for `handle`, the message is the response body).
        ERROR = 1, "error";
        /// The callee panicked; the panic was caught at the boundary and its message is passed on.
        PANICKED = 2, "panicked";
        /// The thing asked for does not exist (for `lookup_user`, an unknown user).
        NOT_FOUND = 3, "not found";
        /// A pointer was null or a string was not UTF-8.
        INVALID_ARGUMENT = 4, "invalid argument";
        /// The callee does not serve this kind of request.
        UNSUPPORTED = 5, "unsupported";
    }
}

abi_enum! {
    /// What kind of WHM user a name belongs to.
    UserKind {
        ROOT = 1, "root";
        RESELLER = 2, "reseller";
        /// An ordinary cPanel account: not a reseller, no WHM access.
        ACCOUNT = 3, "account";
    }
}

abi_enum! {
    /// Whether a request is for a web page or a WHM API 1 function.
    RequestKind {
        PAGE = 1, "page";
        API = 2, "api";
    }
}

abi_enum! {
    /// How loud a plugin's log line is.
    LogLevel {
        ERROR = 0, "error";
        WARN = 1, "warn";
        INFO = 2, "info";
        DEBUG = 3, "debug";
    }
}

impl Status {
    pub fn is_ok(self) -> bool {
        self == Status::OK
    }
}

/// The static every plugin exports under [`ENTRY_SYMBOL`].
///
/// `abi_version` is first and the host reads only those 4 bytes before deciding whether the rest means what it thinks.
/// The functions are `Option`s so that a null pointer from a hand-written plugin is a refusal, not undefined behaviour.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PluginEntry {
    pub abi_version: u32,
    /// Fills `out` with the plugin's self-description; the plugin owns it until `free_info`.
    pub describe: Option<unsafe extern "C" fn(out: *mut AbiPluginInfo) -> Status>,
    /// Frees what `describe` wrote; safe to call on a zeroed [`AbiPluginInfo`].
    pub free_info: Option<unsafe extern "C" fn(info: *mut AbiPluginInfo)>,
    /// Serves one request; the plugin owns what it writes to `out` until `free_response`.
    pub handle:
        Option<unsafe extern "C" fn(request: *const AbiRequest, host: *const HostApi, out: *mut AbiResponse) -> Status>,
    /// Frees what `handle` wrote; safe to call on a zeroed [`AbiResponse`].
    pub free_response: Option<unsafe extern "C" fn(response: *mut AbiResponse)>,
}

/// What a plugin says about itself. Owned by the plugin; the host copies what it needs and calls `free_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AbiPluginInfo {
    pub name: AbiStr,
    pub version: AbiStr,
    pub features: AbiSlice<AbiFeature>,
    /// When `describe` does not return OK: why (a panic message, for instance).
    pub error: AbiStr,
    /// The plugin's own bookkeeping for `free_info`; the host never looks at it.
    pub private: *mut c_void,
    /// Since version 4 (a plugin of an earlier version writes the struct without it, and the host reads it only from
    /// version 4 on): the API functions, among those the features declare, that also answer legacy WHM API 0 calls
    /// (a call without `api.version=1`). The plugin answers WHM API 1's envelope either way; for an API 0 call the host
    /// answers `data` at the top level, or API 0's `status`/`statusmsg` pair when `result` is 0.
    pub api0_functions: AbiSlice<AbiStr>,
}

impl AbiPluginInfo {
    /// Everything empty, as the host hands it to `describe`.
    pub const EMPTY: AbiPluginInfo = AbiPluginInfo {
        name: AbiStr::EMPTY,
        version: AbiStr::EMPTY,
        features: AbiSlice::EMPTY,
        error: AbiStr::EMPTY,
        private: std::ptr::null_mut(),
        api0_functions: AbiSlice::EMPTY,
    };
}

/// One feature a plugin provides: a WHM menu entry, its page and its API functions.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AbiFeature {
    /// Stable identifier, e.g. `remote-access-key`.
    pub id: AbiStr,
    /// Menu title, e.g. `Remote Access Key`.
    pub title: AbiStr,
    /// WHM menu group, e.g. `Clusters`.
    pub group: AbiStr,
    /// Where the page lives, starting with `/`, e.g. `/remote-access-key`; empty when there is no page.
    pub path: AbiStr,
    /// The user needs any one of these ACLs (root and `all` pass); empty means no ACL is needed.
    pub any_of_acls: AbiSlice<AbiStr>,
    /// Tweak Settings that must all be on.
    pub all_settings_on: AbiSlice<AbiStr>,
    /// The WHM version that deprecated the feature, 0 when it is not deprecated.
    pub deprecated_since: u32,
    /// Since version 3 (padding before): [`Requires`] bits. A host reads it only from plugins of version 3 or later.
    pub requires: Requires,
    /// The title of what replaces it, e.g. `Manage API Tokens`; empty when nothing does.
    pub replacement: AbiStr,
    /// WHM API 1 functions this feature answers, e.g. `accesshash`.
    pub api_functions: AbiSlice<AbiStr>,
}

/// A user as the host describes them: in a request, or answering `lookup_user`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AbiUserInfo {
    pub name: AbiStr,
    pub kind: UserKind,
    /// 1 when the user holds the `all` ACL (root always does), 0 otherwise.
    pub has_all: u8,
    /// Home directory (raw path bytes), where `.accesshash` lives.
    pub home: AbiStr,
}

impl AbiUserInfo {
    pub const EMPTY: AbiUserInfo = AbiUserInfo {
        name: AbiStr::EMPTY,
        kind: UserKind(0),
        has_all: 0,
        home: AbiStr::EMPTY,
    };
}

/// A request parameter: one key and one value, in the order they arrived.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AbiParam {
    pub key: AbiStr,
    pub value: AbiStr,
}

/// One request for a plugin. Everything is borrowed from the host and valid only during the `handle` call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AbiRequest {
    /// The feature the host routed the request to.
    pub feature: AbiStr,
    pub kind: RequestKind,
    /// For [`RequestKind::API`], the WHM API 1 function; empty for pages.
    pub function: AbiStr,
    /// The authenticated user.
    pub user: AbiUserInfo,
    /// The client's address.
    pub source: AbiStr,
    /// The HTTP method, e.g. `GET`.
    pub method: AbiStr,
    /// The path without the session prefix, e.g. `/remote-access-key`.
    pub path: AbiStr,
    /// Query and body parameters in arrival order: for an API function the body's form fields, JSON object members
    /// or multipart fields (as WHM reads them); for a page the query and, on a POST, the form. Never `api.version`
    /// (since version 4: the host reads it to choose between API 1 and API 0 and keeps it).
    pub params: AbiSlice<AbiParam>,
    /// The raw request body as the client sent it (since version 4; always empty before), whatever its content type.
    pub body: AbiBytes,
    /// The session prefix (`/cpsess…`) the page must put before its own links and form actions; empty for API calls.
    pub security_token: AbiStr,
    /// The one-use form nonce the host issued for this page render; empty for API calls.
    ///
    /// A page puts it in a hidden `<input name="csrf_token">` of each POST form it renders; the host refuses a POST
    /// whose `csrf_token` parameter is not a nonce it issued to the same session and has not yet seen.
    pub csrf_token: AbiStr,
    /// 1 when the credential that authenticated the request carries all of its user's privileges (a password, an
    /// access key, an API token without an ACL list, or a session opened by one of these); 0 when it is limited to
    /// some ACLs (an API token with an ACL list, or a session opened with one).
    ///
    /// A plugin must refuse anything that would let a limited credential escalate, such as reading or replacing a
    /// credential that carries every privilege, when this is 0. Any value but 1 means limited.
    pub full_access: u8,
}

/// A plugin's answer. Owned by the plugin; the host copies it and calls `free_response`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AbiResponse {
    /// HTTP status.
    pub status: u16,
    pub content_type: AbiStr,
    pub body: AbiBytes,
    /// The plugin's own bookkeeping for `free_response`; the host never looks at it.
    pub private: *mut c_void,
}

impl AbiResponse {
    /// Everything empty, as the host hands it to `handle`.
    pub const EMPTY: AbiResponse = AbiResponse {
        status: 0,
        content_type: AbiStr::EMPTY,
        body: AbiStr::EMPTY,
        private: std::ptr::null_mut(),
    };
}

/// What the host offers a plugin during one `handle` call.
///
/// `ctx` is the host's and is passed back unchanged. Strings the host writes stay valid until `handle` returns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HostApi {
    pub ctx: *mut c_void,
    /// Fills `out` with a user's kind, `all` and home; [`Status::NOT_FOUND`] when the host does not know the name.
    pub lookup_user: Option<unsafe extern "C" fn(ctx: *mut c_void, name: AbiStr, out: *mut AbiUserInfo) -> Status>,
    /// Records a JSON object in the audit log. A plugin must not go on with the audited action unless it returns OK.
    pub audit: Option<unsafe extern "C" fn(ctx: *mut c_void, event_json: AbiStr) -> Status>,
    /// Writes one line to the host's log at a [`LogLevel`].
    pub log: Option<unsafe extern "C" fn(ctx: *mut c_void, level: LogLevel, message: AbiStr)>,
    /// Calls one of the host's own WHM API 1 functions as the request's caller, within the privileges the request
    /// carries, and writes the answer (the API 1 JSON envelope) to `out`, valid until `handle` returns.
    /// [`Status::NOT_FOUND`] when plugins may not call that function (another plugin's, for one).
    pub call_api: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            function: AbiStr,
            params: AbiSlice<AbiParam>,
            out: *mut AbiStr,
        ) -> Status,
    >,
    /// Since version 5. Copies the access key of the request's user, as the host holds it (for a request
    /// authenticated by that key, the key the host has just checked), on one line into the plugin's buffer `buf` of
    /// `cap` bytes, and its length to `len`:
    /// - [`Status::OK`]: the key is `buf[..len]`;
    /// - [`Status::NOT_FOUND`]: the user has no key;
    /// - [`Status::ERROR`]: the host refuses (the key file fails its checks, or the request may not see a key: a
    ///   credential limited to some ACLs, a feature that does not require a full-access one); `buf[..len]` says why,
    ///   cut to `cap` bytes, and never holds a key;
    /// - [`Status::INVALID_ARGUMENT`]: the key does not fit; `len` is the size it needs (nothing else written);
    /// - [`Status::UNSUPPORTED`]: the host does not answer this for the request; the plugin reads the key file.
    ///
    /// Null when the host offers no such service. The plugin owns the buffer and wipes it.
    pub caller_key: Option<unsafe extern "C" fn(ctx: *mut c_void, buf: *mut u8, cap: usize, len: *mut usize) -> Status>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, size_of};

    /// Pins the layout of every ABI type on 64-bit targets: a change here without bumping [`ABI_VERSION`] breaks old plugins.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn layouts_are_pinned() {
        assert_eq!(
            ABI_VERSION, 5,
            "a layout change needs a version bump and new numbers below"
        );
        let cases: &[(&str, usize, usize, usize, usize)] = &[
            ("AbiStr", size_of::<AbiStr>(), align_of::<AbiStr>(), 16, 8),
            (
                "AbiSlice<AbiStr>",
                size_of::<AbiSlice<AbiStr>>(),
                align_of::<AbiSlice<AbiStr>>(),
                16,
                8,
            ),
            (
                "AbiSlice<AbiParam>",
                size_of::<AbiSlice<AbiParam>>(),
                align_of::<AbiSlice<AbiParam>>(),
                16,
                8,
            ),
            (
                "AbiSlice<AbiFeature>",
                size_of::<AbiSlice<AbiFeature>>(),
                align_of::<AbiSlice<AbiFeature>>(),
                16,
                8,
            ),
            ("Status", size_of::<Status>(), align_of::<Status>(), 4, 4),
            ("UserKind", size_of::<UserKind>(), align_of::<UserKind>(), 4, 4),
            ("RequestKind", size_of::<RequestKind>(), align_of::<RequestKind>(), 4, 4),
            ("LogLevel", size_of::<LogLevel>(), align_of::<LogLevel>(), 4, 4),
            (
                "PluginEntry",
                size_of::<PluginEntry>(),
                align_of::<PluginEntry>(),
                40,
                8,
            ),
            (
                "AbiPluginInfo",
                size_of::<AbiPluginInfo>(),
                align_of::<AbiPluginInfo>(),
                88,
                8,
            ),
            ("AbiFeature", size_of::<AbiFeature>(), align_of::<AbiFeature>(), 136, 8),
            (
                "AbiUserInfo",
                size_of::<AbiUserInfo>(),
                align_of::<AbiUserInfo>(),
                40,
                8,
            ),
            ("AbiParam", size_of::<AbiParam>(), align_of::<AbiParam>(), 32, 8),
            ("AbiRequest", size_of::<AbiRequest>(), align_of::<AbiRequest>(), 200, 8),
            (
                "AbiResponse",
                size_of::<AbiResponse>(),
                align_of::<AbiResponse>(),
                48,
                8,
            ),
            ("HostApi", size_of::<HostApi>(), align_of::<HostApi>(), 48, 8),
        ];
        for (name, size, align, want_size, want_align) in cases {
            assert_eq!((size, align), (want_size, want_align), "layout of {name} changed");
        }
    }

    /// The crate's version tracks the contract: its major version is the ABI version.
    #[test]
    fn the_crate_version_tracks_the_abi() {
        assert_eq!(env!("CARGO_PKG_VERSION_MAJOR").parse::<u32>().ok(), Some(ABI_VERSION));
        const { assert!(MIN_ABI_VERSION <= ABI_VERSION) };
    }

    /// Field offsets the host relies on before it trusts anything else.
    #[test]
    fn version_comes_first() {
        assert_eq!(std::mem::offset_of!(PluginEntry, abi_version), 0);
        assert_eq!(std::mem::offset_of!(AbiRequest, kind), 16);
        assert_eq!(std::mem::offset_of!(AbiRequest, security_token), 160);
        assert_eq!(std::mem::offset_of!(AbiRequest, csrf_token), 176);
        assert_eq!(std::mem::offset_of!(AbiRequest, full_access), 192);
        assert_eq!(std::mem::offset_of!(AbiResponse, status), 0);
        assert_eq!(std::mem::offset_of!(AbiFeature, deprecated_since), 96);
        // Version 3's field sits in version 2's padding: the next field did not move.
        assert_eq!(std::mem::offset_of!(AbiFeature, requires), 100);
        assert_eq!(std::mem::offset_of!(AbiFeature, replacement), 104);
        // Version 4's field comes after everything a version 2 or 3 plugin writes.
        assert_eq!(std::mem::offset_of!(AbiPluginInfo, private), 64);
        assert_eq!(std::mem::offset_of!(AbiPluginInfo, api0_functions), 72);
        // Version 5's service comes after everything a host of version 2 to 4 writes.
        assert_eq!(std::mem::offset_of!(HostApi, call_api), 32);
        assert_eq!(std::mem::offset_of!(HostApi, caller_key), 40);
    }

    #[test]
    fn unknown_values_stay_readable() {
        assert_eq!(Status(2), Status::PANICKED);
        assert_eq!(Status(77).to_string(), "unknown status 77");
        assert!(!UserKind(9).is_known());
        assert_eq!(format!("{:?}", UserKind::RESELLER), "UserKind(reseller)");
        assert_eq!(RequestKind::API.name(), Some("api"));
    }

    #[test]
    fn empty_strings_need_no_pointer() {
        // SAFETY: a null pointer with length 0 is the documented empty string.
        assert_eq!(unsafe { AbiStr::EMPTY.as_str() }, Some(""));
        let dangling = AbiStr {
            ptr: std::ptr::null(),
            len: 3,
        };
        // SAFETY: a null pointer is detected before any read.
        assert_eq!(unsafe { dangling.as_bytes() }, None);
        let s = String::from("héllo");
        // SAFETY: `s` outlives the borrow.
        assert_eq!(unsafe { AbiStr::new(&s).as_str() }, Some("héllo"));
    }
}
