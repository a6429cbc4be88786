//! What the host and a plugin's worker process say to each other over their socket: frames of a 4-byte big-endian
//! length and one JSON message, each at most [`MAX_FRAME`] bytes. The messages carry `plugin_abi`'s own types
//! (serde derives behind its `wire` feature), so a field added to a `Request` or `Response` crosses without a change
//! here. Every frame is wiped from memory once sent or read, since a caller's key or a plugin's answer may be in it.

use std::io::{self, Read, Write};

use plugin_abi::{CallerKey, Feature, LogLevel, Request, Response, UserInfo};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize as _;

use crate::error::{LoadError, PluginCallError};

/// The largest frame either side sends or accepts: a request or an answer past it is refused, never read into memory.
pub(crate) const MAX_FRAME: usize = 16 << 20;

/// From the host to the worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// The first message: load the library the worker was handed (its SHA-256 as the host checked it; `path` only
    /// names it in messages) and describe it.
    Load { path: String, sha256: String },
    /// Serve one request for `feature` (sent as [`CallRef::Call`]).
    Call { feature: String, request: Box<Request> },
    /// The answer to the worker's last [`Callback`].
    Answer(Answer),
}

/// [`ToWorker::Call`] as the host writes it, borrowing the request rather than copying it.
#[derive(Debug, Serialize)]
pub(crate) enum CallRef<'a> {
    Call { feature: &'a str, request: &'a Request },
}

/// The host's answer to a callback.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Answer {
    User(Option<UserInfo>),
    Audit(Result<(), String>),
    Api(Result<String, String>),
    Key(WireKey),
}

/// [`CallerKey`] as a message; the key's text is wiped when the message is dropped.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum WireKey {
    NotOffered,
    NoKey,
    Key(KeyText),
    Refused(String),
}

/// A key's text on the wire: wiped on drop, never shown by `Debug`.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct KeyText(String);

impl std::fmt::Debug for KeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyText(..)")
    }
}

impl Drop for KeyText {
    fn drop(&mut self) {
        wipe(&mut std::mem::take(&mut self.0).into_bytes());
    }
}

/// Wipes `bytes` and its spare capacity with `zeroize`'s bulk fill (`Vec::zeroize` writes one volatile byte at a time,
/// which for a frame of megabytes is milliseconds).
fn wipe(bytes: &mut Vec<u8>) {
    bytes.as_mut_slice().zeroize();
    bytes.spare_capacity_mut().zeroize();
    bytes.clear();
}

impl WireKey {
    /// What the host's services answered, as a message.
    pub(crate) fn from_answer(answer: CallerKey<'_>) -> WireKey {
        match answer {
            CallerKey::NotOffered => WireKey::NotOffered,
            CallerKey::NoKey => WireKey::NoKey,
            CallerKey::Key(key) => WireKey::Key(KeyText(key.to_owned())),
            CallerKey::Refused(why) => WireKey::Refused(why.to_owned()),
        }
    }

    /// The answer to hand the plugin.
    pub(crate) fn as_answer(&self) -> CallerKey<'_> {
        match self {
            WireKey::NotOffered => CallerKey::NotOffered,
            WireKey::NoKey => CallerKey::NoKey,
            WireKey::Key(key) => CallerKey::Key(&key.0),
            WireKey::Refused(why) => CallerKey::Refused(why),
        }
    }
}

/// From the worker to the host.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The answer to [`ToWorker::Load`]: the plugin's description, or why it was refused (with the ABI version when it
    /// was read).
    Described(Result<Description, (LoadError, Option<u32>)>),
    /// A call into the host during a request ([`plugin_abi::HostCallbacks`]); every kind but `Log` waits for an
    /// [`Answer`].
    Callback(Callback),
    /// The end of a request.
    Done(Result<Response, PluginCallError>),
}

/// What the plugin said about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Description {
    pub name: String,
    pub version: String,
    pub features: Vec<Feature>,
    pub abi_version: u32,
}

/// One of [`plugin_abi::HostCallbacks`], as a message.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Callback {
    LookupUser {
        name: String,
    },
    Audit {
        event: String,
    },
    Log {
        level: LogLevel,
        message: String,
    },
    CallApi {
        function: String,
        params: Vec<(String, String)>,
    },
    /// [`plugin_abi::HostCallbacks::caller_key`], answered with [`Answer::Key`].
    CallerKey,
}

