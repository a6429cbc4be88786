//! The Remote Access Key itself: generation from the OS random source, normalisation of pasted keys, the signature, comparison.
//!
//! WHM writes 30 lines of 32 lowercase hex characters; older versions wrote 29 lines, so nothing
//! here depends on the length (spec §4).

use std::fmt;

use rand::TryRngCore;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::secret::WipedString;

/// Hex characters per line of a key file, as WHM writes them.
pub const LINE_LEN: usize = 32;
/// Lines in a freshly generated key.
pub const LINES: usize = 30;
/// Random bytes in a freshly generated key (each becomes two hex characters).
pub const RANDOM_BYTES: usize = LINES * LINE_LEN / 2;
/// The longest key text accepted, armour and whitespace included.
pub const MAX_KEY_TEXT: usize = 64 * 1024;

/// Lowercase hex digits by value, as WHM writes keys.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Hex-encodes the bytes in the second half of `buf` into the whole of it, first byte first, in one forward pass.
///
/// The digits of the bytes before `i` end at `2i`, which never passes `half + i`, where the bytes still to encode
/// begin; each group of eight bytes is read before its own sixteen digits are written over it.
fn hex_in_place(buf: &mut [u8]) {
    let half = buf.len() / 2;
    debug_assert!(buf.len().is_multiple_of(2), "two digits per byte");
    let mut i = 0;
    // Eight bytes a step: one bounds check to read them, one to write their sixteen digits.
    while i + 8 <= half {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&buf[half + i..half + i + 8]);
        let [a, b, c, d, e, f, g, h] = bytes;
        let digits = &mut buf[2 * i..2 * i + 16];
        digits[..8].copy_from_slice(&hex_quad([a, b, c, d]));
        digits[8..].copy_from_slice(&hex_quad([e, f, g, h]));
        i += 8;
    }
    while i < half {
        let byte = buf[half + i];
        buf[2 * i] = HEX_DIGITS[usize::from(byte >> 4)];
        buf[2 * i + 1] = HEX_DIGITS[usize::from(byte & 0x0f)];
        i += 1;
    }
}

/// The eight lowercase hex digits of four bytes, computed in one `u64` without a table.
fn hex_quad(quad: [u8; 4]) -> [u8; 8] {
    const LOW_NIBBLES: u64 = 0x000f_000f_000f_000f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut x = u64::from(u32::from_le_bytes(quad));
    // Each byte into its own 16-bit lane, then the high nibble into the lane's first byte, the low one after.
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    let nibbles = ((x >> 4) & LOW_NIBBLES) | ((x & LOW_NIBBLES) << 8);
    // '0' + n, plus 39 more for 10..=15 so they become 'a'..='f'; no byte carries into the next.
    let letters = ((nibbles + 6 * ONES) >> 4) & ONES;
    (nibbles + 0x30 * ONES + 39 * letters).to_le_bytes()
}

const BEGIN_ARMOUR: &str = "-----BEGIN WHM ACCESS KEY-----";
const END_ARMOUR: &str = "-----END WHM ACCESS KEY-----";

