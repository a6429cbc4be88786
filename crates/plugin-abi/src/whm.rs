//! WHM API 1's envelope, written in one place for the host and every plugin: `data` (absent on failure, never
//! `null`: cPanel's JavaScript client throws on `data: null`), then `metadata` with the command, the reason, the
//! result, the gate's reasons of a refusal (host only) and the version.

use serde::Serialize;

/// The envelope, fields in the order WHM writes them; serialised straight from borrowed parts, no tree built first.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, D, R = ()> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<D>,
    pub metadata: Metadata<'a, R>,
}

/// The `metadata` object.
#[derive(Debug, Serialize)]
pub struct Metadata<'a, R = ()> {
    pub command: &'a str,
    pub reason: &'a str,
    /// Why the gate refused the call (the host's reasons, with their codes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<R>,
    pub result: u8,
    pub version: u8,
}

impl<'a, D> Envelope<'a, D> {
    /// A successful call answering `data` (`None`: metadata only, as WHM answers functions without data).
    pub fn ok(command: &'a str, reason: &'a str, data: Option<D>) -> Envelope<'a, D> {
        Envelope {
            data,
            metadata: Metadata {
                command,
                reason,
                reasons: None,
                result: 1,
                version: 1,
            },
        }
    }
}

impl<'a, R> Envelope<'a, (), R> {
    /// A failed call: `result` 0, the reason, no `data`.
    pub fn failed(command: &'a str, reason: &'a str, reasons: Option<R>) -> Envelope<'a, (), R> {
        Envelope {
            data: None,
            metadata: Metadata {
                command,
                reason,
                reasons,
                result: 0,
                version: 1,
            },
        }
    }
}