/// Writes one frame.
pub(crate) fn send<T: Serialize>(to: &mut impl Write, message: &T) -> io::Result<()> {
    let mut body = serde_json::to_vec(message).map_err(io::Error::other)?;
    if body.len() > MAX_FRAME {
        let size = body.len();
        wipe(&mut body);
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a message of {size} bytes is more than the {MAX_FRAME} a frame may hold"),
        ));
    }
    let len = u32::try_from(body.len()).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    wipe(&mut body);
    let sent = to.write_all(&frame).and_then(|()| to.flush());
    wipe(&mut frame);
    sent
}

/// Reads one frame; a length past [`MAX_FRAME`] or a body that is not the expected message is an error.
pub(crate) fn receive<T: for<'de> Deserialize<'de>>(from: &mut impl Read) -> io::Result<T> {
    let mut len = [0u8; 4];
    from.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes is more than the {MAX_FRAME} allowed"),
        ));
    }
    let mut body = vec![0u8; len];
    let read = from
        .read_exact(&mut body)
        .and_then(|()| serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)));
    wipe(&mut body);
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame is wiped whole, its spare capacity too (where an earlier, longer message may have been).
    #[test]
    fn a_wiped_frame_leaves_only_zeros() {
        let mut frame = b"WHM root:0123456789abcdef".to_vec();
        frame.reserve(1000);
        let capacity = frame.capacity();
        wipe(&mut frame);
        assert!(frame.is_empty());
        assert_eq!(frame.capacity(), capacity, "the same memory, not a new allocation");
        // SAFETY: `wipe` wrote zeros over the whole capacity, so every byte of it is initialised.
        let all = unsafe { std::slice::from_raw_parts(frame.as_ptr(), capacity) };
        assert!(all.iter().all(|b| *b == 0));
    }

    /// Every message survives a frame (the caller's key service among them), and a frame that claims more than the
    /// bound is refused before it is read.
    #[test]
    fn frames_round_trip_and_are_bounded() {
        let request = Request {
            feature: "hello".into(),
            target: plugin_abi::Target::Api {
                function: "hello".into(),
            },
            user: UserInfo {
                name: "root".into(),
                kind: plugin_abi::UserKind::ROOT,
                has_all: true,
                home: "/root".into(),
            },
            source: "127.0.0.1".into(),
            method: "POST".into(),
            path: "/json-api/hello".into(),
            params: vec![("a".into(), "b\u{0}c".into())],
            body: vec![0, 255, 10],
            security_token: "/cpsess1".into(),
            csrf_token: "n".into(),
            full_access: false,
        };
        let mut buf = Vec::new();
        send(
            &mut buf,
            &CallRef::Call {
                feature: "hello",
                request: &request,
            },
        )
        .unwrap();
        match receive::<ToWorker>(&mut buf.as_slice()).unwrap() {
            ToWorker::Call { feature, request: r } => assert_eq!((feature.as_str(), *r), ("hello", request.clone())),
            other => panic!("{other:?}"),
        }
        // The caller's key service: the question, and each answer, as the plugin is handed it.
        let mut buf = Vec::new();
        send(&mut buf, &FromWorker::Callback(Callback::CallerKey)).unwrap();
        assert!(matches!(
            receive::<FromWorker>(&mut buf.as_slice()).unwrap(),
            FromWorker::Callback(Callback::CallerKey)
        ));
        for answer in [
            CallerKey::NotOffered,
            CallerKey::NoKey,
            CallerKey::Key("0123abcd"),
            CallerKey::Refused("too open"),
        ] {
            let mut buf = Vec::new();
            send(&mut buf, &ToWorker::Answer(Answer::Key(WireKey::from_answer(answer)))).unwrap();
            match receive::<ToWorker>(&mut buf.as_slice()).unwrap() {
                ToWorker::Answer(Answer::Key(key)) => {
                    assert_eq!(key.as_answer(), answer);
                    assert!(!format!("{key:?}").contains("0123abcd"), "Debug never shows a key");
                }
                other => panic!("{other:?}"),
            }
        }
        let mut huge = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        let err = receive::<ToWorker>(&mut huge.as_slice()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("more than"), "{err}");
        let err = receive::<ToWorker>(&mut &[0, 0, 0, 2, b'{', b'}'][..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        let err = receive::<ToWorker>(&mut &[0, 0, 0, 9, b'{'][..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    }
}