/// Why a key could not be generated or read. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The operating system's secure random source failed; there is deliberately no weaker fallback.
    #[error("the system's secure random source failed: {0}")]
    RandomSource(String),
    /// Nothing but armour and whitespace.
    #[error("the access key is empty")]
    Empty,
    /// A character other than hex digits, whitespace and the armour lines.
    #[error("the access key contains a character that is not a hexadecimal digit (at character {position})")]
    NotHex {
        /// 1-based position of the offending character in the text after the armour lines are dropped.
        position: usize,
    },
    /// Fewer hex digits than a signature needs.
    #[error("the access key is too short: {len} hexadecimal digits, at least {min} are needed")]
    TooShort {
        /// Hex digits found.
        len: usize,
        /// Hex digits required.
        min: usize,
    },
    /// More text than any real key.
    #[error("the access key is too long: {len} bytes, at most {max} are accepted")]
    TooLong {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// An access key, normalised: lowercase hex digits on one line.
///
/// The text is wiped from memory on drop. `Debug` shows only the [`Signature`]; there is no
/// `Display`, so a key cannot end up in a format string by accident.
#[derive(Clone)]
pub struct AccessKey {
    key: WipedString,
    /// SHA-512 of `key`, computed on the first comparison and kept so that [`AccessKey::matches`] hashes only the
    /// candidate; a freshly generated key that is only written to disk never pays for it.
    digest: std::sync::OnceLock<Zeroizing<[u8; 64]>>,
}

impl AccessKey {
    /// Generates a new key of 30 lines × 32 hex characters from the OS random source.
    pub fn generate() -> Result<AccessKey, KeyError> {
        AccessKey::generate_from(&mut rand::rngs::OsRng)
    }

    /// Generates a new key from `rng`; a failing source gives [`KeyError::RandomSource`].
    ///
    /// One buffer holds the key from start to end, so there is one copy of the secret to wipe: the random bytes
    /// fill its second half and are hex-encoded in place (`hex_in_place`), and the buffer becomes the key's text
    /// without being copied.
    pub fn generate_from<R: TryRngCore + ?Sized>(rng: &mut R) -> Result<AccessKey, KeyError> {
        let mut buf = Zeroizing::new(vec![0u8; RANDOM_BYTES * 2]);
        rng.try_fill_bytes(&mut buf[RANDOM_BYTES..])
            .map_err(|e| KeyError::RandomSource(e.to_string()))?;
        hex_in_place(&mut buf);
        // Only hex digits are left, so this cannot fail; the vector moves into the string, it is not copied.
        let text = String::from_utf8(std::mem::take(&mut *buf)).map_err(|_| KeyError::NotHex { position: 0 })?;
        Ok(AccessKey::from_normalised(Zeroizing::new(text)))
    }

    /// Reads a key as a user may paste it: drops `-----BEGIN/END WHM ACCESS KEY-----` lines,
    /// removes all whitespace (line breaks included) and lowercases.
    ///
    /// Refuses an empty key, any other character, fewer than 32 hex digits (a key without a
    /// signature) and texts over 64 KiB. Any number of lines is accepted.
    pub fn normalise(text: &str) -> Result<AccessKey, KeyError> {
        if text.len() > MAX_KEY_TEXT {
            return Err(KeyError::TooLong {
                len: text.len(),
                max: MAX_KEY_TEXT,
            });
        }
        // The common case, a key as WHM writes it: ASCII hex lines. Checked byte by byte without decoding characters.
        if text.is_ascii() && !text.contains("-----") {
            let mut digits = Zeroizing::new(Vec::with_capacity(text.len()));
            for (i, &b) in text.as_bytes().iter().enumerate() {
                match b {
                    b'0'..=b'9' | b'a'..=b'f' => digits.push(b),
                    b'A'..=b'F' => digits.push(b.to_ascii_lowercase()),
                    b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => {}
                    _ => return Err(KeyError::NotHex { position: i + 1 }),
                }
            }
            // Only ASCII hex digits were kept, so this cannot fail; the buffer moves, it is not copied.
            let text = String::from_utf8(std::mem::take(&mut *digits)).map_err(|_| KeyError::NotHex { position: 0 })?;
            return AccessKey::finish(Zeroizing::new(text));
        }
        let mut key = Zeroizing::new(String::with_capacity(text.len()));
        let mut position = 0usize;
        for line in text.split('\n') {
            let trimmed = line.trim();
            if trimmed.eq_ignore_ascii_case(BEGIN_ARMOUR) || trimmed.eq_ignore_ascii_case(END_ARMOUR) {
                continue;
            }
            for c in line.chars() {
                position += 1;
                if c.is_whitespace() {
                    continue;
                }
                if !c.is_ascii_hexdigit() {
                    return Err(KeyError::NotHex { position });
                }
                key.push(c.to_ascii_lowercase());
            }
            position += 1;
        }
        AccessKey::finish(key)
    }

    fn finish(key: Zeroizing<String>) -> Result<AccessKey, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.len() < LINE_LEN {
            return Err(KeyError::TooShort {
                len: key.len(),
                min: LINE_LEN,
            });
        }
        Ok(AccessKey::from_normalised(key))
    }

    fn from_normalised(mut key: Zeroizing<String>) -> AccessKey {
        AccessKey {
            // The text moves out (no copy); the emptied `Zeroizing` has nothing left to wipe.
            key: WipedString::from(std::mem::take(&mut *key)),
            digest: std::sync::OnceLock::new(),
        }
    }

    /// The key on one line, as clients send it in `Authorization: WHM user:<key>`.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The key as WHM writes `~/.accesshash`: lines of 32 characters, each ending in `\n`.
    ///
    /// The returned `String` is a copy of the secret; the caller is responsible for it.
    pub fn to_file_text(&self) -> String {
        let mut out = String::with_capacity(self.key.len() + self.key.len() / LINE_LEN + 1);
        // The key is ASCII, so byte chunks are character chunks.
        for chunk in self.key.as_bytes().chunks(LINE_LEN) {
            out.extend(chunk.iter().map(|&b| char::from(b)));
            out.push('\n');
        }
        out
    }

    /// The same text as [`AccessKey::to_file_text`], wiped from memory when dropped.
    pub fn to_file_text_zeroizing(&self) -> Zeroizing<String> {
        Zeroizing::new(self.to_file_text())
    }

    /// The Access Key Signature: the first 32 hex digits as 16 colon-separated pairs.
    pub fn signature(&self) -> Signature {
        // A normalised key is lowercase hex digits only, so its first 32 bytes are the signature's digits as they
        // are; nothing needs filtering or lowercasing.
        Signature::of_digits(&self.key.as_bytes()[..LINE_LEN])
    }

    /// Compares `candidate` (a secret from an `Authorization` header, without line breaks) with this key in constant time.
    ///
    /// The candidate is hashed with SHA-512 and compared with the stored digest, so the time
    /// depends neither on where the texts differ nor on the key's length. The comparison is
    /// exact: a candidate must be the normalised (lowercase) key.
    pub fn matches(&self, candidate: &str) -> bool {
        self.matches_digest(&crate::secret_digest(candidate))
    }

    /// [`AccessKey::matches`] for a candidate already hashed with [`crate::secret_digest`]: a request hashes its
    /// secret once and checks it against tokens and key alike.
    pub fn matches_digest(&self, candidate: &[u8; 64]) -> bool {
        bool::from(candidate.ct_eq(self.digest()))
    }

    /// Whether `candidate` is this key, compared byte for byte in constant time (the time depends only on whether
    /// the lengths differ): for a secret presented where the key is at hand, which then needs no hashing. The
    /// comparison is exact, as [`AccessKey::matches`] is.
    pub fn is(&self, candidate: &str) -> bool {
        equal_in_constant_time(candidate.as_bytes(), self.key.as_bytes())
    }

    /// The key's SHA-512, computed on first use and kept: what a presented secret equal to this key hashes to, so a
    /// request that matched the key with [`AccessKey::is`] compares token digests without hashing the secret.
    pub fn digest(&self) -> &[u8; 64] {
        self.digest
            .get_or_init(|| Zeroizing::new(<[u8; 64]>::from(Sha512::digest(self.key.as_bytes()))))
    }

    /// The number of hex digits in the key (960 for a key WHM generates today, 928 for older ones).
    pub fn len(&self) -> usize {
        self.key.len()
    }

    /// Always false: a key has at least 32 hex digits. Present because `len` is.
    pub fn is_empty(&self) -> bool {
        self.key.is_empty()
    }
}

/// `a == b` in a time that depends only on the lengths: every byte is looked at, eight at a time, and the differences
/// are folded together without a branch (`subtle`'s slice comparison hides each byte from the optimiser, which costs
/// more than hashing a 960-character key).
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_rest) = a.as_chunks::<8>();
    let (b_words, b_rest) = b.as_chunks::<8>();
    let mut diff = 0u64;
    for (x, y) in a_words.iter().zip(b_words) {
        diff |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        diff |= u64::from(x ^ y);
    }
    bool::from(std::hint::black_box(diff).ct_eq(&0))
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessKey({})", self.signature())
    }
}

/// The Access Key Signature (spec §4): 16 colon-separated lowercase hex pairs, 47 characters.
///
/// Lists of cluster servers show only this, never the key. Held inline: making one allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; SIGNATURE_LEN]);

/// Characters in a signature: 32 digits and 15 colons.
const SIGNATURE_LEN: usize = 47;

impl Signature {
    /// Computes the signature of a key text as WHM does: lowercase, drop every character that
    /// is not `0-9a-f`, take the first 32. `None` if fewer than 32 remain.
    pub fn of(text: &str) -> Option<Signature> {
        let mut digits = [0u8; 32];
        let mut taken = 0;
        for b in text
            .bytes()
            .map(|b| b.to_ascii_lowercase())
            .filter(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .take(32)
        {
            digits[taken] = b;
            taken += 1;
        }
        (taken == 32).then(|| Signature::of_digits(&digits))
    }

    /// The signature of 32 bytes that are already lowercase hex digits.
    fn of_digits(digits: &[u8]) -> Signature {
        let mut out = [b':'; SIGNATURE_LEN];
        for (i, pair) in digits.chunks_exact(2).take(16).enumerate() {
            out[3 * i] = pair[0];
            out[3 * i + 1] = pair[1];
        }
        Signature(out)
    }

    /// The signature text, `xx:xx:…:xx`.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and colons are ever stored, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Signature").field(&self.as_str()).finish()
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A random source that always fails, like a broken `getrandom`.
    struct BrokenRng;

    #[derive(Debug)]
    struct Broken;
    impl fmt::Display for Broken {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("entropy source unavailable")
        }
    }
    impl std::error::Error for Broken {}

    impl TryRngCore for BrokenRng {
        type Error = Broken;
        fn try_next_u32(&mut self) -> Result<u32, Broken> {
            Err(Broken)
        }
        fn try_next_u64(&mut self) -> Result<u64, Broken> {
            Err(Broken)
        }
        fn try_fill_bytes(&mut self, _dst: &mut [u8]) -> Result<(), Broken> {
            Err(Broken)
        }
    }

    const EXAMPLE: &str = "6b355856c00606648b803a7d89618663";

    #[test]
    fn generated_key_has_whm_shape_and_keys_differ() {
        let a = AccessKey::generate().unwrap();
        let b = AccessKey::generate().unwrap();
        assert_eq!(a.as_str().len(), 960);
        assert_eq!(a.len(), 960);
        assert!(a.as_str().bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        let text = a.to_file_text();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 30);
        assert!(lines.iter().all(|l| l.len() == 32));
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"));
        assert_eq!(text.len(), 990);
        assert_ne!(a.as_str(), b.as_str(), "two generated keys are different");
        assert!(!a.matches(b.as_str()));
    }

    /// The in-place encoding gives exactly the hex of the random bytes drawn, for the real size and odd splits.
    #[test]
    fn generated_key_is_the_hex_of_the_random_bytes() {
        use rand::{RngCore, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut again = rng.clone();
        let key = AccessKey::generate_from(&mut rng).unwrap();
        let mut bytes = [0u8; RANDOM_BYTES];
        again.fill_bytes(&mut bytes);
        assert_eq!(key.as_str(), hex::encode(bytes));
        for n in 0..40usize {
            let random: Vec<u8> = (0..n).map(|i| (i * 37 + 5) as u8).collect();
            let mut buf = vec![0u8; n];
            buf.extend_from_slice(&random);
            hex_in_place(&mut buf);
            assert_eq!(buf, hex::encode(&random).into_bytes(), "{n} bytes");
        }
        let mut every: Vec<u8> = vec![0u8; 256];
        every.extend(0..=255u8);
        hex_in_place(&mut every);
        assert_eq!(every, hex::encode((0..=255u8).collect::<Vec<_>>()).into_bytes());
    }

    #[test]
    fn failing_random_source_is_an_error_not_a_fallback() {
        let err = AccessKey::generate_from(&mut BrokenRng).unwrap_err();
        assert!(matches!(err, KeyError::RandomSource(_)), "{err:?}");
        assert!(err.to_string().contains("entropy source unavailable"), "{err}");
    }

    #[test]
    fn signature_matches_spec_example() {
        let key = AccessKey::normalise(&format!("{EXAMPLE}\n{}\n", "0".repeat(32))).unwrap();
        assert_eq!(
            key.signature().to_string(),
            "6b:35:58:56:c0:06:06:64:8b:80:3a:7d:89:61:86:63"
        );
        assert_eq!(key.signature().as_str().len(), 47);
        assert_eq!(
            format!("{key:?}"),
            "AccessKey(6b:35:58:56:c0:06:06:64:8b:80:3a:7d:89:61:86:63)"
        );
    }

    #[test]
    fn signature_of_drops_non_hex_and_needs_32_digits() {
        assert_eq!(
            Signature::of("6B-35 58\n56:c0:06:06:64:8b:80:3a:7d:89:61:86:63zz")
                .unwrap()
                .as_str(),
            "6b:35:58:56:c0:06:06:64:8b:80:3a:7d:89:61:86:63"
        );
        assert_eq!(Signature::of(&"a".repeat(31)), None);
        assert_eq!(Signature::of(""), None);
        assert!(Signature::of(&"a".repeat(32)).is_some());
    }

    #[test]
    fn normalise_accepts_armour_and_old_lengths() {
        let old = "ab".repeat(464);
        let armoured = format!("{BEGIN_ARMOUR}\r\n{}\r\n{END_ARMOUR}\r\n", old.to_uppercase());
        let key = AccessKey::normalise(&armoured).unwrap();
        assert_eq!(key.as_str(), old);
        assert_eq!(key.len(), 928);
        assert_eq!(key.to_file_text().lines().count(), 29);
        let odd = AccessKey::normalise(&"c".repeat(33)).unwrap();
        assert_eq!(odd.to_file_text(), format!("{}\nc\n", "c".repeat(32)));
    }

    #[test]
    fn normalise_refuses_bad_text() {
        assert!(matches!(AccessKey::normalise(""), Err(KeyError::Empty)));
        assert!(matches!(AccessKey::normalise(" \n\t\r\n"), Err(KeyError::Empty)));
        assert!(matches!(
            AccessKey::normalise(&format!("{BEGIN_ARMOUR}\n{END_ARMOUR}\n")),
            Err(KeyError::Empty)
        ));
        let bad = format!("{}g{}", "a".repeat(40), "b".repeat(40));
        let err = AccessKey::normalise(&bad).unwrap_err();
        assert!(matches!(err, KeyError::NotHex { position: 41 }), "{err:?}");
        assert!(
            !err.to_string().contains("aaaa"),
            "the message holds no key material: {err}"
        );
        assert!(matches!(
            AccessKey::normalise(&"a".repeat(31)),
            Err(KeyError::TooShort { len: 31, .. })
        ));
        assert!(matches!(
            AccessKey::normalise(&"a".repeat(MAX_KEY_TEXT + 1)),
            Err(KeyError::TooLong { .. })
        ));
        assert!(AccessKey::normalise(&"a".repeat(MAX_KEY_TEXT)).is_ok());
        assert!(matches!(
            AccessKey::normalise(&format!("{}é", "a".repeat(32))),
            Err(KeyError::NotHex { position: 33 })
        ));
        assert!(matches!(
            AccessKey::normalise(&format!("{}\0", "a".repeat(32))),
            Err(KeyError::NotHex { .. })
        ));
    }

    /// `matches` (through the digest) and `is` (byte for byte) give the same answer for every candidate, and the
    /// digest `is` stands for is the candidate's own.
    #[test]
    fn matches_is_exact() {
        let key = AccessKey::generate().unwrap();
        let mut changed = key.as_str().to_owned();
        let last = if changed.ends_with('0') { "1" } else { "0" };
        changed.replace_range(959.., last);
        let cases: &[(&str, String, bool)] = &[
            ("the key", key.as_str().to_owned(), true),
            ("with line breaks (the caller removes them)", key.to_file_text(), false),
            ("uppercase", key.as_str().to_uppercase(), false),
            ("one digit short", key.as_str()[..959].to_owned(), false),
            ("empty", String::new(), false),
            ("the last digit changed", changed, false),
        ];
        for (what, candidate, want) in cases {
            assert_eq!(key.matches(candidate), *want, "{what}");
            assert_eq!(key.is(candidate), *want, "{what}");
        }
        assert_eq!(key.digest(), &*crate::secret_digest(key.as_str()));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = AccessKey::generate().unwrap();
        let debug = format!("{key:?} {:#?}", key);
        assert!(!debug.contains(&key.as_str()[..32]), "{debug}");
        assert!(!debug.contains(&key.as_str()[32..64]), "{debug}");
        assert!(debug.starts_with("AccessKey("));
    }

    fn hex_key() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[0-9a-f]{32,1000}").unwrap()
    }

    proptest! {
        /// The word-wise comparison says what `==` says, for any lengths and a difference at any place.
        #[test]
        fn equal_in_constant_time_is_equality(
            a in proptest::collection::vec(any::<u8>(), 0..40),
            flip in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            prop_assert!(equal_in_constant_time(&a, &a));
            let mut b = a.clone();
            if !b.is_empty() {
                let i = flip.index(b.len());
                b[i] ^= 1 << bit;
                prop_assert!(!equal_in_constant_time(&a, &b));
            }
            let mut longer = a.clone();
            longer.push(0);
            prop_assert!(!equal_in_constant_time(&a, &longer));
        }

        #[test]
        fn signature_is_first_32_digits_in_pairs(key in hex_key()) {
            let k = AccessKey::normalise(&key).unwrap();
            let expected: Vec<String> = key.as_bytes()[..32].chunks(2).map(|p| String::from_utf8(p.to_vec()).unwrap()).collect();
            prop_assert_eq!(k.signature().to_string(), expected.join(":"));
            prop_assert_eq!(Signature::of(&key).unwrap(), k.signature());
        }

        #[test]
        fn any_wrapping_normalises_to_the_same_key(
            key in hex_key(),
            width in 1usize..80,
            armour in any::<bool>(),
            upper in any::<bool>(),
            crlf in any::<bool>(),
            noise in proptest::collection::vec((0usize..1000, prop_oneof![Just(" "), Just("\t"), Just("\n"), Just("\r\n")]), 0..8),
        ) {
            let mut body = String::new();
            let eol = if crlf { "\r\n" } else { "\n" };
            for chunk in key.as_bytes().chunks(width) {
                body.push_str(std::str::from_utf8(chunk).unwrap());
                body.push_str(eol);
            }
            for (at, ws) in noise {
                let mut at = at % (body.len() + 1);
                while !body.is_char_boundary(at) { at -= 1; }
                body.insert_str(at, ws);
            }
            if upper { body = body.to_uppercase(); }
            let text = if armour { format!("{BEGIN_ARMOUR}{eol}{body}{END_ARMOUR}{eol}") } else { body };
            let k = AccessKey::normalise(&text).unwrap();
            prop_assert_eq!(k.as_str(), key.as_str());
            prop_assert!(k.matches(&key));
        }
    }
}
